"""Price series maths: the headline series of a mineral, changes over N months, returns, volatility.

Pure functions of ``(date, value)`` histories, used by the price indicators and by the market
context (:mod:`monitor.risk.market`). Changes are log changes; a period counts from the end of
its month or year (:func:`period_end`), so an annual and a monthly series compare fairly.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, TypeVar

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
HISTORY_CACHE_SIZE = 256  # a few evaluations of every priced mineral: what a replay reuses
WINDOW_CACHE_SIZE = 1 << 15


#: Results remembered per observation tuple (see :func:`memo_by_identity`): a few per mineral.
IDENTITY_CACHE_SIZE = 1024

T = TypeVar("T")


def clear_caches() -> None:
    """Forget the memoised histories of this module (see ``market.clear_caches``)."""
    _PREPARED.clear()
    _PREPARED_BY_ID.clear()
    _INTERNED.clear()
    _stdev.cache_clear()
    _BY_IDENTITY.clear()
    _LINEAGE.clear()
    _DELTAS.clear()
    _GROWN.clear()


_BY_IDENTITY: OrderedDict[tuple[Any, ...], tuple[tuple[Any, ...], Any]] = OrderedDict()


def memo_by_identity(function: Callable[..., T], observations: Sequence[Observation],
                     *others: Any) -> T:
    """``function(observations, *others)``, remembered while ``observations`` is one tuple.

    A replay passes each mineral the same tuple of observations until new data for it become
    public, so the results of pure functions of those observations (the headline price
    series, import reliance, the production tables) are computed once per change instead of
    once per date. Arguments are matched by identity (tuples and frozen values cannot change,
    and the entry holds them, so an id is never reused while remembered); a list, which
    could change between calls, is never remembered. Callers copy mutable results out.
    """
    if type(observations) is not tuple:
        return function(observations, *others)
    held = (observations, *others)
    key = (function, *map(id, held))
    found = _BY_IDENTITY.get(key)
    # the key holds one id per argument: the tuples have the same length
    if found is not None and all(map(operator.is_, found[0], held)):
        _BY_IDENTITY.move_to_end(key)
        return found[1]
    result = function(observations, *others)
    _BY_IDENTITY[key] = (held, result)
    if len(_BY_IDENTITY) > IDENTITY_CACHE_SIZE:
        _BY_IDENTITY.popitem(last=False)
    return result


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
    history: tuple[tuple[date, float], ...]  # (period, value) of each row

    @classmethod
    def of(cls, series: str, frequency: Frequency, rows: tuple[Observation, ...],
           before: _PriceSeries | None = None) -> _PriceSeries:
        """The series of ``rows``; ``before`` holds a prefix of them (its history is reused)."""
        done = before.history if before is not None else ()
        return cls(series, frequency, rows,
                   (*done, *((o.period, float(o.value or 0.0)) for o in rows[len(done):])))

    @property
    def end(self) -> date:
        return self.rows[-1].period


def _is_price(o: Observation) -> bool:
    return o.measure == Measure.PRICE and o.value is not None and math.isfinite(o.value)


def _price_series(observations: Iterable[Observation]) -> list[_PriceSeries]:
    by_series: dict[tuple[str, Frequency], list[Observation]] = defaultdict(list)
    for o in observations:
        if _is_price(o):
            by_series[(o.series, o.frequency)].append(o)
    result = []
    for (series, frequency), rows in by_series.items():
        rows = sorted(latest_revision(rows), key=lambda o: o.period)
        result.append(_PriceSeries.of(series, frequency, tuple(rows)))
    return result


# --------------------------------------------------------------------------- growing tuples
# A replay hands each mineral the tuple of observations it had plus the values just published.
# The functions below recognise that (every earlier observation still there, in the same order)
# and let a pure function of the observations reuse its previous result when nothing it reads
# was added, or grow it by what was. Anything else is computed in full.

#: Per mineral, its latest tuple of observations and their ids (None: not taken yet).
_LINEAGE: OrderedDict[str, tuple[tuple[Observation, ...], frozenset[int] | None]] = \
    OrderedDict()
#: Per tuple (by id, held): its predecessor in the lineage and what it adds to it.
_DELTAS: OrderedDict[int, tuple[tuple[Observation, ...], tuple[Observation, ...] | None,
                                tuple[Observation, ...]]] = OrderedDict()
#: Per (function, mineral): the last tuple, the other arguments and the result.
_GROWN: dict[tuple[Any, str], tuple[tuple[Observation, ...], tuple[Any, ...], Any]] = {}


def _bounded(cache: OrderedDict[Any, Any]) -> None:
    while len(cache) > HISTORY_CACHE_SIZE:
        cache.popitem(last=False)


def delta(observations: tuple[Observation, ...]
          ) -> tuple[tuple[Observation, ...] | None, tuple[Observation, ...]]:
    """The previous tuple of this tuple's mineral and the observations this one adds to it.

    ``(None, ())`` unless the tuple holds every observation of the previous one, in the same
    order, plus others (in any place): a revision or a reordering starts a new lineage.
    """
    found = _DELTAS.get(id(observations))
    if found is not None and found[0] is observations:
        return found[1], found[2]
    mineral = observations[0].mineral
    last = _LINEAGE.get(mineral)
    before: tuple[Observation, ...] | None = None
    added: tuple[Observation, ...] = ()
    if last is not None and last[1] is None:  # noted by note_growth: its ids when needed
        last = (last[0], frozenset(map(id, last[0])))
    if last is not None and len(last[1]) == len(last[0]) <= len(observations):
        previous, ids = last
        kept = [o for o in observations if id(o) in ids]
        if len(kept) == len(previous) and all(map(operator.is_, kept, previous)):
            before = previous
            added = tuple(o for o in observations if id(o) not in ids)
    _LINEAGE[mineral] = (observations, frozenset(map(id, observations)))
    _LINEAGE.move_to_end(mineral)
    _DELTAS[id(observations)] = (observations, before, added)
    _bounded(_LINEAGE)
    _bounded(_DELTAS)
    return before, added


def note_growth(observations: tuple[Observation, ...],
                before: tuple[Observation, ...] | None,
                added: tuple[Observation, ...]) -> None:
    """Tell :func:`delta` what ``observations`` adds to ``before``, the mineral's previous tuple.

    A replay files each new observation into its mineral's tuple, so it knows what
    :func:`delta` would otherwise find by comparing the two tuples: ``observations`` holds every
    observation of ``before`` in the same order, plus ``added`` (in the order of
    ``observations``). ``before`` is None when an observation was replaced (a revision): a new
    lineage.
    """
    if not observations:
        return
    mineral = observations[0].mineral
    _LINEAGE[mineral] = (observations, None)
    _LINEAGE.move_to_end(mineral)
    _DELTAS[id(observations)] = (observations, before, added if before is not None else ())
    _bounded(_LINEAGE)
    _bounded(_DELTAS)


def memo_growing(function: Callable[..., T], reads: Callable[[Observation], bool],
                 observations: Sequence[Observation], *others: Any) -> T:
    """``function(observations, *others)`` for a function that reads only the observations
    for which ``reads`` is true: its result for the mineral's previous tuple is reused when the
    new tuple only adds observations it does not read (and the other arguments are the same
    objects). Lists and empty tuples are computed every time."""
    if type(observations) is not tuple or not observations:
        return function(observations, *others)
    key = (function, observations[0].mineral)
    last = _GROWN.get(key)
    same_others = last is not None and len(last[1]) == len(others) and \
        all(map(operator.is_, last[1], others))
    if last is not None and same_others and last[0] is observations:
        return last[2]
    before, added = delta(observations)
    if last is not None and same_others and before is not None and \
            not any(map(reads, added)) and _unread_since(last[0], before, reads):
        result = last[2]
    else:
        result = function(observations, *others)
    _GROWN[key] = (observations, others, result)
    return result


#: How many earlier tuples :func:`_unread_since` walks back at most.
LINEAGE_WALK = 64


def _unread_since(old: tuple[Observation, ...], later: tuple[Observation, ...],
                  reads: Callable[[Observation], bool]) -> bool:
    """Whether ``later`` descends from ``old`` by additions only (each step remembered by
    :func:`note_growth` or :func:`delta`), none of them read: a replay that skipped the
    function for some dates (its mineral was handled without it) still reuses its result."""
    for _ in range(LINEAGE_WALK):
        if later is old:
            return True
        found = _DELTAS.get(id(later))
        if found is None or found[0] is not later or found[1] is None or \
                any(map(reads, found[2])):
            return False
        later = found[1]
    return False


def _series_of(observations: tuple[Observation, ...]) -> list[_PriceSeries]:
    """``_price_series`` of a tuple, grown from the mineral's previous tuple when possible.

    When each price the tuple adds is of a later period than any its series holds (a new
    month), each series is the old one plus the new rows by period, which is what the full
    computation gives: no revision competes, and the stable sort keeps the earlier rows in
    place (the earlier observations are in the same order).
    """
    if not observations:
        return []
    key = (_series_of, observations[0].mineral)
    last = _GROWN.get(key)
    if last is not None and last[0] is observations:
        return list(last[2].values())
    before, added = delta(observations)
    grown = None
    if last is not None and before is not None and last[0] is before:
        grown = _grown_series(last[2], added)
    if grown is None:
        grown = {(s.series, s.frequency): s for s in _price_series(observations)}
    _GROWN[key] = (observations, (), grown)
    return list(grown.values())


def _grown_series(series: dict[tuple[str, Frequency], _PriceSeries],
                  added: Sequence[Observation]) -> dict[tuple[str, Frequency], _PriceSeries] | None:
    """The series plus ``added`` when every added price is of a later period (else None)."""
    by_series: dict[tuple[str, Frequency], list[Observation]] = defaultdict(list)
    for o in added:
        if _is_price(o):
            by_series[(o.series, o.frequency)].append(o)
    result = dict(series)
    for key, rows in by_series.items():
        periods = [o.period for o in rows]
        old = series.get(key)
        if len(set(periods)) != len(periods) or (old is not None and min(periods) <= old.end):
            return None
        rows.sort(key=lambda o: o.period)
        result[key] = _PriceSeries.of(key[0], key[1], (*(old.rows if old else ()), *rows), old)
    return result


def _preference_rank(series: str, prefer: Sequence[str]) -> int:
    return next((-i for i, word in enumerate(prefer) if word in series), -len(prefer))


def headline_series(observations: Iterable[Observation],
              prefer: Sequence[str]) -> _PriceSeries | None:
    if type(observations) is tuple:
        return memo_by_identity(_headline_series, observations, prefer)
    return _headline_series(observations, prefer)


def _headline_series(observations: Iterable[Observation],
                     prefer: Sequence[str]) -> _PriceSeries | None:
    candidates = (_series_of(observations) if type(observations) is tuple
                  else _price_series(observations))
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
    return list(price_points(observations, prefer=prefer))


def price_points(observations: Iterable[Observation], *,
                 prefer: Sequence[str] = DEFAULT_PRICE_PREFERENCE
                 ) -> tuple[tuple[date, float], ...]:
    """:func:`price_history` as the remembered tuple itself, not a copy (callers must not
    change it): the memoised series functions recognise it by identity (a list copy is
    recognised point by point)."""
    chosen = headline_series(observations, prefer)
    return () if chosen is None else chosen.history


def infer_frequency(history: Sequence[tuple[date, float]]) -> Frequency:
    """ANNUAL if every date is 1 January, MONTHLY if every date is a 1st, else DAILY."""
    if all(d.month == 1 and d.day == 1 for d, _ in history):
        return Frequency.ANNUAL
    if all(d.day == 1 for d, _ in history):
        return Frequency.MONTHLY
    return Frequency.DAILY


def period_index(when: date, frequency: Frequency) -> int:
    """The period of ``when`` as a number: its year (annual) or its month since year 0."""
    return when.year if frequency == Frequency.ANNUAL else when.year * 12 + when.month - 1


class _Prepared:
    """One history's period index, points and one-period returns, plus derived series.

    Built once per (history, frequency) and kept in :data:`_PREPARED`. When the history is a
    remembered one plus a single point of a later period (monthly or annual data: what a replay
    sees at each release), it is built from that one in O(size) copies and its derived series
    extend the remembered ones by that point instead of being recomputed: earlier points depend
    only on earlier periods, so the results are those of a full computation.
    """

    __slots__ = (
        "changes",
        "frequency",
        "grown",
        "indexed",
        "latest",
        "parent",
        "points",
        "ranked",
        "returns",
        "rolling",
    )

    def __init__(self, frequency: Frequency) -> None:
        self.frequency = frequency
        self.indexed: dict[int, tuple[date, float]] = {}
        self.points: list[tuple[int, date]] = []
        self.returns: dict[int, float] = {}
        self.changes: dict[int, tuple[tuple[date, float], ...]] = {}
        self.rolling: dict[tuple[int | None, bool], tuple[tuple[date, float], ...]] = {}
        self.ranked: dict[object, tuple[tuple[tuple[date, float], ...], list[float]]] = {}
        self.parent: _Prepared | None = None
        self.latest: date | None = None  # the latest date of the history, valid or not
        self.grown: int | None = None  # the period index the parent lacked (None: none added)

    @classmethod
    def build(cls, history: tuple[tuple[date, float], ...], frequency: Frequency) -> _Prepared:
        """Period index -> (date, value); conflicting duplicates of a period are dropped.

        Monthly and annual points are indexed by month or year. Daily points collapse to the
        last observation of each month (no filling). Non-positive values have no logarithm and
        are dropped.
        """
        prepared = cls(frequency)
        indexed = prepared.indexed
        conflicts: set[int] = set()
        for when, value in sorted(history):
            if not (value > 0 and math.isfinite(value)):
                continue
            index = period_index(when, frequency)
            previous = indexed.get(index)
            if previous is not None and frequency != Frequency.DAILY and previous[1] != value:
                conflicts.add(index)  # two values for one period: which is right is unknown
            indexed[index] = (when, value)
        for index in conflicts:
            del indexed[index]
        prepared.points = [(i, d) for i, (d, _) in sorted(indexed.items())]
        prepared.latest = max((d for d, _ in history), default=None)
        prepared.returns = {i: math.log(v / indexed[i - 1][1]) for i, (_, v) in indexed.items()
                            if i - 1 in indexed}
        return prepared

    def grow(self, when: date, value: float) -> _Prepared:
        """This history plus one point of a later period than any it holds."""
        child = _Prepared(self.frequency)
        child.indexed, child.points, child.returns = (dict(self.indexed), list(self.points),
                                                      dict(self.returns))
        child.parent, self.parent = self, None  # no chains: one step back is all that is used
        child.latest = when if self.latest is None else max(self.latest, when)
        if value > 0 and math.isfinite(value):
            index = period_index(when, self.frequency)
            child.indexed[index] = (when, value)
            child.points.append((index, when))
            if index - 1 in child.indexed:
                child.returns[index] = math.log(value / child.indexed[index - 1][1])
            child.grown = index
        return child

    def ranked_values(self, key: object, points: tuple[tuple[date, float], ...],
                      value: Callable[[float], float]) -> list[float]:
        """``sorted(value(v) for _, v in points)``, remembered under ``key``; grown from the
        parent's list when ``points`` extends the parent's points under that key (the very
        same point objects: the parent's series plus the new period's)."""
        found = self.ranked.get(key)
        if found is not None and found[0] is points:
            return found[1]
        parent = self.parent
        base = parent.ranked.get(key) if parent is not None else None
        if base is not None and len(base[0]) <= len(points) and \
                all(map(operator.is_, base[0], points)):
            ranked = list(base[1])
            for _, v in points[len(base[0]):]:
                bisect.insort(ranked, value(v))
        else:
            ranked = sorted(value(v) for _, v in points)
        self.ranked[key] = (points, ranked)
        return ranked

    def change_series(self, steps: int) -> tuple[tuple[date, float], ...]:
        if steps not in self.changes:
            parent = self.parent
            if parent is not None and steps in parent.changes:
                self.changes[steps] = parent.changes[steps] + self._change_at(self.grown, steps)
            else:
                self.changes[steps] = tuple(
                    (when, math.log(value / self.indexed[index - steps][1]))
                    for index, (when, value) in sorted(self.indexed.items())
                    if index - steps in self.indexed)
        return self.changes[steps]

    def _change_at(self, index: int | None, steps: int) -> tuple[tuple[date, float], ...]:
        if index is None or index - steps not in self.indexed:
            return ()
        when, value = self.indexed[index]
        return ((when, math.log(value / self.indexed[index - steps][1])),)

    def rolling_volatility(self, window_months: int | None, last_only: bool
                           ) -> tuple[tuple[date, float], ...]:
        key = (window_months, last_only)
        if key not in self.rolling:
            parent = self.parent
            if not last_only and parent is not None and key in parent.rolling:
                # the new point's volatility: the last-point one when it was asked already
                # (the price indicators ask it first), both being _volatility_at(points[-1:])
                last = self.rolling.get((window_months, True))
                added = () if self.grown is None else last if last is not None else \
                    self._volatility_at(self.points[-1:], window_months)
                self.rolling[key] = parent.rolling[key] + added
            else:
                self.rolling[key] = self._volatility_at(
                    self.points[-1:] if last_only else self.points, window_months)
        return self.rolling[key]

    def _volatility_at(self, points: Sequence[tuple[int, date]], window_months: int | None
                       ) -> tuple[tuple[date, float], ...]:
        returns, frequency = self.returns, self.frequency
        result = []
        for index, when in points:
            value = volatility_at(returns, index, frequency, window_months)
            if value is not None:
                result.append((when, value))
        return tuple(result)


#: The same preparations by the identity of a history tuple (held, so its id is not reused):
#: a replay asks about one tuple many times, and hashing a long tuple costs more than the ask.
_PREPARED_BY_ID: OrderedDict[tuple[int, Frequency | None],
                             tuple[tuple[tuple[date, float], ...], _Prepared]] = OrderedDict()
#: Interned histories by (length, id of the first point, id of the last), see intern_history.
_INTERNED: OrderedDict[tuple[int, int, int], tuple[tuple[date, float], ...]] = OrderedDict()

_PREPARED: OrderedDict[tuple[tuple[tuple[date, float], ...], Frequency | None], _Prepared] = \
    OrderedDict()


def intern_history(history: Sequence[tuple[date, float]]) -> tuple[tuple[date, float], ...]:
    """``tuple(history)``, the very tuple remembered earlier when it holds the same points.

    A list copied from a remembered history (``price_history`` returns one; a replay's detector
    series share its points) holds the very same point objects, so it is recognised by
    identity, point by point in C, instead of by hashing every point. The interned tuple holds
    its points, so an id seen here always belongs to the point it was taken from.
    """
    if not history:
        return ()
    key = (len(history), id(history[0]), id(history[-1]))
    known = _INTERNED.get(key)
    if known is not None and (known is history or all(map(operator.is_, known, history))):
        return known
    points = history if type(history) is tuple else tuple(history)
    _INTERNED[key] = points
    _bounded(_INTERNED)
    return points


def _prepared(history: Sequence[tuple[date, float]], frequency: Frequency | None) -> _Prepared:
    """The remembered preparation of ``history`` (LRUs of ``HISTORY_CACHE_SIZE``).

    Looked up by the identity of the interned history first (:func:`intern_history`), then by
    its value. Without a ``frequency`` the inferred one is remembered too (under the key
    ``None``), so a history asked again is not scanned again to infer it.
    """
    points = intern_history(history)
    known = _PREPARED_BY_ID.get((id(points), frequency))
    if known is not None and known[0] is points:
        return known[1]
    grown = _grown_by_identity(points, frequency)
    if grown is not None:
        return grown
    found = _PREPARED.get((points, frequency))
    if found is None:
        parent = _parent(points, frequency)
        inferred = frequency or _inferred(points, parent)
        found = _PREPARED.get((points, inferred))
        if found is None:
            found = _grown(points, inferred, parent) or _Prepared.build(points, inferred)
            _PREPARED[(points, inferred)] = found
        _PREPARED[(points, frequency)] = found
    _PREPARED.move_to_end((points, frequency))
    _bounded(_PREPARED)
    _PREPARED_BY_ID[(id(points), frequency)] = (points, found)
    _bounded(_PREPARED_BY_ID)
    return found


def _grown_by_identity(points: tuple[tuple[date, float], ...], frequency: Frequency | None
                       ) -> _Prepared | None:
    """The preparation of ``points`` grown from that of its remembered prefix (found by
    identity, :func:`_parent`), remembered by identity under ``frequency`` and the inferred
    one; None when there is no such prefix or the last point does not extend it. A replay's
    histories grow a month at a time: this finds them without hashing the whole history, which
    the lookup by value costs."""
    parent = _parent(points, frequency)
    if parent is None:
        return None
    inferred = frequency or _inferred(points, parent)
    known = _PREPARED_BY_ID.get((id(points), inferred))
    found = known[1] if known is not None and known[0] is points else \
        _grown(points, inferred, parent)
    if found is None:
        return None
    for key in {frequency, inferred}:
        _PREPARED_BY_ID[(id(points), key)] = (points, found)
    _bounded(_PREPARED_BY_ID)
    return found


def _parent(points: tuple[tuple[date, float], ...], frequency: Frequency | None
            ) -> _Prepared | None:
    """The remembered preparation of ``points`` without its last point (by identity), if any."""
    if len(points) < 2:
        return None
    prefix = _INTERNED.get((len(points) - 1, id(points[0]), id(points[-2])))
    if prefix is None or not all(map(operator.is_, prefix, points)):
        return None
    known = _PREPARED_BY_ID.get((id(prefix), frequency))
    return known[1] if known is not None and known[0] is prefix else None


def _inferred(points: tuple[tuple[date, float], ...], parent: _Prepared | None) -> Frequency:
    """:func:`infer_frequency` of ``points``, from the parent's inferred frequency when known
    (every earlier date already passed the test): only the last date is looked at."""
    if parent is None:
        return infer_frequency(points)
    when = points[-1][0]
    if parent.frequency == Frequency.ANNUAL and when.month == 1 and when.day == 1:
        return Frequency.ANNUAL
    if parent.frequency in (Frequency.ANNUAL, Frequency.MONTHLY) and when.day == 1:
        return Frequency.MONTHLY
    return Frequency.DAILY


def frequency_of(history: Sequence[tuple[date, float]]) -> Frequency:
    """:func:`infer_frequency`, remembered with the history's preparation."""
    return _prepared(history, None).frequency


