"""Per-mineral indicators (DESIGN section 2), computed from observations known at a date.

Pure: no I/O, no clock. The caller passes the observations already filtered to
``published_at <= as_of`` and the WGI estimates known at ``as_of``. Unknown is never zero: a
value that cannot be computed is ``None`` with a ``reason``. Rules (docs/risk-model.md):

* **Net import reliance**: the latest year of the mineral's own commodity (series named after
  it: ``graphite_natural:nir`` for graphite; precursors such as bauxite and alumina for
  aluminum only when there is nothing else); of several such series (zinc ores and refined
  zinc; rare earths and heavy rare earths) the most import-reliant is the headline, every
  other series of that year is listed in ``detail``. Revisions: the latest publication wins.
* **Concentration**: each world production table (series) separately; shares against the
  "World total" of the same table and year (the sum of countries where that total is missing,
  ``XX``, or smaller than the sum); the table reported is the most concentrated (highest HHI)
  in the latest year all tables share. "Other countries" and "World total" are not countries.
* **Governance**: g = clip((2.5 - mean of the six WGI estimates) / 5, 0, 1), latest year per
  country; a producer without WGI gets the median g of the table's other producers (flagged).
* **Prices**: one headline series (finest frequency, most recent, longest, then a benchmark
  preference), one value per period, never forward-filled; log returns only between periods
  exactly the window apart, so gaps and duplicate dates never produce a return.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

from monitor.core.countries import is_country, normalise_name, wgi_code
from monitor.core.models import Frequency, Measure, Observation
from monitor.risk.prices import (
    DEFAULT_PRICE_PREFERENCE,
    headline_series,
    latest_price_change,
    latest_revision,
    memo_by_identity,
    memo_growing,
    period_end,
    returns_per_window,
    steps_for_months,
    volatility,
)
from monitor.sources.wgi import WgiEstimate

INDICATORS = (
    "net_import_reliance", "production_hhi", "governance_weighted_hhi", "top_producer_share",
    "top_producer", "china_share", "price", "price_change_1m", "price_change_3m",
    "price_change_12m", "price_volatility", "price_volatility_36m", "price_age_days",
    "policy_pressure",
)

#: Indicators a group member without its own production table takes from its group.
CONCENTRATION_INDICATORS = (
    "production_hhi", "governance_weighted_hhi", "top_producer_share", "top_producer",
    "china_share",
)


_WORLD_PREFIX = "world total"

_USGS_CODES = {"W": "withheld to avoid disclosing company data", "NA": "not available",
               "XX": "not applicable"}

_CHINA = "China"

Detail = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class IndicatorValue:
    """One indicator of one mineral at one evaluation; ``value`` None means unknown."""

    mineral: str
    indicator: str
    value: float | None
    unit: str = ""
    as_of: date | None = None
    published_at: date | None = None
    source: str = ""
    qualifier: str = ""
    reason: str = ""
    detail: Detail = ()

    def detail_dict(self) -> dict[str, str]:
        return dict(self.detail)


# --------------------------------------------------------------------------- governance


def governance_weight(mean_estimate: float) -> float:
    """g = clip((2.5 - mean WGI estimate) / 5, 0, 1): 0 for the best governed, 1 for the worst."""
    return min(1.0, max(0.0, (2.5 - mean_estimate) / 5.0))


@dataclass(frozen=True, slots=True)
class CountryGovernance:
    """The governance weight of one economy and the WGI year it rests on."""

    code: str
    g: float
    year: int
    n_estimates: int


@dataclass(frozen=True, slots=True)
class GovernanceTable:
    """Governance weight per WGI economy code; build once per evaluation, share across minerals."""

    by_code: Mapping[str, CountryGovernance]

    def get(self, usgs_country: str) -> CountryGovernance | None:
        code = wgi_code(usgs_country)
        return self.by_code.get(code) if code else None


def build_governance(wgi: Iterable[WgiEstimate]) -> GovernanceTable:
    """Mean of the available WGI estimates of each economy's latest year that has any."""
    by_year: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for estimate in wgi:
        if estimate.estimate is not None:
            by_year[estimate.code][estimate.year].append(estimate.estimate)
    return governance_table(by_year)


