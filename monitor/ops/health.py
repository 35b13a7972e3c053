"""Is the daemon healthy? A pure judgement over facts read from the store."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from monitor.config.common import format_duration
from monitor.config.load import Config
from monitor.store.database import SourceState, Store
from monitor.store.lease import LEASE_TTL_S, LeaseInfo

log = logging.getLogger(__name__)

HEARTBEAT_MAX_AGE = timedelta(minutes=2)
CYCLE_MAX_AGE = timedelta(minutes=45)
SOURCE_DOWN_GRACE = timedelta(hours=1)
#: The meta key under which the daemon records its long-running jobs (see ``RunningJob``).
RUNNING_JOBS_KEY = "running_jobs"


@dataclass(frozen=True, slots=True)
class Check:
    """One health check: its name, whether it passed, and why."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A scheduler job the daemon saw running: its name, since when, and how long it may run.

    ``name`` is the scheduler's job name (``poll mofcom``, ``evaluate``); ``started_at`` an ISO
    timestamp; ``limit_s`` the longest a healthy run takes (a poll: its fetch timeout, its
    parse budget and a margin).
    """

    name: str
    started_at: str
    limit_s: float


def encode_running_jobs(jobs: Sequence[RunningJob]) -> str:
    """The JSON the daemon stores under ``RUNNING_JOBS_KEY``."""
    return json.dumps([asdict(job) for job in jobs])


def load_running_jobs(store: Store) -> list[RunningJob]:
    """The long-running jobs the daemon last recorded; none when it recorded nothing usable."""
    text = store.get_meta(RUNNING_JOBS_KEY)
    if not text:
        return []
    try:
        return [RunningJob(str(j["name"]), str(j["started_at"]), float(j["limit_s"]))
                for j in json.loads(text)]
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring an unreadable %s record: %s", RUNNING_JOBS_KEY, type(exc).__name__)
        return []


def check_health(*, now: datetime, heartbeat_at: str | None, last_cycle_at: str | None,
                 sources: Sequence[SourceState], db_error: str | None,
                 stuck_deliveries: int = 0,
                 running_jobs: Sequence[RunningJob] = ()) -> list[Check]:
    """Judge the daemon from what it recorded; every check says why it passed or failed."""
    return [
        _age_check("scheduler alive", heartbeat_at, now, HEARTBEAT_MAX_AGE, "heartbeat"),
        _age_check("last cycle", last_cycle_at, now, CYCLE_MAX_AGE, "successful cycle"),
        _jobs_check(running_jobs, now),
        _sources_check(sources, now),
        Check("deliveries", stuck_deliveries == 0,
              "none stuck" if stuck_deliveries == 0
              else f"{stuck_deliveries} deliveries pending past their retry time"),
        Check("database writable", db_error is None, db_error or "ok"),
    ]


def lease_check(info: LeaseInfo | None, *, host: str) -> Check:
    """PostgreSQL: who leads, with which token, until when; fails when no one has for longer
    than a takeover takes (two lease lengths: every instance is down or cut off)."""
    if info is None:
        return Check("leader lease", False, "no instance has taken the leader lease yet: is "
                                            "`critmon run` running?")
    holder_host = info.holder.rsplit(":", 2)[0]
    here = "this host leads" if holder_host == host else f"this host ({host}) follows"
    if not info.expired:
        return Check("leader lease", True,
                     f"held by {info.holder}, token {info.token}, expires in "
                     f"{info.expires_in_s:.0f}s; {here}")
    ok = -info.expires_in_s <= 2 * LEASE_TTL_S
    return Check("leader lease", ok,
                 f"expired {_ago(timedelta(seconds=-info.expires_in_s))} ago (last holder "
                 f"{info.holder}, token {info.token})"
                 + ("; a follower takes over within seconds" if ok else "; no leader"))


def _age_check(name: str, stamp: str | None, now: datetime, limit: timedelta,
               what: str) -> Check:
    if stamp is None:
        return Check(name, False, f"no {what} recorded: is `critmon run` running?")
    age = now - datetime.fromisoformat(stamp)
    ok = age <= limit
    return Check(name, ok, f"last {what} {_ago(age)} ago" + ("" if ok else f" (limit {limit})"))


def _jobs_check(jobs: Sequence[RunningJob], now: datetime) -> Check:
    """Fail when a job has run longer than its limit: a hung poll or evaluation."""
    ages = [(job, now - datetime.fromisoformat(job.started_at)) for job in jobs]
    over = [(job, age) for job, age in ages if age.total_seconds() > job.limit_s]
    if not over:
        return Check("jobs", True, f"{len(jobs)} long-running, none past its limit" if jobs
                     else "no job running past its limit")
    names = ", ".join(f"{job.name} running for {_ago(age)} "
                      f"(limit {_ago(timedelta(seconds=job.limit_s))})" for job, age in over)
    return Check("jobs", False, f"past their limit: {names}")


def _sources_check(sources: Sequence[SourceState], now: datetime) -> Check:
    down = [s for s in sources if s.status == "failing" and _down_for(s, now) > SOURCE_DOWN_GRACE]
    if not down:
        failing = sum(1 for s in sources if s.status == "failing")
        note = f"; {failing} failing for less than {SOURCE_DOWN_GRACE}" if failing else ""
        return Check("sources", True, f"{len(sources)} sources{note}")
    names = ", ".join(f"{s.source} ({s.last_error})" for s in down)
    return Check("sources", False, f"down for over {SOURCE_DOWN_GRACE}: {names}")


def _down_for(state: SourceState, now: datetime) -> timedelta:
    if state.failing_since is None:
        return timedelta(0)
    return now - datetime.fromisoformat(state.failing_since)


def _ago(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def source_health_rows(config: Config, states: Mapping[str, SourceState]
                       ) -> list[dict[str, object]]:
    """One row per configured source with its health as last recorded (``never`` when it
    was never polled): what ``critmon sources list`` and the console's Sources page show."""
    rows: list[dict[str, object]] = []
    for source in config.sources.sources:
        state = states.get(source.id)
        rows.append({
            "source": source.id, "kind": source.kind, "enabled": source.enabled,
            "interval": format_duration(source.interval),
            "status": state.status if state else "never",
            "last_attempt_at": state.last_attempt_at if state else None,
            "last_success_at": state.last_success_at if state else None,
            "next_poll_at": state.next_poll_at if state else None,
            "failures": state.consecutive_failures if state else 0,
            "last_error": (state.last_error or "") if state else "",
            "last_error_at": state.last_error_at if state else None,
            "rows": state.last_rows if state else None,
            "latency": state.last_latency_s if state else None,
        })
    return rows