def _grown(history: tuple[tuple[date, float], ...], frequency: Frequency,
           parent: _Prepared | None = None) -> _Prepared | None:
    """``history`` built from its remembered prefix when it adds one later period, or None."""
    if frequency == Frequency.DAILY or len(history) < 2:
        return None
    if parent is None or parent.frequency != frequency:
        parent = _PREPARED.get((history[:-1], frequency)) or \
            _PREPARED.get((history[:-1], None))
    if parent is None or parent.frequency != frequency or parent.latest is None:
        return None
    when, value = history[-1]
    if period_index(when, frequency) <= period_index(parent.latest, frequency):
        return None
    return parent.grow(when, value)


def _indexed(history: Sequence[tuple[date, float]],
             frequency: Frequency | None) -> tuple[Frequency, dict[int, tuple[date, float]]]:
    """Period index -> (date, value), memoised per history (callers must not mutate it)."""
    prepared = _prepared(history, frequency)
    return prepared.frequency, prepared.indexed


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
    prepared = _prepared(history, frequency)
    steps = steps_for_months(months, prepared.frequency)
    if steps is None or steps <= 0:
        return []
    return list(prepared.change_series(steps))


def change_points(history: Sequence[tuple[date, float]], months: int, *,
                  frequency: Frequency | None = None) -> tuple[tuple[date, float], ...]:
    """:func:`price_change_series` as the remembered tuple, not a copy (for reading)."""
    prepared = _prepared(history, frequency)
    steps = steps_for_months(months, prepared.frequency)
    if steps is None or steps <= 0:
        return ()
    return prepared.change_series(steps)


