"""Parsing feeds, Federal Register JSON and HTML listing pages into plain-text news items."""

from __future__ import annotations

import json
import re
import sys
import time
import tracemalloc
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.core.errors import SourceFormatError
from monitor.news import parse
from monitor.news.parse import (
    MAX_ENTRIES,
    HtmlListSpec,
    decode_html,
    html_to_text,
    parse_federal_register,
    parse_feed,
    parse_html_list,
)

from .conftest import fixture_bytes

FR_BASE = "https://www.federalregister.gov/api/v1/documents.rss"


def rss(*items: str, encoding: str = "UTF-8") -> bytes:
    body = "".join(items)
    return (f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel>'
            f"<title>t</title><link>https://example.org/</link>{body}</channel></rss>"
            ).encode(encoding.lower())


def item(title: str, link: str = "", guid: str = "", date: str = "") -> str:
    parts = [f"<title>{title}</title>"]
    if link:
        parts.append(f"<link>{link}</link>")
    if guid:
        parts.append(f"<guid>{guid}</guid>")
    if date:
        parts.append(f"<pubDate>{date}</pubDate>")
    return "<item>" + "".join(parts) + "</item>"


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize(("fragment", "expected"), [
    pytest.param("<p>New <b>quota</b></p>", "New quota", id="tags-dropped"),
    pytest.param("AT&amp;T", "AT&T", id="entity-decoded"),
    pytest.param("The President&amp;#39;s order", "The President's order", id="double-escaped"),
    pytest.param("a<script>alert(1)</script>b", "ab", id="script-dropped"),
    pytest.param("one<br>two<p>three</p>", "one two three", id="block-tags-space"),
    pytest.param("  many \n\t spaces ", "many spaces", id="whitespace-collapsed"),
    pytest.param("x\x00y\x07z", "xyz", id="control-chars-dropped"),
    pytest.param("1 &lt; 2", "1 < 2", id="angle-bracket-kept-as-text"),
    pytest.param("商务部&nbsp;公告", "商务部 公告", id="chinese-with-nbsp"),
])
def test_html_to_text(fragment: str, expected: str) -> None:
    assert html_to_text(fragment) == expected


def test_html_to_text_limits_length() -> None:
    assert html_to_text("word " * 1000, limit=20) == "word word word word"


# ----------------------------------------------------------------------------- feeds


def test_rss2_items_are_plain_text_with_resolved_links_and_utc_dates() -> None:
    parsed = parse_feed(fixture_bytes("rss2_en.xml"), source="fr_rss", base_url=FR_BASE,
                        content_type="application/rss+xml; charset=utf-8")
    assert [i.title[:30] for i in parsed.items] == [
        "Adjusting Imports of Copper In", "Notice of Request for Public C",
        "Certain Aluminum Foil From the"]
    first, second, third = parsed.items
    assert first.summary.startswith("The President's proclamation imposes a 50% tariff")
    assert first.published_at == datetime(2025, 8, 5, 4, 0, tzinfo=UTC)
    assert second.url == ("https://www.federalregister.gov/documents/2025/04/25/2025-07273/"
                          "notice-of-request-for-public-comments")
    assert third.url.endswith("/2025-03999/certain-aluminum-foil")
    assert all(i.lang == "en" and i.source == "fr_rss" for i in parsed.items)
    assert parsed.warning is None and parsed.skipped == ()


def test_item_ids_are_stable_across_parses_and_come_from_guid_then_link() -> None:
    body = fixture_bytes("rss2_en.xml")
    once = parse_feed(body, source="s", base_url=FR_BASE)
    again = parse_feed(body, source="s", base_url=FR_BASE)
    assert [i.id for i in once.items] == [i.id for i in again.items]
    assert len({i.id for i in once.items}) == 3
    assert all(i.id.startswith("s:") and len(i.id) == 18 for i in once.items)
    assert parse_feed(body, source="other", base_url=FR_BASE).items[0].id != once.items[0].id


def test_entry_without_guid_or_link_gets_an_id_from_title_and_date() -> None:
    body = rss(item("Gallium curbs", date="Mon, 03 Jul 2023 13:25:00 GMT"),
               item("Gallium curbs", date="Tue, 04 Jul 2023 13:25:00 GMT"))
    first = parse_feed(body, source="s")
    second = parse_feed(body, source="s")
    assert len(first.items) == 2
    assert first.items[0].id != first.items[1].id
    assert [i.id for i in first.items] == [i.id for i in second.items]
    assert first.items[0].url == ""


