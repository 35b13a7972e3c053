"""Parsing news payloads (feeds, Federal Register JSON, HTML listing pages) into NewsItems.

Every parser is pure and takes the bytes the fetcher returned, already capped in size. Text
leaves here as plain text (HTML stripped, entities decoded, whitespace collapsed) and bounded:
an entry whose title is absurdly long is skipped with a reason, a long summary is cut, and at
most ``MAX_ENTRIES`` entries are read from one payload. A payload that is not what the source
kind expects (an HTML page from a feed URL, JSON that does not parse, a feed with no entries
that is also broken) raises ``SourceFormatError`` so the source is marked failing.
"""

from __future__ import annotations

import calendar
import html
import html.entities
import io
import json
import re
import time
import unicodedata
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any, NamedTuple

import feedparser

from monitor.core.errors import SourceFormatError
from monitor.core.untrusted import clean_text
from monitor.news.items import NewsItem, ParsedFeed, SkippedEntry, detect_lang, item_id

MAX_ENTRIES = 500
MAX_TITLE_CHARS = 1_000
MAX_SUMMARY_CHARS = 2_000
#: Raw HTML beyond this is not even looked at (a summary is cut to MAX_SUMMARY_CHARS anyway).
MAX_RAW_CHARS = 100_000
#: A listing page is read up to this many characters (its newest items come first).
MAX_PAGE_CHARS = 5_000_000
#: A listing page whose parse runs longer than this fails the poll (a linear parse takes about
#: 1 s per MB); a source's poll passes its own ``timeout`` instead.
PARSE_DEADLINE_S = 60.0

_FEED_MARKERS = re.compile(rb"<(rss|feed|rdf:RDF|channel)[\s>]", re.IGNORECASE)
_HTML_MARKERS = re.compile(rb"<(!doctype\s+html|html|head|body)[\s>]", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.{0,200}?)</title>", re.IGNORECASE | re.DOTALL)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]{2,8});")
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?\s*([A-Za-z0-9_-]+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*?encoding=[\"']([A-Za-z0-9._-]+)", re.IGNORECASE)
_UTF_NAMES = frozenset({"utf-8", "utf8"})
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_BLOCK_TAGS = frozenset({"p", "br", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4",
                         "h5", "h6", "ul", "ol", "table", "section", "article", "blockquote"})
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})
_VOID_TAGS = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
                        "meta", "source", "track", "wbr"})

DEFAULT_DATE_PATTERN = (r"(?P<year>(?:19|20)\d\d)\s*[-/.年]\s*(?P<month>\d{1,2})\s*[-/.月]\s*"
                        r"(?P<day>\d{1,2})")


