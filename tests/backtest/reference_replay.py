"""The straightforward replay, kept as the reference for the optimised one.

A copy of ``monitor.backtest.replay.Replayer`` as it was before the replay was restructured for
speed (issue 17): every date re-assesses every mineral from scratch, with the memoised price
maths cleared before each date so that nothing computed for one date is reused at the next. The production replay must
give the same signals, transitions and scores at every date (tests/backtest/test_replay.py) and
bench/bench_backtest.py prints the ratio of the two. Keep it simple; do not optimise it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from monitor.alerting.enqueue import evaluated_rule_names, rule_timings
from monitor.alerting.state import (
    AlertState,
    State,
    Timing,
    Transition,
    absent_signal,
    one_signal_per_alert,
    step,
)
from monitor.backtest.inputs import NewsEvent, ReplayData, Series, _published
from monitor.backtest.replay import DEFAULT_WARMUP, DateResult
from monitor.config.load import Config
from monitor.core.models import Measure, Observation, Signal
from monitor.news.events import event_signals, select_alerts
from monitor.news.pressure import PolicyEvent, compute_policy_pressure, compute_production_shares
from monitor.risk.assess import (
    Assessment,
    annotate_signals,
    assess,
    detector_series,
    label_perspective,
)
from monitor.risk.market import clear_caches
from monitor.rules.evaluate import DetectorCache, effective_rules, evaluate_rules


def evaluation_dates(data: ReplayData, start: date, end: date) -> list[date]:
    """Every date in [start, end] on which something became public: the replay's clock ticks."""
    dates = {_published(o) for o in data.observations}
    dates |= {data.wgi_published_at(year) for year in {w.year for w in data.wgi}}
    dates |= {n.at.astimezone(UTC).date() for n in data.news}
    return sorted(d for d in dates if start <= d <= end)


def midnight(day: date) -> datetime:
    """The simulated clock at ``day``: 00:00 UTC."""
    return datetime.combine(day, time.min, tzinfo=UTC)


class ReferenceReplayer:
    """The daemon's evaluate job on a simulated clock, with its state held in memory."""

    def __init__(self, config: Config, data: ReplayData,
                 minerals: Sequence[str] | None = None) -> None:
        self.config = config
        self.data = data
        self.minerals = tuple(minerals or config.mineral_ids)
        self.rules = effective_rules(config.rules, self.minerals)
        self.timings = rule_timings(config)
        self.evaluated = evaluated_rule_names(config)
        self.cache = DetectorCache()
        self.alerts: dict[str, AlertState] = {}
        self.history: dict[str, Series] = defaultdict(list)
        self.levels: dict[str, str] = {}
        self.last_news: date | None = None
        self._pending = sorted(data.observations, key=_published)
        self._cursor = 0
        self._known: dict[str, dict[tuple[str, str, str, date], Observation]] = defaultdict(dict)
        self._wanted = set(self.minerals) | self._groups_and_members()

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

    def step_date(self, as_of: date) -> DateResult:
        """Evaluate every mineral at ``as_of`` and advance every alert."""
        now = midnight(as_of)
        observations = self.observations_at(as_of)
        wgi = [w for w in self.data.wgi if self.data.wgi_published_at(w.year) <= as_of]
        pressure = self._pressure(observations, as_of)
        everything = assess(self.config, observations, wgi, as_of=as_of,
                            previous_levels=self.levels, policy_pressure=pressure)
        assessments = [a for a in everything if a.mineral in self.minerals]
        series = {a.mineral: detector_series(a, as_of=as_of, risk_history=self.history[a.mineral])
                  for a in assessments}
        signals = evaluate_rules(self.rules, series, as_of=as_of, now=now, cache=self.cache)
        # every signal carries its perspective (the default one: ``us``), as live
        signals = annotate_signals(label_perspective(signals, "us"),
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
            pressure[mineral] = compute_policy_pressure(events, shares, at, settings)
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

        return label_perspective(event_signals(chosen, share_of, settings), "us")


def _shares(observations: Mapping[str, Sequence[Observation]], mineral: str, as_of: date
            ) -> dict[str, float]:
    rows = [o for o in observations.get(mineral, ()) if o.measure == Measure.PRODUCTION]
    return compute_production_shares(rows, as_of)


def _store_order(o: Observation) -> tuple[str, str, str, date, str]:
    return (str(o.measure), o.source, o.series, o.period, o.country)


def reference_replay(config: Config, data: ReplayData, start: date, end: date, *,
                     minerals: Sequence[str] | None = None,
                     warmup: timedelta = DEFAULT_WARMUP) -> Iterator[DateResult]:
    """Every evaluation date's result over [start - warmup, end], in order."""
    replayer = ReferenceReplayer(config, data, minerals)
    for as_of in evaluation_dates(data, start - warmup, end):
        clear_caches()
        yield replayer.step_date(as_of)
