"""Scoring a replay against dated events: onsets, episodes, detections, lead times, false alarms.

See docs/backtest.md for the definitions. Pure functions of a :class:`ReplayResult` and a list
of events.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from monitor.alerting.state import (
    EventKind,
    Transition,
    level_rank,
)
from monitor.backtest.events import Event, kind_family
from monitor.backtest.inputs import ReplayData
from monitor.backtest.replay import DateResult, Episode, Onset, ReplayResult, replay
from monitor.config.load import Config
from monitor.core.models import Measure
from monitor.news.events import RULE as POLICY_RULE

#: Operational rules whose alerts say nothing about supply (a stale feed): not scored.
DEFAULT_EXCLUDED_RULES: tuple[str, ...] = ("price_stale",)

DETECT_BEFORE = timedelta(days=90)

DETECT_AFTER = timedelta(days=30)

FALSE_ALARM_BEFORE = timedelta(days=90)

FALSE_ALARM_AFTER = timedelta(days=180)


# =========================================================================== scoring


def onsets(result: ReplayResult, *, min_level: str = "high",
           excluded_rules: Iterable[str] = DEFAULT_EXCLUDED_RULES) -> list[Onset]:
    """Moments an alert reached ``min_level`` (a new episode or an escalation across it).

    Policy-event alerts count at any level. Onsets before ``result.start`` (warm-up) are dropped.
    """
    excluded = set(excluded_rules)
    threshold = level_rank(min_level)
    found: list[Onset] = []
    at_level: set[str] = set()
    for t in result.transitions:
        alert = t.alert
        if alert.alertname in excluded:
            continue
        qualifies = alert.alertname == POLICY_RULE or level_rank(t.level) >= threshold
        if t.kind == EventKind.RESOLVED or not qualifies:
            at_level.discard(t.fingerprint)
            continue
        if t.kind not in (EventKind.FIRED, EventKind.ESCALATED) or t.fingerprint in at_level:
            continue
        at_level.add(t.fingerprint)
        day = t.at.date()
        if day < result.start:
            continue
        found.append(Onset(day, alert.mineral, alert.alertname, t.level, t.fingerprint,
                           result.factors.get((t.fingerprint, day), alert.indicator),
                           alert.value, dict(alert.annotations).get("summary", "")))
    return found


def episodes(transitions: Iterable[Transition]) -> list[Episode]:
    """Firing periods per alert, from FIRED to RESOLVED, with the highest level reached."""
    open_: dict[str, Episode] = {}
    done: list[Episode] = []
    for t in transitions:
        alert = t.alert
        if t.kind == EventKind.FIRED:
            open_[t.fingerprint] = Episode(t.fingerprint, alert.alertname, alert.mineral,
                                           t.at.date(), None, t.level)
        elif t.fingerprint in open_ and t.kind == EventKind.ESCALATED:
            open_[t.fingerprint] = replace(open_[t.fingerprint], level=t.level)
        elif t.fingerprint in open_ and t.kind == EventKind.RESOLVED:
            done.append(replace(open_.pop(t.fingerprint), end=t.at.date()))
    return sorted([*done, *open_.values()], key=lambda e: (e.start, e.mineral, e.rule))


def expand_groups(config: Config) -> dict[str, frozenset[str]]:
    """Each mineral id -> itself plus its members (an alert on neodymium is a rare-earth alert)."""
    return {m.id: frozenset({m.id, *m.members}) for m in config.minerals.minerals}


# --------------------------------------------------------------------------- causes


def cause(onset: Onset) -> str:
    """What raised an onset, coarsely: ``news:<family>``, ``market``, ``score:<factor>``, ...

    Read from the onset's rule and factor (``news <kind> (<country>)`` for a policy-news alert,
    ``supply_risk: <factor>`` for a score alert, the indicator(s) for any other rule).
    """
    if onset.rule == POLICY_RULE:
        words = onset.factor.split()
        family = kind_family(words[1]) if len(words) > 1 and words[0] == "news" else None
        return f"news:{family or 'unknown'}"
    if onset.factor.startswith("supply_risk"):
        _, _, name = onset.factor.partition(":")
        return f"score:{name.strip() or 'unknown'}"
    if any(ind.strip().startswith("price_") for ind in onset.factor.split(",")):
        return "market"
    return "other"


#: Causes that relate to any supply event of the alert's mineral: a market signal (a price rule,
#: or a score led by its market factor) and a score led by policy pressure (supply-risk news
#: of that mineral). A score led by the structural factor (annual import reliance,
#: concentration, governance) says nothing about the date of an event.
RELATED_CAUSES = frozenset({"market", "score:market", "score:policy"})


def related(onset: Onset, event: Event) -> bool:
    """Whether an onset's cause relates to the event (docs/backtest.md, "Attribution")."""
    what = cause(onset)
    if what.startswith("news:"):
        family = kind_family(event.kind)
        return family is not None and what == f"news:{family}"
    return what in RELATED_CAUSES


