"""The composition root: prepare the store, schedule the jobs, handle signals, stop in time.

``critmon run`` builds a :class:`Runtime` (config + paths), starts an APScheduler 3
``BackgroundScheduler`` with one job per source and an evaluate job, and then the main thread
waits for signals with ``sigwait`` so no work ever runs inside a signal handler: SIGHUP reloads
the config (validate everything first, keep the old one on error), SIGINT/SIGTERM stop within
``STOP_TIMEOUT_S``. ``critmon once`` runs one full cycle with the same functions and exits.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import bundled
from monitor.alertstore import AlertStore
from monitor.assess import (
    assess_and_detect,
    indicator_rows,
    score_row,
    signal_row,
)
from monitor.clock import Clock, SystemClock
from monitor.config import CONFIG_FILES, Config, Source, load_config
from monitor.errors import ConfigError, MonitorError
from monitor.evaluate import DetectorCache
from monitor.models import Signal
from monitor.news.events import policy_event_signals
from monitor.newsstore import NewsStore
from monitor.notifiers.base import Notifier
from monitor.operations import (
    CONFIG_RELOAD_FAILED,
    OPERATIONAL_RULES,
    DiskUsage,
    operational_signals,
)
from monitor.pipeline import (
    DeliveryReport,
    build_notifiers,
    deliver_pending,
    enqueue_signals,
    evaluated_rule_names,
)
from monitor.polling import Fetcher, PollOutcome, is_due, poll_source
from monitor.sources.http import HttpFetcher
from monitor.store import DB_NAME, Store, ensure_state_dir
from monitor.systemd import reloading_message, sd_notify, watchdog_interval_s

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0
HEARTBEAT_EVERY_S = 5.0
HEARTBEAT_SAVE_EVERY_S = 30.0
EVALUATE_EVERY = timedelta(minutes=15)
DELIVER_EVERY = timedelta(seconds=5)
BUNDLED_KEY = "bundled_fingerprint"
RELOAD_ERROR_KEY = "config_reload_error"


@dataclass(frozen=True)
class Runtime:
    """Everything a job needs, read once per tick; a reload swaps the whole object."""

    config: Config
    config_dir: Path | None
    state_dir: Path

    @property
    def db_path(self) -> Path:
        return self.state_dir / DB_NAME

    def open_store(self) -> Store:
        """A connection for the calling thread; migrations ran once, in :func:`prepare`."""
        return Store.open(self.db_path, migrate=False)

    def enabled_sources(self) -> list[Source]:
        return [s for s in self.config.sources.sources if s.enabled]


def prepare(config: Config, config_dir: Path | None, state_dir: Path, now: datetime) -> Runtime:
    """Create the state dir and database, load bundled data once, record the config."""
    runtime = Runtime(config, config_dir, ensure_state_dir(state_dir))
    with Store.open(runtime.db_path) as store:  # creates and migrates the database
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


def record_config(store: Store, config: Config, now: datetime, *, origin: str) -> bool:
    summary = (f"{len(config.minerals.minerals)} minerals, {len(config.sources.sources)} sources,"
               f" {len(config.rules.rules)} rules, {len(config.alerting.receivers)} receivers")
    return store.record_config(digest=config.digest, loaded_at=now, origin=origin,
                               summary=summary, files=config.texts)


# ---------------------------------------------------------------------- one cycle


def poll_all(runtime: Runtime, fetcher: Fetcher, clock: Clock, *,
             only_due: bool = False, workers: int = 4) -> list[PollOutcome]:
    """Poll every enabled source (in parallel, each job with its own store connection)."""
    sources = runtime.enabled_sources()
    if not sources:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(sources))) as pool:
        outcomes = list(pool.map(
            lambda source: poll_one(runtime, source, fetcher, clock, only_due=only_due),
            sources))
    return [o for o in outcomes if o is not None]


def poll_one(runtime: Runtime, source: Source, fetcher: Fetcher, clock: Clock, *,
             only_due: bool) -> PollOutcome | None:
    """Poll one source on its own connection; with ``only_due``, only when its time has come."""
    with runtime.open_store() as store:
        now = clock.now()
        if only_due and not is_due(store.source_state(source.id), now):
            return None
        return poll_source(source, fetcher, store, now)


def evaluate(runtime: Runtime, clock: Clock, cache: DetectorCache | None = None
             ) -> list[Signal]:
    """Assess every mineral, run the detector rules, store the results and enqueue alerts."""
    started = time.monotonic()
    now = clock.now()
    as_of = now.date()
    config = runtime.config
    with runtime.open_store() as store:
        assessments, signals = assess_and_detect(store, config, as_of=as_of, now=now,
                                                 cache=cache)
        store.save_evaluation(
            evaluated_at=now,
            indicators=[row for a in assessments for row in indicator_rows(a, as_of)],
            scores=[score_row(a, as_of) for a in assessments],
            signals=[signal_row(s) for s in signals])
        store.set_meta("last_evaluation_at", now.isoformat())
        # The news watermark moves in the same transaction as the alerts it produces.
        with store.transaction():
            signals = [*signals, *policy_event_signals(store, config, now),
                       *gather_operational_signals(runtime, store, now)]
            enqueue_signals(store, config, signals, now,
                            evaluated_rules=evaluated_rule_names(config) | OPERATIONAL_RULES)
        store.set_meta("last_evaluation_duration_s", f"{time.monotonic() - started:.3f}")
    firing = sum(1 for s in signals if s.firing)
    log.debug("evaluated %d minerals: %d signals, %d firing", len(assessments), len(signals),
              firing)
    return signals


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


def housekeeping(runtime: Runtime, clock: Clock) -> dict[str, int]:
    """Daily: apply retention, refresh planner statistics, checkpoint the WAL."""
    now = clock.now()
    retention = runtime.config.sources.retention
    pruned = {"news_items": 0, "observations": 0}
    with runtime.open_store() as store:
        if retention.news_items is not None:
            pruned["news_items"] = NewsStore(store).prune(now - retention.news_items)
        if retention.observations is not None:
            pruned["observations"] = store.prune_observations((now - retention.observations).date())
        store.optimize()
        store.set_meta("last_housekeeping_at", now.isoformat())
    if any(pruned.values()):
        log.info("housekeeping: pruned %(news_items)d news items, %(observations)d observations",
                 pruned)
    return pruned


def deliver_once(runtime: Runtime, clock: Clock,
                 notifiers: dict[str, Notifier] | None = None) -> DeliveryReport:
    """Deliver what is due now; ``group_wait`` counts as elapsed (the run ends right after)."""
    notifiers = notifiers or build_notifiers(runtime.config, runtime.state_dir)
    with runtime.open_store() as store:
        return deliver_pending(store, runtime.config, notifiers, clock.now(), flush=True)


def run_once(runtime: Runtime, fetcher: Fetcher, clock: Clock
             ) -> tuple[list[PollOutcome], DeliveryReport]:
    """One full cycle: poll every source once, evaluate, deliver; report what happened."""
    outcomes = poll_all(runtime, fetcher, clock)
    evaluate(runtime, clock)
    report = deliver_once(runtime, clock)
    with runtime.open_store() as store:
        store.set_meta("last_cycle_at", clock.now().isoformat())
    return outcomes, report


# ---------------------------------------------------------------------- the daemon


def _note_signals(signals: set[int]) -> list[int]:
    """Handle ``signals`` by noting them, once each, in the returned list (arrival order).

    The daemon blocks its signals and takes them with ``sigtimedwait``, but threads started
    before that (numpy's BLAS pool starts at import) do not block them: a signal that arrives
    while the main thread is busy (a reload, a tick) goes to such a thread, where the default
    action of SIGHUP and SIGTERM ends the process at once. With this handler, which Python runs
    in the main thread, it becomes a note that the main loop takes on its next turn.
    """
    caught: list[int] = []

    def note(signo: int, _frame: object) -> None:
        if signo not in caught:
            caught.append(signo)

    for signo in signals:
        signal.signal(signo, note)
    return caught


def _wait_for_signal(signals: set[int], timeout_s: float) -> int | None:
    """The next of the (blocked) ``signals`` to arrive within ``timeout_s``, or None."""
    info = signal.sigtimedwait(signals, timeout_s)
    return None if info is None else info.si_signo


class Daemon:
    """The long-running process behind ``critmon run``."""

    def __init__(self, runtime: Runtime, *, fetcher: Fetcher | None = None,
                 clock: Clock | None = None,
                 load: Callable[[Path | None], Config] = load_config) -> None:
        self.runtime = runtime
        self.fetcher = fetcher or HttpFetcher()
        self.clock = clock or SystemClock()
        self._load = load
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self._last_heartbeat = time.monotonic()
        self._last_heartbeat_saved = float("-inf")
        self._config_stamp = config_files_stamp(runtime.config_dir)
        self._detector_cache = DetectorCache()
        # Swapped as one pair on reload, so a job never sees a config without its notifiers.
        self._alerting = (runtime.config, build_notifiers(runtime.config, runtime.state_dir))

    # -- jobs

    def _poll_job(self, source_id: str) -> None:
        runtime = self.runtime  # one consistent snapshot per tick
        source = next((s for s in runtime.enabled_sources() if s.id == source_id), None)
        if source is not None:
            poll_one(runtime, source, self.fetcher, self.clock, only_due=True)

    def _evaluate_job(self) -> None:
        evaluate(self.runtime, self.clock, self._detector_cache)
        with self.runtime.open_store() as store:
            store.set_meta("last_cycle_at", self.clock.now().isoformat())

    def _deliver_job(self) -> None:
        config, notifiers = self._alerting
        with self.runtime.open_store() as store:
            deliver_pending(store, config, notifiers, self.clock.now())

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            log.error("job %s failed: %s", event.job_id, event.exception,
                      exc_info=(type(event.exception), event.exception,
                                event.exception.__traceback__))

    def schedule_jobs(self) -> None:
        """(Re)create the jobs from the current runtime: one per source, one evaluate job."""
        for job in self.scheduler.get_jobs():
            job.remove()
        for source in self.runtime.enabled_sources():
            tick = _wake_interval(source.interval)
            self.scheduler.add_job(
                self._poll_job, IntervalTrigger(seconds=tick.total_seconds(),
                                                jitter=min(5, int(tick.total_seconds() / 2))),
                args=[source.id], id=f"poll:{source.id}", name=f"poll {source.id}",
                next_run_time=self.clock.now(), replace_existing=True,
            )
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_EVERY_S),
                               id="heartbeat", name="heartbeat", replace_existing=True)
        self.scheduler.add_job(
            self._evaluate_job, IntervalTrigger(seconds=EVALUATE_EVERY.total_seconds()),
            id="evaluate", name="evaluate", replace_existing=True,
            next_run_time=self.clock.now() + timedelta(seconds=20),
        )
        self.scheduler.add_job(
            housekeeping, IntervalTrigger(hours=24, jitter=600), args=[self.runtime, self.clock],
            id="housekeeping", name="housekeeping", replace_existing=True,
            next_run_time=self.clock.now() + timedelta(minutes=10))
        self.scheduler.add_job(
            self._deliver_job, IntervalTrigger(seconds=DELIVER_EVERY.total_seconds()),
            id="deliver", name="deliver", replace_existing=True,
        )

    # -- lifecycle

    def reload(self) -> bool:
        """Load and validate the config again; swap it in only if it is valid."""
        try:
            config = self._load(self.runtime.config_dir)
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            self._report_reload(str(exc))
            return False
        notifiers = build_notifiers(config, self.runtime.state_dir)
        with self._lock:
            self.runtime = Runtime(config, self.runtime.config_dir, self.runtime.state_dir)
            self._alerting = (config, notifiers)
            with self.runtime.open_store() as store:
                record_config(store, config, self.clock.now(), origin="reload")
            self.schedule_jobs()
        log.info("config reloaded (%s)", config.digest[:12])
        self._report_reload(None)
        return True

    def _report_reload(self, error: str | None) -> None:
        """Raise (or clear) the config-reload alert at once, not at the next evaluation."""
        now = self.clock.now()
        config = self.runtime.config
        with self.runtime.open_store() as store, store.transaction():
            if (store.get_meta(RELOAD_ERROR_KEY) or None) == error:
                return
            store.set_meta(RELOAD_ERROR_KEY, error or "")
            signal = operational_signals(sources=(), states=(), now=now, disk=None,
                                         failed_deliveries=0, reload_error=error)
            enqueue_signals(store, config, signal, now,
                            evaluated_rules={CONFIG_RELOAD_FAILED})

    def run(self, stop_signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> int:
        """Run until SIGINT/SIGTERM; SIGHUP reloads. Returns the exit code.

        The main thread waits for signals with a timeout, and on each timeout pings systemd's
        watchdog, but only while the scheduler's heartbeat job keeps running: a live main
        thread alone does not prove the daemon works.
        """
        handled = {*stop_signals, signal.SIGHUP}
        caught = _note_signals(handled)
        signal.pthread_sigmask(signal.SIG_BLOCK, handled)  # worker threads inherit the mask
        self.schedule_jobs()
        self.scheduler.start()
        self._heartbeat()
        watchdog_s = watchdog_interval_s()
        tick = min(watchdog_s or HEARTBEAT_EVERY_S, HEARTBEAT_EVERY_S)
        sd_notify(f"READY=1\nSTATUS={self.status_line()}")
        log.info("critmon running: %d sources, state in %s",
                 len(self.runtime.enabled_sources()), self.runtime.state_dir)
        try:
            while True:
                signo = caught.pop(0) if caught else _wait_for_signal(handled, tick)
                if signo is None:
                    self._on_tick(watchdog_s)
                    continue
                if signo == signal.SIGHUP:
                    sd_notify(reloading_message())
                    self.reload()
                    sd_notify(f"READY=1\nSTATUS={self.status_line()}")
                    continue
                log.info("received %s, stopping", signal.Signals(signo).name)
                break
        finally:
            sd_notify("STOPPING=1")
            self.stop()
        return 0

    def _heartbeat(self) -> None:
        """A scheduler job: proves jobs still run; records it in the store now and then."""
        now = time.monotonic()
        self._last_heartbeat = now
        if now - self._last_heartbeat_saved >= HEARTBEAT_SAVE_EVERY_S:
            self._last_heartbeat_saved = now
            with self.runtime.open_store() as store:
                store.set_meta("heartbeat_at", self.clock.now().isoformat())

    def _on_tick(self, watchdog_s: float | None) -> None:
        if self._config_changed():
            log.info("config files changed on disk; reloading")
            self.reload()
        age = time.monotonic() - self._last_heartbeat
        if watchdog_s is not None and age < max(3 * HEARTBEAT_EVERY_S, watchdog_s):
            sd_notify(f"WATCHDOG=1\nSTATUS={self.status_line()}")
        elif watchdog_s is not None:
            log.error("scheduler heartbeat is %.0fs old; not pinging the watchdog", age)

    def _config_changed(self) -> bool:
        """Whether a file of the config directory changed since the config was last loaded."""
        stamp = config_files_stamp(self.runtime.config_dir)
        changed = stamp != self._config_stamp
        self._config_stamp = stamp
        return changed

    def status_line(self) -> str:
        """One line for systemctl status: sources up/down and the last cycle."""
        try:
            with self.runtime.open_store() as store:
                states = store.source_states()
                last = store.get_meta("last_cycle_at") or "never"
        except MonitorError as exc:
            return f"store unavailable: {exc}"
        failing = sum(1 for s in states if s.status == "failing")
        return (f"{len(states) - failing} sources ok, {failing} failing; "
                f"last cycle {last[:19]}")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the scheduler, letting running jobs finish, but never wait longer than timeout."""
        stopper = threading.Thread(target=self._shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout_s)
        if stopper.is_alive():
            log.error("jobs did not finish within %.0fs; exiting anyway", timeout_s)
            logging.shutdown()
            os._exit(1)
        self.fetcher_close()
        log.info("critmon stopped")

    def _shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def fetcher_close(self) -> None:
        close = getattr(self.fetcher, "close", None)
        if callable(close):
            close()


def config_files_stamp(config_dir: Path | None) -> tuple[tuple[str, int, int], ...]:
    """Name, mtime and size of each config file: a cheap change detector polled each tick."""
    if config_dir is None:
        return ()
    stamp = []
    for name in CONFIG_FILES:
        try:
            info = (config_dir / name).stat()
        except OSError:
            continue
        stamp.append((name, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


def _wake_interval(interval: timedelta) -> timedelta:
    """How often a source's job wakes to check whether it is due (its schedule is stored)."""
    return max(timedelta(seconds=1), min(interval / 10, timedelta(minutes=1)))


def start_runtime(config_dir: Path | None, state_dir: Path, clock: Clock) -> Runtime:
    """Load the config and prepare the state; ConfigError and StoreError propagate."""
    config = load_config(config_dir)
    return prepare(config, config_dir, state_dir, clock.now())


