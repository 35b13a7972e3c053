"""The remembered and grown price series equal the full computation, whatever the stream."""

from __future__ import annotations

import random
from datetime import date

import pytest

from monitor.core.models import Frequency, Measure, Observation
from monitor.risk import prices
from monitor.risk.prices import (
    DEFAULT_PRICE_PREFERENCE,
    headline_series,
    memo_by_identity,
    price_history,
)


def _store_order(o: Observation) -> tuple[str, str, str, date, str]:
    return (str(o.measure), o.source, o.series, o.period, o.country)


def _stream(seed: int) -> list[list[Observation]]:
    """Batches of observations as a replay publishes them: mostly a new month per series,
    sometimes a revision, a gap, a non-finite value, a new series or an annual table."""
    rng = random.Random(seed)
    series = [("worldbank_pinksheet", "nickel:lme", Frequency.MONTHLY),
              ("file:x", "nickel:spot_metal", Frequency.MONTHLY),
              ("usgs_mcs", "nickel:price", Frequency.ANNUAL)]
    batches: list[list[Observation]] = []
    for step in range(60):
        batch = []
        year, month = 2000 + step // 12, step % 12 + 1
        for source, name, frequency in series[: 1 + (step > 20) + (step > 40)]:
            if frequency is Frequency.ANNUAL and month != 1:
                continue
            period = date(year, 1, 1) if frequency is Frequency.ANNUAL else date(year, month, 1)
            roll = rng.random()
            if roll < 0.1:
                continue  # a gap
            if roll < 0.2 and step > 3:  # a revision of an earlier period
                period = date(year - 1, month, 1)
            value = float("nan") if roll > 0.97 else rng.uniform(10, 20)
            batch.append(Observation(source, name, "nickel", Measure.PRICE, period, frequency,
                                     value, "USD/t", published_at=date(2000, 1, 1)))
        if step % 17 == 5:
            batch.append(Observation("usgs_mcs", "nickel:nir", "nickel",
                                     Measure.NET_IMPORT_RELIANCE, date(year, 1, 1),
                                     Frequency.ANNUAL, 40.0, "percent"))
        batches.append(batch)
    return batches


@pytest.mark.parametrize("seed", range(8))
def test_grown_headline_series_equal_the_full_computation(seed: int) -> None:
    prices.clear_caches()
    known: dict[tuple[str, str, str, date], Observation] = {}
    for batch in _stream(seed):
        for o in batch:
            known[(o.source, o.series, o.country, o.period)] = o
        rows = tuple(sorted(known.values(), key=_store_order))
        for _ in range(2):  # a second ask of the same tuple is remembered
            assert headline_series(rows, DEFAULT_PRICE_PREFERENCE) == \
                headline_series(list(rows), DEFAULT_PRICE_PREFERENCE)
            assert price_history(rows) == price_history(list(rows))


def test_lists_are_never_remembered() -> None:
    calls = []

    def count(observations, tag):
        calls.append(tag)
        return len(observations)

    rows: list[Observation] = []
    assert memo_by_identity(count, rows, "a") == memo_by_identity(count, rows, "a") == 0
    assert len(calls) == 2
    frozen = ()
    assert memo_by_identity(count, frozen, "a") == memo_by_identity(count, frozen, "a") == 0
    assert len(calls) == 3


def _with_tables(seed: int) -> list[list[Observation]]:
    """The price stream plus production tables and import reliance now and then."""
    rng = random.Random(seed)
    batches = _stream(seed)
    for step, batch in enumerate(batches):
        if step % 9 == 4:
            year = date(2000 + step // 12, 1, 1)
            for country, share in (("China", 60.0), ("Indonesia", 25.0), ("Chile", 5.0),
                                   ("World total (rounded)", 100.0)):
                batch.append(Observation(f"usgs_mcs20{step // 12 + 10}", "nickel:mine",
                                         "nickel", Measure.PRODUCTION, year, Frequency.ANNUAL,
                                         share * rng.uniform(0.8, 1.2), "t", country=country,
                                         stage="mine"))
    return batches


@pytest.mark.parametrize("seed", range(4))
def test_indicators_of_growing_tuples_equal_those_of_lists(seed: int) -> None:
    from monitor.risk.indicators import build_governance, compute_indicators
    from monitor.sources.wgi import WgiEstimate

    prices.clear_caches()
    governance = build_governance([WgiEstimate("CHN", "China", 2000, "va", -1.5),
                                   WgiEstimate("IDN", "Indonesia", 2000, "va", -0.2)])
    known: dict[tuple[str, str, str, date], Observation] = {}
    for step, batch in enumerate(_with_tables(seed)):
        for o in batch:
            known[(o.source, o.series, o.country, o.period)] = o
        rows = tuple(sorted(known.values(), key=_store_order))
        as_of = date(2000 + step // 12, step % 12 + 1, 15)
        assert compute_indicators("nickel", rows, governance, as_of=as_of) == \
            compute_indicators("nickel", list(rows), governance, as_of=as_of)


def _row(month: int, measure: Measure = Measure.PRICE) -> Observation:
    return Observation("worldbank_pinksheet", f"nickel:{measure}", "nickel", measure,
                       date(2020, month, 1), Frequency.MONTHLY, 100.0 + month, "USD")


def test_memo_growing_reuses_its_result_across_several_unread_steps() -> None:
    """A function skipped for some tuples of a lineage (a replay's price track handled them)
    is not called again when none of the steps since its last call added what it reads; one
    step that did, or a revision on the way (a new lineage), makes it compute anew."""
    prices.clear_caches()
    calls: list[int] = []

    def count(observations: tuple[Observation, ...]) -> int:
        calls.append(len(observations))
        return sum(o.measure == Measure.PRODUCTION for o in observations)

    def reads(o: Observation) -> bool:
        return o.measure == Measure.PRODUCTION

    def grown(before: tuple[Observation, ...], *added: Observation,
              revised: bool = False) -> tuple[Observation, ...]:
        after = (*before, *added)
        prices.note_growth(after, None if revised else before, added)
        return after

    first = (_row(1), _row(1, Measure.PRODUCTION))
    prices.note_growth(first, None, first)
    assert prices.memo_growing(count, reads, first) == 1
    later = grown(grown(grown(first, _row(2)), _row(3)), _row(4))  # prices only
    assert prices.memo_growing(count, reads, later) == 1
    assert calls == [2]
    read = grown(grown(later, _row(5, Measure.PRODUCTION)), _row(6))
    assert prices.memo_growing(count, reads, read) == 2
    assert calls == [2, 7]
    revised = grown(grown(read, _row(7), revised=True), _row(8))
    assert prices.memo_growing(count, reads, revised) == 2
    assert calls == [2, 7, 9]
