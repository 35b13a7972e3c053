"""Replay history on a simulated clock through the live pipeline.

The replay is the daemon's evaluate job with the store replaced by memory: at each simulated
date ``D`` (every distinct publication date of the inputs and every news item date) it keeps the
observations with ``published_at <= D`` and the WGI estimates public at ``D``, then runs
:func:`monitor.risk.assess.assess` -> :func:`~monitor.risk.assess.detector_series` (risk history
= the replay's own earlier scores) -> the rules (:class:`monitor.rules.evaluate.RuleEvaluator`,
``evaluate_rules`` for date after date) -> :func:`~monitor.risk.assess.annotate_signals`, adds
``policy_event`` signals for news first seen since the previous date, and steps every alert with
the pure state machine :func:`monitor.alerting.state.step`, exactly as the enqueue stage does.
``now`` is ``D`` at 00:00 UTC. Nothing in here reads the network or the wall clock. Scoring is
in :mod:`monitor.backtest.scoring`.

Work shared between dates is done once (docs/backtest.md, "Speed"): observations are filed
once per mineral and a mineral without new data keeps the same tuple, so the pure functions of
its observations are remembered or grown (``monitor.risk.prices``); a mineral is re-assessed
only when its inputs change (its *core*, :class:`_Core`), a monthly priced mineral's price part
from its incremental price track (:class:`~monitor.risk.track.PriceTrack`), and the full
assessments of a date are built only when read; news items are filed once; signals of
unchanged series are reused.
:func:`replay_configs` replays several configs in one pass, sharing all but the rules that
differ (the preview). ``tests/backtest/reference_replay.py`` keeps the straightforward replay,
and the tests require identical results at every date.
"""

from __future__ import annotations

import bisect
import gc
import math
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
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
    fingerprint,
    level_rank,
    signal_labels,
    step,
)
from monitor.backtest.inputs import NewsEvent, ReplayData, Series, _published
from monitor.config.load import Config
from monitor.core.models import Measure, Observation, Signal, SignalState
from monitor.news.events import RULE as POLICY_RULE
from monitor.news.events import perspective_event_signals, select_alerts
from monitor.news.pressure import PolicyEvent, compute_policy_pressure, compute_production_shares
from monitor.risk.assess import (
    PRICE_SERIES,
    Assessment,
    assess,
    describe_risk,
    finish_signal,
    latest_by_source,
    price_detector_series,
    signal_extras,
    sources_text,
    with_policy_pressure,
)
from monitor.risk.indicators import (
    GovernanceTable,
    build_governance,
    dated_price_indicators,
    governance_table,
    policy_value,
    price_period_end,
)
from monitor.risk.perspectives import method_key
from monitor.risk.prices import note_growth, price_points
from monitor.risk.score import UNKNOWN_LEVEL, RiskScore, level_for, score_mineral
from monitor.risk.track import PriceTrack
from monitor.risk.trade import monitored_economy
from monitor.rules.evaluate import (
    EffectiveRule,
    RuleEvaluator,
    effective_rules,
    no_data_signal,
)
from monitor.sources.wgi import WgiEstimate

_NO_TIMING = Timing()  # a rule without timings (frozen: shared)
_ACTIVE = (State.PENDING, State.FIRING)

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


class _Quiet:
    """A no-data signal not built yet: the finished no-data signal of its rule at some date
    (the template), the reason and the alert's fingerprint. :meth:`signal` builds it at a date
    with the mineral's annotations of that date (see :meth:`Replayer._evaluated`)."""

    __slots__ = ("fingerprint", "reason", "template")

    def __init__(self, template: Signal, reason: str, fingerprint: str) -> None:
        self.template = template
        self.reason = reason
        self.fingerprint = fingerprint

    def signal(self, as_of: date, extras: Mapping[str, tuple[tuple[str, str], ...]]
               ) -> Signal:
        t = self.template
        return Signal(t.rule, t.mineral, t.indicator, False, None, None, None, as_of, t.state,
                      self.reason, t.labels, extras[t.mineral])


#: A date's signals as the replay holds them: built, or no-data ones still to build.
Entry = Signal | _Quiet


class _Extras(Mapping[str, tuple[tuple[str, str], ...]]):
    """The signal annotations of each mineral at one date (``annotate_signals``), each built
    when first read from the mineral's core and level of that date: most minerals' signals
    that date are unbuilt no-data ones (:class:`_Quiet`), which nobody may read."""

    __slots__ = ("_annotated", "_as_of", "_built")

    def __init__(self, as_of: date, annotated: dict[str, tuple[_Core, str]]) -> None:
        self._as_of = as_of
        self._annotated = annotated
        self._built: dict[str, tuple[tuple[str, str], ...]] = {}

    def __getitem__(self, mineral: str) -> tuple[tuple[str, str], ...]:
        built = self._built.get(mineral)
        if built is None:
            core, level = self._annotated[mineral]
            built = self._built[mineral] = core.extras(self._as_of, level)
        return built

    def __contains__(self, mineral: object) -> bool:
        return mineral in self._annotated

    def __iter__(self) -> Iterator[str]:
        return iter(self._annotated)

    def __len__(self) -> int:
        return len(self._annotated)


