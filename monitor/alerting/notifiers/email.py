"""Email over SMTP: STARTTLS (default), implicit TLS or plain; optional login; many recipients.

The certificate is verified by default: ``smtplib.starttls()`` without a context would accept
any certificate, so a context from ``ssl.create_default_context(cafile=ca_file)`` is always
passed. Every read has ``timeout`` and the whole conversation ``TOTAL_TIMEOUT_FACTOR`` times
that (a server dripping an endless reply is cut off). A 4xx reply or a dropped connection may
pass (transient); a 5xx reply, a failed login, a certificate that does not verify or a TLS
handshake that fails (``tls: implicit`` against a plain port, no common TLS version) will not
(permanent), and the error says what to check. When only some recipients are refused the mail went out: that is logged, not
retried (a retry would send the others a duplicate).

Each message has a deterministic ``Message-ID`` (from the delivery's idempotency key, so a
resend after a crash carries the same id) and, for a follow-up about the same alerts
(escalation, resolution, repeat), ``In-Reply-To``/``References`` to the first message, so mail
clients thread them.
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Self

from monitor.alerting.notifiers.base import SendResult, clean_error
from monitor.alerting.render import Notification, email_content
from monitor.config.alerting import EmailReceiver
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.core.untrusted import clean_text

log = logging.getLogger(__name__)

#: The whole conversation (connect, TLS, login, DATA) may take this many ``timeout``s.
TOTAL_TIMEOUT_FACTOR = 4


class EmailNotifier:
    """One email receiver."""

    def __init__(self, name: str, spec: EmailReceiver, *, password: str | None = None) -> None:
        self.name = name
        self.spec = spec
        self._password = password

    def send(self, notification: Notification) -> SendResult:
        message = build_message(notification, self.spec)
        try:
            refused = self._deliver(message)
        except DeliveryError as exc:
            exc.args = (clean_error(exc, [self._password or ""]),)
            raise
        if refused:
            log.warning("email %s: %d of %d recipients refused: %s", self.name, len(refused),
                        len(self.spec.to), ", ".join(f"{rcpt} ({code})"
                                                     for rcpt, (code, _) in refused.items()))
        return SendResult(ref=str(message["Message-ID"]),
                          detail=f"{len(refused)} recipients refused" if refused else "")

    def _deliver(self, message: EmailMessage) -> dict[str, tuple[int, bytes]]:
        spec = self.spec
        timeout = spec.timeout.total_seconds()
        where = f"{spec.host}:{spec.port}"
        deadline = _Deadline(timeout * TOTAL_TIMEOUT_FACTOR)
        handshake = spec.tls == "implicit"  # SMTP_SSL shakes hands while it connects
        try:
            with deadline:
                context = None if spec.tls == "none" else _tls_context(spec.ca_file, self.name)
                smtp: smtplib.SMTP
                if spec.tls == "implicit":
                    smtp = _WatchedSMTPS(spec.host, spec.port, timeout=timeout,
                                         context=context, deadline=deadline)
                else:
                    smtp = _WatchedSMTP(spec.host, spec.port, timeout=timeout,
                                        deadline=deadline)
                handshake = False
                with smtp:
                    smtp.ehlo()
                    if spec.tls == "starttls":
                        handshake = True
                        smtp.starttls(context=context)
                        handshake = False
                        smtp.ehlo()
                    if spec.username:
                        smtp.login(spec.username, self._password or "")
                    return smtp.send_message(message, from_addr=spec.sender,
                                             to_addrs=list(spec.to))
        except (smtplib.SMTPException, OSError) as exc:  # OSError covers ssl.SSLError
            raise self._classify_failure(exc, where, deadline, handshake) from None

    def _classify_failure(self, exc: Exception, where: str, deadline: _Deadline,
                          handshake: bool) -> DeliveryError:
        """Our own words for what went wrong, permanent or transient."""
        name = self.name
        if deadline.expired:
            return TransientDeliveryError(
                f"SMTP {where}: the conversation did not finish within "
                f"{deadline.seconds:g}s (the server answers too slowly)", receiver=name)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = sorted({code for code, _ in exc.recipients.values()})
            status = max(codes) if codes else 550
            return _classify(status)(
                f"all recipients refused at {where} ({', '.join(map(str, codes))})",
                receiver=name, status=status)
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return PermanentDeliveryError(f"SMTP login to {where} failed ({exc.smtp_code})",
                                          receiver=name, status=exc.smtp_code)
        if isinstance(exc, smtplib.SMTPResponseException):
            text = _reply_text(exc.smtp_error, [self._password or ""])
            return _classify(exc.smtp_code)(f"SMTP {where} answered {exc.smtp_code}: {text}",
                                            receiver=name, status=exc.smtp_code)
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PermanentDeliveryError(f"SMTP {where}: {clean_text(exc)}", receiver=name)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PermanentDeliveryError(
                f"TLS certificate of {where} did not verify: {clean_text(exc.verify_message)}",
                receiver=name)
        if handshake and isinstance(exc, ssl.SSLError):
            return _handshake_error(exc, where, self.spec.tls, name)
        return TransientDeliveryError(f"SMTP {where}: {type(exc).__name__}", receiver=name)


#: OpenSSL's words for "what came back was not TLS at all" (e.g. a plain SMTP greeting).
_NOT_TLS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST",
                      "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "UNEXPECTED_RECORD"})
#: The connection ended during the handshake: possibly a busy server, so worth a retry.
_CUT_OFF = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def _handshake_error(exc: ssl.SSLError, where: str, tls: str, receiver: str) -> DeliveryError:
    """A failed TLS handshake is a configuration problem (port, ``tls:`` mode, versions):
    permanent, with what to check. Only a connection cut off mid-handshake may pass."""
    if isinstance(exc, _CUT_OFF):
        return TransientDeliveryError(f"TLS handshake with {where} was cut off "
                                      f"({type(exc).__name__})", receiver=receiver)
    reason = clean_text(exc.reason or type(exc).__name__, limit=80)
    if reason in _NOT_TLS and tls == "implicit":
        return PermanentDeliveryError(
            f"TLS handshake with {where} failed: the server did not speak TLS; is "
            "`tls: implicit` right for this port? (try `starttls`)", receiver=receiver)
    if reason in _NOT_TLS:
        return PermanentDeliveryError(
            f"TLS handshake with {where} failed: the server offered STARTTLS but did not "
            "speak TLS after it", receiver=receiver)
    return PermanentDeliveryError(
        f"TLS handshake with {where} failed ({reason}); check `tls:` and the TLS versions "
        "the server accepts", receiver=receiver)


class _Deadline:
    """Shut the connection when a whole SMTP conversation outlasts ``seconds``.

    smtplib's ``timeout`` bounds each read, not the conversation: a server sending one more
    line of a never-ending reply every few seconds would otherwise hold the receiver's thread
    (and the deliver pass waiting for it) forever.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Self:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, smtp: smtplib.SMTP, sock: socket.socket) -> None:
        with self._lock:
            self._smtp, self._sock = smtp, sock
            if self.expired:
                self._shut()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shut()

    def _shut(self) -> None:
        # After STARTTLS the client's socket is a new (wrapping) object: take the current one.
        sock = getattr(self._smtp, "sock", None) or self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Watched(smtplib.SMTP):
    """An SMTP client that hands its socket to a :class:`_Deadline` as soon as it has one."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        self._deadline = deadline
        super().__init__(*args, **kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self._deadline.watch(self, sock)
        return sock


class _WatchedSMTP(_Watched):
    pass


class _WatchedSMTPS(_Watched, smtplib.SMTP_SSL):
    pass


def _tls_context(ca_file: str | None, receiver: str) -> ssl.SSLContext:
    """A verifying context (hostname and chain); ``ca_file`` adds a private CA."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise PermanentDeliveryError(f"cannot load ca_file {ca_file}: {exc}",
                                     receiver=receiver) from None


