"""PostgreSQL behind the small part of sqlite-utils' ``Database`` API that critmon uses.

The store and the stages above it write their SQL once, in SQLite's dialect with ``?``
placeholders; :func:`to_pg` rewrites the few constructs PostgreSQL spells differently
(placeholders, ``INSERT OR IGNORE``, ``IS NOT`` between values, ``group_concat``), and
:class:`PgDatabase` offers ``query``, ``execute``, ``conn.executemany``, ``conn.total_changes``,
``table.insert/upsert`` and ``atomic`` on a psycopg 3 connection. So one code path serves both
databases; only the DDL (:mod:`monitor.store.pg_schema`) is written twice.

Why psycopg 3 and no ORM: the queries already exist as SQL, the store is the only layer that
talks to the database, and psycopg is the maintained PostgreSQL driver (libpq: it reads
``PGPASSWORD`` and the password file ``PGPASSFILE``/``~/.pgpass`` itself, so no secret ever has
to be in the URL or the config). SQLAlchemy Core would add a second query language and
Alembic a second migration system beside sqlite-utils' for no query critmon needs.

The connection runs in autocommit mode: a read never leaves a transaction open. Writes happen
inside :meth:`PgDatabase.transaction` (``Store.transaction``); a write statement issued outside
one gets its own, so the fencing check (:attr:`PgDatabase.fence`) runs before every write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.numeric import IntDumper

from monitor.core.errors import StoreError
from monitor.store.urls import redact_url

#: How long a statement may wait for a row lock before it fails (it is retried by its job).
LOCK_TIMEOUT_MS = 10_000

#: A session idle inside a transaction this long is ended by the server: a leader stopped
#: (SIGSTOP, a VM pause) in mid-transaction must not hold the lease row's lock for ever.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 5_000


def describe_error(exc: BaseException, url: str | None = None) -> str:
    """A one-line, secret-free description of a psycopg error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if url:
        parts = urlsplit(url)
        if parts.password:
            text = text.replace(parts.password, "***")
    return text


# --------------------------------------------------------------------------- SQL dialect


_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"])*\"|\?|%")
_IS_NOT_VALUE = re.compile(r"\bIS NOT (?=excluded\.)", re.IGNORECASE)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO\b", re.IGNORECASE)
_GROUP_CONCAT = re.compile(r"\bgroup_concat\(", re.IGNORECASE)
#: SQLite's two-argument MIN is a scalar (PostgreSQL's LEAST); critmon writes it only as
#: ``MIN(COALESCE(...), ...)``, never an aggregate over COALESCE.
_SCALAR_MIN = re.compile(r"\bMIN\((?=COALESCE\()", re.IGNORECASE)


