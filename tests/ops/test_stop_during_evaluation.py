"""SIGTERM during an evaluation: the daemon stops at once, and the evaluation leaves no trace.

The evaluation runs in a child process that holds, through a test seam, once it has written
everything and before it commits. Stopping must kill it (exit 0, well within the 30 s stop
budget, no orphan), roll its writes back, and the next start must evaluate in full.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer

from monitor.ops.worker import HOLD_ENV
from monitor.store.database import DB_NAME, Store
from tests.ops.test_daemon import FRED_CSV, LIMIT_S, SOURCES, closed_port, wait_for


def start(config: Path, state: Path, log: Path, **extra_env: str) -> subprocess.Popen[bytes]:
    proxy = f"http://127.0.0.1:{closed_port()}"  # nothing may leave the machine
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
           "NO_PROXY": "127.0.0.1,localhost", **extra_env}
    with log.open("a") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "--state-dir",
             str(state), "run"], stdout=out, stderr=subprocess.STDOUT, env=env)


def evaluated(state: Path) -> tuple[str | None, int]:
    """The last evaluation's time and the stored detector signals."""
    with Store.open(state / DB_NAME, migrate=False) as store:
        return store.get_meta("last_evaluation_at"), store.db["signals"].count


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_interrupts_a_running_evaluation_and_rolls_it_back(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cobalt.csv").respond_with_data(FRED_CSV)
    config, state, log = tmp_path / "config", tmp_path / "state", tmp_path / "daemon.log"
    config.mkdir()
    (config / "sources.yaml").write_text(
        SOURCES.format(url=httpserver.url_for("/cobalt.csv"), interval="1h"), "utf-8")
    marker = tmp_path / "holding"

    process = start(config, state, log, **{HOLD_ENV: str(marker)})
    try:
        assert wait_for(marker.exists), log.read_text()
        assert wait_for(lambda: marker.read_text().strip() != "")
        child = int(marker.read_text())
        process.send_signal(signal.SIGTERM)
        # 0: stopped within the daemon's own budget (past it, it exits 1)
        assert process.wait(timeout=LIMIT_S) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    assert "evaluation interrupted and rolled back" in text and "critmon stopped" in text
    assert "jobs did not finish" not in text
    assert not alive(child), "the evaluation process outlived the daemon"
    assert evaluated(state) == (None, 0), "the interrupted evaluation left rows behind"

    process = start(config, state, log)  # nothing lost: the next start evaluates in full
    try:
        assert wait_for(lambda: evaluated(state)[0] is not None), log.read_text()
        assert evaluated(state)[1] > 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=LIMIT_S) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