class DateResult:
    """What one simulated evaluation produced.

    ``assessments`` may be given as a function that builds them: the replay needs only each
    mineral's score, level and series, so the full assessments of a date (the ``explain``-level
    objects, whose reasons name the date) are built when someone reads them, from the inputs of
    that date, by the same :func:`~monitor.risk.assess.assess`. ``signals`` likewise: most of
    a date's signals say "no data" for an alert that is not pending or firing, which the
    alerts step past (:meth:`Replayer.enqueue`), so they are built when read.
    """

    __slots__ = ("_assessments", "_signals", "as_of", "transitions")

    def __init__(self, as_of: date,
                 assessments: list[Assessment] | Callable[[], list[Assessment]],
                 signals: list[Signal] | Callable[[], list[Signal]],
                 transitions: list[Transition]) -> None:
        self.as_of = as_of
        self._assessments = assessments
        self._signals = signals
        self.transitions = transitions

    @property
    def assessments(self) -> list[Assessment]:
        if callable(self._assessments):
            self._assessments = self._assessments()
        return self._assessments

    @property
    def signals(self) -> list[Signal]:
        if callable(self._signals):
            self._signals = self._signals()
        return self._signals

    def __repr__(self) -> str:
        return (f"DateResult({self.as_of}, {len(self.signals)} signals, "
                f"{len(self.transitions)} transitions)")


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
    """The daemon's evaluate job on a simulated clock, with its state held in memory.

    :meth:`step_date` must be called with increasing dates (the replay moves forward).
    """

    def __init__(self, config: Config, data: ReplayData,
                 minerals: Sequence[str] | None = None, *,
                 leader: Replayer | None = None) -> None:
        """``leader``: a replayer of the same data that :meth:`assesses_like` this config and
        steps each date first; its inputs and assessments are then taken, not recomputed."""
        self.config = config
        self.data = data
        self.minerals = tuple(minerals or config.mineral_ids)
        self.rules = effective_rules(config.rules, self.minerals)
        self.timings = rule_timings(config)
        self.evaluated = evaluated_rule_names(config)
        # Fits are deterministic: a detector fitted on the same series is reused, whatever the
        # time between evaluations (live refits daily; on identical data that changes nothing).
        self.evaluator = RuleEvaluator()
        # per effective rule (by id, held): its finished no-data signal, its fingerprint and
        # its unbuilt no-data signals by reason (see _evaluated)
        self._no_data: dict[int, tuple[EffectiveRule, Signal, str, dict[str, _Quiet]]] = {}
        # per effective rule (by id, held): its no-data signal for a mineral without series
        self._silent: dict[int, tuple[EffectiveRule, _Quiet]] = {}
        self.alerts: dict[str, AlertState] = {}
        self.history: dict[str, Series] = defaultdict(list)
        self.levels: dict[str, str] = {}
        self.last_news: date | None = None
        self._pending = sorted(data.observations, key=_published)
        self._cursor = 0
        self._known: dict[str, dict[tuple[str, str, str, date], Observation]] = defaultdict(dict)
        self._filed: dict[str, tuple[Observation, ...]] = {}
        # Per mineral, its latest tuple, the one before (None after a revision) and what the
        # latest adds to it (in store order).
        self._growth: dict[str, tuple[tuple[Observation, ...], tuple[Observation, ...] | None,
                                      tuple[Observation, ...]]] = {}
        self._tracks: dict[str, PriceTrack] = {}  # the price tracks of monthly priced minerals
        # Per mineral, its observations in store order and their sort keys (kept sorted).
        self._ordered: dict[str, tuple[list[Observation], list[tuple[str, str, str, date, str]]]] = {}
        self._wanted = set(self.minerals) | self._groups_and_members()
        # each WGI year's publication date, asked once per year (not once per estimate)
        self._wgi_published = {year: data.wgi_published_at(year)
                               for year in {w.year for w in data.wgi}}
        self._wgi_pending = sorted(data.wgi, key=lambda w: self._wgi_published[w.year])
        self._wgi_known: list[WgiEstimate] = []
        self._wgi_order: dict[int, int] | None = None
        self._wgi_years: dict[str, dict[int, list[float]]] = {}
        self._wgi_first: dict[str, int] = {}  # each economy's first estimate in the data
        self._governance: GovernanceTable = build_governance(())
        eligible = [(i, n) for i, n in enumerate(data.news)
                    if n.dedup_of is None and n.is_supply_risk_event]
        self._news_pending = sorted(eligible, key=lambda pair: pair[1].at.date())
        self._news_cursor = 0
        self._events: dict[str, list[tuple[int, PolicyEvent]]] = {}
        self._fingerprints: dict[tuple[object, ...], str] = {}
        self._shares_memo: dict[str, tuple[Sequence[Observation], date,
                                           dict[str, float]]] = {}
        self._spec = config.rules.risk
        self._method = method_key(config.perspectives[0])
        self._group = {m.id: m.group for m in config.minerals.minerals if m.group}
        self._cores: dict[str, _Core] = {}
        self._wanted_series = frozenset(i for r in self.rules for i in r.indicators)
        self.last_risks: dict[str, tuple[float | None, str]] = {}
        self._inputs: tuple[dict[str, tuple[Observation, ...]], GovernanceTable,
                            list[NewsEvent], dict[str, float | None]] | None = None
        self._inputs_at: date | None = None
        self._leader = leader
        self._enabled = [r for r in self.rules if r.enabled]
        self._borrow: list[int | None] = []
        #: The rules this replayer evaluates itself (a follower: those its leader lacks).
        self.own_rules = self._enabled
        self._outputs: tuple[dict[str, dict[str, Series]], dict[str, tuple[float | None, str]],
                             dict[str, tuple[tuple[str, str], ...]], list[Signal]] = \
            ({}, {}, {}, [])
        if leader is not None:
            if leader._leader is not None or leader._cores or not leader.assesses_like(
                    config, self.minerals):
                raise ValueError("a leader must be a fresh replayer that assesses alike")
            leader._wanted_series |= self._wanted_series  # its series serve both
            self._cores = leader._cores
            # A rule equal to one of the leader's gives the leader's signal (same series, same
            # annotations): only the others are evaluated here.
            theirs: dict[tuple[str, str], list[tuple[int, EffectiveRule]]] = {}
            for index, rule in enumerate(leader._enabled):
                theirs.setdefault((rule.rule.name, rule.mineral), []).append((index, rule))
            self._borrow = [next((i for i, r in theirs.get((mine.rule.name, mine.mineral), ())
                                  if r == mine), None) for mine in self._enabled]
            self.own_rules = [r for r, i in zip(self._enabled, self._borrow, strict=True)
                              if i is None]

    def assesses_like(self, config: Config, minerals: Sequence[str] | None = None) -> bool:
        """Whether ``config`` assesses these minerals exactly as this replayer's config does:
        the same minerals, risk model, news settings, (first) perspective and monitored
        economy, which is all :func:`~monitor.risk.assess.assess` and the policy pressure
        read of a config. Only the rules and the alerting may differ."""
        mine = self.config
        return (tuple(minerals or config.mineral_ids) == self.minerals
                and config.minerals == mine.minerals and config.rules.risk == mine.rules.risk
                and config.rules.news == mine.rules.news
                and config.perspectives[:1] == mine.perspectives[:1]
                and monitored_economy(config.sources.sources)
                == monitored_economy(mine.sources.sources))

    def _groups_and_members(self) -> set[str]:
        """Minerals whose data the chosen ones need (a member inherits from its group)."""
        extra: set[str] = set()
        for mineral in self.config.minerals.minerals:
            if mineral.id in self.minerals:
                extra.update(mineral.members)
                if mineral.group:
                    extra.add(mineral.group)
        return extra

    def observations_at(self, as_of: date) -> dict[str, tuple[Observation, ...]]:
        """Observations public at ``as_of``, per mineral, ordered as the store returns them.

        Incremental: the replay moves forward, so each observation is filed once. A later
        publication of the same natural key replaces the earlier one (a revision). A mineral
        without new observations keeps the very same tuple, which lets the pure functions of
        its observations be remembered (``monitor.risk.prices.memo_by_identity``).
        """
        added: dict[str, list[Observation]] = {}
        revised: set[str] = set()
        while self._cursor < len(self._pending) and \
                _published(self._pending[self._cursor]) <= as_of:
            obs = self._pending[self._cursor]
            self._cursor += 1
            known = self._known[obs.mineral]
            key = (obs.source, obs.series, obs.country, obs.period)
            rows, keys = self._ordered.setdefault(obs.mineral, ([], []))
            if key in known:  # a revision: the earlier publication leaves its place
                at = bisect.bisect_left(keys, _store_order(known[key]))
                del rows[at], keys[at]
                revised.add(obs.mineral)
            known[key] = obs
            order = _store_order(obs)
            at = bisect.bisect_left(keys, order)
            rows.insert(at, obs)
            keys.insert(at, order)
            added.setdefault(obs.mineral, []).append(obs)
        for mineral, new in added.items():
            before = self._filed.get(mineral)
            filed = self._filed[mineral] = tuple(self._ordered[mineral][0])
            # store order is by natural key, unique per mineral: the tuple's order
            grown = None if before is None or mineral in revised else before
            fresh = tuple(sorted(new, key=_store_order))
            note_growth(filed, grown, fresh)
            self._growth[mineral] = (filed, grown, fresh)
        return dict(self._filed)

    def wgi_at(self, as_of: date) -> list[WgiEstimate]:
        """WGI estimates public at ``as_of``, in the data's order (incremental, like
        :meth:`observations_at`)."""
        self._advance_wgi(as_of)
        order = self._wgi_index()
        return sorted(self._wgi_known, key=lambda w: order[id(w)])

    def _wgi_index(self) -> dict[int, int]:
        if self._wgi_order is None:
            self._wgi_order = {id(w): i for i, w in enumerate(self.data.wgi)}
        return self._wgi_order

    def _advance_wgi(self, as_of: date) -> None:
        """File the estimates published by ``as_of`` and rebuild the governance table from the
        estimates of each economy, kept by year (``build_governance`` of every known estimate,
        without reading the earlier releases again)."""
        published = self._wgi_published
        fresh = 0
        while fresh < len(self._wgi_pending) and \
                published[self._wgi_pending[fresh].year] <= as_of:
            fresh += 1
        if not fresh:
            return
        order = self._wgi_index()
        for w in self._wgi_pending[:fresh]:
            if w.estimate is not None:
                self._wgi_years.setdefault(w.code, {}).setdefault(w.year, []).append(w.estimate)
                at = order[id(w)]
                self._wgi_first[w.code] = min(self._wgi_first.get(w.code, at), at)
        self._wgi_known += self._wgi_pending[:fresh]
        del self._wgi_pending[:fresh]
        self._governance = governance_table(self._wgi_years, self._wgi_first)

    def governance_at(self, as_of: date) -> GovernanceTable:
        """The governance table of the WGI estimates public at ``as_of``: built once per
        release, the same object in between."""
        self._advance_wgi(as_of)
        return self._governance

    def step_date(self, as_of: date) -> DateResult:
        """Evaluate every mineral at ``as_of`` and advance every alert."""
        now = midnight(as_of)
        if self._leader is not None:  # stepped this date first, with the same inputs
            observations, wgi, fresh_news, pressure = self._leader.inputs(as_of)
        else:
            observations = self.observations_at(as_of)
            wgi = self.governance_at(as_of)
            fresh_news = self._advance_news(as_of)
            pressure = self._pressure(observations, as_of)
            self._refresh_cores(observations, wgi, pressure, as_of)
            self._inputs = (observations, wgi, fresh_news, pressure)
            self._inputs_at = as_of
        perspective = self.config.perspectives[0]  # the first listed
        previous = dict(self.levels)
        if self._leader is not None:
            series, risks, extras, theirs = self._leader._outputs
            found = iter(self._evaluated(self.own_rules, series, extras, as_of))
            signals = [theirs[j] if j is not None else next(found) for j in self._borrow]
        else:
            series, risks, extras = self._series(as_of, previous)
            signals = self._evaluated(self.rules, series, extras, as_of)
            self._outputs = (series, risks, extras, signals)
        self._remember_scores(risks, as_of, series)
        self.last_risks = risks
        entries = [*signals, *self._policy_signals(observations, as_of, now, fresh_news)]
        transitions = self.enqueue(entries, now, lambda q: q.signal(as_of, extras))
        config, chosen = self.config, self.minerals
        kept = (self._leader or self)._tracks

        def assessments() -> list[Assessment]:
            # a track still following this date's observations gives what they give (it only
            # ever moves on to later tuples)
            tracks = {m: t for m, t in kept.items() if t.observations is observations.get(m)}
            everything = assess(config, observations, wgi, as_of=as_of,
                                previous_levels=previous, policy_pressure=pressure,
                                perspective=perspective, tracks=tracks)
            return [a for a in everything if a.mineral in chosen]

        return DateResult(as_of, assessments, lambda: _built(entries, as_of, extras),
                          transitions)

    def _series(self, as_of: date, previous: Mapping[str, str]
                ) -> tuple[dict[str, dict[str, Series]], dict[str, tuple[float | None, str]],
                           _Extras]:
        """Each mineral's detector series, (score, level) and signal annotations at ``as_of``,
        from its core (``previous``: the levels of the previous date, for hysteresis)."""
        series: dict[str, dict[str, Series]] = {}
        risks: dict[str, tuple[float | None, str]] = {}
        annotated: dict[str, tuple[_Core, str]] = {}
        for mineral in self.minerals:
            core = self._cores[mineral]
            score = core.risk.score
            level = UNKNOWN_LEVEL if score is None else level_for(
                score, self._spec.levels, previous.get(mineral), self._spec.hysteresis)
            risks[mineral] = (score, level)
            series[mineral] = core.series(as_of, self.history[mineral])
            annotated[mineral] = (core, level)
        return series, risks, _Extras(as_of, annotated)

    def _evaluated(self, rules: Sequence[EffectiveRule],
                   series: Mapping[str, Mapping[str, Series]],
                   extras: Mapping[str, tuple[tuple[str, str], ...]], as_of: date
                   ) -> list[Entry]:
        """The rules' signals at ``as_of``, finished (:meth:`_finish`).

        A no-data signal (most of a date's: minerals without prices or trade) is kept as a
        :class:`_Quiet`, built when read (:func:`_built`) from its rule's template: the
        finished no-data signal of that rule, of which only the date, the reason and the
        mineral's annotations of the date differ (a quiet signal has no annotations of its
        own). Its alert's fingerprint is that of the template (the same labels). A rule whose
        mineral has no series for any of its indicators is not handed to the evaluator: its
        no-data signal, kept from the first date the evaluator gave its reason, is the same
        object every date (the evaluator's signal is a function of the rule and its series
        alone, so one it remembers from before such a gap is still right after it).
        """
        templates, silent = self._no_data, self._silent

        def finish(signal: Signal) -> Signal:
            return self._finish(signal, extras)

        def no_data(rule: EffectiveRule, reason: str) -> Entry:
            if rule.mineral not in extras:  # not annotated (see _finish)
                return no_data_signal(rule, as_of, reason)
            known = templates.get(id(rule))
            if known is None or known[0] is not rule:
                template = finish(no_data_signal(rule, as_of, reason))
                known = templates[id(rule)] = (rule, template, self._fingerprint(template), {})
            quiet = known[3].get(reason)  # the same for every date (it names none)
            if quiet is None:
                quiet = known[3][reason] = _Quiet(known[1], reason, known[2])
            if unseen(rule):  # the reason names every indicator of the rule
                silent[id(rule)] = (rule, quiet)
            return quiet

        def unseen(rule: EffectiveRule) -> bool:
            mine = series.get(rule.mineral)
            return not mine or not any(mine.get(i) for i in rule.indicators)

        def kept(rule: EffectiveRule) -> _Quiet | None:
            """The rule's no-data signal when its mineral has no series for any of the rule's
            indicators (and had none before, when the evaluator gave the reason): nothing to
            evaluate."""
            if not unseen(rule):
                return None
            known = silent.get(id(rule))
            return known[1] if known is not None and known[0] is rule else None

        quiet = [kept(rule) if rule.enabled else None for rule in rules]
        live = [rule for rule, q in zip(rules, quiet, strict=True) if q is None]
        if len(live) == len(rules):
            return self.evaluator.evaluate(rules, series, as_of=as_of, finish=finish,
                                           no_data=no_data)
        found = iter(self.evaluator.evaluate(live, series, as_of=as_of, finish=finish,
                                             no_data=no_data))
        return [next(found) if q is None else q
                for rule, q in zip(rules, quiet, strict=True) if rule.enabled]

    def _finish(self, signal: Signal, extras: Mapping[str, tuple[tuple[str, str], ...]]
                ) -> Signal:
        """The signal labelled and annotated as ``annotate_signals(label_perspective(...))``."""
        if signal.mineral not in extras:
            return signal
        return finish_signal(signal, self.config.perspectives[0].id, extras[signal.mineral],
                             self._cores[signal.mineral].assessment.indicators)

    def inputs(self, as_of: date) -> tuple[dict[str, tuple[Observation, ...]], GovernanceTable,
                                           list[NewsEvent], dict[str, float | None]]:
        """What this replayer's :meth:`step_date` at ``as_of`` read: the observations, the
        governance table, the news first seen and the policy pressure (for a follower)."""
        if self._inputs is None or self._inputs_at != as_of:
            raise RuntimeError(f"the leading replayer has not stepped {as_of} yet")
        return self._inputs

    def core(self, mineral: str) -> Assessment:
        """The mineral's assessment at the first date of its current inputs (score, factors
        and indicator values are the current ones; reasons, ``as_of`` and level may not be)."""
        return self._cores[mineral].assessment

    def _refresh_cores(self, observations: Mapping[str, Sequence[Observation]],
                       governance: GovernanceTable, pressure: Mapping[str, float | None],
                       as_of: date) -> None:
        """Re-assess the minerals whose inputs changed since their core was built."""
        changed: dict[str, tuple[tuple[object, ...], float | None]] = {}
        tracks: dict[str, PriceTrack] = {}
        for mineral in self.minerals:
            group = self._group.get(mineral)
            own = observations.get(mineral, ())
            of_group = observations.get(group, ()) if group else None
            # governance is read only through a production table (own or the group's)
            held = (own, of_group, governance if own or of_group else None)
            value = pressure.get(mineral, 0.0)
            core = self._cores.get(mineral)
            if core is None or not core.same_held(held):
                track = self._track(mineral, core, own)
                if (track is not None and core is not None and held[1] is core.held[1]
                        and held[2] is core.held[2] and own is not core.held[0]
                        and track.only_prices(self._growth[mineral][2])):
                    self._cores[mineral] = self._priced(core, track, held, value, as_of)
                else:
                    changed[mineral] = (held, value)
                    if track is not None:
                        tracks[mineral] = track
            elif not _same_value(core.pressure, value):  # news: only the score changes
                self._cores[mineral] = core.with_pressure(with_policy_pressure(
                    core.assessment, self.config, value, as_of=as_of,
                    perspective=self.config.perspectives[0]), value)
        if not changed:
            return
        fresh = assess(self.config, observations, governance, as_of=as_of,
                       policy_pressure=pressure, perspective=self.config.perspectives[0],
                       only=set(changed), tracks=tracks)
        for a in fresh:
            held, value = changed[a.mineral]
            self._cores[a.mineral] = _Core.of(a, held, value, self._wanted_series,
                                              observations.get(a.mineral, ()),
                                              tracks.get(a.mineral))

    def _track(self, mineral: str, core: _Core | None, own: tuple[Observation, ...]
               ) -> PriceTrack | None:
        """The mineral's price track following ``own`` (its observations at this date), when it
        has a monthly headline series that only grew (:meth:`PriceTrack.follow`); else None."""
        track = self._tracks.get(mineral)
        if track is not None and track.observations is own:
            return track
        self._tracks.pop(mineral, None)
        growth = self._growth.get(mineral)
        if core is None or growth is None or growth[0] is not own or growth[1] is None \
                or growth[1] is not core.held[0]:
            return None
        before = growth[1]
        if track is None or track.observations is not before:
            track = PriceTrack.of(before)
        if track is None or not track.follow(own, growth[2]):
            return None
        self._tracks[mineral] = track
        return track

    def _priced(self, core: _Core, track: PriceTrack, held: tuple[object, ...],
                pressure: float | None, as_of: date) -> _Core:
        """The core of a mineral whose only new inputs are the next prices of its monthly
        headline series (``track`` has taken them), from its previous core.

        Nothing else of the assessment reads those prices: the price indicators, the market
        context and the score are made anew (by the builders ``assess`` uses), the other
        indicators are the previous ones, with the policy pressure dated ``as_of``.
        """
        a = core.assessment
        mineral = a.mineral
        fresh = dated_price_indicators(track.indicator_values(mineral), track.end, as_of)
        indicators = {name: fresh.get(name, v) for name, v in a.indicators.items()}
        indicators["policy_pressure"] = policy_value(mineral, pressure, as_of)
        market = track.market()
        risk = score_mineral(indicators, self._spec, as_of=as_of, market=market,
                             perspective=self._method)
        assessment = Assessment(a.mineral, a.name, a.lists, indicators, market, risk,
                                track.points(), perspective=a.perspective,
                                trade={k: list(v) for k, v in a.trade.items()})
        return _Core.of(assessment, held, pressure, self._wanted_series, track.observations,
                        track)

    def _remember_scores(self, risks: Mapping[str, tuple[float | None, str]], as_of: date,
                         series: Mapping[str, Mapping[str, Series]]) -> None:
        for mineral, (score, level) in risks.items():
            if score is not None:  # the series' very point (as_of, score)
                self.history[mineral].append(series[mineral]["supply_risk"][-1])
            self.levels[mineral] = level

    def enqueue(self, signals: Sequence[Entry], now: datetime,
                build: Callable[[_Quiet], Signal] | None = None) -> list[Transition]:
        """``enqueue.enqueue_signals`` without the store: step each alert, absent ones too.

        ``build`` builds a no-data signal kept unbuilt (:class:`_Quiet`); only those of a
        pending or firing alert are built, since ``step`` passes the others by unchanged.
        """
        chosen = self._one_signal_per_alert(signals)
        evaluated = self.evaluated
        transitions: list[Transition] = []
        alerts = self.alerts
        for fp, signal in chosen.items():
            prev = alerts.get(fp)
            if type(signal) is _Quiet:
                if prev is None or prev.state not in _ACTIVE:
                    continue  # ``step`` gives (prev, []) for no data: nothing changes
                if build is None:
                    raise ValueError("a no-data signal to build without a builder")
                signal = build(signal)
            elif (prev is None or prev.state not in _ACTIVE) and (
                    signal.state != SignalState.OK or (prev is None and not signal.firing)):
                continue  # ``step`` gives (prev, []): nothing changes (most signals of a date)
            transitions += self._apply(prev, signal, now)
        for fp, alert in list(self.alerts.items()):
            if (fp in chosen or alert.alertname not in evaluated
                    or alert.state not in (State.PENDING, State.FIRING)):
                continue
            transitions += self._apply(alert, absent_signal(alert), now)
        return transitions

    def _one_signal_per_alert(self, signals: Sequence[Entry]) -> dict[str, Entry]:
        """``one_signal_per_alert`` with each alert's fingerprint hashed once per replay.

        An unbuilt no-data signal (:class:`_Quiet`) carries its fingerprint and ranks as any
        quiet signal, (not firing, no level): it is chosen only when first for its alert.
        """
        chosen: dict[str, Entry] = {}
        for signal in signals:
            if type(signal) is _Quiet:
                chosen.setdefault(signal.fingerprint, signal)
                continue
            fp = self._fingerprint(signal)
            old = chosen.get(fp)
            if old is None or (signal.firing, level_rank(signal.level)) > (
                    (False, -1) if type(old) is _Quiet else (old.firing, level_rank(old.level))):
                chosen[fp] = signal
        return chosen

    def _fingerprint(self, signal: Signal) -> str:
        """The fingerprint of the signal's alert, hashed once per replay."""
        identity = (signal.rule, signal.mineral, signal.indicator, signal.labels)
        fp = self._fingerprints.get(identity)
        if fp is None:
            fp = self._fingerprints[identity] = fingerprint(signal_labels(signal))
        return fp

    def _apply(self, prev: AlertState | None, signal: Signal, now: datetime
               ) -> list[Transition]:
        timing = self.timings.get(signal.rule, _NO_TIMING)
        new, transitions = step(prev, signal, timing, now)
        if new is not None:
            self.alerts[new.fingerprint] = new
        return transitions

    # ------------------------------------------------------------------ news

    def _advance_news(self, as_of: date) -> list[NewsEvent]:
        """File the supply-risk items (originals) dated up to ``as_of``; return the ones new since
        the previous date, in the data's order.

        Each item is filed once, under every mineral it names (the pressure's events), so a
        date costs what was published on it, not the whole news history.
        """
        fresh: list[tuple[int, NewsEvent]] = []
        while self._news_cursor < len(self._news_pending) and \
                self._news_pending[self._news_cursor][1].at.date() <= as_of:
            fresh.append(self._news_pending[self._news_cursor])
            self._news_cursor += 1
        fresh.sort(key=lambda pair: pair[0])
        for index, n in fresh:
            event = PolicyEvent(n.id, n.at, n.kind, n.country)
            for mineral in {*n.minerals, *n.inferred_minerals}:
                bisect.insort(self._events.setdefault(mineral, []), (index, event),
                              key=lambda pair: pair[0])
        return [n for _, n in fresh]

    def _pressure(self, observations: Mapping[str, Sequence[Observation]], as_of: date
                  ) -> dict[str, float | None]:
        """``policy_pressure_for`` on the replay's news: 0.0 for a mineral without events."""
        at = datetime.combine(as_of, time.max, tzinfo=UTC)
        settings = self.config.rules.news
        pressure: dict[str, float | None] = {}
        for mineral in self.config.mineral_ids:
            filed = self._events.get(mineral)
            if not filed:
                pressure[mineral] = 0.0
                continue
            shares = self._shares(observations, mineral, as_of)
            pressure[mineral] = compute_policy_pressure(
                [e for _, e in filed], shares, at, settings,
                perspective=self.config.perspectives[0], mineral=mineral)
        return pressure

    def _shares(self, observations: Mapping[str, Sequence[Observation]], mineral: str,
                as_of: date) -> dict[str, float]:
        """``_shares``, remembered while the mineral's observations are the same tuple and no
        production period lies after ``as_of`` (the only way the date enters)."""
        rows = observations.get(mineral, ())
        known = self._shares_memo.get(mineral)
        if known is not None and known[0] is rows and known[1] <= as_of:
            return known[2]
        production = [o for o in rows if o.measure == Measure.PRODUCTION]
        latest = max((o.period for o in production), default=date.min)
        shares = compute_production_shares(production, as_of)
        if latest <= as_of:  # nothing was left out for being later than as_of
            self._shares_memo[mineral] = (rows, latest, shares)
        return shares

    def _policy_signals(self, observations: Mapping[str, Sequence[Observation]], as_of: date,
                        now: datetime, fresh: list[NewsEvent]) -> list[Signal]:
        """``policy_event_signals``: items first seen since the previous evaluation, one alert per
        (mineral, source) burst, capped per evaluation, as live."""
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
            shares = self._shares(observations, mineral, as_of)
            return shares.get(country, 0.0) if shares else None

        return perspective_event_signals(chosen, self.config.perspectives[:1], share_of,
                                         settings)


