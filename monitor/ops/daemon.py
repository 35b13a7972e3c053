"""The composition root: prepare the store, schedule the jobs, handle signals, stop in time.

``critmon run`` builds a :class:`Runtime` (config + paths), starts an APScheduler 3
``BackgroundScheduler`` with one job per source and an evaluate job, and then the main thread
waits for signals with ``sigwait`` so no work ever runs inside a signal handler: SIGHUP reloads
the config (validate everything first, keep the old one on error), SIGINT/SIGTERM stop within
``STOP_TIMEOUT_S``. ``critmon once`` runs one full cycle with the same functions and exits.

Every job runs inside :meth:`JobTracker.track` with a limit (a poll: twice its source's timeout,
for the fetch and the parse, plus ``JOB_MARGIN``); the heartbeat job records the jobs running
for a while in the store, so ``critmon health`` can name one that runs past its limit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.alerting.deliver import deliver_pending
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.receivers import build_notifiers
from monitor.config.load import CONFIG_FILES, Config, load_config
from monitor.config.sources import Source
from monitor.core.clock import Clock, SystemClock
from monitor.core.errors import ConfigError, MonitorError
from monitor.core.models import Signal
from monitor.core.untrusted import clean_text
from monitor.ops.health import RUNNING_JOBS_KEY, RunningJob, encode_running_jobs
from monitor.ops.housekeeping import housekeeping
from monitor.ops.jobs import (
    RELOAD_ERROR_KEY,
    Evaluation,
    Runtime,
    alert_cycle,
    news_pending,
    poll_if_due,
    record_config,
)
from monitor.ops.leader import Leadership, leader_only, reclaim_interrupted_sends
from monitor.ops.self_alerts import (
    CONFIG_RELOAD_FAILED,
    operational_signals,
)
from monitor.ops.systemd import reloading_message, sd_notify, watchdog_interval_s
from monitor.ops.worker import EvaluationCancelled, Spare, evaluate_in_child
from monitor.sources.http import HttpFetcher
from monitor.sources.polling import Fetcher
from monitor.store.lease import LEASE_POLL_S, FencedError

log = logging.getLogger(__name__)


STOP_TIMEOUT_S = 30.0

HEARTBEAT_EVERY_S = 5.0

HEARTBEAT_SAVE_EVERY_S = 60.0

#: How long the systemd STATUS line may be reused (it reads the store).
STATUS_EVERY_S = 60.0

EVALUATE_EVERY = timedelta(minutes=15)

#: The polls start this long after the jobs are scheduled: READY first (dozens of polls
#: starting in threads at once would hold the interpreter while the daemon starts).
FIRST_POLL_AFTER = timedelta(seconds=2)

#: New data evaluates this long after it arrived; arrivals meanwhile join that evaluation.
EVALUATE_SETTLE = timedelta(seconds=1)

#: The deliver job's cadence while messages wait (group_wait, group_interval, a retry) or
#: were just sent, and while idle. A transition always runs it at once; an idle pass still
#: sends the repeat_interval reminders and digests, at most DELIVER_IDLE late.
DELIVER_EVERY = timedelta(seconds=5)
DELIVER_IDLE = timedelta(seconds=60)

#: A job may run this much longer than its own budget before it counts as stuck.
JOB_MARGIN = timedelta(minutes=2)

#: The longest healthy run of the jobs that are not polls (before ``JOB_MARGIN``).
JOB_LIMITS = {"evaluate": EVALUATE_EVERY, "deliver": timedelta(minutes=5),
              "housekeeping": timedelta(hours=1)}

#: Jobs running at least this long are recorded in the store; shorter ones churn too fast.
RECORD_RUNNING_AFTER = timedelta(seconds=HEARTBEAT_EVERY_S)


# ---------------------------------------------------------------------- the daemon


class JobTracker:
    """The jobs running now, each with its start time and limit (shared by worker threads).

    The job wrappers record start and end themselves: apscheduler's EVENT_JOB_SUBMITTED is
    dispatched after the job is handed to the pool, so a quick job can report EXECUTED first.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, RunningJob] = {}
        self._ids = count()

    @contextmanager
    def track(self, name: str, started_at: datetime, limit: timedelta) -> Iterator[None]:
        """Count the enclosed block as a run of job ``name`` that may take up to ``limit``."""
        key = next(self._ids)
        with self._lock:
            self._running[key] = RunningJob(name, started_at.isoformat(), limit.total_seconds())
        try:
            yield
        finally:
            with self._lock:
                del self._running[key]

    def running_for(self, at_least: timedelta, now: datetime) -> list[RunningJob]:
        """The jobs that started ``at_least`` ago or earlier, oldest first."""
        with self._lock:
            jobs = list(self._running.values())
        return sorted((j for j in jobs if now - datetime.fromisoformat(j.started_at) >= at_least),
                      key=lambda j: (j.started_at, j.name))


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
    """The next of the (blocked) ``signals`` to arrive within ``timeout_s``, or None.

    After the process was stopped and continued (SIGSTOP, SIGCONT) ``sigtimedwait`` was seen
    to return a number that is no signal at all: anything not asked for counts as nothing.
    """
    info = signal.sigtimedwait(signals, timeout_s)
    if info is None or info.si_signo not in signals:
        return None
    return info.si_signo


