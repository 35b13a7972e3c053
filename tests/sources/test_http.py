"""HttpFetcher against real servers on 127.0.0.1: what each server behaviour becomes."""

from __future__ import annotations

import gzip
import os
import socket
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.core.errors import SourceError, SourceFormatError, SourceUnavailableError
from monitor.sources.http import (
    DEFAULT_USER_AGENT,
    HttpFetcher,
    discover_link,
    parse_retry_after,
    redact_url,
)
from tests.sources.raw_server import drip_server


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would route 127.0.0.1 elsewhere."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(total_timeout_s=10.0) as f:
        yield f


def not_retryable(exc: SourceError) -> bool:
    return not isinstance(exc, SourceUnavailableError) and not exc.retryable


# --- success and conditional GET -------------------------------------------------------------


def test_fetch_returns_body_and_validators(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/data.csv").respond_with_data(
        "DATE,X\n2020-01-01,1\n", content_type="text/csv",
        headers={"ETag": '"v1"', "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT"},
    )

    result = fetcher.fetch(httpserver.url_for("/data.csv"), source="fred")

    assert result.status == 200
    assert result.body == b"DATE,X\n2020-01-01,1\n"
    assert not result.not_modified
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert result.content_type.startswith("text/csv")
    assert result.url == httpserver.url_for("/data.csv")