def governance_table(by_year: Mapping[str, Mapping[int, Sequence[float]]],
                     first: Mapping[str, int] | None = None) -> GovernanceTable:
    """The table of the estimates of each economy by year (the mean is exact, ``fsum``: their
    order does not matter). ``first`` orders the economies (by their first estimate in the
    data); without it, ``by_year``'s order."""
    codes = sorted(by_year, key=first.__getitem__) if first is not None else by_year
    table = {}
    for code in codes:
        years = by_year[code]
        year = max(years)
        values = years[year]
        table[code] = CountryGovernance(code, governance_weight(statistics.fmean(values)),
                                        year, len(values))
    return GovernanceTable(table)


def _as_governance(wgi: Sequence[WgiEstimate] | GovernanceTable) -> GovernanceTable:
    return wgi if isinstance(wgi, GovernanceTable) else build_governance(wgi)


# --------------------------------------------------------------------------- entry points


def compute_indicators(
    mineral: str,
    observations: Sequence[Observation],
    wgi: Sequence[WgiEstimate] | GovernanceTable,
    *,
    as_of: date,
    members: Sequence[str] = (),
    policy_pressure: float | None = 0.0,
    group: str | None = None,
    group_values: Mapping[str, IndicatorValue] | None = None,
    prices: Mapping[str, IndicatorValue] | None = None,
) -> dict[str, IndicatorValue]:
    """Every indicator of ``INDICATORS`` for one mineral, each a value or None with a reason.

    ``observations`` are the mineral's own, known at ``as_of``. ``wgi`` may be a prebuilt
    :class:`GovernanceTable` (cheaper when evaluating many minerals). ``members`` names a
    group's members (used in reasons). A member (``group``) missing its own production table
    or NIR takes the group's (``group_values``), marked ``inherited_from`` in ``detail``.
    ``prices``: the price indicators at ``as_of`` when the caller has them (a replay's price
    track, ``monitor.risk.track``), for observations that are not empty.
    """
    values: dict[str, IndicatorValue] = {}
    if not observations:
        reason = f"no data: no source has published anything for {mineral} by {as_of}"
        values = {name: _missing(mineral, name, reason) for name in INDICATORS}
        values["policy_pressure"] = _policy_value(mineral, policy_pressure, as_of)
        if group and group_values is not None:
            values = inherit_from_group(values, group_values, group)
        return values
    values["net_import_reliance"] = memo_growing(_nir_of, _nir_reads, observations, mineral)
    values.update(memo_growing(_concentration_of, _concentration_reads, observations, mineral,
                               _as_governance(wgi), members))
    values.update(_price_indicators(mineral, observations, as_of) if prices is None
                  else prices)
    values["policy_pressure"] = _policy_value(mineral, policy_pressure, as_of)
    if group and group_values is not None:
        values = inherit_from_group(values, group_values, group)
    return values


def _nir_of(observations: Sequence[Observation], mineral: str) -> IndicatorValue:
    return _net_import_reliance(mineral, observations)


def _nir_reads(o: Observation) -> bool:
    """What ``_net_import_reliance`` reads (for ``memo_growing``)."""
    return o.measure == Measure.NET_IMPORT_RELIANCE


def _concentration_reads(o: Observation) -> bool:
    """What ``_concentration`` reads: production tables, and the MCS sources named in the
    reason when there is none (for ``memo_growing``)."""
    return o.measure == Measure.PRODUCTION or o.source.startswith("usgs_mcs")


def _concentration_of(observations: Sequence[Observation], mineral: str,
                      governance: GovernanceTable,
                      members: Sequence[str]) -> dict[str, IndicatorValue]:
    return _concentration(mineral, observations, governance, members)


def policy_value(mineral: str, pressure: float | None, as_of: date) -> IndicatorValue:
    """The ``policy_pressure`` indicator of a pressure (None: unknown, with the reason)."""
    return _policy_value(mineral, pressure, as_of)


def _policy_value(mineral: str, pressure: float | None, as_of: date) -> IndicatorValue:
    if pressure is None:
        return _missing(mineral, "policy_pressure", "no policy-pressure input", "pressure")
    return IndicatorValue(mineral, "policy_pressure", pressure, unit="pressure", as_of=as_of,
                          source="policy")


