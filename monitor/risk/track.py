"""An incremental price model of one mineral: its monthly headline series grown a month at a time.

A replay re-assesses every priced mineral at each monthly price release. Through the
memoised price functions (:mod:`monitor.risk.prices`) that costs hundreds of small look-ups
and copies of the whole history per mineral and release; a :class:`PriceTrack` instead holds
the series' state (points by period, one-period returns, the 1/3/12-month change series, the
volatility series and the sorted values the market factor ranks against) and adds a release's
points in place. The price indicators and the market context are then built from it by the
very builders the live path uses (:func:`~monitor.risk.indicators.price_indicator_values`,
:func:`~monitor.risk.market.market_context_of`), with the same arithmetic on the same
numbers: the results are equal, which tests/risk/test_track.py checks release by release.

A track only follows what a replay sees at almost every release: a monthly headline series
whose new observations are later, positive prices of that series, or observations no price
series reads. :meth:`PriceTrack.follow` declines anything else (a revision, another monthly
series, a date not on the first of a month), and the caller then assesses the mineral the
ordinary way. Pure.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Sequence
from datetime import date

from monitor.core.models import Frequency, Measure, Observation
from monitor.risk.indicators import IndicatorValue, price_indicator_values
from monitor.risk.market import MarketContext, market_context_of
from monitor.risk.prices import (
    DEFAULT_PRICE_PREFERENCE,
    change_points,
    frequency_of,
    headline_series,
    latest_date,
    period_end,
    period_index,
    period_values,
    ranked_abs_changes,
    ranked_volatility,
    volatility,
    volatility_at,
    volatility_points,
)

Series = list[tuple[date, float]]

_MONTHLY = Frequency.MONTHLY
_CHANGE_MONTHS = (1, 3, 12)  # the price change indicators (and the detector series)
_MARKET_MONTHS = 3  # MarketParams.change_months: the change the market factor ranks


class PriceTrack:
    """The monthly headline price series of one tuple of observations, and what the price
    indicators, the market factor and the detector series read of it."""

    __slots__ = ("changes", "first", "history", "indexed", "key", "last", "last_index",
                 "newest", "observations", "ranked_changes", "ranked_vols", "returns",
                 "vol_12", "vol_36", "vols")

    def __init__(self) -> None:
        self.observations: tuple[Observation, ...] = ()
        self.key: tuple[str, Frequency] = ("", _MONTHLY)
        self.last: Observation | None = None  # the series' last row
        self.first: date = date.min
        self.history: Series = []  # (period, value) of every row
        self.indexed: dict[int, tuple[date, float]] = {}  # valid points by period index
        self.returns: dict[int, float] = {}
        self.last_index: int | None = None  # the latest valid point's period index
        self.newest: date | None = None  # the latest date, valid or not
        self.changes: dict[int, Series] = {}
        self.vols: Series = []  # default (12-month) window, at every point that has one
        self.ranked_changes: list[float] = []  # |3-month changes|, sorted
        self.ranked_vols: list[float] = []
        self.vol_12: float | None = None  # the volatility at the latest period
        self.vol_36: float | None = None

    @classmethod
    def of(cls, observations: tuple[Observation, ...]) -> PriceTrack | None:
        """The track of the observations' headline series, when it is a monthly one (by its
        observations and by its dates, as the market factor infers it); else None."""
        chosen = headline_series(observations, DEFAULT_PRICE_PREFERENCE)
        if chosen is None or chosen.frequency != _MONTHLY:
            return None
        history = chosen.history
        if frequency_of(history) != _MONTHLY:
            return None
        track = cls()
        track.observations = observations
        track.key = (chosen.series, chosen.frequency)
        track.last = chosen.rows[-1]
        track.first = history[0][0]
        track.history = list(history)
        track.indexed, track.returns = period_values(history, _MONTHLY)
        track.last_index = max(track.indexed, default=None)
        track.newest = latest_date(history, frequency=_MONTHLY)
        track.changes = {m: list(change_points(history, m, frequency=_MONTHLY))
                         for m in _CHANGE_MONTHS}
        track.vols = list(volatility_points(history, frequency=_MONTHLY))
        track.ranked_changes = list(ranked_abs_changes(history, _MARKET_MONTHS,
                                                       frequency=_MONTHLY))
        track.ranked_vols = list(ranked_volatility(history, frequency=_MONTHLY))
        track.vol_12 = volatility(history, frequency=_MONTHLY)
        track.vol_36 = volatility(history, window_months=36, frequency=_MONTHLY)
        return track

    def follow(self, observations: tuple[Observation, ...], added: Sequence[Observation]
               ) -> bool:
        """Become the track of ``observations``, which are this track's plus ``added``; False,
        unchanged, when the headline series could change otherwise than by later points.

        Each added observation must be a positive price of this series, of a later month than
        any it holds, or one that no price series reads (not a price, or no finite value) or
        that cannot be the headline (an annual series never beats a monthly one).
        """
        rows = sorted((o for o in added if (o.series, o.frequency) == self.key
                       and o.measure == Measure.PRICE), key=lambda o: o.period)
        end = self.last.period if self.last is not None else date.min
        for o in rows:
            value = o.value
            if value is None or not (value > 0 and math.isfinite(value)) \
                    or o.period <= end or o.period.day != 1:
                return False
            end = o.period
        for o in added:
            if o.measure == Measure.PRICE and o.value is not None and math.isfinite(o.value) \
                    and (o.series, o.frequency) != self.key and o.frequency != Frequency.ANNUAL:
                return False
        for o in rows:
            self._add(o)
        self.observations = observations
        return True

    def only_prices(self, added: Sequence[Observation]) -> bool:
        """Whether ``added`` (that :meth:`follow` took) are all points of this series, from a
        source the concentration indicators do not read (not a USGS MCS table): then the
        other indicators of the mineral are what they were."""
        return bool(added) and all(
            (o.series, o.frequency) == self.key and o.measure == Measure.PRICE
            and not o.source.startswith("usgs_mcs") for o in added)

    def _add(self, row: Observation) -> None:
        """One later, positive monthly point: what ``_Prepared.grow`` and the series
        extended from it compute for it."""
        when, value = row.period, float(row.value or 0.0)
        index = period_index(when, _MONTHLY)
        indexed = self.indexed
        self.history.append((when, value))
        indexed[index] = (when, value)
        previous = indexed.get(index - 1)
        if previous is not None:
            self.returns[index] = math.log(value / previous[1])
        for months in _CHANGE_MONTHS:
            base = indexed.get(index - months)
            if base is not None:
                change = math.log(value / base[1])
                self.changes[months].append((when, change))
                if months == _MARKET_MONTHS:
                    bisect.insort(self.ranked_changes, abs(change))
        self.vol_12 = volatility_at(self.returns, index, _MONTHLY, None)
        if self.vol_12 is not None:
            self.vols.append((when, self.vol_12))
            bisect.insort(self.ranked_vols, self.vol_12)
        self.vol_36 = volatility_at(self.returns, index, _MONTHLY, 36)
        self.last, self.last_index, self.newest = row, index, when

    # ------------------------------------------------------------------ what is read of it

    @property
    def end(self) -> date:
        """The end of the last price period (``price_age_days`` counts from it)."""
        assert self.last is not None
        return period_end(self.last.period, _MONTHLY)

    def indicator_values(self, mineral: str) -> dict[str, IndicatorValue]:
        """The price indicators with the age left at 0 (``_dateless_price_indicators``)."""
        assert self.last is not None

        def latest_change(months: int) -> tuple[date, float] | None:
            changes = self.changes[months]
            return changes[-1] if changes else None

        def latest_volatility(window: int | None) -> float | None:
            return self.vol_36 if window == 36 else self.vol_12

        return price_indicator_values(mineral, self.key[0], _MONTHLY, self.last,
                                      len(self.history), self.first, latest_change,
                                      latest_volatility)

    def market(self) -> MarketContext:
        """``compute_market_context`` of the history (default parameters)."""
        return market_context_of(self, _MONTHLY)

    def points(self) -> Series:
        """``price_history``: a copy of the history."""
        return list(self.history)

    def detector_series(self, only: Collection[str]) -> dict[str, Series]:
        """``price_detector_series(history, only=only)``: copies (the track grows on)."""
        series: dict[str, Series] = {}
        if "price" in only:
            series["price"] = list(self.history)
        for months in _CHANGE_MONTHS:
            name = f"price_change_{months}m"
            if name in only:
                series[name] = list(self.changes[months])
        if "price_volatility" in only:
            series["price_volatility"] = list(self.vols)
        return series

    # ------------------------------------------------------------------ market.PriceView

    def __len__(self) -> int:
        return len(self.history)

    def latest(self) -> date | None:
        return self.newest

    def change_points(self, months: int) -> Sequence[tuple[date, float]]:
        return self.changes[months] if months in self.changes else \
            change_points(tuple(self.history), months, frequency=_MONTHLY)

    def ranked_abs_changes(self, months: int) -> Sequence[float]:
        if months == _MARKET_MONTHS:
            return self.ranked_changes
        return ranked_abs_changes(tuple(self.history), months, frequency=_MONTHLY)

    def volatility_points(self) -> Sequence[tuple[date, float]]:
        return self.vols

    def ranked_volatility(self) -> Sequence[float]:
        return self.ranked_vols

    def window_returns(self) -> Sequence[float]:
        index = self.last_index
        if index is None:
            return []
        return [self.returns[i] for i in range(index - 11, index + 1) if i in self.returns]
