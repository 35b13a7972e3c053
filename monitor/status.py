"""The per-mineral picture: the latest value of each measure critmon holds, as of a date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from monitor.config import Config
from monitor.models import Frequency, Measure, Observation
from monitor.store import Store

_FREQUENCY_RANK = {Frequency.DAILY: 3, Frequency.MONTHLY: 2, Frequency.ANNUAL: 1}


@dataclass(frozen=True, slots=True)
class MineralStatus:
    """Latest known values for one mineral; ``None`` where critmon has no data."""

    mineral: str
    name: str
    lists: str
    price: float | None = None
    price_unit: str = ""
    price_period: str = ""
    price_source: str = ""
    net_import_reliance: float | None = None
    nir_qualifier: str = ""
    nir_year: int | None = None
    nir_source: str = ""
    world_production: float | None = None
    production_unit: str = ""
    production_year: int | None = None

    @property
    def has_data(self) -> bool:
        return any(v is not None for v in (self.price, self.net_import_reliance,
                                           self.world_production))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latest_price(observations: Iterable[Observation]) -> Observation | None:
    """The freshest price of the finest series: a monthly series beats an annual average."""
    prices = [o for o in observations if o.measure == Measure.PRICE and o.value is not None]
    if not prices:
        return None
    return max(prices, key=lambda o: (_FREQUENCY_RANK[o.frequency], _period_end(o), o.source))


def latest_nir(observations: Iterable[Observation]) -> Observation | None:
    """The latest net import reliance; for one year, the most recently published edition."""
    rows = [o for o in observations if o.measure == Measure.NET_IMPORT_RELIANCE
            and (o.value is not None or o.qualifier)]
    if not rows:
        return None
    return max(rows, key=lambda o: (o.period, o.published_at or date.min))


def latest_world_production(observations: Iterable[Observation]) -> Observation | None:
    """The latest "World total" production row (any stage)."""
    rows = [o for o in observations if o.measure == Measure.PRODUCTION
            and o.country == "World total" and o.value is not None]
    if not rows:
        return None
    return max(rows, key=lambda o: (o.period, o.stage == "mine"))


def summarize(mineral_id: str, name: str, lists: str,
              observations: list[Observation]) -> MineralStatus:
    """Build one mineral's status from its observations (pure)."""
    price, nir, production = (latest_price(observations), latest_nir(observations),
                              latest_world_production(observations))
    return MineralStatus(
        mineral=mineral_id, name=name, lists=lists,
        price=price.value if price else None, price_unit=price.unit if price else "",
        price_period=_period_label(price) if price else "",
        price_source=price.source if price else "",
        net_import_reliance=nir.value if nir else None,
        nir_qualifier=nir.qualifier if nir else "", nir_year=nir.period.year if nir else None,
        nir_source=nir.source if nir else "",
        world_production=production.value if production else None,
        production_unit=production.unit if production else "",
        production_year=production.period.year if production else None,
    )


def build_status(store: Store, config: Config, *, as_of: date | None = None
                 ) -> list[MineralStatus]:
    """Status of every configured mineral with only the data public at ``as_of``."""
    by_mineral: dict[str, list[Observation]] = {}
    for observation in store.observations(known_at=as_of):
        by_mineral.setdefault(observation.mineral, []).append(observation)
    return [
        summarize(m.id, m.name, ",".join(str(y) for y in m.lists), by_mineral.get(m.id, []))
        for m in config.minerals.minerals
    ]


def _period_end(o: Observation) -> date:
    if o.frequency == Frequency.ANNUAL:
        return date(o.period.year, 12, 31)
    if o.frequency == Frequency.MONTHLY:
        nxt = date(o.period.year + (o.period.month == 12), o.period.month % 12 + 1, 1)
        return date.fromordinal(nxt.toordinal() - 1)
    return o.period


def _period_label(o: Observation) -> str:
    if o.frequency == Frequency.ANNUAL:
        return str(o.period.year)
    if o.frequency == Frequency.MONTHLY:
        return o.period.strftime("%Y-%m")
    return o.period.isoformat()
