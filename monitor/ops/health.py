"""Is the daemon healthy? A pure judgement over facts read from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.store.database import SourceState

HEARTBEAT_MAX_AGE = timedelta(minutes=2)
CYCLE_MAX_AGE = timedelta(minutes=45)
SOURCE_DOWN_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Check:
    """One health check: its name, whether it passed, and why."""

    name: str
    ok: bool
    detail: str


def check_health(*, now: datetime, heartbeat_at: str | None, last_cycle_at: str | None,
                 sources: Sequence[SourceState], db_error: str | None,
                 stuck_deliveries: int = 0) -> list[Check]:
    """Judge the daemon from what it recorded; every check says why it passed or failed."""
    return [
        _age_check("scheduler alive", heartbeat_at, now, HEARTBEAT_MAX_AGE, "heartbeat"),
        _age_check("last cycle", last_cycle_at, now, CYCLE_MAX_AGE, "successful cycle"),
        _sources_check(sources, now),
        Check("deliveries", stuck_deliveries == 0,
              "none stuck" if stuck_deliveries == 0
              else f"{stuck_deliveries} deliveries pending past their retry time"),
        Check("database writable", db_error is None, db_error or "ok"),
    ]


def _age_check(name: str, stamp: str | None, now: datetime, limit: timedelta,
               what: str) -> Check:
    if stamp is None:
        return Check(name, False, f"no {what} recorded: is `critmon run` running?")
    age = now - datetime.fromisoformat(stamp)
    ok = age <= limit
    return Check(name, ok, f"last {what} {_ago(age)} ago" + ("" if ok else f" (limit {limit})"))


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