def latest_price_change(history: Sequence[tuple[date, float]], months: int, *,
                        frequency: Frequency | None = None) -> tuple[date, float] | None:
    """The last point of :func:`price_change_series` (None when it is empty), without
    copying the series."""
    prepared = _prepared(history, frequency)
    steps = steps_for_months(months, prepared.frequency)
    if steps is None or steps <= 0:
        return None
    changes = prepared.change_series(steps)
    return changes[-1] if changes else None


def ranked_abs_changes(history: Sequence[tuple[date, float]], months: int, *,
                       frequency: Frequency | None = None) -> list[float]:
    """The absolute values of :func:`price_change_series`, sorted (callers must not change
    the list): remembered with the history and grown with it, for percentiles."""
    prepared = _prepared(history, frequency)
    steps = steps_for_months(months, prepared.frequency)
    if steps is None or steps <= 0:
        return []
    return prepared.ranked_values(("abs_change", steps), prepared.change_series(steps), abs)


def ranked_volatility(history: Sequence[tuple[date, float]], *,
                      frequency: Frequency | None = None) -> list[float]:
    """The values of :func:`volatility_series` (default window), sorted (callers must not
    change the list): remembered with the history and grown with it, for percentiles."""
    prepared = _prepared(history, frequency)
    return prepared.ranked_values(("volatility", None), prepared.rolling_volatility(None, False),
                                  float)


