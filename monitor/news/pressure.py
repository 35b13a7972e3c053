"""The ``policy_pressure`` indicator: recent supply-restricting events, weighted and decayed.

For one mineral, each supply-risk event counts ``kind weight x share x 0.5 ** (age / half_life)``
where ``share`` is how much the event touches the supply of the perspective's economy
(:func:`touch`): by default the acting country's share of world production of that mineral; 0
for an export restriction by the economy itself (not a supply threat to it); the acting
country's share of the economy's imports where its import partners are known. Stories of
the same (country, kind) within ``event_window`` of the first one are one event: ten outlets
reporting one export ban do not make ten bans. Nothing happened means exactly 0. The risk model
maps the sum to [0, 1) with ``1 - exp(-policy_pressure)``.

``compute_policy_pressure`` is pure; ``policy_pressure_for`` reads the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from monitor.config.perspectives import US, Perspective
from monitor.config.rules import NewsSettings
from monitor.core.countries import is_country, normalise_name
from monitor.core.models import Measure
from monitor.news.store import NewsStore
from monitor.store.database import Store

WORLD_TOTAL_PREFIX = "world total"


@dataclass(frozen=True, slots=True)
class PolicyEvent:
    """One classified supply-risk item, as the pressure formula sees it."""

    item_id: str
    at: datetime
    kind: str
    country: str | None


@dataclass(frozen=True, slots=True)
class Contribution:
    """One event's part of the pressure, with each factor (for explanations)."""

    event: PolicyEvent
    weight: float
    share: float
    decay: float
    stories: int

    @property
    def value(self) -> float:
        return self.weight * self.share * self.decay


def cluster_events(events: Iterable[PolicyEvent], window: timedelta) -> list[tuple[PolicyEvent,
                                                                                   int]]:
    """Collapse stories of one (country, kind) within ``window`` of the first into one event.

    Returns (first story, number of stories) pairs, oldest first.
    """
    groups: dict[tuple[str, str], list[PolicyEvent]] = defaultdict(list)
    for event in sorted(events, key=lambda e: (e.at, e.item_id)):
        groups[(event.country or "", event.kind)].append(event)
    clusters: list[tuple[PolicyEvent, int]] = []
    for members in groups.values():
        first, count = members[0], 1
        for event in members[1:]:
            if event.at - first.at <= window:
                count += 1
            else:
                clusters.append((first, count))
                first, count = event, 1
        clusters.append((first, count))
    return sorted(clusters, key=lambda c: (c[0].at, c[0].item_id))


#: Kinds that restrict what the acting country sends abroad: by the economy itself, they do
#: not threaten its own supply.
OUTBOUND_KINDS = frozenset({"export_ban", "export_control", "export_quota"})


def touch(kind: str, country: str | None, shares: Mapping[str, float],
          perspective: Perspective, mineral: str, unknown: float) -> float:
    """How much an event of ``kind`` by ``country`` touches the economy's supply of ``mineral``.

    * an export restriction by a member of the economy: 0 (its own supply is not threatened);
    * the economy's import partners known: the country's share of its imports; a country not
      listed gets its world share, at most the unlisted part of the imports;
    * otherwise: the country's share of world production (what an importer on the world
      market faces), ``unknown`` when the actor or the production table is unknown.
    """
    if kind in OUTBOUND_KINDS and perspective.is_member(country):
        return 0.0
    world = _share(country, shares, unknown)
    partners = perspective.partners.get(mineral)
    if partners is None or not country or perspective.is_member(country):
        return world
    listed = partners.shares.get(country)
    return listed if listed is not None else min(world, partners.unlisted)


