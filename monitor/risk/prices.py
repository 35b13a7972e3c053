"""Price series maths: the headline series of a mineral, changes over N months, returns, volatility.

Pure functions of ``(date, value)`` histories, used by the price indicators and by the market
context (:mod:`monitor.risk.market`). Changes are log changes; a period counts from the end of
its month or year (:func:`period_end`), so an annual and a monthly series compare fairly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from monitor.core.models import Frequency, Measure, Observation

#: Headline price preference among series of equal frequency, end and length: substrings of
#: the series name, best first (NdPr oxide is the rare-earth benchmark, LME cash the exchange
#: price, flake the battery grade of graphite, metal over compounds). Ties: alphabetical.
DEFAULT_PRICE_PREFERENCE = (
    "neodymium_praseodymium", "london_metal_exchange", "spot", "flake", "metal",
)

_PERIODS_PER_YEAR = {Frequency.ANNUAL: 1, Frequency.MONTHLY: 12, Frequency.DAILY: 12}

_MIN_WINDOW_SHARE = 0.75  # share of a volatility window's returns that must exist

#: Price histories remembered by the memoised series functions below. A replay evaluates the
#: same history many times per date (indicators, market context, detector series) and a history
#: that only grew at its end shares every earlier volatility window with the previous date, so
#: these caches make the replay incremental without changing a single result (the functions are
#: pure and the cached values are immutable tuples, copied out as lists).
HISTORY_CACHE_SIZE = 512
WINDOW_CACHE_SIZE = 1 << 16


def clear_caches() -> None:
    """Forget the memoised histories of this module (see ``market.clear_caches``)."""
    for cached in (_indexed_cached, _price_change_cached, _rolling_cached, _stdev):
        cached.cache_clear()


# --------------------------------------------------------------------------- prices


def latest_revision(rows: Iterable[Observation]) -> list[Observation]:
    """One observation per (series, country, period): the most recently published."""
    kept: dict[tuple[str, str, date], Observation] = {}
    for o in rows:
        key = (o.series, o.country, o.period)
        if key not in kept or (o.published_at or date.min) >= (kept[key].published_at
                                                                or date.min):
            kept[key] = o
    return list(kept.values())


def period_end(period: date, frequency: Frequency) -> date:
    """The last day of the period that starts at ``period``."""
    if frequency == Frequency.ANNUAL:
        return date(period.year, 12, 31)
    if frequency == Frequency.MONTHLY:
        following = date(period.year + period.month // 12, period.month % 12 + 1, 1)
        return following - timedelta(days=1)
    return period


@dataclass(frozen=True, slots=True)
class _PriceSeries:
    series: str
    frequency: Frequency
    rows: tuple[Observation, ...]  # one per period, sorted

    @property
    def end(self) -> date:
        return self.rows[-1].period


def _price_series(observations: Iterable[Observation]) -> list[_PriceSeries]:
    by_series: dict[tuple[str, Frequency], list[Observation]] = defaultdict(list)
    for o in observations:
        if o.measure == Measure.PRICE and o.value is not None and math.isfinite(o.value):
            by_series[(o.series, o.frequency)].append(o)
    result = []
    for (series, frequency), rows in by_series.items():
        rows = sorted(latest_revision(rows), key=lambda o: o.period)
        result.append(_PriceSeries(series, frequency, tuple(rows)))
    return result


def _preference_rank(series: str, prefer: Sequence[str]) -> int:
    return next((-i for i, word in enumerate(prefer) if word in series), -len(prefer))


def headline_series(observations: Iterable[Observation],
              prefer: Sequence[str]) -> _PriceSeries | None:
    candidates = _price_series(observations)
    if not candidates:
        return None
    rank = {Frequency.DAILY: 3, Frequency.MONTHLY: 2, Frequency.ANNUAL: 1}
    return min(candidates, key=lambda s: (-rank[s.frequency], -s.end.toordinal(),
                                          -len(s.rows), -_preference_rank(s.series, prefer),
                                          s.series))


def price_history(observations: Iterable[Observation], *,
                  prefer: Sequence[str] = DEFAULT_PRICE_PREFERENCE) -> list[tuple[date, float]]:
    """The headline price series as ``[(period, value)]``, sorted, one value per period.

    Headline: the finest frequency (monthly beats annual), then the latest end, then the
    longest, then the first ``prefer`` substring found in the series name, then the name. Where
    one period was published twice, the later publication (a revision) wins. Missing values
    leave a gap: nothing is forward-filled.
    """
    chosen = headline_series(observations, prefer)
    return [] if chosen is None else [(o.period, float(o.value or 0.0)) for o in chosen.rows]


def infer_frequency(history: Sequence[tuple[date, float]]) -> Frequency:
    """ANNUAL if every date is 1 January, MONTHLY if every date is a 1st, else DAILY."""
    if all(d.month == 1 and d.day == 1 for d, _ in history):
        return Frequency.ANNUAL
    if all(d.day == 1 for d, _ in history):
        return Frequency.MONTHLY
    return Frequency.DAILY


def _indexed(history: Sequence[tuple[date, float]],
             frequency: Frequency | None) -> tuple[Frequency, dict[int, tuple[date, float]]]:
    """Period index -> (date, value), memoised per history (callers must not mutate it)."""
    frequency = frequency or infer_frequency(history)
    return _indexed_cached(tuple(history), frequency)


@lru_cache(maxsize=HISTORY_CACHE_SIZE)
def _indexed_cached(history: tuple[tuple[date, float], ...], frequency: Frequency
                    ) -> tuple[Frequency, dict[int, tuple[date, float]]]:
    """Period index -> (date, value); conflicting duplicates of a period are dropped.

    Monthly and annual points are indexed by month or year. Daily points collapse to the last
    observation of each month (no filling). Non-positive values have no logarithm and are
    dropped.
    """
    indexed: dict[int, tuple[date, float]] = {}
    conflicts: set[int] = set()
    for when, value in sorted(history):
        if not (value > 0 and math.isfinite(value)):
            continue
        index = when.year if frequency == Frequency.ANNUAL else when.year * 12 + when.month - 1
        previous = indexed.get(index)
        if previous is not None and frequency != Frequency.DAILY and previous[1] != value:
            conflicts.add(index)  # two values for one period: which is right is unknown
        indexed[index] = (when, value)
    for index in conflicts:
        del indexed[index]
    return frequency, indexed


def steps_for_months(months: int, frequency: Frequency) -> int | None:
    if frequency == Frequency.ANNUAL:
        return months // 12 if months % 12 == 0 and months >= 12 else None
    return months


def price_change_series(history: Sequence[tuple[date, float]], months: int, *,
                        frequency: Frequency | None = None) -> list[tuple[date, float]]:
    """Log price change over ``months``, dated at its end, only where both ends exist.

    For annual data the window must be whole years (``months=12`` is one year; 1 or 3 months
    give nothing). A gap or an ambiguous duplicate period yields no change rather than a
    change over the wrong span.
    """
    frequency = frequency or infer_frequency(history)
    return list(_price_change_cached(tuple(history), months, frequency))


@lru_cache(maxsize=HISTORY_CACHE_SIZE)
def _price_change_cached(history: tuple[tuple[date, float], ...], months: int,
                         frequency: Frequency) -> tuple[tuple[date, float], ...]:
    frequency, indexed = _indexed(history, frequency)
    steps = steps_for_months(months, frequency)
    if steps is None or steps <= 0:
        return ()
    return tuple((when, math.log(value / indexed[index - steps][1]))
                 for index, (when, value) in sorted(indexed.items())
                 if index - steps in indexed)


def returns_per_window(frequency: Frequency, window_months: int | None) -> int:
    if window_months is None:
        return 5 if frequency == Frequency.ANNUAL else 12
    return max(1, window_months // 12) if frequency == Frequency.ANNUAL else window_months


@lru_cache(maxsize=WINDOW_CACHE_SIZE)
def _stdev(values: tuple[float, ...]) -> float:
    """Sample standard deviation (statistics.stdev is exact but 50x slower), memoised: the
    windows of a history's earlier points recur each time the history grows."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _returns(history: Sequence[tuple[date, float]], frequency: Frequency | None
             ) -> tuple[Frequency, list[tuple[int, date]], dict[int, float]]:
    """One-period log returns by period index, and the sorted (index, date) of every point."""
    frequency, indexed = _indexed(history, frequency)
    returns = {i: math.log(v / indexed[i - 1][1]) for i, (_, v) in indexed.items()
               if i - 1 in indexed}
    return frequency, [(i, d) for i, (d, _) in sorted(indexed.items())], returns


