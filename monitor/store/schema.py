"""The database schema: every migration of every table, in one place.

Three migration sets, applied in this order by :meth:`monitor.store.database.Store.migrate`:
``critmon`` (observations, source state, config versions, WGI, evaluations), ``critmon_news``
(news items and tags) and ``critmon_alerts`` (alert state, history, outbox, delivery log,
silences, acks, digests). A set and a function name identify a migration in the database's
``_sqlite_migrations`` table: never rename or edit one that has shipped; add a new one.

The stages that own the data (``monitor.news.store``, ``monitor.alerting.store``) query it;
the schema lives here so the store never imports a stage above it.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database, Migrations

from monitor.core.errors import StoreError

# --------------------------------------------------------------------------- core

migrations = Migrations("critmon")


@migrations()
def m001_observations(db: Database) -> None:
    db["observations"].create(
        {
            "source": str, "series": str, "country": str, "period": str,
            "mineral": str, "measure": str, "frequency": str, "value": float,
            "unit": str, "stage": str, "qualifier": str,
            "published_at": str, "fetched_at": str,
        },
        pk=("source", "series", "country", "period"),
        not_null={"source", "series", "country", "period", "mineral", "measure"},
    )
    db["observations"].create_index(["mineral", "measure", "period"])


@migrations()
def m002_source_state(db: Database) -> None:
    db["source_state"].create(
        {
            "source": str, "kind": str, "url": str, "status": str,
            "last_attempt_at": str, "last_success_at": str, "last_change_at": str,
            "last_error": str, "last_error_at": str, "consecutive_failures": int,
            "next_poll_at": str, "etag": str, "last_modified": str, "last_http_status": int,
            "last_latency_s": float, "last_rows": int, "polls": int, "failures": int,
        },
        pk="source",
    )


@migrations()
def m003_config_versions(db: Database) -> None:
    db["config_versions"].create(
        {"id": int, "digest": str, "loaded_at": str, "origin": str, "summary": str,
         "files": str},
        pk="id",
    )
    db["config_versions"].create_index(["digest"])


@migrations()
def m004_wgi_and_meta(db: Database) -> None:
    db["wgi"].create(
        {"code": str, "year": int, "indicator": str, "country": str, "estimate": float,
         "published_at": str},
        pk=("code", "year", "indicator"),
    )
    db["meta"].create({"key": str, "value": str}, pk="key")


@migrations()
def m005_views(db: Database) -> None:
    db.execute("""
        CREATE VIEW latest_prices AS
        SELECT o.mineral, o.source, o.series, o.period, o.value, o.unit, o.published_at
        FROM observations o
        JOIN (SELECT source, series, MAX(period) AS period FROM observations
              WHERE measure = 'price' AND value IS NOT NULL GROUP BY source, series) last
          ON o.source = last.source AND o.series = last.series AND o.period = last.period
        WHERE o.measure = 'price'
    """)


@migrations()
def m006_evaluations(db: Database) -> None:
    # Append-only histories: a row is added when a value changes, so the history of a score or
    # an indicator is a query, not a recomputation.
    db["indicator_values"].create(
        {"id": int, "mineral": str, "indicator": str, "evaluated_at": str, "as_of": str,
         "value": float, "unit": str, "period": str, "published_at": str, "source": str,
         "qualifier": str, "reason": str, "detail": str},
        pk="id", not_null={"mineral", "indicator", "evaluated_at"},
    )
    db["indicator_values"].create_index(["mineral", "indicator", "as_of"])
    db["risk_scores"].create(
        {"id": int, "mineral": str, "evaluated_at": str, "as_of": str, "score": float,
         "level": str, "confidence": float, "method": str, "factors": str, "missing": str},
        pk="id", not_null={"mineral", "evaluated_at", "as_of"},
    )
    db["risk_scores"].create_index(["mineral", "as_of"])
    db["signals"].create(
        {"rule": str, "mineral": str, "indicator": str, "evaluated_at": str, "as_of": str,
         "state": str, "firing": int, "level": str, "value": float, "threshold": float,
         "reason": str},
        pk=("rule", "mineral"),
    )


@migrations()
def m007_source_failing_since(db: Database) -> None:
    db["source_state"].add_column("failing_since", str)


@migrations()
def m008_perspectives(db: Database) -> None:
    # Scores, indicator values and signals are per perspective (the economy whose supply
    # security is scored). Rows written before perspectives are the default one, "us".
    for table in ("indicator_values", "risk_scores"):
        db[table].add_column("perspective", str, not_null_default="us")
    db["indicator_values"].create_index(["mineral", "perspective", "indicator", "as_of"])
    db["risk_scores"].create_index(["mineral", "perspective", "as_of"])
    db["signals"].add_column("perspective", str, not_null_default="us")
    db["signals"].transform(pk=("rule", "mineral", "perspective"))


@migrations()
def m009_trade_flows(db: Database) -> None:
    # Monthly customs flows (UN Comtrade, US Census): one row per (period, reporter, partner,
    # flow, HS code); ``published_at`` is kept from the first time the value was seen.
    db["trade_flows"].create(
        {"period": str, "reporter": str, "partner": str, "flow": str, "hs": str,
         "value_usd": float, "net_weight_kg": float, "source": str, "published_at": str,
         "fetched_at": str},
        pk=("period", "reporter", "partner", "flow", "hs"),
        not_null={"period", "reporter", "partner", "flow", "hs"},
    )
    db["trade_flows"].create_index(["hs", "period"])


@migrations()
def m010_config_versions_author(db: Database) -> None:
    # Who applied a config from the web console (NULL for a start or a reload from disk).
    db["config_versions"].add_column("author", str)


# --------------------------------------------------------------------------- news

news_migrations = Migrations("critmon_news")


@news_migrations()
def m001_news_items(db: Database) -> None:
    db["news_items"].create(
        {
            "id": str, "source": str, "url": str, "canonical_url": str, "title": str,
            "summary": str, "published_at": str, "fetched_at": str, "lang": str, "kind": str,
            "is_supply_risk_event": int, "confidence": float, "risk_confidence": float,
            "country": str, "dedup_of": str,
        },
        pk="id",
        not_null={"id", "source", "title", "fetched_at"},
    )
    db["news_items"].create_index(["canonical_url"])
    db["news_items"].create_index(["fetched_at"])
    db["news_items"].create_index(["published_at"])


@news_migrations()
def m002_news_tags(db: Database) -> None:
    db["news_tags"].create(
        {"item_id": str, "mineral": str, "direct": int},
        pk=("item_id", "mineral"),
        foreign_keys=[("item_id", "news_items", "id")],
    )
    db["news_tags"].create_index(["mineral"])


@news_migrations()
def m003_news_pending(db: Database) -> None:
    """Items stored pending classification (``kind`` NULL) are found without a scan."""
    db.execute("CREATE INDEX idx_news_items_pending ON news_items (id) WHERE kind IS NULL")


def apply_news_migrations(db: Database) -> None:
    """Create or upgrade the news tables (called from ``Store.migrate``)."""
    news_migrations.apply(db)


# --------------------------------------------------------------------------- alerting

alert_migrations = Migrations("critmon_alerts")


@alert_migrations()
def m001_alerting(db: Database) -> None:
    for statement in ALERT_SCHEMA:
        db.execute(statement)


#: The alerting tables in SQLite's DDL; :mod:`monitor.store.pg_schema` translates them.
ALERT_SCHEMA = (
    """CREATE TABLE alert_state (
        id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL UNIQUE, alertname TEXT NOT NULL,
        mineral TEXT NOT NULL, indicator TEXT NOT NULL, labels TEXT NOT NULL, state TEXT NOT NULL,
        level TEXT, active_since TEXT, fired_at TEXT, resolved_at TEXT, cleared_since TEXT,
        last_eval_at TEXT, value REAL, previous_value REAL, threshold REAL, as_of TEXT,
        annotations TEXT NOT NULL DEFAULT '{}', data_state TEXT NOT NULL DEFAULT 'ok',
        updated_at TEXT)""",
    "CREATE INDEX alert_state_state ON alert_state (state)",
    """CREATE TABLE alert_events (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, fingerprint TEXT NOT NULL,
        alertname TEXT, mineral TEXT, indicator TEXT, kind TEXT NOT NULL, from_state TEXT,
        to_state TEXT, from_level TEXT, level TEXT, value REAL, previous_value REAL,
        threshold REAL, detail TEXT)""",
    "CREATE INDEX alert_events_at ON alert_events (at)",
    "CREATE INDEX alert_events_fingerprint ON alert_events (fingerprint, at)",
    """CREATE TRIGGER alert_events_no_update BEFORE UPDATE ON alert_events
       BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END""",
    """CREATE TRIGGER alert_events_no_delete BEFORE DELETE ON alert_events
       BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END""",
    """CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, event_id INTEGER, fingerprint TEXT,
        receiver TEXT NOT NULL, route_id TEXT, group_key TEXT NOT NULL, reason TEXT NOT NULL,
        payload TEXT, status TEXT NOT NULL DEFAULT 'pending', done_at TEXT,
        delivery_id INTEGER, note TEXT)""",
    "CREATE INDEX outbox_pending ON outbox (status, receiver)",
    """CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE, receiver TEXT NOT NULL,
        group_key TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,
        status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL,
        updated_at TEXT, next_attempt_at TEXT, lease_until TEXT, sent_at TEXT,
        last_error TEXT, title TEXT, message_ref TEXT, muted_by TEXT, payload TEXT)""",
    "CREATE INDEX deliveries_group ON deliveries (receiver, group_key, status)",
    "CREATE INDEX deliveries_created ON deliveries (created_at)",
    """CREATE TABLE delivery_items (
        delivery_id INTEGER NOT NULL, fingerprint TEXT NOT NULL, alertname TEXT,
        mineral TEXT, level TEXT, status TEXT, reason TEXT, episode TEXT,
        PRIMARY KEY (delivery_id, fingerprint))""",
    "CREATE INDEX delivery_items_fingerprint ON delivery_items (fingerprint)",
    """CREATE TABLE notify_log (
        receiver TEXT NOT NULL, fingerprint TEXT NOT NULL, group_key TEXT, episode TEXT,
        status TEXT, level TEXT, value REAL, sent_at TEXT, reason TEXT, delivery_id INTEGER,
        thread_ref TEXT, PRIMARY KEY (receiver, fingerprint))""",
    """CREATE TABLE silences (
        id INTEGER PRIMARY KEY, matchers TEXT NOT NULL, starts_at TEXT NOT NULL,
        ends_at TEXT NOT NULL, created_by TEXT NOT NULL, comment TEXT NOT NULL,
        created_at TEXT NOT NULL, expired_at TEXT)""",
    """CREATE TABLE acks (
        id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, level TEXT, episode TEXT NOT NULL,
        author TEXT NOT NULL, comment TEXT NOT NULL, created_at TEXT NOT NULL,
        expires_at TEXT)""",
    "CREATE INDEX acks_fingerprint ON acks (fingerprint)",
    """CREATE TABLE digest_state (
        receiver TEXT PRIMARY KEY, last_slot_at TEXT NOT NULL)""",
    """CREATE VIEW firing_alerts AS
        SELECT id, fingerprint, alertname, mineral, indicator, level, value, threshold,
               fired_at, as_of FROM alert_state WHERE state = 'firing'""",
)


@alert_migrations()
def m002_delivery_attempts(db: Database) -> None:
    for statement in DELIVERY_ATTEMPTS_SCHEMA:
        db.execute(statement)


DELIVERY_ATTEMPTS_SCHEMA = (
    """CREATE TABLE delivery_attempts (
        id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL, attempt INTEGER NOT NULL,
        at TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT, next_attempt_at TEXT)""",
    "CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id)",
)


def apply_alert_migrations(db: Database) -> None:
    """Create or upgrade the alerting tables (idempotent; cheap when nothing is pending).

    PostgreSQL's are created by ``Store.migrate`` (:mod:`monitor.store.pg_schema`).
    """
    if getattr(db, "dialect", "sqlite") != "sqlite":
        return
    try:
        if alert_migrations.pending(db):
            alert_migrations.apply(db)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot migrate the alerting tables: {exc}") from exc


def apply_all(db: Database) -> None:
    """Apply every pending migration: the core set, then news and alerts."""
    migrations.apply(db)
    apply_news_migrations(db)
    apply_alert_migrations(db)
