"""Policy news end to end: a local feed announces an export control; the score moves and a
policy-event alert is raised, once."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.cli.main import cli
from monitor.config.load import load_config
from monitor.store.database import DB_NAME, Store

BAN = """<item><title>China imposes export ban on antimony shipments to the United States</title>
<link>https://example.org/news/antimony-ban</link><guid>antimony-ban-1</guid>
<description>MOFCOM said exports of antimony, gallium and germanium to the US are prohibited
with immediate effect.</description><pubDate>{stamp}</pubDate></item>"""
COMMENTARY = """<item><title>Copper demand from data centres keeps rising, analysts say</title>
<link>https://example.org/news/copper-demand</link><guid>copper-1</guid>
<description>A market commentary.</description><pubDate>{stamp}</pubDate></item>"""


def feed(published: datetime, *items: str) -> str:
    stamp = format_datetime(published)
    body = "\n".join(item.format(stamp=stamp) for item in items)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Trade wire</title><link>https://example.org/</link>
{body}
</channel></rss>"""


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def status(base: list[str]) -> dict[str, dict]:
    return {r["mineral"]: r for r in json.loads(run(*base, "status", "--format", "json"))}


def test_an_export_ban_in_the_news_moves_the_score_and_alerts_once(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    published = datetime.now(UTC) - timedelta(hours=2)
    served = {"feed": feed(published, COMMENTARY)}  # first only a market commentary

    def wire(_request: Request) -> Response:
        return Response(served["feed"], content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(wire)
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    (config / "sources.yaml").write_text(f"""
version: 1
sources:
  - id: wire
    kind: rss
    url: {httpserver.url_for("/feed.xml")}
""", encoding="utf-8")
    base = ["--config", str(config), "--state-dir", str(state)]
    run(*base, "once")
    before = status(base)
    assert before["antimony"]["policy_pressure"] == 0
    assert before["antimony"]["score"] is not None

    served["feed"] = feed(published, BAN, COMMENTARY)
    run(*base, "once")
    after = status(base)
    pressure = after["antimony"]["policy_pressure"]
    assert pressure > 0
    assert after["copper"]["policy_pressure"] == 0
    assert after["copper"]["score"] == before["copper"]["score"]
    # Only the policy factor changed: the score rises by 100 * w_policy * (1 - exp(-pressure)).
    # Scores are shown to 0.1 and the pressure to 0.001, hence the tolerance.
    weight = load_config(config).rules.risk.weights.policy
    rise = 100 * weight * (1 - math.exp(-pressure))
    assert rise > 1.0
    assert abs(after["antimony"]["score"] - before["antimony"]["score"] - rise) <= 0.15, \
        (before["antimony"], after["antimony"], rise)

    with Store.open(state / DB_NAME) as store:
        policy = list(store.db.query(
            "SELECT * FROM alert_state WHERE alertname = 'policy_event'"))
        assert {row["mineral"] for row in policy} >= {"antimony"}
        alerts_before = len(policy)
    run(*base, "once")  # the same item again: no second alert
    with Store.open(state / DB_NAME) as store:
        assert len(list(store.db.query(
            "SELECT * FROM alert_state WHERE alertname = 'policy_event'"))) == alerts_before
    lines = (state / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert any("antimony" in line and "policy_event" in line for line in lines)


BURST_MINERALS = ("antimony", "gallium", "germanium", "graphite", "tungsten")


def burst_feed(published: datetime, count: int = 500) -> str:
    """``count`` distinct export-ban stories, spread evenly over five minerals."""
    stamp = format_datetime(published)
    items = "".join(
        f"<item><title>China imposes export ban on {mineral} shipments, notice {n} covers lots "
        f"{n + 1000} {n + 2000} {n + 3000} {n + 4000}</title>"
        f"<link>https://example.org/notices/{n}</link><pubDate>{stamp}</pubDate></item>"
        for n, mineral in ((n, BURST_MINERALS[n % len(BURST_MINERALS)]) for n in range(count)))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Notices</title><link>https://example.org/</link>{items}</channel></rss>")


def policy_alerts_sent(state: Path) -> list[dict]:
    lines = (state / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    return [alert for line in lines for alert in json.loads(line)["alerts"]
            if alert["labels"]["alertname"] == "policy_event"]


def test_a_burst_of_500_items_raises_one_alert_per_mineral_saying_how_many(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/notices.xml").respond_with_data(
        burst_feed(datetime.now(UTC) - timedelta(hours=1)), content_type="application/rss+xml")
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    (config / "sources.yaml").write_text(f"""
version: 1
sources:
  - id: notices
    kind: rss
    url: {httpserver.url_for("/notices.xml")}
""", encoding="utf-8")
    base = ["--config", str(config), "--state-dir", str(state)]
    run(*base, "once")

    with Store.open(state / DB_NAME) as store:
        outbox = store.db.execute(
            "SELECT COUNT(*) FROM outbox JOIN alert_state USING (fingerprint)"
            " WHERE alertname = 'policy_event'").fetchone()[0]
    assert outbox <= 2 * len(BURST_MINERALS)  # one per alert and receiver (console, jsonl)
    sent = policy_alerts_sent(state)
    assert sorted(a["labels"]["mineral"] for a in sent) == sorted(BURST_MINERALS)
    for alert in sent:
        annotations = alert["annotations"]
        mineral = alert["labels"]["mineral"]
        assert annotations["items"] == "100"
        assert annotations["summary"].startswith(f"100 new items from notices on {mineral}: ")
        assert annotations["summary"].endswith("and 97 more")
        assert annotations["summary"].count(f"export ban on {mineral} shipments") == 3

    run(*base, "once")  # the same feed again: the same alerts, nothing sent twice
    assert len(policy_alerts_sent(state)) == len(BURST_MINERALS)
