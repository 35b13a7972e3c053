"""Trade flows end to end: a local Comtrade stand-in serves a month in which China's gallium
exports to the United States drop to 0; ``critmon once`` polls, evaluates and raises the alert
in plain words; ``status`` and ``explain`` show the trade signals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from monitor.cli.main import cli
from monitor.store.database import DB_NAME, Store
from tests.sources.trade_standin import ComtradeStandIn, comtrade_record, monthly

US_KG = [4800.0, 5000.0, 4600.0, 4900.0, 4700.0, 4800.0, 5200.0, 4800.0, 4900.0, 4500.0,
         4800.0, 4750.0]


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _months_ending(last: date, count: int) -> list[date]:
    first_index = last.year * 12 + last.month - 1 - (count - 1)
    return monthly(date(first_index // 12, first_index % 12 + 1, 1), count)


def test_exports_to_the_us_dropping_to_zero_fire_a_plain_words_alert(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    today = datetime.now(UTC).date()
    # the latest month on file ended three months ago: public by now (month end + 60 days)
    last = _months_ending(today.replace(day=1), 4)[0]
    months = _months_ending(last, 13)
    records = []
    for month, kg in zip(months, [*US_KG, 0.0], strict=True):
        records.append(comtrade_record(period=month, reporter="CHN", partner="WLD",
                                       hs="811292", kg=20_000.0, usd=6_000_000.0))
        if kg:
            records.append(comtrade_record(period=month, reporter="CHN", partner="USA",
                                           hs="811292", kg=kg, usd=kg * 300))
    stand_in = ComtradeStandIn(records)
    httpserver.expect_request("/preview").respond_with_handler(stand_in)
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    (config / "sources.yaml").write_text(f"""
version: 1
sources:
  - id: comtrade_exports
    kind: comtrade
    url: {httpserver.url_for("/preview")}
    pause: 0s
    queries:
      - {{reporter: CHN, flow: X, partners: [WLD, USA], minerals: [gallium]}}
""", encoding="utf-8")
    base = ["--config", str(config), "--state-dir", str(state)]
    run(*base, "once")

    assert stand_in.queries and {q["cmdCode"] for q in stand_in.queries} == {"811292"}
    with Store.open(state / DB_NAME) as store:
        firing = list(store.db.query(
            "SELECT mineral, level, annotations FROM alert_state "
            "WHERE alertname = 'trade_collapse' AND state = 'firing'"))
    assert {row["mineral"] for row in firing} >= {"gallium"}
    gallium = next(row for row in firing if row["mineral"] == "gallium")
    assert gallium["level"] == "high"
    summary = json.loads(gallium["annotations"])["summary"]
    assert summary == (f"China's gallium exports to the United States: 0 kg in {last:%B %Y} "
                       "against a 12-month median of 4,800 kg (high)")
    sent = (state / "alerts.jsonl").read_text(encoding="utf-8")
    assert "China's gallium exports to the United States: 0 kg" in sent

    rows = {r["mineral"]: r for r in json.loads(run(*base, "status", "--format", "json"))}
    assert "trade_collapse:high" in rows["gallium"]["signals"]
    assert (rows["gallium"]["trade_to_kg"], rows["gallium"]["trade_chg_pct"],
            rows["gallium"]["unit_value"]) == (0, -100.0, 300.0)
    explained = json.loads(run(*base, "explain", "gallium", "--format", "json"))
    trade = {i["indicator"]: i for i in explained["indicators"]
             if i["indicator"].startswith("trade_")}
    assert trade["trade_exports_to_monitored_kg"]["value"] == 0
    assert trade["trade_exports_to_monitored_vs_median"]["value"] == -1
    assert trade["trade_exports_kg"]["value"] == 20_000
    assert trade["trade_unit_value"]["value"] == 300
