"""Dated supply events to score a replay against: the events CSV, mineral names, loose dates.

The bundled ``events.csv`` (monitor/data) or a user's file; each row names one or more
minerals (resolved to ids, groups expanded by the scorer), a date and a kind.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from types import MappingProxyType

from monitor.config.minerals import Mineral

#: Event kinds that are not supply shocks: alerts near them are counted apart, never as hits.
EASING_KINDS = frozenset({"policy_relaxation", "trade_ruling", "threat_no_action",
                          "legal_framework", "regulation"})
EVENTS_FILE = "events.csv"

#: Kind families, written once for both vocabularies: the news classifier's kinds
#: (``monitor.core.news_kinds.NEWS_KINDS``) and the events CSV ``kind`` column. A policy-news
#: alert is attributed to an event only when both kinds fall in the same family
#: (docs/backtest.md, "Attribution"). A kind in no family (``price_move``, an unknown event
#: kind) matches nothing.
KIND_FAMILIES: Mapping[str, frozenset[str]] = MappingProxyType({
    # A government limits trade or the right to mine: bans, quotas, licences, sanctions.
    "restriction": frozenset({
        "export_control", "export_ban", "export_quota", "tariff", "sanction", "import_ban",
        "resource_nationalism",  # news kinds
        "export_suspension", "informal_export_embargo", "technology_export_ban",
        "war_sanctions_risk",  # event kinds beyond the news vocabulary
    }),
    # Physical supply stops or shrinks: mines, smelters, logistics, ordered output cuts, a
    # market that stops trading.
    "disruption": frozenset({
        "mine_disruption", "smelter_disruption", "logistics_disruption",
        "mine_closure", "mine_closure_order", "production_curbs", "market_disruption",
    }),
    # Supply loosens or a threat is not carried out: releases, relaxations, rulings, frameworks.
    "easing": frozenset({
        "stockpile_release",
        "policy_relaxation", "trade_ruling", "threat_no_action", "legal_framework", "regulation",
    }),
})
_FAMILY_OF: dict[str, str] = {kind: family for family, kinds in KIND_FAMILIES.items()
                              for kind in kinds}


# =========================================================================== events


@dataclass(frozen=True, slots=True)
class Event:
    """One dated supply event from an events CSV; ``minerals`` are resolved mineral ids."""

    id: str
    announced: date
    effective: date | None
    minerals: tuple[str, ...]
    country: str
    kind: str
    summary: str = ""
    source_url: str = ""
    verified: str = ""
    unknown: tuple[str, ...] = ()

    @property
    def scored(self) -> bool:
        """A tightening shock (scored for recall) rather than an easing/ruling/threat row."""
        return self.kind not in EASING_KINDS


def kind_family(kind: str) -> str | None:
    """The family (``restriction``, ``disruption``, ``easing``) of a news or event kind."""
    return _FAMILY_OF.get(kind.strip().lower())


def mineral_names(minerals: Sequence[Mineral]) -> dict[str, str]:
    """Lower-case name -> mineral id, from ids, names (``rare earths``) and English aliases."""
    names: dict[str, str] = {}
    for mineral in minerals:
        for name in (*mineral.aliases, mineral.name, mineral.id.replace("_", " "), mineral.id):
            names[_norm(name)] = mineral.id
    return names


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def resolve_minerals(text: str, names: Mapping[str, str]) -> tuple[tuple[str, ...],
                                                                      tuple[str, ...]]:
    """Split a ``;``-separated minerals cell into (known ids, unknown names).

    Parentheses name elements inside a group (``rare earths (dysprosium, terbium)``): the group
    and every named element are taken. A plural (``borates``) falls back to its singular.
    """
    known: list[str] = []
    unknown: list[str] = []
    for part in text.replace("(", ";").replace(")", ";").replace(",", ";").split(";"):
        name = _norm(part)
        if not name:
            continue
        found = names.get(name) or (names.get(name[:-1]) if name.endswith("s") else None)
        target = known if found else unknown
        value = found or part.strip()
        if value not in target:
            target.append(value)
    return tuple(known), tuple(unknown)


def parse_loose_date(text: str) -> date | None:
    """``YYYY-MM-DD``, or ``YYYY-MM`` (taken as the 1st; the events file uses it where only the
    month is verified); empty gives ``None``."""
    text = text.strip()
    if not text:
        return None
    if len(text) == 7:
        return date(int(text[:4]), int(text[5:7]), 1)
    return date.fromisoformat(text[:10])


def parse_events(text: str, minerals: Sequence[Mineral]) -> tuple[list[Event], list[str]]:
    """Events from CSV text, oldest first, and warnings (unknown minerals, bad rows)."""
    names = mineral_names(minerals)
    events: list[Event] = []
    warnings: list[str] = []
    for line, row in enumerate(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))), start=2):
        try:
            event = _event(row, names)
        except (KeyError, ValueError, TypeError) as exc:
            warnings.append(f"events line {line}: skipped: {exc}")
            continue
        if event.unknown:
            warnings.append(f"{event.id}: unknown mineral(s) {', '.join(event.unknown)}")
        if not event.minerals:
            warnings.append(f"{event.id}: no known mineral; not scored")
        events.append(event)
    return sorted(events, key=lambda e: (e.announced, e.id)), warnings


def _event(row: Mapping[str, str | None], names: Mapping[str, str]) -> Event:
    def cell(key: str) -> str:
        return (row.get(key) or "").strip()

    announced = parse_loose_date(cell("date_announced"))
    if announced is None:
        raise ValueError("date_announced is empty")
    known, unknown = resolve_minerals(cell("minerals"), names)
    return Event(id=cell("id"), announced=announced,
                 effective=parse_loose_date(cell("date_effective")), minerals=known,
                 country=cell("country"), kind=cell("kind"), summary=cell("summary"),
                 source_url=cell("source_url"), verified=cell("verified"), unknown=unknown)


def bundled_events_text() -> str:
    """The events file shipped in ``monitor/data`` (see ATTRIBUTION.md)."""
    return resources.files("monitor.data").joinpath(EVENTS_FILE).read_text(encoding="utf-8")
