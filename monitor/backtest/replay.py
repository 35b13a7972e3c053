"""Replay history on a simulated clock through the live pipeline, and score it against events.

The replay is the daemon's evaluate job with the store replaced by memory: at each simulated
date ``D`` (every distinct publication date of the inputs and every news item date) it keeps the
observations with ``published_at <= D`` and the WGI estimates public at ``D``, then runs
:func:`monitor.risk.assess.assess` -> :func:`~monitor.risk.assess.detector_series` (risk history = the
replay's own earlier scores) -> :func:`monitor.rules.evaluate.evaluate_rules` (one
:class:`~monitor.rules.evaluate.DetectorCache` for the whole replay) ->
:func:`~monitor.risk.assess.annotate_signals`, adds ``policy_event`` signals for news first seen since
the previous date, and steps every alert with the pure state machine
:func:`monitor.alerting.state.step`, exactly as ``pipeline.enqueue_signals`` does. ``now`` is ``D`` at
00:00 UTC. Nothing in here reads the network or the wall clock.

Scoring (docs/backtest.md) turns the transitions into *onsets* (an alert reaching the minimum
level, or any policy-event alert) and compares them with dated events.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from monitor.alerting.pipeline import evaluated_rule_names, rule_timings
from monitor.alerting.state import (
    AlertState,
    EventKind,
    State,
    Timing,
    Transition,
    absent_signal,
    level_rank,
    one_signal_per_alert,
    step,
)
from monitor.config.load import Config, Mineral
from monitor.core.models import Frequency, Measure, Observation, Signal
from monitor.news.events import RULE as POLICY_RULE
from monitor.news.events import build_signal, select_alerts
from monitor.news.items import NewsItem
from monitor.news.pressure import PolicyEvent, compute_policy_pressure, compute_production_shares
from monitor.risk.assess import Assessment, annotate_signals, assess, detector_series
from monitor.rules.evaluate import DetectorCache, effective_rules, evaluate_rules
from monitor.sources.wgi import WgiEstimate

Series = list[tuple[date, float]]

#: Event kinds that are not supply shocks: alerts near them are counted apart, never as hits.
EASING_KINDS = frozenset({"policy_relaxation", "trade_ruling", "threat_no_action",
                          "legal_framework", "regulation"})
#: Operational rules whose alerts say nothing about supply (a stale feed): not scored.
DEFAULT_EXCLUDED_RULES: tuple[str, ...] = ("price_stale",)
DETECT_BEFORE = timedelta(days=90)
DETECT_AFTER = timedelta(days=30)
FALSE_ALARM_BEFORE = timedelta(days=90)
FALSE_ALARM_AFTER = timedelta(days=180)
#: Days replayed before ``start`` so alerts already true on day one do not count as new onsets.
DEFAULT_WARMUP = timedelta(days=120)
EVENTS_FILE = "events.csv"


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


# =========================================================================== inputs


@dataclass(frozen=True, slots=True)
class PublicationLags:
    """When a value of an external price file became public, by its frequency.

    Monthly: period end + ``monthly`` (default 4 days, the Pink Sheet's rhythm); daily: the day
    + ``daily``; annual: 31 January of the next year + ``annual`` (an annual average needs the
    whole year, and the USGS MCS edition with year Y appears at the end of January of Y+1).
    """

    monthly: timedelta = timedelta(days=4)
    daily: timedelta = timedelta(days=1)
    annual: timedelta = timedelta(days=0)

    def published_at(self, period: date, frequency: Frequency) -> date:
        if frequency is Frequency.ANNUAL:
            return date(period.year + 1, 1, 31) + self.annual
        if frequency is Frequency.MONTHLY:
            first_of_next = (period.replace(day=1) + timedelta(days=32)).replace(day=1)
            return first_of_next - timedelta(days=1) + self.monthly
        return period + self.daily


@dataclass(frozen=True, slots=True)
class NewsEvent:
    """A classified, tagged, deduplicated news item, as the replay uses it."""

    id: str
    at: datetime
    title: str
    url: str
    source: str
    kind: str
    country: str | None
    minerals: tuple[str, ...]
    inferred_minerals: tuple[str, ...]
    is_supply_risk_event: bool
    risk_confidence: float
    dedup_of: str | None = None

    def as_item(self) -> dict[str, Any]:
        """The row shape ``monitor.news.events`` reads from the news store."""
        return {"id": self.id, "at": self.at.isoformat(), "title": self.title, "url": self.url,
                "source": self.source, "kind": self.kind, "country": self.country,
                "minerals": sorted({*self.minerals, *self.inferred_minerals}),
                "risk_confidence": self.risk_confidence, "summary": ""}


@dataclass
class ReplayData:
    """Everything the replay may use; each piece carries the date it became public."""

    observations: list[Observation]
    wgi: list[WgiEstimate]
    wgi_published_at: Callable[[int], date]
    news: list[NewsEvent] = field(default_factory=list)

    def until(self, cutoff: date) -> ReplayData:
        """Only what was public on ``cutoff`` (used by the look-ahead test)."""
        return ReplayData(
            [o for o in self.observations if _published(o) <= cutoff],
            [w for w in self.wgi if self.wgi_published_at(w.year) <= cutoff],
            self.wgi_published_at, [n for n in self.news if n.at.date() <= cutoff])


def _published(observation: Observation) -> date:
    # The live store files an observation without a date as known when fetched; a replay
    # has no fetch time, so such a value is treated as never public.
    return observation.published_at or date.max


def bundled_data(config: Config) -> ReplayData:
    """The data shipped in ``monitor/data``: MCS releases, Pink Sheet prices, WGI."""
    from monitor.sources.bundled import (
        PINKSHEET_COLUMNS,
        load_bundled_observations,
        load_bundled_pinksheet,
        load_bundled_wgi,
        wgi_published_at,
    )

    known = set(config.mineral_ids)
    minerals = [(m.id, m.usgs) for m in config.minerals.minerals]
    observations = load_bundled_observations(minerals)
    observations += load_bundled_pinksheet({c: m for c, m in PINKSHEET_COLUMNS.items()
                                            if m in known})
    return ReplayData(observations, load_bundled_wgi(), wgi_published_at)


def load_price_file(spec: str, config: Config, lags: PublicationLags | None = None
                    ) -> tuple[list[Observation], list[str]]:
    """Prices from one ``--prices`` argument, each dated with ``lags``; and warnings.

    ``MINERAL=PATH`` is a FRED ``fredgraph.csv`` for that mineral; a plain ``PATH`` is a long
    CSV (``date,mineral,value[,unit,source]``) or a World Bank Pink Sheet (xlsx or its CSV).
    """
    from monitor.sources.bundled import PINKSHEET_COLUMNS
    from monitor.sources.prices import TableSpec, parse_fred_csv, parse_pinksheet, parse_table

    lags = lags or PublicationLags()
    names = mineral_names(config.minerals.minerals)
    mineral, _, path_text = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path = Path(path_text)
    body = path.read_bytes()
    source = f"file:{path.name}"
    warnings: list[str] = []
    if mineral:
        mineral_id = names.get(_norm(mineral))
        if mineral_id is None:
            raise ValueError(f"--prices {spec}: unknown mineral {mineral!r}")
        rows = parse_fred_csv(body, source=source, mineral=mineral_id, unit="")
    elif body.startswith(b"PK") or _is_pinksheet_csv(body):
        wanted = {c: m for c, m in PINKSHEET_COLUMNS.items() if m in config.mineral_ids}
        rows = parse_pinksheet(body, source=source, columns=wanted)
    else:
        header = _csv_header(body)
        if not {"date", "mineral", "value"} <= set(header):
            raise ValueError(f"--prices {spec}: not a long CSV (date,mineral,value,...), a Pink "
                             f"Sheet, or MINERAL=PATH for a FRED file; header {header}")
        units, sources = _long_extras(body)
        rows = parse_table(body, source=source, spec=TableSpec(
            format="csv", date_field="date", value_field="value", mineral_field="mineral"))
        kept = []
        for row in rows:
            found = names.get(_norm(row.mineral))
            if found is None:
                warnings.append(f"{path.name}: unknown mineral {row.mineral!r}")
                continue
            kept.append(replace(row, mineral=found, unit=units.get(row.mineral, ""),
                                source=sources.get(row.mineral) or source))
        rows = kept
    dated = [replace(o, published_at=lags.published_at(o.period, o.frequency)) for o in rows]
    return dated, sorted(set(warnings))


def _csv_header(body: bytes) -> list[str]:
    first = body.decode("utf-8-sig", errors="replace").splitlines()[:1]
    return [c.strip().lower() for c in next(csv.reader(first), [])] if first else []


def _is_pinksheet_csv(body: bytes) -> bool:
    """A Pink Sheet CSV re-shape: metal codes as columns, no ``mineral`` column."""
    header = {c.upper() for c in _csv_header(body)}
    return "MINERAL" not in header and bool(header & {"COPPER", "NICKEL", "ALUMINUM", "ZINC"})


def _long_extras(body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """The unit and source of each mineral in a long CSV (first row wins)."""
    units: dict[str, str] = {}
    sources: dict[str, str] = {}
    text = body.decode("utf-8-sig", errors="replace")
    for row in csv.DictReader(io.StringIO(text)):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        units.setdefault(row.get("mineral", ""), row.get("unit", ""))
        sources.setdefault(row.get("mineral", ""), row.get("source", ""))
    return units, sources


def read_news(path: Path) -> list[NewsItem]:
    """News items from a JSONL file (``date, title, summary, url, lang``; other fields are
    ignored) or a directory of RSS/Atom files (``*.xml``, ``*.rss``, ``*.atom``)."""
    from monitor.news.items import detect_lang, item_id
    from monitor.news.parse import parse_feed

    if path.is_dir():
        items: list[NewsItem] = []
        for feed in sorted(p for p in path.iterdir()
                           if p.suffix.lower() in (".xml", ".rss", ".atom")):
            items += parse_feed(feed.read_bytes(), source=f"file:{feed.stem}").items
        return items
    items = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        title = str(row.get("title") or "").strip()
        when = row.get("date") or row.get("published_at")
        if not title or not when:
            raise ValueError(f"{path}: line {line_no}: needs 'date' and 'title'")
        at = datetime.fromisoformat(str(when))
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        summary = str(row.get("summary") or "")
        url = str(row.get("url") or "")
        items.append(NewsItem(id=item_id(f"file:{path.stem}", url or f"{title}|{when}"),
                              source=f"file:{path.stem}", url=url, title=title,
                              summary=summary, published_at=at,
                              lang=row.get("lang") or detect_lang(title)))
    return items


def classify_news(items: Sequence[NewsItem], config: Config,
                  cache_dir: Path | None = None) -> list[NewsEvent]:
    """Tag, classify and deduplicate items as ``news.ingest.build_records`` does, oldest first.

    An item is taken as fetched when published (a replay has no fetch time).
    """
    from monitor.news.classify import load_classifier
    from monitor.news.dedup import DedupIndex, canonical_url
    from monitor.news.tagging import Tagger

    dated = sorted((i for i in items if i.published_at), key=lambda i: (i.published_at, i.id))
    if not dated:
        return []
    settings = config.rules.news
    tagger = Tagger(config.minerals.minerals)
    results = load_classifier(cache_dir).classify_many([(i.title, i.summary) for i in dated])
    dedup = DedupIndex(settings.dedup_window, settings.title_similarity)
    out = []
    for item, result in zip(dated, results, strict=True):
        assert item.published_at is not None
        tags = tagger.tag(item.title, item.summary)
        canonical = canonical_url(item.url)
        duplicate = dedup.find(canonical, item.title, item.published_at)
        if duplicate is None:
            dedup.add(item.id, canonical, item.title, item.published_at)
        out.append(NewsEvent(
            id=item.id, at=item.published_at, title=item.title, url=item.url,
            source=item.source, kind=result.kind, country=tags.country, minerals=tags.minerals,
            inferred_minerals=tagger.groups_of(tags.minerals),
            is_supply_risk_event=result.is_supply_risk_event,
            risk_confidence=result.risk_confidence, dedup_of=duplicate))
    return out


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
        signals = annotate_signals(signals, {a.mineral: a for a in assessments})
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
        """``pipeline.enqueue_signals`` without the store: step each alert, absent ones too."""
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
        """``policy_event_signals``: items first seen since the previous evaluation."""
        fresh = [n for n in self._news_known(as_of)
                 if self.last_news is None or n.at.date() > self.last_news]
        self.last_news = as_of
        if not fresh:
            return []
        settings = self.config.rules.news
        watched = set(self.minerals) if settings.watch == "all" else \
            set(settings.watch) & set(self.minerals)
        signals = []
        for item, mineral in select_alerts([n.as_item() for n in fresh], settings, watched,
                                           max(now, *(n.at for n in fresh))):
            share = None
            if item.get("country"):
                shares = _shares(observations, mineral, as_of)
                share = shares.get(item["country"], 0.0) if shares else None
            signals.append(build_signal(item, mineral, share, settings))
        return signals


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


@dataclass(frozen=True, slots=True)
class EventScore:
    """How the replay did on one event."""

    event: Event
    detected: bool
    first: Onset | None
    in_range: bool  # announced within the replay and about at least one replayed mineral

    @property
    def lead_days_announced(self) -> int | None:
        return (self.event.announced - self.first.at).days if self.first else None

    @property
    def lead_days_effective(self) -> int | None:
        if self.first is None or self.event.effective is None:
            return None
        return (self.event.effective - self.first.at).days

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
        }


@dataclass
class Score:
    """The backtest's answer: per event, false-alarm episodes and the summary figures."""

    per_event: list[EventScore]
    false_alarms: list[Onset]
    onsets: list[Onset]
    mineral_years: float
    min_level: str

    def summary(self) -> dict[str, Any]:
        scored = [s for s in self.per_event if s.event.scored and s.in_range and
                  s.event.minerals]
        hits = [s for s in scored if s.detected]
        easing = [s for s in self.per_event if not s.event.scored and s.in_range]
        leads_a = [s.lead_days_announced for s in hits if s.lead_days_announced is not None]
        leads_e = [s.lead_days_effective for s in hits if s.lead_days_effective is not None]
        rate = len(self.false_alarms) / self.mineral_years if self.mineral_years else None
        return {
            "min_level": self.min_level,
            "events_scored": len(scored), "detected": len(hits),
            "recall": round(len(hits) / len(scored), 4) if scored else None,
            "median_lead_days_announced": _median(leads_a),
            "median_lead_days_effective": _median(leads_e),
            "false_alarm_episodes": len(self.false_alarms),
            "mineral_years": round(self.mineral_years, 2),
            "false_alarms_per_mineral_year": round(rate, 4) if rate is not None else None,
            "alert_onsets": len(self.onsets),
            "easing_events": len(easing),
            "easing_events_alerted": sum(1 for s in easing if s.detected),
            "events_not_replayed": sum(1 for s in self.per_event if not s.in_range),
        }

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary(), "per_event": [s.row() for s in self.per_event],
                "false_alarms": [_onset_row(o) for o in self.false_alarms]}


