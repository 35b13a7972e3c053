"""Trade-flow indicators of one mineral, from its trade observations (pure; docs/trade.md).

Rules:

* **Codes.** Per reporter and flow only the most specific codes on file count (a US 10-digit
  Census line beats Comtrade's HS6 for US imports), so one shipment is never counted twice.
  The mineral's codes are summed per month (ore, compound and metal tonnage together: a
  collapse shows in the sum; a shared code such as HS 8112.92 is flagged in the docs).
* **Top producer.** The reporter with the largest exports to the world over the latest 12
  months on file. The world total is the ``WLD`` partner where reported, else the partners'
  sum.
* **Zero is data.** In a month the reporter reported any export of the mineral, a partner
  without a row got 0 kg (customs tables omit empty cells); a month with no rows at all is
  unknown, never 0.
* **Median.** The change of the latest month is against the median of the 12 months before it
  (at least 6 of them on file).
* **Unit value.** Value / net weight (USD/kg) of the top producer's exports to the world: a
  monthly price proxy where no public price exists.
* **Import share.** The monitored economy's imports by value over the latest 12 months: the
  share of its largest supplier.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from monitor.core.models import Measure, Observation
from monitor.core.trade import EXPORT, IMPORT, WORLD, country_name, parse_series, possessive
from monitor.risk.indicators import IndicatorValue

Series = list[tuple[date, float]]
MONITORED_DEFAULT = "USA"
MEDIAN_MONTHS = 12
MEDIAN_MIN = 6

EXPORTS = "trade_exports_kg"
EXPORTS_TO = "trade_exports_to_monitored_kg"
EXPORTS_VS = "trade_exports_vs_median"
EXPORTS_TO_VS = "trade_exports_to_monitored_vs_median"
UNIT_VALUE = "trade_unit_value"
IMPORT_SHARE = "trade_import_top_share"
TRADE_INDICATORS = (EXPORTS, EXPORTS_TO, EXPORTS_VS, EXPORTS_TO_VS, UNIT_VALUE, IMPORT_SHARE)
#: Indicators offered to detectors with their monthly history.
TRADE_SERIES = (EXPORTS, EXPORTS_TO, UNIT_VALUE)


@dataclass
class _Month:
    kg: float | None = None
    usd: float | None = None

    def add(self, measure: Measure, value: float | None) -> None:
        if value is None:
            return
        if measure is Measure.TRADE_WEIGHT:
            self.kg = (self.kg or 0.0) + value
        else:
            self.usd = (self.usd or 0.0) + value


# (reporter, flow) -> partner -> period -> month
Table = dict[tuple[str, str], dict[str, dict[date, _Month]]]


@dataclass(frozen=True, slots=True)
class TradeView:
    """A mineral's trade signals: indicators at the evaluation, monthly series for detectors."""

    indicators: dict[str, IndicatorValue]
    series: dict[str, Series]


def trade_view(mineral: str, name: str, observations: Sequence[Observation], *,
               monitored: str = MONITORED_DEFAULT) -> TradeView:
    """The trade indicators and series of one mineral (empty when it has no trade data)."""
    table, sources = _table(observations)
    if not table:
        return TradeView({}, {})
    indicators: dict[str, IndicatorValue] = {}
    series: dict[str, Series] = {}
    top = _top_exporter(table)
    if top is not None:
        _export_signals(mineral, name, table, top, monitored, sources, indicators, series)
    share = _import_share(mineral, table, monitored, sources)
    if share is not None:
        indicators[IMPORT_SHARE] = share
    return TradeView(indicators, series)


def monitored_economy(sources: Iterable[object]) -> str:
    """The economy whose imports are watched: the first trade source's ``monitored``."""
    for source in sources:
        found = getattr(source, "monitored", None)
        if isinstance(found, str) and found:
            return found
    return MONITORED_DEFAULT


# ------------------------------------------------------------------ table


