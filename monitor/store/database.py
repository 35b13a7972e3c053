"""The state store: one SQLite file (WAL) by default, or a PostgreSQL database.

A :class:`Store` wraps one connection and belongs to the thread that opened it (APScheduler runs
jobs in worker threads, so each job opens its own; that is cheap with WAL). The schema is created
and changed only by the migrations in :mod:`monitor.store.schema` (and their PostgreSQL twins in
:mod:`monitor.store.pg_schema`). :meth:`Store.open` takes a path (SQLite, through sqlite-utils)
or a ``postgresql://`` URL (psycopg 3, through :mod:`monitor.store.pg`, which offers the same
``db`` interface, so every query is written once).
Timestamps are ISO-8601 UTC text; dates are ISO ``YYYY-MM-DD``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from monitor.config.perspectives import DEFAULT_PERSPECTIVE
from monitor.core.errors import StoreError
from monitor.core.models import Frequency, Measure, Observation
from monitor.core.trade import TradeFlow
from monitor.store.schema import apply_all
from monitor.store.urls import StoreTarget, describe_target, is_pg_url

DB_NAME = "critmon.db"
log = logging.getLogger(__name__)
@dataclass(frozen=True, slots=True)
class SourceState:
    """Health and conditional-GET state of one source, as stored."""

    source: str
    kind: str = ""
    url: str = ""
    status: str = "never"
    last_attempt_at: str | None = None
    last_success_at: str | None = None
    last_change_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    consecutive_failures: int = 0
    next_poll_at: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    last_http_status: int | None = None
    last_latency_s: float | None = None
    last_rows: int | None = None
    polls: int = 0
    failures: int = 0
    failing_since: str | None = None


_SOURCE_STATE_COLUMNS = ", ".join(SourceState.__dataclass_fields__)
_SOURCE_STATE_UPSERT = (
    f"INSERT INTO source_state ({_SOURCE_STATE_COLUMNS}) "
    f"VALUES ({', '.join('?' for _ in SourceState.__dataclass_fields__)}) "
    "ON CONFLICT (source) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SourceState.__dataclass_fields__ if c != "source"))


def _source_state(found: tuple[Any, ...]) -> SourceState:
    """A stored row (the columns in :data:`_SOURCE_STATE_COLUMNS`' order) as a SourceState."""
    row = dict(zip(SourceState.__dataclass_fields__, found, strict=True))
    return SourceState(**row | {"consecutive_failures": row["consecutive_failures"] or 0,
                                "polls": row["polls"] or 0, "failures": row["failures"] or 0,
                                "status": row["status"] or "never"})


def state_dir_path(explicit: str | os.PathLike[str] | None,
                   environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """Pick the state directory: ``--state-dir``, ``CRITMON_STATE_DIR``, systemd, XDG."""
    environ = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if environ.get("CRITMON_STATE_DIR"):
        return Path(environ["CRITMON_STATE_DIR"])
    if environ.get("STATE_DIRECTORY"):  # systemd StateDirectory=
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "critmon"


class OutputRefusedError(StoreError):
    """An output path critmon must not write: the live database, or a file that is not ours."""


#: What SQLite writes next to a database: its WAL, the WAL index, a rollback journal.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")
_SQLITE_HEADER = b"SQLite format 3\x00"
_WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def database_files(db_path: str | os.PathLike[str]) -> list[Path]:
    """The database file and the companion files SQLite keeps beside it."""
    path = Path(db_path)
    return [path, *(path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES)]


def _same_file(a: Path, b: Path) -> bool:
    """Whether two names reach one file (a symlink, a hard link, ``..``), existing or not."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist: compare where the names lead
        return os.path.realpath(a) == os.path.realpath(b)


def looks_like_sqlite(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts like an SQLite database or WAL file."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(_SQLITE_HEADER))
    except OSError:
        return False
    return head.startswith(_SQLITE_HEADER) or head[:4] in _WAL_MAGIC


def check_output_path(target: Path, *, live_db: Path | None, force: bool,
                      replaceable: Callable[[Path], bool], what: str) -> None:
    """Refuse to write ``target`` unless it is new, or a file of ours (``replaceable``).

    The live database and its companions are never written, under any name and even with
    ``force`` (``critmon report --out critmon.db`` once replaced all state with HTML); nor is
    anything that is not a regular file (a FIFO, a device). ``force`` replaces other files.
    """
    for path in database_files(live_db) if live_db is not None else []:
        if _same_file(target, path):
            raise OutputRefusedError(
                f"refusing to write the {what} to {target}: that is critmon's state database "
                f"({path}); choose another path")
    if not os.path.lexists(target):
        if not target.parent.is_dir():
            raise OutputRefusedError(f"cannot write the {what} to {target}: there is no "
                                     f"directory {target.parent}")
        return
    if target.exists() and not target.is_file():
        raise OutputRefusedError(
            f"refusing to write the {what} to {target}: it is not a regular file")
    if not force and not replaceable(target):
        raise OutputRefusedError(
            f"refusing to write the {what} to {target}: it exists and is not a critmon {what}; "
            "remove it or pass --force to replace it")


def write_private_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically, mode 0600.

    A temporary file in the same directory (created 0600) is filled, synced and renamed over
    the target: a reader never sees half a file, and a crash leaves the old one.
    """
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def ensure_state_dir(path: Path) -> Path:
    """The state directory: created 0700 if new; if it exists, checked, never chmod'ed.

    An existing directory must be ours and not shared (see :func:`check_private_dir`):
    ``--state-dir /tmp`` must not turn /tmp into 0700, nor keep the database where another
    user can swap it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            check_private_dir(path, require_owner=True)
            return path
        path.chmod(0o700)  # mkdir's mode passed through the umask
    except OSError as exc:
        raise StoreError(f"cannot create state directory {path}: {exc.strerror}") from exc
    return path


def check_private_dir(path: Path, *, require_owner: bool) -> None:
    """StoreError unless ``path`` is a directory that is not shared (nor someone else's).

    World-writable or sticky (``/tmp``) means any account can pre-create or replace the
    database there. The check does not depend on who runs critmon, so it holds for root too;
    ``require_owner`` adds that the directory belongs to the user running. Group-writable is
    allowed: with user-private groups (umask 002) a user's own directories are 0775.
    """
    try:
        info = path.stat()
    except OSError as exc:
        raise StoreError(f"cannot use state directory {path}: {exc.strerror}") from exc
    if not stat.S_ISDIR(info.st_mode):
        raise StoreError(f"cannot use state directory {path}: not a directory")
    shown = f"mode {stat.S_IMODE(info.st_mode):04o}"
    shared = [word for bit, word in ((stat.S_IWOTH, "world-writable"), (stat.S_ISVTX, "sticky"))
              if info.st_mode & bit]
    if shared:
        raise StoreError(
            f"refusing state directory {path}: it is {' and '.join(shared)} ({shown}), so "
            f"other users could replace critmon's files; use a private subdirectory such as "
            f"{path / 'critmon'}")
    if require_owner and info.st_uid != os.geteuid():
        raise StoreError(
            f"refusing state directory {path}: it is owned by uid {info.st_uid}, not by uid "
            f"{os.geteuid()} that runs critmon; run critmon as its owner or use a directory "
            "of your own")


def make_private(path: Path) -> None:
    """Take group and other permissions off an existing file (0600), saying so in the log.

    StoreError when that is not possible (the file belongs to someone else). A missing file is
    left alone.
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot use {path}: {exc.strerror}") from exc
    old = stat.S_IMODE(info.st_mode)
    if not old & 0o077:
        return
    try:
        path.chmod(0o600)
    except OSError as exc:
        raise StoreError(
            f"{path} is readable or writable by other users (mode {old:04o}) and cannot "
            f"be made private ({exc.strerror}): it is owned by uid {info.st_uid}; run critmon "
            f"as that user, or `chmod 600` it") from exc
    log.warning("%s was readable or writable by other users (mode %04o): now 0600", path, old)


class Store:
    """One connection to the state database; use from the thread that opened it."""

    def __init__(self, db: Any) -> None:
        #: sqlite-utils' Database, or :class:`monitor.store.pg.PgDatabase` (same interface).
        self.db = db
        self.dialect: str = getattr(db, "dialect", "sqlite")

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path: StoreTarget, *, migrate: bool = True, lease: Any = None) -> Store:
        """Open the store: a ``postgresql://`` URL, or the SQLite file at ``path``.

        A new SQLite file is created 0600 and put in WAL mode; both are migrated unless
        ``migrate`` is false. ``lease`` (a :class:`monitor.store.lease.LeaseToken`) fences a
        PostgreSQL store's writes: each write transaction first checks that the lease is still
        this one (SQLite has no lease: its one instance is always the leader).
        """
        if is_pg_url(path):
            return cls.open_pg(str(path), migrate=migrate, lease=lease)
        path = Path(path)
        check_private_dir(path.parent, require_owner=False)
        for file in database_files(path):  # an old 0644 file stays 0644 otherwise
            make_private(file)
        try:
            if not path.exists():
                path.touch(mode=0o600)
            conn = sqlite3.connect(str(path), timeout=30.0)
            db = Database(conn)
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            if db.journal_mode != "wal":
                db.enable_wal()
            conn.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        store = cls(db)
        if migrate:
            store.migrate()
        return store

    @classmethod
    def open_pg(cls, url: str, *, migrate: bool = True, lease: Any = None) -> Store:
        """Connect to PostgreSQL (the password from ``PGPASSWORD`` or the password file)."""
        from monitor.store.lease import check_fence
        from monitor.store.pg import PgDatabase  # psycopg: only for a PostgreSQL store

        store = cls(PgDatabase(url))
        try:
            if migrate:
                store.migrate()
        except BaseException:
            store.close()
            raise
        if lease is not None:
            store.db.fence = lambda db: check_fence(db, lease)
        return store

    @classmethod
    def memory(cls) -> Store:
        store = cls(Database(memory=True))
        store.migrate()
        return store

    def migrate(self) -> None:
        """Apply every pending migration: the core set, then news and alerts."""
        if self.is_postgres:
            from monitor.store.pg import Error as PgError
            from monitor.store.pg_schema import apply_pg_migrations

            try:
                apply_pg_migrations(self.db)
            except PgError as exc:
                raise StoreError(f"cannot migrate database: {exc}") from exc
            return
        try:
            apply_all(self.db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot migrate database: {exc}{io_error_hint(exc)}") from exc

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes atomically; translate SQLite failures (disk full, read-only).

        The outermost transaction is ``BEGIN IMMEDIATE``: it takes the write lock up front, so
        concurrent jobs wait on the busy timeout instead of failing when a read would have to
        be upgraded to a write. Nested transactions become savepoints. On PostgreSQL the
        fence (the leader lease's token, :mod:`monitor.store.lease`) is checked first.
        """
        if self.is_postgres:
            with self._pg_transaction():
                yield
            return
        conn = self.db.conn
        try:
            if conn.in_transaction:
                with self.db.atomic():
                    yield
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"database write failed: {exc}{io_error_hint(exc)}") from exc

    @contextmanager
    def _pg_transaction(self) -> Iterator[None]:
        from monitor.store.pg import Error as PgError
        from monitor.store.pg import describe_error

        try:
            with self.db.transaction():
                yield
        except PgError as exc:
            raise StoreError(f"database write failed: {describe_error(exc, self.db.url)}"
                             ) from exc

    # ------------------------------------------------------------------ observations

    def save_observations(self, observations: Iterable[Observation], *, fetched_at: datetime
                          ) -> int:
        """Upsert observations on their natural key; return how many rows are new or changed."""
        stamp = fetched_at.isoformat()
        rows = [_observation_row(o, stamp, fetched_at.date()) for o in observations]
        if not rows:
            return 0
        columns = list(rows[0])
        placeholders = ", ".join("?" for _ in columns)
        # Only rows whose value, qualifier or unit differ are written, so re-polling is free and
        # the first publication date of a value is kept.
        sql = f"""
            INSERT INTO observations ({", ".join(columns)}) VALUES ({placeholders})
            ON CONFLICT (source, series, country, period) DO UPDATE SET
              mineral = excluded.mineral, measure = excluded.measure,
              frequency = excluded.frequency, value = excluded.value,
              unit = excluded.unit, stage = excluded.stage, qualifier = excluded.qualifier,
              fetched_at = excluded.fetched_at
            WHERE observations.value IS NOT excluded.value
               OR observations.qualifier IS NOT excluded.qualifier
               OR observations.unit IS NOT excluded.unit
        """
        with self.transaction():
            conn = self.db.conn
            before = conn.total_changes
            conn.executemany(sql, [tuple(row.values()) for row in rows])
            return conn.total_changes - before

    def observations(self, *, mineral: str | None = None, measure: Measure | str | None = None,
                     source: str | None = None, known_at: date | None = None
                     ) -> list[Observation]:
        """Observations, oldest period first; ``known_at`` keeps only what was public then."""
        where, params = [], []
        for column, value in (("mineral", mineral), ("measure", measure), ("source", source)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(str(value))
        if known_at is not None:
            where.append("published_at <= ?")
            params.append(known_at.isoformat())
        sql = "SELECT * FROM observations"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY mineral, measure, source, series, period, country"
        return [_observation_from_row(row) for row in self.db.query(sql, params)]

    def prune_observations(self, period_before: date) -> int:
        """Delete observations of periods before the cut-off; return how many."""
        with self.transaction():
            return self.db.execute("DELETE FROM observations WHERE period < ?",
                                   [period_before.isoformat()]).rowcount

    def count_observations(self) -> dict[str, int]:
        return {row["source"]: row["n"] for row in self.db.query(
            "SELECT source, COUNT(*) AS n FROM observations GROUP BY source ORDER BY source")}

    # ------------------------------------------------------------------ trade flows

    def save_trade_flows(self, flows: Iterable[TradeFlow], *, fetched_at: datetime) -> int:
        """Upsert monthly trade flows on (period, reporter, partner, flow, hs); return how many
        rows are new or changed. A revision keeps the first ``published_at``."""
        stamp = fetched_at.isoformat()
        rows = [(f.period.isoformat(), f.reporter, f.partner, f.flow, f.hs, f.value_usd,
                 f.net_weight_kg, f.source,
                 (f.published_at or fetched_at.date()).isoformat(), stamp) for f in flows]
        if not rows:
            return 0
        sql = """
            INSERT INTO trade_flows (period, reporter, partner, flow, hs, value_usd,
                                     net_weight_kg, source, published_at, fetched_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (period, reporter, partner, flow, hs) DO UPDATE SET
              value_usd = excluded.value_usd, net_weight_kg = excluded.net_weight_kg,
              source = excluded.source, fetched_at = excluded.fetched_at
            WHERE trade_flows.value_usd IS NOT excluded.value_usd
               OR trade_flows.net_weight_kg IS NOT excluded.net_weight_kg
        """
        with self.transaction():
            conn = self.db.conn
            before = conn.total_changes
            conn.executemany(sql, rows)
            return conn.total_changes - before

    def trade_flows(self, *, known_at: date | None = None, source: str | None = None,
                    hs: Iterable[str] | None = None) -> list[TradeFlow]:
        """Stored trade flows, oldest month first; ``known_at`` keeps what was public then."""
        where, params = [], []
        if known_at is not None:
            where.append("published_at <= ?")
            params.append(known_at.isoformat())
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if hs is not None:
            codes = sorted(set(hs))
            where.append(f"hs IN ({', '.join('?' for _ in codes)})")
            params += codes
        sql = "SELECT * FROM trade_flows"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY period, reporter, flow, partner, hs"
        return [TradeFlow(period=date.fromisoformat(r["period"]), reporter=r["reporter"],
                          partner=r["partner"], flow=r["flow"], hs=r["hs"],
                          value_usd=r["value_usd"], net_weight_kg=r["net_weight_kg"],
                          source=r["source"] or "",
                          published_at=date.fromisoformat(r["published_at"])
                          if r["published_at"] else None)
                for r in self.db.query(sql, params)]

    def count_trade_flows(self, source: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM trade_flows WHERE source = ?",
                                   [source]).fetchone()[0])

    # ------------------------------------------------------------------ source state

    def source_state(self, source: str) -> SourceState:
        # Plain SQL: each poll reads this, and sqlite-utils' Table.get first lists the
        # tables and their columns (a dozen statements per call).
        cursor = self.db.execute(f"SELECT {_SOURCE_STATE_COLUMNS} FROM source_state "
                                 "WHERE source = ?", [source])
        found = cursor.fetchone()
        return SourceState(source=source) if found is None else _source_state(found)

    def source_states(self) -> list[SourceState]:
        return [_source_state(found) for found in self.db.execute(
            f"SELECT {_SOURCE_STATE_COLUMNS} FROM source_state ORDER BY source")]

    def save_source_state(self, state: SourceState) -> None:
        with self.transaction():
            self.db.execute(_SOURCE_STATE_UPSERT, list(asdict(state).values()))

    # ------------------------------------------------------------------ config versions

    def record_config(self, *, digest: str, loaded_at: datetime, origin: str, summary: str,
                      files: dict[str, str], author: str | None = None) -> bool:
        """Record a loaded config unless it equals the last one; return True when recorded."""
        last = list(self.db.query(
            "SELECT digest FROM config_versions ORDER BY id DESC LIMIT 1"))
        if last and last[0]["digest"] == digest:
            return False
        with self.transaction():
            self.db["config_versions"].insert({
                "digest": digest, "loaded_at": loaded_at.isoformat(), "origin": origin,
                "summary": summary, "files": json.dumps(files, ensure_ascii=False),
                "author": author,
            })
        return True

    def config_versions(self, limit: int = 50) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT id, digest, loaded_at, origin, summary, author FROM config_versions "
            "ORDER BY id DESC LIMIT ?", [limit]))

    def config_version_files(self, version_id: int) -> dict[str, str] | None:
        """The full text of each config file of one recorded version (None: no such id)."""
        rows = list(self.db.query("SELECT files FROM config_versions WHERE id = ?",
                                  [version_id]))
        return json.loads(rows[0]["files"]) if rows else None

    def last_config_files(self) -> dict[str, str] | None:
        rows = list(self.db.query("SELECT files FROM config_versions ORDER BY id DESC LIMIT 1"))
        return json.loads(rows[0]["files"]) if rows else None

    # ------------------------------------------------------------------ evaluations

    def save_evaluation(self, *, evaluated_at: datetime, indicators: Iterable[dict[str, Any]],
                        scores: Iterable[dict[str, Any]], signals: Iterable[dict[str, Any]]
                        ) -> tuple[int, int]:
        """Append changed indicator values and scores; replace the current signals.

        Returns how many indicator rows and score rows were appended.
        """
        stamp = evaluated_at.isoformat()
        with self.transaction():
            appended = sum(self._append_if_changed(
                "indicator_values", ("mineral", "perspective", "indicator"),
                ("value", "qualifier", "period", "reason"),
                {"perspective": DEFAULT_PERSPECTIVE, **row, "evaluated_at": stamp})
                for row in indicators)
            scored = sum(self._append_if_changed(
                "risk_scores", ("mineral", "perspective"), ("score", "level", "method", "as_of"),
                {"perspective": DEFAULT_PERSPECTIVE, **row, "evaluated_at": stamp})
                for row in scores)
            self.db["signals"].upsert_all(
                [{"perspective": DEFAULT_PERSPECTIVE, **row, "evaluated_at": stamp}
                 for row in signals], pk=("rule", "mineral", "perspective"))
        return appended, scored

    def _append_if_changed(self, table: str, keys: tuple[str, ...], compared: tuple[str, ...],
                           row: dict[str, Any]) -> int:
        where = " AND ".join(f"{k} = ?" for k in keys)
        last = list(self.db.query(
            f"SELECT {', '.join(compared)} FROM {table} WHERE {where} ORDER BY id DESC LIMIT 1",
            [row[k] for k in keys]))
        if last and all(last[0][c] == row.get(c) for c in compared):
            return 0
        self.db[table].insert(row)
        return 1

    def risk_series(self, mineral: str,
                    perspective: str = DEFAULT_PERSPECTIVE) -> list[tuple[date, float]]:
        """The last stored score of each evaluated date, oldest first (for detectors)."""
        rows = self.db.query(
            "SELECT as_of, score FROM risk_scores WHERE id IN (SELECT MAX(id) FROM risk_scores"
            " WHERE mineral = ? AND perspective = ? AND score IS NOT NULL GROUP BY as_of)"
            " ORDER BY as_of", [mineral, perspective])
        return [(date.fromisoformat(row["as_of"]), row["score"]) for row in rows]

    def latest_levels(self, perspective: str = DEFAULT_PERSPECTIVE) -> dict[str, str]:
        """Each mineral's last stored risk level (for hysteresis across evaluations)."""
        return {row["mineral"]: row["level"] for row in self.db.query(
            "SELECT mineral, level FROM risk_scores WHERE id IN "
            "(SELECT MAX(id) FROM risk_scores WHERE perspective = ? GROUP BY mineral)",
            [perspective])}

    def risk_history(self, mineral: str,
                     perspective: str | None = None) -> list[dict[str, Any]]:
        """Every stored score of one mineral (of one perspective, or all), oldest first."""
        if perspective is None:
            return list(self.db.query(
                "SELECT * FROM risk_scores WHERE mineral = ? ORDER BY id", [mineral]))
        return list(self.db.query(
            "SELECT * FROM risk_scores WHERE mineral = ? AND perspective = ? ORDER BY id",
            [mineral, perspective]))

    def current_signals(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM signals ORDER BY mineral, rule, perspective"))

    # ------------------------------------------------------------------ governance, meta

    def save_wgi(self, rows: Sequence[dict[str, Any]]) -> None:
        with self.transaction():
            self.db["wgi"].upsert_all(rows, pk=("code", "year", "indicator"), batch_size=1000)

    def wgi(self, *, known_at: date | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM wgi", []
        if known_at is not None:
            sql += " WHERE published_at <= ?"
            params.append(known_at.isoformat())
        return list(self.db.query(sql + " ORDER BY code, year, indicator", params))

    def check_writable(self) -> str | None:
        """Try a real write; return why it failed, or None when the database takes writes."""
        try:
            self.set_meta("health_probe_at", datetime.now().isoformat())
        except StoreError as exc:
            return str(exc)
        return None

    @functools.cached_property
    def target(self) -> str:
        """Which database this connection reaches: the SQLite file (:meth:`path`) or the
        PostgreSQL URL (it holds no password); "" in memory. Two connections to one database
        have the same target (what a per-database cache keys)."""
        if self.is_postgres:
            return str(self.db.url)
        path = self.path()
        return str(path) if path is not None else ""

    def path(self) -> Path | None:
        """The database file, or None for an in-memory or PostgreSQL store."""
        if self.is_postgres:
            return None
        for _, name, file in self.db.conn.execute("PRAGMA database_list"):
            if name == "main" and file:
                return Path(file)
        return None

    def backup(self, target: str | os.PathLike[str], *, force: bool = False) -> None:
        """Copy the live database with SQLite's online backup API (safe while it is written).

        The copy is made in a 0600 temporary file beside ``target`` and renamed over it. A
        previous backup (an SQLite file) is replaced; any other existing file only with
        ``force``; the live database itself never (OutputRefusedError).
        """
        if self.is_postgres:
            raise StoreError("critmon backup copies an SQLite database; back up PostgreSQL "
                             "with pg_dump (docs/operations.md)")
        target = Path(target)
        check_output_path(target, live_db=self.path(), force=force,
                          replaceable=looks_like_sqlite, what="backup")
        try:
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp")
        except OSError as exc:
            raise StoreError(f"backup to {target} failed: {exc.strerror}") from exc
        os.close(fd)
        try:
            destination = sqlite3.connect(temp)
            try:
                self.db.conn.backup(destination)
            finally:
                destination.close()
            os.replace(temp, target)
        except (sqlite3.Error, OSError) as exc:
            for leftover in database_files(temp):
                with suppress(OSError):
                    os.unlink(leftover)
            raise StoreError(f"backup to {target} failed: {exc}") from exc

    def vacuum(self) -> None:
        if self.is_postgres:
            self._pg_maintenance("VACUUM (ANALYZE)")
            return
        try:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.vacuum()
        except sqlite3.Error as exc:
            raise StoreError(f"vacuum failed: {exc}") from exc

    def optimize(self) -> None:
        """Periodic housekeeping: refresh query-planner statistics, checkpoint the WAL."""
        if self.is_postgres:
            self._pg_maintenance("ANALYZE")
            return
        try:
            self.db.execute("PRAGMA optimize")
            self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            raise StoreError(f"optimize failed: {exc}") from exc

    def _pg_maintenance(self, statement: str) -> None:
        from monitor.store.pg import Error as PgError
        from monitor.store.pg import describe_error

        try:
            self.db.raw.execute(statement)  # outside a transaction, as VACUUM must be
        except PgError as exc:
            raise StoreError(f"{statement} failed: {describe_error(exc)}") from exc

    def describe(self) -> str:
        """Where the data is, for messages: the file, or the URL without its password."""
        if self.is_postgres:
            return describe_target(self.db.url)
        return str(self.path() or ":memory:")

    def get_meta(self, key: str) -> str | None:
        rows = list(self.db.query("SELECT value FROM meta WHERE key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        # Plain SQL, as the heartbeat writes this every minute: sqlite-utils' upsert lists the
        # tables and their columns, and on a new connection even creates and drops a table to
        # learn whether SQLite supports ON CONFLICT (about 20 statements per call).
        with self.transaction():
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                            [key, value])


def io_error_hint(exc: sqlite3.Error) -> str:
    """SQLite reports a full disk or a file-size limit (EFBIG) as a plain I/O error."""
    text = str(exc).lower()
    if "disk i/o error" in text or "database or disk is full" in text:
        return " (is the disk full, or a file size limit reached?)"
    return ""


def _observation_row(o: Observation, fetched_at: str, fetched_on: date) -> dict[str, Any]:
    return {
        "source": o.source, "series": o.series, "country": o.country,
        "period": o.period.isoformat(), "mineral": o.mineral, "measure": str(o.measure),
        "frequency": str(o.frequency), "value": o.value, "unit": o.unit, "stage": o.stage,
        "qualifier": o.qualifier,
        # A value with no publication date became known when we first fetched it.
        "published_at": (o.published_at or fetched_on).isoformat(),
        "fetched_at": fetched_at,
    }


def _observation_from_row(row: dict[str, Any]) -> Observation:
    return Observation(
        source=row["source"], series=row["series"], mineral=row["mineral"],
        measure=Measure(row["measure"]), period=date.fromisoformat(row["period"]),
        frequency=Frequency(row["frequency"]), value=row["value"], unit=row["unit"] or "",
        country=row["country"] or "", stage=row["stage"] or "", qualifier=row["qualifier"] or "",
        published_at=date.fromisoformat(row["published_at"]) if row["published_at"] else None,
    )