def inherit_from_group(values: Mapping[str, IndicatorValue],
                       group_values: Mapping[str, IndicatorValue],
                       group: str) -> dict[str, IndicatorValue]:
    """Fill a member's missing concentration and NIR indicators from its group's values.

    USGS publishes one world production table and one NIR for rare earths, none per element:
    neodymium's supply structure is that of the rare-earth group. Only missing values are
    replaced; the member keeps anything it has of its own.
    """
    result = dict(values)
    names = (*CONCENTRATION_INDICATORS, "net_import_reliance")
    if any(values[name].value is not None for name in CONCENTRATION_INDICATORS):
        names = ("net_import_reliance",)
    for name in names:
        own, inherited = values.get(name), group_values.get(name)
        if inherited is None or (own is not None and own.value is not None):
            continue
        detail = (("inherited_from", group), *inherited.detail)
        result[name] = replace(inherited, mineral=values[name].mineral, detail=detail)
    return result


def compute_all_indicators(
    minerals: Sequence[tuple[str, str | None, Sequence[str]]],
    observations: Mapping[str, Sequence[Observation]],
    wgi: Sequence[WgiEstimate] | GovernanceTable,
    *,
    as_of: date,
    policy_pressure: Mapping[str, float | None] | None = None,
    prices: Mapping[str, Mapping[str, IndicatorValue]] | None = None,
) -> dict[str, dict[str, IndicatorValue]]:
    """Indicators of many minerals ``(id, group, members)``; groups first, so members inherit.
    ``prices``: the price indicators of some minerals (see :func:`compute_indicators`)."""
    governance = _as_governance(wgi)
    pressure = policy_pressure or {}
    ordered = sorted(minerals, key=lambda m: not m[2])  # groups (with members) first
    result: dict[str, dict[str, IndicatorValue]] = {}
    for mineral, group, members in ordered:
        result[mineral] = compute_indicators(
            mineral, observations.get(mineral, ()), governance, as_of=as_of, members=members,
            policy_pressure=pressure.get(mineral, 0.0), group=group,
            group_values=result.get(group) if group else None,
            prices=prices.get(mineral) if prices else None,
        )
    return {mineral: result[mineral] for mineral, _, _ in minerals}


# --------------------------------------------------------------------------- net import reliance


def _missing(mineral: str, indicator: str, reason: str, unit: str = "",
             detail: Detail = ()) -> IndicatorValue:
    return IndicatorValue(mineral, indicator, None, unit=unit, reason=reason, detail=detail)


def _nir_key(o: Observation) -> tuple[float, bool, date, bool, str]:
    """Order NIR candidates of one year: higher, a lower bound, newer, release over figure."""
    return (o.value if o.value is not None else -1.0, o.qualifier == ">",
            o.published_at or date.min, not o.source.endswith("_fig2"), o.series)


def _net_import_reliance(mineral: str, observations: Sequence[Observation]) -> IndicatorValue:
    rows = [o for o in observations if o.measure == Measure.NET_IMPORT_RELIANCE]
    if not rows:
        return _missing(mineral, "net_import_reliance", "no net import reliance published",
                        "percent")
    own = [o for o in rows if _is_own_commodity(o.series, mineral)]
    year = max(o.period for o in own or rows)
    latest = latest_revision(o for o in own or rows if o.period == year)
    known = [o for o in latest if o.value is not None]
    if not known:
        codes = sorted({o.qualifier or "NA" for o in latest})
        meaning = ", ".join(f"{code} = {_USGS_CODES.get(code, 'no value')}" for code in codes)
        return IndicatorValue(mineral, "net_import_reliance", None, unit="percent",
                              as_of=year, source=latest[0].source, qualifier=codes[0],
                              reason=f"net import reliance {year.year} not given by USGS "
                              f"({meaning})", detail=(("year", str(year.year)),))
    best = max(known, key=_nir_key)
    others = sorted({f"{o.series}={_fmt_nir(o)}" for o in latest_revision(rows)
                     if o.period == year and o.series != best.series})
    detail: list[tuple[str, str]] = [("series", best.series), ("year", str(year.year))]
    if others:
        detail.append(("other_series", "; ".join(others)))
    return IndicatorValue(mineral, "net_import_reliance", best.value, unit="percent",
                          as_of=best.period, published_at=best.published_at,
                          source=best.source, qualifier=best.qualifier, detail=tuple(detail))


def _is_own_commodity(series: str, mineral: str) -> bool:
    """True for series of the commodity the mineral is named after (``graphite_natural:nir``
    for graphite), false for its precursors (``bauxite:nir`` for aluminum)."""
    commodity = series.split(":", 1)[0]
    return commodity == mineral or commodity.startswith(mineral + "_")


