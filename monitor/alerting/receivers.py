"""Receivers from the config: one notifier per receiver, and the ``notify test`` message."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from monitor.alerting.deliver import idempotency_key, send_one
from monitor.alerting.notifiers.base import (
    Notifier,
    SendResult,
    clean_error,
)
from monitor.alerting.render import Locale, Notification, Reason, localized
from monitor.alerting.store import AlertStore
from monitor.config.load import Config
from monitor.store.database import Store

# =========================================================================== notifiers, tests


def build_notifiers(config: Config, state_dir: Path) -> dict[str, Notifier]:
    """One notifier per configured receiver (secrets from ``config.secrets`` only)."""
    from monitor.alerting.notifiers.alertmanager import AlertmanagerNotifier
    from monitor.alerting.notifiers.console import ConsoleNotifier
    from monitor.alerting.notifiers.email import EmailNotifier
    from monitor.alerting.notifiers.file import FileNotifier
    from monitor.alerting.notifiers.slack import SlackNotifier

    def secret(name: str, key: str) -> str | None:
        value = config.secrets.get(f"{name}.{key}")
        return value.get_secret_value() if value is not None else None

    notifiers: dict[str, Notifier] = {}
    for receiver in config.alerting.receivers:
        spec = receiver.config
        if spec.kind == "console":
            notifiers[receiver.name] = ConsoleNotifier(receiver.name)
        elif spec.kind == "file":
            notifiers[receiver.name] = FileNotifier(receiver.name, spec.path, state_dir)
        elif spec.kind == "slack":
            notifiers[receiver.name] = SlackNotifier(
                receiver.name, spec, token=secret(receiver.name, "token"),
                webhook_url=secret(receiver.name, "webhook_url"))
        elif spec.kind == "email":
            notifiers[receiver.name] = EmailNotifier(receiver.name, spec,
                                                     password=secret(receiver.name, "password"))
        elif spec.kind == "alertmanager":
            notifiers[receiver.name] = AlertmanagerNotifier(
                receiver.name, spec, password=secret(receiver.name, "password"),
                bearer_token=secret(receiver.name, "bearer_token"))
        if receiver.language != "en" and receiver.name in notifiers:
            notifiers[receiver.name] = _Localized(
                notifiers[receiver.name], Locale.of(receiver.language, config.minerals.minerals))
    return notifiers


class _Localized:
    """A receiver's notifier that renders in the receiver's language (``language: zh``)."""

    def __init__(self, inner: Notifier, locale: Locale) -> None:
        self.inner = inner
        self.name = inner.name
        self.locale = locale

    def send(self, notification: Notification) -> SendResult:
        return self.inner.send(localized(notification, self.locale))

    def __getattr__(self, attribute: str) -> object:  # close(), secrets...: the inner one's
        return getattr(self.inner, attribute)


def send_test(notifier: Notifier, now: datetime, *, store: Store | None = None,
              secrets: Iterable[str] = ()) -> tuple[bool, str]:
    """Send a clearly marked test message; record it in the delivery log when a store is given.

    Returns (ok, what happened) with secrets redacted.
    """
    key = idempotency_key("test", notifier.name, now.isoformat(), random.random())
    notification = Notification(receiver=notifier.name, reason=Reason.TEST, key=key,
                                created_at=now)
    outcome = send_one(notifier, notification)
    ok = outcome.status == "sent"
    ref = outcome.result.ref if outcome.result else None
    detail = clean_error(outcome.error, list(secrets)) if not ok else (
        f"sent{f' (ref {ref})' if ref else ''}")
    if store is not None:
        alerts = AlertStore(store)
        with alerts.transaction():
            alerts.record_test(key=key, receiver=notifier.name, now=now,
                               status="sent" if ok else "failed",
                               error=None if ok else detail, message_ref=ref)
    return ok, detail
