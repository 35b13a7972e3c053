"""A hostile edit of a running daemon's config is refused and the old config stays live."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.config.load import Config, load_config
from monitor.core.clock import SystemClock
from monitor.ops.daemon import Daemon
from monitor.ops.jobs import RELOAD_ERROR_KEY, prepare

SOURCES = """version: 1
sources:
  - id: local_cobalt
    kind: fred_csv
    url: https://example.org/cobalt.csv
    mineral: cobalt
    unit: USD/t
    interval: {interval}
"""


def billion_laughs(levels: int, width: int = 10) -> str:
    """A YAML flow sequence whose aliases expand to ``width ** levels`` strings."""
    anchors = [f'&l0 [{", ".join(["lol"] * width)}]']
    anchors += [f'&l{n} [{", ".join([f"*l{n - 1}"] * width)}]' for n in range(1, levels + 1)]
    return "[" + ", ".join(anchors) + "]"


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    """A daemon prepared on a one-source config (not started: reload is called directly)."""
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "sources.yaml").write_text(SOURCES.format(interval="8h"), encoding="utf-8")
    runtime = prepare(load_config(config_dir), config_dir, tmp_path / "state",
                      SystemClock().now())
    return Daemon(runtime)


def reload_error(daemon: Daemon) -> str:
    with daemon.runtime.open_store() as store:
        return store.get_meta(RELOAD_ERROR_KEY) or ""


def alert_texts(daemon: Daemon) -> str:
    with daemon.runtime.open_store() as store:
        return "\n".join(str(row) for row in store.db.execute("SELECT * FROM outbox"))


@pytest.mark.parametrize("levels", [5, 30], ids=["megabytes", "yottabytes"])
def test_an_alias_bomb_is_rejected_and_the_old_config_stays(daemon: Daemon,
                                                            levels: int) -> None:
    old = daemon.runtime.config
    path = daemon.runtime.config_dir / "sources.yaml"
    path.write_text(SOURCES.format(interval=billion_laughs(levels)), encoding="utf-8")
    started = time.monotonic()
    assert daemon.reload() is False
    assert time.monotonic() - started < 10
    assert daemon.runtime.config is old
    error = reload_error(daemon)
    assert error.startswith(f"{path}:8: ") and "alias" in error
    assert len(error) < 300
    assert "lol" not in alert_texts(daemon)
    assert len(alert_texts(daemon)) < 20_000


def test_an_overflowing_duration_is_rejected_and_the_old_config_stays(daemon: Daemon) -> None:
    old = daemon.runtime.config
    path = daemon.runtime.config_dir / "sources.yaml"
    path.write_text(SOURCES.format(interval="99999999999999w"), encoding="utf-8")
    assert daemon.reload() is False
    assert daemon.runtime.config is old
    assert reload_error(daemon).startswith(f"{path}:8: sources.0.interval: must be between")


def test_a_good_edit_after_a_hostile_one_is_taken(daemon: Daemon) -> None:
    path = daemon.runtime.config_dir / "sources.yaml"
    path.write_text(SOURCES.format(interval=billion_laughs(30)), encoding="utf-8")
    assert daemon.reload() is False
    path.write_text(SOURCES.format(interval="12h"), encoding="utf-8")
    assert daemon.reload() is True
    assert daemon.runtime.config.sources.sources[0].interval.total_seconds() == 12 * 3600
    assert reload_error(daemon) == ""


def test_an_unexpected_error_while_loading_keeps_the_old_config_and_the_daemon(
        tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "sources.yaml").write_text(SOURCES.format(interval="8h"), encoding="utf-8")
    runtime = prepare(load_config(config_dir), config_dir, tmp_path / "state",
                      SystemClock().now())

    def exhausted(_directory: Path | None) -> Config:
        raise RecursionError("maximum recursion depth exceeded")

    daemon = Daemon(runtime, load=exhausted)
    old = daemon.runtime.config
    assert daemon.reload() is False
    assert daemon.runtime.config is old
    assert "unexpected RecursionError" in reload_error(daemon)