def _fmt_nir(o: Observation) -> str:
    if o.value is None:
        return o.qualifier or "NA"
    if o.qualifier == "E":
        return "E"
    prefix = o.qualifier if o.qualifier in (">", "<") else ""
    shown = o.value * 2 if o.qualifier == "<" else o.value
    return f"{prefix}{shown:g}"


# --------------------------------------------------------------------------- concentration


@dataclass(frozen=True, slots=True)
class ProductionTable:
    """One world production table (series) for one year, as shares of world production."""

    series: str
    stage: str
    year: int
    unit: str
    source: str
    published_at: date | None
    shares: Mapping[str, float]
    denominator: str
    withheld: tuple[str, ...]
    other_share: float | None
    estimated: bool

    @property
    def hhi(self) -> float:
        return sum((100.0 * s) ** 2 for s in self.shares.values())

    @property
    def top(self) -> tuple[str, float]:
        return max(self.shares.items(), key=lambda item: (item[1], item[0]))


def production_tables(observations: Iterable[Observation]) -> list[ProductionTable]:
    """Every (table, year) with a usable country split, from production observations."""
    groups: dict[tuple[str, date], list[Observation]] = defaultdict(list)
    for o in latest_revision(o for o in observations if o.measure == Measure.PRODUCTION):
        groups[(o.series, o.period)].append(o)
    tables = (_table(rows) for rows in groups.values())
    return [t for t in tables if t is not None]


def _table(rows: Sequence[Observation]) -> ProductionTable | None:
    countries = [o for o in rows if is_country(o.country)]
    valued = {normalise_name(o.country): o.value for o in countries
              if o.value is not None and o.value >= 0}
    total = sum(valued.values())
    if total <= 0:
        return None
    world = next((o.value for o in rows
                  if normalise_name(o.country).lower().startswith(_WORLD_PREFIX)), None)
    if world is not None and world >= total:
        denominator, base = "world total", world
    else:
        base = total
        denominator = ("sum of countries (no world total)" if world is None else
                       "sum of countries (exceeds the rounded world total)")
    first = rows[0]
    return ProductionTable(
        series=first.series, stage=first.stage or "unknown", year=first.period.year,
        unit=first.unit, source=first.source, published_at=first.published_at,
        shares={country: value / base for country, value in valued.items()},
        denominator=denominator,
        withheld=tuple(sorted(normalise_name(o.country) for o in countries if o.value is None)),
        other_share=(world - total) / world if base == world and world else None,
        estimated=any(o.qualifier in ("e", "E") for o in rows),
    )


def select_table(tables: Sequence[ProductionTable]) -> tuple[ProductionTable, str] | None:
    """The most concentrated table in the latest year all tables share, and how it was chosen."""
    if not tables:
        return None
    years_by_series: dict[str, set[int]] = defaultdict(set)
    for table in tables:
        years_by_series[table.series].add(table.year)
    common = set.intersection(*years_by_series.values())
    if common:
        year = max(common)
        candidates = [t for t in tables if t.year == year]
        how = f"most concentrated of {len(candidates)} table(s) in {year}"
    else:
        latest = {s: max(years) for s, years in years_by_series.items()}
        candidates = [t for t in tables if t.year == latest[t.series]]
        how = "no year common to all tables: each table's latest year"
    best = max(candidates, key=lambda t: (t.hhi, t.series))
    compared = "; ".join(f"{t.series} {t.year} HHI {t.hhi:.0f}"
                         for t in sorted(candidates, key=lambda t: t.series))
    return best, f"{how}: {compared}"


def _concentration(mineral: str, observations: Sequence[Observation],
                   governance: GovernanceTable,
                   members: Sequence[str]) -> dict[str, IndicatorValue]:
    chosen = select_table(production_tables(observations))
    if chosen is None:
        reason = _no_table_reason(mineral, observations, members)
        return {name: _missing(mineral, name, reason) for name in CONCENTRATION_INDICATORS}
    table, how = chosen
    top_country, top_share = table.top
    gw, gw_detail = _governance_weighted(table, governance)
    base = _table_detail(table, how)
    template = IndicatorValue(mineral, "", None, as_of=date(table.year, 1, 1),
                              published_at=table.published_at, source=table.source,
                              qualifier="e" if table.estimated else "", detail=base)
    china = table.shares.get(_CHINA)
    top_detail = (("country", top_country), *base)
    return {
        "production_hhi": replace(template, indicator="production_hhi", value=table.hhi,
                                  unit="HHI"),
        "governance_weighted_hhi": replace(
            template, indicator="governance_weighted_hhi", value=gw, unit="0-1",
            reason="" if gw is not None else "no WGI for any producer",
            detail=base + gw_detail),
        "top_producer_share": replace(template, indicator="top_producer_share",
                                      value=top_share, unit="share", detail=top_detail),
        "top_producer": replace(template, indicator="top_producer", value=top_share,
                                unit="share", detail=top_detail),
        # China absent from a table means it is not a listed producer: at most "Other
        # countries", recorded as 0 with the flag rather than as unknown.
        "china_share": replace(template, indicator="china_share", value=china or 0.0,
                               unit="share",
                               detail=base if china is not None else
                               (("china_listed", "no"), *base)),
    }


