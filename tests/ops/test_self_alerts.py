"""Operational alerts: critmon reports its own failures through the alert pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.alerting.store import AlertStore
from monitor.config.load import load_config
from monitor.config.sources import SourcesFile
from monitor.core.errors import ConfigError
from monitor.ops.daemon import Daemon
from monitor.ops.jobs import prepare
from monitor.ops.self_alerts import (
    CONFIG_RELOAD_FAILED,
    DISK_SPACE_LOW,
    SOURCE_DOWN,
    SOURCE_STALE,
    DiskUsage,
    operational_signals,
)
from monitor.store.database import SourceState

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SOURCES = SourcesFile.model_validate({"sources": [
    {"id": "fred_tin", "kind": "fred_csv", "url": "https://x/tin", "mineral": "tin",
     "unit": "USD/t", "stale_after": "75d"}]}).sources


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def signals(states: list[SourceState], *, disk: DiskUsage | None = None, failed: int = 0,
            reload_error: str | None = None) -> dict[str, object]:
    found = operational_signals(sources=SOURCES, states=states, now=NOW, disk=disk,
                                failed_deliveries=failed, reload_error=reload_error)
    return {s.rule: s for s in found}


def test_a_source_down_for_over_an_hour_fires_a_warning_naming_it() -> None:
    down = SourceState("fred_tin", status="failing", failing_since=ago(hours=3),
                       consecutive_failures=7, last_error="SourceUnavailableError: 503")
    signal = signals([down])[SOURCE_DOWN]
    assert signal.firing and signal.level == "warning"
    assert dict(signal.labels)["source"] == "fred_tin" and signal.mineral == "critmon"
    assert "503" in dict(signal.annotations)["summary"]


def test_a_brief_outage_and_a_recovery_do_not_fire() -> None:
    brief = SourceState("fred_tin", status="failing", failing_since=ago(minutes=20))
    assert not signals([brief])[SOURCE_DOWN].firing
    assert not signals([SourceState("fred_tin", status="ok")])[SOURCE_DOWN].firing


def test_a_source_whose_data_stopped_changing_is_stale() -> None:
    stale = SourceState("fred_tin", status="ok", last_success_at=ago(hours=1),
                        last_change_at=ago(days=90))
    fresh = SourceState("fred_tin", status="ok", last_success_at=ago(hours=1),
                        last_change_at=ago(days=20))
    assert signals([stale])[SOURCE_STALE].firing
    assert not signals([fresh])[SOURCE_STALE].firing


def test_disk_space_levels() -> None:
    total = 100_000_000_000
    assert not signals([], disk=DiskUsage(50_000_000_000, total))[DISK_SPACE_LOW].firing
    assert signals([], disk=DiskUsage(5_000_000_000, total))[DISK_SPACE_LOW].level == "warning"
    assert signals([], disk=DiskUsage(100_000_000, total))[DISK_SPACE_LOW].level == "critical"


def test_failed_deliveries_and_a_reload_error_fire() -> None:
    found = signals([], failed=2, reload_error="rules.yaml:3: bad")
    assert found["delivery_failing"].firing
    assert found[CONFIG_RELOAD_FAILED].firing and found[CONFIG_RELOAD_FAILED].level == "high"


def test_a_rejected_reload_raises_an_alert_at_once_and_a_good_one_resolves_it(
        tmp_path: Path) -> None:
    config = load_config(environ={})
    runtime = prepare(config, None, tmp_path, NOW)
    outcomes: list[object] = [ConfigError("bad weights", file="rules.yaml", key="risk"), config]

    def load(_: Path | None) -> object:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    daemon = Daemon(runtime, load=load)  # type: ignore[arg-type]
    assert daemon.reload() is False
    with runtime.open_store() as store:
        [alert] = [a for a in AlertStore(store).load_states().values()
                   if a.alertname == CONFIG_RELOAD_FAILED]
        assert alert.state == "firing"
    assert daemon.reload() is True
    with runtime.open_store() as store:
        [alert] = [a for a in AlertStore(store).load_states().values()
                   if a.alertname == CONFIG_RELOAD_FAILED]
        assert alert.state == "resolved"