def test_atom_titles_lose_html_and_summaries_lose_scripts() -> None:
    parsed = parse_feed(fixture_bytes("atom_en.xml"), source="atom")
    ban, prices = parsed.items
    assert ban.title == ("China bans exports of gallium, germanium & antimony to the "
                         "United States")
    assert "script" not in ban.summary and "alert(1)" not in ban.summary
    assert ban.url.startswith("https://news.example.org/2024/12/03/china-bans-gallium-germanium")
    assert ban.published_at == datetime(2024, 12, 3, 9, 15, tzinfo=UTC)
    assert prices.title == "Copper prices hit two-year high on supply worries"


def test_rdf_feed_items_and_dates() -> None:
    parsed = parse_feed(fixture_bytes("rdf_en.rdf"), source="rdf")
    assert [i.title for i in parsed.items] == [
        "Congo suspends cobalt exports for four months",
        "Packaging group to close tin can plant in Ohio"]
    assert parsed.items[0].published_at == datetime(2025, 2, 22, 16, 0, tzinfo=UTC)
    assert parsed.items[0].url == "https://metals.example.net/news/drc-cobalt"


def test_gbk_feed_decodes_to_chinese_and_is_tagged_zh() -> None:
    body = fixture_bytes("rss2_zh_gbk.xml")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    parsed = parse_feed(body, source="mofcom_rss", lang="en")
    assert parsed.items[0].title == (
        "商务部 海关总署公告2024年第33号 关于对锑等物项实施出口管制的公告")
    assert parsed.items[0].summary.startswith("自2024年9月15日起")
    assert parsed.items[0].lang == "zh"
    assert parsed.items[0].published_at == datetime(2024, 8, 15, 0, 0, tzinfo=UTC)


def test_gb2312_declared_feed_with_wrong_header_charset_still_decodes() -> None:
    body = rss(item("稀土出口管制", link="https://example.cn/1"), encoding="GB2312")
    parsed = parse_feed(body, source="s", content_type="application/rss+xml; charset=utf-8")
    assert parsed.items[0].title == "稀土出口管制"


def test_utf8_atom_in_chinese() -> None:
    parsed = parse_feed(fixture_bytes("atom_zh.xml"), source="cn")
    assert [i.title for i in parsed.items] == [
        "刚果（金）暂停钴出口四个月", "碳酸锂价格跌破8万元/吨"]  # noqa: RUF001 (Chinese punctuation)
    assert {i.lang for i in parsed.items} == {"zh"}


def test_google_news_publisher_suffix_is_dropped() -> None:
    parsed = parse_feed(fixture_bytes("google_news_en.xml"), source="gnews")
    assert parsed.items[0].title == ("China to restrict exports of chipmaking metals gallium "
                                     "and germanium")
    assert parsed.items[2].title == "Mesa 23.2 brings Gallium driver fixes"


# ----------------------------------------------------------------------------- bad feeds


def test_html_page_instead_of_a_feed_is_a_format_error_naming_the_page() -> None:
    with pytest.raises(SourceFormatError, match=r"HTML page.*Request Access"):
        parse_feed(fixture_bytes("fr_request_access.html"), source="fr",
                   content_type="text/html")


def test_truncated_feed_with_entries_is_kept_with_a_warning() -> None:
    parsed = parse_feed(fixture_bytes("truncated.xml"), source="s")
    assert parsed.items[0].title == "Adjusting Imports of Copper Into the United States"
    assert parsed.warning is not None and "SAXParseException" in parsed.warning


def test_truncated_feed_without_entries_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError, match="not a usable feed"):
        parse_feed(b'<?xml version="1.0"?><rss version="2.0"><channel><title>x', source="s")


def test_json_from_a_feed_url_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError):
        parse_feed(b'{"results": []}', source="s", content_type="application/json")


