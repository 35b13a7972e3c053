"""The notifier contract: ``send(notification) -> SendResult`` or a :class:`DeliveryError`.

Each integration says whether a failure may pass (``TransientDeliveryError``: 429, 5xx,
timeouts, a dropped connection; it may carry ``retry_after_s``) or will not
(``PermanentDeliveryError``: bad token, unknown channel, 5xx SMTP reply). Error messages are
written by us, never copied from a library exception that could contain a webhook URL or a
token, and are passed through :func:`redact` as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from monitor.alerting.render import Notification


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
    """Replace every secret value in ``text`` with ``[redacted]``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text
