"""Polling news sources against a local HTTP server: items, 304s, bad inputs, dedup, alerts."""

from __future__ import annotations

import gzip
import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.config.load import Config
from monitor.config.sources import SourcesFile
from monitor.core.models import Frequency, Measure, Observation
from monitor.news import classify
from monitor.news.classify import NewsClassifier
from monitor.news.events import WATERMARK_KEY, policy_event_signals
from monitor.news.ingest import NewsPipeline, pipeline_for_store
from monitor.news.store import NewsStore
from monitor.sources.http import HttpFetcher
from monitor.sources.polling import poll_source
from monitor.store.database import Store

from .conftest import fixture_bytes
from .test_parse import BILLION_LAUGHS, item, nested_lists_page, rss

T0 = datetime(2024, 12, 3, 12, 0, tzinfo=UTC)


def news_source(kind: str, url: str, **extra: object):  # type: ignore[no-untyped-def]
    spec = {"id": extra.pop("id", f"src_{kind}"), "kind": kind, "url": url, "interval": "1h",
            "jitter": "0s", "timeout": "60s", **extra}
    return SourcesFile.model_validate({"sources": [spec]}).sources[0]


def serve(httpserver: HTTPServer, path: str, body: bytes, *, content_type: str,
          etag: str = '"v1"') -> list[dict[str, str]]:
    """Serve ``body`` with an ETag, answering 304 to a matching If-None-Match; log requests."""
    seen: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        seen.append(dict(request.headers))
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        return Response(body, headers={"ETag": etag, "Content-Type": content_type})

    httpserver.expect_request(path).respond_with_handler(handler)
    return seen


def stored(store: Store, **filters: object) -> list[dict[str, object]]:
    return NewsStore(store).items(include_duplicates=True, **filters)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- happy paths


def test_feed_poll_saves_tagged_classified_items(httpserver: HTTPServer, store: Store,
                                                 fetcher: HttpFetcher,
                                                 pipeline: NewsPipeline) -> None:
    serve(httpserver, "/fr.rss", fixture_bytes("rss2_en.xml"),
          content_type="application/rss+xml; charset=utf-8")
    source = news_source("rss", httpserver.url_for("/fr.rss"), country="United States")
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert outcome.ok and outcome.rows == 3 and outcome.changed == 3
    rows = {row["title"][:30]: row for row in stored(store)}
    copper = rows["Adjusting Imports of Copper In"]
    assert copper["kind"] == "tariff" and copper["is_supply_risk_event"] is True
    assert copper["minerals"] == ["copper"] and copper["country"] == "United States"
    assert copper["canonical_url"] == "federalregister.gov/d/2025-14893"
    probe = rows["Notice of Request for Public C"]
    assert probe["is_supply_risk_event"] is False  # an investigation is not a restriction
    assert probe["url"].startswith(httpserver.url_for("/documents/2025/04/25/"))
    state = store.source_state(source.id)
    assert state.status == "ok" and state.etag == '"v1"' and state.last_rows == 3


def test_second_poll_is_conditional_and_a_304_writes_nothing(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        pipeline: NewsPipeline) -> None:
    seen = serve(httpserver, "/feed", fixture_bytes("atom_en.xml"),
                 content_type="application/atom+xml")
    source = news_source("rss", httpserver.url_for("/feed"))
    poll_source(source, fetcher, store, T0, news=pipeline)
    outcome = poll_source(source, fetcher, store, T0 + timedelta(hours=1), news=pipeline)
    assert seen[1].get("If-None-Match") == '"v1"'
    assert outcome.ok and outcome.not_modified and outcome.changed == 0
    assert len(stored(store)) == 2


def test_a_changed_feed_adds_only_its_new_items(httpserver: HTTPServer, store: Store,
                                                fetcher: HttpFetcher,
                                                pipeline: NewsPipeline) -> None:
    first = rss(item("Gallium export controls take effect", "https://example.org/1"))
    second = rss(item("Gallium export controls take effect", "https://example.org/1"),
                 item("Indonesia bans bauxite exports", "https://example.org/2"))
    source = news_source("rss", httpserver.url_for("/feed"))
    serve(httpserver, "/feed", first, content_type="application/rss+xml", etag='"1"')
    assert poll_source(source, fetcher, store, T0, news=pipeline).changed == 1
    httpserver.clear()
    serve(httpserver, "/feed", second, content_type="application/rss+xml", etag='"2"')
    outcome = poll_source(source, fetcher, store, T0 + timedelta(hours=1), news=pipeline)
    assert outcome.rows == 2 and outcome.changed == 1