def test_valid_feed_with_no_entries_is_empty_not_an_error() -> None:
    assert parse_feed(rss(), source="s").items == ()


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>t</title>
<item><title>&lol9;</title><link>https://example.org/1</link></item>
<item><title>Antimony export controls</title><link>https://example.org/2</link></item>
</channel></rss>"""


def test_billion_laughs_is_not_expanded_and_stays_small_and_fast() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        parsed = parse_feed(BILLION_LAUGHS, source="s")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 20_000_000  # a full expansion would be ~3 GB
    assert all(len(i.title) < 100 for i in parsed.items)
    assert parsed.items[-1].title == "Antimony export controls"


def test_one_megabyte_title_is_skipped_with_a_reason_and_others_kept() -> None:
    body = rss(item("A" * 1_000_000, link="https://example.org/huge"),
               item("Gallium export controls", link="https://example.org/ok"))
    started = time.perf_counter()
    parsed = parse_feed(body, source="s")
    assert time.perf_counter() - started < 2.0
    assert [i.title for i in parsed.items] == ["Gallium export controls"]
    assert len(parsed.skipped) == 1
    assert parsed.skipped[0].position == 0
    assert "title of 1000000 characters" in parsed.skipped[0].reason


def test_long_summary_is_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    body = rss(f"<item><title>t</title><description>{'word ' * 5000}</description></item>")
    summary = parse_feed(body, source="s").items[0].summary
    assert len(summary) <= parse.MAX_SUMMARY_CHARS


def test_entries_beyond_the_cap_are_ignored_with_one_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "MAX_ENTRIES", 3)
    body = rss(*(item(f"Story {n}", link=f"https://example.org/{n}") for n in range(6)))
    parsed = parse_feed(body, source="s")
    assert len(parsed.items) == 3
    assert [s.reason for s in parsed.skipped] == ["more than 3 entries: the rest are ignored"]
    assert MAX_ENTRIES == 500


def test_javascript_links_are_dropped() -> None:
    body = rss(item("Story", link="javascript:alert(1)"))
    assert parse_feed(body, source="s").items[0].url == ""


# ----------------------------------------------------------------------------- Federal Register


def test_federal_register_json_items() -> None:
    parsed = parse_federal_register(fixture_bytes("federal_register.json"), source="fr")
    assert [i.title[:32] for i in parsed.items] == [
        "Adjusting Imports of Processed C", "Final 2025 List of Critical Mine",
        "Airworthiness Directives; The Bo"]
    proclamation, listing, _ = parsed.items
    assert proclamation.summary == ""  # the abstract is null
    assert proclamation.published_at == datetime(2026, 1, 20, tzinfo=UTC)
    assert proclamation.url.startswith("https://www.federalregister.gov/documents/2026/01/20/")
    assert "gallium, germanium and antimony" in listing.summary
    again = parse_federal_register(fixture_bytes("federal_register.json"), source="fr")
    assert [i.id for i in again.items] == [i.id for i in parsed.items]


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(b'{"count": 3, "results": [{"title": "x"', "not JSON", id="truncated"),
    pytest.param(b'{"errors": ["bad"]}', "no 'results' list", id="no-results"),
    pytest.param(b"[1, 2]", "no 'results' list", id="not-an-object"),
    pytest.param(fixture_bytes("fr_request_access.html"), "Request Access", id="interstitial"),
])
def test_federal_register_bad_payloads(body: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message):
        parse_federal_register(body, source="fr")


def test_federal_register_empty_search_is_empty() -> None:
    parsed = parse_federal_register(json.dumps({"count": 0, "results": []}).encode(), source="fr")
    assert parsed.items == ()


def test_federal_register_skips_non_object_results() -> None:
    body = json.dumps({"results": [1, {"title": "Rare earth magnets", "document_number": "X"}]})
    parsed = parse_federal_register(body.encode(), source="fr")
    assert [i.title for i in parsed.items] == ["Rare earth magnets"]
    assert parsed.skipped[0].reason == "result is not an object"


# ----------------------------------------------------------------------------- HTML lists

MOFCOM = "https://www.mofcom.gov.cn/zwgk/zcfb/index.html"


def test_html_list_by_selector_reads_a_gbk_mofcom_page() -> None:
    spec = HtmlListSpec(selector="ul.txtList li", link_pattern="/zwgk/zcfb/")
    parsed = parse_html_list(fixture_bytes("mofcom_list.html"), source="mofcom", spec=spec,
                             base_url=MOFCOM, content_type="text/html")
    titles = [i.title for i in parsed.items]
    # from the title attribute: the link text is cut with "..."
    assert titles[0] == "商务部公告2025年第61号 关于对境外相关稀土物项实施出口管制的决定"
    assert titles[2] == "商务部 海关总署公告2023年第23号 关于对镓、锗相关物项实施出口管制的公告"
    assert len(titles) == 4 and "首页" not in titles
    assert parsed.items[0].url == ("https://www.mofcom.gov.cn/zwgk/zcfb/art/2025/"
                                   "art_949f47563b834dad95b0010f375a892c.html")
    assert [i.published_at.date().isoformat() for i in parsed.items if i.published_at] == [
        "2025-10-09", "2025-02-04", "2023-07-03", "2025-01-15"]
    assert {i.lang for i in parsed.items} == {"zh"}


def test_html_list_link_pattern_filters_navigation() -> None:
    spec = HtmlListSpec(selector="li")
    everything = parse_html_list(fixture_bytes("mofcom_list.html"), source="m", spec=spec,
                                 base_url=MOFCOM)
    assert "首页" in [i.title for i in everything.items]
    spec = HtmlListSpec(selector="li", link_pattern=r"/zcfb/")
    filtered = parse_html_list(fixture_bytes("mofcom_list.html"), source="m", spec=spec,
                               base_url=MOFCOM)
    assert "首页" not in [i.title for i in filtered.items]


def test_html_list_by_regex() -> None:
    spec = HtmlListSpec(regex=r'<a href="(?P<url>[^"]+)"[^>]*>(?P<title>[^<]+)</a>'
                              r"<span>(?P<date>[^<]+)</span>", link_pattern="zcfb")
    parsed = parse_html_list(fixture_bytes("mofcom_list.html"), source="m", spec=spec,
                             base_url=MOFCOM)
    assert len(parsed.items) == 4
    assert parsed.items[0].title.startswith("商务部公告2025年第61号")


def test_html_list_without_matches_says_the_layout_may_have_changed() -> None:
    with pytest.raises(SourceFormatError, match="layout changed"):
        parse_html_list(b"<html><body><p>maintenance</p></body></html>", source="m",
                        spec=HtmlListSpec(selector="ul.txtList li"), base_url=MOFCOM)


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    pytest.param("<meta charset='gbk'>稀土".encode("gbk"), None, "稀土", id="meta-charset"),
    pytest.param("稀土".encode("gbk"), "text/html; charset=GB2312", "稀土", id="header-gb2312"),
    pytest.param("稀土".encode(), None, "稀土", id="utf8-default"),
    pytest.param("稀土".encode("gb18030"), None, "稀土", id="undeclared-gb-fallback"),
])
def test_decode_html(body: bytes, content_type: str | None, expected: str) -> None:
    assert expected in decode_html(body, content_type)


# ----------------------------------------------------------------------------- hostile pages

#: Parsing must stay linear in the page size. When each tag walked the stack of open elements,
#: 2.5 MB of nested lists took 203 s, and stray end tags or distant siblings took hours.
PAGE_BYTES = 1_000_000
#: A hostile page may cost a few times an ordinary page of the same size, not 20 times more.
#: (Timing against an ordinary page measured alongside keeps the bound fair on a loaded machine.)
SLOWDOWN_BOUND = 4.0


def repeat_to(size: int, unit: str, *, head: str = "", tail: str = "") -> bytes:
    """``head``, then ``unit`` (formatted with a counter) until ``size`` bytes, then ``tail``."""
    parts, total, n = [head], len(head.encode()), 0
    while total < size:
        text = unit.format(n=n)
        parts.append(text)
        total += len(text.encode())
        n += 1
    return ("".join(parts) + tail).encode()


def nested_lists_page(size: int = PAGE_BYTES) -> bytes:
    """Lists nested in list items, never closed: every element is deeper than the last."""
    return repeat_to(size, '<ul><li><a href="/zcfb/{n}.html">公告 {n}</a> 2024-01-02',
                     head="<html><body>", tail="</body></html>")


def stray_end_tags_page(size: int = PAGE_BYTES) -> bytes:
    """A deep stack of open divs, then end tags that close nothing."""
    head = repeat_to(size // 2, "<div>", head='<ul><li><a href="/zcfb/1.html">公告</a></li></ul>')
    return head + repeat_to(size // 2, "</span>")


def distant_siblings_page(size: int = PAGE_BYTES) -> bytes:
    """List items far from their list, each searching for an open sibling to close."""
    head = repeat_to(size // 2, "<div>", head="<ul>")
    return head + repeat_to(size // 2, '<li><a href="/zcfb/{n}.html">公告 {n}</a></li>')


def ordinary_page(size: int = PAGE_BYTES) -> bytes:
    """Flat lists of one item each, the same tags as the hostile pages."""
    return repeat_to(size, '<ul><li><a href="/zcfb/{n}.html">公告 {n}</a> 2024-01-02</li></ul>',
                     head="<html><body>", tail="</body></html>")


def parse_seconds(body: bytes) -> float:
    started = time.perf_counter()
    parsed = parse_html_list(body, source="mofcom", spec=HtmlListSpec(selector="ul li"),
                             base_url=MOFCOM)
    elapsed = time.perf_counter() - started
    assert parsed.items and parsed.items[0].title.startswith("公告")
    return elapsed


@pytest.mark.parametrize("page", [
    pytest.param(nested_lists_page, id="nested-lists"),
    pytest.param(stray_end_tags_page, id="stray-end-tags"),
    pytest.param(distant_siblings_page, id="distant-siblings"),
])
def test_a_hostile_listing_page_parses_about_as_fast_as_an_ordinary_one(page) -> None:  # type: ignore[no-untyped-def]
    ordinary = parse_seconds(ordinary_page())
    hostile = parse_seconds(page())
    assert hostile < SLOWDOWN_BOUND * ordinary, f"{hostile:.1f}s vs {ordinary:.1f}s"


def test_nested_list_items_still_match_descendant_selectors() -> None:
    page = (b'<div id="main"><ul class="list"><li><a href="/zcfb/1.html">outer</a>'
            b'<ul><li><a href="/zcfb/2.html">inner</a></li></ul></li></ul></div>'
            b'<ul><li><a href="/zcfb/3.html">elsewhere</a></li></ul>')
    titles = {selector: [i.title for i in parse_html_list(
        page, source="m", spec=HtmlListSpec(selector=selector), base_url=MOFCOM).items]
        for selector in ("li", "#main li", "div ul.list li li", "ul li")}
    assert titles == {"li": ["outer", "inner", "elsewhere"], "#main li": ["outer", "inner"],
                      "div ul.list li li": ["inner"], "ul li": ["outer", "inner", "elsewhere"]}


def test_a_parse_past_its_deadline_stops_with_an_error_naming_the_source() -> None:
    with pytest.raises(SourceFormatError, match=r"^mofcom: parsing the page took longer than"):
        parse_html_list(nested_lists_page(300_000), source="mofcom",
                        spec=HtmlListSpec(selector="ul li"), base_url=MOFCOM, deadline_s=0.0)


def test_a_page_over_the_size_bound_is_read_up_to_it_with_a_warning(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "MAX_PAGE_CHARS", 100_000)
    parsed = parse_html_list(nested_lists_page(300_000), source="mofcom",
                             spec=HtmlListSpec(selector="ul li"), base_url=MOFCOM)
    assert parsed.items and "only the first 100000 characters were read" in (parsed.warning or "")


# ----------------------------------------------------------------------------- encodings


def test_a_few_invalid_bytes_in_a_utf8_feed_are_replaced_not_a_reason_to_guess_cp1252() -> None:
    body = rss(item("镓出口管制", link="https://example.org/1"),
               item("锗出口管制", link="https://example.org/2"))
    body = body.replace("锗出口".encode(), "锗".encode() + b"\xc3" + "出口".encode())
    parsed = parse_feed(body, source="s", content_type="application/rss+xml")
    assert [i.title for i in parsed.items] == ["镓出口管制", "锗\ufffd出口管制"]
    assert parsed.warning == "1 invalid UTF-8 byte sequence replaced"


def test_a_windows_1252_feed_labelled_utf8_is_still_decoded_as_windows_1252() -> None:
    body = rss(item("Café owners: “no tariff relief”", link="https://example.org/1"),
               encoding="cp1252").replace(b'encoding="cp1252"', b'encoding="UTF-8"')
    parsed = parse_feed(body, source="s")
    assert [i.title for i in parsed.items] == ["Café owners: “no tariff relief”"]


# ----------------------------------------------------------------------------- link resolution


def _rss(items: str, channel: str = "") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
            f"{channel}{items}</channel></rss>").encode()


def _atom(entries: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>x</title>{entries}</feed>").encode()


LINK_CASES = {
    "guid not a URL, absolute link": _rss(
        "<item><title>a</title><link>https://a.example.org/1?utm_source=rss</link>"
        "<guid>feed0-1</guid></item>"),
    "relative link and guid": _rss(
        "<item><title>b</title><link>/story/2</link><guid>../3</guid></item>"
        "<item><title>c</title><link>story/4?x=1#top</link></item>"),
    "guid as link, scheme with extra slashes": _rss(
        "<item><title>d</title><guid>https:///d.example.org/5</guid></item>"),
    "isPermaLink false": _rss(
        '<item><title>e</title><link>/6</link><guid isPermaLink="false">g-6</guid></item>'),
    "xml:base": _rss('<item xml:base="https://other.example.org/dir/"><title>f</title>'
                     "<link>7</link><guid>g7</guid></item>"),
    "ampersand in a relative link": _rss(
        "<item><title>g</title><link>/8?a=1&amp;b=2</link><guid>g8</guid></item>"),
    "empty link": _rss("<item><title>h</title><link></link><guid>g9</guid></item>"),
    "javascript link": _rss(
        "<item><title>i</title><link>javascript:alert(1)</link><guid>g10</guid></item>"),
    "atom hrefs": _atom(
        '<entry><title>j</title><id>tag:example.org,2025:11</id>'
        '<link rel="alternate" type="text/html" href="/11"/><link rel="enclosure" href="e.mp3"/>'
        "</entry><entry><title>k</title><id>/12</id>"
        '<link rel="alternate" type="application/pdf" href="doc/12.pdf"/></entry>'),
    "atom empty href": _atom('<entry><title>l</title><id>urn:uuid:13</id><link href=""/></entry>'),
    "rdf:about": (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf'
                  b'-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><channel rdf:about="/c">'
                  b'<title>x</title></channel><item rdf:about="/14"><title>m</title>'
                  b"<link>/14</link></item></rdf:RDF>"),
}


def _read_fields(parsed: object) -> list[tuple[object, ...]]:
    """What ``parse_feed`` reads of each entry."""
    return [(e.get("id"), e.get("link"), e.get("title"), e.get("summary"),
             e.get("published_parsed"), (e.get("source") or {}).get("title"),
             [link.get("href") for link in e.get("links") or ()
              if link.get("rel", "alternate") == "alternate"])
            for e in parsed.entries]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", [*LINK_CASES, *(f"fixture {f}" for f in (
    "rss2_en.xml", "rss2_zh_gbk.xml", "atom_en.xml", "atom_zh.xml", "google_news_en.xml",
    "rdf_en.rdf", "truncated.xml"))])
@pytest.mark.parametrize("base_url", ["https://feed.example.org/news/rss.xml",
                                      "http://www.Feed.example.org:8080/a/b/?q=1"])
def test_links_resolved_after_the_parse_are_those_feedparser_resolves(name: str,
                                                                     base_url: str) -> None:
    """The shortcut (parse without the base, resolve after) gives what feedparser gives with
    the base as ``Content-Location``, for the fields critmon reads."""
    body = LINK_CASES.get(name) or fixture_bytes(name.removeprefix("fixture "))
    fast = parse.feedparser_parse(body, base_url=base_url, content_type="application/xml")
    slow = parse.feedparser_parse(body, base_url=base_url, content_type="application/xml",
                                  fast=False)
    assert _read_fields(fast) == _read_fields(slow)
    assert fast.entries, "every case has entries"


def test_the_shortcut_is_taken_for_plain_feeds_and_refused_where_it_would_differ() -> None:
    base_url = "https://feed.example.org/news/rss.xml"
    taken = {name for name, body in LINK_CASES.items()
             if (base := parse._fast_base(body, base_url)) is not None
             and parse._resolve_entries(parse.feedparser_parse(body, fast=False), base)}
    assert taken == {"guid not a URL, absolute link", "relative link and guid",
                     "guid as link, scheme with extra slashes", "javascript link", "atom hrefs"}


def test_a_summary_with_relative_links_reads_the_same_with_and_without_the_shortcut(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # feedparser makes the links inside a summary's HTML absolute only when given the base;
    # parse_feed keeps the summary's text, so the shortcut changes nothing critmon stores.
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<link>https://a.example.org/</link><item><title>Gallium export ban</title>"
            b"<link>/n/1</link><guid>g1</guid><description>&lt;p&gt;See &lt;a href=\"/x\"&gt;"
            b"the notice&lt;/a&gt; &lt;img src=\"/i.png\"&gt;&lt;/p&gt;</description></item>"
            b"</channel></rss>")
    base_url = "https://feed.example.org/news/rss.xml"
    assert parse._fast_base(body, base_url) is not None, "the shortcut applies to this feed"

    def read() -> object:
        return parse.parse_feed(body, source="wire", base_url=base_url,
                                content_type="application/rss+xml")

    fast = read()
    monkeypatch.setattr(parse, "_fast_base", lambda body, base_url: None)
    assert read() == fast
    assert fast.items[0].url == "https://feed.example.org/n/1"  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- sanitizer off

#: Titles and summaries meant to differ between feedparser's sanitized HTML and the HTML as
#: the feed had it: what the sanitizer drops with its content, what it keeps, what sgmllib and
#: html.parser read differently.
HOSTILE_HTML = [
    "a<script>alert(1)</script>b", "<style>p{color:red}</style>x", "<SCRIPT>u</SCRIPT>U",
    "<iframe src='https://evil.example/'>inner</iframe>y", "<object data=x>obj</object>o",
    "<applet code=x>applet text</applet>z", "<embed src=x>emb", "<script >sp</script >S",
    "a<!-- comment -->b", "a<!-- unclosed", "<![CDATA[cdata text]]>after", "a<!foo>b",
    "<!DOCTYPE html><p>x</p>", "<?php echo 1 ?>pi", "<script/x>a</script>b",
    "<a href='javascript:alert(1)' onclick='evil()'>click</a>", "<img src=x onerror=alert(1)>i",
    "<p onmouseover=\"alert('x')\">hover</p>", "<span style='x:expression(alert(1))'>css</span>",
    "AT&amp;T &lt;b&gt; &copy; &#8212; &#x2014; &#X41;", "&amp;#39;double&amp;#39; &amp;amp;",
    "&lt;script&gt;alert(1)&lt;/script&gt;", "&foo; &bar baz", "&amp", "&ampx", "&#x41", "&#65",
    "&#150; &#146;quote&#147; &#129; a&#0;b &#99999999;", "&AMP; &hellip; &apos;s &NotEqual;",
    "<p>one</p><p>two</p>", "x<br/>y<br>z</br>w", "<p/>q<div/>r", "<noscript>ns</noscript>n",
    "<template>tpl</template>t", "<svg><script>s</script><text>svg</text></svg>",
    "<math><mi>x</mi></math>", "<script>a &amp; b &#65;</script>c", "a < b > c", "<<script>>x",
    "<scr<script>ipt>alert(1)</script>", "</p>stray", "<div>a<div>b</div></div>",
    "<a href=\"x>broken</a>rest", "<a title=\"x>y\">gt in attribute</a>", "<p>&nbsp;nb&nbsp;</p>",
    "<table><tr><td>a</td><td>b</td></tr></table>", "<form><input value=v>form</form>",
    "<base href='http://evil/'>b", "<meta http-equiv=refresh content='0;url=x'>m",
    "<title>t</title>body", "<textarea>ta<b>x</b></textarea>", "<xmp><b>xmp</b></xmp>",
    "<x-custom>custom</x-custom>", "<p class=a id='b' data-x=\"c\" hidden>attrs</p>",
    "text with\r\nnewlines\tand tabs", "\u202eRTL override", "<b>bold</b>&nbsp;<i>it</i>",
    "<a href='/rel?a=1&amp;b=2'>relative link</a>", "<p>A &amp;foo; B</p>", "<style>unclosed",
    "<script>unclosed", "<P>Upper</P><Br>", "<a href=x/>self-closed", "<img/src=x>slash",
]


def _hostile_feeds() -> list[bytes]:
    from xml.sax.saxutils import escape

    content = 'xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    feeds = []
    for n, html_value in enumerate(HOSTILE_HTML):
        text = escape(html_value)
        feeds.append(rss(f"<item><title>{text}</title><link>https://e.org/{n}</link>"
                         f"<description>{text}</description></item>"
                         f"<item><title>c{n}</title><link>https://e.org/c{n}</link>"
                         f"<content:encoded><![CDATA[{html_value}]]></content:encoded></item>"
                         ).replace(b'version="2.0"', f'version="2.0" {content}'.encode()))
        feeds.append(_atom(
            f'<entry><title type="html">{text}</title><link href="/x/{n}"/><id>u{n}</id>'
            f'<summary type="html">{text}</summary></entry>'
            f'<entry><title type="text">{text}</title><link href="/t/{n}"/><id>t{n}</id>'
            f'<content type="html">{text}</content></entry>'))
    return feeds


def _parse_both_ways(body: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """parse_feed as critmon runs it, and with feedparser's defaults (sanitizer and the
    resolution of links in HTML on), for the same body."""
    def read() -> object:
        try:
            return parse.parse_feed(body, source="s", base_url="https://e.org/feed.xml",
                                    content_type="application/xml")
        except SourceFormatError as exc:
            return str(exc)

    ours = read()
    with monkeypatch.context() as patched:
        patched.setattr(parse, "FEEDPARSER_OPTIONS", {})  # feedparser.parse's own defaults
        reference = read()
    return ours, reference


@pytest.mark.parametrize("n", range(len(HOSTILE_HTML) * 2))
def test_hostile_html_reads_as_with_feedparsers_sanitizer(
        n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every hostile title and summary (RSS, content:encoded, Atom html and text) is stored
    with exactly the text feedparser's sanitized parse gave it."""
    body = _hostile_feeds()[n]
    ours, reference = _parse_both_ways(body, monkeypatch)
    assert ours == reference
    assert not isinstance(ours, str) and ours.items  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["rss2_en.xml", "rss2_zh_gbk.xml", "atom_en.xml",
                                  "atom_zh.xml", "google_news_en.xml", "rdf_en.rdf",
                                  "truncated.xml"])
