"""PostgreSQL's schema and dialect: the same tables as SQLite's, SQL rewritten, secrets kept out."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.core.errors import StoreError
from monitor.store import pg_schema, schema
from monitor.store.database import Store
from monitor.store.pg import to_pg
from monitor.store.urls import redact_url


def sqlite_columns(store: Store) -> dict[str, set[str]]:
    tables = [r["name"] for r in store.db.query(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'")]
    return {t: {r["name"] for r in store.db.query(f"PRAGMA table_info({t})")} for t in tables}


def pg_columns(store: Store) -> dict[str, set[str]]:
    columns: dict[str, set[str]] = {}
    for row in store.db.query(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"):
        columns.setdefault(row["table_name"], set()).add(row["column_name"])
    return columns


def test_both_databases_end_with_the_same_tables_and_columns(tmp_path: Path,
                                                             pg_url: str) -> None:
    with Store.open(tmp_path / "critmon.db") as lite, Store.open(pg_url) as pg:
        expected = sqlite_columns(lite)
        got = pg_columns(pg)
    only_pg = {"critmon_migrations", "leader_lease"}
    assert set(got) - only_pg == set(expected)
    for table, columns in expected.items():
        assert got[table] == columns, table


def test_every_sqlite_migration_has_a_postgresql_twin_of_the_same_name() -> None:
    sqlite_sets = {"critmon": schema.migrations, "critmon_news": schema.news_migrations,
                   "critmon_alerts": schema.alert_migrations}
    twins = dict(pg_schema.MIGRATION_SETS)
    for name, migrations in sqlite_sets.items():
        assert [m.name for m in migrations._migrations] == [n for n, _ in twins[name]], name


def test_sqlite_ddl_translates_types_ids_and_append_only_triggers() -> None:
    translated = pg_schema.from_sqlite([
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, x REAL, realm TEXT)",
        ("CREATE TRIGGER t_no_update BEFORE UPDATE ON t\n"
        "   BEGIN SELECT RAISE(ABORT, 't is append-only'); END"),
        ("CREATE TRIGGER t_no_delete BEFORE DELETE ON t "
        "BEGIN SELECT RAISE(ABORT, 't is append-only'); END"),
    ])
    assert translated[0] == (f"CREATE TABLE t ({pg_schema.ID}, n BIGINT NOT NULL, "
                             "x DOUBLE PRECISION, realm TEXT)")
    assert len(translated) == 4, "one function for the table's two triggers"
    assert "RAISE EXCEPTION 't is append-only'" in translated[1]
    assert translated[2:] == [
        ("CREATE TRIGGER t_no_update BEFORE UPDATE ON t "
        "FOR EACH ROW EXECUTE FUNCTION t_append_only()"),
        ("CREATE TRIGGER t_no_delete BEFORE DELETE ON t "
        "FOR EACH ROW EXECUTE FUNCTION t_append_only()")]


def test_migrations_apply_once_even_when_two_instances_start_together(pg_url: str) -> None:
    errors: list[BaseException] = []

    def start() -> None:
        try:
            Store.open(pg_url).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    with Store.open(pg_url) as store:
        names = [r["name"] for r in store.db.query("SELECT name FROM critmon_migrations")]
    assert len(names) == len(set(names)) == sum(len(m) for _, m in pg_schema.MIGRATION_SETS)


def test_alert_events_stay_append_only_on_postgresql(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        store.db.execute("INSERT INTO alert_events (at, fingerprint, kind) VALUES (?, ?, ?)",
                         ["2026-01-01", "f", "fired"])
        with pytest.raises(StoreError, match="append-only"), store.transaction():
            store.db.execute("UPDATE alert_events SET kind = 'x'")


@pytest.mark.parametrize(("sqlite", "postgresql"), [
    ("SELECT * FROM t WHERE a = ? AND b LIKE ? ESCAPE '\\'",
     "SELECT * FROM t WHERE a = %s AND b LIKE %s ESCAPE '\\'"),
    ("SELECT '50%' || ?, 'what?'", "SELECT '50%%' || %s, 'what?'"),
    ("INSERT OR IGNORE INTO t (a) VALUES (?)",
     "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING"),
    ("UPDATE SET v = excluded.v WHERE t.v IS NOT excluded.v",
     "UPDATE SET v = excluded.v WHERE t.v IS DISTINCT FROM excluded.v"),
    ("SELECT group_concat(m, ',')", "SELECT string_agg(m, ',')"),
    ("SELECT MIN(COALESCE(a, b), b), MIN(c)", "SELECT LEAST(COALESCE(a, b), b), MIN(c)"),
])
def test_sqlite_dialect_is_rewritten_for_postgresql(sqlite: str, postgresql: str) -> None:
    assert to_pg(sqlite) == postgresql


def test_a_password_never_shows_in_a_url_or_an_error(pg_cluster: object) -> None:
    assert redact_url("postgresql://u:s3cret@db:5432/c") == "postgresql://u:***@db:5432/c"
    assert redact_url("postgresql://u@db/c") == "postgresql://u@db/c"
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://critmon:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1/nowhere" in str(caught.value)


def test_a_store_url_holding_a_password_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--store", "postgresql://u:s3cret@db/c", "--state-dir",
                                      str(tmp_path / "s"), "health"])
    assert result.exit_code == 2
    assert "PGPASSWORD" in result.output and "s3cret" not in result.output
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "sources.yaml").write_text(
        "version: 1\nstore: postgresql://u:s3cret@db/c\nsources: []\n", "utf-8")
    result = CliRunner().invoke(cli, ["--config", str(tmp_path / "cfg"), "config", "check"])
    assert result.exit_code == 78
    assert "store" in result.output and "s3cret" not in result.output


def test_a_literal_percent_survives_with_and_without_parameters(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        assert next(store.db.query("SELECT '50%' AS v"))["v"] == "50%"
        assert next(store.db.query("SELECT '50%' || ? AS v", ["!"]))["v"] == "50%!"
        assert store.db.execute("SELECT 'a?b'").fetchone() == ("a?b",)