# --------------------------------------------------------------------------- text


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment, a space at block boundaries, no script/style."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skipping:
            self._skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(fragment: str, *, limit: int | None = None) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed,
    no control or bidi characters (``clean_text``: every title and summary passes here).

    Entities are decoded a second time when some survive the first pass: Federal Register RSS
    descriptions are double-escaped (``&amp;#39;``).
    """
    fragment = fragment[:MAX_RAW_CHARS]
    if "<" in fragment or "&" in fragment:
        text = _plain_text(fragment) if _plain_html(fragment) else _extract_text(fragment)
        if _ENTITY.search(text):
            text = html.unescape(text)
    else:
        text = fragment
    text = clean_text(unicodedata.normalize("NFC", text), limit=None)
    return text[:limit].rstrip() if limit is not None else text


def _extract_text(fragment: str) -> str:
    """The text of any HTML fragment, as :class:`_TextExtractor` reads it."""
    extractor = _TextExtractor()
    extractor.feed(fragment)
    extractor.close()
    return "".join(extractor.parts)


_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)[^>]*>")


def _tag_space(match: re.Match[str]) -> str:
    return " " if match.group(1).lower() in _BLOCK_TAGS else ""


def _plain_text(fragment: str) -> str:
    """:func:`_extract_text` of a fragment :func:`_plain_html` accepts (whole tags whose
    attribute values hold no ``<`` or ``>``, no script or style, only complete entities),
    without an HTML parser: a space for a block tag, nothing for another, entities decoded."""
    return html.unescape(_TAG.sub(_tag_space, fragment))


def _http_url(url: str | None, base: str = "") -> str:
    """An absolute http(s) URL, or "" for a missing, relative-without-base or other-scheme one."""
    if not url:
        return ""
    url = url.strip()
    if _JOINS_TO_ITSELF.match(url):  # already absolute: urljoin would give it back
        return url
    absolute = urllib.parse.urljoin(base, url) if base else url
    return absolute if re.match(r"^https?://", absolute, re.IGNORECASE) else ""


# --------------------------------------------------------------------------- guards


def check_not_html(body: bytes, *, source: str, what: str) -> None:
    """Raise SourceFormatError when ``body`` is an HTML page, not a feed or JSON.

    Catches publishers' interstitials (the Federal Register's "Request Access" page) and error
    pages served with status 200.
    """
    head = body[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if _FEED_MARKERS.search(head) or not _HTML_MARKERS.search(head[:1024]):
        return
    match = _HTML_TITLE.search(body[:16384])
    title = html_to_text(match.group(1).decode("utf-8", "replace"), limit=120) if match else ""
    said = f" (page title {title!r})" if title else ""
    raise SourceFormatError(f"{source}: got an HTML page, not {what}{said}", source=source)


class _Entries:
    """Turns raw entries into NewsItems, keeping skip reasons and the entry cap."""

    def __init__(self, source: str, default_lang: str) -> None:
        self.source = source
        self.default_lang = default_lang
        self.items: list[NewsItem] = []
        self.skipped: list[SkippedEntry] = []
        self._ids: set[str] = set()
        self._overflow = False

    def add(self, position: int, *, key: str, url: str, title_html: str, summary_html: str,
            published_at: datetime | None) -> None:
        if len(self.items) >= MAX_ENTRIES:
            if not self._overflow:
                self._overflow = True
                self.skipped.append(SkippedEntry(position, f"more than {MAX_ENTRIES} entries: "
                                                           "the rest are ignored"))
            return
        if len(title_html) > MAX_TITLE_CHARS * 8:
            self.skipped.append(SkippedEntry(position, f"title of {len(title_html)} characters "
                                                       f"(limit {MAX_TITLE_CHARS})"))
            return
        title = html_to_text(title_html)
        if len(title) > MAX_TITLE_CHARS:
            self.skipped.append(SkippedEntry(position, f"title of {len(title)} characters "
                                                       f"(limit {MAX_TITLE_CHARS})"))
            return
        if not title and not url:
            self.skipped.append(SkippedEntry(position, "entry has neither title nor link"))
            return
        summary = html_to_text(summary_html, limit=MAX_SUMMARY_CHARS)
        if summary == title:
            summary = ""
        new_id = item_id(self.source, key[:4096])
        if new_id in self._ids:
            self.skipped.append(SkippedEntry(position, "same id as an earlier entry"))
            return
        self._ids.add(new_id)
        self.items.append(NewsItem(
            id=new_id, source=self.source, url=url, title=title or url, summary=summary,
            published_at=published_at, lang=detect_lang(title or summary, self.default_lang)))

    def result(self, warning: str | None = None) -> ParsedFeed:
        return ParsedFeed(tuple(self.items), tuple(self.skipped), warning)


# --------------------------------------------------------------------------- feeds


def parse_feed(body: bytes, *, source: str, lang: str = "en", base_url: str = "",
               content_type: str | None = None) -> ParsedFeed:
    """Parse RSS 2.0, Atom or RDF bytes with feedparser.

    ``base_url`` (the final URL of the fetch) resolves relative links; ``content_type`` lets
    feedparser honour the charset the server declared. A bozo feed that still has entries is
    accepted with a warning; one without entries raises SourceFormatError. A UTF-8 feed with a
    few invalid bytes is repaired first (see :func:`repair_utf8`).
    """
    check_not_html(body, source=source, what="a feed")
    body, replaced = repair_utf8(body, content_type)
    parsed = feedparser_parse(body, base_url=base_url, content_type=content_type)
    problem = _bozo_reason(parsed)
    if replaced:
        note = f"{replaced} invalid UTF-8 byte sequence{'s' if replaced > 1 else ''} replaced"
        problem = f"{note}; {problem}" if problem else note
    if not parsed.entries:
        if problem or not parsed.get("version"):
            raise SourceFormatError(f"{source}: not a usable feed: {problem or 'no feed found'}",
                                    source=source)
        return ParsedFeed(())
    entries = _Entries(source, lang)
    for position, entry in enumerate(parsed.entries):
        url = _http_url(entry.get("link") or _alternate_link(entry), base_url)
        title = feed_html(entry, "title", parsed)
        published = _struct_to_datetime(entry.get("published_parsed")
                                        or entry.get("updated_parsed"))
        entries.add(position, key=entry.get("id") or url or _fallback_key(entry),
                    url=url, title_html=_strip_publisher(title, entry),
                    summary_html=feed_html(entry, "summary", parsed), published_at=published)
    return entries.result(problem)


#: feedparser's options for critmon's parse: its HTML sanitizer and its resolution of the
#: relative links inside HTML content are off. critmon keeps only the text of a title or a
#: summary (:func:`html_to_text`), never its markup, and these two passes re-parse every HTML
#: value with sgmllib: a quarter of feedparser's time on a corpus of small feeds
#: (bench/bench_news.py). :func:`feed_html` gives the text exactly what the sanitizer left.
#: The links critmon reads (an entry's ``link``, ``id`` and alternate hrefs) are resolved by
#: feedparser whatever ``resolve_relative_uris`` says: it governs links inside HTML only.
FEEDPARSER_OPTIONS: dict[str, bool] = {"sanitize_html": False, "resolve_relative_uris": False}

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
#: Elements the sanitizer keeps whose text both parsers read alike (none that hides its text:
#: no script, style, applet, noscript, template, svg or math; no element without end tag but
#: br, hr, img and col, whose end tag is not accepted below).
_PLAIN_ELEMENTS = ("a|abbr|acronym|address|b|big|blockquote|caption|center|cite|code|"
                   "colgroup|dd|del|dfn|div|dl|dt|em|figcaption|figure|font|h[1-6]|i|ins|"
                   "kbd|li|ol|p|pre|q|s|samp|small|span|strike|strong|sub|sup|table|tbody|"
                   "td|tfoot|th|thead|time|tr|tt|u|ul|var")
_ATTRIBUTE = (r"""\s++[A-Za-z_:][-A-Za-z0-9_:.]*+"""
              r"""(?:\s*+=\s*+(?:"[^"<>]*+"|'[^'<>]*+'|[^\s"'<>=`]++))?+""")
#: HTML that feedparser's sanitizer (and its link resolution before it) would give back with
#: the same text: text without ``<`` or ``&``, entities both parsers know (HTML 4 names,
#: ``&apos;``, numeric references ended by ``;``), start tags of :data:`_PLAIN_ELEMENTS` and
#: of br/hr/img/col with plain attributes, end tags of the former. Possessive throughout:
#: linear time, whatever the input.
_PLAIN_HTML = re.compile(
    rf"(?:[^<&]++|&(?:[A-Za-z][A-Za-z0-9]*+|#[0-9]{{1,7}}+|#[xX][0-9a-fA-F]{{1,6}}+);"
    rf"|<(?:{_PLAIN_ELEMENTS}|br|hr|img|col)(?:{_ATTRIBUTE})*+\s*+/?>"
    rf"|</(?:{_PLAIN_ELEMENTS})\s*+>)*+", re.IGNORECASE)
_ENTITY_NAME = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_KNOWN_ENTITIES = frozenset((*html.entities.name2codepoint, "apos"))


def feed_html(entry: Mapping[str, Any], key: str, parsed: Any) -> str:
    """An entry's ``title`` or ``summary`` as feedparser's default parse gives it.

    With :data:`FEEDPARSER_OPTIONS`, feedparser leaves HTML values as the feed had them.
    Most are plain (:data:`_PLAIN_HTML`): the sanitizer would change their markup, never
    their text, and they are returned as they are. Any other HTML value goes through
    feedparser's own link resolution and sanitizer, as the default parse does: a hostile
    one (scripts, comments, CDATA, broken tags, unknown entities) gets exactly the text it
    got before (tests/news/test_parse.py compares the two over hostile feeds).
    """
    value = entry.get(key) or ""
    if not value or ("<" not in value and "&" not in value) or _plain_html(value):
        return value
    detail = _detail_of(entry, key, value)
    kind = detail.get("type") if detail is not None else "text/html"
    if kind not in _HTML_TYPES:
        return value
    try:  # feedparser's own passes (private in 6.0: checked, so a change costs exactness only)
        from feedparser.sanitizer import _sanitize_html
        from feedparser.urls import resolve_relative_uris
    except ImportError:  # html_to_text still drops scripts and styles; every output escapes
        return value
    encoding = parsed.get("encoding") or "utf-8"
    base = (detail.get("base") if detail is not None else None) or ""
    return str(_sanitize_html(resolve_relative_uris(value, base, encoding, kind), encoding,
                              kind))


@lru_cache(maxsize=4)  # an entry's title and summary are checked by feed_html, then read
def _plain_html(value: str) -> bool:
    if _PLAIN_HTML.fullmatch(value) is None:
        return False
    return "&" not in value or all(name in _KNOWN_ENTITIES
                                   for name in _ENTITY_NAME.findall(value))


def _detail_of(entry: Mapping[str, Any], key: str, value: str) -> Mapping[str, Any] | None:
    """The content parameters (``type``, ``base``) ``value`` was parsed with; None when
    they cannot be told (the value is then taken for HTML: sanitized, as the safe side)."""
    detail = entry.get(f"{key}_detail")
    if detail is not None and detail.get("value") == value:
        return detail
    if key == "summary":  # feedparser copies a content:encoded without description here
        for content in entry.get("content") or ():
            if content.get("value") == value:
                return content
    return None


#: What makes feedparser's URL resolution depend on more than the fetch URL: an ``xml:base``
#: (or ``base``) attribute, a guid's ``isPermaLink``, an RDF ``rdf:about`` id.
_NOT_PLAIN_BASE = re.compile(rb"base\s*=|ispermalink|about\s*=")  # of the lower-cased body
_URI_FIXER = re.compile("^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
#: URLs ``urljoin`` gives back as they are, whatever the http(s) base: lower-case scheme, a
#: host of letters, digits, dots and dashes (an optional port), printable ASCII after it, no
#: ``;`` params or ``#`` fragment in the path, and no empty query (``?`` alone is dropped).
#: A relative reference made of one plain path segment (a guid such as ``feed0-17``): no
#: scheme, slash, dot segment, query, fragment or params. Joined, it replaces the last segment
#: of the base's path, like any other such segment (``_base_directory``).
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*+\Z")
_JOINS_TO_ITSELF = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[!-\x22$-:<->@-~]*)?"
                              r"(?:\?[!-\x22$-~]+)?\Z")


