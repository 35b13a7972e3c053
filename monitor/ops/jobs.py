"""The jobs the daemon schedules, as plain functions of a :class:`Runtime` and a clock.

Prepare the store (migrate, load the bundled data, record the config), poll one source or all,
evaluate (assess, detect, save, enqueue alerts), deliver, and one full cycle for ``critmon
once``. ``critmon run`` calls the same functions from its scheduler, so ``once`` and the
daemon never drift apart.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.alerting import crash_points
from monitor.alerting.deliver import DeliveryReport, deliver_pending
from monitor.alerting.enqueue import enqueue_signals, evaluated_rule_names
from monitor.alerting.notifiers.base import Notifier
from monitor.alerting.receivers import build_notifiers
from monitor.alerting.store import AlertStore
from monitor.config.load import Config
from monitor.config.sources import Source
from monitor.core.clock import Clock
from monitor.core.models import Signal
from monitor.news.events import policy_event_signals
from monitor.news.store import NewsStore
from monitor.ops.self_alerts import (
    OPERATIONAL_RULES,
    DiskUsage,
    operational_signals,
)
from monitor.sources import bundled
from monitor.sources.polling import Fetcher, PollOutcome, is_due, poll_source
from monitor.store.database import DB_NAME, Store, ensure_state_dir
from monitor.store.lease import LeaseToken
from monitor.store.urls import StoreTarget, describe_target

if TYPE_CHECKING:
    from monitor.rules.evaluate import DetectorCache

log = logging.getLogger(__name__)

BUNDLED_KEY = "bundled_fingerprint"

RELOAD_ERROR_KEY = "config_reload_error"


@dataclass(frozen=True)
class Runtime:
    """Everything a job needs, read once per tick; a reload swaps the whole object."""

    config: Config
    config_dir: Path | None
    state_dir: Path
    #: A ``postgresql://`` URL (``--store``, ``CRITMON_STORE``, sources.yaml ``store:``);
    #: None: the SQLite file in the state directory.
    store_url: str | None = None
    #: On PostgreSQL, the leader lease every write is fenced with (a follower's: token 0);
    #: None on SQLite and for commands that are not the daemon.
    lease: LeaseToken | None = None

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_NAME

    @property
    def store_target(self) -> StoreTarget:
        """The store: the PostgreSQL URL, or the SQLite file's path."""
        return self.store_url or self.db_path

    def describe_store(self) -> str:
        return describe_target(self.store_target)

    def open_store(self) -> Store:
        """A connection for the calling thread; migrations ran once, in :func:`prepare`."""
        return Store.open(self.store_target, migrate=False, lease=self.lease)

    def enabled_sources(self) -> list[Source]:
        return [s for s in self.config.sources.sources if s.enabled]


def prepare(config: Config, config_dir: Path | None, state_dir: Path, now: datetime,
            store_url: str | None = None) -> Runtime:
    """Create the state dir and database, load bundled data once, record the config.

    ``store_url`` (else sources.yaml's ``store:``) puts the data on PostgreSQL.
    """
    runtime = Runtime(config, config_dir, ensure_state_dir(state_dir),
                      store_url=store_url or config.sources.store)
    with Store.open(runtime.store_target) as store:  # creates and migrates the database
        seed_bundled_data(store, config, now)
        record_config(store, config, now, origin="start")
    return runtime


def seed_bundled_data(store: Store, config: Config, now: datetime) -> bool:
    """Load the bundled public data into the store unless this version is already there."""
    fingerprint = bundled.bundled_fingerprint()
    if store.get_meta(BUNDLED_KEY) == fingerprint:
        return False
    minerals = [(m.id, m.usgs) for m in config.minerals.minerals]
    with store.transaction():
        store.save_observations(bundled.load_bundled_observations(minerals), fetched_at=now)
        known = set(config.mineral_ids)
        columns = {code: m for code, m in bundled.PINKSHEET_COLUMNS.items() if m in known}
        store.save_observations(bundled.load_bundled_pinksheet(columns), fetched_at=now)
        store.save_wgi([
            {"code": e.code, "year": e.year, "indicator": e.indicator, "country": e.country,
             "estimate": e.estimate, "published_at": bundled.wgi_published_at(e.year).isoformat()}
            for e in bundled.load_bundled_wgi()
        ])
        store.set_meta(BUNDLED_KEY, fingerprint)
    log.info("loaded bundled data %s", fingerprint[:12])
    return True


