"""`critmon web`: the users-file line for a password; no console without a database."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.web.security import load_users, verify_password


def test_hash_password_prints_a_line_the_console_accepts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["web", "--hash-password", "ana"],
                                input="s3cret pass\ns3cret pass\n")
    assert result.exit_code == 0, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("ana:scrypt$") and "s3cret" not in line
    users = tmp_path / "web-users"
    users.write_text(line + "\n")
    assert verify_password("s3cret pass", load_users(users)["ana"])


def test_web_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "web", "8765"])
    assert result.exit_code != 0
    assert "run `critmon once` or `critmon run` first" in result.output
    assert not (tmp_path / "critmon.db").exists()