def feedparser_parse(body: bytes, *, base_url: str = "", content_type: str | None = None,
                     fast: bool = True) -> Any:
    """``feedparser.parse`` of ``body`` fetched from ``base_url``, its links resolved against it.

    Given the base (the ``Content-Location`` header), feedparser makes its base URI safe
    again at every start tag: a third more than its whole parse of a small feed without one
    (bench/bench_news.py). Of what critmon reads, resolution only touches an entry's ``id``,
    ``link`` and link ``href``s (the relative links inside a summary's HTML stay relative,
    but :func:`parse_feed` keeps only the summary's text), so when nothing else can move
    the base (no ``xml:base``, no ``isPermaLink``, no ``rdf:about``) the feed is parsed
    without it and those fields are resolved after, exactly as feedparser resolves them
    (``fast``). Anything the shortcut
    cannot reproduce for certain (an empty or ``&``-bearing link, a base that is not plain
    http(s), a body not in an ASCII-compatible encoding) is parsed again the slow way.
    """
    headers = {"content-type": content_type} if content_type else {}
    base = _fast_base(body, base_url) if fast else None
    if base is not None:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers,
                                  **FEEDPARSER_OPTIONS)
        if _resolve_entries(parsed, base):
            return parsed
    if base_url:
        headers["content-location"] = base_url
    return feedparser.parse(io.BytesIO(body), response_headers=headers, **FEEDPARSER_OPTIONS)


