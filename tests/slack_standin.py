"""Local stand-ins for the outside world of alerting, served on 127.0.0.1.

- :class:`SlackStandIn`: the Slack Web API (``POST /api/chat.postMessage``, bearer token) and an
  incoming webhook (``POST /services/...``) over real HTTP, so slack-sdk's ``WebClient`` (via
  ``base_url``) and ``WebhookClient`` (via ``url``) talk to it unchanged. It records every
  request and answers ``ok`` unless told otherwise: ``script("api", "429:3", "500",
  "invalid_auth", "channel_not_found")`` queues answers, one per request.
- :class:`SmtpSink`: an aiosmtpd server (plain, STARTTLS or implicit TLS; optional AUTH;
  per-recipient refusals; scripted replies) keeping every message it accepted.
- :class:`DrippingSmtp`: an SMTP server whose greeting never ends (one continuation line at a
  time, each well within any read timeout), to prove a whole conversation has a deadline.
- :func:`make_certificate`: a self-signed certificate for 127.0.0.1 via the ``openssl`` CLI.

Used by the tests, the crash-safety subprocess and ``bench/bench_delivery.py``.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs

TOKEN = "xoxb-standin-token"
WEBHOOK_PATH = "/services/T0000/B0000/standinwebhooksecret"


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (aiosmtpd does not support port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- Slack


@dataclass
class SlackRequest:
    kind: str  # "api" or "webhook"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    answered: str
    at: float = field(default_factory=time.perf_counter)

    @property
    def delivered(self) -> bool:
        return self.answered == "ok"

    @property
    def text(self) -> str:
        """Everything a reader would see: fallback text, blocks and attachments."""
        return json.dumps([self.body.get("text"), self.body.get("blocks"),
                           self.body.get("attachments")], ensure_ascii=False)


class SlackStandIn:
    """A Slack Web API + incoming webhook stand-in over HTTP."""

    def __init__(self, *, token: str = TOKEN, webhook_path: str = WEBHOOK_PATH) -> None:
        self.token = token
        self.webhook_path = webhook_path
        self.requests: list[SlackRequest] = []
        self._scripts: dict[str, deque[str]] = {"api": deque(), "webhook": deque()}
        self._defaults: dict[str, str] = {"api": "ok", "webhook": "ok"}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    # -- lifecycle

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{self.webhook_path}"

    # -- control

    def script(self, kind: str, *answers: str) -> None:
        """Queue answers for the next requests of ``kind``: ok, 429:<Retry-After>, 500,
        invalid_auth, channel_not_found, no_service (404), or echo:<status>, a relay that
        answers <status> with a body quoting the request path (and so the webhook secret)."""
        with self._lock:
            self._scripts[kind].extend(answers)

    def always(self, kind: str, answer: str) -> None:
        """Answer every later request of ``kind`` this way (after the script runs out)."""
        with self._lock:
            self._defaults[kind] = answer

    def delivered(self, kind: str | None = None) -> list[SlackRequest]:
        with self._lock:
            return [r for r in self.requests if r.delivered and kind in (None, r.kind)]

    def wait_for(self, count: int, timeout_s: float = 120.0) -> list[SlackRequest]:
        """Block until ``count`` messages were delivered (or the generous timeout passes)."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            while sum(r.delivered for r in self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._arrived.wait(left)
            return [r for r in self.requests if r.delivered]

    # -- HTTP

    def _next_answer(self, kind: str) -> str:
        with self._lock:
            queue = self._scripts[kind]
            return queue.popleft() if queue else self._defaults[kind]

    def _record(self, request: SlackRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                body = _parse_body(raw, self.headers.get("Content-Type", ""))
                headers = {k.lower(): v for k, v in self.headers.items()}
                if self.path.startswith("/api/"):
                    standin._api(self, headers, body)
                elif self.path == standin.webhook_path:
                    standin._webhook(self, headers, body)
                else:
                    _reply(self, 404, "no_service", "text/plain")

        return Handler

    def _api(self, handler: BaseHTTPRequestHandler, headers: dict[str, str],
             body: dict[str, Any]) -> None:
        answer = self._next_answer("api")
        if answer == "ok" and headers.get("authorization") != f"Bearer {self.token}":
            answer = "invalid_auth"
        if answer == "ok" and not body.get("channel"):
            answer = "channel_not_found"
        self._record(SlackRequest("api", handler.path, headers, body, answer))
        if answer.startswith("echo:"):
            _echo(handler, answer)
        elif answer == "ok":
            payload = {"ok": True, "channel": "C0STANDIN", "ts": f"{time.time():.6f}",
                       "message": {"text": body.get("text")}}
            _reply(handler, 200, json.dumps(payload), "application/json")
        elif answer.startswith("429"):
            _reply(handler, 429, json.dumps({"ok": False, "error": "ratelimited"}),
                   "application/json", {"Retry-After": answer.partition(":")[2] or "1"})
        elif answer == "500":
            _reply(handler, 500, "<html>internal error</html>", "text/html")
        else:
            _reply(handler, 200, json.dumps({"ok": False, "error": answer}),
                   "application/json")

    def _webhook(self, handler: BaseHTTPRequestHandler, headers: dict[str, str],
                 body: dict[str, Any]) -> None:
        answer = self._next_answer("webhook")
        self._record(SlackRequest("webhook", handler.path, headers, body, answer))
        if answer.startswith("echo:"):
            _echo(handler, answer)
        elif answer == "ok":
            _reply(handler, 200, "ok", "text/html")
        elif answer.startswith("429"):
            _reply(handler, 429, "rate_limited", "text/plain",
                   {"Retry-After": answer.partition(":")[2] or "1"})
        elif answer == "500":
            _reply(handler, 500, "internal_error", "text/plain")
        elif answer == "invalid_auth":
            _reply(handler, 403, "invalid_token", "text/plain")
        else:
            _reply(handler, 404, answer, "text/plain")


def _echo(handler: BaseHTTPRequestHandler, answer: str) -> None:
    """A careless relay: the status asked for, and a body that quotes the request path."""
    status = int(answer.partition(":")[2] or "502")
    _reply(handler, status, f"relay error {status}: upstream refused POST {handler.path} "
                            f"(https://hooks.slack.com{handler.path})", "text/plain")


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if "json" in content_type:
        return json.loads(raw.decode("utf-8") or "{}")
    fields = parse_qs(raw.decode("utf-8"))
    body: dict[str, Any] = {k: v[-1] for k, v in fields.items()}
    for key in ("blocks", "attachments"):
        if isinstance(body.get(key), str):
            body[key] = json.loads(body[key])
    return body


def _reply(handler: BaseHTTPRequestHandler, status: int, text: str, content_type: str,
           headers: dict[str, str] | None = None) -> None:
    data = text.encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
    handler.send_header("Content-Length", str(len(data)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(data)


# --------------------------------------------------------------------------- SMTP


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    at: float = field(default_factory=time.perf_counter)


class SmtpSink:
    """An aiosmtpd server on 127.0.0.1 that keeps what it accepts.

    ``starttls``/``implicit`` take a server :class:`ssl.SSLContext`; ``login`` a
    ``(user, password)`` pair to require; ``refuse`` recipients to reject with 550;
    ``script(...)`` queues DATA replies (e.g. ``"451 try later"``, ``"554 rejected"``).
    """

    def __init__(self, *, starttls: ssl.SSLContext | None = None,
                 implicit: ssl.SSLContext | None = None,
                 login: tuple[str, str] | None = None, refuse: set[str] | None = None) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.received: list[Received] = []
        self.logins: list[tuple[str, str]] = []
        self._replies: deque[str] = deque()
        self._refuse = refuse or set()
        self._login = login
        self._lock = threading.Condition()
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if implicit is not None:
            kwargs.update(ssl_context=implicit)
        if login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=starttls is not None or implicit is not None)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)

    def start(self) -> Self:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *replies: str) -> None:
        with self._lock:
            self._replies.extend(replies)

    def wait_for(self, count: int, timeout_s: float = 120.0) -> list[Received]:
        """Block until ``count`` mails arrived (or the generous timeout passes)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while len(self.received) < count and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
            return list(self.received)

    # -- aiosmtpd handler hooks

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult

        user = auth_data.login.decode()
        password = auth_data.password.decode()
        self.logins.append((user, password))
        # handled=False: aiosmtpd itself answers 535 on failure
        return AuthResult(success=(user, password) == self._login, handled=False)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self._refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._replies:
                return self._replies.popleft()
            message = message_from_bytes(envelope.original_content or envelope.content,
                                         policy=policy.default)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          message))  # type: ignore[arg-type]
            self._lock.notify_all()
        return "250 Message accepted for delivery"


class DrippingSmtp:
    """Accepts connections and sends ``220-`` continuation lines every ``every_s`` forever."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s = every_s
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            while not self._stop.wait(self.every_s):
                try:
                    conn.sendall(b"220-still saying hello\r\n")
                except OSError:
                    return


# --------------------------------------------------------------------------- TLS


def make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate (and key) for 127.0.0.1/localhost: with ``cryptography`` when
    installed, else the ``openssl`` CLI; None when neither is available."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    try:
        _certificate_with_cryptography(cert, key)
        return cert, key
    except ImportError:
        pass
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, check=False, timeout=60)
    return (cert, key) if result.returncode == 0 else None


def _certificate_with_cryptography(cert: Path, key: Path) -> None:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(private.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context