def _classify(code: int) -> type[DeliveryError]:
    """4xx may pass; anything else (5xx) will not."""
    return TransientDeliveryError if 400 <= code < 500 else PermanentDeliveryError


def _reply_text(raw: bytes | str, secrets: list[str]) -> str:
    """A server's reply line, redacted (it may echo what we sent) and bounded."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return clean_error(text, secrets, limit=200)


def build_message(notification: Notification, spec: EmailReceiver) -> EmailMessage:
    """The MIME message: headers, a plain-text part and an HTML alternative."""
    content = email_content(notification)
    message = EmailMessage()
    message["Subject"] = content.subject  # already one line: CR/LF stripped
    message["From"] = spec.sender
    message["To"] = ", ".join(spec.to)
    message["Date"] = formatdate(notification.created_at.timestamp(), usegmt=True)
    message["Message-ID"] = message_id(notification.key, spec.sender)
    if notification.thread_ref:
        message["In-Reply-To"] = notification.thread_ref
        message["References"] = notification.thread_ref
    message["Auto-Submitted"] = "auto-generated"
    message["X-Critmon-Reason"] = str(notification.reason)
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    return message


def message_id(key: str, sender: str) -> str:
    """``<key@domain>``: the same delivery always gets the same Message-ID."""
    domain = sender.rpartition("@")[2].strip(" >")
    domain = domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain or "") else "critmon.invalid"
    return f"<critmon.{re.sub(r'[^A-Za-z0-9]', '', key)[:40]}@{domain}>"