def _feedparser_urljoin(base: str, uri: str) -> str:
    """feedparser's own join (``feedparser.urls._urljoin``, 6.0): ``scheme:///x`` repaired.

    An absolute http(s) URL of the plain shape most feeds use comes back unchanged (urljoin
    splits and rebuilds it to the same string), without the cost of either.
    """
    if _JOINS_TO_ITSELF.match(uri):
        return uri
    if _PLAIN_SEGMENT.match(uri) and (directory := _base_directory(base)) is not None:
        return directory + uri
    uri = _URI_FIXER.sub(r"\1\3", uri)
    try:
        return urllib.parse.urljoin(base, uri)
    except ValueError:
        return ""


@lru_cache(maxsize=256)
def _base_directory(base: str) -> str | None:
    """What a plain path segment is appended to when joined to ``base`` (its directory, dot
    segments resolved): ``base`` joined to ``x``, without the ``x``."""
    probe = _feedparser_urljoin(base, "x/")
    return probe[:-2] if probe.endswith("/x/") or probe == "x/" else None


def _fast_base(body: bytes, base_url: str) -> str | None:
    """The base URI feedparser would resolve against, when the shortcut is exact; else None."""
    if not base_url or not re.match(r"^https?://", base_url, re.IGNORECASE):
        return None
    if body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] != b"<" or b"\x00" in body:
        return None  # UTF-16/32 or EBCDIC: the attribute check below would not see them
    if _NOT_PLAIN_BASE.search(body.lower()):  # a case-blind regex is five times slower
        return None
    base = _feedparser_urljoin(base_url, base_url)  # feedparser's root element does this
    if not re.match(r"^https?://", base, re.IGNORECASE) or _feedparser_urljoin(base,
                                                                               base) != base:
        return None
    return base


