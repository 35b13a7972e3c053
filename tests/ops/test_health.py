"""`critmon health`: every check says why, and the exit code tells scripts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.ops.health import RUNNING_JOBS_KEY, RunningJob, check_health, load_running_jobs
from monitor.store.database import DB_NAME, SourceState, Store

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def healthy(**changes: object) -> dict[str, bool]:
    facts: dict = {"now": NOW, "heartbeat_at": ago(seconds=20), "last_cycle_at": ago(minutes=10),
                   "sources": [SourceState("fred_tin", status="ok")], "db_error": None,
                   "stuck_deliveries": 0}
    facts.update(changes)
    return {c.name: c.ok for c in check_health(**facts)}


def test_a_running_daemon_with_fresh_cycles_is_healthy() -> None:
    assert all(healthy().values())


def test_a_stale_heartbeat_means_the_scheduler_is_not_alive() -> None:
    assert healthy(heartbeat_at=ago(minutes=5))["scheduler alive"] is False
    assert healthy(heartbeat_at=None)["scheduler alive"] is False


def test_an_old_last_cycle_fails() -> None:
    assert healthy(last_cycle_at=ago(hours=2))["last cycle"] is False


def test_a_source_down_briefly_is_tolerated_but_not_for_long() -> None:
    brief = SourceState("fred_tin", status="failing", failing_since=ago(minutes=10))
    long = SourceState("fred_tin", status="failing", failing_since=ago(hours=3),
                       last_error="SourceUnavailableError: 500")
    assert healthy(sources=[brief])["sources"] is True
    checks = check_health(now=NOW, heartbeat_at=ago(seconds=1), last_cycle_at=ago(seconds=1),
                          sources=[long], db_error=None)
    sources = next(c for c in checks if c.name == "sources")
    assert not sources.ok and "fred_tin (SourceUnavailableError: 500)" in sources.detail


def test_stuck_deliveries_and_an_unwritable_database_fail() -> None:
    assert healthy(stuck_deliveries=2)["deliveries"] is False
    assert healthy(db_error="disk I/O error")["database writable"] is False


def test_a_job_running_past_its_limit_fails_naming_it_and_how_long_it_ran() -> None:
    stuck = RunningJob("poll mofcom", ago(minutes=12), limit_s=240)
    slow = RunningJob("evaluate", ago(minutes=3), limit_s=1020)
    assert healthy(running_jobs=[slow])["jobs"] is True
    checks = check_health(now=NOW, heartbeat_at=ago(seconds=1), last_cycle_at=ago(seconds=1),
                          sources=[], db_error=None, running_jobs=[slow, stuck])
    jobs = next(c for c in checks if c.name == "jobs")
    assert not jobs.ok
    assert jobs.detail == "past their limit: poll mofcom running for 12m (limit 4m)"


def test_an_unreadable_running_jobs_record_is_ignored() -> None:
    store = Store.memory()
    store.set_meta(RUNNING_JOBS_KEY, '[{"name": "poll x"}]')
    assert load_running_jobs(store) == []


def test_health_command_exits_one_with_reasons_when_the_daemon_never_ran(tmp_path: Path) -> None:
    Store.open(tmp_path / DB_NAME).close()
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "health", "--format", "json"])
    assert result.exit_code == 1
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["scheduler alive"]["status"] == "FAIL"
    assert "is `critmon run` running?" in checks["scheduler alive"]["detail"]
    assert checks["database writable"]["status"] == "ok"


def test_health_command_exits_zero_for_a_healthy_store(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_NAME) as store:
        now = datetime.now(UTC)
        store.set_meta("heartbeat_at", now.isoformat())
        store.set_meta("last_cycle_at", now.isoformat())
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "health"])
    assert result.exit_code == 0, result.stdout


def test_db_backup_copies_a_consistent_database(tmp_path: Path) -> None:
    with Store.open(tmp_path / DB_NAME) as store:
        store.set_meta("k", "v")
    target = tmp_path / "backup.db"
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "db", "backup", str(target)])
    assert result.exit_code == 0
    with Store.open(target, migrate=False) as copy:
        assert copy.get_meta("k") == "v"
        assert copy.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert oct(target.stat().st_mode & 0o777) == "0o600"


def pages(path: Path) -> tuple[int, int]:
    """(file size in bytes, pages on the freelist) of the database, after a WAL checkpoint."""
    with Store.open(path, migrate=False) as store:
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        free = store.db.execute("PRAGMA freelist_count").fetchone()[0]
    return path.stat().st_size, free


def test_db_vacuum_returns_the_space_of_deleted_rows(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with Store.open(path) as store:
        store.set_meta("kept", "still here")
        with store.transaction():
            store.db["meta"].insert_all({"key": f"filler{i}", "value": "x" * 4000}
                                        for i in range(1000))  # about 4 MB
        with store.transaction():
            store.db.execute("DELETE FROM meta WHERE key LIKE 'filler%'")
    size_before, free_before = pages(path)
    assert free_before >= 900  # the deleted rows' pages, still in the file

    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "db", "vacuum"])
    assert result.exit_code == 0 and "vacuumed" in result.stdout

    size_after, free_after = pages(path)
    assert free_after == 0
    assert size_after <= size_before - 3_500_000, (size_before, size_after)
    with Store.open(path, migrate=False) as store:
        assert store.get_meta("kept") == "still here"
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
