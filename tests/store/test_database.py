"""The state store: migrations, idempotent observations, as-of reads, private files."""

from __future__ import annotations

import ctypes
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlite_utils import Database

from monitor.cli.main import cli
from monitor.core.errors import StoreError
from monitor.core.models import Frequency, Measure, Observation
from monitor.store.database import (
    DB_NAME,
    SourceState,
    Store,
    ensure_state_dir,
    io_error_hint,
    state_dir_path,
)
from monitor.store.schema import migrations

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def price(period: date, value: float | None, **changes: object) -> Observation:
    base = Observation(source="fred_nickel", series="PNICKUSDM", mineral="nickel",
                       measure=Measure.PRICE, period=period, frequency=Frequency.MONTHLY,
                       value=value, unit="USD/t")
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store: an SQLite file, then a PostgreSQL database (``store_url``)."""
    with Store.open(store_url) as opened:
        yield opened


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / DB_NAME) as opened:
        yield opened


def test_migrations_apply_once_and_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    Store.open(path).close()
    with Store.open(path) as store:
        applied = [row["name"] for row in store.db.query(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'critmon'")]
        assert len(applied) == len(set(applied)) >= 5
        assert {"observations", "source_state", "config_versions", "wgi", "meta"} <= set(
            store.db.table_names())


def test_database_uses_wal(sqlite_store: Store) -> None:
    assert sqlite_store.db.journal_mode == "wal"


def test_state_dir_and_database_are_private(tmp_path: Path) -> None:
    state = ensure_state_dir(tmp_path / "state")
    Store.open(state / DB_NAME).close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / DB_NAME).stat().st_mode) == 0o600


def test_saving_the_same_observations_twice_changes_nothing(store: Store) -> None:
    rows = [price(date(2022, 2, 1), 24_000.0), price(date(2022, 3, 1), 33_900.0)]
    assert store.save_observations(rows, fetched_at=T0) == 2
    assert store.save_observations(rows, fetched_at=T0) == 0
    assert len(store.observations()) == 2


def test_a_revised_value_is_updated_but_keeps_its_first_publication_date(store: Store) -> None:
    store.save_observations([price(date(2022, 3, 1), 33_900.0)], fetched_at=T0)
    later = datetime(2026, 4, 1, tzinfo=UTC)
    assert store.save_observations([price(date(2022, 3, 1), 33_925.0)], fetched_at=later) == 1
    [saved] = store.observations()
    assert saved.value == 33_925.0
    assert saved.published_at == T0.date()


def test_known_at_hides_what_was_not_yet_public(store: Store) -> None:
    store.save_observations([
        price(date(2024, 1, 1), 16_000.0, published_at=date(2024, 2, 4)),
        price(date(2024, 2, 1), 16_300.0, published_at=date(2024, 3, 4)),
    ], fetched_at=T0)
    visible = store.observations(known_at=date(2024, 3, 1))
    assert [o.period for o in visible] == [date(2024, 1, 1)]


def test_observations_round_trip_every_field(store: Store) -> None:
    original = Observation(source="usgs", series="mine", mineral="cobalt",
                           measure=Measure.PRODUCTION, period=date(2025, 1, 1),
                           frequency=Frequency.ANNUAL, value=None, unit="t",
                           country="Congo (Kinshasa)", stage="mine", qualifier="W",
                           published_at=date(2026, 2, 6))
    store.save_observations([original], fetched_at=T0)
    assert store.observations(mineral="cobalt") == [original]


def test_source_state_defaults_to_never_polled(store: Store) -> None:
    assert store.source_state("unknown") == SourceState(source="unknown")


def test_source_state_round_trips(store: Store) -> None:
    state = SourceState(source="fred_tin", kind="fred_csv", status="failing",
                        consecutive_failures=3, last_error="SourceUnavailableError: 500",
                        etag='"abc"', polls=7, failures=3)
    store.save_source_state(state)
    assert store.source_state("fred_tin") == state


def test_config_versions_record_only_changes(store: Store) -> None:
    files = {"rules.yaml": "version: 1\n"}
    assert store.record_config(digest="a", loaded_at=T0, origin="start", summary="s", files=files)
    assert not store.record_config(digest="a", loaded_at=T0, origin="reload", summary="s",
                                   files=files)
    assert store.record_config(digest="b", loaded_at=T0, origin="reload", summary="s",
                               files=files)
    assert [row["digest"] for row in store.config_versions()] == ["b", "a"]
    assert store.last_config_files() == files


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot"):
        ensure_state_dir(blocker / "state")


def test_read_only_database_write_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    Store.open(path).close()
    store = Store(Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True)))
    with pytest.raises(StoreError, match="database write failed"):
        store.save_observations([price(date(2022, 3, 1), 1.0)], fetched_at=T0)


def test_state_dir_resolution_order() -> None:
    assert state_dir_path("/x", {"CRITMON_STATE_DIR": "/y"}) == Path("/x")
    assert state_dir_path(None, {"CRITMON_STATE_DIR": "/y"}) == Path("/y")
    assert state_dir_path(None, {"STATE_DIRECTORY": "/var/lib/critmon"}) == Path(
        "/var/lib/critmon")
    assert state_dir_path(None, {"XDG_STATE_HOME": "/s"}) == Path("/s/critmon")


def test_an_io_error_names_the_likely_cause() -> None:
    assert "disk full" in io_error_hint(sqlite3.OperationalError("disk I/O error"))
    assert io_error_hint(sqlite3.OperationalError("attempt to write a readonly database")) == ""


# --------------------------------------------------------------------------- who may read the state

EX_CANTCREAT = 73
OTHER_UID = 65534  # nobody


def critmon(state: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--state-dir", str(state), *args])
    return result.exit_code, result.output


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_database_left_readable_by_others_is_made_private_when_opened(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = ensure_state_dir(tmp_path / "state")
    db = state / DB_NAME
    with Store.open(db) as holder:  # an open connection keeps the -wal and -shm files
        holder.set_meta("k", "v")
        files = [db, state / f"{DB_NAME}-wal", state / f"{DB_NAME}-shm"]
        for path in files:
            path.chmod(0o644)
        with caplog.at_level(logging.WARNING, logger="monitor.store"):
            code, out = critmon(state, "config", "history")
        assert code == 0, out
        assert [mode(p) for p in files] == [0o600, 0o600, 0o600]
    assert f"{db} was readable or writable by other users (mode 0644): now 0600" in caplog.text


def _without_cap_fowner() -> None:
    """In the child: give up CAP_FOWNER, root's power to chmod files of other users."""
    pr_capbset_drop, cap_fowner = 24, 3
    if ctypes.CDLL(None, use_errno=True).prctl(pr_capbset_drop, cap_fowner, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_FOWNER)")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file owned by another user needs root")
