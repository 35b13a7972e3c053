"""Polling the trade APIs against local stand-ins: backfill, quotas, bad answers, honest dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.config.sources import CensusTradeSource, ComtradeSource, SourcesFile
from monitor.core.trade import WORLD
from monitor.sources.http import HttpFetcher
from monitor.sources.polling import poll_source
from monitor.sources.trade import poll_trade
from monitor.store.database import Store
from tests.sources.trade_standin import (
    ComtradeStandIn,
    census_answer,
    comtrade_record,
    monthly,
)

NOW = datetime(2024, 1, 15, 6, 0, tzinfo=UTC)
MONTHS = monthly(date(2022, 1, 1), 23)  # Jan 2022 .. Nov 2023
HS = {"gallium": ("811292", "8112921000"), "germanium": ("282560", "811292", "8112926000")}


def comtrade_source(url: str, **extra: object) -> ComtradeSource:
    spec = {"id": "comtrade_exports", "kind": "comtrade", "url": url, "jitter": "0s",
            "pause": "0s", "queries": [{"reporter": "CHN", "flow": "X",
                                        "partners": ["WLD", "USA"],
                                        "minerals": ["gallium", "germanium"]}], **extra}
    source = SourcesFile.model_validate({"sources": [spec]}).sources[0]
    assert isinstance(source, ComtradeSource)
    source.resolve_hs(HS)
    return source


def census_source(url: str, **extra: object) -> CensusTradeSource:
    spec = {"id": "census_us_imports", "kind": "census_trade", "url": url, "jitter": "0s",
            "pause": "0s", "minerals": ["gallium", "germanium"], **extra}
    source = SourcesFile.model_validate({"sources": [spec]}).sources[0]
    assert isinstance(source, CensusTradeSource)
    source.resolve_hs(HS)
    return source


def china_records(months: list[date], *, us_kg: float = 4800.0) -> list[dict[str, object]]:
    rows = []
    for month in months:
        for hs in ("811292", "282560"):
            rows.append(comtrade_record(period=month, reporter="CHN", partner="USA", hs=hs,
                                        kg=us_kg, usd=us_kg * 300))
            rows.append(comtrade_record(period=month, reporter="CHN", partner="WLD", hs=hs,
                                        kg=20000.0, usd=6_000_000.0))
    return rows


def test_first_poll_backfills_then_polls_the_latest_months(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    stand_in = ComtradeStandIn(china_records(MONTHS))
    httpserver.expect_request("/preview").respond_with_handler(stand_in)
    source = comtrade_source(httpserver.url_for("/preview"))
    pauses: list[float] = []

    first = poll_trade(source, fetcher, store, NOW, sleep=pauses.append)
    # 24 months back from December 2023: two calls of 12 months (2 codes x 2 partners each)
    assert first.calls == 2 and len(pauses) == 1
    assert [q["period"].count(",") + 1 for q in stand_in.queries] == [12, 12]
    assert {q["partnerCode"] for q in stand_in.queries} == {"0,842"}
    assert {q["reporterCode"] for q in stand_in.queries} == {"156"}
    assert first.rows == 23 * 4 and first.changed == 23 * 4
    flows = store.trade_flows()
    assert {f.partner for f in flows} == {WORLD, "USA"}
    # published: month end + 60 days, or the fetch date if that is earlier
    by_month = {f.period: f.published_at for f in flows}
    assert by_month[date(2023, 1, 1)] == date(2023, 4, 1)
    assert by_month[date(2023, 11, 1)] == NOW.date()

    stand_in.queries.clear()
    again = poll_trade(source, fetcher, store, NOW, sleep=pauses.append)
    assert again.calls == 1 and again.changed == 0
    assert stand_in.queries[0]["period"] == "202309,202310,202311,202312"


def test_a_revision_updates_the_value_and_keeps_the_first_publication_date(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    stand_in = ComtradeStandIn(china_records(MONTHS))
    httpserver.expect_request("/preview").respond_with_handler(stand_in)
    source = comtrade_source(httpserver.url_for("/preview"))
    poll_trade(source, fetcher, store, NOW, sleep=lambda _s: None)
    stand_in.records = china_records(MONTHS, us_kg=5000.0)
    later = datetime(2024, 2, 20, tzinfo=UTC)
    result = poll_trade(source, fetcher, store, later, sleep=lambda _s: None)
    assert result.changed == 2 * 2  # Oct..Jan asked; Oct and Nov on file; 2 codes to the US
    nov = [f for f in store.trade_flows() if f.period == date(2023, 11, 1) and f.partner == "USA"]
    assert {f.net_weight_kg for f in nov} == {5000.0}
    assert {f.published_at for f in nov} == {NOW.date()}


def test_an_answer_at_the_cap_is_asked_again_in_halves(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    # every partner asked: 50 partners x 12 months = 600 records for one code, over the cap
    records = [comtrade_record(period=month, reporter="CHN", partner=f"P{n:02d}", hs=hs,
                               kg=10.0 + n, usd=100.0)
               for month in MONTHS for hs in ("811292", "282560") for n in range(50)]
    stand_in = ComtradeStandIn(records)
    httpserver.expect_request("/preview").respond_with_handler(stand_in)
    source = comtrade_source(httpserver.url_for("/preview"), queries=[
        {"reporter": "CHN", "flow": "X", "minerals": ["gallium", "germanium"]}])
    result = poll_trade(source, fetcher, store, NOW, sleep=lambda _s: None)
    assert result.rows == len(records)  # nothing lost to the cap
    assert "partnerCode" not in stand_in.queries[0]
    sizes = [q["period"].count(",") + 1 for q in stand_in.queries]
    assert sizes == [12, 6, 6] * 4  # planned 12 months x 1 code; capped, then halves


def test_too_many_calls_for_one_poll_is_an_error_that_saves_nothing(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    records = [comtrade_record(period=month, reporter="CHN", partner=f"P{n:02d}", hs="811292",
                               kg=1.0, usd=1.0) for month in MONTHS for n in range(50)]
    httpserver.expect_request("/preview").respond_with_handler(ComtradeStandIn(records))
    source = comtrade_source(httpserver.url_for("/preview"), max_calls=3, queries=[
        {"reporter": "CHN", "flow": "X", "minerals": ["gallium", "germanium"]}])
    outcome = poll_source(source, fetcher, store, NOW)
    assert not outcome.ok and "max_calls=3" in (outcome.error or "")
    assert store.trade_flows() == []


def _poll_twice_second_fails(httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
                             bad: Response) -> tuple[object, int]:
    stand_in = ComtradeStandIn(china_records(MONTHS))
    httpserver.expect_request("/preview").respond_with_handler(stand_in)
    source = comtrade_source(httpserver.url_for("/preview"), interval="1d")
    assert poll_source(source, fetcher, store, NOW).ok
    kept = store.trade_flows()
    stand_in.override = lambda _request: bad
    outcome = poll_source(source, fetcher, store, datetime(2024, 2, 20, tzinfo=UTC))
    assert store.trade_flows() == kept  # nothing lost, nothing half-saved
    return outcome, len(kept)


def test_a_429_with_an_absurd_retry_after_backs_off_within_bounds(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    quota = Response('{"statusCode": 429, "message": "Rate limit is exceeded."}', status=429,
                     headers={"Retry-After": "99999999999"}, content_type="application/json")
    outcome, _ = _poll_twice_second_fails(httpserver, store, fetcher, quota)
    state = store.source_state("comtrade_exports")
    assert state.status == "failing" and state.last_http_status == 429
    wait = datetime.fromisoformat(state.next_poll_at) - datetime(2024, 2, 20, tzinfo=UTC)
    assert wait.total_seconds() <= 86_400  # at most the larger of the interval and 6 h
    assert "comtrade_exports" in (outcome.error or "")  # type: ignore[attr-defined]


def test_the_quota_json_with_status_200_fails_the_poll(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    quota = Response('{"statusCode": 403, "message": "Out of call volume quota. Quota will be '
                     'replenished in 02:11:00."}', content_type="application/json")
    outcome, _ = _poll_twice_second_fails(httpserver, store, fetcher, quota)
    assert "Out of call volume quota" in (outcome.error or "")  # type: ignore[attr-defined]
    assert store.source_state("comtrade_exports").status == "failing"


def test_an_html_error_page_served_as_json_is_a_clear_error(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    page = Response("<html><body><h1>502 Bad Gateway</h1>\x1b[31m</body></html>",
                    content_type="application/json")
    outcome, _ = _poll_twice_second_fails(httpserver, store, fetcher, page)
    error = outcome.error or ""  # type: ignore[attr-defined]
    assert "comtrade_exports: Comtrade sent an HTML page" in error and "\x1b" not in error


def test_a_renamed_field_is_a_clear_error(httpserver: HTTPServer, store: Store,
                                          fetcher: HttpFetcher) -> None:
    record = comtrade_record(period=date(2023, 11, 1), reporter="CHN", partner="USA",
                             hs="811292", kg=1.0, usd=1.0)
    record["netWeight"] = record.pop("netWgt")
    record["primaryVal"] = record.pop("primaryValue")
    record["partner"] = record.pop("partnerISO")
    renamed = Response(f'{{"elements": null, "count": 1, "data": [{_json(record)}], '
                       '"error": ""}', content_type="application/json")
    outcome, _ = _poll_twice_second_fails(httpserver, store, fetcher, renamed)
    assert "data[0] lacks partnerISO" in (outcome.error or "")  # type: ignore[attr-defined]


def test_an_empty_month_everywhere_is_an_error_and_keeps_the_data(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    empty = Response('{"elements": null, "count": 0, "data": [], "error": ""}',
                     content_type="application/json")
    outcome, kept = _poll_twice_second_fails(httpserver, store, fetcher, empty)
    assert kept and "no trade rows in 1 answer(s) for 2023-10 to 2024-01" in \
        (outcome.error or "")  # type: ignore[attr-defined]


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def test_census_poll_one_call_per_code_and_a_204_month_is_no_data(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher) -> None:
    asked: list[dict[str, str]] = []

    def census(request: Request) -> Response:
        args = {k: request.args[k] for k in request.args}
        asked.append(args)
        if args["I_COMMODITY"] == "8112926000":
            return Response(status=204)  # no US imports of germanium in those months
        return Response(census_answer([
            ("5700", "CHINA", 1_440_000, 4800, "KG", "2023-11", "8112921000"),
            ("-", "TOTAL FOR ALL COUNTRIES", 1_740_000, 5800, "KG", "2023-11", "8112921000"),
        ]), content_type="application/json")

    httpserver.expect_request("/hs").respond_with_handler(census)
    outcome = poll_source(census_source(httpserver.url_for("/hs")), fetcher, store, NOW)
    assert outcome.ok and outcome.rows == 2
    assert [a["I_COMMODITY"] for a in asked] == ["8112921000", "8112926000"]
    assert asked[0]["time"] == "from 2022-01 to 2023-12"
    assert asked[0]["get"] == "CTY_CODE,CTY_NAME,GEN_VAL_MO,GEN_QY1_MO,UNIT_QY1"
    flows = store.trade_flows()
    assert {(f.partner, f.net_weight_kg) for f in flows} == {("CHN", 4800.0), (WORLD, 5800.0)}
    # Census: month end + 35 days (5 January 2024), before the fetch on 15 January
    assert {f.published_at for f in flows} == {date(2024, 1, 4)}


def _config_dir(tmp_path: Path, sources: str) -> Path:
    directory = tmp_path / "config"
    directory.mkdir()
    (directory / "sources.yaml").write_text(sources, encoding="utf-8")
    return directory


def test_a_query_for_an_unknown_mineral_is_named_with_its_key_path(tmp_path: Path) -> None:
    from monitor.config.load import load_config
    from monitor.core.errors import ConfigError

    directory = _config_dir(tmp_path, """version: 1
