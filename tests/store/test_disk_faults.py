"""Disk full and a read-only database, with real ``critmon once`` processes.

- Disk full: the child runs under ``RLIMIT_FSIZE`` (no file may grow past the limit; Python
  ignores SIGXFSZ, so a write fails with EFBIG and SQLite reports "database or disk is full").
- Read-only: the child opens the database through a ``mode=ro`` URI; and the file is made
  ``chmod 0400``. Root ignores file modes, so as root the child runs without the capabilities
  that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): the modes then bind it like anyone.

Each time critmon must say what is wrong, exit non-zero, leave the store intact
(``PRAGMA integrity_check``), and work again once the cause is gone.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.store.database import DB_NAME
from tests.ops.test_faults import FeedServer, csv_route, integrity, query, write_config

CSV = "observation_date,PRICE\n2025-09-01,400\n2025-10-01,410\n2025-11-01,415\n"
#: Twenty years of daily prices: enough new rows to make the store grow by megabytes.
LONG_CSV = "observation_date,PRICE\n" + "".join(
    f"{2000 + d // 365}-{1 + d // 31 % 12:02d}-{1 + d % 28:02d},{400 + d % 97}\n"
    for d in range(20 * 365))
EX_CANTCREAT = 73
# SQLite reports EFBIG as SQLITE_FULL or, for some writes (WAL, checkpoint), SQLITE_IOERR.
DISK_FULL = ("database or disk is full", "disk I/O error")


PR_CAPBSET_DROP = 24  # <linux/prctl.h>
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2  # <linux/capability.h>


def honour_file_modes() -> None:
    """In the child, before exec: as root, give up the capabilities that override file modes.

    Dropped from the bounding set, they are not in the permitted set of the program executed
    next, so root is then refused a write to a 0400 file like any user. Fails loudly (the
    parent's subprocess call raises) rather than letting the test pass without the check.
    """
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def says_disk_full(stderr: str) -> bool:
    return any(text in stderr for text in DISK_FULL) and "Traceback" not in stderr

# Runs the real CLI with every connection of monitor.store.database opened read-only.
READ_ONLY_CLI = """
import sqlite3, sys
from monitor.store import database as store
from monitor.cli.main import main

connect = sqlite3.connect
store.sqlite3 = type(sys)("sqlite3_ro")
store.sqlite3.__dict__.update(sqlite3.__dict__)
store.sqlite3.connect = lambda path, **kw: connect(f"file:{path}?mode=ro", uri=True, **kw)
main()
"""


@pytest.fixture
def critmon(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """``critmon --config ... --state-dir ... ARGS`` as a child process."""
    served = {"csv": CSV}
    with FeedServer({"/gallium.csv": csv_route(lambda: served["csv"])}) as feeds:
        config = write_config(tmp_path / "config", slack_url="http://127.0.0.1:9/api/",
                              sources=[("local_gallium", feeds.url("/gallium.csv"), "gallium")])
        env = {**os.environ, "CRITMON_FAULTS_SLACK_TOKEN": "xoxb-unused",
               "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
               "NO_PROXY": "127.0.0.1,localhost"}

        def run(*args: str, fsize: int | None = None, read_only: bool = False,
                file_modes: bool = False, csv: str = CSV) -> subprocess.CompletedProcess[str]:
            served["csv"] = csv
            head = ["-c", READ_ONLY_CLI] if read_only else ["-m", "monitor"]

            def limit() -> None:
                if fsize:
                    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
                if file_modes:
                    honour_file_modes()
            return subprocess.run(
                [sys.executable, *head, "--config", str(config), "--state-dir",
                 str(tmp_path / "state"), *args], env=env, capture_output=True, text=True,
                timeout=120, check=False, preexec_fn=limit)

        yield run


def db_of(tmp_path: Path) -> Path:
    return tmp_path / "state" / DB_NAME


def test_a_full_disk_on_first_start_is_reported_and_a_later_run_recovers(
        critmon: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    full = critmon("once", fsize=256 * 1024)  # the bundled data alone need more
    assert full.returncode == EX_CANTCREAT, full.stderr
    assert says_disk_full(full.stderr), full.stderr
    assert integrity(db_of(tmp_path)) == "ok"

    again = critmon("once")
    assert again.returncode == 0, again.stderr
    assert "polled 1 sources: 1 ok" in again.stdout
    assert integrity(db_of(tmp_path)) == "ok"


def test_a_disk_that_fills_up_later_fails_loudly_without_corrupting_the_store(
        critmon: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    assert critmon("once").returncode == 0
    db = db_of(tmp_path)
    rows_before = query(db, "SELECT count(*) FROM observations")
    size = db.stat().st_size

    full = critmon("once", fsize=size // 4, csv=LONG_CSV)  # the new rows do not fit
    assert full.returncode == 1, full.stderr
    assert says_disk_full(full.stderr), full.stderr
    assert integrity(db) == "ok"
    assert query(db, "SELECT count(*) FROM observations") == rows_before

    again = critmon("once", csv=LONG_CSV)
    assert again.returncode == 0, again.stderr
    assert integrity(db) == "ok"
    assert query(db, "SELECT count(*) FROM observations") > rows_before


def test_a_read_only_database_is_named_as_the_problem_and_left_intact(
        critmon: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    assert critmon("once").returncode == 0
    db = db_of(tmp_path)
    before = query(db, "SELECT count(*), max(fetched_at) FROM observations")

    ro = critmon("once", read_only=True, csv=LONG_CSV)
    assert ro.returncode == 1
    assert ro.stderr == "critmon: database write failed: attempt to write a readonly database\n"
    assert integrity(db) == "ok"
    assert query(db, "SELECT count(*), max(fetched_at) FROM observations") == before

    db.chmod(0o400)
    try:
        denied = critmon("once", file_modes=True, csv=LONG_CSV)
        assert denied.returncode == 1, denied.stderr
        assert "readonly database" in denied.stderr, denied.stderr
        assert "Traceback" not in denied.stderr
    finally:
        db.chmod(0o600)
    assert integrity(db) == "ok"
    assert query(db, "SELECT count(*), max(fetched_at) FROM observations") == before
    assert critmon("once").returncode == 0 and integrity(db) == "ok"