def _table(observations: Sequence[Observation]) -> tuple[Table, dict[tuple[str, str], str]]:
    """Monthly sums per reporter, flow and partner, on the most specific codes only."""
    rows = []
    for o in observations:
        if o.measure not in (Measure.TRADE_WEIGHT, Measure.TRADE_VALUE):
            continue
        key = parse_series(o.series)
        if key is not None:
            rows.append((key, o))
    width: dict[tuple[str, str], int] = {}
    for key, _ in rows:
        pair = (key.reporter, key.flow)
        width[pair] = max(width.get(pair, 0), len(key.hs))
    table: Table = defaultdict(lambda: defaultdict(dict))
    sources: dict[tuple[str, str], str] = {}
    for key, o in rows:
        pair = (key.reporter, key.flow)
        if len(key.hs) != width[pair]:
            continue
        month = table[pair][key.partner].setdefault(o.period, _Month())
        month.add(o.measure, o.value)
        sources.setdefault(pair, o.source)
    return table, sources


def _world(partners: Mapping[str, Mapping[date, _Month]]) -> dict[date, _Month]:
    """The reporter's totals per month: the WLD rows, else the sum over partners."""
    if WORLD in partners:
        return dict(partners[WORLD])
    total: dict[date, _Month] = {}
    for months in partners.values():
        for period, month in months.items():
            into = total.setdefault(period, _Month())
            into.add(Measure.TRADE_WEIGHT, month.kg)
            into.add(Measure.TRADE_VALUE, month.usd)
    return total


def _top_exporter(table: Table) -> str | None:
    best: tuple[float, str] | None = None
    for (reporter, flow), partners in table.items():
        if flow != EXPORT:
            continue
        world = _world(partners)
        recent = sorted(world)[-MEDIAN_MONTHS:]
        weight = sum(world[p].kg or 0.0 for p in recent)
        if best is None or weight > best[0]:
            best = (weight, reporter)
    return best[1] if best else None


# ------------------------------------------------------------------ exports


def _export_signals(mineral: str, name: str, table: Table, reporter: str, monitored: str,
                    sources: Mapping[tuple[str, str], str],
                    indicators: dict[str, IndicatorValue], series: dict[str, Series]) -> None:
    partners = table[(reporter, EXPORT)]
    world = _world(partners)
    months = sorted(world)
    source = sources.get((reporter, EXPORT), "")
    total = [(p, world[p].kg) for p in months if world[p].kg is not None]
    to_monitored = [(p, _kg_to(partners, monitored, p)) for p in months]
    unit_values = [(p, world[p].usd / world[p].kg) for p in months
                   if world[p].kg and world[p].usd is not None]
    flows = {EXPORTS: (total, WORLD), EXPORTS_TO: (to_monitored, monitored)}
    for indicator, (points, partner) in flows.items():
        clean = [(p, float(v)) for p, v in points if v is not None]
        if not clean:
            continue
        series[indicator] = clean
        level, change = _level_and_change(mineral, name, indicator, clean, reporter, partner,
                                          source)
        indicators[indicator] = level
        indicators[EXPORTS_VS if partner == WORLD else EXPORTS_TO_VS] = change
    if unit_values:
        series[UNIT_VALUE] = unit_values
        last, value = unit_values[-1]
        indicators[UNIT_VALUE] = IndicatorValue(
            mineral, UNIT_VALUE, value, unit="USD/kg", as_of=last, source=source,
            detail=(("reporter", reporter), ("partner", WORLD),
                    ("what", f"{possessive(reporter)} {name.lower()} export unit value")))


def _kg_to(partners: Mapping[str, Mapping[date, _Month]], partner: str, period: date
           ) -> float | None:
    """Exports to ``partner`` in ``period``: 0 when the month is on file without that partner."""
    month = partners.get(partner, {}).get(period)
    if month is None:
        return 0.0
    return month.kg


