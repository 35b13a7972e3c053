"""The exception tree of critmon.

::

    MonitorError                   base of every error raised on purpose; ``retryable`` says if a retry may help
    ├── ConfigError                bad file, unknown key, wrong type, unknown mineral, bad duration
    ├── StoreError                 the state store cannot be opened or written (disk full, read-only)
    ├── SourceError                carries ``source`` and ``url``
    │   ├── SourceUnavailableError timeout, DNS/connection failure, 5xx, 429         retryable
    │   └── SourceFormatError      unparseable payload, HTML instead of CSV, empty body, over the size cap
    └── DeliveryError              carries ``receiver``
        ├── TransientDeliveryError 429, 5xx, timeout; carries ``retry_after_s``      retryable
        └── PermanentDeliveryError invalid token, channel_not_found, auth failure

Errors from other libraries are translated at the edge (``raise SourceFormatError(...) from exc``)
so callers catch one family per concern.
"""

from __future__ import annotations

from typing import ClassVar


class MonitorError(Exception):
    """Base class of every error critmon raises on purpose."""

    retryable: ClassVar[bool] = False


class ConfigError(MonitorError):
    """A configuration file is invalid; the message names file, key path and line where known."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.detail = message
        where = ":".join(str(p) for p in (file, line) if p)
        prefix = f"{where}: " if where else ""
        at = f"{key}: " if key else ""
        super().__init__(f"{prefix}{at}{message}")


class StoreError(MonitorError):
    """The state store cannot be opened or written."""


class SourceError(MonitorError):
    """A source could not be polled or its payload could not be used."""

    def __init__(self, message: str, *, source: str = "", url: str = "") -> None:
        self.source = source
        self.url = url
        super().__init__(message)


class SourceUnavailableError(SourceError):
    """The source did not answer usefully: network error, timeout, 5xx, 429."""

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, source: str = "", url: str = "",
                 status: int | None = None, retry_after_s: float | None = None) -> None:
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(message, source=source, url=url)


class SourceFormatError(SourceError):
    """The source answered, but the payload is not what its parser expects."""


class DeliveryError(MonitorError):
    """A notification could not be delivered to a receiver."""

    def __init__(self, message: str, *, receiver: str = "", status: int | None = None) -> None:
        self.receiver = receiver
        self.status = status
        super().__init__(message)


class TransientDeliveryError(DeliveryError):
    """Delivery failed for a reason that may pass (429, 5xx, timeout)."""

    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, receiver: str = "", status: int | None = None,
                 retry_after_s: float | None = None) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, receiver=receiver, status=status)


class PermanentDeliveryError(DeliveryError):
    """Delivery failed for a reason a retry will not fix (bad token, unknown channel)."""
