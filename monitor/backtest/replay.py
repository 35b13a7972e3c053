"""Replay history on a simulated clock through the live pipeline.

The replay is the daemon's evaluate job with the store replaced by memory: at each simulated
date ``D`` (every distinct publication date of the inputs and every news item date) it keeps the
observations with ``published_at <= D`` and the WGI estimates public at ``D``, then runs
:func:`monitor.risk.assess.assess` -> :func:`~monitor.risk.assess.detector_series` (risk history
= the replay's own earlier scores) -> :func:`monitor.rules.evaluate.evaluate_rules` (one
:class:`~monitor.rules.evaluate.DetectorCache` for the whole replay) ->
:func:`~monitor.risk.assess.annotate_signals`, adds ``policy_event`` signals for news first seen
since the previous date, and steps every alert with the pure state machine
:func:`monitor.alerting.state.step`, exactly as the enqueue stage does. ``now`` is ``D`` at
00:00 UTC. Nothing in here reads the network or the wall clock. Scoring is in
:mod:`monitor.backtest.scoring`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from monitor.alerting.enqueue import evaluated_rule_names, rule_timings
from monitor.alerting.state import (
    AlertState,
    EventKind,
    State,
    Timing,
    Transition,
    absent_signal,
    one_signal_per_alert,
    step,
)
from monitor.backtest.inputs import NewsEvent, ReplayData, Series, _published
from monitor.config.load import Config
from monitor.core.models import Measure, Observation, Signal
from monitor.news.events import RULE as POLICY_RULE
from monitor.news.events import perspective_event_signals, select_alerts
from monitor.news.pressure import PolicyEvent, compute_policy_pressure, compute_production_shares
from monitor.risk.assess import (
    Assessment,
    annotate_signals,
    assess,
    detector_series,
    label_perspective,
)
from monitor.rules.evaluate import DetectorCache, effective_rules, evaluate_rules
from monitor.sources.wgi import WgiEstimate

#: Days replayed before ``start`` so alerts already true on day one do not count as new onsets.
DEFAULT_WARMUP = timedelta(days=120)


# =========================================================================== replay


@dataclass(frozen=True, slots=True)
class Onset:
    """An alert reaching the scored level: the moment a user would have been told."""

    at: date
    mineral: str
    rule: str
    level: str | None
    fingerprint: str
    factor: str
    value: float | None = None
    summary: str = ""


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing period of one alert (``end`` is ``None`` when still firing)."""

    fingerprint: str
    rule: str
    mineral: str
    start: date
    end: date | None
    level: str | None


@dataclass
class DateResult:
    """What one simulated evaluation produced."""

    as_of: date
    assessments: list[Assessment]
    signals: list[Signal]
    transitions: list[Transition]


@dataclass
class ReplayResult:
    """The transitions of a whole replay plus the score history (for charts)."""

    start: date
    end: date
    minerals: tuple[str, ...]
    dates: list[date] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    factors: dict[tuple[str, date], str] = field(default_factory=dict)
    scores: dict[str, list[tuple[date, float, str]]] = field(
        default_factory=lambda: defaultdict(list))
    last_assessments: dict[str, Assessment] = field(default_factory=dict)
    seconds: float = 0.0


def evaluation_dates(data: ReplayData, start: date, end: date) -> list[date]:
    """Every date in [start, end] on which something became public: the replay's clock ticks."""
    dates = {_published(o) for o in data.observations}
    dates |= {data.wgi_published_at(year) for year in {w.year for w in data.wgi}}
    dates |= {n.at.astimezone(UTC).date() for n in data.news}
    return sorted(d for d in dates if start <= d <= end)


