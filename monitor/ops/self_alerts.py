"""Operational alerts: critmon watching itself, through the same alert pipeline.

A source down for longer than its grace, a source whose data stopped changing, deliveries
failing, the disk filling up and a rejected config reload each become a :class:`Signal` with
the ``mineral`` label ``critmon`` (so they group together and never inhibit a mineral's alerts).
Pure: the daemon gathers the facts and passes ``now``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from monitor.config.sources import Source
from monitor.core.models import Signal
from monitor.store.database import SourceState

SELF = "critmon"
SOURCE_DOWN = "source_down"
SOURCE_STALE = "source_stale"
DELIVERY_FAILING = "delivery_failing"
DISK_SPACE_LOW = "disk_space_low"
CONFIG_RELOAD_FAILED = "config_reload_failed"
OPERATIONAL_RULES = frozenset({SOURCE_DOWN, SOURCE_STALE, DELIVERY_FAILING, DISK_SPACE_LOW,
                               CONFIG_RELOAD_FAILED})

SOURCE_DOWN_AFTER = timedelta(hours=1)
DISK_WARNING_FREE = (1_000_000_000, 0.10)  # bytes, share of the filesystem
DISK_CRITICAL_FREE = (200_000_000, 0.02)


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """Free and total bytes of the filesystem holding the state directory."""

    free: int
    total: int


def operational_signals(*, sources: Sequence[Source], states: Sequence[SourceState],
                        now: datetime, disk: DiskUsage | None, failed_deliveries: int,
                        reload_error: str | None) -> list[Signal]:
    """Every operational signal, firing or not, so resolved conditions clear their alerts."""
    by_id = {s.source: s for s in states}
    signals = [_source_down(source, by_id.get(source.id), now) for source in sources]
    signals += [_source_stale(source, by_id.get(source.id), now) for source in sources
                if source.stale_after is not None]
    signals.append(_deliveries(failed_deliveries, now))
    if disk is not None:
        signals.append(_disk(disk, now))
    signals.append(_reload(reload_error, now))
    return signals


def _signal(rule: str, firing: bool, level: str | None, summary: str, now: datetime, *,
            value: float | None = None, labels: tuple[tuple[str, str], ...] = ()) -> Signal:
    today: date = now.date()
    return Signal(rule=rule, mineral=SELF, indicator=rule, firing=firing,
                  level=level if firing else None, value=value, as_of=today, labels=labels,
                  annotations=(("summary", summary),))


def _source_down(source: Source, state: SourceState | None, now: datetime) -> Signal:
    labels = (("source", source.id),)
    if state is None or state.status != "failing" or state.failing_since is None:
        return _signal(SOURCE_DOWN, False, None, f"source {source.id} is up", now,
                       labels=labels)
    down_for = now - datetime.fromisoformat(state.failing_since)
    firing = down_for >= SOURCE_DOWN_AFTER
    hours = down_for.total_seconds() / 3600
    summary = (f"source {source.id} has failed for {hours:.1f} h "
               f"({state.consecutive_failures} attempts): {state.last_error}")
    return _signal(SOURCE_DOWN, firing, "warning", summary, now, value=round(hours, 1),
                   labels=labels)


def _source_stale(source: Source, state: SourceState | None, now: datetime) -> Signal:
    labels = (("source", source.id),)
    assert source.stale_after is not None
    changed = state.last_change_at if state else None
    if state is None or state.last_success_at is None or changed is None:
        return _signal(SOURCE_STALE, False, None, f"source {source.id}: no data yet", now,
                       labels=labels)
    age = now - datetime.fromisoformat(changed)
    firing = age > source.stale_after
    summary = (f"source {source.id} answers but its data has not changed for {age.days} days "
               f"(expected within {source.stale_after.days} days)")
    return _signal(SOURCE_STALE, firing, "warning", summary, now, value=float(age.days),
                   labels=labels)


def _deliveries(failed: int, now: datetime) -> Signal:
    summary = f"{failed} notification(s) failed permanently in the last 24 h: see critmon history"
    return _signal(DELIVERY_FAILING, failed > 0, "warning", summary, now, value=float(failed))


def _disk(disk: DiskUsage, now: datetime) -> Signal:
    share = disk.free / disk.total if disk.total else 1.0
    level = None
    if disk.free < DISK_CRITICAL_FREE[0] or share < DISK_CRITICAL_FREE[1]:
        level = "critical"
    elif disk.free < DISK_WARNING_FREE[0] or share < DISK_WARNING_FREE[1]:
        level = "warning"
    summary = (f"state directory filesystem: {disk.free / 1e9:.2f} GB free ({share:.0%} of "
               f"{disk.total / 1e9:.1f} GB)")
    return _signal(DISK_SPACE_LOW, level is not None, level, summary, now,
                   value=round(disk.free / 1e9, 2))


def _reload(error: str | None, now: datetime) -> Signal:
    if error is None:
        return _signal(CONFIG_RELOAD_FAILED, False, None, "config loaded", now)
    return _signal(CONFIG_RELOAD_FAILED, True, "high",
                   f"config reload failed; still running on the previous config: {error}", now)
