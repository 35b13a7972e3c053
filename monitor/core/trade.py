"""Monthly trade flows: the value type, its publication dates, and its form as observations.

A :class:`TradeFlow` is one row of a customs table: what ``reporter`` recorded as ``flow``
(``X`` exports, ``M`` imports) with ``partner`` for one HS code in one month. The natural key is
``(period, reporter, partner, flow, hs)``; ``mineral`` is an attribution (from minerals.yaml's
``hs:`` lists, or a backtest file's column), not part of the key, since one HS code can cover
several minerals (HS 8112.92: gallium, germanium, indium, niobium, vanadium).

For the risk model a flow becomes two :class:`~monitor.core.models.Observation` values per
mineral (net weight in kg, value in USD) with the key in the series name, so live data and a
replayed history pass through the same assess/detect path as every other observation.
Countries are ISO 3166 alpha-3 codes; ``WLD`` is the world (all partners).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.core.models import Frequency, Measure, Observation

EXPORT = "X"
IMPORT = "M"
WORLD = "WLD"
FLOWS = (EXPORT, IMPORT)

#: Comtrade: a month is public about two months after it ends (national customs publish in
#: 4-8 weeks, Comtrade loads them after). Census: about five weeks after the month ends.
COMTRADE_LAG = timedelta(days=60)
CENSUS_LAG = timedelta(days=35)

#: Names used in alert text ("China's gallium exports to the United States").
COUNTRY_NAMES: Mapping[str, str] = {
    "WLD": "the world", "USA": "the United States", "CHN": "China", "COD": "the DR Congo",
    "IDN": "Indonesia", "CHL": "Chile", "AUS": "Australia", "ARG": "Argentina",
    "JPN": "Japan", "KOR": "South Korea", "TWN": "Taiwan", "DEU": "Germany",
    "NLD": "the Netherlands", "BEL": "Belgium", "GBR": "the United Kingdom", "FRA": "France",
    "CAN": "Canada", "MEX": "Mexico", "IND": "India", "RUS": "Russia", "BRA": "Brazil",
    "ZAF": "South Africa", "VNM": "Vietnam", "MYS": "Malaysia", "THA": "Thailand",
    "PHL": "the Philippines", "KAZ": "Kazakhstan", "PER": "Peru", "BOL": "Bolivia",
    "TUR": "Turkey", "MOZ": "Mozambique", "MDG": "Madagascar", "GAB": "Gabon",
    "ZMB": "Zambia", "ZWE": "Zimbabwe", "RWA": "Rwanda", "MMR": "Myanmar", "NOR": "Norway",
    "CHE": "Switzerland", "ITA": "Italy", "ESP": "Spain", "AUT": "Austria", "ISR": "Israel",
    "UKR": "Ukraine", "SGP": "Singapore", "HKG": "Hong Kong",
}

#: UN Comtrade country codes (UN M49, with Comtrade's own 699 for India and 842 for the
#: United States) of the countries critmon queries; Comtrade wants the number.
M49: dict[str, int] = {
    "CHN": 156, "USA": 842, "COD": 180, "IDN": 360, "CHL": 152, "AUS": 36, "ARG": 32,
    "ZAF": 710, "RUS": 643, "BRA": 76, "CAN": 124, "JPN": 392, "KOR": 410, "DEU": 276,
    "IND": 699, "GAB": 266, "MOZ": 508, "MDG": 450, "PHL": 608, "VNM": 704, "KAZ": 398,
    "MMR": 104, "TUR": 792, "PER": 604, "BOL": 68, "ZMB": 894, "ZWE": 716, "RWA": 646,
    "NOR": 579, "MYS": 458, "THA": 764, "MEX": 484, "NLD": 528, "BEL": 56, "GBR": 826,
    "FRA": 251, "HKG": 344, "SGP": 702, "CHE": 757, "ITA": 380, "ESP": 724, "AUT": 40,
}


_SERIES = re.compile(r"^trade:(?P<flow>[XM]):(?P<reporter>[A-Z0-9]{1,8}):"
                     r"(?P<partner>[A-Z0-9]{1,8}):(?P<hs>\d{2,10}):(?P<unit>kg|usd)$")


@dataclass(frozen=True, slots=True)
class TradeFlow:
    """One month of one reporter's exports or imports of one HS code with one partner."""

    period: date
    reporter: str
    partner: str
    flow: str
    hs: str
    value_usd: float | None
    net_weight_kg: float | None
    mineral: str = ""
    source: str = ""
    published_at: date | None = None

    @property
    def key(self) -> tuple[date, str, str, str, str]:
        return (self.period, self.reporter, self.partner, self.flow, self.hs)


