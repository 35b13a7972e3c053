"""The incremental price track gives what the price functions give for the same observations."""

from __future__ import annotations

import math
from datetime import date

import pytest

from monitor.backtest.inputs import _published, bundled_data
from monitor.config.load import default_config_dir, load_config
from monitor.core.models import Frequency, Measure, Observation
from monitor.risk.assess import PRICE_SERIES, price_detector_series
from monitor.risk.indicators import _dateless_price_indicators, price_period_end
from monitor.risk.market import clear_caches, compute_market_context
from monitor.risk.prices import price_points
from monitor.risk.track import PriceTrack

EVERY_SERIES = frozenset(PRICE_SERIES)


def _expected(observations: tuple[Observation, ...], mineral: str) -> dict[str, object]:
    points = price_points(observations)
    return {"indicators": _dateless_price_indicators(observations, mineral)[0],
            "end": price_period_end(mineral, observations),
            "market": compute_market_context(points), "points": list(points),
            "series": price_detector_series(points)}


def _got(track: PriceTrack, mineral: str) -> dict[str, object]:
    return {"indicators": track.indicator_values(mineral), "end": track.end,
            "market": track.market(), "points": track.points(),
            "series": track.detector_series(EVERY_SERIES)}


def _price(month: date, value: float | None, *, series: str = "NICKEL",
           source: str = "worldbank_pink_sheet", frequency: Frequency = Frequency.MONTHLY,
           measure: Measure = Measure.PRICE) -> Observation:
    return Observation(source, series, "nickel", measure, month, frequency, value, "USD/mt",
                       published_at=month)


def _months(first: date, count: int) -> list[date]:
    return [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
            for i in range(count)]


def _history(values: list[float | None], first: date = date(2000, 1, 1)) -> list[Observation]:
    return [_price(m, v) for m, v in zip(_months(first, len(values)), values, strict=True)]


@pytest.fixture(scope="module")
def data():
    return bundled_data(load_config(default_config_dir()))


@pytest.mark.parametrize("mineral", ["nickel", "platinum", "phosphate", "iron_ore"])
def test_release_by_release_on_the_bundled_data(data, mineral: str) -> None:
    """Every release of the mineral's data, in publication order from 2008: the track follows
    what it can and then equals the price functions on the same tuple; what it declines
    (a release with other series' prices, say) starts a new track, as the replay does."""
    clear_caches()
    rows = sorted((o for o in data.observations if o.mineral == mineral), key=_published)
    releases: dict[date, list[Observation]] = {}
    for o in rows:
        releases.setdefault(_published(o), []).append(o)
    held: list[Observation] = []
    track: PriceTrack | None = None
    followed = declined = 0
    for when, added in sorted(releases.items()):
        held += added
        observations = tuple(held)
        if when < date(2008, 1, 1):
            continue
        if track is not None and track.follow(observations, added):
            followed += 1
        else:
            declined += track is not None
            track = PriceTrack.of(observations)
            if track is None:
                continue
        assert track.observations is observations
        assert _got(track, mineral) == _expected(observations, mineral), when
    assert followed > 150 and declined < followed / 5


def test_gaps_and_bad_values_in_the_history_and_a_gap_after_it() -> None:
    """Missing months, a zero and a None before the track starts, then a month skipped: the
    changes and volatility windows that span a gap are left out, as in the price functions."""
    clear_caches()
    values: list[float | None] = [100.0 + 10 * math.sin(i / 3.0) for i in range(60)]
    values[10] = None
    values[20] = 0.0
    held = [o for o in _history(values) if o.period.month != 7 or o.period.year != 2002]
    track = PriceTrack.of(tuple(held))
    assert track is not None
    assert _got(track, "nickel") == _expected(tuple(held), "nickel")
    for month, value in ((date(2005, 1, 1), 111.0), (date(2005, 3, 1), 97.5),
                         (date(2005, 4, 1), 97.5), (date(2006, 4, 1), 140.0)):
        added = [_price(month, value)]
        held += added
        assert track.follow(tuple(held), added)
        assert _got(track, "nickel") == _expected(tuple(held), "nickel"), month


def test_what_the_track_declines_leaves_it_unchanged() -> None:
    clear_caches()
    held = _history([100.0 + i for i in range(40)])
    track = PriceTrack.of(tuple(held))
    assert track is not None
    before = _got(track, "nickel")
    last = held[-1].period
    declined = [
        [_price(last, 500.0)],  # a revision of the last month
        [_price(date(2002, 6, 1), 500.0)],  # an earlier month
        [_price(date(2003, 6, 15), 500.0)],  # not on the first of a month
        [_price(date(2003, 6, 1), 0.0)],  # no logarithm
        [_price(date(2003, 6, 1), math.nan)],
        [_price(date(2003, 6, 1), 140.0, series="NICKEL_SPOT")],  # another monthly series
        [_price(date(2003, 5, 1), 140.0), _price(date(2003, 5, 1), 141.0)],  # one month twice
    ]
    for added in declined:
        assert not track.follow((*held, *added), added), added
        assert _got(track, "nickel") == before
        assert track.observations == tuple(held)
    # what no price series reads, or cannot beat a monthly headline, is followed
    other = [_price(date(2003, 1, 1), 90.0, series="nickel:annual", frequency=Frequency.ANNUAL),
             _price(date(2003, 1, 1), 2.0e6, measure=Measure.PRODUCTION, series="mine")]
    assert track.follow((*held, *other), other)
    assert not track.only_prices(other)
    assert _got(track, "nickel") == _expected((*held, *other), "nickel")
    nxt = [_price(date(2003, 5, 1), 141.0)]
    assert track.only_prices(nxt)


def test_only_a_monthly_headline_gets_a_track() -> None:
    annual = [_price(date(2000 + i, 1, 1), 10.0 + i, frequency=Frequency.ANNUAL)
              for i in range(30)]
    assert PriceTrack.of(tuple(annual)) is None
    assert PriceTrack.of(()) is None
    production = [_price(date(2000, 1, 1), 5.0, measure=Measure.PRODUCTION)]
    assert PriceTrack.of(tuple(production)) is None
