"""Plain value types shared by the pure core and the I/O edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Measure(StrEnum):
    """What an observation measures."""

    PRICE = "price"
    NET_IMPORT_RELIANCE = "net_import_reliance"
    PRODUCTION = "production"
    RESERVES = "reserves"
    TRADE_WEIGHT = "trade_weight"  # a monthly trade flow's net weight, kg (monitor.core.trade)
    TRADE_VALUE = "trade_value"  # the same flow's value, USD


class Frequency(StrEnum):
    """How often a series has a value: annual, monthly or daily."""

    ANNUAL = "A"
    MONTHLY = "M"
    DAILY = "D"


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one series for one period, as a source published it.

    The natural key is ``(source, series, country, period)``: saving the same observation
    twice is harmless. ``period`` is the first day of the period the value describes
    (1 March 2022 for March 2022, 1 January 2024 for the year 2024). ``published_at`` is when
    the value became public, so an evaluation "as of" a date uses only what was known then;
    ``None`` means "when we fetched it".
    """

    source: str
    series: str
    mineral: str
    measure: Measure
    period: date
    frequency: Frequency
    value: float | None
    unit: str
    country: str = ""
    stage: str = ""
    qualifier: str = ""
    published_at: date | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one HTTP (or file://) fetch returned; ``not_modified`` for a 304."""

    url: str
    status: int
    body: bytes
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    elapsed_s: float = 0.0


class SignalState(StrEnum):
    """Whether a detector could judge a series at all."""

    OK = "ok"
    INSUFFICIENT_HISTORY = "insufficient_history"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class Signal:
    """What evaluating one rule for one mineral said, at one evaluation time.

    ``firing`` with a ``level`` (e.g. ``"high"``, ``"critical"``) when the detector fires;
    ``state`` says when it could not judge (never a silent pass). ``labels`` identify the alert
    instance (``alertname``, ``mineral``, ``indicator``, ...); ``annotations`` carry text only
    (summary, the risk breakdown, source links) and never change the fingerprint.
    """

    rule: str
    mineral: str
    indicator: str
    firing: bool
    level: str | None = None
    value: float | None = None
    threshold: float | None = None
    as_of: date | None = None
    state: SignalState = SignalState.OK
    reason: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