def latest_date(history: Sequence[tuple[date, float]], *,
                frequency: Frequency | None = None) -> date | None:
    """``max`` of the history's dates, remembered with the history."""
    return _prepared(history, frequency).latest


def returns_per_window(frequency: Frequency, window_months: int | None) -> int:
    if window_months is None:
        return 5 if frequency == Frequency.ANNUAL else 12
    return max(1, window_months // 12) if frequency == Frequency.ANNUAL else window_months


def volatility_at(returns: Mapping[int, float], index: int, frequency: Frequency,
                  window_months: int | None) -> float | None:
    """The annualised volatility of the window of one-period ``returns`` (by period index)
    ending at period ``index``, or None when too few of its returns exist (see
    :func:`volatility_series`)."""
    width = returns_per_window(frequency, window_months)
    window = tuple([returns[i] for i in range(index - width + 1, index + 1) if i in returns])
    if len(window) < max(2, math.ceil(_MIN_WINDOW_SHARE * width)):
        return None
    return _stdev(window) * math.sqrt(_PERIODS_PER_YEAR[frequency])


def period_values(history: Sequence[tuple[date, float]], frequency: Frequency | None = None
                  ) -> tuple[dict[int, tuple[date, float]], dict[int, float]]:
    """Copies of the history's valid points by period index (:func:`period_index`) and of
    its one-period log returns by the index of their end: what a replay's price track
    (``monitor.risk.track``) starts from and grows."""
    prepared = _prepared(history, frequency)
    return dict(prepared.indexed), dict(prepared.returns)


@lru_cache(maxsize=WINDOW_CACHE_SIZE)
def _stdev(values: tuple[float, ...]) -> float:
    """Sample standard deviation (statistics.stdev is exact but 50x slower), memoised: the
    windows of a history's earlier points recur each time the history grows."""
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum([(v - mean) ** 2 for v in values]) / (len(values) - 1))


