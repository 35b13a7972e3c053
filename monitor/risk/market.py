"""The market factor: how unusual a mineral's latest price behaviour is, in [0, 1], and why.

Compares the latest change over ``change_months`` and the latest volatility with the mineral's
own history (percentiles, combined as a chi-square stress), or, when that history is short,
with a reference volatility for a typical metal (:class:`MarketParams`). Pure.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Protocol

from monitor.core.models import Frequency
from monitor.risk import prices
from monitor.risk.prices import (
    HISTORY_CACHE_SIZE,
    window_returns,
)


@dataclass(frozen=True, slots=True)
class MarketParams:
    """How the market factor is computed; part of the method version.

    ``reference_annual_sigma`` is the stdev of annual log changes of annual-average prices for
    a typical metal: 0.23 is the median over the eleven Pink Sheet metal and mineral series,
    1960-2025. It stands in for a mineral's own history when that is shorter than
    ``min_history`` changes (the five-year USGS MCS price tables).
    """

    change_months: int = 3
    min_history: int = 24
    reference_annual_sigma: float = 0.23


MARKET_PARAMS = MarketParams()


@dataclass(frozen=True, slots=True)
class MarketContext:
    """How unusual the latest price behaviour is (``value`` in [0, 1]), and why."""

    value: float | None
    mode: str  # "own_history", "reference" or "none"
    change: float | None = None
    change_months: int | None = None
    change_percentile: float | None = None
    volatility: float | None = None
    volatility_percentile: float | None = None
    history_points: int = 0
    latest: date | None = None
    note: str = ""
    reason: str = ""
    params: MarketParams = MARKET_PARAMS


# --------------------------------------------------------------------------- market


def _percentile(value: float, history: Sequence[float]) -> float:
    """Mid-rank empirical percentile of ``value`` within ``history`` (which includes it)."""
    below = sum(map(value.__gt__, history))  # x < value, counted in C
    equal = sum(map(value.__eq__, history))
    return (below + 0.5 * equal) / len(history)


def _ranked_percentile(value: float, ranked: Sequence[float]) -> float:
    """:func:`_percentile` of ``value`` within ``ranked`` (the history, sorted): the same
    counts (below, equal), found by bisection instead of a pass over the history."""
    below = bisect.bisect_left(ranked, value)
    equal = bisect.bisect_right(ranked, value) - below
    return (below + 0.5 * equal) / len(ranked)


def _stress(percentile: float) -> float:
    """0 up to the median (ordinary or calm), rising to 1 at the most extreme on record."""
    return max(0.0, 2.0 * percentile - 1.0)


def _chi2_cdf(x: float, dof: int) -> float:
    """P(chi-square with ``dof`` degrees of freedom <= x), by the lower-gamma series."""
    if x <= 0:
        return 0.0
    a, half = dof / 2.0, x / 2.0
    if half > a + 60:
        return 1.0
    term = total = 1.0 / a
    k = 0
    while term > 1e-12 * total and k < 1000:
        k += 1
        term *= half / (a + k)
        total += term
    return min(1.0, total * math.exp(a * math.log(half) - half - math.lgamma(a)))


def clear_caches() -> None:
    """Forget every memoised price history (benchmarks start cold; nothing else needs this)."""
    prices.clear_caches()
    _MARKET.clear()


def compute_market_context(history: Sequence[tuple[date, float]], *,
                           frequency: Frequency | None = None,
                           params: MarketParams = MARKET_PARAMS) -> MarketContext:
    """The market factor M from a price history (``indicators.price_history``).

    M is the mean of two percentiles: of the latest absolute log change (3 months for monthly
    data, 1 year for annual) and of the latest volatility (12 months / 5 years). With at least
    ``min_history`` changes they are taken within the mineral's own history; with fewer, within
    a reference distribution for a typical metal (normal changes with
    ``reference_annual_sigma``; chi-square for the sample volatility).
    """
    if not history:
        return MarketContext(None, "none", reason="no price series")
    points = prices.intern_history(history)
    frequency = frequency or prices.frequency_of(points)
    key = (id(points), frequency, params)
    known = _MARKET.get(key)
    if known is not None and known[0] is points:
        return known[1]
    context = _market_context(points, frequency, params)
    _MARKET[key] = (points, context)
    while len(_MARKET) > HISTORY_CACHE_SIZE:
        _MARKET.popitem(last=False)
    return context


#: Market contexts by the identity of the interned history (held), see ``intern_history``.
_MARKET: OrderedDict[tuple[int, Frequency, MarketParams],
                     tuple[tuple[tuple[date, float], ...], MarketContext]] = OrderedDict()


class PriceView(Protocol):
    """What the market factor reads of one price history: its length, latest date, change
    series, default-window volatility series, those sorted, and the last window's returns.
    :class:`_Remembered` reads the memoised functions of ``monitor.risk.prices``; a replay's
    incremental price track (``monitor.risk.track``) keeps its own."""

    def __len__(self) -> int: ...

    def latest(self) -> date | None: ...

    def change_points(self, months: int) -> Sequence[tuple[date, float]]: ...

    def ranked_abs_changes(self, months: int) -> Sequence[float]: ...

    def volatility_points(self) -> Sequence[tuple[date, float]]: ...

    def ranked_volatility(self) -> Sequence[float]: ...

    def window_returns(self) -> Sequence[float]: ...


class _Remembered:
    """:class:`PriceView` of a history through the memoised price functions."""

    __slots__ = ("frequency", "history")

    def __init__(self, history: tuple[tuple[date, float], ...], frequency: Frequency) -> None:
        self.history, self.frequency = history, frequency

    def __len__(self) -> int:
        return len(self.history)

    def latest(self) -> date | None:
        return prices.latest_date(self.history, frequency=self.frequency)

    def change_points(self, months: int) -> Sequence[tuple[date, float]]:
        return prices.change_points(self.history, months, frequency=self.frequency)

    def ranked_abs_changes(self, months: int) -> Sequence[float]:
        return prices.ranked_abs_changes(self.history, months, frequency=self.frequency)

    def volatility_points(self) -> Sequence[tuple[date, float]]:
        return prices.volatility_points(self.history, frequency=self.frequency)

    def ranked_volatility(self) -> Sequence[float]:
        return prices.ranked_volatility(self.history, frequency=self.frequency)

    def window_returns(self) -> Sequence[float]:
        return window_returns(self.history, frequency=self.frequency)


def _market_context(history: tuple[tuple[date, float], ...], frequency: Frequency,
                    params: MarketParams) -> MarketContext:
    """Remembered per history: a replay asks again whenever the history did not change."""
    return market_context_of(_Remembered(history, frequency), frequency, params)


def market_context_of(view: PriceView, frequency: Frequency,
                      params: MarketParams = MARKET_PARAMS) -> MarketContext:
    """:func:`compute_market_context` of the history ``view`` reads (of ``frequency``)."""
    months = 12 if frequency == Frequency.ANNUAL else params.change_months
    changes = view.change_points(months)
    latest = view.latest()
    assert latest is not None  # a history with points
    if not changes or changes[-1][0] != latest:
        return MarketContext(None, "none", history_points=len(view), latest=latest,
                             reason=f"no {months}-month price change at {latest.isoformat()}"
                             f" ({len(view)} price point(s))")
    change = abs(changes[-1][1])
    if len(changes) >= params.min_history:
        context = _own_history(view, changes, change, months, latest)
    else:
        context = _reference(view, frequency, changes, change, months, latest, params)
    return context if context.params is params else replace(context, params=params)


def _own_history(view: PriceView, changes: Sequence[tuple[date, float]], change: float,
                 months: int, latest: date) -> MarketContext:
    change_pct = _ranked_percentile(change, view.ranked_abs_changes(months))
    vols = view.volatility_points()
    vol = vol_pct = None
    if vols and vols[-1][0] == latest:
        vol = vols[-1][1]
        vol_pct = _ranked_percentile(vol, view.ranked_volatility())
    parts = [_stress(p) for p in (change_pct, vol_pct) if p is not None]
    note = (f"|{months}m change| {change:.3f} at percentile {change_pct:.2f} of "
            f"{len(changes)} since {changes[0][0]:%Y-%m}")
    note += (f"; volatility {vol:.3f} at percentile {vol_pct:.2f} of {len(vols)}"
             if vol is not None and vol_pct is not None else "; no volatility at the latest "
             "period")
    return MarketContext(sum(parts) / len(parts), "own_history", change, months, change_pct,
                         vol, vol_pct, len(view), latest, note)


def _reference(view: PriceView, frequency: Frequency,
               changes: Sequence[tuple[date, float]], change: float, months: int,
               latest: date, params: MarketParams) -> MarketContext:
    sigma = params.reference_annual_sigma * math.sqrt(months / 12)
    change_pct = math.erf(change / (sigma * math.sqrt(2.0)))
    returns = view.window_returns()
    per_period = params.reference_annual_sigma / math.sqrt(
        1 if frequency == Frequency.ANNUAL else 12)
    vol = vol_pct = None
    if len(returns) >= 3:
        mean = sum(returns) / len(returns)
        sample_var = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
        vol = math.sqrt(sample_var)
        vol_pct = _chi2_cdf((len(returns) - 1) * sample_var / per_period**2, len(returns) - 1)
    parts = [_stress(p) for p in (change_pct, vol_pct) if p is not None]
    note = (f"own history too short ({len(changes)} changes < {params.min_history}): against "
            f"a typical metal (annual sigma {params.reference_annual_sigma:g}); "
            f"|{months}m change| {change:.3f} at percentile {change_pct:.2f}")
    note += (f"; volatility of {len(returns)} returns {vol:.3f} at percentile {vol_pct:.2f}"
             if vol is not None and vol_pct is not None else "; too few returns for volatility")
    return MarketContext(sum(parts) / len(parts), "reference", change, months, change_pct,
                         vol, vol_pct, len(view), latest, note)