def _resolve_entries(parsed: Any, base: str) -> bool:
    """Resolve each entry's id, link and alternate link hrefs against ``base`` as feedparser
    would have; False (nothing changed) when one of them is a case it resolves differently."""
    resolved: list[tuple[Any, str, str]] = []
    joined: dict[str, str] = {}  # an entry's link is usually also its alternate href

    def join(value: str) -> str:
        if value not in joined:
            joined[value] = _feedparser_urljoin(base, value)
        return joined[value]

    for entry in parsed.entries:
        # Only alternate links are read (``_alternate_link``); an enclosure's is never resolved
        for holder, key in ((entry, "link"), *((link, "href") for link in entry.get("links") or ()
                                               if link.get("rel", "alternate") == "alternate")):
            value = holder.get(key)
            if value is None:
                continue
            if not value or "&" in value:  # an empty href or an entity-repaired link
                return False
            resolved.append((holder, key, join(value)))
        if entry.get("id"):
            resolved.append((entry, "id", join(entry["id"])))
    for holder, key, value in resolved:
        holder[key] = value
    return True


def repair_utf8(body: bytes, content_type: str | None = None) -> tuple[bytes, int]:
    """``body`` with its invalid UTF-8 sequences replaced by U+FFFD, and how many there were.

    feedparser decodes a feed that fails strict UTF-8 with the next candidate (windows-1252,
    iso-8859-2), so one bad byte turns every Chinese title into mojibake. When the feed is
    UTF-8 by declaration (header and XML declaration, or neither) and most of its non-ASCII
    text does decode as UTF-8, only the bad bytes are replaced. A feed whose non-ASCII bytes
    are mostly invalid is probably mislabelled windows-1252 and is left to feedparser.
    """
    if body.startswith(_UTF16_32_BOMS) or not _declared_utf8(body, content_type):
        return body, 0
    try:
        body.decode("utf-8")
        return body, 0
    except UnicodeDecodeError:
        pass
    text = body.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - body.count("\ufffd".encode())
    valid = len(text) - len(text.encode("ascii", errors="ignore")) - invalid
    if invalid > valid:
        return body, 0
    return text.encode("utf-8"), invalid