def test_a_database_open_to_others_that_critmon_cannot_chmod_is_a_clear_error(
        tmp_path: Path) -> None:
    """Another user's world-readable database, and critmon not allowed to chmod it."""
    state = ensure_state_dir(tmp_path / "state")
    Store.open(state / DB_NAME).close()
    (state / DB_NAME).chmod(0o644)
    os.chown(state / DB_NAME, OTHER_UID, OTHER_UID)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "--state-dir", str(state), "config", "history"],
        preexec_fn=_without_cap_fowner, capture_output=True, text=True, timeout=120,
        check=False)
    assert done.returncode == EX_CANTCREAT, done.stderr
    assert f"{state / DB_NAME} is readable or writable by other users (mode 0644)" in \
        done.stderr
    assert "owned by uid 65534" in done.stderr and "Traceback" not in done.stderr
    assert mode(state / DB_NAME) == 0o644


@pytest.mark.parametrize(("dir_mode", "problem"), [
    (0o1777, "world-writable and sticky"), (0o777, "world-writable"), (0o1755, "sticky"),
], ids=["1777", "0777", "1755"])
def test_a_shared_state_directory_is_refused_and_left_as_it_is(
        tmp_path: Path, dir_mode: int, problem: str) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(dir_mode)
    code, out = critmon(shared, "once")
    assert code == EX_CANTCREAT
    assert f"state directory {shared}" in out and problem in out
    assert f"private subdirectory such as {shared / 'critmon'}" in out
    assert mode(shared) == dir_mode and list(shared.iterdir()) == []


