"""Polling a source against a real local HTTP server: data, 304s, failures, backoff."""

from __future__ import annotations

import gzip
import json
import logging
import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.cli.main import cli
from monitor.config.sources import FredSource, SourcesFile
from monitor.sources.http import HttpFetcher
from monitor.sources.polling import compute_backoff, is_due, poll_source
from monitor.store.database import DB_NAME, Store
from tests.sources.raw_server import drip_server

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FRED_CSV = (
    "observation_date,PNICKUSDM\n"
    "2022-01-01,22355.3\n2022-02-01,24015.9\n2022-03-01,33924.2\n2022-04-01,33132.8\n"
)


def fred_source(url: str, **extra: object) -> FredSource:
    spec = {"id": "fred_nickel", "kind": "fred_csv", "url": url, "mineral": "nickel",
            "unit": "USD/t", "interval": "8h", "jitter": "0s", "timeout": "60s", **extra}
    return SourcesFile.model_validate({"sources": [spec]}).sources[0]  # type: ignore[return-value]


def serve_csv_with_etag(httpserver: HTTPServer, body: str, etag: str = '"v1"') -> list[dict]:
    """Serve ``body`` with an ETag; answer 304 to a matching If-None-Match. Log requests."""
    seen: list[dict] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.headers))
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, headers={"ETag": etag, "Content-Type": "text/csv"})

    httpserver.expect_request("/fred.csv").respond_with_handler(handler)
    return seen


def test_first_poll_saves_observations(httpserver: HTTPServer, store: Store,
                                       fetcher: HttpFetcher) -> None:
    serve_csv_with_etag(httpserver, FRED_CSV)
    outcome = poll_source(fred_source(httpserver.url_for("/fred.csv")), fetcher, store, T0)
    assert outcome.ok and outcome.rows == 4 and outcome.changed == 4
    saved = store.observations(mineral="nickel")
    assert [o.value for o in saved] == [22355.3, 24015.9, 33924.2, 33132.8]
    assert saved[2].period == date(2022, 3, 1)
    assert all(o.published_at == T0.date() for o in saved)
    state = store.source_state("fred_nickel")
    assert state.status == "ok" and state.etag == '"v1"' and state.last_rows == 4


def test_second_poll_is_conditional_and_a_304_writes_nothing(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    seen = serve_csv_with_etag(httpserver, FRED_CSV)
    source = fred_source(httpserver.url_for("/fred.csv"))
    poll_source(source, fetcher, store, T0)
    before = store.db.execute("SELECT total_changes()").fetchone()[0]
    outcome = poll_source(source, fetcher, store, T0 + timedelta(hours=8))
    assert seen[1].get("If-None-Match") == '"v1"'
    assert outcome.ok and outcome.not_modified and outcome.rows == 0
    observations_written = store.db.execute(
        "SELECT COUNT(*) FROM observations WHERE fetched_at != ?", [T0.isoformat()]).fetchone()
    assert observations_written[0] == 0
    assert store.db.execute("SELECT total_changes()").fetchone()[0] - before == 1  # state row
    assert store.source_state("fred_nickel").etag == '"v1"'


def test_user_agent_names_critmon(httpserver: HTTPServer, store: Store,
                                  fetcher: HttpFetcher) -> None:
    seen = serve_csv_with_etag(httpserver, FRED_CSV)
    poll_source(fred_source(httpserver.url_for("/fred.csv")), fetcher, store, T0)
    assert seen[0]["User-Agent"].startswith("critmon/")


def _malformed(server: HTTPServer) -> None:
    server.expect_request("/fred.csv").respond_with_data(
        "observation_date,PNICKUSDM\n2022-05-01,not-a-number\n")


def _html(server: HTTPServer) -> None:
    server.expect_request("/fred.csv").respond_with_data(
        "<!DOCTYPE html><html><body>Sorry, maintenance</body></html>", content_type="text/html")


def _empty(server: HTTPServer) -> None:
    server.expect_request("/fred.csv").respond_with_data("")


def _server_error(server: HTTPServer) -> None:
    server.expect_request("/fred.csv").respond_with_data("oops", status=500)


def _redirect_loop(server: HTTPServer) -> None:
    server.expect_request("/fred.csv").respond_with_response(
        Response(status=302, headers={"Location": server.url_for("/fred.csv")}))


def _over_cap(server: HTTPServer) -> None:
    big = "observation_date,PNICKUSDM\n" + "2022-01-01,1\n" * 20_000
    server.expect_request("/fred.csv").respond_with_data(big)


def _gzip_bomb(server: HTTPServer) -> None:
    bomb = gzip.compress(b"0" * 50_000_000)
    server.expect_request("/fred.csv").respond_with_data(
        bomb, headers={"Content-Encoding": "gzip"}, content_type="text/csv")


@pytest.mark.parametrize(
    ("break_server", "reason"),
    [
        pytest.param(_malformed, "line 2: bad value (text of 12 characters)", id="malformed-csv"),
        pytest.param(_html, "SourceFormatError", id="html-instead-of-csv"),
        pytest.param(_empty, "empty", id="empty-body"),
        pytest.param(_server_error, "500", id="http-500"),
        pytest.param(_redirect_loop, "redirect", id="redirect-loop"),
        pytest.param(_over_cap, "exceeds", id="body-over-cap"),
        pytest.param(_gzip_bomb, "exceeds", id="gzip-bomb"),
    ],
)
def test_a_broken_source_is_marked_failing_and_earlier_data_stays(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        break_server: object, reason: str) -> None:
    serve_csv_with_etag(httpserver, FRED_CSV)
    source = fred_source(httpserver.url_for("/fred.csv"), max_bytes="100KB")
    assert poll_source(source, fetcher, store, T0).ok
    httpserver.clear()
    break_server(httpserver)  # type: ignore[operator]
    outcome = poll_source(source, fetcher, store, T0 + timedelta(hours=8))
    assert not outcome.ok
    assert reason in (outcome.error or "")
    state = store.source_state("fred_nickel")
    assert state.status == "failing" and state.consecutive_failures == 1
    assert reason in (state.last_error or "")
    assert len(store.observations(mineral="nickel")) == 4


def test_unreachable_source_fails_without_raising(store: Store, fetcher: HttpFetcher) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = poll_source(fred_source(f"http://127.0.0.1:{port}/x.csv"), fetcher, store, T0)
    assert not outcome.ok
    assert store.source_state("fred_nickel").status == "failing"


def test_failures_back_off_exponentially(httpserver: HTTPServer, store: Store,
                                         fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/fred.csv").respond_with_data("down", status=503)
    source = fred_source(httpserver.url_for("/fred.csv"))
    delays = []
    now = T0
    for _ in range(4):
        poll_source(source, fetcher, store, now)
        next_at = datetime.fromisoformat(store.source_state("fred_nickel").next_poll_at or "")
        delays.append(next_at - now)
        now = next_at
    assert delays == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4),
                      timedelta(minutes=8)]