@pytest.mark.parametrize(("fixture", "content_type", "titles"), [
    pytest.param("rss2_zh_gbk.xml", "text/xml", ["商务部 海关总署公告2024年第33号",
                                                 "无锡银行发布年度报告"], id="gbk-rss"),
    pytest.param("atom_zh.xml", "application/atom+xml", ["刚果（金）暂停钴出口四个月",  # noqa: RUF001 (Chinese punctuation)
                                                         "碳酸锂价格跌破8万元/吨"], id="zh-atom"),
    pytest.param("rdf_en.rdf", "application/rdf+xml", [
        "Congo suspends cobalt exports for four months",
        "Packaging group to close tin can plant in Ohio"], id="rdf"),
])
def test_feeds_in_every_format_and_encoding(httpserver: HTTPServer, store: Store,
                                            fetcher: HttpFetcher, pipeline: NewsPipeline,
                                            fixture: str, content_type: str,
                                            titles: list[str]) -> None:
    serve(httpserver, "/feed", fixture_bytes(fixture), content_type=content_type)
    outcome = poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0,
                          news=pipeline)
    assert outcome.ok
    found = sorted(str(r["title"]) for r in stored(store))
    assert [t for t in titles if not any(f.startswith(t) for f in found)] == []


def test_gbk_feed_items_are_tagged_in_chinese(httpserver: HTTPServer, store: Store,
                                              fetcher: HttpFetcher,
                                              pipeline: NewsPipeline) -> None:
    serve(httpserver, "/feed", fixture_bytes("rss2_zh_gbk.xml"), content_type="text/xml")
    poll_source(news_source("rss", httpserver.url_for("/feed"), lang="zh"), fetcher, store, T0,
                news=pipeline)
    rows = {str(r["title"])[:10]: r for r in stored(store)}
    assert rows["商务部 海关总署公告"]["minerals"] == ["antimony"]
    assert rows["商务部 海关总署公告"]["kind"] == "export_control"
    assert rows["无锡银行发布年度报告"]["minerals"] == []  # 无锡 is a city, 银行 a bank


def test_federal_register_json_source(httpserver: HTTPServer, store: Store,
                                      fetcher: HttpFetcher, pipeline: NewsPipeline) -> None:
    serve(httpserver, "/api/v1/documents.json", fixture_bytes("federal_register.json"),
          content_type="application/json; charset=utf-8")
    source = news_source("federal_register", httpserver.url_for("/api/v1/documents.json"),
                         country="United States")
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert outcome.ok and outcome.rows == 3
    kinds = {str(r["title"])[:20]: r["kind"] for r in stored(store)}
    assert kinds["Adjusting Imports of"] == "tariff"
    assert kinds["Airworthiness Direct"] == "general_industry"


def test_mofcom_listing_page_source(httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
                                    pipeline: NewsPipeline) -> None:
    serve(httpserver, "/zwgk/zcfb/index.html", fixture_bytes("mofcom_list.html"),
          content_type="text/html")
    source = news_source("html_list", httpserver.url_for("/zwgk/zcfb/index.html"),
                         selector="ul.txtList li", link_pattern="/zcfb/", lang="zh",
                         country="China")
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert outcome.ok and outcome.rows == 4
    rare_earths = stored(store, mineral="rare_earths")
    assert [r["country"] for r in rare_earths] == ["China"]
    assert rare_earths[0]["kind"] == "export_control"
    assert rare_earths[0]["is_supply_risk_event"] is True


# ----------------------------------------------------------------------------- bad input