# --------------------------------------------------------------------------- exposure


def alertable_since(result: ReplayResult, data: ReplayData) -> dict[str, date]:
    """Per replayed mineral, the first date it had an input that could raise an alert.

    The earliest of: the publication of its first price observation, the first evaluation
    that gave it a (known) supply-risk score, the date of its first original supply-risk news
    item. A mineral with none of these is absent. Inputs are never withdrawn, so a mineral
    stays alertable from that date on.
    """
    wanted = set(result.minerals)
    first: dict[str, date] = {}

    def seen(mineral: str, day: date) -> None:
        if mineral in wanted and (mineral not in first or day < first[mineral]):
            first[mineral] = day

    for obs in data.observations:
        if obs.measure == Measure.PRICE and obs.published_at is not None \
                and obs.value is not None:
            seen(obs.mineral, obs.published_at)
    for mineral, rows in result.scores.items():
        if rows:
            seen(mineral, min(day for day, _, _ in rows))
    for item in data.news:
        if item.is_supply_risk_event and item.dedup_of is None:
            for mineral in {*item.minerals, *item.inferred_minerals}:
                seen(mineral, item.at.date())
    return first


def alertable_years(alertable_from: Mapping[str, date], found: Sequence[Onset],
                    minerals: Sequence[str], start: date, end: date) -> float:
    """Alertable mineral-years: per mineral, days of [start, end] from its first alertable date.

    A mineral's first onset also makes it alertable (so every false alarm lies in the exposure).
    """
    since = dict(alertable_from)
    for o in found:
        if o.mineral not in since or o.at < since[o.mineral]:
            since[o.mineral] = o.at
    days = 0
    for mineral in minerals:
        if mineral in since and since[mineral] <= end:
            days += (end - max(start, since[mineral])).days + 1
    return days / 365.25


# --------------------------------------------------------------------------- scores


@dataclass(frozen=True, slots=True)
class EventScore:
    """How the replay did on one event."""

    event: Event
    detected: bool
    first: Onset | None
    in_range: bool  # announced within the replay and about at least one replayed mineral
    detected_related: bool = False  # an onset with a related cause in the window
    shares_onset_with: tuple[str, ...] = ()  # other counted events whose first alert is ours

    @property
    def counted(self) -> bool:
        """Scored for recall: a tightening event, in range, about a known mineral."""
        return self.event.scored and self.in_range and bool(self.event.minerals)

    @property
    def lead_days_announced(self) -> int | None:
        return (self.event.announced - self.first.at).days if self.first else None

    @property
    def lead_days_effective(self) -> int | None:
        if self.first is None or self.event.effective is None:
            return None
        return (self.event.effective - self.first.at).days

    @property
    def cause_related(self) -> bool | None:
        """Whether the first alert's cause relates to the event (``None``: not detected)."""
        return related(self.first, self.event) if self.first else None

    def row(self) -> dict[str, Any]:
        first = self.first
        return {
            "id": self.event.id, "minerals": list(self.event.minerals), "kind": self.event.kind,
            "scored": self.event.scored, "replayed": self.in_range,
            "date_announced": self.event.announced.isoformat(),
            "date_effective": self.event.effective.isoformat() if self.event.effective else None,
            "detected": self.detected,
            "first_alert_date": first.at.isoformat() if first else None,
            "lead_days_announced": self.lead_days_announced,
            "lead_days_effective": self.lead_days_effective,
            "level": first.level if first else None, "rule": first.rule if first else None,
            "alert_mineral": first.mineral if first else None,
            "factor": first.factor if first else None,
            "kind_family": kind_family(self.event.kind),
            "cause": cause(first) if first else None,
            "cause_related": self.cause_related,
            "detected_related": self.detected_related,
            "shares_onset_with": list(self.shares_onset_with),
        }


