"""Fetching bytes over HTTP(S) or from file:// URLs: the I/O edge every poller goes through.

One ``HttpFetcher`` per process (thread-safe). Every fetch is bounded three ways: a byte cap on
the *decoded* body (a gzip bomb cannot exhaust memory), a per-read timeout, and a wall-clock
deadline for the whole fetch (a server dripping one byte a second cannot hold a job forever).
Failures are translated into the ``SourceError`` family here and nowhere else:

========================================================  ===========================  =========
case                                                      error                        retryable
========================================================  ===========================  =========
5xx, 408, 429 (``retry_after_s`` from Retry-After)        SourceUnavailableError       yes
timeouts (connect, read, total), DNS, refused, TLS        SourceUnavailableError       yes
missing or unreadable file:// path                        SourceUnavailableError       yes
other 4xx, redirect loop, too many redirects, bad URL     SourceError                  no
a redirect or found link critmon may not follow (below)   SourceError                  no
empty body, body over the cap, broken gzip                SourceFormatError            no
========================================================  ===========================  =========

URLs in messages and in ``SourceError.url`` go through ``redact_url``; every message goes through
``clean_text`` and quotes nothing a server sent except a bounded reason phrase (a non-HTTP answer,
such as another service's banner, is described, never quoted).

Where a fetch may go. The operator's URL (from sources.yaml) may be http, https or file. A URL
that came from outside, a redirect target or a link found on a landing page (``found_on``), must
be http or https, and may reach an internal address (loopback, private, link-local, anything not
globally routable, or a name resolving to one) only when the operator's URL is itself internal or
a file: a public page cannot send critmon to ``127.0.0.1:6379`` or to a cloud metadata address,
while a test server or an intranet mirror keeps working. Names are resolved for this check only
when the request goes direct (through a proxy, the proxy resolves them and only literal addresses
and ``localhost`` are checked); a name whose DNS answer changes between the check and the
connection is not caught.
"""

from __future__ import annotations

import email.utils
import errno
import ipaddress
import mimetypes
import os
import re
import socket
import stat
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from monitor import __version__
from monitor.core.errors import SourceError, SourceFormatError, SourceUnavailableError
from monitor.core.models import FetchResult
from monitor.core.untrusted import bounded_seconds, clean_text

DEFAULT_USER_AGENT = f"critmon/{__version__} (+https://github.com/critmon/critmon)"

_CHUNK = 64 * 1024
_RETRYABLE_STATUSES = frozenset({408, 429})
_SECRET_PARAM = re.compile(r"token|key|passw|pwd|secret|signature|credential", re.IGNORECASE)
_REDACTED = "REDACTED"
_WEB_SCHEMES = ("http", "https")
#: The longest Retry-After honoured here; the poller caps it further per source.
RETRY_AFTER_MAX_S = 86_400.0
#: How much of a server's reason phrase or header value a message may quote.
_QUOTE_MAX = 60
#: The longest message of a SourceError raised here.
MESSAGE_MAX = 500


