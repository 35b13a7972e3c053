"""Indicators seen from one economy: its import reliance and its sourcing (pure).

:func:`apply_perspective` takes the world indicators (:mod:`monitor.risk.indicators`) and
returns them as the perspective's economy sees them. The ``us`` perspective returns them
unchanged (USGS net import reliance is already the US's). For another economy:

* **Exposure.** ``net_import_reliance`` becomes the economy's import reliance from its table
  (the headline figure; the others in ``detail["spread"]``); a group member without a figure
  inherits the group's. Without any figure, an economy that produces at least
  ``DOMINANT_SHARE`` of world output (the latest world production table) is taken as a net
  exporter (qualifier ``E``, 0 %): it cannot import much of what it mostly makes. Otherwise the
  value is unknown, with the reason. A figure with an end-of-life recycling input rate
  (``recycling_pct``, the EU study's EoL-RIR) carries it in ``detail``; the score discounts
  the exposure by it (secondary supply needs no imports).
* **Governance.** Where the economy's import partners are known, the governance-weighted HHI
  follows the EU method: DP = r/2 · DP_world + (1 - r/2) · DP_sourcing, r the import reliance
  and DP_sourcing = Σ s²·g over the economy's own supply mix: domestic production (1 - r, at
  the members' median governance), each listed partner (r · its share of imports) and the
  unlisted rest of imports spread over the other world producers by their world shares.

A computed reliance (apparent consumption = production + imports - exports, from trade flows)
plugs in through :func:`apparent_consumption_reliance`: a source that supplies the three
quantities for the economy replaces the table's figure, and its method is shown the same way.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from monitor.config.perspectives import (
    HEADLINE_WINDOW_YEARS,
    Partners,
    Perspective,
    Reliance,
    RelianceFigure,
)
from monitor.core.models import Observation
from monitor.risk.indicators import (
    GovernanceTable,
    IndicatorValue,
    ProductionTable,
    production_tables,
    select_table,
)

#: An economy producing at least this share of world output is taken as a net exporter when
#: its table has no figure for the mineral.
DOMINANT_SHARE = 0.5

MineralSpec = tuple[str, str | None, Sequence[str]]  # (id, group, members)


def method_key(perspective: Perspective) -> str:
    """What of a perspective changes a score: its data (digest) and this module's rules.

    Empty for ``us``, so the default method version is what it was before perspectives.
    """
    if perspective.method == "usgs":
        return ""
    return (f"{perspective.id}:{perspective.digest}:dominant={DOMINANT_SHARE}:"
            f"headline_window={HEADLINE_WINDOW_YEARS}")


def apparent_consumption_reliance(production: float, imports: float,
                                  exports: float) -> tuple[float, str]:
    """Net import reliance from trade flows: (imports - exports) / apparent consumption.

    Apparent consumption = production + imports - exports. Returns (percent, qualifier):
    ``E`` (0 %) for a net exporter; ValueError when consumption is not positive.
    """
    if min(production, imports, exports) < 0:
        raise ValueError("production, imports and exports must be non-negative")
    consumption = production + imports - exports
    if consumption <= 0:
        raise ValueError(f"apparent consumption is {consumption:g}: not positive")
    net = imports - exports
    if net <= 0:
        return 0.0, "E"
    return min(100.0, 100.0 * net / consumption), ""


def apply_perspective(values: Mapping[str, Mapping[str, IndicatorValue]],
                      perspective: Perspective, minerals: Sequence[MineralSpec],
                      observations: Mapping[str, Sequence[Observation]],
                      governance: GovernanceTable
                      ) -> dict[str, dict[str, IndicatorValue]]:
    """The indicators of every mineral as ``perspective``'s economy sees them (see module doc)."""
    if perspective.method == "usgs":
        return {mineral: dict(v) for mineral, v in values.items()}
    groups = {mineral: group for mineral, group, _ in minerals}
    result: dict[str, dict[str, IndicatorValue]] = {}
    for mineral, indicators in values.items():
        table = _world_table(mineral, groups.get(mineral), observations)
        updated = dict(indicators)
        reliance = exposure(perspective, mineral, groups.get(mineral), table)
        updated["net_import_reliance"] = reliance
        partners = perspective.partners.get(mineral)
        world_dp = indicators.get("governance_weighted_hhi")
        if (partners is not None and table is not None and reliance.value is not None
                and reliance.qualifier != "E" and world_dp is not None
                and world_dp.value is not None):
            updated["governance_weighted_hhi"] = sourcing_governance(
                world_dp, table, partners, perspective, reliance.value / 100.0, governance)
        result[mineral] = updated
    return result


def _world_table(mineral: str, group: str | None,
                 observations: Mapping[str, Sequence[Observation]]) -> ProductionTable | None:
    for name in (mineral, group):
        if name:
            chosen = select_table(production_tables(observations.get(name, ())))
            if chosen is not None:
                return chosen[0]
    return None


def members_share(perspective: Perspective, table: ProductionTable) -> float:
    """The economy's share of world production in ``table``."""
    return sum(share for country, share in table.shares.items()
               if perspective.is_member(country))


# --------------------------------------------------------------------------- exposure