def window_returns(history: Sequence[tuple[date, float]], *, window_months: int | None = None,
                   frequency: Frequency | None = None) -> list[float]:
    """The one-period log returns of the window ending at the last period (gaps left out)."""
    frequency, points, returns = _returns(history, frequency)
    if not points:
        return []
    width = returns_per_window(frequency, window_months)
    end = points[-1][0]
    return [returns[i] for i in range(end - width + 1, end + 1) if i in returns]


def _rolling_volatility(history: Sequence[tuple[date, float]], window_months: int | None,
                        frequency: Frequency | None, *, last_only: bool
                        ) -> list[tuple[date, float]]:
    frequency = frequency or infer_frequency(history)
    return list(_rolling_cached(tuple(history), window_months, frequency, last_only))


@lru_cache(maxsize=HISTORY_CACHE_SIZE)
def _rolling_cached(history: tuple[tuple[date, float], ...], window_months: int | None,
                    frequency: Frequency, last_only: bool) -> tuple[tuple[date, float], ...]:
    frequency, points, returns = _returns(history, frequency)
    width = returns_per_window(frequency, window_months)
    needed = max(2, math.ceil(_MIN_WINDOW_SHARE * width))
    scale = math.sqrt(_PERIODS_PER_YEAR[frequency])
    result = []
    for index, when in points[-1:] if last_only else points:
        window = tuple(returns[i] for i in range(index - width + 1, index + 1) if i in returns)
        if len(window) >= needed:
            result.append((when, _stdev(window) * scale))
    return tuple(result)


def volatility_series(history: Sequence[tuple[date, float]], *,
                      window_months: int | None = None,
                      frequency: Frequency | None = None) -> list[tuple[date, float]]:
    """Annualised stdev of one-period log returns over a trailing window, at every point.

    The window is 12 months for monthly data and 5 years for annual data unless given; at
    least 75 % of its returns (and at least 2) must exist, gaps are never bridged.
    """
    return _rolling_volatility(history, window_months, frequency, last_only=False)


def volatility(history: Sequence[tuple[date, float]], *, window_months: int | None = None,
               frequency: Frequency | None = None) -> float | None:
    """The volatility of the window ending at the last period of ``history`` (or None)."""
    last = _rolling_volatility(history, window_months, frequency, last_only=True)
    if not last or last[0][0] != max(d for d, _ in history):
        return None
    return last[0][1]
