"""``--store``: the CLI on a PostgreSQL store (a throw-away cluster, tests/pg_server.py)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.store.database import Store
from monitor.store.lease import acquire


def test_commands_read_the_postgresql_store_and_once_refuses_beside_a_leader(
        pg_url: str, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", pg_url, "--state-dir", state, "alerts"])
    assert result.exit_code == 0, result.output
    with Store.open(pg_url) as store:
        token = acquire(store.db, "elsewhere:1:abc", ttl_s=120)
    result = runner.invoke(cli, ["once", "--store", pg_url, "--state-dir", state])
    assert result.exit_code == 1
    assert f"elsewhere:1:abc leads this database (leader lease, token {token})" in result.output
    assert not (tmp_path / "state" / "critmon.db").exists(), "nothing went to SQLite"