def _declared_utf8(body: bytes, content_type: str | None) -> bool:
    """Whether every encoding the header and the XML declaration name is UTF-8 (or none is)."""
    declared = []
    if content_type and "charset=" in content_type.lower():
        declared.append(content_type.lower().split("charset=")[-1].split(";")[0].strip(" \"'"))
    match = _XML_ENCODING.search(body[:512].removeprefix(b"\xef\xbb\xbf"))
    if match:
        declared.append(match.group(1).decode("ascii").lower())
    return all(name in _UTF_NAMES for name in declared)


def _bozo_reason(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}"[:300] if exc is not None else "malformed feed"


def _alternate_link(entry: Mapping[str, Any]) -> str:
    for link in entry.get("links") or ():
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return str(link["href"])
    return ""


def _fallback_key(entry: Mapping[str, Any]) -> str:
    """The key of an entry without guid or link: its title and date (stable across polls)."""
    return f"{entry.get('title') or ''}|{entry.get('published') or entry.get('updated') or ''}"


def _strip_publisher(title: str, entry: Mapping[str, Any]) -> str:
    """Drop the " - Reuters" suffix Google News appends when the entry names its source."""
    publisher = (entry.get("source") or {}).get("title")
    suffix = f" - {publisher}" if publisher else ""
    return title[: -len(suffix)] if suffix and title.endswith(suffix) else title