def _level_and_change(mineral: str, name: str, indicator: str, points: Series, reporter: str,
                      partner: str, source: str) -> tuple[IndicatorValue, IndicatorValue]:
    last, value = points[-1]
    before = [v for p, v in points[:-1]][-MEDIAN_MONTHS:]
    median = statistics.median(before) if len(before) >= MEDIAN_MIN else None
    detail = [("reporter", reporter), ("partner", partner), ("month", last.isoformat()),
              ("what", flow_phrase(reporter, partner, name))]
    if median is not None:
        detail.append(("median_12m", f"{median:g}"))
    level = IndicatorValue(mineral, indicator, value, unit="kg", as_of=last, source=source,
                           detail=tuple(detail))
    change_name = EXPORTS_VS if partner == WORLD else EXPORTS_TO_VS
    if median is None:
        change = IndicatorValue(mineral, change_name, None, unit="ratio", as_of=last,
                                source=source, reason=f"fewer than {MEDIAN_MIN} earlier months",
                                detail=tuple(detail))
    elif median == 0:
        change = IndicatorValue(mineral, change_name, None, unit="ratio", as_of=last,
                                source=source, reason="12-month median is 0 kg",
                                detail=tuple(detail))
    else:
        change = IndicatorValue(mineral, change_name, value / median - 1.0, unit="ratio",
                                as_of=last, source=source, detail=tuple(detail))
    return level, change


def flow_phrase(reporter: str, partner: str, name: str) -> str:
    """``China's gallium exports to the United States`` (``... exports`` for the world)."""
    where = "" if partner == WORLD else f" to {country_name(partner)}"
    return f"{possessive(reporter)} {name.lower()} exports{where}"


# ------------------------------------------------------------------ imports


def _import_share(mineral: str, table: Table, monitored: str,
                  sources: Mapping[tuple[str, str], str]) -> IndicatorValue | None:
    partners = table.get((monitored, IMPORT))
    if not partners:
        return None
    periods = sorted({p for months in partners.values() for p in months})[-MEDIAN_MONTHS:]
    by_partner = {partner: sum(months[p].usd or 0.0 for p in periods if p in months)
                  for partner, months in partners.items() if partner != WORLD}
    total = sum(by_partner.values())
    if total <= 0:
        return IndicatorValue(mineral, IMPORT_SHARE, None, unit="share", as_of=periods[-1],
                              reason="no imports by value in the latest 12 months")
    top, amount = max(by_partner.items(), key=lambda item: (item[1], item[0]))
    return IndicatorValue(
        mineral, IMPORT_SHARE, amount / total, unit="share", as_of=periods[-1],
        source=sources.get((monitored, IMPORT), ""),
        detail=(("importer", monitored), ("supplier", top),
                ("what", (f"share of {possessive(monitored)} imports from "
                          f"{country_name(top)}, 12 months by value"))))


# ------------------------------------------------------------------ alert text


def describe_trade(indicator: IndicatorValue, value: float | None = None,
                   at: date | None = None) -> str | None:
    """Plain words for a trade level: ``China's gallium exports to the United States: 0 kg in
    August 2023 against a 12-month median of 4,800 kg``; None for other indicators."""
    detail = indicator.detail_dict()
    what = detail.get("what")
    if indicator.indicator not in TRADE_SERIES or not what:
        return None
    shown = indicator.value if value is None else value
    when = at or indicator.as_of
    if shown is None or when is None:
        return None
    unit = indicator.unit
    text = f"{what[0].upper()}{what[1:]}: {_amount(shown, unit)} in {when:%B %Y}"
    median = detail.get("median_12m")
    if median is not None and indicator.indicator != UNIT_VALUE:
        text += f" against a 12-month median of {_amount(float(median), unit)}"
    return text


def _amount(value: float, unit: str) -> str:
    if unit == "USD/kg":
        return f"{value:,.2f} USD/kg"
    return f"{value:,.0f} {unit}"