class Arrivals:
    """Debounces evaluations on data arrival; never asks for one while one runs.

    The first arrival asks for an evaluation after ``settle``; later arrivals before it starts
    join it. An arrival during an evaluation asks for one more when that one ends (it may
    have read the store before the new data was committed).
    """

    def __init__(self, settle: timedelta) -> None:
        self._settle = settle
        self._lock = threading.Lock()
        self._requested = False
        self._running = False
        self._again = False

    def arrived(self) -> timedelta | None:
        """New data: the delay to evaluate after, or None when one is already coming."""
        with self._lock:
            if self._running:
                self._again = True
                return None
            if self._requested:
                return None
            self._requested = True
            return self._settle

    def forget_request(self) -> None:
        """The evaluate job was recreated (a reload): a requested run is no longer planned."""
        with self._lock:
            self._requested = False

    def started(self) -> None:
        with self._lock:
            self._running, self._requested, self._again = True, False, False

    def finished(self) -> timedelta | None:
        """The evaluation ended: the delay for another one if data arrived meanwhile."""
        with self._lock:
            self._running = False
            if not self._again:
                return None
            self._again, self._requested = False, True
            return self._settle


class Daemon:
    """The long-running process behind ``critmon run``."""

    def __init__(self, runtime: Runtime, *, fetcher: Fetcher | None = None,
                 clock: Clock | None = None,
                 load: Callable[[Path | None], Config] = load_config,
                 job_margin: timedelta = JOB_MARGIN,
                 evaluate_every: timedelta = EVALUATE_EVERY,
                 evaluate_settle: timedelta = EVALUATE_SETTLE) -> None:
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
        self._jobs = JobTracker()
        self._job_margin = job_margin
        self._recorded_jobs: list[RunningJob] | None = None  # None: nothing recorded yet
        self._config_stamp = config_files_stamp(runtime.config_dir,
                                                runtime.config.perspective_files)
        self._evaluate_every = evaluate_every
        self._arrivals = Arrivals(evaluate_settle)
        #: Set by stop(): a running evaluation is interrupted (and rolled back) at once.
        self._stopping = threading.Event()
        #: Held while a job changes the schedule, and by stop() while it sets ``_stopping``:
        #: APScheduler's shutdown(wait=True) holds its job-store lock while it waits for the
        #: running jobs, so a job that reschedules after it began would wait for it forever.
        self._scheduling = threading.Lock()
        self._spare = Spare()  # a worker process importing while new data settles
        #: The detector signals of the last full evaluation, with the (config, day) they hold
        #: for; reused by the ticks while no new data arrived (see _evaluate_job).
        self._detected: tuple[tuple[str, object], list[Signal]] | None = None
        self._inputs_changed = True
        self._status: tuple[float, str] | None = None  # (when, line) for the watchdog pings
        #: Each source's next poll time as last read from the store (None: read it).
        self._next_poll: dict[str, datetime | None] = {}
        # Swapped as one pair on reload, so a job never sees a config without its notifiers.
        #: On PostgreSQL, the leader lease: only the leader polls, evaluates and delivers;
        #: a follower keeps the heartbeat and the lease job. None on SQLite (always leader).
        self.leadership = Leadership(runtime.store_url) if runtime.store_url else None
        if self.leadership is not None:
            self.runtime = replace(runtime, lease=self.leadership.lease)
        self._alerting = (runtime.config, self._notifiers(runtime.config))

    def _notifiers(self, config: Config) -> dict[str, object]:
        return leader_only(build_notifiers(config, self.runtime.state_dir), self.leadership)

    @property
    def is_leader(self) -> bool:
        return self.leadership is None or self.leadership.is_leader

    @property
    def role(self) -> str:
        return "leader" if self.leadership is None else self.leadership.role

    def _lease_job(self) -> None:
        """Renew the lease, or take it over; switch the jobs when the role changes."""
        if self.leadership is None or not self.leadership.tick():
            return
        with self._lock:
            self.runtime = replace(self.runtime, lease=self.leadership.lease)
        self.schedule_jobs()
        if self.leadership.lease.is_leader:
            self._on_takeover()

    def _on_takeover(self) -> None:
        """Became leader: finish what the last one left, evaluate in full, deliver now."""
        self._detected = None  # the last leader's detector results are not ours
        self._inputs_changed = True
        try:
            with self.runtime.open_store() as store:
                resent = reclaim_interrupted_sends(store, self.clock.now().isoformat())
            if resent:
                log.warning("%d message(s) the last leader was sending go out again now",
                            resent)
        except MonitorError as exc:
            log.error("after taking the lease: %s", exc)
        self.evaluate_soon()

    # -- jobs

    def _poll_job(self, source_id: str) -> None:
        runtime = self.runtime  # one consistent snapshot per tick
        source = next((s for s in runtime.enabled_sources() if s.id == source_id), None)
        if source is None:
            return
        due_at = self._next_poll.get(source_id)
        if due_at is not None and self.clock.now() < due_at:
            self._wake_poll_at(source, due_at)
            return  # not due yet, as last read from the store: no need to open it
        # The fetch has the source's timeout, and a listing page's parse the same again; a trade
        # source makes several calls with pauses between them (its poll_budget).
        limit = max(2 * source.timeout, getattr(source, "poll_budget", source.timeout)) \
            + self._job_margin
        with self._jobs.track(f"poll {source.id}", self.clock.now(), limit):
            outcome, self._next_poll[source_id] = poll_if_due(runtime, source, self.fetcher,
                                                              self.clock)
        if outcome is not None and outcome.stored_new_data:
            self.evaluate_soon()
        due_at = self._next_poll[source_id]
        if due_at is not None:
            self._wake_poll_at(source, due_at)

    def _wake_poll_at(self, source: Source, due_at: datetime) -> None:
        """Sleep the source's job until the source is due rather than tick after tick.

        A source that backs off (or polls hourly) is due long after the job's next tick
        (:func:`_wake_interval`); without this, an idle daemon whose sources all failed woke
        dozens of jobs a minute to find them not due: most of its idle CPU (issue 17). Once
        due, the job ticks again as before, so it still polls at most a tick late.
        """
        delay = due_at - self.clock.now()
        if delay <= _wake_interval(source.interval):
            return  # the next tick finds it due
        with self._scheduling:
            if self._stopping.is_set():
                return  # stopping: the scheduler may be shutting down
            try:
                # the scheduler runs on the wall clock
                self.scheduler.modify_job(f"poll:{source.id}",
                                          next_run_time=datetime.now(UTC) + delay)
            except JobLookupError:
                pass  # being recreated by a reload, which polls it soon anyway

    def evaluate_soon(self) -> None:
        """New data is stored: evaluate within the settle time, not at the next tick."""
        self._inputs_changed = True
        delay = self._arrivals.arrived()
        if delay is not None:
            if self.scheduler.running:  # else nothing would run the evaluation soon
                self._spare.prestart()
            self._run_soon("evaluate", delay)

    def _run_soon(self, job_id: str, delay: timedelta) -> None:
        """Run a job ``delay`` from now; its interval then counts from that run."""
        at = datetime.now(UTC) + delay  # the scheduler runs on the wall clock
        with self._scheduling:
            if self._stopping.is_set():
                return  # stopping: nothing more runs, and the scheduler may be shutting down
            try:
                self.scheduler.modify_job(job_id, next_run_time=at)
            except JobLookupError:
                pass  # being recreated by a reload, which schedules it soon anyway

    def _evaluate_job(self) -> None:
        """Evaluate: in full (a child process) when an input changed, else re-enqueue.

        A full evaluation runs when data arrived, the config changed, the day changed (the
        date every indicator is judged at) or none succeeded yet. Otherwise the detector
        signals of the last one still hold, and only what moves with time alone (``for``
        holds, news windows, the daemon's own health) is evaluated again, in this process.
        """
        self._arrivals.started()
        evaluation: Evaluation | None = None
        try:
            with self._tracked("evaluate"):
                evaluation = self._evaluate()
                with self.runtime.open_store() as store:
                    store.set_meta("last_cycle_at", self.clock.now().isoformat())
        except EvaluationCancelled as exc:
            log.info("%s", exc)
        finally:
            delay = self._arrivals.finished()
            if delay is not None and not self._stopping.is_set():
                self._spare.prestart()  # data arrived while evaluating: again, soon (none
                # once stopping: discard() closed the spare)
                self._run_soon("evaluate", delay)
        if evaluation is not None and evaluation.transitions:
            self._run_soon("deliver", timedelta(0))

    def _evaluate(self) -> Evaluation:
        runtime, now = self.runtime, self.clock.now()
        key = (runtime.config.digest, now.date())
        if (self._detected is not None and self._detected[0] == key
                and not self._inputs_changed and not news_pending(runtime)):
            return alert_cycle(runtime, now, self._detected[1])
        self._inputs_changed = False  # an arrival from now on asks for another full one
        try:
            evaluation = evaluate_in_child(runtime, now, self._stopping, self._spare)
        except BaseException:
            self._inputs_changed = True  # not evaluated: the next run is a full one again
            raise
        self._detected = (key, evaluation.detected)
        return evaluation

    def _deliver_job(self) -> None:
        """Deliver what is due; look again in DELIVER_EVERY while anything waits, else idle."""
        config, notifiers = self._alerting
        with self._tracked("deliver"), self.runtime.open_store() as store:
            report = deliver_pending(store, config, notifiers, self.clock.now())
        if report.waiting or report.retrying or report.sent or report.failed:
            self._run_soon("deliver", DELIVER_EVERY)

    def _housekeeping_job(self) -> None:
        with self._tracked("housekeeping"):
            housekeeping(self.runtime, self.clock)

    def _tracked(self, name: str) -> AbstractContextManager[None]:
        return self._jobs.track(name, self.clock.now(), JOB_LIMITS[name] + self._job_margin)

    def _on_job_event(self, event: JobExecutionEvent) -> None:
        if isinstance(event.exception, FencedError):  # lost the lease mid-job: no traceback
            log.warning("job %s stopped: %s", event.job_id, event.exception)
            return
        if event.exception is not None:
            log.error("job %s failed: %s", event.job_id, event.exception,
                      exc_info=(type(event.exception), event.exception,
                                event.exception.__traceback__))

    def schedule_jobs(self) -> None:
        """(Re)create the jobs from the current runtime: one per source, one evaluate job."""
        with self._scheduling:
            if not self._stopping.is_set():
                self._schedule_jobs()

    def _schedule_jobs(self) -> None:
        for job in self.scheduler.get_jobs():
            job.remove()
        self._arrivals.forget_request()
        self._next_poll.clear()  # a new interval may make a source due sooner
        self.scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_EVERY_S),
                               id="heartbeat", name="heartbeat", replace_existing=True)
        if self.leadership is not None:
            self.scheduler.add_job(self._lease_job, IntervalTrigger(seconds=LEASE_POLL_S),
                                   id="lease", name="lease", replace_existing=True)
        if not self.is_leader:
            return  # a follower serves reads (console, CLI, /metrics) and waits its turn
        for source in self.runtime.enabled_sources():
            tick = _wake_interval(source.interval)
            self.scheduler.add_job(
                self._poll_job, IntervalTrigger(seconds=tick.total_seconds(),
                                                jitter=min(5, int(tick.total_seconds() / 2))),
                args=[source.id], id=f"poll:{source.id}", name=f"poll {source.id}",
                next_run_time=self.clock.now() + FIRST_POLL_AFTER, replace_existing=True,
            )
        # The first evaluation comes from start() (or reload) as an arrival of data, soon.
        self.scheduler.add_job(
            self._evaluate_job,
            IntervalTrigger(seconds=self._evaluate_every.total_seconds()),
            id="evaluate", name="evaluate", replace_existing=True,
        )
        self.scheduler.add_job(
            self._housekeeping_job, IntervalTrigger(hours=24, jitter=600),
            id="housekeeping", name="housekeeping", replace_existing=True,
            next_run_time=self.clock.now() + timedelta(minutes=10))
        self.scheduler.add_job(
            self._deliver_job, IntervalTrigger(seconds=DELIVER_IDLE.total_seconds()),
            id="deliver", name="deliver", replace_existing=True,
            next_run_time=self.clock.now(),  # what an earlier run left queued goes out now
        )

    # -- lifecycle

    def reload(self) -> bool:
        """Load and validate the config again; swap it in only if it is valid."""
        try:
            config = self._load(self.runtime.config_dir)
            notifiers = self._notifiers(config)
        except ConfigError as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            self._report_reload(str(exc))
            return False
        except Exception as exc:  # a reload must never end the daemon
            log.exception("config reload failed unexpectedly, keeping the running config")
            self._report_reload(clean_text(f"unexpected {type(exc).__name__} while loading the "
                                           f"config: {exc}", limit=200))
            return False
        with self._lock:
            self.runtime = Runtime(config, self.runtime.config_dir, self.runtime.state_dir,
                                   store_url=self.runtime.store_url, lease=self.runtime.lease)
            self._alerting = (config, notifiers)
            if self.is_leader:
                with self.runtime.open_store() as store:
                    record_config(store, config, self.clock.now(), origin="reload")
            self.schedule_jobs()
        self.evaluate_soon()  # the new rules and thresholds apply at once
        log.info("config reloaded (%s)", config.digest[:12])
        self._report_reload(None)
        return True

    def _report_reload(self, error: str | None) -> None:
        """Raise (or clear) the config-reload alert at once, not at the next evaluation."""
        if not self.is_leader:
            return  # the leader's own reload, or its next evaluation, reports its config
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
        self.start()
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

    def start(self) -> None:
        """Schedule the jobs and start them; the stored data is evaluated soon."""
        if self.leadership is not None:
            self.leadership.tick()  # leader at once when the lease is free
            self.runtime = replace(self.runtime, lease=self.leadership.lease)
            log.info("critmon starts as %s (%s)", self.role, self.leadership.holder)
            if self.leadership.is_leader:
                self._on_takeover()
        self.schedule_jobs()
        self.scheduler.start()
        self._heartbeat()
        self.evaluate_soon()

    def _heartbeat(self) -> None:
        """A scheduler job: proves jobs still run; records it in the store now and then.

        Also records the jobs running for a while, at once when that list changes, so
        ``critmon health`` sees a job pass its limit (or end) within a heartbeat.
        """
        now = time.monotonic()
        self._last_heartbeat = now
        running = self._jobs.running_for(RECORD_RUNNING_AFTER, self.clock.now())
        if (running == self._recorded_jobs
                and now - self._last_heartbeat_saved < HEARTBEAT_SAVE_EVERY_S):
            return
        if not self.is_leader:
            return  # a follower writes nothing; the leader's heartbeat is the one to read
        with self.runtime.open_store() as store, store.transaction():
            store.set_meta("heartbeat_at", self.clock.now().isoformat())
            store.set_meta(RUNNING_JOBS_KEY, encode_running_jobs(running))
        self._last_heartbeat_saved = now
        self._recorded_jobs = running

    def _on_tick(self, watchdog_s: float | None) -> None:
        if self._config_changed():
            log.info("config files changed on disk; reloading")
            self.reload()
        age = time.monotonic() - self._last_heartbeat
        if watchdog_s is not None and age < max(3 * HEARTBEAT_EVERY_S, watchdog_s):
            sd_notify(f"WATCHDOG=1\nSTATUS={self._recent_status_line()}")
        elif watchdog_s is not None:
            log.error("scheduler heartbeat is %.0fs old; not pinging the watchdog", age)

    def _config_changed(self) -> bool:
        """Whether a file of the config directory changed since the config was last loaded."""
        stamp = config_files_stamp(self.runtime.config_dir,
                                   self.runtime.config.perspective_files)
        changed = stamp != self._config_stamp
        self._config_stamp = stamp
        return changed

    def _recent_status_line(self) -> str:
        """:meth:`status_line`, read from the store at most every STATUS_EVERY_S."""
        now = time.monotonic()
        if self._status is None or now - self._status[0] >= STATUS_EVERY_S:
            self._status = (now, self.status_line())
        return self._status[1]

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
        """Stop the scheduler, letting running jobs finish, but never wait longer than timeout.

        A running evaluation does not finish: it is interrupted at once (its child process
        killed, its transaction rolled back), and runs again in full at the next start.
        """
        with self._scheduling:  # a job rescheduling now finishes first; later ones see the flag
            self._stopping.set()
        self._spare.discard()
        stopper = threading.Thread(target=self._shutdown, daemon=True)
        stopper.start()
        stopper.join(timeout_s)
        if stopper.is_alive():
            log.error("jobs did not finish within %.0fs; exiting anyway", timeout_s)
            logging.shutdown()
            os._exit(1)
        if self.is_leader:
            self._record_no_running_jobs()
        if self.leadership is not None:
            self.leadership.release()
        self.fetcher_close()
        log.info("critmon stopped")

    def _record_no_running_jobs(self) -> None:
        """After a clean stop no job runs; a stale record would confuse ``critmon health``."""
        try:
            with self.runtime.open_store() as store:
                store.set_meta(RUNNING_JOBS_KEY, encode_running_jobs([]))
        except MonitorError as exc:
            log.warning("could not clear the running-jobs record: %s", exc)

    def _shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def fetcher_close(self) -> None:
        close = getattr(self.fetcher, "close", None)
        if callable(close):
            close()


def config_files_stamp(config_dir: Path | None, extra: Iterable[Path] = ()
                       ) -> tuple[tuple[str, int, int], ...]:
    """Name, mtime and size of each config file (and of ``extra`` files: the perspective
    tables the config names): a cheap change detector polled each tick."""
    if config_dir is None:
        return ()
    stamp = []
    for name, path in [*((n, config_dir / n) for n in CONFIG_FILES),
                       *((str(p), p) for p in extra)]:
        try:
            info = path.stat()
        except OSError:
            continue
        stamp.append((name, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


def _wake_interval(interval: timedelta) -> timedelta:
    """How often a source's job wakes to check whether it is due (its schedule is stored)."""
    return max(timedelta(seconds=1), min(interval / 10, timedelta(minutes=1)))
