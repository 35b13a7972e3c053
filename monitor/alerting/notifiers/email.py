"""Email over SMTP: STARTTLS (default), implicit TLS or plain; optional login; many recipients.

The certificate is verified by default: ``smtplib.starttls()`` without a context would accept
any certificate, so a context from ``ssl.create_default_context(cafile=ca_file)`` is always
passed. Every connection has a timeout. A 4xx reply or a dropped connection may pass
(transient); a 5xx reply, a failed login or a certificate that does not verify will not
(permanent). When only some recipients are refused the mail went out: that is logged, not
retried (a retry would send the others a duplicate).

Each message has a deterministic ``Message-ID`` (from the delivery's idempotency key, so a
resend after a crash carries the same id) and, for a follow-up about the same alerts
(escalation, resolution, repeat), ``In-Reply-To``/``References`` to the first message, so mail
clients thread them.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from monitor.alerting.notifiers.base import SendResult, redact
from monitor.alerting.render import Notification, email_content
from monitor.config.alerting import EmailReceiver
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)


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
            exc.args = (redact(str(exc), [self._password or ""]),)
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
        try:
            context = None if spec.tls == "none" else _tls_context(spec.ca_file, self.name)
            if spec.tls == "implicit":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(spec.host, spec.port, timeout=timeout,
                                                      context=context)
            else:
                smtp = smtplib.SMTP(spec.host, spec.port, timeout=timeout)
            with smtp:
                smtp.ehlo()
                if spec.tls == "starttls":
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if spec.username:
                    smtp.login(spec.username, self._password or "")
                return smtp.send_message(message, from_addr=spec.sender, to_addrs=list(spec.to))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            status = max(codes) if codes else 550
            raise _classify(status)(
                f"all recipients refused at {where} ({', '.join(map(str, codes))})",
                receiver=self.name, status=status) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"SMTP login to {where} failed ({exc.smtp_code})",
                                         receiver=self.name, status=exc.smtp_code) from None
        except smtplib.SMTPResponseException as exc:
            text = _reply_text(exc.smtp_error)
            raise _classify(exc.smtp_code)(f"SMTP {where} answered {exc.smtp_code}: {text}", receiver=self.name,
                      status=exc.smtp_code) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentDeliveryError(f"SMTP {where}: {exc}", receiver=self.name) from None
        except ssl.SSLCertVerificationError as exc:
            raise PermanentDeliveryError(
                f"TLS certificate of {where} did not verify: {exc.verify_message}",
                receiver=self.name) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise TransientDeliveryError(f"SMTP {where}: {type(exc).__name__}",
                                         receiver=self.name) from None


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


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return re.sub(r"\s+", " ", text).strip()[:200]


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
