"""Who may use the console and how a request proves it: authentication, CSRF, headers.

- Bound to loopback, the console needs no login (like ``critmon`` on the same machine) but
  answers only requests addressed to a loopback host name, so a web page elsewhere cannot
  reach it through DNS rebinding.
- Bound to any other address it refuses to start unless users are configured: a credentials
  file of ``user:scrypt$...`` lines (HTTP Basic, the password checked with hashlib.scrypt in
  constant time), or a trusted reverse proxy that authenticates and passes the user in a header
  (honoured only from the proxy's own addresses).
- Every state-changing request is a POST carrying a CSRF token, an HMAC of the user under a
  key made at start; a request whose Origin is another site is refused as well.
- Every response carries a Content-Security-Policy without ``unsafe-inline`` (no page runs a
  script), ``X-Frame-Options: DENY``, ``nosniff`` and ``no-referrer``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.core.errors import ConfigError
from monitor.core.untrusted import clean_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_USERS_FILE = 64 * 1024


# --------------------------------------------------------------------------- passwords


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64): the line format of the credentials file."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=32)
    return "$".join(["scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P),
                     base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches ``encoded``; the comparison takes constant time."""
    try:
        kind, n, r, p, salt, digest = encoded.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt, validate=True),
                                n=int(n), r=int(r), p=int(p), dklen=len(expected),
                                maxmem=256 * 1024 * 1024)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(actual, expected)


def load_users(path: Path) -> dict[str, str]:
    """Read a credentials file (``user:scrypt$...`` per line, ``#`` comments); ConfigError names
    the file and line of anything else."""
    try:
        raw = path.read_bytes()[:MAX_USERS_FILE + 1]
    except OSError as exc:
        raise ConfigError(f"cannot read the console users file: {exc.strerror}",
                          file=str(path)) from None
    if len(raw) > MAX_USERS_FILE:
        raise ConfigError("the console users file is larger than 64 KiB", file=str(path))
    users: dict[str, str] = {}
    for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, _, encoded = line.partition(":")
        if not user or not encoded.startswith("scrypt$") or encoded.count("$") != 5:
            raise ConfigError("expected user:scrypt$N$r$p$salt$hash (make one with "
                              "`critmon web --hash-password USER`)", file=str(path), line=number)
        users[user] = encoded
    if not users:
        raise ConfigError("no user in the console users file", file=str(path))
    return users


# --------------------------------------------------------------------------- auth settings


@dataclass
class Auth:
    """How requests are authenticated: none (loopback), a users file, or a proxy header."""

    users: dict[str, str] = field(default_factory=dict)
    proxy_header: str = ""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    _verified: dict[bytes, str] = field(default_factory=dict, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.users or self.proxy_header)

    def check_basic(self, header: str) -> str | None:
        """The user named by a valid ``Authorization: Basic`` header, else None."""
        key = hashlib.sha256(header.encode()).digest()
        if key in self._verified:
            return self._verified[key]
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        # An unknown user costs a hash too, so timing does not tell which users exist.
        encoded = self.users.get(user) or _DUMMY
        if not verify_password(password, encoded) or user not in self.users:
            return None
        if len(self._verified) > 256:
            self._verified.clear()
        self._verified[key] = user
        return user

    def user_of(self, scope: Scope) -> str | None:
        """The authenticated user of a request; ``""`` when none is needed; None: refuse."""
        headers = _headers(scope)
        if self.proxy_header:
            client = (scope.get("client") or ("", 0))[0]
            if client in self.trusted_proxies:
                name = headers.get(self.proxy_header.lower(), "")
                if name:
                    return clean_text(name, limit=64)
        if self.users:
            return self.check_basic(headers.get("authorization", ""))
        return None if self.proxy_header else ""


_DUMMY = hash_password("not a password", salt=b"0123456789abcdef")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: Auth) -> None:
    """Refuse a non-loopback address without authentication (ConfigError says what to do)."""
    if not is_loopback(host) and not auth.configured:
        raise ConfigError(
            f"refusing to serve the console on {host}, which is not a loopback address, "
            "without authentication: give --users FILE (user:scrypt hash lines, made with "
            "`critmon web --hash-password USER`) or --proxy-user-header NAME behind an "
            "authenticating reverse proxy (docs/console.md)")


# --------------------------------------------------------------------------- CSRF


class Csrf:
    """Stateless tokens: HMAC-SHA256 of the user under a key made when the console starts."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)

    def token(self, user: str) -> str:
        return hmac.new(self._key, f"csrf:{user}".encode(), hashlib.sha256).hexdigest()

    def valid(self, user: str, token: str) -> bool:
        return hmac.compare_digest(self.token(user), token or "")


# --------------------------------------------------------------------------- middleware


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope.get("headers") or []}


class Guard:
    """ASGI middleware: host check, authentication, the security headers on every answer."""

    def __init__(self, app: ASGIApp, auth: Auth, *, loopback_only_hosts: bool) -> None:
        self.app = app
        self.auth = auth
        self.loopback_only_hosts = loopback_only_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        headers = _headers(scope)
        host = headers.get("host", "").rsplit(":", 1)[0] if "]" not in headers.get(
            "host", "") else headers.get("host", "").split("]")[0] + "]"
        if self.loopback_only_hosts and host not in LOOPBACK_NAMES:
            await _plain(send_with_headers, 421, "this console answers only to localhost, "
                         "127.0.0.1 or [::1]")
            return
        user = self.auth.user_of(scope)
        if user is None:
            extra = [(b"www-authenticate", b'Basic realm="critmon", charset="UTF-8"')] \
                if self.auth.users else []
            await _plain(send_with_headers, 401, "authentication required", extra)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send_with_headers)


async def _plain(send: Send, status: int, text: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
