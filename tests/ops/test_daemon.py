"""``critmon run`` as a real process: it polls, reloads on SIGHUP, survives a bad edit, stops."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

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


def wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


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
    if not (state / DB_NAME).exists():
        return 0
    with Store.open(state / DB_NAME, migrate=False) as store:
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

    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert time.monotonic() - started < 15
    assert "critmon stopped" in log.read_text()


def test_daemon_with_a_bad_config_exits_78_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("version: 1\nrisk: {weights: {structural: 2}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "--config", str(tmp_path), "--state-dir",
         str(tmp_path / "state"), "run"], check=False, capture_output=True, text=True,
        timeout=60)
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
        server.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": notify_path, "WATCHDOG_USEC": "2000000"}
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "--state-dir",
             str(tmp_path / "state"), "run"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env)
        try:
            messages = [server.recv(4096).decode() for _ in range(3)]
            assert messages[0].startswith("READY=1\nSTATUS=")
            assert all(m.startswith("WATCHDOG=1\nSTATUS=") for m in messages[1:])
            assert "sources ok" in messages[1]
            process.send_signal(signal.SIGTERM)
            while (message := server.recv(4096).decode()).startswith("WATCHDOG"):
                pass
            assert message == "STOPPING=1"
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