def test_a_database_in_a_shared_directory_is_refused(tmp_path: Path) -> None:
    state = ensure_state_dir(tmp_path / "state")
    Store.open(state / DB_NAME).close()
    state.chmod(0o1777)
    code, out = critmon(state, "config", "history")
    assert code == EX_CANTCREAT and "world-writable" in out
    assert mode(state) == 0o1777


@pytest.fixture
def others_dir(tmp_path: Path) -> Iterator[Path]:
    """A private directory owned by another user (made as root; else one owned by root)."""
    if os.geteuid() != 0:
        yield Path("/")  # 0755 and root's: not ours either
        return
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_UID, OTHER_UID)
    yield directory


def test_a_state_directory_owned_by_another_user_is_refused(others_dir: Path) -> None:
    before = mode(others_dir)
    code, out = critmon(others_dir, "once")
    assert code == EX_CANTCREAT
    assert f"state directory {others_dir}" in out and "owned by uid" in out
    assert mode(others_dir) == before and not (others_dir / DB_NAME).exists()


def test_an_existing_private_state_directory_is_used_without_chmod(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o750)
    assert ensure_state_dir(state) == state
    assert mode(state) == 0o750


def test_a_new_state_directory_is_created_private_with_its_parents(tmp_path: Path) -> None:
    state = ensure_state_dir(tmp_path / "a" / "b" / "state")
    assert mode(state) == 0o700


def test_a_store_from_before_perspectives_migrates_its_rows_to_the_us_perspective(
        tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    old = Database(path)
    migrations.apply(old, stop_before="m008_perspectives")
    old["risk_scores"].insert({"mineral": "cobalt", "evaluated_at": "2026-03-01T00:00:00",
                               "as_of": "2026-03-01", "score": 56.3, "level": "high",
                               "method": "risk-v1:x"})
    old["signals"].insert({"rule": "supply_risk_level", "mineral": "cobalt",
                           "indicator": "supply_risk", "firing": 1, "level": "high"})
    old.close()
    with Store.open(path) as store:
        assert store.latest_levels() == {"cobalt": "high"}
        assert store.latest_levels("cn") == {}
        assert store.risk_series("cobalt") == [(date(2026, 3, 1), 56.3)]
        assert [row["perspective"] for row in store.current_signals()] == ["us"]
        # a second perspective's scores and signals live beside the first's
        store.save_evaluation(
            evaluated_at=datetime(2026, 3, 2, tzinfo=UTC), indicators=[],
            scores=[{"mineral": "cobalt", "perspective": "cn", "as_of": "2026-03-02",
                     "score": 55.7, "level": "high", "method": "risk-v1:y"}],
            signals=[{"rule": "supply_risk_level", "mineral": "cobalt", "perspective": "cn",
                      "indicator": "supply_risk", "firing": 1, "level": "high"}])
        assert store.risk_series("cobalt", "cn") == [(date(2026, 3, 2), 55.7)]
        assert store.risk_series("cobalt") == [(date(2026, 3, 1), 56.3)]
        assert sorted(row["perspective"] for row in store.current_signals()) == ["cn", "us"]
        assert [row["perspective"] for row in store.risk_history("cobalt")] == ["us", "cn"]


def test_a_config_version_keeps_its_author_and_every_file(store: Store) -> None:
    files = {"rules.yaml": "version: 1\n", "alerting.yaml": "version: 1\n"}
    at = datetime(2026, 1, 2, tzinfo=UTC)
    assert store.record_config(digest="a" * 64, loaded_at=at, origin="start", summary="s",
                               files=files)
    assert store.record_config(digest="b" * 64, loaded_at=at, origin="web apply", summary="s",
                               files={**files, "rules.yaml": "version: 1\nrules: []\n"},
                               author="ana")
    newest, oldest = store.config_versions()
    assert (newest["origin"], newest["author"]) == ("web apply", "ana")
    assert oldest["author"] is None
    assert store.config_version_files(oldest["id"]) == files
    assert store.config_version_files(newest["id"] + 1) is None