def _returns(history: Sequence[tuple[date, float]], frequency: Frequency | None
             ) -> tuple[Frequency, list[tuple[int, date]], dict[int, float]]:
    """One-period log returns by period index, and the sorted (index, date) of every point."""
    prepared = _prepared(history, frequency)
    return prepared.frequency, prepared.points, prepared.returns


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
    return list(_prepared(history, frequency).rolling_volatility(window_months, last_only))


def volatility_series(history: Sequence[tuple[date, float]], *,
                      window_months: int | None = None,
                      frequency: Frequency | None = None) -> list[tuple[date, float]]:
    """Annualised stdev of one-period log returns over a trailing window, at every point.

    The window is 12 months for monthly data and 5 years for annual data unless given; at
    least 75 % of its returns (and at least 2) must exist, gaps are never bridged.
    """
    return _rolling_volatility(history, window_months, frequency, last_only=False)


def volatility_points(history: Sequence[tuple[date, float]], *,
                      frequency: Frequency | None = None) -> tuple[tuple[date, float], ...]:
    """:func:`volatility_series` (default window) as the remembered tuple, not a copy."""
    return _prepared(history, frequency).rolling_volatility(None, False)


def volatility(history: Sequence[tuple[date, float]], *, window_months: int | None = None,
               frequency: Frequency | None = None) -> float | None:
    """The volatility of the window ending at the last period of ``history`` (or None)."""
    last = _rolling_volatility(history, window_months, frequency, last_only=True)
    if not last or last[0][0] != _prepared(history, frequency).latest:
        return None
    return last[0][1]
