"""A job that runs past its limit shows in `critmon health`, naming the job and how long it ran.

The daemon runs in-process with its real scheduler; the poll is held inside its fetch by an
Event the test releases at the end (a page that takes forever to parse looks the same from the
scheduler's side).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.config.load import load_config
from monitor.core.clock import SystemClock
from monitor.core.errors import SourceUnavailableError
from monitor.core.models import FetchResult
from monitor.ops.daemon import Daemon
from monitor.ops.jobs import prepare

SOURCES = """
version: 1
sources:
  - id: slow_feed
    kind: rss
    url: http://127.0.0.1:9/feed.xml
    interval: 1h
    jitter: 0s
    timeout: 1s
"""


class BlockingFetcher:
    """A fetch that does not return until the test releases it."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def fetch(self, url: str, *, source: str = "", **_: Any) -> FetchResult:
        self.entered.set()
        self.release.wait(timeout=300)  # a backstop: the test always releases it
        raise SourceUnavailableError(f"{source}: released by the test", source=source)


def wait_for(condition: Callable[[], bool], timeout_s: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def health(state: Path) -> tuple[int, dict[str, dict[str, str]]]:
    result = CliRunner().invoke(cli, ["--state-dir", str(state), "health", "--format", "json"])
    return result.exit_code, {c["check"]: c for c in json.loads(result.stdout)}


def jobs_status(state: Path) -> str:
    return health(state)[1].get("jobs", {}).get("status", "missing")


def test_a_poll_stuck_past_its_limit_makes_health_fail_until_it_ends(tmp_path: Path) -> None:
    config, state = tmp_path / "config", tmp_path / "state"
    config.mkdir()
    (config / "sources.yaml").write_text(SOURCES, encoding="utf-8")
    runtime = prepare(load_config(config), config, state, SystemClock().now())
    fetcher = BlockingFetcher()
    # No margin: the poll's limit is its fetch timeout plus its parse budget, 1s + 1s.
    daemon = Daemon(runtime, fetcher=fetcher, job_margin=timedelta(0))
    daemon.schedule_jobs()
    daemon.scheduler.start()
    try:
        assert fetcher.entered.wait(60), "the poll job never started"
        assert wait_for(lambda: jobs_status(state) == "FAIL"), health(state)
        code, checks = health(state)
        assert code == 1
        detail = checks["jobs"]["detail"]
        assert "poll slow_feed" in detail and "running for" in detail
        assert "(limit 2s)" in detail
    finally:
        fetcher.release.set()
    try:
        assert wait_for(lambda: jobs_status(state) == "ok"), health(state)
        assert "slow_feed" not in health(state)[1]["jobs"]["detail"]
    finally:
        daemon.stop()