def redact_url(url: str) -> str:
    """Return ``url`` without userinfo and without the values of secret-looking query params.

    A parameter is secret when its name contains token, key, passw(ord), pwd, secret, signature
    or credential (``api_key``, ``access_token``...). Other parameters are kept byte for byte.
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{_REDACTED}@{netloc.rpartition('@')[2]}"
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_param(param: str) -> str:
    name, sep, _value = param.partition("=")
    if sep and _SECRET_PARAM.search(urllib.parse.unquote_plus(name)):
        return f"{name}={_REDACTED}"
    return param


def parse_retry_after(
    value: str | None, *, now: datetime, maximum: float = RETRY_AFTER_MAX_S
) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent.

    Whatever the server wrote, the result is within ``[0, maximum]``: ``9999999999999``,
    ``1e300``, ``inf``, ``nan`` and a date in the year 9999 become ``maximum``, a negative
    number or a past date 0. Unreadable text is ignored (None).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds: float | None = float(value)
    except ValueError:
        seconds = _seconds_until(value, now)
    return bounded_seconds(seconds, maximum=maximum)


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        at = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if at.tzinfo is None:  # an HTTP-date is always GMT; "-0000" parses as naive
        at = at.replace(tzinfo=UTC)
    return (at - now).total_seconds()


def is_internal_host(host: str, *, resolve: bool = True) -> bool:
    """True for a host that is not on the public internet.

    ``localhost`` and ``*.localhost``, and any address that is not globally routable: loopback,
    private, link-local (cloud metadata at 169.254.169.254), shared, reserved, unspecified. A name
    is resolved when ``resolve``; one that does not resolve here counts as public.
    """
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        addresses = [ipaddress.ip_address(name.partition("%")[0])]
    except ValueError:
        if not resolve or not name:
            return False
        try:
            infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return False
        addresses = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
    return any(not _unmapped(address).is_global for address in addresses)


def _unmapped(address: ipaddress.IPv4Address | ipaddress.IPv6Address
              ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``::ffff:127.0.0.1`` is 127.0.0.1."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _goes_through_proxy(scheme: str, host: str) -> bool:
    """Whether the environment sends a request for ``scheme://host`` through a proxy."""
    proxies = urllib.request.getproxies()
    if not (proxies.get(scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(host)


def _is_internal_url(url: str) -> bool:
    """A file URL, or an http(s) URL whose host is internal (see ``is_internal_host``)."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return True
    host = parts.hostname or ""
    return is_internal_host(host, resolve=not _goes_through_proxy(scheme, host))


class _LinkCollector(HTMLParser):
    """Collects ``href`` values in document order and the first ``<base href>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.base: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if not href:
            return
        if tag == "base" and self.base is None:
            self.base = href.strip()
        elif tag in ("a", "link", "area"):
            self.hrefs.append(href.strip())


def discover_link(html: bytes, *, pattern: str, base_url: str, source: str = "") -> str:
    """Return the first link on an HTML page whose absolute URL matches the regex ``pattern``.

    Used where a publisher's download link changes with each release (the World Bank Pink Sheet
    ``.../<hash>-<release>/related/CMO-Historical-Data-Monthly.xlsx``). ``re.search`` semantics;
    relative links are resolved against ``<base href>`` or ``base_url``.
    """
    regex = re.compile(pattern)
    collector = _LinkCollector()
    collector.feed(html.decode("utf-8", errors="replace"))
    collector.close()
    base = urllib.parse.urljoin(base_url, collector.base or "")
    for href in collector.hrefs:
        absolute = urllib.parse.urljoin(base, href)
        # Only web links: a page must never send critmon to file:///... (a local file would be
        # read and reported) or to javascript:, whatever the pattern matches.
        if urllib.parse.urlsplit(absolute).scheme.lower() in _WEB_SCHEMES and regex.search(
                absolute):
            return absolute
    raise SourceFormatError(
        clean_text(f"{_prefix(source)}no link matching {pattern!r} among "
                   f"{len(collector.hrefs)} links on {redact_url(base_url)}", limit=MESSAGE_MAX),
        source=source,
        url=redact_url(base_url),
    )


def _prefix(source: str) -> str:
    return f"{source}: " if source else ""


class _Deadline:
    """Shuts the connection's socket down when a fetch runs past its wall-clock deadline.

    httpx's read timeout applies to each read, so a server sending one byte per second never
    trips it, during the headers as well as the body. The socket is learnt from httpcore's
    ``trace`` extension; shutting it down wakes the blocked ``recv`` in the fetching thread.
    """

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.started = time.monotonic()
        self.expired = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(total_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining_s(self) -> float:
        return self.total_s - (time.monotonic() - self.started)

    def check(self) -> None:
        if self.remaining_s() <= 0:
            self.expired = True
        if self.expired:
            raise TimeoutError(f"total timeout after {self.total_s:g}s")

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore trace hook: remember the socket of each new connection (plain or TLS)."""
        if not event.endswith((".connect_tcp.complete", ".start_tls.complete")):
            return
        sock = info["return_value"].get_extra_info("socket")
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is None:
            return
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the fetch has finished or failed on its own


class _BodyDecoder:
    """Decodes a Content-Encoding in bounded steps, so output is produced at most _CHUNK at a time.

    httpx's own decoders inflate a whole network read at once, which for a gzip bomb is ~1000x
    the read size; here the byte cap is checked after every _CHUNK of output.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._inflater: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        elif encoding not in ("", "identity", "deflate"):
            shown = clean_text(encoding, limit=_QUOTE_MAX)
            raise ValueError(f"unsupported Content-Encoding '{shown}'")

    @property
    def compressed(self) -> bool:
        return self.encoding not in ("", "identity")

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self.encoding == "deflate" and self._inflater is None and data:
            # RFC 9110 deflate is zlib-wrapped, but some servers send raw deflate.
            zlib_header = data[0] & 0x0F == 8 and int.from_bytes(data[:2], "big") % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        if self._inflater is None:
            yield data
            return
        while data:
            out = self._inflater.decompress(data, _CHUNK)
            if out:
                yield out
            data = self._inflater.unconsumed_tail

    def finish(self) -> bytes:
        if self._inflater is None:
            return b""
        tail: bytes = self._inflater.flush()
        if not self._inflater.eof:
            raise zlib.error(f"truncated {self.encoding} stream")
        return tail


class HttpFetcher:
    """Fetches URLs with timeouts, a byte cap, conditional GET and error translation."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 30.0,
        total_timeout_s: float = 120.0,
        max_bytes: int = 50_000_000,
        max_redirects: int = 5,
    ) -> None:
        self.user_agent = user_agent
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._client_lock = threading.Lock()
        self._http_client: httpx.Client | None = None
        self._closed = False

    @property
    def _client(self) -> httpx.Client:
        """The httpx client, made at the first HTTP fetch.

        Making one loads the CA bundle into an SSL context (one per proxy too): a few hundred
        milliseconds that ``critmon run`` would otherwise spend before READY, and that a
        fetcher used only for ``file:`` URLs never needs.
        """
        with self._client_lock:
            if self._http_client is None:
                self._http_client = httpx.Client(
                    headers={"User-Agent": self.user_agent,
                             "Accept-Encoding": "gzip, deflate"},
                    follow_redirects=False,  # followed by hand: loop detection, bodies never read
                    # No keep-alive: every fetch opens its own connection, so the deadline
                    # watchdog always sees the socket (polls are minutes apart; reuse would
                    # save nothing).
                    limits=httpx.Limits(max_keepalive_connections=0),
                )
                if self._closed:  # used after close(), as a closed httpx client refuses
                    self._http_client.close()
            return self._http_client

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        with self._client_lock:
            self._closed = True
            client = self._http_client
        if client is not None:
            client.close()

    def fetch(
        self,
        url: str,
        *,
        source: str = "",
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        timeout_s: float | None = None,
        found_on: str | None = None,
    ) -> FetchResult:
        """GET ``url`` (http, https or file); a 304 gives ``FetchResult(not_modified=True)``.

        ``etag``/``last_modified`` are the values of an earlier result, sent as If-None-Match /
        If-Modified-Since. ``max_bytes`` and ``timeout_s`` override the fetcher's cap and total
        deadline for this call. ``FetchResult.url`` is the final URL after redirects.
        ``found_on`` is the operator's page on which ``url`` was found: such a URL must be http(s)
        and may be internal only if that page is (see the module docstring).
        """
        cap = self.max_bytes if max_bytes is None else max_bytes
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if found_on is not None:
            _check_found_link(url, found_on, source)
        if scheme == "file":
            return _fetch_file(url, source=source, etag=etag, last_modified=last_modified, cap=cap)
        if scheme not in ("http", "https"):
            raise SourceError(
                clean_text(f"{_prefix(source)}unsupported URL scheme {scheme!r} in "
                           f"{redact_url(url)}", limit=MESSAGE_MAX),
                source=source, url=redact_url(url),
            )
        deadline = _Deadline(self.total_timeout_s if timeout_s is None else timeout_s)
        try:
            return self._fetch_http(url, source, etag, last_modified, cap, deadline,
                                    origin=found_on or url)
        finally:
            deadline.cancel()

    def _fetch_http(
        self, url: str, source: str, etag: str | None, last_modified: str | None, cap: int,
        deadline: _Deadline, *, origin: str,
    ) -> FetchResult:
        fail = _Failure(source, url, deadline)
        headers = {"If-None-Match": etag, "If-Modified-Since": last_modified}
        try:
            request = self._client.build_request(
                "GET", url,
                headers={k: v for k, v in headers.items() if v},
                timeout=self._timeout(deadline.total_s),
                extensions={"trace": deadline.trace},
            )
            response = self._send(request, fail, origin)
            try:
                return self._handle(response, fail, etag, last_modified, cap)
            finally:
                response.close()
        except (httpx.HTTPError, httpx.InvalidURL, TimeoutError, OSError) as exc:
            raise fail.translate(exc) from exc

    def _timeout(self, total_s: float) -> httpx.Timeout:
        connect = min(self.connect_timeout_s, total_s)
        read = min(self.read_timeout_s, total_s)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    def _send(self, request: httpx.Request, fail: _Failure, origin: str) -> httpx.Response:
        """Send, following up to ``max_redirects`` redirects without reading their bodies.

        ``origin`` is the operator's URL this fetch started from: it decides whether a redirect
        may go to an internal address.
        """
        seen = {str(request.url)}
        for _ in range(self.max_redirects + 1):
            response = self._client.send(request, stream=True)
            fail.url = str(response.url)
            if response.next_request is None:
                return response
            response.close()
            request = response.next_request
            _check_redirect(request.url, origin, fail)
            target = str(request.url)
            if target in seen:
                raise fail.error(f"redirect loop: {redact_url(target)} was already visited")
            seen.add(target)
        raise fail.error(f"too many redirects (more than {self.max_redirects})")

    def _handle(
        self, response: httpx.Response, fail: _Failure, etag: str | None,
        last_modified: str | None, cap: int,
    ) -> FetchResult:
        status = response.status_code
        common = {
            "url": str(response.url),
            "status": status,
            "etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "content_type": response.headers.get("Content-Type"),
        }
        if status == 304:
            common["etag"] = common["etag"] or etag
            common["last_modified"] = common["last_modified"] or last_modified
            return FetchResult(body=b"", not_modified=True, elapsed_s=fail.elapsed_s(), **common)
        if not 200 <= status < 300:
            raise fail.for_status(response)
        body = _read_body(response, fail, cap)
        return FetchResult(body=body, elapsed_s=fail.elapsed_s(), **common)


def _check_redirect(target: httpx.URL, origin: str, fail: _Failure) -> None:
    """Refuse a redirect to a non-web scheme, or from a public origin to an internal host."""
    scheme = target.scheme.lower()
    if scheme not in _WEB_SCHEMES:
        raise fail.error(f"redirect to a {clean_text(scheme, limit=_QUOTE_MAX)}: URL refused")
    internal = is_internal_host(target.host, resolve=not _goes_through_proxy(scheme, target.host))
    if internal and not _is_internal_url(origin):
        raise fail.error(f"redirect to an internal address refused "
                         f"({clean_text(target.host, limit=_QUOTE_MAX)}; the configured URL "
                         f"is public)")


def _check_found_link(url: str, found_on: str, source: str) -> None:
    """Refuse a link found on a page unless it is http(s), and internal only if the page is."""
    parts = urllib.parse.urlsplit(url)
    safe = redact_url(url)
    reason = None
    if parts.scheme.lower() not in _WEB_SCHEMES:
        reason = "only http and https links found on a page are followed"
    elif _is_internal_url(url) and not _is_internal_url(found_on):
        reason = f"link to an internal address refused (found on {redact_url(found_on)})"
    if reason:
        raise SourceError(clean_text(f"{_prefix(source)}{reason}: {safe}", limit=MESSAGE_MAX),
                          source=source, url=safe)


def _read_body(response: httpx.Response, fail: _Failure, cap: int) -> bytes:
    """Read the decoded body, enforcing the byte cap and the total deadline after each chunk."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    try:
        decoder = _BodyDecoder(encoding)
    except ValueError as exc:
        raise fail.format_error(str(exc)) from exc
    declared = response.headers.get("Content-Length", "")
    if not decoder.compressed and declared.isdigit() and int(declared) > cap:
        raise fail.format_error(f"body exceeds {cap} bytes (Content-Length {declared})")
    chunks: list[bytes] = []
    size = 0
    try:
        for raw in response.iter_raw():
            fail.deadline.check()
            for piece in decoder.decode(raw):
                size += len(piece)
                if size > cap:
                    raise fail.format_error(f"body exceeds {cap} bytes")
                chunks.append(piece)
        chunks.append(decoder.finish())
    except zlib.error as exc:
        raise fail.format_error(f"cannot decode {encoding} body: {exc}") from exc
    body = b"".join(chunks)
    if len(body) > cap:
        raise fail.format_error(f"body exceeds {cap} bytes")
    if not body:
        raise fail.format_error("empty body")
    return body


class _Failure:
    """Builds the errors of one fetch: each names the source and the (redacted) URL."""

    def __init__(self, source: str, url: str, deadline: _Deadline) -> None:
        self.source = source
        self.url = url
        self.deadline = deadline

    def elapsed_s(self) -> float:
        return time.monotonic() - self.deadline.started

    def _message(self, reason: str) -> str:
        return clean_text(f"{_prefix(self.source)}{reason} ({redact_url(self.url)})",
                          limit=MESSAGE_MAX)

    def error(self, reason: str) -> SourceError:
        return SourceError(self._message(reason), source=self.source, url=redact_url(self.url))

    def format_error(self, reason: str) -> SourceFormatError:
        return SourceFormatError(
            self._message(reason), source=self.source, url=redact_url(self.url)
        )

    def unavailable(
        self, reason: str, *, status: int | None = None, retry_after_s: float | None = None
    ) -> SourceUnavailableError:
        return SourceUnavailableError(
            self._message(reason), source=self.source, url=redact_url(self.url),
            status=status, retry_after_s=retry_after_s,
        )

    def for_status(self, response: httpx.Response) -> SourceError:
        status = response.status_code
        phrase = clean_text(response.reason_phrase, limit=_QUOTE_MAX)
        reason = f"HTTP {status} {phrase}".rstrip()
        if status >= 500 or status in _RETRYABLE_STATUSES:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=datetime.now(UTC)
            )
            if retry_after is not None:
                reason += f", retry after {retry_after:g}s"
            return self.unavailable(reason, status=status, retry_after_s=retry_after)
        return self.error(reason)

    def translate(self, exc: BaseException) -> SourceError:
        """Map a transport-level exception (httpx, socket, our deadline) to a SourceError."""
        if isinstance(exc, SourceError):
            return exc
        if self.deadline.expired or self.deadline.remaining_s() <= 0:
            return self.unavailable(f"total timeout after {self.deadline.total_s:g}s")
        if isinstance(exc, httpx.RemoteProtocolError):
            # h11 quotes the offending status line: another service's banner, or the first line
            # of whatever answers on that port. Say what it is, never what it says.
            return self.unavailable("the answer is not valid HTTP")
        detail = _scrub(str(exc) or type(exc).__name__, self.url)
        if isinstance(exc, httpx.TimeoutException):
            return self.unavailable(f"{type(exc).__name__}: {detail}")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
            return self.error(f"bad request URL: {detail}")
        return self.unavailable(f"{type(exc).__name__}: {detail}")


def _scrub(text: str, url: str) -> str:
    """Remove the raw URL (which may hold secrets) from library error text."""
    return text.replace(url, redact_url(url)) if url else text


def _fetch_file(
    url: str, *, source: str, etag: str | None, last_modified: str | None, cap: int
) -> FetchResult:
    """Read a file:// URL like a GET: mtime is Last-Modified, mtime+size the ETag."""
    started = time.monotonic()
    parts = urllib.parse.urlsplit(url)
    safe_url = redact_url(url)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(clean_text(f"{_prefix(source)}file URL must be local: {safe_url}",
                                     limit=MESSAGE_MAX),
                          source=source, url=safe_url)
    path = Path(urllib.request.url2pathname(parts.path))
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        file_etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
        file_modified = email.utils.formatdate(st.st_mtime, usegmt=True)
        common = {"url": url, "etag": file_etag, "last_modified": file_modified,
                  "content_type": mimetypes.guess_type(path.name)[0]}
        if _file_unchanged(st, file_etag, etag, last_modified):
            return FetchResult(status=304, body=b"", not_modified=True,
                               elapsed_s=time.monotonic() - started, **common)
        with path.open("rb") as fh:
            body = fh.read(cap + 1)  # +1: a file that grew past the cap since stat()
    except OSError as exc:
        message = f"{_prefix(source)}cannot read {safe_url}: {exc.strerror or type(exc).__name__}"
        raise SourceUnavailableError(clean_text(message, limit=MESSAGE_MAX),
                                     source=source, url=safe_url) from exc
    if len(body) > cap:
        raise SourceFormatError(f"{_prefix(source)}body exceeds {cap} bytes ({safe_url})",
                                source=source, url=safe_url)
    if not body:
        raise SourceFormatError(f"{_prefix(source)}empty body ({safe_url})",
                                source=source, url=safe_url)
    return FetchResult(status=200, body=body, elapsed_s=time.monotonic() - started, **common)


def _file_unchanged(
    st: os.stat_result, file_etag: str, etag: str | None, last_modified: str | None
) -> bool:
    """Conditional-GET rules of RFC 9110: If-None-Match wins over If-Modified-Since."""
    if etag:
        return etag.removeprefix("W/") == file_etag
    if not last_modified:
        return False
    try:
        since = email.utils.parsedate_to_datetime(last_modified)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return int(st.st_mtime) <= since.timestamp()