sources:
  - id: comtrade_exports
    kind: comtrade
    url: https://comtradeapi.un.org/public/v1/preview/C/M/HS
    queries:
      - {reporter: CHN, flow: X, minerals: [gallium, unobtainium]}
""")
    with pytest.raises(ConfigError, match=r"sources\.0\.queries\.0\.minerals\.1.*unobtainium"):
        load_config(directory)


@pytest.mark.parametrize(("query", "message"), [
    ("{reporter: XXX, flow: X, minerals: [gallium]}", "no UN M49 code known for 'XXX'"),
    ("{reporter: CHN, flow: RX, minerals: [gallium]}", "flow"),
    ("{reporter: CHN, flow: X, partners: [USA, ATL], minerals: [gallium]}",
     "no UN M49 code known for ATL"),
])
def test_bad_queries_are_refused_at_load(tmp_path: Path, query: str, message: str) -> None:
    from monitor.config.load import load_config
    from monitor.core.errors import ConfigError

    directory = _config_dir(tmp_path, f"""version: 1
sources:
  - id: comtrade_exports
    kind: comtrade
    url: https://comtradeapi.un.org/public/v1/preview/C/M/HS
    queries:
      - {query}
""")
    with pytest.raises(ConfigError, match=message):
        load_config(directory)


def test_the_shipped_trade_sources_get_their_codes_from_minerals_yaml() -> None:
    from monitor.config.load import load_config

    sources = {s.id: s for s in load_config().sources.sources}
    comtrade = sources["comtrade_exports"]
    census = sources["census_us_imports"]
    assert isinstance(comtrade, ComtradeSource) and isinstance(census, CensusTradeSource)
    assert comtrade.enabled and census.enabled
    assert comtrade.hs_for(("gallium",)) == ("811292",)  # HS6 only for Comtrade
    assert census.hs_for(("gallium", "cobalt"), longest=True) == (
        "8112921000", "260500", "282200", "810520")