def _median(values: Sequence[int]) -> float | None:
    return float(statistics.median(values)) if values else None


def _onset_row(o: Onset) -> dict[str, Any]:
    return {"date": o.at.isoformat(), "mineral": o.mineral, "rule": o.rule, "level": o.level,
            "factor": o.factor}


def score(events: Sequence[Event], found: Sequence[Onset], *, start: date, end: date,
          minerals: Sequence[str], groups: Mapping[str, frozenset[str]] | None = None,
          min_level: str = "high") -> Score:
    """Score onsets against events (rules in docs/backtest.md)."""
    groups = groups or {}
    covered = {e.id: _covered(e, groups) for e in events}
    per_event = []
    for event in events:
        lo, hi = event.announced - DETECT_BEFORE, event.announced + DETECT_AFTER
        hits = [o for o in found if o.mineral in covered[event.id] and lo <= o.at <= hi]
        first = min(hits, key=lambda o: (o.at, -level_rank(o.level), o.rule)) if hits else None
        replayed = bool(covered[event.id] & set(minerals))
        per_event.append(EventScore(event, first is not None, first,
                                    replayed and start <= event.announced <= end))
    shocks = [e for e in events if e.scored]
    false_alarms = [o for o in found if not any(
        o.mineral in covered[e.id]
        and o.at - FALSE_ALARM_BEFORE <= e.announced <= o.at + FALSE_ALARM_AFTER
        for e in shocks)]
    years = ((end - start).days + 1) / 365.25
    return Score(per_event, false_alarms, list(found), len(minerals) * years, min_level)


