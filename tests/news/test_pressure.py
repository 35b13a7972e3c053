"""policy_pressure: kind weight x producer share x decay, events clustered, 0 when quiet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.config.load import load_config, parse_yaml
from monitor.config.perspectives import Perspective, mineral_names, shipped_perspective
from monitor.config.rules import NewsSettings
from monitor.core.models import Frequency, Measure, Observation
from monitor.news.items import Classification, NewsItem, NewsRecord
from monitor.news.pressure import (
    PolicyEvent,
    cluster_events,
    compute_policy_pressure,
    compute_production_shares,
    policy_pressure_for,
    pressure_contributions,
    touch,
)
from monitor.news.store import NewsStore
from monitor.store.database import Store

AS_OF = datetime(2024, 9, 15, tzinfo=UTC)
SETTINGS = NewsSettings(half_life=timedelta(days=60), event_window=timedelta(days=7),
                        unknown_share=0.1)
SHARES = {"China": 0.8, "Russia": 0.1, "Tajikistan": 0.05}


def event(days_ago: float, kind: str = "export_control", country: str | None = "China",
          item_id: str = "") -> PolicyEvent:
    return PolicyEvent(item_id or f"e{days_ago}{kind}{country}",
                       AS_OF - timedelta(days=days_ago), kind, country)


@pytest.mark.parametrize(("events", "expected"), [
    pytest.param([], 0.0, id="nothing-happened-is-zero"),
    pytest.param([event(0)], 0.8 * 0.8, id="today-weight-times-share"),
    pytest.param([event(60)], 0.8 * 0.8 / 2, id="one-half-life-halves"),
    pytest.param([event(120)], 0.8 * 0.8 / 4, id="two-half-lives-quarter"),
    pytest.param([event(0, "export_ban")], 1.0 * 0.8, id="bans-weigh-more"),
    pytest.param([event(0, country="Russia")], 0.8 * 0.1, id="minor-producer-small"),
    pytest.param([event(0, country="United States")], 0.0, id="non-producer-zero"),
    pytest.param([event(0, country=None)], 0.8 * 0.1, id="unknown-actor-unknown-share"),
    pytest.param([event(0, "price_move")], 0.0, id="price-moves-weigh-nothing"),
    pytest.param([event(-1)], 0.0, id="future-events-ignored"),
    pytest.param([event(0), event(2), event(5)], 0.8 * 0.8 * 0.5 ** (5 / 60),
                 id="one-story-told-thrice-dates-from-the-first"),
    pytest.param([event(0), event(30)], 0.8 * 0.8 * (1 + 0.5 ** 0.5), id="two-events"),
    pytest.param([event(0), event(0, "export_ban")], 0.8 * 0.8 + 0.8, id="two-kinds-count"),
])
def test_compute_policy_pressure(events: list[PolicyEvent], expected: float) -> None:
    assert compute_policy_pressure(events, SHARES, AS_OF, SETTINGS) == pytest.approx(expected)


def test_pressure_with_no_production_table_uses_the_unknown_share() -> None:
    assert compute_policy_pressure([event(0)], {}, AS_OF, SETTINGS) == pytest.approx(0.8 * 0.1)


def test_kind_weights_come_from_settings() -> None:
    settings = NewsSettings(kind_weights={"export_control": 0.1})
    assert settings.kind_weights["export_ban"] == 1.0  # merged over the defaults
    assert compute_policy_pressure([event(0)], SHARES, AS_OF, settings) == pytest.approx(0.08)


def test_clusters_keep_the_first_story_and_count_the_rest() -> None:
    clusters = cluster_events([event(10), event(8), event(1), event(9, country="Russia")],
                              timedelta(days=7))
    assert [(c.at, n) for c, n in clusters] == [
        (AS_OF - timedelta(days=10), 2), (AS_OF - timedelta(days=9), 1),
        (AS_OF - timedelta(days=1), 1)]


def test_contributions_explain_each_factor() -> None:
    [only] = pressure_contributions([event(60), event(58)], SHARES, AS_OF, SETTINGS)
    assert (only.weight, only.share, only.decay, only.stories) == (0.8, 0.8, 0.5, 2)
    assert only.value == pytest.approx(0.32)


def production(country: str, value: float | None, year: int = 2024,
               series: str = "antimony:production:mine") -> Observation:
    return Observation(source="usgs", series=series, mineral="antimony",
                       measure=Measure.PRODUCTION, period=date(year, 1, 1),
                       frequency=Frequency.ANNUAL, value=value, unit="t", country=country,
                       published_at=date(year + 1, 1, 31))


def test_production_shares_from_the_latest_year_with_a_world_total() -> None:
    rows = [production("China", 48_000, 2023), production("World total", 83_000, 2023),
            production("China", 40_000), production("Russia", 40_000),
            production("Other countries", 9_000), production("World total", 100_000),
            production("Tajikistan", 22_000, 2025)]  # 2025 has no world total yet
    shares = compute_production_shares(rows, date(2025, 12, 31))
    assert shares == {"China": 0.4, "Russia": 0.4}


def test_production_shares_ignore_years_after_as_of_and_take_the_max_stage() -> None:
    rows = [production("China", 40_000), production("World total", 100_000),
            production("China", 9, series="antimony:production:refinery"),
            production("World total", 10, series="antimony:production:refinery"),
            production("China", 1, 2030), production("World total", 1, 2030)]
    assert compute_production_shares(rows, date(2025, 1, 1)) == {"China": pytest.approx(0.9)}


# ----------------------------------------------------------------------------- from the store


@pytest.fixture
def store() -> Iterator[Store]:
    opened = Store.memory()
    yield opened
    opened.close()


def record(item_id: str, at: datetime, *, kind: str = "export_control", risk: bool = True,
           country: str | None = "China", minerals: tuple[str, ...] = ("antimony",),
           dedup_of: str | None = None) -> NewsRecord:
    item = NewsItem(id=item_id, source="s", url=f"https://example.org/{item_id}",
                    title=f"Story {item_id}", published_at=at)
    return NewsRecord(item=item, canonical_url=f"example.org/{item_id}", fetched_at=at,
                      classification=Classification(kind, 0.9, risk, 0.9 if risk else 0.1),
                      minerals=minerals, country=country, dedup_of=dedup_of)


def test_policy_pressure_for_reads_items_and_production(store: Store) -> None:
    store.save_observations([production("China", 80_000, 2023),
                             production("World total", 100_000, 2023),
                             production("China", 10_000, 2024),  # published only in 2025
                             production("World total", 100_000, 2024)], fetched_at=AS_OF)
    NewsStore(store).save([
        record("a", AS_OF - timedelta(days=60)),
        record("b", AS_OF - timedelta(days=59), dedup_of="a"),      # a duplicate: not counted
        record("c", AS_OF - timedelta(days=1), kind="export_ban", risk=False),  # lifting a ban
        record("d", AS_OF - timedelta(days=1), minerals=("gallium",)),  # another mineral
        record("e", AS_OF + timedelta(days=1)),                      # not yet public
    ])
    value = policy_pressure_for(store, "antimony", AS_OF, SETTINGS)
    assert value == pytest.approx(0.8 * 0.8 * 0.5)
    assert policy_pressure_for(store, "antimony", AS_OF.date(), SETTINGS) == pytest.approx(
        0.8 * 0.8 * 0.5 ** ((60 + (24 * 3600 - 1e-6) / 86400) / 60), rel=1e-3)


def test_policy_pressure_for_is_zero_when_nothing_happened(store: Store) -> None:
    assert policy_pressure_for(store, "antimony", AS_OF, SETTINGS) == 0.0


# ----------------------------------------------------------------------------- perspectives


@pytest.fixture(scope="module")
def perspectives() -> dict[str, Perspective]:
    known = mineral_names((m.id, m.name) for m in load_config().minerals.minerals)
    return {pid: shipped_perspective(pid, known, parse_yaml) for pid in ("us", "cn", "eu")}


def gallium_and_cobalt(store: Store) -> None:
    """MCS 2026 shares (rounded): gallium refinery China 99 %; cobalt mine Congo 74 %."""
    rows = [
        Observation(source="usgs", series=f"{mineral}:production", mineral=mineral,
                    measure=Measure.PRODUCTION, period=date(2023, 1, 1),
                    frequency=Frequency.ANNUAL, value=value, unit="t", country=country,
                    published_at=date(2024, 1, 31))
        for mineral, country, value in (
            ("gallium", "China", 990), ("gallium", "Japan", 10), ("gallium", "World total", 1000),
            ("cobalt", "Congo (Kinshasa)", 740), ("cobalt", "Indonesia", 100),
            ("cobalt", "World total", 1000))]
    store.save_observations(rows, fetched_at=AS_OF)


def test_a_chinese_gallium_export_ban_threatens_the_us_and_the_eu_not_china(
        store: Store, perspectives: dict[str, Perspective]) -> None:
    gallium_and_cobalt(store)
    NewsStore(store).save([record("ga", AS_OF - timedelta(days=2), kind="export_ban",
                                  country="China", minerals=("gallium",))])
    pressure = {pid: policy_pressure_for(store, "gallium", AS_OF, SETTINGS, perspective=p)
                for pid, p in perspectives.items()}
    # kind weight 1.0 x China's 99 % x decay over two days
    expected = 1.0 * 0.99 * 0.5 ** (2 / 60)
    assert pressure == {"us": pytest.approx(expected), "eu": pytest.approx(expected),
                        "cn": 0.0}


def test_a_drc_cobalt_export_suspension_threatens_china_by_its_import_share(
        store: Store, perspectives: dict[str, Perspective]) -> None:
    gallium_and_cobalt(store)
    NewsStore(store).save([record("co", AS_OF - timedelta(days=2), kind="export_ban",
                                  country="Congo (Kinshasa)", minerals=("cobalt",))])
    decay = 0.5 ** (2 / 60)
    cn = policy_pressure_for(store, "cobalt", AS_OF, SETTINGS, perspective=perspectives["cn"])
    us = policy_pressure_for(store, "cobalt", AS_OF, SETTINGS, perspective=perspectives["us"])
    # China's table: Congo (Kinshasa) supplies 51.5 % of its cobalt raw materials (2019);
    # the US has no partner list: Congo's 74 % of world mine output.
    assert cn == pytest.approx(1.0 * 0.515 * decay)
    assert us == pytest.approx(1.0 * 0.74 * decay)
    # the EU's table: Congo (Kinshasa) 68 % of its cobalt imports (ECA 2023)
    eu = policy_pressure_for(store, "cobalt", AS_OF, SETTINGS, perspective=perspectives["eu"])
    assert eu == pytest.approx(1.0 * 0.68 * decay)


def test_a_country_not_in_the_partner_list_counts_at_most_the_unlisted_imports(
        perspectives: dict[str, Perspective]) -> None:
    cn = perspectives["cn"]
    # China's nickel: the Philippines 80 % (2022); Indonesia, 66 % of world mine output, can
    # be at most the unlisted 20 % of China's imports.
    assert touch("export_ban", "Indonesia", {"Indonesia": 0.66}, cn, "nickel", 0.1) == \
        pytest.approx(0.2)
    assert touch("export_ban", "Philippines", {"Philippines": 0.1}, cn, "nickel", 0.1) == \
        pytest.approx(0.8)
    # China's own mine disruption does touch its supply; its export ban does not
    assert touch("mine_disruption", "China", {"China": 0.7}, cn, "tungsten", 0.1) == 0.7
    assert touch("export_control", "China", {"China": 0.7}, cn, "tungsten", 0.1) == 0.0