def _table_detail(table: ProductionTable, how: str) -> Detail:
    detail = [("table", table.series), ("stage", table.stage), ("year", str(table.year)),
              ("denominator", table.denominator), ("chosen", how)]
    if table.other_share is not None:
        detail.append(("unlisted_share", f"{table.other_share:.4f}"))
    if table.withheld:
        detail.append(("withheld", ", ".join(table.withheld)))
    return tuple(detail)


def _governance_weighted(table: ProductionTable,
                         governance: GovernanceTable) -> tuple[float | None, Detail]:
    """Sum of s^2 * g; producers without WGI get the median g of the others (flagged)."""
    known = {c: gov for c in table.shares if (gov := governance.get(c)) is not None}
    if not known:
        return None, (("no_wgi", ", ".join(sorted(table.shares))),)
    unknown = sorted(c for c in table.shares if c not in known)
    median_g = statistics.median(gov.g for gov in known.values())
    total = sum(s * s * (known[c].g if c in known else median_g)
                for c, s in table.shares.items())
    years = sorted({gov.year for gov in known.values()})
    detail: list[tuple[str, str]] = [("wgi_year", str(years[-1]))]
    if unknown:
        detail.append(("no_wgi", f"{', '.join(unknown)} (median g {median_g:.3f} used)"))
    return total, tuple(detail)


def _no_table_reason(mineral: str, observations: Sequence[Observation],
                     members: Sequence[str]) -> str:
    rows = [o for o in observations if o.measure == Measure.PRODUCTION]
    if rows:
        return "world production has no country split (only a world total)"
    sources = sorted({o.source for o in observations if o.source.startswith("usgs_mcs")
                      and not o.source.endswith("_fig2")})
    where = f"in {sources[-1].replace('usgs_mcs', 'MCS ')}" if sources else "in the data"
    if members:
        return f"group without a world production table {where} (see {', '.join(members)})"
    return f"no world production table {where}"


def _price_indicators(mineral: str, observations: Sequence[Observation],
                      as_of: date) -> dict[str, IndicatorValue]:
    """Price indicators at ``as_of``: all but the age are pure functions of the observations
    (remembered per observation tuple, see ``memo_by_identity``); the age is dated here."""
    values, end = memo_by_identity(_dateless_price_indicators, observations, mineral)
    return dated_price_indicators(values, end, as_of)


def dated_price_indicators(values: Mapping[str, IndicatorValue], end: date | None,
                           as_of: date) -> dict[str, IndicatorValue]:
    """The price indicators without their age (:func:`price_indicator_values`) at ``as_of``:
    a copy with ``price_age_days`` counted from ``end``, the end of the last price period."""
    values = dict(values)
    if end is not None:
        age = values["price_age_days"]
        values["price_age_days"] = _valued(age, float(max(0, (as_of - end).days)), age.detail)
    return values


def _dateless_price_indicators(observations: Sequence[Observation], mineral: str
                               ) -> tuple[dict[str, IndicatorValue], date | None]:
    """The price indicators with the age left at 0, and the end of the last price period."""
    chosen = headline_series(observations, DEFAULT_PRICE_PREFERENCE)
    if chosen is None:
        return {n: _missing(mineral, n, "no price series") for n in PRICE_INDICATORS}, None
    history, frequency = chosen.history, chosen.frequency
    values = price_indicator_values(
        mineral, chosen.series, frequency, chosen.rows[-1], len(history), history[0][0],
        lambda months: latest_price_change(history, months, frequency=frequency),
        lambda window: volatility(history, window_months=window, frequency=frequency))
    return values, period_end(chosen.rows[-1].period, frequency)


#: The price indicators (in this order when there is no price series).
PRICE_INDICATORS = ("price", "price_change_1m", "price_change_3m", "price_change_12m",
                    "price_volatility", "price_volatility_36m", "price_age_days")