def _same_value(a: float | None, b: float | None) -> bool:
    """The same pressure (NaN never equals itself, so it is recomputed; -0.0 is not 0.0)."""
    return a is b or (a is not None and b is not None and a == b
                      and math.copysign(1.0, a) == math.copysign(1.0, b))


@dataclass(slots=True)
class _Core:
    """One mineral's assessment at the first date of its current inputs, and what of it does not
    depend on the date.

    The inputs are the mineral's observations, its group's (a member inherits from the group),
    the governance table (held by identity: the replay keeps each the same object while it does
    not change) and the policy pressure (by value). With the same inputs, everything in the
    assessment is the same at a later date except what names the date: ``as_of`` fields, the
    ``no data ... by D`` reasons, the price age and the level (hysteresis on the previous
    level). The score, the factors and every indicator value other than the price age are
    functions of the inputs alone, and so are the detector series but the one-point ones,
    which are dated here (:func:`~monitor.risk.assess.detector_series`).
    """

    held: tuple[object, ...]
    pressure: float | None
    assessment: Assessment
    fixed: dict[str, Series]  # series with their own history (prices, trade)
    points: dict[str, float]  # one-point series (the current value), without the price age
    age_end: date | None  # price_age_days counts from it (None: no age series)
    sources: dict[str, date]  # describe_sources without the policy pressure (dated)
    risk_text: dict[str, str]
    policy_point: bool  # the policy pressure is a wanted one-point series
    # sources_text of ``sources`` around its policy entry (before, after, policy date)
    split: tuple[str, str, date | None] | None = None

    @classmethod
    def of(cls, a: Assessment, held: tuple[object, ...], pressure: float | None,
           wanted: frozenset[str], observations: Sequence[Observation],
           track: PriceTrack | None = None) -> _Core:
        """``track``: the price track following ``observations``, which gives the price
        detector series and the end of the last price period instead of the remembered price
        functions."""
        priced = PRICE_SERIES if a.prices else ()  # detector_series' price keys
        # a.prices is list(price_points(observations)): the remembered tuple is passed
        fixed = track.detector_series(wanted) if track is not None else \
            price_detector_series(price_points(observations) if a.prices else (), only=wanted)
        points = {name: float(v.value) for name, v in a.indicators.items()
                  if name not in priced and v.value is not None and math.isfinite(v.value)}
        price = a.indicators.get("price")
        annual = price is not None and dict(price.detail).get("frequency") == "A"
        age_end = None
        if "price_age_days" in points:
            del points["price_age_days"]
            if not annual:
                age_end = track.end if track is not None else \
                    price_period_end(a.mineral, observations)
        policy_point = "policy_pressure" in wanted and "policy_pressure" not in priced
        for name, history in a.trade.items():
            fixed[name] = list(history)
            points.pop(name, None)
            policy_point = policy_point and name != "policy_pressure"
        fixed = {k: v for k, v in fixed.items() if k in wanted}
        points = {k: v for k, v in points.items() if k in wanted}
        sources = latest_by_source(v for name, v in a.indicators.items()
                                   if name != "policy_pressure")
        return cls(held, pressure, a, fixed, points, age_end, sources, {}, policy_point)

    @property
    def risk(self) -> RiskScore:
        return self.assessment.risk

    def same_held(self, held: tuple[object, ...]) -> bool:
        return all(map(operator.is_, self.held, held))

    def with_pressure(self, a: Assessment, pressure: float | None) -> _Core:
        """This core with the assessment ``a`` of another pressure (``with_policy_pressure``):
        the one-point policy series follows, nothing else does."""
        points = dict(self.points)
        if self.policy_point:
            points.pop("policy_pressure", None)
            value = a.indicators["policy_pressure"].value
            if value is not None and math.isfinite(value):
                points["policy_pressure"] = float(value)
        return _Core(self.held, pressure, a, self.fixed, points, self.age_end, self.sources,
                     {}, self.policy_point)

    def series(self, as_of: date, risk_history: Series) -> dict[str, Series]:
        """``detector_series`` of the assessment at ``as_of`` (the series the rules read)."""
        series: dict[str, Series] = {name: [(as_of, value)]
                                     for name, value in self.points.items()}
        if self.age_end is not None:
            series["price_age_days"] = [(as_of, float(max(0, (as_of - self.age_end).days)))]
        series.update(self.fixed)
        score = self.risk.score
        if score is not None:
            # the history's own points (the evaluator recognises a series grown by one);
            # the history is in date order, so when its last point is earlier, all are
            earlier = risk_history if not risk_history or risk_history[-1][0] < as_of else \
                [p for p in risk_history if p[0] < as_of]
            series["supply_risk"] = [*earlier, (as_of, score)]
        return series

    def extras(self, as_of: date, level: str) -> tuple[tuple[str, str], ...]:
        """The annotations ``annotate_signals`` adds at ``as_of`` with ``level``."""
        text = self.risk_text.get(level)
        if text is None:
            risk = self.risk
            text = self.risk_text[level] = describe_risk(
                RiskScore(risk.mineral, risk.as_of, risk.score, level, risk.confidence,
                          risk.factors, risk.missing, risk.method))
        return signal_extras(text, self.sources_at(as_of), self.assessment.name)

    def sources_at(self, as_of: date) -> str:
        """``describe_sources`` of the assessment at ``as_of``: the sources' text with the
        policy pressure dated at ``as_of`` when there is one (only that entry changes with the
        date; the text is sorted by source, so the others are joined once)."""
        if self.pressure is None:
            return sources_text(self.sources)
        if self.split is None:
            entries = {source: f"{source} (data to {when.isoformat()})"
                       for source, when in self.sources.items()}
            self.split = ("".join(f"{entries[s]}; " for s in sorted(entries) if s < "policy"),
                          "".join(f"; {entries[s]}" for s in sorted(entries) if s > "policy"),
                          self.sources.get("policy"))
        before, after, policy = self.split
        when = as_of if policy is None else max(policy, as_of)
        return f"{before}policy (data to {when.isoformat()}){after}"