def pressure_contributions(events: Iterable[PolicyEvent], shares: Mapping[str, float],
                           as_of: datetime, settings: NewsSettings, *,
                           perspective: Perspective = US, mineral: str = ""
                           ) -> list[Contribution]:
    """Each event cluster's contribution at ``as_of`` (events after ``as_of`` are ignored)."""
    half_life_s = settings.half_life.total_seconds()
    known = [e for e in events if e.at <= as_of]
    contributions = []
    for event, stories in cluster_events(known, settings.event_window):
        weight = settings.kind_weights.get(event.kind, 0.0)
        if weight <= 0:
            continue
        share = touch(event.kind, event.country, shares, perspective, mineral,
                      settings.unknown_share)
        age_s = (as_of - event.at).total_seconds()
        decay = 0.5 ** (age_s / half_life_s) if half_life_s > 0 else float(age_s == 0)
        contributions.append(Contribution(event, weight, share, decay, stories))
    return contributions


def compute_policy_pressure(events: Iterable[PolicyEvent], shares: Mapping[str, float],
                            as_of: datetime, settings: NewsSettings, *,
                            perspective: Perspective = US, mineral: str = "") -> float:
    """Sum of kind weight x touch x decay over event clusters; 0.0 with no events."""
    return sum(c.value for c in pressure_contributions(events, shares, as_of, settings,
                                                       perspective=perspective,
                                                       mineral=mineral))


def _share(country: str | None, shares: Mapping[str, float], unknown: float) -> float:
    """The acting country's share; ``unknown`` when the actor or the production table is
    unknown, 0 for a known country that is not a producer."""
    if not country or not shares:
        return unknown
    return shares.get(country, 0.0)


# --------------------------------------------------------------------------- shares from data


def compute_production_shares(rows: Sequence[Any], as_of: date) -> dict[str, float]:
    """Each country's share of world production, from production observations.

    Per series (a stage: mine, refinery), the latest period on or before ``as_of`` that has a
    positive "World total" row is used; a country's share is the largest over the series, since
    a restriction by the dominant producer of any stage constrains the mineral.
    """
    by_series: dict[str, dict[date, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for obs in rows:
        if obs.value is None or obs.period > as_of:
            continue
        by_series[obs.series][obs.period][normalise_name(obs.country)] = float(obs.value)
    shares: dict[str, float] = {}
    for periods in by_series.values():
        for period in sorted(periods, reverse=True):
            values = periods[period]
            world = next((v for c, v in values.items()
                          if c.lower().startswith(WORLD_TOTAL_PREFIX)), None)
            if world is None or world <= 0:
                continue
            for country, value in values.items():
                if is_country(country) and value > 0:
                    shares[country] = max(shares.get(country, 0.0), min(1.0, value / world))
            break
    return shares


def load_production_shares(store: Store, mineral: str, as_of: date) -> dict[str, float]:
    """Shares of world production of ``mineral`` known on ``as_of``."""
    rows = store.observations(mineral=mineral, measure=Measure.PRODUCTION, known_at=as_of)
    return compute_production_shares(rows, as_of)


def load_policy_events(store: Store, mineral: str, as_of: datetime) -> list[PolicyEvent]:
    """Original supply-risk items tagged with ``mineral`` that were public at ``as_of``."""
    rows = NewsStore(store).items(until=as_of, mineral=mineral, risk_only=True)
    return [PolicyEvent(row["id"], datetime.fromisoformat(row["at"]), row["kind"],
                        row["country"]) for row in rows]


def policy_pressure_for(store: Store, mineral: str, as_of: date | datetime,
                        settings: NewsSettings, *, perspective: Perspective = US) -> float:
    """``policy_pressure`` of ``mineral`` at ``as_of`` from stored news and production data,
    as it touches ``perspective``'s economy."""
    at = _as_datetime(as_of)
    events = load_policy_events(store, mineral, at)
    if not events:
        return 0.0
    shares = load_production_shares(store, mineral, at.date())
    return compute_policy_pressure(events, shares, at, settings, perspective=perspective,
                                   mineral=mineral)


def _as_datetime(value: date | datetime) -> datetime:
    """A date means the end of that day (UTC): everything published that day counts."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.max, tzinfo=UTC)