def test_fixture_feeds_read_as_with_feedparsers_sanitizer(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ours, reference = _parse_both_ways(fixture_bytes(name), monkeypatch)
    assert ours == reference


@pytest.mark.parametrize("seed", range(4))
def test_random_markup_reads_as_with_feedparsers_sanitizer(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fragments stitched at random from plain and hostile pieces: whichever way a value goes
    (kept as the feed had it, or through feedparser's sanitizer), the text is the same."""
    import random
    from xml.sax.saxutils import escape

    rng = random.Random(seed)
    pieces = ["<p>", "</p>", "<br/>", "<br>", "</br>", "<b>", "</b>", "<a href='/x?a=1&amp;b=2'>",
              "</a>", "<li>", "<div class=\"x\">", "</div>", "<img src=x>", "<script>", "</script>",
              "<style>", "<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&lt;", "&gt;", "&nbsp;",
              "&#8212;", "&#150;", "&foo;", "&", "<", ">", "'", '"', " ", "word", "镓出口",
              "<applet>", "</applet>", "<template>", "<svg>", "<!x>", "&#x41;", "\r\n"]
    for n in range(60):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        body = rss(f"<item><title>t{n}</title><link>https://e.org/{n}</link>"
                   f"<description>{escape(value)}</description></item>")
        ours, reference = _parse_both_ways(body, monkeypatch)
        assert ours == reference, value


def test_plain_html_skips_the_sanitizer_and_hostile_html_does_not() -> None:
    """The shortcut is real (an ordinary summary is not sanitized again) and narrow."""
    for plain in ("<p>Gallium &amp; germanium</p>", "a<br/>b", "<a href='/x?a=1&amp;b=2'>l</a>",
                  "&#8212; &#x2014; &nbsp;", "<P CLASS=x>Upper</P>", "no markup"):
        assert parse._plain_html(plain), plain
    for hostile in [*HOSTILE_HTML[:15], "&foo;", "</br>", "<svg>x</svg>", "<template>t",
                    "a < b", "<a title='x>y'>t</a>", "&AMP;"]:
        assert not parse._plain_html(hostile), hostile


def test_without_feedparsers_private_sanitizer_hostile_html_still_loses_its_scripts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """feedparser 6.0's sanitizer is private: should a release move it, a hostile value is
    read by html_to_text alone, which still drops what scripts and styles hold."""
    monkeypatch.setitem(sys.modules, "feedparser.sanitizer", None)  # the import fails
    body = rss("<item><title>Gallium curbs</title><link>https://e.org/1</link><description>"
               "&lt;script&gt;alert(1)&lt;/script&gt;&lt;style&gt;p{}&lt;/style&gt;"
               "&lt;!-- x --&gt;China limits &lt;b&gt;gallium&lt;/b&gt; exports"
               "</description></item>")
    [item] = parse.parse_feed(body, source="s", content_type="application/xml").items
    assert item.summary == "China limits gallium exports"


def http_url_before(url: str, base: str) -> str:
    """An item's link as parse_feed read it before the shortcut for absolute URLs."""
    if not url:
        return ""
    joined = urllib.parse.urljoin(base, url.strip())
    return joined if re.match(r"^https?://", joined, re.IGNORECASE) else ""


def _outcome(read: Any, url: str, base: str) -> object:
    try:
        return read(url, base)
    except ValueError as exc:  # urljoin's "Invalid IPv6 URL", both ways alike
        return type(exc)


@pytest.mark.parametrize("base", ["https://feed.example.org/news/rss.xml", "http://b.example/",
                                  "https://a.example", "https://a.example/x/../y//z/feed?q#f",
                                  "https://a.example/x/..", "http://a.example:8080/a/./b/"])
def test_urls_taken_as_they_are_are_those_feedparsers_join_leaves_alone(base: str) -> None:
    """The join's shortcuts (an absolute URL of plain shape is its own join; a plain path
    segment such as a guid replaces the base's last segment) agree with feedparser's
    ``_urljoin`` on URLs stitched at random from the characters that matter to urljoin
    (empty query or fragment, params, dot segments, brackets, case, slashes, spaces)."""
    import random

    from feedparser.urls import _urljoin

    rng = random.Random(17)
    pieces = [*"aZ09.-_~:/?#;&=%@[] \t!~\"'$", "https://", "http://", "HTTPS://", "a.org", "//",
              "..", "feed0-17"]
    absolute = segment = 0
    for _ in range(20_000):
        uri = rng.choice(["https://", "http://", "", "", ""]) + "".join(
            rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert parse._feedparser_urljoin(base, uri) == _urljoin(base, uri), uri
        assert _outcome(parse._http_url, uri, base) == _outcome(http_url_before, uri, base)
        absolute += bool(parse._JOINS_TO_ITSELF.match(uri))
        segment += bool(parse._PLAIN_SEGMENT.match(uri))
    assert absolute > 300 and segment > 300  # the shortcuts were exercised


@pytest.mark.parametrize("seed", range(3))
def test_plain_html_text_without_a_parser_is_the_parsers_text(seed: int) -> None:
    """For the fragments the shortcut accepts, the text read without html.parser is the
    text html.parser gives (tags of every kind, attributes, entities, case, self-closing),
    but for how many spaces stand where one block tag meets another: ``html_to_text``
    collapses them."""
    import random

    rng = random.Random(seed)
    pieces = ["<p>", "</p>", "<br/>", "<br>", "<BR />", "<b>", "</b>", "<P class='x'>", "</P>",
              "<a href=\"/x?a=1&amp;b=2\" title='t'>", "</a>", "<li>", "<div id=d hidden>",
              "</div>", "<img src=x alt=\"\">", "<span>", "</span>", "<h2>", "</h2>", "<td>",
              "&amp;", "&lt;", "&gt;", "&nbsp;", "&#8212;", "&#x41;", "&#150;", "&hellip;",
              "&amp;lt;", ">", "'", '"', " ", "\n", "word", "镓", "<p/>", "<table>", "</table>"]
    plain = 0
    for _ in range(3_000):
        fragment = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 10)))
        if parse._plain_html(fragment):
            plain += 1
            fast, parser = parse._plain_text(fragment), parse._extract_text(fragment)
            assert fast.split() == parser.split(), fragment
            assert (fast[:1].isspace(), fast[-1:].isspace()) == (parser[:1].isspace(),
                                                                 parser[-1:].isspace())
    assert plain > 2_000