def record_config(store: Store, config: Config, now: datetime, *, origin: str,
                  author: str | None = None) -> bool:
    summary = (f"{len(config.minerals.minerals)} minerals, {len(config.sources.sources)} sources,"
               f" {len(config.rules.rules)} rules, {len(config.alerting.receivers)} receivers")
    return store.record_config(digest=config.digest, loaded_at=now, origin=origin,
                               summary=summary, files=config.texts, author=author)


# ---------------------------------------------------------------------- one cycle


def poll_all(runtime: Runtime, fetcher: Fetcher, clock: Clock, *,
             only_due: bool = False, workers: int = 4,
             on_done: Callable[[PollOutcome | None], None] | None = None) -> list[PollOutcome]:
    """Poll every enabled source (in parallel, each job with its own store connection).

    ``on_done`` is called (in this thread) as each source's poll ends, for a progress bar.
    """
    sources = runtime.enabled_sources()
    if not sources:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(sources))) as pool:
        futures = [pool.submit(poll_one, runtime, source, fetcher, clock, only_due=only_due)
                   for source in sources]
        if on_done is not None:
            for future in as_completed(futures):
                on_done(future.result())
        outcomes = [future.result() for future in futures]  # in the sources' order
    return [o for o in outcomes if o is not None]


def poll_one(runtime: Runtime, source: Source, fetcher: Fetcher, clock: Clock, *,
             only_due: bool) -> PollOutcome | None:
    """Poll one source on its own connection; with ``only_due``, only when its time has come."""
    with runtime.open_store() as store:
        now = clock.now()
        if only_due and not is_due(store.source_state(source.id), now):
            return None
        return poll_source(source, fetcher, store, now)


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation produced: every signal, how many alerts changed state, and the
    detector signals alone (the daemon reuses them while their inputs stay the same)."""

    signals: list[Signal]
    transitions: int
    detected: list[Signal] = field(default_factory=list)


def poll_if_due(runtime: Runtime, source: Source, fetcher: Fetcher, clock: Clock
                ) -> tuple[PollOutcome | None, datetime | None]:
    """Poll one source if it is due; also return when it is due next, as stored.

    The daemon remembers that time and does not open the store for the source before it.
    """
    with runtime.open_store() as store:
        now = clock.now()
        outcome = None
        if is_due(store.source_state(source.id), now):
            outcome = poll_source(source, fetcher, store, now)
        next_at = store.source_state(source.id).next_poll_at
    return outcome, datetime.fromisoformat(next_at) if next_at else None


def evaluate(runtime: Runtime, clock: Clock, cache: DetectorCache | None = None
             ) -> list[Signal]:
    """Assess every mineral, run the detector rules, store the results and enqueue alerts."""
    return evaluate_cycle(runtime, clock, cache).signals


def evaluate_cycle(runtime: Runtime, clock: Clock, cache: DetectorCache | None = None
                   ) -> Evaluation:
    """:func:`evaluate`, also counting the alert transitions (the daemon delivers at once).

    Everything it writes (indicators, scores, signals, the news watermark, alerts and their
    outbox rows) is one transaction: a process killed mid-way (the daemon stopping) leaves
    the store as it was, and the next evaluation does the whole work again.
    """
    # The assessment needs NumPy and the detectors (scikit-learn): imported here, not by the
    # daemon, which runs this in a child process (see monitor.ops.worker).
    from monitor.risk.assess import assess_and_detect, indicator_rows, score_row, signal_row

    started = time.monotonic()
    now = clock.now()
    as_of = now.date()
    config = runtime.config
    with runtime.open_store() as store:
        assessments, detected = assess_and_detect(store, config, as_of=as_of, now=now,
                                                  cache=cache)
        with store.transaction():
            store.save_evaluation(
                evaluated_at=now,
                indicators=[row for a in assessments for row in indicator_rows(a, as_of)],
                scores=[score_row(a, as_of) for a in assessments],
                signals=[signal_row(s) for s in detected])
            store.set_meta("last_evaluation_at", now.isoformat())
            signals, transitions = _enqueue(runtime, store, detected, now)
            store.set_meta("last_evaluation_duration_s", f"{time.monotonic() - started:.3f}")
            crash_points.reached("evaluation_written")  # test seam: all written, not committed
    firing = sum(1 for s in signals if s.firing)
    log.debug("evaluated %d minerals: %d signals, %d firing", len(assessments), len(signals),
              firing)
    return Evaluation(signals, transitions, detected)


def news_pending(runtime: Runtime) -> bool:
    """Whether stored news waits for its classification (done by the next read of the news).

    The daemon then evaluates in full, in the child process, rather than with
    :func:`alert_cycle`, whose read of the news would load the classifier into the daemon.
    """
    with runtime.open_store() as store:
        return NewsStore(store).has_pending()


def alert_cycle(runtime: Runtime, now: datetime, detected: list[Signal]) -> Evaluation:
    """Enqueue again the detector signals of the last evaluation, whose inputs are unchanged,
    with fresh policy-news and operational signals: ``for`` holds, ``keep_firing_for``, a
    source down for too long and the news windows move with time alone.

    Cheap (SQL only, no assessment), so the daemon's evaluate tick costs little when no new
    data arrived; any new data, a new day or a new config runs :func:`evaluate_cycle`.
    """
    with runtime.open_store() as store, store.transaction():
        signals, transitions = _enqueue(runtime, store, detected, now)
    return Evaluation(signals, transitions, detected)


def _enqueue(runtime: Runtime, store: Store, detected: list[Signal], now: datetime
             ) -> tuple[list[Signal], int]:
    """Add policy-news and operational signals to ``detected`` and enqueue the alerts."""
    config = runtime.config
    # The news watermark moves in the same transaction as the alerts it produces.
    with store.transaction():
        signals = [*detected, *policy_event_signals(store, config, now),
                   *gather_operational_signals(runtime, store, now)]
        transitions = enqueue_signals(
            store, config, signals, now,
            evaluated_rules=evaluated_rule_names(config) | OPERATIONAL_RULES)
    return signals, len(transitions)


def gather_operational_signals(runtime: Runtime, store: Store, now: datetime) -> list[Signal]:
    """Collect the facts about critmon itself and turn them into operational signals."""
    try:
        usage = shutil.disk_usage(runtime.state_dir)
        disk: DiskUsage | None = DiskUsage(free=usage.free, total=usage.total)
    except OSError:
        disk = None
    failed = AlertStore(store).failed_deliveries(since=now - timedelta(hours=24))
    return operational_signals(
        sources=runtime.enabled_sources(), states=store.source_states(), now=now, disk=disk,
        failed_deliveries=len(failed), reload_error=store.get_meta(RELOAD_ERROR_KEY) or None)


def deliver_once(runtime: Runtime, clock: Clock,
                 notifiers: dict[str, Notifier] | None = None) -> DeliveryReport:
    """Deliver what is due now; ``group_wait`` counts as elapsed (the run ends right after)."""
    notifiers = notifiers or build_notifiers(runtime.config, runtime.state_dir)
    with runtime.open_store() as store:
        return deliver_pending(store, runtime.config, notifiers, clock.now(), flush=True)


def run_once(runtime: Runtime, fetcher: Fetcher, clock: Clock,
             progress: Callable[[int, int], None] | None = None
             ) -> tuple[list[PollOutcome], DeliveryReport]:
    """One full cycle: poll every source once, evaluate, deliver; report what happened.

    ``progress`` is told ``(steps done, steps)``: one step per source, then the evaluation
    and the delivery.
    """
    total = len(runtime.enabled_sources()) + 2
    done = 0

    def step(_outcome: object = None) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    outcomes = poll_all(runtime, fetcher, clock, on_done=step)
    evaluate(runtime, clock)
    step()
    report = deliver_once(runtime, clock)
    step()
    with runtime.open_store() as store:
        store.set_meta("last_cycle_at", clock.now().isoformat())
    return outcomes, report