def exposure(perspective: Perspective, mineral: str, group: str | None,
             table: ProductionTable | None) -> IndicatorValue:
    """The perspective's import reliance of ``mineral`` as a ``net_import_reliance`` value."""
    own = perspective.reliance.get(mineral)
    if own is not None:
        return _figure_value(perspective, mineral, own)
    inherited = perspective.reliance.get(group) if group else None
    if inherited is not None:
        value = _figure_value(perspective, mineral, inherited)
        return replace(value, detail=(("inherited_from", str(group)), *value.detail))
    where = f"{perspective.name}'s table ({perspective.id}) has no import reliance for {mineral}"
    if table is None:
        return IndicatorValue(mineral, "net_import_reliance", None, unit="percent",
                              reason=f"{where}, and no world production table to tell whether "
                                     f"{perspective.name} is a dominant producer")
    share = members_share(perspective, table)
    detail = (("perspective", perspective.id), ("method", "dominant producer"),
              ("members_share", f"{share:.4f}"), ("table", table.series),
              ("year", str(table.year)))
    if share >= DOMINANT_SHARE:
        return IndicatorValue(
            mineral, "net_import_reliance", 0.0, unit="percent", as_of=date(table.year, 1, 1),
            published_at=table.published_at, source=table.source, qualifier="E",
            detail=(*detail, ("why", (f"{perspective.name} produces {share:.0%} of world "
                                      f"output ({table.series} {table.year}): net exporter"))))
    return IndicatorValue(mineral, "net_import_reliance", None, unit="percent",
                          reason=f"{where}; it produces {share:.0%} of world output "
                                 f"({table.series} {table.year}), below the "
                                 f"{DOMINANT_SHARE:.0%} that makes it a net exporter",
                          detail=detail)


def _figure_value(perspective: Perspective, mineral: str, reliance: Reliance) -> IndicatorValue:
    figure = reliance.headline
    detail: list[tuple[str, str]] = [
        ("perspective", perspective.id), ("method", perspective.method),
        ("figure", figure.shown()), ("stage", figure.stage or "unspecified"),
        ("reliability", str(figure.reliability)), ("source_title", figure.source),
        ("source_url", figure.source_url)]
    if figure.recycling_pct is not None:
        detail.append(("recycling_pct", f"{figure.recycling_pct:g}"))
    if figure.note:
        detail.append(("note", figure.note))
    if reliance.others:
        detail.append(("spread", spread(reliance.others)))
    qualifier = figure.qualifier if figure.qualifier in (">", "<", "E") else ""
    if figure.qualifier == "~":
        detail.append(("approximate", "yes"))
    return IndicatorValue(mineral, "net_import_reliance", figure.value, unit="percent",
                          as_of=date(figure.year, 1, 1), source=f"perspective_{perspective.id}",
                          qualifier=qualifier, detail=tuple(detail))


def spread(figures: Sequence[RelianceFigure]) -> str:
    """The other published figures, newest first: ``95% (2022, SCMP ...); 90% (2018, ...)``."""
    return "; ".join(f"{f.qualifier if f.qualifier != 'E' else ''}{f.value:g}% ({f.year}, "
                     f"{f.source[:60]})" for f in figures)


# --------------------------------------------------------------------------- governance


def sourcing_governance(world: IndicatorValue, table: ProductionTable, partners: Partners,
                        perspective: Perspective, reliance: float,
                        governance: GovernanceTable) -> IndicatorValue:
    """DP = r/2 · DP_world + (1 - r/2) · DP_sourcing (the EU method's mix; module doc)."""
    assert world.value is not None
    mix = sourcing_mix(table, partners, perspective, reliance)
    known = {c: gov.g for c in mix if (gov := governance.get(c)) is not None}
    member_g = [gov.g for m in perspective.members if (gov := governance.get(m)) is not None]
    domestic_g = statistics.median(member_g) if member_g else None
    fallback = statistics.median(known.values()) if known else 0.5
    total = 0.0
    for country, share in mix.items():
        if country == DOMESTIC:
            g = domestic_g if domestic_g is not None else fallback
        else:
            g = known.get(country, fallback)
        total += share * share * g
    value = reliance / 2.0 * world.value + (1.0 - reliance / 2.0) * total
    listed = ", ".join(f"{c} {s:.0%}" for c, s in sorted(partners.shares.items(),
                                                          key=lambda i: -i[1]))
    detail = (*world.detail, ("perspective", perspective.id),
              ("dp_world", f"{world.value:.4f}"), ("dp_sourcing", f"{total:.4f}"),
              ("partners", f"{listed} ({partners.year})"),
              ("formula", f"r/2·DP_world + (1 - r/2)·DP_sourcing, r = {reliance:.2f}"))
    return replace(world, value=value, detail=detail)


DOMESTIC = "(domestic)"


def sourcing_mix(table: ProductionTable, partners: Partners, perspective: Perspective,
                 reliance: float) -> dict[str, float]:
    """The economy's supply by origin, summing to 1: domestic, listed partners, the rest."""
    mix: dict[str, float] = {}
    if reliance < 1.0:
        mix[DOMESTIC] = 1.0 - reliance
    for country, share in partners.shares.items():
        mix[country] = mix.get(country, 0.0) + reliance * share
    rest = reliance * partners.unlisted
    others = {c: s for c, s in table.shares.items()
              if c not in partners.shares and not perspective.is_member(c)}
    total = sum(others.values())
    if rest > 0 and total > 0:
        for country, share in others.items():
            mix[country] = mix.get(country, 0.0) + rest * share / total
    elif rest > 0:
        mix["(unlisted)"] = rest
    return mix
