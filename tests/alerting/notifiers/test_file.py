"""The JSONL file receiver, through ``critmon notify test``: private, and only our own file."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.config.load import default_config_dir


def notify_test(state: Path) -> tuple[int, str]:
    """The shipped config's ``jsonl`` receiver appends to alerts.jsonl in the state dir."""
    result = CliRunner().invoke(cli, ["--config", str(default_config_dir()), "--state-dir",
                                      str(state), "notify", "test", "jsonl"])
    return result.exit_code, result.output


@pytest.fixture
def state(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    return directory


def test_a_new_jsonl_file_is_private(state: Path) -> None:
    assert notify_test(state)[0] == 0
    assert stat.S_IMODE((state / "alerts.jsonl").stat().st_mode) == 0o600


def test_an_existing_jsonl_file_open_to_others_is_made_private(
        state: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = state / "alerts.jsonl"
    path.write_text('{"old": 1}\n', encoding="utf-8")
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="monitor.notifiers.file"):
        code, out = notify_test(state)
    assert code == 0, out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[0]) == {"old": 1}
    assert f"{path} was readable or writable by other users (mode 0644): now 0600" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file owned by another user needs root")
def test_a_jsonl_file_owned_by_another_user_is_not_written(state: Path) -> None:
    path = state / "alerts.jsonl"
    path.write_text("", encoding="utf-8")
    os.chown(path, 65534, 65534)
    code, out = notify_test(state)
    assert code == 1
    assert f"{path} is owned by uid 65534" in out
    assert path.read_text(encoding="utf-8") == ""