def price_indicator_values(mineral: str, series: str, frequency: Frequency, last: Observation,
                           points: int, first: date,
                           latest_change: Callable[[int], tuple[date, float] | None],
                           latest_volatility: Callable[[int | None], float | None]
                           ) -> dict[str, IndicatorValue]:
    """The price indicators (age 0) of a headline series from what is known of it: its name,
    frequency, last row, number of points and first period; ``latest_change(months)``, the
    last point of its change series over ``months`` (asked only for a window the frequency
    has); ``latest_volatility(window)``, its volatility at the last period (None: too few
    returns). The one place these values are built: the remembered series functions supply
    the facts live, a replay's incremental price track (``monitor.risk.track``) its own."""
    detail = (("series", series), ("frequency", frequency.value), ("points", str(points)),
              ("first", first.isoformat()))
    base = _PriceBase(mineral, last.period, last.published_at, last.source, detail)
    values = {
        "price": IndicatorValue(mineral, "price", last.value, last.unit, last.period,
                                last.published_at, last.source, last.qualifier, "", detail),
        "price_age_days": base.valued("price_age_days", "days", 0.0, detail),
    }
    for months in (1, 3, 12):
        values[f"price_change_{months}m"] = _latest_change(
            base, f"price_change_{months}m", last.period, months, frequency, latest_change)
    for name, window in (("price_volatility", None), ("price_volatility_36m", 36)):
        values[name] = _latest_volatility(base, name, window, frequency, latest_volatility)
    return values


class _PriceBase(NamedTuple):
    """What every price indicator of a series shares (the last row's date, publication and
    source, the series detail); each value is built from it in one constructor call (a replay
    builds these for every priced mineral at every release)."""

    mineral: str
    as_of: date
    published_at: date | None
    source: str
    detail: Detail

    def valued(self, indicator: str, unit: str, value: float, detail: Detail
               ) -> IndicatorValue:
        return IndicatorValue(self.mineral, indicator, value, unit, self.as_of,
                              self.published_at, self.source, "", "", detail)

    def unknown(self, indicator: str, unit: str, reason: str) -> IndicatorValue:
        """No value, no date, the reason."""
        return IndicatorValue(self.mineral, indicator, None, unit, None, None, self.source, "",
                              reason, self.detail)


def _latest_change(base: _PriceBase, name: str, last: date, months: int,
                   frequency: Frequency,
                   latest_change: Callable[[int], tuple[date, float] | None]) -> IndicatorValue:
    if steps_for_months(months, frequency) is None:
        reason = f"{frequency.name.lower()} series: no {months}-month change"
        return base.unknown(name, "log", reason)
    change = latest_change(months)
    if change is None or change[0] != last:
        span = f"{months} month{'s' * (months != 1)}"
        return base.unknown(name, "log", f"no price {span} before {last.isoformat()}")
    return base.valued(name, "log", change[1], (*base.detail, ("window_months", str(months))))


def _latest_volatility(base: _PriceBase, name: str, window: int | None, frequency: Frequency,
                       latest_volatility: Callable[[int | None], float | None]
                       ) -> IndicatorValue:
    if window is not None and frequency == Frequency.ANNUAL:
        return base.unknown(name, "annualised", "annual series: see price_volatility (5 years)")
    width = returns_per_window(frequency, window)
    span = f"{width} {'years' if frequency == Frequency.ANNUAL else 'months'}"
    value = latest_volatility(window)
    if value is None:
        return base.unknown(name, "annualised", f"too few returns in the last {span}")
    return base.valued(name, "annualised", value, (*base.detail, ("window", span)))


# ``dataclasses.replace`` of the fields the dated price age changes, by the constructor
# (a replay builds these for every priced mineral at every release; replace is 2x slower).


def _valued(template: IndicatorValue, value: float | None, detail: Detail) -> IndicatorValue:
    """``replace(template, value=value, detail=detail)``."""
    t = template
    return IndicatorValue(t.mineral, t.indicator, value, t.unit, t.as_of, t.published_at,
                          t.source, t.qualifier, t.reason, detail)


def price_period_end(mineral: str, observations: Sequence[Observation]) -> date | None:
    """The end of the headline price series' last period (``price_age_days`` counts from it),
    or None without a price series: the dated part of the price indicators, remembered with
    them per observation tuple."""
    return memo_by_identity(_dateless_price_indicators, observations, mineral)[1]