@dataclass
class Score:
    """The backtest's answer: per event, false-alarm episodes and the summary figures."""

    per_event: list[EventScore]
    false_alarms: list[Onset]
    onsets: list[Onset]
    mineral_years: float
    min_level: str
    alertable_mineral_years: float | None = None
    followed: list[Onset] = field(default_factory=list)  # onsets with a scored event after

    def detecting_onsets(self) -> list[tuple[Onset, list[str]]]:
        """Each onset that is the first alert of a counted detected event, with those events."""
        credited: dict[Onset, list[str]] = {}
        for s in self.per_event:
            if s.counted and s.first is not None:
                credited.setdefault(s.first, []).append(s.event.id)
        return sorted(credited.items(), key=lambda item: (item[0].at, item[0].mineral))

    def summary(self) -> dict[str, Any]:
        scored = [s for s in self.per_event if s.counted]
        hits = [s for s in scored if s.detected]
        easing = [s for s in self.per_event if not s.event.scored and s.in_range]
        leads_a = [s.lead_days_announced for s in hits if s.lead_days_announced is not None]
        leads_e = [s.lead_days_effective for s in hits if s.lead_days_effective is not None]
        rate = len(self.false_alarms) / self.mineral_years if self.mineral_years else None
        exposure = self.alertable_mineral_years
        alertable_rate = len(self.false_alarms) / exposure if exposure else None
        related_hits = sum(1 for s in scored if s.detected_related)
        detecting = self.detecting_onsets()
        return {
            "min_level": self.min_level,
            "events_scored": len(scored), "detected": len(hits),
            "recall": _ratio(len(hits), len(scored)),
            "median_lead_days_announced": _median(leads_a),
            "median_lead_days_effective": _median(leads_e),
            "false_alarm_episodes": len(self.false_alarms),
            "mineral_years": round(self.mineral_years, 2),
            "false_alarms_per_mineral_year": round(rate, 4) if rate is not None else None,
            "alert_onsets": len(self.onsets),
            "easing_events": len(easing),
            "easing_events_alerted": sum(1 for s in easing if s.detected),
            "events_not_replayed": sum(1 for s in self.per_event if not s.in_range),
            "alertable_mineral_years": round(exposure, 2) if exposure is not None else None,
            "false_alarms_per_alertable_mineral_year":
                round(alertable_rate, 4) if alertable_rate is not None else None,
            "onsets_followed_by_event": len(self.followed),
            "onset_precision": _ratio(len(self.followed), len(self.onsets)),
            "detected_related": related_hits,
            "recall_related": _ratio(related_hits, len(scored)),
            "first_alert_unrelated": sum(1 for s in hits if s.cause_related is False),
            "detecting_onsets": len(detecting),
            "shared_onset_detections": sum(len(ids) for _, ids in detecting if len(ids) > 1),
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "per_event": [s.row() for s in self.per_event],
                "false_alarms": [_onset_row(o) for o in self.false_alarms],
                "detecting_onsets": [_onset_row(o) | {"cause": cause(o), "events": ids}
                                     for o, ids in self.detecting_onsets()]}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _onset_row(o: Onset) -> dict[str, Any]:
    return {"date": o.at.isoformat(), "mineral": o.mineral, "rule": o.rule, "level": o.level,
            "factor": o.factor}