@dataclass(frozen=True, slots=True)
class FlowKey:
    """What a trade observation's series says: flow, reporter, partner and HS code."""

    flow: str
    reporter: str
    partner: str
    hs: str


def month_end(period: date) -> date:
    """The last day of ``period``'s month."""
    return (period.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def estimated_publication(period: date, lag: timedelta) -> date:
    """When a month's trade data is taken to be public: the month's end plus ``lag``."""
    return month_end(period) + lag


def honest_published_at(period: date, fetched: date, lag: timedelta) -> date:
    """The publication date of a fetched month: when first seen, or the estimate if earlier.

    A month fetched for the first time a year after the fact was public long before: the
    estimate (month end + lag) lets ``--as-of`` see it then. A month seen sooner than the
    estimate was public at least when it was fetched.
    """
    return min(fetched, estimated_publication(period, lag))


def country_name(code: str) -> str:
    """A display name for an ISO alpha-3 code (the code itself when unknown)."""
    return COUNTRY_NAMES.get(code, code)


def possessive(code: str) -> str:
    """``China's``, ``the United States'``."""
    name = country_name(code)
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def series_name(flow: str, reporter: str, partner: str, hs: str, unit: str) -> str:
    """``trade:X:CHN:USA:811292:kg``: the observation series of one flow."""
    return f"trade:{flow}:{reporter}:{partner}:{hs}:{unit}"


@functools.lru_cache(maxsize=65_536)
def parse_series(series: str) -> FlowKey | None:
    """The flow a trade observation's series names; None for any other series."""
    found = _SERIES.match(series)
    if found is None:
        return None
    return FlowKey(found["flow"], found["reporter"], found["partner"], found["hs"])


def minerals_by_code(hs_lists: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """HS code -> the minerals whose ``hs:`` list holds it (a code may serve several)."""
    out: dict[str, list[str]] = {}
    for mineral, codes in hs_lists.items():
        for code in codes:
            out.setdefault(code, []).append(mineral)
    return {code: tuple(minerals) for code, minerals in out.items()}


def flows_to_observations(flows: Iterable[TradeFlow],
                          by_code: Mapping[str, Sequence[str]] | None = None
                          ) -> list[Observation]:
    """Each flow as a weight and a value observation per mineral it is attributed to.

    A flow's own ``mineral`` wins; else ``by_code`` (from minerals.yaml) decides; a flow of no
    known mineral yields nothing. Missing weight or value (Comtrade's ``null``) stays None.
    """
    by_code = by_code or {}
    out: list[Observation] = []
    for f in flows:
        minerals = (f.mineral,) if f.mineral else tuple(by_code.get(f.hs, ()))
        for mineral in minerals:
            for unit, measure, value in (("kg", Measure.TRADE_WEIGHT, f.net_weight_kg),
                                         ("usd", Measure.TRADE_VALUE, f.value_usd)):
                out.append(Observation(
                    source=f.source, series=series_name(f.flow, f.reporter, f.partner, f.hs,
                                                        unit),
                    mineral=mineral, measure=measure, period=f.period,
                    frequency=Frequency.MONTHLY, value=value, unit=unit.upper()
                    if unit == "usd" else unit, country=f.partner, stage=f.flow,
                    published_at=f.published_at))
    return out