def test_fetch_names_critmon_in_user_agent(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data("ok")

    fetcher.fetch(httpserver.url_for("/"))

    request, _ = httpserver.log[0]
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert DEFAULT_USER_AGENT.startswith("critmon/")


def _conditional_handler(request: Request) -> Response:
    """A server that honours If-None-Match and If-Modified-Since like a real one."""
    etag, modified = '"rev-7"', "Tue, 02 Dec 2025 10:00:00 GMT"
    if request.headers.get("If-None-Match") == etag or (
        request.headers.get("If-Modified-Since") == modified
    ):
        return Response(status=304, headers={"ETag": etag})
    return Response("a,b\n1,2\n", headers={"ETag": etag, "Last-Modified": modified})


def test_second_fetch_sends_validators_and_gets_not_modified(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/feed").respond_with_handler(_conditional_handler)
    url = httpserver.url_for("/feed")

    first = fetcher.fetch(url)
    second = fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)

    assert first.body == b"a,b\n1,2\n" and not first.not_modified
    assert second.not_modified
    assert second.status == 304
    assert second.body == b""
    assert second.etag == '"rev-7"'
    assert second.last_modified == first.last_modified  # kept from the request
    sent = httpserver.log[1][0].headers
    assert sent["If-None-Match"] == '"rev-7"'
    assert sent["If-Modified-Since"] == "Tue, 02 Dec 2025 10:00:00 GMT"


def test_first_fetch_sends_no_validators(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/feed").respond_with_handler(_conditional_handler)

    fetcher.fetch(httpserver.url_for("/feed"))

    sent = httpserver.log[0][0].headers
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


def test_redirect_is_followed_and_final_url_reported(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": "/new"}
    )
    httpserver.expect_request("/new").respond_with_data("moved here")

    result = fetcher.fetch(httpserver.url_for("/old"))

    assert result.body == b"moved here"
    assert result.url == httpserver.url_for("/new")


def test_gzip_body_is_decoded(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/z").respond_with_data(
        gzip.compress(b"x" * 1000), headers={"Content-Encoding": "gzip"}
    )

    assert fetcher.fetch(httpserver.url_for("/z")).body == b"x" * 1000


def test_deflate_body_is_decoded(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/d").respond_with_data(
        zlib.compress(b"y" * 500), headers={"Content-Encoding": "deflate"}
    )

    assert fetcher.fetch(httpserver.url_for("/d")).body == b"y" * 500


# --- status mapping --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_retryable(
    httpserver: HTTPServer, fetcher: HttpFetcher, status: int
) -> None:
    httpserver.expect_request("/").respond_with_data("oops", status=status)

    with pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(httpserver.url_for("/"), source="wb")

    assert info.value.status == status
    assert info.value.retryable
    assert info.value.source == "wb"
    assert info.value.url == httpserver.url_for("/")
    assert f"HTTP {status}" in str(info.value)


def test_429_carries_retry_after_seconds(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )

    with pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(httpserver.url_for("/"), source="fred")

    assert info.value.status == 429
    assert info.value.retry_after_s == 7.0


def test_503_carries_retry_after_http_date(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data(
        "maintenance", status=503, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"}
    )

    with pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(httpserver.url_for("/"))

    assert info.value.retry_after_s is not None and info.value.retry_after_s > 3600


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("120", 120.0, id="seconds"),
        pytest.param("Wed, 21 Oct 2015 07:28:30 GMT", 30.0, id="http-date"),
        pytest.param("Wed, 21 Oct 2015 07:27:00 GMT", 0.0, id="date-in-the-past-is-zero"),
        pytest.param("soon", None, id="garbage-ignored"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize("status", [404, 403, 410])
def test_client_errors_are_not_retryable(
    httpserver: HTTPServer, fetcher: HttpFetcher, status: int
) -> None:
    httpserver.expect_request("/gone").respond_with_data("no", status=status)

    with pytest.raises(SourceError) as info:
        fetcher.fetch(httpserver.url_for("/gone"), source="usgs")

    assert not_retryable(info.value)
    assert f"HTTP {status}" in str(info.value)
    assert info.value.source == "usgs"


# --- bodies ----------------------------------------------------------------------------------


def test_empty_body_is_a_format_error(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data(b"")

    with pytest.raises(SourceFormatError, match="empty body"):
        fetcher.fetch(httpserver.url_for("/"))


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_body_over_the_cap_is_a_format_error(
    httpserver: HTTPServer, fetcher: HttpFetcher, declared: bool
) -> None:
    body = b"z" * 5000
    response = Response(body) if declared else Response(iter([body[:2500], body[2500:]]))
    httpserver.expect_request("/big").respond_with_response(response)

    with pytest.raises(SourceFormatError, match="body exceeds 1000 bytes"):
        fetcher.fetch(httpserver.url_for("/big"), max_bytes=1000)


def test_body_at_the_cap_is_accepted(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data(b"z" * 1000)

    assert len(fetcher.fetch(httpserver.url_for("/"), max_bytes=1000).body) == 1000


def test_gzip_bomb_stops_at_the_cap_with_bounded_memory(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 kB on the wire, 50 MB inflated
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    cap = 1_000_000

    tracemalloc.start()
    try:
        with pytest.raises(SourceFormatError, match=f"body exceeds {cap} bytes"):
            fetcher.fetch(httpserver.url_for("/bomb"), max_bytes=cap)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Inflating one 48 kB network read at once would allocate ~48 MB. tracemalloc also counts
    # other threads (the local server, leftovers of earlier tests: ~11 MB seen), hence the margin.
    assert peak < 20 * cap


def test_corrupt_gzip_is_a_format_error(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data(
        gzip.compress(b"a" * 100)[:-12], headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(SourceFormatError, match="cannot decode gzip"):
        fetcher.fetch(httpserver.url_for("/"))


# --- redirects -------------------------------------------------------------------------------


def test_redirect_loop_is_a_permanent_error(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})

    with pytest.raises(SourceError, match="redirect loop") as info:
        fetcher.fetch(httpserver.url_for("/a"), source="wb")

    assert not_retryable(info.value)


def test_too_many_redirects(httpserver: HTTPServer) -> None:
    for hop in range(5):
        httpserver.expect_request(f"/r{hop}").respond_with_data(
            "", status=307, headers={"Location": f"/r{hop + 1}"}
        )
    httpserver.expect_request("/r5").respond_with_data("finally")

    with HttpFetcher(max_redirects=4) as strict, HttpFetcher(max_redirects=5) as lenient:
        with pytest.raises(SourceError, match="too many redirects"):
            strict.fetch(httpserver.url_for("/r0"))
        assert lenient.fetch(httpserver.url_for("/r0")).body == b"finally"


# --- network failures and the total deadline ------------------------------------------------


def test_connection_refused_is_retryable(fetcher: HttpFetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The port is closed now: nothing listens there.

    with pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(f"http://127.0.0.1:{port}/", source="fred")

    assert info.value.status is None
    assert isinstance(info.value.__cause__, Exception)


def test_tls_failure_is_retryable(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/").respond_with_data("plain http")
    # Speaking TLS to a plain-HTTP port fails the handshake, as a broken certificate chain would.
    url = httpserver.url_for("/").replace("http://", "https://")

    with pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(url, source="wb")

    assert info.value.status is None
    assert "ConnectError" in str(info.value)




HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 200\r\n\r\n"


@pytest.mark.parametrize(
    ("head", "drip"),
    [
        pytest.param(HEADERS, b"x" * 200, id="body-drip"),
        pytest.param(b"", HEADERS + b"x" * 200, id="header-drip"),
    ],
)
def test_slow_drip_hits_the_total_timeout(head: bytes, drip: bytes) -> None:
    with (
        drip_server(head, drip, every_s=0.2) as url,
        HttpFetcher(read_timeout_s=5.0, total_timeout_s=1.0) as fetcher,
    ):
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match="total timeout after 1s"):
            fetcher.fetch(url, source="slow")
        elapsed = time.monotonic() - started

    # The drip would take 40 s; the total timeout ends it after 1 s (plus a loaded machine).
    assert 0.9 < elapsed < 20.0


def test_per_call_timeout_overrides_the_default() -> None:
    with (
        drip_server(HEADERS, b"x" * 200, every_s=0.2) as url,
        HttpFetcher(total_timeout_s=60.0) as fetcher,
    ):
        started = time.monotonic()
        with pytest.raises(SourceUnavailableError, match="total timeout"):
            fetcher.fetch(url, timeout_s=0.5)

    # 0.5 s, not the default 60 s (nor the drip's 40 s), with room for a loaded machine.
    assert 0.4 < time.monotonic() - started < 20.0


# --- file:// ---------------------------------------------------------------------------------


def test_file_url_reads_the_file_with_mtime_validators(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b"date,X\n2020-01-01,1\n")
    os.utime(path, (1_700_000_000, 1_700_000_000))

    with HttpFetcher() as fetcher:
        result = fetcher.fetch(path.as_uri())

    assert result.status == 200
    assert result.body == b"date,X\n2020-01-01,1\n"
    assert result.last_modified == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert result.etag
    assert result.content_type == "text/csv"


def test_file_url_is_not_modified_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_bytes(b"v1")
    os.utime(path, (1_700_000_000, 1_700_000_000))

    with HttpFetcher() as fetcher:
        first = fetcher.fetch(path.as_uri())
        by_date = fetcher.fetch(path.as_uri(), last_modified=first.last_modified)
        by_etag = fetcher.fetch(path.as_uri(), etag=first.etag)
        path.write_bytes(b"v2")
        os.utime(path, (1_700_000_060, 1_700_000_060))
        changed = fetcher.fetch(path.as_uri(), etag=first.etag, last_modified=first.last_modified)

    assert by_date.not_modified and by_date.body == b""
    assert by_etag.not_modified
    assert not changed.not_modified
    assert changed.body == b"v2"


def test_missing_file_is_unavailable(tmp_path: Path) -> None:
    with HttpFetcher() as fetcher, pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch((tmp_path / "absent.csv").as_uri(), source="drop")

    assert info.value.source == "drop"
    assert isinstance(info.value.__cause__, FileNotFoundError)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty body"), (b"x" * 101, "body exceeds 100 bytes")],
    ids=["empty", "over-cap"],
)
def test_file_body_checks(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(content)

    with HttpFetcher(max_bytes=100) as fetcher, pytest.raises(SourceFormatError, match=message):
        fetcher.fetch(path.as_uri())


def test_unsupported_scheme_is_a_permanent_error(fetcher: HttpFetcher) -> None:
    with pytest.raises(SourceError, match="unsupported URL scheme") as info:
        fetcher.fetch("ftp://example.org/prices.csv")

    assert not_retryable(info.value)


# --- secrets never reach messages ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://api.stlouisfed.org/fred/series/observations?series_id=PCOPPUSDM&api_key=abc123",
            "https://api.stlouisfed.org/fred/series/observations?series_id=PCOPPUSDM&api_key=REDACTED",
            id="api-key",
        ),
        pytest.param("https://bob:hunter2@example.org/x.csv", "https://REDACTED@example.org/x.csv",
                     id="userinfo"),
        pytest.param("https://h/p?token=t&password=p&Secret=s&id=1",
                     "https://h/p?token=REDACTED&password=REDACTED&Secret=REDACTED&id=1",
                     id="several"),
        pytest.param("https://h/p?access_token=t#frag", "https://h/p?access_token=REDACTED#frag",
                     id="compound-name"),
        pytest.param("https://fred.stlouisfed.org/graph/fredgraph.csv?id=PNICKUSDM",
                     "https://fred.stlouisfed.org/graph/fredgraph.csv?id=PNICKUSDM",
                     id="nothing-secret-unchanged"),
        pytest.param("file:///srv/data/prices.csv", "file:///srv/data/prices.csv", id="file"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_errors_never_show_credentials(httpserver: HTTPServer, fetcher: HttpFetcher) -> None:
    httpserver.expect_request("/x").respond_with_data("no", status=500)
    host = f"127.0.0.1:{httpserver.port}"

    with pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(f"http://me:hunter2@{host}/x?api_key=SEKRIT&id=1", source="fred")

    shown = f"{info.value} {info.value.url}"
    assert "hunter2" not in shown and "SEKRIT" not in shown
    assert "id=1" in shown


# --- discover_link ---------------------------------------------------------------------------

PINK_SHEET_PAGE = b"""<!DOCTYPE html><html><head><title>Commodity Markets</title></head><body>
<a href="/en/research/commodity-markets#1">Overview</a>
<a href="https://thedocs.worldbank.org/en/doc/18675f1d1639c7a34d463f59263ba0a2-0050012025/related/CMO-Historical-Data-Annual.xlsx">Annual prices</a>
<a class="btn" href="https://thedocs.worldbank.org/en/doc/74e8be41ceb20fa0da750cda2f6b9e4e-0050012026/related/CMO-Historical-Data-Monthly.xlsx">Monthly prices</a>
<a href="https://thedocs.worldbank.org/en/doc/74e8be41ceb20fa0da750cda2f6b9e4e-0050012026/related/CMO-Pink-Sheet-December-2025.pdf">Pink Sheet</a>
</body></html>"""


def test_discover_link_finds_the_current_pink_sheet() -> None:
    link = discover_link(
        PINK_SHEET_PAGE,
        pattern=r"CMO-Historical-Data-Monthly\.xlsx$",
        base_url="https://www.worldbank.org/en/research/commodity-markets",
    )

    assert link == ("https://thedocs.worldbank.org/en/doc/74e8be41ceb20fa0da750cda2f6b9e4e-"
                    "0050012026/related/CMO-Historical-Data-Monthly.xlsx")


def test_discover_link_resolves_relative_links_and_entities() -> None:
    page = b'<p><a href="../files/data.csv?id=1&amp;v=2">csv</a></p>'

    link = discover_link(page, pattern=r"data\.csv", base_url="https://example.org/a/b/page.html")

    assert link == "https://example.org/a/files/data.csv?id=1&v=2"


def test_discover_link_honours_base_href() -> None:
    page = b'<head><base href="https://cdn.example.org/r/"></head><a href="x.xlsx">x</a>'

    assert discover_link(page, pattern=r"\.xlsx$", base_url="https://example.org/") == (
        "https://cdn.example.org/r/x.xlsx"
    )


def test_discover_link_without_a_match_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError, match="no link matching") as info:
        discover_link(PINK_SHEET_PAGE, pattern=r"Monthly\.csv$", source="pinksheet",
                      base_url="https://www.worldbank.org/en/research/commodity-markets")

    assert info.value.source == "pinksheet"
    assert "pinksheet" in str(info.value)


def test_discover_link_takes_only_http_links() -> None:
    page = (b'<a href="file:///etc/critmon/credentials/slack_token#CMO-Historical-Data-Monthly.xlsx">'
            b'x</a><a href="ftp://example.org/CMO-Historical-Data-Monthly.xlsx">y</a>'
            b'<a href="https://example.org/CMO-Historical-Data-Monthly.xlsx">z</a>')

    link = discover_link(page, pattern=r"CMO-Historical-Data-Monthly\.xlsx$",
                         base_url="https://www.worldbank.org/en/research/commodity-markets")

    assert link == "https://example.org/CMO-Historical-Data-Monthly.xlsx"


@pytest.mark.parametrize(
    "page",
    [
        pytest.param(b'<a href="file:///etc/passwd#Monthly.xlsx">x</a>', id="file-link"),
        pytest.param(b'<base href="file:///etc/"><a href="passwd#Monthly.xlsx">x</a>',
                     id="file-base-href"),
        pytest.param(b'<a href="javascript:alert(1)//Monthly.xlsx">x</a>', id="javascript"),
    ],
)
def test_discover_link_never_returns_a_non_http_link(page: bytes) -> None:
    with pytest.raises(SourceFormatError, match="no link matching"):
        discover_link(page, pattern=r"Monthly\.xlsx$", base_url="https://example.org/")


# --- where a fetch may go: schemes and internal addresses -----------------------------------


def test_a_redirect_to_a_file_url_is_refused(
    httpserver: HTTPServer, fetcher: HttpFetcher, tmp_path: Path
) -> None:
    secret = tmp_path / "slack_token"
    secret.write_text("xoxb-0000-SECRET-TOKEN\n", encoding="utf-8")
    httpserver.expect_request("/data.csv").respond_with_data(
        "", status=302, headers={"Location": secret.as_uri()})

    with pytest.raises(SourceError, match="redirect to a file: URL refused") as info:
        fetcher.fetch(httpserver.url_for("/data.csv"), source="wb")

    assert not_retryable(info.value)
    assert "SECRET" not in str(info.value)


@pytest.fixture
def proxy(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    """The local server as the HTTP proxy: requests for public hosts reach it, and no DNS."""
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/").rstrip("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    return httpserver


def test_a_public_url_may_not_redirect_to_a_loopback_address(proxy: HTTPServer) -> None:
    internal = "http://127.0.0.1:6379/"  # e.g. a local Redis whose banner would be quoted
    proxy.expect_request("/data.csv").respond_with_data(
        "", status=302, headers={"Location": internal})

    with HttpFetcher(total_timeout_s=10.0) as fetcher, pytest.raises(
            SourceError, match="redirect to an internal address refused") as info:
        fetcher.fetch("http://prices.example/data.csv", source="wb")

    assert not_retryable(info.value)
    assert [request.url for request, _ in proxy.log] == ["http://prices.example/data.csv"]


def test_a_public_url_may_redirect_to_another_public_host(proxy: HTTPServer) -> None:
    proxy.expect_request("/old.csv").respond_with_data(
        "", status=301, headers={"Location": "http://cdn.example/new.csv"})
    proxy.expect_request("/new.csv").respond_with_data("moved")

    with HttpFetcher(total_timeout_s=10.0) as fetcher:
        result = fetcher.fetch("http://prices.example/old.csv")

    assert result.body == b"moved" and result.url == "http://cdn.example/new.csv"


@pytest.mark.parametrize(
    "link",
    ["http://127.0.0.1:{port}/x.xlsx", "http://localhost:{port}/x.xlsx",
     "http://[::1]:{port}/x.xlsx", "http://10.1.2.3/x.xlsx", "http://169.254.169.254/x.xlsx"],
)
def test_a_link_found_on_a_public_page_may_not_reach_an_internal_address(
    httpserver: HTTPServer, fetcher: HttpFetcher, link: str
) -> None:
    httpserver.expect_request("/x.xlsx").respond_with_data("internal")

    with pytest.raises(SourceError, match="link to an internal address refused") as info:
        fetcher.fetch(link.format(port=httpserver.port), source="wb",
                      found_on="https://www.worldbank.org/en/research/commodity-markets")

    assert not_retryable(info.value)
    assert httpserver.log == []


def test_a_link_found_on_a_local_page_may_reach_a_local_server(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/x.csv").respond_with_data("local")

    result = fetcher.fetch(httpserver.url_for("/x.csv"),
                           found_on=httpserver.url_for("/landing.html"))

    assert result.body == b"local"


def test_a_found_link_is_never_read_from_a_file(tmp_path: Path, fetcher: HttpFetcher) -> None:
    secret = tmp_path / "slack_token"
    secret.write_text("xoxb-0000-SECRET-TOKEN\n", encoding="utf-8")
    page = tmp_path / "landing.html"

    with pytest.raises(SourceError, match="only http and https") as info:
        fetcher.fetch(secret.as_uri(), source="wb", found_on=page.as_uri())

    assert not_retryable(info.value)
    assert "SECRET" not in str(info.value)


# --- what a server says is never quoted raw --------------------------------------------------


def answer_once(response: bytes) -> AbstractContextManager[str]:
    """A server that answers each connection with these raw bytes (any status line)."""
    return drip_server(response, b"", every_s=0.0)


def test_reason_phrase_controls_are_removed_and_its_length_bounded(fetcher: HttpFetcher) -> None:
    reason = b"Busy \x1b[2J\x1b]0;pwned\x07 " + b"A" * 5000
    with answer_once(b"HTTP/1.1 503 " + reason + b"\r\nContent-Length: 0\r\n\r\n") as url, \
            pytest.raises(SourceUnavailableError, match="HTTP 503 Busy") as info:
        fetcher.fetch(url, source="wb")

    message = str(info.value)
    assert "\x1b" not in message and "\x07" not in message
    assert len(message) < 300


def test_a_non_http_answer_is_described_not_quoted(fetcher: HttpFetcher) -> None:
    banner = b"SSH-2.0-OpenSSH_9.6 xoxb-0000-SECRET-TOKEN\r\n"
    with answer_once(banner) as url, pytest.raises(SourceUnavailableError) as info:
        fetcher.fetch(url, source="wb")

    assert "not valid HTTP" in str(info.value)
    assert "SSH" not in str(info.value) and "SECRET" not in str(info.value)


def test_an_unknown_content_encoding_is_named_briefly(
    httpserver: HTTPServer, fetcher: HttpFetcher
) -> None:
    httpserver.expect_request("/").respond_with_data(
        "x", headers={"Content-Encoding": "br-" + "Z" * 2000 + "\x1b[31m"})

    with pytest.raises(SourceFormatError, match="unsupported Content-Encoding") as info:
        fetcher.fetch(httpserver.url_for("/"), source="wb")

    assert len(str(info.value)) < 300 and "\x1b" not in str(info.value)


@pytest.mark.parametrize(
    "header",
    ["9999999999999", "1e300", "inf", "nan", "-5", "Fri, 31 Dec 9999 23:59:59 GMT"],
)
def test_retry_after_is_bounded_to_a_day(header: str) -> None:
    seconds = parse_retry_after(header, now=datetime(2026, 3, 2, tzinfo=UTC))

    assert seconds is not None and 0.0 <= seconds <= 86_400.0