def test_html_instead_of_a_feed_marks_the_source_failing(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        pipeline: NewsPipeline) -> None:
    serve(httpserver, "/feed", fixture_bytes("fr_request_access.html"), content_type="text/html")
    source = news_source("rss", httpserver.url_for("/feed"))
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert not outcome.ok and "HTML page" in (outcome.error or "")
    assert store.source_state(source.id).status == "failing"
    assert stored(store) == []


def test_truncated_xml_with_entries_is_accepted(httpserver: HTTPServer, store: Store,
                                                fetcher: HttpFetcher,
                                                pipeline: NewsPipeline) -> None:
    serve(httpserver, "/feed", fixture_bytes("truncated.xml"), content_type="application/xml")
    outcome = poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0,
                          news=pipeline)
    assert outcome.ok and outcome.rows >= 1


def test_a_huge_response_is_cut_off_at_the_cap(httpserver: HTTPServer, store: Store,
                                               fetcher: HttpFetcher,
                                               pipeline: NewsPipeline) -> None:
    huge = rss(*(item("x" * 900, f"https://example.org/{n}") for n in range(3000)))
    assert len(huge) > 2_000_000
    serve(httpserver, "/feed", huge, content_type="application/rss+xml")
    source = news_source("rss", httpserver.url_for("/feed"), max_bytes="1MB")
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert not outcome.ok and "exceeds 1000000 bytes" in (outcome.error or "")


def test_a_gzip_bomb_is_stopped_at_the_cap(httpserver: HTTPServer, store: Store,
                                           fetcher: HttpFetcher,
                                           pipeline: NewsPipeline) -> None:
    bomb = gzip.compress(b"<rss>" + b" " * 200_000_000, compresslevel=9)
    assert len(bomb) < 300_000

    def handler(request: Request) -> Response:
        return Response(bomb, headers={"Content-Type": "application/rss+xml",
                                       "Content-Encoding": "gzip"})

    httpserver.expect_request("/bomb").respond_with_handler(handler)
    source = news_source("rss", httpserver.url_for("/bomb"), max_bytes="5MB")
    started = time.perf_counter()
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert not outcome.ok and "exceeds 5000000 bytes" in (outcome.error or "")
    assert time.perf_counter() - started < 5


def test_billion_laughs_feed_is_harmless(httpserver: HTTPServer, store: Store,
                                         fetcher: HttpFetcher, pipeline: NewsPipeline) -> None:
    serve(httpserver, "/feed", BILLION_LAUGHS, content_type="application/rss+xml")
    started = time.perf_counter()
    outcome = poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0,
                          news=pipeline)
    assert time.perf_counter() - started < 5
    assert outcome.ok
    assert all(len(str(r["title"])) < 100 for r in stored(store))


def test_one_megabyte_title_is_skipped_with_a_logged_reason(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, pipeline: NewsPipeline,
        caplog: pytest.LogCaptureFixture) -> None:
    body = rss(item("B" * 1_000_000, "https://example.org/huge"),
               item("China bans antimony exports", "https://example.org/ok"))
    serve(httpserver, "/feed", body, content_type="application/rss+xml")
    with caplog.at_level(logging.WARNING):
        outcome = poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store,
                              T0, news=pipeline)
    assert outcome.ok and outcome.rows == 1
    assert [r["title"] for r in stored(store)] == ["China bans antimony exports"]
    assert "skipped 1 entry: entry 0: title of 1000000 characters" in caplog.text


def test_other_sources_continue_after_one_fails(httpserver: HTTPServer, store: Store,
                                               fetcher: HttpFetcher,
                                               pipeline: NewsPipeline) -> None:
    serve(httpserver, "/broken", fixture_bytes("fr_request_access.html"),
          content_type="text/html")
    serve(httpserver, "/good", fixture_bytes("atom_en.xml"), content_type="application/xml")
    broken = news_source("rss", httpserver.url_for("/broken"), id="broken")
    good = news_source("rss", httpserver.url_for("/good"), id="good")
    outcomes = [poll_source(s, fetcher, store, T0, news=pipeline) for s in (broken, good)]
    assert [o.ok for o in outcomes] == [False, True]
    assert store.source_state("broken").status == "failing"
    assert len(stored(store)) == 2