def midnight(day: date) -> datetime:
    """The simulated clock at ``day``: 00:00 UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


class Replayer:
    """The daemon's evaluate job on a simulated clock, with its state held in memory."""

    def __init__(self, config: Config, data: ReplayData,
                 minerals: Sequence[str] | None = None) -> None:
        self.config = config
        self.data = data
        self.minerals = tuple(minerals or config.mineral_ids)
        self.rules = effective_rules(config.rules, self.minerals)
        self.timings = rule_timings(config)
        self.evaluated = evaluated_rule_names(config)
        # Fits are deterministic: a detector fitted on the same series is reused, whatever the
        # time between evaluations (live refits daily; on identical data that changes nothing).
        self.cache = DetectorCache(refit_every=timedelta.max)
        self.alerts: dict[str, AlertState] = {}
        self.history: dict[str, Series] = defaultdict(list)
        self.levels: dict[str, str] = {}
        self.last_news: date | None = None
        self._pending = sorted(data.observations, key=_published)
        self._cursor = 0
        self._known: dict[str, dict[tuple[str, str, str, date], Observation]] = defaultdict(dict)
        self._wanted = set(self.minerals) | self._groups_and_members()
        self._wgi_pending = sorted(data.wgi, key=lambda w: data.wgi_published_at(w.year))
        self._wgi_known: list[WgiEstimate] = []

    def _groups_and_members(self) -> set[str]:
        """Minerals whose data the chosen ones need (a member inherits from its group)."""
        extra: set[str] = set()
        for mineral in self.config.minerals.minerals:
            if mineral.id in self.minerals:
                extra.update(mineral.members)
                if mineral.group:
                    extra.add(mineral.group)
        return extra

    def observations_at(self, as_of: date) -> dict[str, list[Observation]]:
        """Observations public at ``as_of``, per mineral, ordered as the store returns them.

        Incremental: the replay moves forward, so each observation is filed once. A later
        publication of the same natural key replaces the earlier one (a revision).
        """
        while self._cursor < len(self._pending) and \
                _published(self._pending[self._cursor]) <= as_of:
            obs = self._pending[self._cursor]
            self._cursor += 1
            self._known[obs.mineral][(obs.source, obs.series, obs.country, obs.period)] = obs
        return {mineral: sorted(rows.values(), key=_store_order)
                for mineral, rows in self._known.items()}

    def wgi_at(self, as_of: date) -> list[WgiEstimate]:
        """WGI estimates public at ``as_of``, in the data's order (incremental, like
        :meth:`observations_at`)."""
        published = self.data.wgi_published_at
        fresh = 0
        while fresh < len(self._wgi_pending) and \
                published(self._wgi_pending[fresh].year) <= as_of:
            fresh += 1
        if fresh:
            self._wgi_known += self._wgi_pending[:fresh]
            del self._wgi_pending[:fresh]
            order = {id(w): i for i, w in enumerate(self.data.wgi)}
            self._wgi_known.sort(key=lambda w: order[id(w)])
        return list(self._wgi_known)

    def step_date(self, as_of: date) -> DateResult:
        """Evaluate every mineral at ``as_of`` and advance every alert."""
        now = midnight(as_of)
        observations = self.observations_at(as_of)
        wgi = self.wgi_at(as_of)
        pressure = self._pressure(observations, as_of)
        everything = assess(self.config, observations, wgi, as_of=as_of,
                            previous_levels=self.levels, policy_pressure=pressure,
                            perspective=self.config.perspectives[0])  # the first listed
        assessments = [a for a in everything if a.mineral in self.minerals]
        series = {a.mineral: detector_series(a, as_of=as_of, risk_history=self.history[a.mineral])
                  for a in assessments}
        signals = evaluate_rules(self.rules, series, as_of=as_of, now=now, cache=self.cache)
        signals = annotate_signals(label_perspective(signals, self.config.perspectives[0].id),
                                   {a.mineral: a for a in assessments})
        self._remember_scores(assessments, as_of)
        signals = [*signals, *self._policy_signals(observations, as_of, now)]
        transitions = self.enqueue(signals, now)
        return DateResult(as_of, assessments, signals, transitions)

    def _remember_scores(self, assessments: Sequence[Assessment], as_of: date) -> None:
        for a in assessments:
            if a.risk.score is not None:
                self.history[a.mineral].append((as_of, a.risk.score))
            self.levels[a.mineral] = a.risk.level

    def enqueue(self, signals: Sequence[Signal], now: datetime) -> list[Transition]:
        """``enqueue.enqueue_signals`` without the store: step each alert, absent ones too."""
        chosen = one_signal_per_alert(signals)
        evaluated = self.evaluated
        transitions: list[Transition] = []
        for fp, signal in chosen.items():
            transitions += self._apply(self.alerts.get(fp), signal, now)
        for fp, alert in list(self.alerts.items()):
            if (fp in chosen or alert.alertname not in evaluated
                    or alert.state not in (State.PENDING, State.FIRING)):
                continue
            transitions += self._apply(alert, absent_signal(alert), now)
        return transitions

    def _apply(self, prev: AlertState | None, signal: Signal, now: datetime
               ) -> list[Transition]:
        timing = self.timings.get(signal.rule, Timing())
        new, transitions = step(prev, signal, timing, now)
        if new is not None:
            self.alerts[new.fingerprint] = new
        return transitions

    # ------------------------------------------------------------------ news

    def _news_known(self, as_of: date) -> list[NewsEvent]:
        return [n for n in self.data.news
                if n.at.date() <= as_of and n.dedup_of is None and n.is_supply_risk_event]

    def _pressure(self, observations: Mapping[str, Sequence[Observation]], as_of: date
                  ) -> dict[str, float | None]:
        """``policy_pressure_for`` on the replay's news: 0.0 for a mineral without events."""
        at = datetime.combine(as_of, time.max, tzinfo=UTC)
        settings = self.config.rules.news
        news = self._news_known(as_of)
        pressure: dict[str, float | None] = {}
        for mineral in self.config.mineral_ids:
            events = [PolicyEvent(n.id, n.at, n.kind, n.country) for n in news
                      if mineral in n.minerals or mineral in n.inferred_minerals]
            if not events:
                pressure[mineral] = 0.0
                continue
            shares = _shares(observations, mineral, as_of)
            pressure[mineral] = compute_policy_pressure(
                events, shares, at, settings, perspective=self.config.perspectives[0],
                mineral=mineral)
        return pressure

    def _policy_signals(self, observations: Mapping[str, Sequence[Observation]], as_of: date,
                        now: datetime) -> list[Signal]:
        """``policy_event_signals``: items first seen since the previous evaluation, one alert per
        (mineral, source) burst, capped per evaluation, as live."""
        fresh = [n for n in self._news_known(as_of)
                 if self.last_news is None or n.at.date() > self.last_news]
        self.last_news = as_of
        if not fresh:
            return []
        settings = self.config.rules.news
        watched = set(self.minerals) if settings.watch == "all" else \
            set(settings.watch) & set(self.minerals)
        chosen = select_alerts([n.as_item() for n in fresh], settings, watched,
                               max(now, *(n.at for n in fresh)))

        def share_of(mineral: str, country: str | None) -> float | None:
            if not country:
                return None
            shares = _shares(observations, mineral, as_of)
            return shares.get(country, 0.0) if shares else None

        return perspective_event_signals(chosen, self.config.perspectives[:1], share_of,
                                         settings)