def to_pg(sql: str) -> str:
    """Rewrite SQLite-dialect SQL (``?`` placeholders) for psycopg and PostgreSQL."""
    def mark(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%")

    text = _QUOTED_OR_MARK.sub(mark, sql)
    text = _IS_NOT_VALUE.sub("IS DISTINCT FROM ", text)
    text = _GROUP_CONCAT.sub("string_agg(", text)
    text = _SCALAR_MIN.sub("LEAST(", text)
    if _INSERT_OR_IGNORE.match(text):
        text = _INSERT_OR_IGNORE.sub("INSERT INTO", text, count=1) + " ON CONFLICT DO NOTHING"
    return text


def _is_write(sql: str) -> bool:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    return head in {"INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "TRUNCATE"}


class _BoolAsInt(IntDumper):
    """Python booleans go to INTEGER columns as 0/1, as SQLite stores them."""

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


# --------------------------------------------------------------------------- the adapter


class PgCursor:
    """What ``execute`` returns: rows as tuples, ``rowcount`` and ``lastrowid``."""

    def __init__(self, db: PgDatabase, cursor: psycopg.Cursor[Any]) -> None:
        self._db = db
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.fetchall())

    @property
    def lastrowid(self) -> int | None:
        """The id the last INSERT drew from an identity column (``lastval()``)."""
        return self._db.lastval()


class PgConnection:
    """The ``db.conn`` face: ``execute``, ``executemany``, ``total_changes``,
    ``in_transaction``."""

    def __init__(self, db: PgDatabase) -> None:
        self._db = db

    @property
    def total_changes(self) -> int:
        return self._db.total_changes

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def close(self) -> None:
        self._db.close()


class PgTable:
    """``db[table]``: the writes sqlite-utils' Table offers that the store uses."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db = db
        self.name = name

    def insert(self, row: dict[str, Any]) -> None:
        columns = list(row)
        self.db.execute(f"INSERT INTO {self.name} ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' for _ in columns)})", list(row.values()))

    def upsert(self, row: dict[str, Any], pk: str | Sequence[str]) -> None:
        self.upsert_all([row], pk=pk)

    def upsert_all(self, rows: Iterable[dict[str, Any]], pk: str | Sequence[str],
                   batch_size: int = 100) -> None:
        """Insert, or update the given columns of the row with the same primary key."""
        keys = [pk] if isinstance(pk, str) else list(pk)
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            by_columns.setdefault(tuple(row), []).append(tuple(row.values()))
        for columns, values in by_columns.items():
            others = [c for c in columns if c not in keys]
            action = ("DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)
                      if others else "DO NOTHING")
            self.db.executemany(
                f"INSERT INTO {self.name} ({', '.join(columns)}) VALUES "
                f"({', '.join('?' for _ in columns)}) ON CONFLICT ({', '.join(keys)}) {action}",
                values)


class PgDatabase:
    """One psycopg connection, used from the thread that opened it (like the SQLite store)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: int = 10) -> None:
        self.url = url
        try:
            self._conn = psycopg.connect(
                url, autocommit=True, connect_timeout=connect_timeout_s,
                application_name="critmon",
                # A network cut must fail a query in seconds, not hang it for the kernel's
                # two hours: keepalives, and a limit on unacknowledged data.
                keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=2,
                tcp_user_timeout=9000,
                options=f"-c lock_timeout={LOCK_TIMEOUT_MS} "
                        f"-c idle_in_transaction_session_timeout="
                        f"{IDLE_IN_TRANSACTION_TIMEOUT_MS} -c TimeZone=UTC")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {redact_url(url)}: "
                             f"{describe_error(exc, url)}") from exc
        self._conn.adapters.register_dumper(bool, _BoolAsInt)
        self.conn = PgConnection(self)
        self.total_changes = 0
        #: Called at the start of every outermost write transaction; raises to refuse it
        #: (the leader lease's fencing check, :mod:`monitor.store.lease`).
        self.fence: Callable[[PgDatabase], None] | None = None
        self._depth = 0

    # -- statements

    def execute(self, sql: str, params: Sequence[Any] = ()) -> PgCursor:
        if _is_write(sql) and not self.in_transaction:
            with self.transaction():
                return self._execute(sql, params)
        return self._execute(sql, params)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """psycopg's errors as StoreError (the callers above the store know only that)."""
        try:
            yield
        except psycopg.Error as exc:
            raise StoreError(f"database error: {describe_error(exc, self.url)}") from exc

    def _execute(self, sql: str, params: Sequence[Any]) -> PgCursor:
        cursor = self._conn.cursor()
        with self._errors():
            cursor.execute(to_pg(sql), list(params))  # always a list: "%%" is then "%"
        if cursor.rowcount > 0 and _is_write(sql):
            self.total_changes += cursor.rowcount
        return PgCursor(self, cursor)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = [list(r) for r in rows]
        if not rows:
            return
        if not self.in_transaction:
            with self.transaction():
                self._executemany(sql, rows)
            return
        self._executemany(sql, rows)

    def _executemany(self, sql: str, rows: list[list[Any]]) -> None:
        with self._conn.cursor() as cursor, self._errors():
            cursor.executemany(to_pg(sql), rows)
            if cursor.rowcount > 0:
                self.total_changes += cursor.rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        with self._conn.cursor(row_factory=dict_row) as cursor, self._errors():
            cursor.execute(to_pg(sql), list(params))  # always a list: "%%" is then "%"
            rows = cursor.fetchall() if cursor.description else []
        yield from rows

    def lastval(self) -> int | None:
        """The value the session's last INSERT drew from an identity column.

        Read only after an INSERT into a table with an ``id`` (as ``lastrowid`` is), so the
        session has used a sequence and ``lastval()`` cannot fail: no savepoint is needed
        around it (a savepoint would cost two more round trips per insert).
        """
        with self._conn.cursor() as cursor, self._errors():
            cursor.execute("SELECT lastval()")
            row = cursor.fetchone()
        return int(row[0]) if row else None

    def __getitem__(self, table: str) -> PgTable:
        return PgTable(self, table)

    # -- transactions

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction (a savepoint when nested); the fence runs first in the outermost."""
        with self._conn.transaction():
            self._depth += 1
            try:
                if self._depth == 1 and self.fence is not None:
                    self.fence(self)
                yield
            finally:
                self._depth -= 1

    atomic = transaction

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection (for the lease, which runs outside the fence)."""
        return self._conn

    def close(self) -> None:
        self._conn.close()


#: What the store catches around PostgreSQL work (every psycopg error derives from it).
Error = psycopg.Error