def _covered(event: Event, groups: Mapping[str, frozenset[str]]) -> frozenset[str]:
    out: set[str] = set()
    for mineral in event.minerals:
        out |= groups.get(mineral, frozenset({mineral}))
    return frozenset(out)


def run_backtest(config: Config, data: ReplayData, events: Sequence[Event], *, start: date,
                 end: date, minerals: Sequence[str] | None = None, min_level: str = "high",
                 excluded_rules: Iterable[str] = DEFAULT_EXCLUDED_RULES,
                 on_date: Callable[[DateResult], None] | None = None
                 ) -> tuple[ReplayResult, Score]:
    """Replay, then score: the whole of ``critmon backtest`` without the I/O."""
    result = replay(config, data, start, end, minerals=minerals, on_date=on_date)
    found = onsets(result, min_level=min_level, excluded_rules=excluded_rules)
    scored = score(events, found, start=start, end=end, minerals=result.minerals,
                   groups=expand_groups(config), min_level=min_level)
    return result, scored


def dumps(scored: Score, result: ReplayResult) -> str:
    """The JSON document of ``critmon backtest --format json``."""
    doc = scored.to_json()
    doc["replay"] = {"from": result.start.isoformat(), "to": result.end.isoformat(),
                     "evaluations": len(result.dates), "minerals": len(result.minerals),
                     "seconds": round(result.seconds, 2)}
    return json.dumps(doc, ensure_ascii=False, indent=2)


__all__ = [
    "DEFAULT_EXCLUDED_RULES",
    "EASING_KINDS",
    "DateResult",
    "Episode",
    "Event",
    "EventScore",
    "NewsEvent",
    "Onset",
    "PublicationLags",
    "ReplayData",
    "ReplayResult",
    "Replayer",
    "Score",
    "bundled_data",
    "bundled_events_text",
    "classify_news",
    "dumps",
    "episodes",
    "evaluation_dates",
    "expand_groups",
    "load_price_file",
    "mineral_names",
    "onsets",
    "parse_events",
    "parse_loose_date",
    "read_news",
    "replay",
    "resolve_minerals",
    "run_backtest",
    "score",
]
