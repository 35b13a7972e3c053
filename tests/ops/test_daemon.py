"""``critmon run`` as a real process: it polls, reloads on SIGHUP, survives a bad edit, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.config.load import load_config
from monitor.core.clock import FixedClock
from monitor.ops.daemon import Daemon
from monitor.ops.jobs import prepare
from monitor.store.database import DB_NAME, Store

FRED_CSV = "observation_date,PCOBAUSDM\n2025-10-01,35100\n2025-11-01,48200\n"
SOURCES = """
version: 1
sources:
  - id: local_cobalt
    kind: fred_csv
    url: {url}
    mineral: cobalt
    unit: USD/t
    interval: {interval}
    jitter: 0s
"""


#: How long any one wait may take. Generous, because the tests share a loaded machine; every
#: wait ends as soon as its condition holds, so a fast machine never waits this long.
LIMIT_S = 300.0


def wait_for(condition: Callable[[], bool], timeout_s: float = LIMIT_S) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def receive(server: socket.socket, deadline: float) -> str:
    """The next datagram on ``server``, waiting at most until ``deadline`` (monotonic)."""
    server.settimeout(max(0.001, deadline - time.monotonic()))
    return server.recv(4096).decode()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def daemon(tmp_path: Path, httpserver: HTTPServer) -> Iterator[dict]:
    httpserver.expect_request("/cobalt.csv").respond_with_data(FRED_CSV)
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    url = httpserver.url_for("/cobalt.csv")
    (config / "sources.yaml").write_text(SOURCES.format(url=url, interval="1h"), "utf-8")
    proxy = f"http://127.0.0.1:{closed_port()}"  # nothing may leave the machine
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "127.0.0.1,localhost"}
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "--state-dir", str(state),
             "run"], stdout=log, stderr=subprocess.STDOUT, env=env)
    yield {"process": process, "config": config, "state": state, "log": log_path, "url": url}
    if process.poll() is None:
        process.kill()
        process.wait()


def cobalt_rows(state: Path) -> int:
    """Rows stored for the local source; 0 while the daemon is still creating the database."""
    if not (state / DB_NAME).exists():
        return 0
    with Store.open(state / DB_NAME, migrate=False) as store:
        if not store.db["observations"].exists():  # created, not yet migrated
            return 0
        return store.count_observations().get("local_cobalt", 0)


def test_daemon_polls_reloads_keeps_old_config_on_error_and_stops(daemon: dict) -> None:
    process, state, log = daemon["process"], daemon["state"], daemon["log"]
    assert wait_for(lambda: cobalt_rows(state) == 2), log.read_text()

    (daemon["config"] / "sources.yaml").write_text("version: 1\nsources: [{id: x}]\n", "utf-8")
    process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reload failed" in log.read_text()), log.read_text()
    assert process.poll() is None
    assert "sources.yaml" in log.read_text()

    (daemon["config"] / "sources.yaml").write_text(
        SOURCES.format(url=daemon["url"], interval="2h"), "utf-8")
    process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reloaded" in log.read_text()), log.read_text()
    with Store.open(state / DB_NAME, migrate=False) as store:
        assert [row["origin"] for row in store.config_versions()] == ["reload", "start"]

    (daemon["config"] / "sources.yaml").write_text(
        SOURCES.format(url=daemon["url"], interval="3h"), "utf-8")  # no signal: a file edit
    assert wait_for(lambda: "config files changed on disk; reloading" in log.read_text())
    assert wait_for(lambda: log.read_text().count("config reloaded") == 2), log.read_text()

    process.send_signal(signal.SIGTERM)
    # Exit code 0 means the scheduler stopped within the daemon's own 30 s limit: past it,
    # the daemon logs "jobs did not finish" and exits 1.
    assert process.wait(timeout=LIMIT_S) == 0, log.read_text()
    assert "critmon stopped" in log.read_text()
    assert "jobs did not finish" not in log.read_text()


def test_signals_that_arrive_while_the_daemon_is_busy_reload_it_and_never_kill_it(
        daemon: dict) -> None:
    # SIGHUPs without pause: most arrive while a reload keeps the main thread busy, when
    # threads started before the daemon blocked its signals (numpy's BLAS pool) can receive
    # them. Each must still mean "reload", never the default action (terminate).
    process, log = daemon["process"], daemon["log"]
    assert wait_for(lambda: "critmon running" in log.read_text()), log.read_text()
    deadline = time.monotonic() + LIMIT_S
    while (process.poll() is None and log.read_text().count("config reloaded") < 3
           and time.monotonic() < deadline):
        process.send_signal(signal.SIGHUP)
    assert process.poll() is None, f"killed by a signal: {process.returncode}\n{log.read_text()}"
    assert log.read_text().count("config reloaded") >= 3, log.read_text()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=LIMIT_S) == 0, log.read_text()
    assert "critmon stopped" in log.read_text()


def test_daemon_with_a_bad_config_exits_78_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("version: 1\nrisk: {weights: {structural: 2}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(tmp_path), "--state-dir",
         str(tmp_path / "state"), "run"], check=False, capture_output=True, text=True,
        timeout=LIMIT_S)
    assert result.returncode == 78
    assert "rules.yaml" in result.stderr and "risk.weights" in result.stderr


def test_daemon_speaks_the_systemd_notify_protocol(tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cobalt.csv").respond_with_data(FRED_CSV)
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        SOURCES.format(url=httpserver.url_for("/cobalt.csv"), interval="1h"), "utf-8")
    notify_path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(notify_path)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "--state-dir",
             str(tmp_path / "state"), "run"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env)
        try:
            deadline = time.monotonic() + LIMIT_S
            messages = [receive(server, deadline) for _ in range(3)]
            assert messages[0].startswith("READY=1\nSTATUS=")
            assert all(m.startswith("WATCHDOG=1\nSTATUS=") for m in messages[1:])
            assert "sources ok" in messages[1]
            process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + LIMIT_S
            while (message := receive(server, deadline)).startswith("WATCHDOG"):
                pass
            assert message == "STOPPING=1"
            assert process.wait(timeout=LIMIT_S) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_editing_a_perspective_table_is_a_config_change(tmp_path: Path) -> None:
    from monitor.config.load import load_config
    from monitor.ops.daemon import config_files_stamp

    (tmp_path / "rules.yaml").write_text(
        "version: 1\nperspectives:\n  - {id: jp, name: Japan, members: [Japan], "
        "table: jp.csv}\n", encoding="utf-8")
    table = tmp_path / "jp.csv"
    table.write_text("mineral,year,import_reliance_pct\ncobalt,2023,100\n", encoding="utf-8")
    config = load_config(tmp_path)
    assert config.perspective_files == (table,)
    before = config_files_stamp(tmp_path, config.perspective_files)
    table.write_text("mineral,year,import_reliance_pct\ncobalt,2023,90\n", encoding="utf-8")
    os.utime(table, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert config_files_stamp(tmp_path, config.perspective_files) != before


def test_a_failing_source_s_job_sleeps_until_its_retry_is_due(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    """Issue 17: the job of a source backing off wakes when the retry is due, not every tick."""
    httpserver.expect_request("/cobalt.csv").respond_with_data("down", status=503)
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text(
        SOURCES.format(url=httpserver.url_for("/cobalt.csv"), interval="1h"), "utf-8")
    clock = FixedClock(datetime(2031, 3, 1, tzinfo=UTC))
    runtime = prepare(load_config(config), config, tmp_path / "state", clock.now())
    daemon = Daemon(runtime, clock=clock)
    daemon.schedule_jobs()  # the scheduler is not started: nothing runs by itself

    def next_wake() -> datetime:
        job = daemon.scheduler.get_job("poll:local_cobalt")
        assert job is not None and job.next_run_time is not None
        return job.next_run_time

    try:
        scheduled = next_wake()
        daemon._poll_job("local_cobalt")  # fails: retry in 1 min, the job's own tick
        assert next_wake() == scheduled
        clock.advance(timedelta(minutes=1))
        daemon._poll_job("local_cobalt")  # fails again: retry in 2 min, past the tick
        asked_at = datetime.now(UTC)
        assert timedelta(seconds=110) <= next_wake() - asked_at <= timedelta(seconds=120)
        clock.advance(timedelta(seconds=30))
        daemon._poll_job("local_cobalt")  # woken early (a reload, a tick): sleeps on
        assert len(httpserver.log) == 2
        assert timedelta(seconds=80) <= next_wake() - datetime.now(UTC) <= timedelta(seconds=90)
        clock.advance(timedelta(seconds=90))
        daemon._poll_job("local_cobalt")  # due: polled (fails, retry in 4 min)
        assert len(httpserver.log) == 3
        assert next_wake() - datetime.now(UTC) >= timedelta(seconds=230)
    finally:
        daemon.fetcher_close()