def test_a_listing_page_still_parsing_at_the_source_timeout_fails_that_source(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        pipeline: NewsPipeline) -> None:
    page = nested_lists_page(4_500_000)  # several seconds of parsing even when linear
    serve(httpserver, "/list.html", page, content_type="text/html; charset=utf-8")
    source = news_source("html_list", httpserver.url_for("/list.html"), id="mofcom",
                         selector="ul li", timeout="1s")
    started = time.perf_counter()
    outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert time.perf_counter() - started < 30
    assert not outcome.ok
    assert "mofcom: parsing the page took longer than 1s" in (outcome.error or "")
    state = store.source_state("mofcom")
    assert state.status == "failing" and "took longer than 1s" in (state.last_error or "")
    assert stored(store) == []


def test_one_invalid_byte_in_a_utf8_feed_spoils_only_its_own_title(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        pipeline: NewsPipeline) -> None:
    titles = ["商务部公告 对镓、锗相关物项实施出口管制", "稀土出口管制措施正式生效",
              "锑矿石出口需申领许可证", "钨价格本周持续上涨"]
    body = rss(*(item(t, f"https://example.org/{n}") for n, t in enumerate(titles)))
    broken = body.replace("稀土出口".encode(), "稀土".encode() + b"\xff" + "出口".encode())
    serve(httpserver, "/feed", broken, content_type="application/rss+xml; charset=utf-8")
    outcome = poll_source(news_source("rss", httpserver.url_for("/feed"), lang="zh"), fetcher,
                          store, T0, news=pipeline)
    assert outcome.ok and outcome.rows == 4
    found = {str(r["url"]): str(r["title"]) for r in stored(store)}
    assert found == {"https://example.org/0": titles[0],
                     "https://example.org/1": "稀土\ufffd出口管制措施正式生效",
                     "https://example.org/2": titles[2], "https://example.org/3": titles[3]}


def test_control_and_bidi_characters_never_reach_the_store(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        pipeline: NewsPipeline) -> None:
    body = rss(
        "<item><title>China bans \u009d31m gallium\u202e exports</title>"
        "<link>https://example.org/1</link><description>Effective &#x202E;now&#x202C;, "
        "\u009d0;pwned\u0007 says MOFCOM\u2066.</description></item>",
        item("稀土出口管制\u202d生效\u200f", "https://example.org/2"))
    serve(httpserver, "/feed", body, content_type="application/rss+xml; charset=utf-8")
    outcome = poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0,
                          news=pipeline)
    assert outcome.ok and outcome.rows == 2
    rows = {str(r["url"]): r for r in stored(store)}
    assert rows["https://example.org/1"]["title"] == "China bans 31m gallium exports"
    assert rows["https://example.org/1"]["summary"] == "Effective now, 0;pwned says MOFCOM."
    assert rows["https://example.org/2"]["title"] == "稀土出口管制生效"


# ----------------------------------------------------------------------------- dedup


def test_the_same_story_in_two_sources_and_two_polls_counts_once(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        pipeline: NewsPipeline) -> None:
    serve(httpserver, "/gnews", fixture_bytes("google_news_en.xml"),
          content_type="application/rss+xml")
    publisher = rss(item("China to restrict exports of chipmaking metals gallium and germanium",
                         "https://www.reuters.com/markets/commodities/china-curbs-2023-07-03/",
                         date="Mon, 03 Jul 2023 13:00:00 GMT"))
    serve(httpserver, "/reuters", publisher, content_type="application/rss+xml")
    now = datetime(2023, 7, 3, 16, 0, tzinfo=UTC)
    poll_source(news_source("rss", httpserver.url_for("/reuters"), id="reuters"), fetcher,
                store, now, news=pipeline)
    poll_source(news_source("rss", httpserver.url_for("/gnews"), id="gnews"), fetcher, store,
                now + timedelta(hours=1), news=pipeline)
    rows = stored(store)
    originals = [r for r in rows if not r["dedup_of"]]
    assert len(rows) == 4
    assert sorted(str(r["title"])[:25] for r in originals) == [
        "China to restrict exports", "Mesa 23.2 brings Gallium "]
    reuters = next(r for r in originals if r["source"] == "reuters")
    assert {r["dedup_of"] for r in rows if r["dedup_of"]} == {reuters["id"]}
    assert [r["id"] for r in NewsStore(store).items(since=now - timedelta(days=1))] == [
        o["id"] for o in sorted(originals, key=lambda r: (r["at"], r["id"]), reverse=True)]