def _struct_to_datetime(value: Any) -> datetime | None:
    """feedparser's parsed dates are UTC ``time.struct_time``s."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, TypeError, OSError):
        return None


# --------------------------------------------------------------------------- Federal Register


def parse_federal_register(body: bytes, *, source: str, lang: str = "en") -> ParsedFeed:
    """Parse a Federal Register ``documents.json`` search result.

    Shape: ``{"count", "results": [{"document_number", "title", "abstract",
    "publication_date", "html_url", "type", "agencies": [{"name"}...]}]}``.
    """
    check_not_html(body, source=source, what="Federal Register JSON")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceFormatError(f"{source}: not JSON (truncated?): {exc}", source=source) from exc
    results = data.get("results", []) if isinstance(data, dict) else None
    if not isinstance(results, list) or (not results and not _empty_search(data)):
        raise SourceFormatError(f"{source}: no 'results' list in the Federal Register answer",
                                source=source)
    entries = _Entries(source, lang)
    for position, doc in enumerate(results):
        if not isinstance(doc, dict):
            entries.skipped.append(SkippedEntry(position, "result is not an object"))
            continue
        url = _http_url(_text(doc.get("html_url")))
        number = _text(doc.get("document_number"))
        entries.add(position, key=number or url or _text(doc.get("title")), url=url,
                    title_html=html.escape(_text(doc.get("title"))),
                    summary_html=html.escape(_text(doc.get("abstract"))),
                    published_at=_iso_date(_text(doc.get("publication_date"))))
    return entries.result()


def _empty_search(data: dict[str, Any]) -> bool:
    return data.get("count") == 0 or "results" in data


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _iso_date(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value[:10]).replace(tzinfo=UTC)
    except ValueError:
        return None


# --------------------------------------------------------------------------- HTML listing pages


@dataclass(frozen=True, slots=True)
class HtmlListSpec:
    """How to find items on a listing page (see ``HtmlListSource`` in the config)."""

    selector: str | None = None
    regex: str | None = None
    link_pattern: str | None = None
    date_pattern: str | None = None


def parse_html_list(body: bytes, *, source: str, spec: HtmlListSpec, base_url: str,
                    lang: str = "zh", content_type: str | None = None,
                    deadline_s: float = PARSE_DEADLINE_S) -> ParsedFeed:
    """Extract (link, title, date) items from a plain HTML listing page such as MOFCOM's.

    Linear in the page size, which is bounded (``MAX_PAGE_CHARS``: the rest is not read, with
    a warning); a parse still running after ``deadline_s`` raises SourceFormatError.
    """
    deadline = Deadline(source, deadline_s)
    page = decode_html(body, content_type)
    warning = None
    if len(page) > MAX_PAGE_CHARS:
        warning = (f"page of {len(page)} characters: only the first {MAX_PAGE_CHARS} characters "
                   "were read")
        page = page[:MAX_PAGE_CHARS]
    date_re = re.compile(spec.date_pattern or DEFAULT_DATE_PATTERN)
    link_re = re.compile(spec.link_pattern) if spec.link_pattern else None
    raw = (_regex_items(page, spec.regex, base_url, deadline) if spec.regex
           else _selector_items(page, spec.selector or "li", base_url, deadline))
    entries = _Entries(source, lang)
    position = -1
    for position, (url, title, date_text) in enumerate(raw):
        if not url or (link_re and not link_re.search(url)):
            continue
        entries.add(position, key=url, url=url, title_html=title, summary_html="",
                    published_at=_find_date(date_re, date_text))
        if position > MAX_ENTRIES * 20:  # a page of thousands of unrelated links
            break
    if not entries.items and not entries.skipped:
        raise SourceFormatError(f"{source}: no items found on the page (checked {position + 1} "
                                "candidates); has its layout changed?", source=source)
    return entries.result(warning)


class Deadline:
    """A time budget for parsing one payload; :meth:`check` raises once it is spent."""

    def __init__(self, source: str, seconds: float) -> None:
        self.source = source
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def check(self, done: int, total: int) -> None:
        """Raise SourceFormatError naming the source when the budget is spent."""
        if time.monotonic() >= self._at:
            raise SourceFormatError(
                f"{self.source}: parsing the page took longer than {self.seconds:g}s (stopped "
                f"after {done} of {total} characters); is it really a listing page?",
                source=self.source)


def decode_html(body: bytes, content_type: str | None = None) -> str:
    """Decode a page: header charset, then ``<meta charset>``, then UTF-8, then GB18030."""
    declared = None
    if content_type and "charset=" in content_type.lower():
        declared = content_type.lower().split("charset=")[-1].split(";")[0].strip(" \"'")
    if not declared:
        match = _META_CHARSET.search(body[:4096])
        declared = match.group(1).decode("ascii").lower() if match else None
    if declared in ("gb2312", "gbk", "x-gbk", "gb_2312-80"):
        declared = "gb18030"  # a superset; pages labelled GB2312 often use GBK characters
    for encoding in filter(None, (declared, "utf-8")):
        try:
            return body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("gb18030", errors="replace")


def _find_date(date_re: re.Pattern[str], text: str) -> datetime | None:
    match = date_re.search(text)
    if not match:
        return None
    groups = match.groupdict()
    try:
        year, month, day = ((int(groups["year"]), int(groups["month"]), int(groups["day"]))
                            if {"year", "month", "day"} <= groups.keys()
                            else tuple(int(g) for g in match.groups()[:3]))
        return datetime(year, month, day, tzinfo=UTC)
    except (ValueError, TypeError):
        return None


def _regex_items(page: str, pattern: str, base_url: str,
                 deadline: Deadline) -> Iterator[tuple[str, str, str]]:
    for match in re.finditer(pattern, page, re.DOTALL):
        deadline.check(match.end(), len(page))
        groups = match.groupdict()
        yield (_http_url(html.unescape(groups.get("url") or ""), base_url),
               groups.get("title") or "", groups.get("date") or match.group(0))


@dataclass(frozen=True, slots=True)
class _Step:
    tag: str | None
    classes: frozenset[str]
    id: str | None

    def matches(self, tag: str, classes: frozenset[str], element_id: str | None) -> bool:
        return ((self.tag is None or self.tag == tag) and self.classes <= classes
                and (self.id is None or self.id == element_id))


def parse_selector(selector: str) -> tuple[_Step, ...]:
    """Parse ``"ul.list li"``-style selectors: tag, ``.class``, ``#id``, descendant steps."""
    steps = []
    for token in selector.split():
        tag_match = re.match(r"^[A-Za-z][A-Za-z0-9]*", token)
        tag = tag_match.group(0).lower() if tag_match else None
        classes = frozenset(re.findall(r"\.([A-Za-z0-9_-]+)", token))
        ids = re.findall(r"#([A-Za-z0-9_-]+)", token)
        steps.append(_Step(tag, classes, ids[0] if ids else None))
    return tuple(steps)