def score(events: Sequence[Event], found: Sequence[Onset], *, start: date, end: date,
          minerals: Sequence[str], groups: Mapping[str, frozenset[str]] | None = None,
          min_level: str = "high", alertable_from: Mapping[str, date] | None = None) -> Score:
    """Score onsets against events (rules in docs/backtest.md).

    ``alertable_from`` (from :func:`alertable_since`) gives the alertable exposure; without it
    the per-alertable-mineral-year figures are ``None``.
    """
    groups = groups or {}
    covered = {e.id: _covered(e, groups) for e in events}
    per_event = []
    for event in events:
        lo, hi = event.announced - DETECT_BEFORE, event.announced + DETECT_AFTER
        hits = [o for o in found if o.mineral in covered[event.id] and lo <= o.at <= hi]
        first = min(hits, key=lambda o: (o.at, -level_rank(o.level), o.rule)) if hits else None
        replayed = bool(covered[event.id] & set(minerals))
        per_event.append(EventScore(event, first is not None, first,
                                    replayed and start <= event.announced <= end,
                                    any(related(o, event) for o in hits)))
    per_event = _mark_shared(per_event)
    shocks = [e for e in events if e.scored]
    false_alarms = [o for o in found if not any(
        o.mineral in covered[e.id]
        and o.at - FALSE_ALARM_BEFORE <= e.announced <= o.at + FALSE_ALARM_AFTER
        for e in shocks)]
    followed = [o for o in found if any(
        o.mineral in covered[e.id] and o.at - DETECT_AFTER <= e.announced <= o.at + DETECT_BEFORE
        for e in shocks)]
    years = ((end - start).days + 1) / 365.25
    exposure = None if alertable_from is None else \
        alertable_years(alertable_from, found, minerals, start, end)
    return Score(per_event, false_alarms, list(found), len(minerals) * years, min_level,
                 exposure, followed)


def _mark_shared(per_event: list[EventScore]) -> list[EventScore]:
    """Name, on each counted detection, the other counted events credited to the same onset."""
    by_onset: dict[Onset, list[str]] = {}
    for s in per_event:
        if s.counted and s.first is not None:
            by_onset.setdefault(s.first, []).append(s.event.id)
    return [replace(s, shares_onset_with=tuple(i for i in by_onset[s.first] if i != s.event.id))
            if s.counted and s.first is not None else s for s in per_event]


def _covered(event: Event, groups: Mapping[str, frozenset[str]]) -> frozenset[str]:
    out: set[str] = set()
    for mineral in event.minerals:
        out |= groups.get(mineral, frozenset({mineral}))
    return frozenset(out)


def run_backtest(config: Config, data: ReplayData, events: Sequence[Event], *, start: date,
                 end: date, minerals: Sequence[str] | None = None, min_level: str = "high",
                 excluded_rules: Iterable[str] = DEFAULT_EXCLUDED_RULES,
                 on_date: Callable[[DateResult], None] | None = None,
                 progress: Callable[[int, int], None] | None = None
                 ) -> tuple[ReplayResult, Score]:
    """Replay, then score: the whole of ``critmon backtest`` without the I/O."""
    result = replay(config, data, start, end, minerals=minerals, on_date=on_date,
                    progress=progress)
    return result, score_replay(config, data, events, result, min_level=min_level,
                                excluded_rules=excluded_rules)


def score_replay(config: Config, data: ReplayData, events: Sequence[Event],
                 result: ReplayResult, *, min_level: str = "high",
                 excluded_rules: Iterable[str] = DEFAULT_EXCLUDED_RULES) -> Score:
    """Score a replay of ``config`` over ``data`` against ``events`` (the scoring half of
    :func:`run_backtest`)."""
    found = onsets(result, min_level=min_level, excluded_rules=excluded_rules)
    return score(events, found, start=result.start, end=result.end, minerals=result.minerals,
                 groups=expand_groups(config), min_level=min_level,
                 alertable_from=alertable_since(result, data))


def dumps(scored: Score, result: ReplayResult) -> str:
    """The JSON document of ``critmon backtest --format json``."""
    doc = scored.to_json()
    doc["replay"] = {"from": result.start.isoformat(), "to": result.end.isoformat(),
                     "evaluations": len(result.dates), "minerals": len(result.minerals),
                     "seconds": round(result.seconds, 2)}
    return json.dumps(doc, ensure_ascii=False, indent=2)