# ----------------------------------------------------------------------------- default pipeline


def test_poll_without_a_pipeline_uses_the_store_config_and_db_dir(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher,
        classifier: NewsClassifier, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(classify._LOADED, (str(tmp_path), classifier.key), classifier)
    serve(httpserver, "/feed", fixture_bytes("atom_en.xml"), content_type="application/xml")
    outcome = poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0)
    assert outcome.ok and outcome.changed == 2
    assert pipeline_for_store(store).cache_dir == tmp_path


# ----------------------------------------------------------------------------- alerts


def gallium_production(store: Store) -> None:
    rows = [("China", 750.0), ("Japan", 3.0), ("World total", 760.0)]
    store.save_observations([
        Observation(source="usgs", series="gallium:production:refinery", mineral="gallium",
                    measure=Measure.PRODUCTION, period=date(2023, 1, 1),
                    frequency=Frequency.ANNUAL, value=value, unit="kg", country=country,
                    published_at=date(2024, 1, 31)) for country, value in rows], fetched_at=T0)


def test_new_restrictions_raise_policy_event_signals_once(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, pipeline: NewsPipeline,
        config: Config) -> None:
    gallium_production(store)
    serve(httpserver, "/feed", fixture_bytes("atom_en.xml"), content_type="application/xml")
    poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0,
                news=pipeline)
    signals = policy_event_signals(store, config, T0 + timedelta(minutes=5))
    by_mineral = {s.mineral: s for s in signals}
    assert set(by_mineral) == {"gallium", "germanium", "antimony"}  # not copper's price move
    gallium = by_mineral["gallium"]
    assert gallium.rule == "policy_event" and gallium.firing and gallium.level == "critical"
    assert by_mineral["antimony"].level == "high"  # no production data: share unknown
    labels = dict(gallium.labels)
    assert labels["alertname"] == "policy_event" and labels["country"] == "China"
    annotations = dict(gallium.annotations)
    # raw text: the render layer escapes "&" and "<" for Slack and email, not us
    assert annotations["summary"].startswith(
        "China bans exports of gallium, germanium & antimony to the United States; source "
        "https://news.example.org/2024/12/03/china-bans-gallium-germanium")
    assert annotations["kind"] in {"export_ban", "export_control"}
    assert store.get_meta(WATERMARK_KEY) == (T0 + timedelta(minutes=5)).isoformat()
    assert policy_event_signals(store, config, T0 + timedelta(minutes=20)) == []


def test_old_items_from_a_first_poll_do_not_alert(httpserver: HTTPServer, store: Store,
                                                  fetcher: HttpFetcher, pipeline: NewsPipeline,
                                                  config: Config) -> None:
    serve(httpserver, "/feed", fixture_bytes("atom_en.xml"), content_type="application/xml")
    later = T0 + timedelta(days=30)
    poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, later,
                news=pipeline)
    assert policy_event_signals(store, config, later) == []


def test_annotations_keep_markup_characters_raw(httpserver: HTTPServer, store: Store,
                                                fetcher: HttpFetcher, pipeline: NewsPipeline,
                                                config: Config) -> None:
    body = rss(item("China bans antimony &amp; gallium exports as stocks fall &lt; 3 months",
                    "https://example.org/a?x=1&amp;y=2", date="Tue, 03 Dec 2024 10:00:00 GMT"))
    serve(httpserver, "/feed", body, content_type="application/rss+xml")
    poll_source(news_source("rss", httpserver.url_for("/feed")), fetcher, store, T0,
                news=pipeline)
    [signal, *_] = policy_event_signals(store, config, T0)
    annotations = dict(signal.annotations)
    assert annotations["title"] == (
        "China bans antimony & gallium exports as stocks fall < 3 months")
    assert annotations["url"] == "https://example.org/a?x=1&y=2"
    assert "&amp;" not in annotations["summary"] and "&lt;" not in annotations["summary"]