def _built(entries: Sequence[Entry], as_of: date,
           extras: Mapping[str, tuple[tuple[str, str], ...]]) -> list[Signal]:
    """A date's signals, the no-data ones built (what ``DateResult.signals`` reads)."""
    return [e.signal(as_of, extras) if type(e) is _Quiet else e for e in entries]


def _store_order(o: Observation) -> tuple[str, str, str, date, str]:
    return (str(o.measure), o.source, o.series, o.period, o.country)


def replay(config: Config, data: ReplayData, start: date, end: date, *,
           minerals: Sequence[str] | None = None, warmup: timedelta = DEFAULT_WARMUP,
           on_date: Callable[[DateResult], None] | None = None,
           progress: Callable[[int, int], None] | None = None) -> ReplayResult:
    """Replay [start - warmup, end]; transitions before ``start`` only set up the state.

    ``progress`` is called with ``(dates_done, dates_total)``: once with 0 before the first
    date, then after each date (for a progress bar; it must not change anything).
    """
    return replay_configs([config], data, start, end, minerals=minerals, warmup=warmup,
                          on_date=on_date, progress=progress)[0]


def replay_configs(configs: Sequence[Config], data: ReplayData, start: date, end: date, *,
                   minerals: Sequence[str] | None = None, warmup: timedelta = DEFAULT_WARMUP,
                   on_date: Callable[[DateResult], None] | None = None,
                   progress: Callable[[int, int], None] | None = None) -> list[ReplayResult]:
    """:func:`replay` of each config over the same data and dates, in one pass.

    A config that assesses like an earlier one (:meth:`Replayer.assesses_like`: a draft that
    changes only rules) shares its work: observations, governance, news, policy pressure and
    every mineral's assessment are computed once per date, and only the rules and the alerts
    are run per config. Each result is what :func:`replay` of that config alone gives.
    ``on_date`` sees the first config's dates; ``progress`` counts (date, config) steps.
    """
    with _fewer_collections():
        return _replay_configs(configs, data, start, end, minerals=minerals, warmup=warmup,
                               on_date=on_date, progress=progress)