class _Open(NamedTuple):
    """An open element: its tag, and how many ancestor steps of the selector the path to it
    (itself included) has matched."""

    tag: str
    matched: int


class _SelectorCollector(HTMLParser):
    """Collects, for every element matching a selector, its first link, link text and text.

    Linear in the page: every tag does O(1) work however deep the page nests. Each open element
    carries how far the selector's ancestor steps are matched along its path (greedy matching
    from the root finds a descendant chain whenever there is one), and the depths at which each
    tag is open are indexed, so an end tag or an ``<li>`` finds what it closes without walking
    the stack.
    """

    def __init__(self, steps: tuple[_Step, ...], deadline: Deadline, total: int) -> None:
        super().__init__(convert_charrefs=True)
        self.steps = steps
        self.stack: list[_Open] = []
        self.items: list[dict[str, Any]] = []
        self._open_at: dict[str, list[int]] = {}  # tag -> depths where it is open, ascending
        self._open: list[tuple[int, dict[str, Any]]] = []  # (stack depth, item being built)
        self._in_link: dict[str, Any] | None = None
        self._deadline = deadline
        self._total = total
        self._done = 0

    def feed_all(self, page: str, chunk: int = 65_536) -> None:
        """Feed ``page`` in chunks, checking the deadline between them and at every tag."""
        for start in range(0, len(page), chunk):
            self._done = start
            self._deadline.check(start, self._total)
            self.feed(page[start:start + chunk])
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._deadline.check(self._done, self._total)
        if tag in _VOID_TAGS:
            return
        values = {k: v or "" for k, v in attrs}
        if tag == "li":  # an <li> closes an open sibling <li> (HTML's optional end tags)
            self._close_open_li()
        classes = frozenset(values.get("class", "").split())
        element = (tag, classes, values.get("id") or None)
        ancestors = len(self.steps) - 1
        matched = self.stack[-1].matched if self.stack else 0
        selected = matched == ancestors and self.steps[-1].matches(*element)
        if matched < ancestors and self.steps[matched].matches(*element):
            matched += 1
        self._open_at.setdefault(tag, []).append(len(self.stack))
        self.stack.append(_Open(tag, matched))
        if selected and len(self.items) < MAX_ENTRIES * 20:
            item: dict[str, Any] = {"links": [], "text": []}
            self._open.append((len(self.stack), item))
            self.items.append(item)
        if tag == "a" and self._open and values.get("href"):
            link = {"href": values["href"], "title": values.get("title", ""), "text": []}
            self._open[-1][1]["links"].append(link)
            self._in_link = link

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_link = None
        depths = self._open_at.get(tag)
        if depths:
            self._pop_to(depths[-1])

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][1]["text"].append(data)
        if self._in_link is not None:
            self._in_link["text"].append(data)

    def _close_open_li(self) -> None:
        """Close the innermost open ``<li>`` unless a list opened inside it since."""
        li = self._innermost("li")
        if li > max(self._innermost("ul"), self._innermost("ol")):
            self._pop_to(li)

    def _innermost(self, tag: str) -> int:
        depths = self._open_at.get(tag)
        return depths[-1] if depths else -1

    def _pop_to(self, depth: int) -> None:
        """Close the element at ``depth`` and everything opened inside it."""
        for element in reversed(self.stack[depth:]):
            self._open_at[element.tag].pop()
        del self.stack[depth:]
        while self._open and self._open[-1][0] > depth:
            self._open.pop()


def _selector_items(page: str, selector: str, base_url: str,
                    deadline: Deadline) -> Iterable[tuple[str, str, str]]:
    collector = _SelectorCollector(parse_selector(selector), deadline, len(page))
    collector.feed_all(page)
    base = _base_href(page) or base_url
    for item in collector.items:
        for link in item["links"]:
            url = _http_url(html.unescape(link["href"]), base)
            title = link["title"].strip() or "".join(link["text"])
            if url and title.strip():
                yield url, html.escape(title), " ".join(item["text"])
                break


def _base_href(page: str) -> str:
    match = re.search(r"<base\s[^>]*href=[\"']([^\"']+)", page[:20000], re.IGNORECASE)
    return match.group(1) if match else ""