def _shares(observations: Mapping[str, Sequence[Observation]], mineral: str, as_of: date
            ) -> dict[str, float]:
    rows = [o for o in observations.get(mineral, ()) if o.measure == Measure.PRODUCTION]
    return compute_production_shares(rows, as_of)


def _store_order(o: Observation) -> tuple[str, str, str, date, str]:
    return (str(o.measure), o.source, o.series, o.period, o.country)


def replay(config: Config, data: ReplayData, start: date, end: date, *,
           minerals: Sequence[str] | None = None, warmup: timedelta = DEFAULT_WARMUP,
           on_date: Callable[[DateResult], None] | None = None) -> ReplayResult:
    """Replay [start - warmup, end]; transitions before ``start`` only set up the state."""
    import time as _time

    began = _time.perf_counter()
    replayer = Replayer(config, data, minerals)
    result = ReplayResult(start, end, replayer.minerals)
    for as_of in evaluation_dates(data, start - warmup, end):
        out = replayer.step_date(as_of)
        result.dates.append(as_of)
        for a in out.assessments:
            if a.risk.score is not None:
                result.scores[a.mineral].append((as_of, a.risk.score, a.risk.level))
            result.last_assessments[a.mineral] = a
        fired = [t for t in out.transitions if t.kind in (EventKind.FIRED, EventKind.ESCALATED)]
        by_mineral = {a.mineral: a for a in out.assessments}
        for t in fired:
            result.factors[(t.fingerprint, as_of)] = _factor(t, by_mineral.get(t.alert.mineral))
        result.transitions += out.transitions
        if on_date is not None:
            on_date(out)
    result.seconds = _time.perf_counter() - began
    return result


def _factor(t: Transition, assessment: Assessment | None) -> str:
    """What fired: the top risk factor for a score alert, the indicator or news kind else."""
    alert = t.alert
    if alert.alertname == POLICY_RULE:
        labels = dict(alert.labels)
        return f"news {labels.get('kind', '')} ({labels.get('country', '') or 'unknown'})"
    if alert.indicator == "supply_risk" and assessment is not None:
        factors = [f for f in assessment.risk.factors if f.contribution is not None]
        if factors:
            top = max(factors, key=lambda f: f.contribution or 0.0)
            return f"supply_risk: {top.name}"
    return alert.indicator