#: The cyclic garbage collector's first threshold during a replay (CPython's default: 700).
REPLAY_GC_THRESHOLD = 50_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while replaying.

    A replay allocates millions of small objects (signals, series points) that are not cycles,
    and every few hundred allocations the collector walks the young ones, often the old ones
    too (the data, the remembered histories): a quarter of the replay's time at the default
    threshold. Raising the first threshold for the replay's duration changes when cycles are
    collected, never what is computed; the thresholds are restored after (a global setting:
    another thread allocating meanwhile is collected less often too, which is harmless).
    """
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], REPLAY_GC_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _replay_configs(configs: Sequence[Config], data: ReplayData, start: date, end: date, *,
                    minerals: Sequence[str] | None, warmup: timedelta,
                    on_date: Callable[[DateResult], None] | None,
                    progress: Callable[[int, int], None] | None) -> list[ReplayResult]:
    import time as _time

    began = _time.perf_counter()
    replayers: list[Replayer] = []
    for config in configs:
        leader = next((r for r in replayers
                       if r._leader is None and r.assesses_like(config, minerals)), None)
        replayers.append(Replayer(config, data, minerals, leader=leader))
    results = [ReplayResult(start, end, r.minerals) for r in replayers]
    dates = evaluation_dates(data, start - warmup, end)
    total = len(dates) * len(replayers)
    if progress is not None:
        progress(0, total)
    last: list[DateResult | None] = [None] * len(replayers)
    for done, as_of in enumerate(dates, start=1):
        for index, (replayer, result) in enumerate(zip(replayers, results, strict=True)):
            out = last[index] = replayer.step_date(as_of)
            _record(result, replayer, out)
            if on_date is not None and index == 0:
                on_date(out)
        if progress is not None:
            progress(done * len(replayers), total)
    seconds = _time.perf_counter() - began
    for result, out in zip(results, last, strict=True):
        if out is not None:  # every mineral is assessed at every date: the last date's
            result.last_assessments = {a.mineral: a for a in out.assessments}
        result.seconds = seconds
    return results


def _record(result: ReplayResult, replayer: Replayer, out: DateResult) -> None:
    """Add one date's scores, transitions and what fired to the result."""
    as_of = out.as_of
    result.dates.append(as_of)
    for mineral, (score, level) in replayer.last_risks.items():
        if score is not None:
            result.scores[mineral].append((as_of, score, level))
    for t in out.transitions:
        if t.kind in (EventKind.FIRED, EventKind.ESCALATED):
            mineral = t.alert.mineral
            core = replayer.core(mineral) if mineral in replayer.minerals else None
            result.factors[(t.fingerprint, as_of)] = _factor(t, core)
    result.transitions += out.transitions


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