def test_retry_after_is_a_floor_on_the_backoff(httpserver: HTTPServer, store: Store,
                                                fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/fred.csv").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "900"})
    poll_source(fred_source(httpserver.url_for("/fred.csv")), fetcher, store, T0)
    state = store.source_state("fred_nickel")
    assert datetime.fromisoformat(state.next_poll_at or "") - T0 == timedelta(seconds=900)
    assert state.last_http_status == 429
    assert compute_backoff(5, timedelta(hours=8), retry_after_s=900) == timedelta(minutes=16)


def test_backoff_is_capped_by_the_interval() -> None:
    assert compute_backoff(30, timedelta(hours=8)) == timedelta(hours=6)
    assert compute_backoff(30, timedelta(hours=1)) == timedelta(hours=1)
    assert compute_backoff(1, timedelta(hours=8)) == timedelta(minutes=1)


def test_the_source_jitter_spreads_retries_by_up_to_half_the_delay() -> None:
    interval, jitter = timedelta(hours=8), timedelta(minutes=15)
    assert compute_backoff(1, interval, jitter=jitter, draw=0.0) == timedelta(minutes=1)
    assert compute_backoff(1, interval, jitter=jitter, draw=0.5) == timedelta(seconds=75)
    assert compute_backoff(3, interval, jitter=jitter, draw=0.999) < timedelta(minutes=6)
    # never more than the jitter itself, however long the delay
    assert compute_backoff(9, interval, jitter=jitter, draw=0.999) < timedelta(hours=4,
                                                                               minutes=31)
    # a Retry-After stays a floor
    assert compute_backoff(1, interval, 900, jitter=jitter, draw=0.5) == timedelta(minutes=15)


def test_sources_that_fail_together_do_not_retry_together(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/fred.csv").respond_with_data("down", status=503)
    draws = iter([0.1, 0.9])
    for name in ("fred_a", "fred_b"):
        source = fred_source(httpserver.url_for("/fred.csv"), id=name, jitter="15m")
        poll_source(source, fetcher, store, T0, rng=lambda: next(draws))
    retry = {name: datetime.fromisoformat(store.source_state(name).next_poll_at or "") - T0
             for name in ("fred_a", "fred_b")}
    assert retry == {"fred_a": timedelta(seconds=63), "fred_b": timedelta(seconds=87)}


def test_state_changes_are_logged_once_not_per_poll(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        caplog: pytest.LogCaptureFixture) -> None:
    httpserver.expect_request("/fred.csv").respond_with_data("down", status=500)
    source = fred_source(httpserver.url_for("/fred.csv"))
    caplog.set_level(logging.INFO, logger="monitor.sources.polling")
    for minute in range(3):
        poll_source(source, fetcher, store, T0 + timedelta(minutes=minute))
    httpserver.clear()
    serve_csv_with_etag(httpserver, FRED_CSV)
    poll_source(source, fetcher, store, T0 + timedelta(hours=1))
    poll_source(source, fetcher, store, T0 + timedelta(hours=9))
    messages = [r.getMessage() for r in caplog.records if r.name == "monitor.sources.polling"]
    assert len([m for m in messages if "is down" in m]) == 1
    assert len([m for m in messages if "is up again after 3 failures" in m]) == 1
    assert len(messages) == 2


def test_a_successful_poll_schedules_the_next_one_an_interval_later(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    serve_csv_with_etag(httpserver, FRED_CSV)
    source = fred_source(httpserver.url_for("/fred.csv"))
    poll_source(source, fetcher, store, T0)
    state = store.source_state("fred_nickel")
    assert not is_due(state, T0 + timedelta(hours=7, minutes=59))
    assert is_due(state, T0 + timedelta(hours=8))


def test_file_urls_are_polled_too(tmp_path: Path, store: Store, fetcher: HttpFetcher) -> None:
    path = tmp_path / "nickel.csv"
    path.write_text(FRED_CSV, encoding="utf-8")
    source = fred_source(path.as_uri())
    assert poll_source(source, fetcher, store, T0).rows == 4
    assert poll_source(source, fetcher, store, T0 + timedelta(hours=8)).not_modified


def test_a_generic_json_table_source_is_parsed_by_its_mapping(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/cobalt.json").respond_with_json(
        {"data": {"rows": [{"day": "2025-10-01", "usd": 33100}, {"day": "2025-11-01",
                                                                   "usd": 48200}]}})
    source = SourcesFile.model_validate({"sources": [{
        "id": "vendor_cobalt", "kind": "table", "format": "json",
        "url": httpserver.url_for("/cobalt.json"), "records_path": "data.rows",
        "date_field": "day", "value_field": "usd", "mineral": "cobalt", "unit": "USD/t"}]}
    ).sources[0]
    outcome = poll_source(source, fetcher, store, T0)
    assert outcome.ok and outcome.rows == 2
    assert [o.value for o in store.observations(mineral="cobalt")] == [33100, 48200]


# --- end to end through `critmon once`: what outside input may not do ------------------------


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would route 127.0.0.1 elsewhere."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def critmon(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI on the config in ``tmp_path/config`` and the state in ``tmp_path/state``."""
    result = CliRunner().invoke(
        cli, ["--config", str(tmp_path / "config"), "--state-dir", str(tmp_path / "state"),
              *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def write_sources(tmp_path: Path, sources: str) -> None:
    directory = tmp_path / "config"
    directory.mkdir(exist_ok=True)
    (directory / "sources.yaml").write_text(f"version: 1\nsources:\n{sources}",
                                            encoding="utf-8")


def everything_stored(tmp_path: Path) -> str:
    """Every value of every table of the state database, as one string."""
    with Store.open(tmp_path / "state" / DB_NAME) as store:
        tables = [row[0] for row in store.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()]
        return "\n".join(str(tuple(row)) for table in tables
                         for row in store.db.execute(f'SELECT * FROM "{table}"').fetchall())


PINK_CSV = "date,COPPER\n2025-09-01,9800\n2025-10-01,10100\n2025-11-01,10900\n"


def test_a_landing_page_cannot_make_critmon_read_a_local_file(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    secret = tmp_path / "credentials" / "slack_token"
    secret.parent.mkdir()
    secret.write_text("xoxb-0000-SECRET-TOKEN\n", encoding="utf-8")
    httpserver.expect_request("/landing.html").respond_with_data(
        f'<a href="{secret.as_uri()}#CMO-Historical-Data-Monthly.xlsx">Monthly prices</a>',
        content_type="text/html")
    httpserver.expect_request("/pink.csv").respond_with_data(PINK_CSV)
    write_sources(tmp_path, f"""
  - id: local_pinksheet
    kind: pinksheet
    url: {httpserver.url_for("/pink.csv")}
    discover:
      page: {httpserver.url_for("/landing.html")}
      pattern: 'CMO-Historical-Data-Monthly\\.xlsx$'
    columns: {{COPPER: copper}}
""")

    code, out, err = critmon(tmp_path, "once")
    _, listed, _ = critmon(tmp_path, "sources", "list", "--format", "json")

    assert code == 0, err
    assert "SECRET" not in out + err + listed + everything_stored(tmp_path)
    [state] = json.loads(listed)
    assert state["status"] == "ok"  # the configured URL was used instead of the file




def test_a_reason_phrase_with_terminal_escapes_is_stored_clean(tmp_path: Path) -> None:
    answer = b"HTTP/1.1 503 Busy \x1b[2J\x1b]0;owned\x07 now\r\nContent-Length: 0\r\n\r\n"
    with drip_server(answer, path="/prices.csv") as url:
        write_sources(tmp_path, f"""
  - id: local_tin
    kind: fred_csv
    url: {url}
    mineral: tin
    unit: USD/t
""")
        code, _, err = critmon(tmp_path, "once")
    _, listed, _ = critmon(tmp_path, "sources", "list")

    assert code == 0, err
    with Store.open(tmp_path / "state" / DB_NAME) as store:
        error = store.source_state("local_tin").last_error or ""
    assert "HTTP 503 Busy" in error
    for text in (error, err, listed):
        assert "\x1b" not in text and "\x07" not in text


RETRY_AFTERS = {  # source id -> (status, what the server says)
    "digits": (429, "9999999999999"),
    "exponent": (503, "1e300"),
    "infinity": (429, "inf"),
    "not_a_number": (503, "nan"),
    "negative": (429, "-5"),
    "year_9999": (503, "Fri, 31 Dec 9999 23:59:59 GMT"),
}


def test_absurd_retry_after_values_are_capped_and_once_carries_on(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    sources = ""
    for name, (status, header) in RETRY_AFTERS.items():
        httpserver.expect_request(f"/{name}.csv").respond_with_data(
            "busy", status=status, headers={"Retry-After": header})
        sources += f"""
  - id: ra_{name}
    kind: fred_csv
    url: {httpserver.url_for(f"/{name}.csv")}
    mineral: tin
    unit: USD/t
    interval: 8h
"""
    write_sources(tmp_path, sources)
    started = datetime.now(UTC)

    code, out, err = critmon(tmp_path, "once")

    assert code == 0, err
    assert "0 ok, 6 failing" in out
    latest = datetime.now(UTC) + timedelta(hours=8)  # the cap: max(interval, 6h)
    with Store.open(tmp_path / "state" / DB_NAME) as store:
        for name, (status, _) in RETRY_AFTERS.items():
            state = store.source_state(f"ra_{name}")
            next_poll = datetime.fromisoformat(state.next_poll_at or "")
            assert started < next_poll <= latest, name
            assert state.status == "failing" and f"HTTP {status}" in (state.last_error or "")


def months_before(today: date, count: int) -> date:
    month = today.year * 12 + today.month - 1 - count
    return date(month // 12, month % 12 + 1, 1)


def test_implausible_prices_are_dropped_and_reported_not_alerted(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    today = datetime.now(UTC).date()
    good = [(months_before(today, n), 33_000 + 100 * (8 - n)) for n in range(8, 2, -1)]
    rows = [f"{day},{value}" for day, value in good] + [
        f"{months_before(today, 2)},1e308",
        f"{months_before(today, 1)},-500",
        "2099-01-01,35000",
    ]
    httpserver.expect_request("/cobalt.csv").respond_with_data(
        "observation_date,PCOBAUSDM\n" + "\n".join(rows) + "\n")
    write_sources(tmp_path, f"""
  - id: local_cobalt
    kind: fred_csv
    url: {httpserver.url_for("/cobalt.csv")}
    mineral: cobalt
    unit: USD/t
""")

    code, _, err = critmon(tmp_path, "once")
    _, status, _ = critmon(tmp_path, "status", "--format", "json")
    _, listed, _ = critmon(tmp_path, "sources", "list", "--format", "json")

    assert code == 0, err
    cobalt = next(row for row in json.loads(status) if row["mineral"] == "cobalt")
    assert cobalt["price"] == good[-1][1]
    assert cobalt["price_period"] == good[-1][0].isoformat()
    assert "price_jump" not in (cobalt["signals"] or "")
    [state] = json.loads(listed)
    assert state["status"] == "ok"
    problem = state["last_error"]
    assert "3 implausible rows dropped" in problem
    for why in ("after today", "not positive", "jump"):
        assert why in problem
    with Store.open(tmp_path / "state" / DB_NAME) as store:
        values = [o.value for o in store.observations(source="local_cobalt")]
    assert values == [value for _, value in good]
    _, checked, _ = critmon(tmp_path, "sources", "check", "--format", "json")
    [row] = json.loads(checked)
    assert row["status"] == "ok" and "3 implausible rows dropped" in row["error"]
