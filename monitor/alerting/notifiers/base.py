"""The notifier contract: ``send(notification) -> SendResult`` or a :class:`DeliveryError`.

Each integration says whether a failure may pass (``TransientDeliveryError``: 429, 5xx,
timeouts, a dropped connection; it may carry ``retry_after_s``) or will not
(``PermanentDeliveryError``: bad token, unknown channel, 5xx SMTP reply). Error messages are
written by us, never copied from a library exception that could contain a webhook URL or a
token. What a server says back (an error code, a reply line) is outside text: it goes through
:func:`clean_error`, which redacts every secret *and every token-like part of one* before it
bounds the length, so an echo of a webhook's path cannot leak, not even cut in half.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from monitor.alerting.render import Notification
from monitor.core.untrusted import clean_text, redact_secrets

#: The longest wait a receiver's ``Retry-After`` can ask for; longer (or ``inf``) waits this long.
RETRY_AFTER_MAX_S = 3600.0
#: The longest delivery error kept (in the database, the log, ``notify status``).
ERROR_MAX = 300


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a successful send returns: a reference to the message (Slack ``ts``, Message-ID)."""

    ref: str | None = None
    detail: str = ""


class Notifier(Protocol):
    """One configured receiver's integration."""

    name: str

    def send(self, notification: Notification) -> SendResult: ...


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret, and every token-like part of one, as ``[redacted]``."""
    return redact_secrets(text, [s for s in secrets if s and len(s) >= 4])


def clean_error(text: object, secrets: Iterable[str], *, limit: int = ERROR_MAX) -> str:
    """An error fit to store, log and show: secrets redacted first, then one bounded line."""
    return clean_text(redact(str(text), secrets), limit=limit)
