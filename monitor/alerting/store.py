"""Persistence of alerting: state, history, outbox, delivery log, silences, acks, digests.

Wraps a :class:`~monitor.store.database.Store` (``AlertStore(store)``) and uses its connection and
``transaction()``. The tables (their migration set, ``critmon_alerts``, is in
:mod:`monitor.store.schema`; applied by ``Store.migrate`` and on first use)::

    alert_state      one row per alert instance (fingerprint), its current state
    alert_events     append-only history of state changes (UPDATE/DELETE are refused)
    outbox           notification work written in the same transaction as the state change
    deliveries       the delivery log: one row per message (or mute), unique idempotency key
    delivery_attempts  every attempt at a message: when, outcome, error, next retry (kept
                     after the message goes out, so a 429 before the success stays visible)
    delivery_items   the alerts in each delivery, with the reason for each
    notify_log       per receiver and alert: what was last sent (dedup, repeat, threading)
    silences, acks   muting
    digest_state     per receiver: the last digest slot

Timestamps are ISO-8601 UTC text. No secret is ever written here: rows hold receiver *names*.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from monitor.alerting.silences import Ack, Mute, Silence
from monitor.alerting.state import AlertState, State, Transition
from monitor.store.database import Store
from monitor.store.schema import apply_alert_migrations

# --------------------------------------------------------------------------- row types


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    created_at: datetime
    fingerprint: str | None
    receiver: str
    group_key: str
    reason: str
    event_id: int | None = None
    route_id: str | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """What a receiver last heard about one alert."""

    receiver: str
    fingerprint: str
    group_key: str
    episode: str
    status: str
    level: str | None
    value: float | None
    sent_at: datetime
    reason: str
    delivery_id: int | None = None
    thread_ref: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    key: str
    receiver: str
    group_key: str
    kind: str
    reason: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class DeliveryItem:
    fingerprint: str
    alertname: str
    mineral: str
    level: str | None
    status: str
    reason: str | None
    episode: str


# --------------------------------------------------------------------------- conversions


def iso(at: datetime | date | None) -> str | None:
    return at.isoformat() if at is not None else None


def parse_dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _state_row(alert: AlertState, now: datetime) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint, "alertname": alert.alertname,
        "mineral": alert.mineral, "indicator": alert.indicator,
        "labels": json.dumps(dict(alert.labels), ensure_ascii=False, sort_keys=True),
        "state": str(alert.state), "level": alert.level,
        "active_since": iso(alert.active_since), "fired_at": iso(alert.fired_at),
        "resolved_at": iso(alert.resolved_at), "cleared_since": iso(alert.cleared_since),
        "last_eval_at": iso(alert.last_eval_at), "value": alert.value,
        "previous_value": alert.previous_value, "threshold": alert.threshold,
        "as_of": iso(alert.as_of),
        "annotations": json.dumps(dict(alert.annotations), ensure_ascii=False, sort_keys=True),
        "data_state": alert.data_state, "updated_at": iso(now),
    }


def _state_from_row(row: dict[str, Any]) -> AlertState:
    return AlertState(
        id=row["id"], fingerprint=row["fingerprint"], alertname=row["alertname"],
        mineral=row["mineral"], indicator=row["indicator"],
        labels=tuple(sorted(json.loads(row["labels"]).items())), state=State(row["state"]),
        level=row["level"], active_since=parse_dt(row["active_since"]),
        fired_at=parse_dt(row["fired_at"]), resolved_at=parse_dt(row["resolved_at"]),
        cleared_since=parse_dt(row["cleared_since"]), last_eval_at=parse_dt(row["last_eval_at"]),
        value=row["value"], previous_value=row["previous_value"], threshold=row["threshold"],
        as_of=date.fromisoformat(row["as_of"]) if row["as_of"] else None,
        annotations=tuple(sorted(json.loads(row["annotations"] or "{}").items())),
        data_state=row["data_state"] or "ok",
    )


def _delivery_from_row(row: dict[str, Any]) -> DeliveryRow:
    return DeliveryRow(
        id=row["id"], key=row["idempotency_key"], receiver=row["receiver"],
        group_key=row["group_key"], kind=row["kind"], reason=row["reason"],
        status=row["status"], attempts=row["attempts"],
        created_at=datetime.fromisoformat(row["created_at"]),
        next_attempt_at=parse_dt(row["next_attempt_at"]),
        lease_until=parse_dt(row["lease_until"]), sent_at=parse_dt(row["sent_at"]),
        last_error=row["last_error"],
        payload=json.loads(row["payload"]) if row["payload"] else None,
    )


# --------------------------------------------------------------------------- the store


class AlertStore:
    """Alerting reads and writes on one :class:`Store` connection (same thread)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        apply_alert_migrations(self.db)

    def transaction(self) -> Any:
        return self.store.transaction()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: writes that all happen or, on an exception, none do, while
        the enclosing transaction (the other messages' records) goes on."""
        with self.db.atomic():
            yield

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        columns = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        cursor = self.db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                                 list(row.values()))
        return int(cursor.lastrowid or 0)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, list(params)))

    # ------------------------------------------------------------------ alert state

    def load_states(self) -> dict[str, AlertState]:
        return {a.fingerprint: a for a in map(_state_from_row, self._rows(
            "SELECT * FROM alert_state"))}

    def states(self, states: Iterable[str] | None = None) -> list[AlertState]:
        """Alerts in the given states (all when None), most severe and newest first."""
        sql, params = "SELECT * FROM alert_state", []
        wanted = list(states or [])
        if wanted:
            sql += f" WHERE state IN ({', '.join('?' for _ in wanted)})"
            params = wanted
        rows = self._rows(sql + " ORDER BY COALESCE(fired_at, active_since) DESC, id", params)
        return [_state_from_row(r) for r in rows]

    def state(self, fingerprint: str) -> AlertState | None:
        rows = self._rows("SELECT * FROM alert_state WHERE fingerprint = ?", [fingerprint])
        return _state_from_row(rows[0]) if rows else None

    def find_alert(self, ref: str) -> AlertState:
        """An alert by numeric id or (a unique prefix of) its fingerprint; ValueError if not."""
        ref = ref.strip()
        if ref.isdigit():
            rows = self._rows("SELECT * FROM alert_state WHERE id = ?", [int(ref)])
            if rows:
                return _state_from_row(rows[0])
        rows = self._rows("SELECT * FROM alert_state WHERE fingerprint LIKE ? ESCAPE '\\' "
                          "LIMIT 3", [like_prefix(ref.lower())]) if ref else []
        if len(rows) > 1:
            raise ValueError(f"{ref!r} matches more than one alert; give more characters")
        if not rows:
            raise ValueError(f"no alert with id or fingerprint {ref!r}")
        return _state_from_row(rows[0])

    def save_state(self, alert: AlertState, now: datetime) -> AlertState:
        row = _state_row(alert, now)
        if alert.id is None:
            existing = self._rows("SELECT id FROM alert_state WHERE fingerprint = ?",
                                  [alert.fingerprint])
            if not existing:
                new_id = self._insert("alert_state", row)
                return _with_id(alert, new_id)
            alert = _with_id(alert, existing[0]["id"])
        assignments = ", ".join(f"{k} = ?" for k in row)
        self.db.execute(f"UPDATE alert_state SET {assignments} WHERE id = ?",
                        [*row.values(), alert.id])
        return alert

    # ------------------------------------------------------------------ history

    def append_event(self, transition: Transition, detail: str = "") -> int:
        alert = transition.alert
        return self._insert("alert_events", {
            "at": iso(transition.at), "fingerprint": alert.fingerprint,
            "alertname": alert.alertname, "mineral": alert.mineral,
            "indicator": alert.indicator, "kind": str(transition.kind),
            "from_state": str(transition.from_state), "to_state": str(alert.state),
            "from_level": transition.from_level, "level": alert.level, "value": alert.value,
            "previous_value": alert.previous_value, "threshold": alert.threshold,
            "detail": detail or dict(alert.annotations).get("reason", ""),
        })

    def append_note(self, alert: AlertState, kind: str, at: datetime, detail: str) -> int:
        """A user action on an alert (e.g. ``acked``) in the same history."""
        return self._insert("alert_events", {
            "at": iso(at), "fingerprint": alert.fingerprint, "alertname": alert.alertname,
            "mineral": alert.mineral, "indicator": alert.indicator, "kind": kind,
            "from_state": str(alert.state), "to_state": str(alert.state),
            "from_level": alert.level, "level": alert.level, "value": alert.value,
            "previous_value": alert.previous_value, "threshold": alert.threshold,
            "detail": detail,
        })

    def events_since(self, since: datetime | None, until: datetime) -> list[dict[str, Any]]:
        sql = "SELECT * FROM alert_events WHERE at <= ?"
        params: list[Any] = [iso(until)]
        if since is not None:
            sql += " AND at > ?"
            params.append(iso(since))
        return self._rows(sql + " ORDER BY at, id", params)

    # ------------------------------------------------------------------ outbox

    def add_outbox(self, *, created_at: datetime, receiver: str, group_key: str, reason: str,
                   fingerprint: str | None = None, event_id: int | None = None,
                   route_id: str | None = None, payload: dict[str, Any] | None = None) -> int:
        return self._insert("outbox", {
            "created_at": iso(created_at), "event_id": event_id, "fingerprint": fingerprint,
            "receiver": receiver, "route_id": route_id, "group_key": group_key,
            "reason": reason, "payload": json.dumps(payload) if payload else None,
        })

    def pending_outbox(self) -> list[OutboxRow]:
        return [OutboxRow(id=r["id"], created_at=datetime.fromisoformat(r["created_at"]),
                          fingerprint=r["fingerprint"], receiver=r["receiver"],
                          group_key=r["group_key"], reason=r["reason"], event_id=r["event_id"],
                          route_id=r["route_id"],
                          payload=json.loads(r["payload"]) if r["payload"] else None)
                for r in self._rows("SELECT * FROM outbox WHERE status = 'pending' ORDER BY id")]

    def close_outbox(self, ids: Iterable[int], now: datetime, *, note: str = "",
                     delivery_id: int | None = None) -> None:
        ids = list(ids)
        if not ids:
            return
        self.db.execute(
            f"UPDATE outbox SET status = 'done', done_at = ?, note = ?, delivery_id = ? "
            f"WHERE status = 'pending' AND id IN ({', '.join('?' for _ in ids)})",
            [iso(now), note, delivery_id, *ids])

    # ------------------------------------------------------------------ notify log

    def notify_log(self) -> dict[tuple[str, str], LogEntry]:
        return {(r["receiver"], r["fingerprint"]): LogEntry(
            receiver=r["receiver"], fingerprint=r["fingerprint"], group_key=r["group_key"],
            episode=r["episode"] or "", status=r["status"], level=r["level"], value=r["value"],
            sent_at=datetime.fromisoformat(r["sent_at"]), reason=r["reason"],
            delivery_id=r["delivery_id"], thread_ref=r["thread_ref"])
            for r in self._rows("SELECT * FROM notify_log")}

    def save_log_entry(self, entry: LogEntry) -> None:
        self.db.execute(
            """INSERT INTO notify_log (receiver, fingerprint, group_key, episode, status, level,
                   value, sent_at, reason, delivery_id, thread_ref)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (receiver, fingerprint) DO UPDATE SET group_key = excluded.group_key,
                   episode = excluded.episode, status = excluded.status, level = excluded.level,
                   value = excluded.value, sent_at = excluded.sent_at, reason = excluded.reason,
                   delivery_id = excluded.delivery_id, thread_ref = excluded.thread_ref""",
            [entry.receiver, entry.fingerprint, entry.group_key, entry.episode, entry.status,
             entry.level, entry.value, iso(entry.sent_at), entry.reason, entry.delivery_id,
             entry.thread_ref])

    # ------------------------------------------------------------------ deliveries

    def in_flight(self) -> dict[tuple[str, str], DeliveryRow]:
        """Deliveries being sent or waiting for a retry, by (receiver, group key)."""
        return {(d.receiver, d.group_key): d for d in map(_delivery_from_row, self._rows(
            "SELECT * FROM deliveries WHERE status IN ('sending', 'retry') ORDER BY id"))}

    def delivery_by_key(self, key: str) -> DeliveryRow | None:
        rows = self._rows("SELECT * FROM deliveries WHERE idempotency_key = ?", [key])
        return _delivery_from_row(rows[0]) if rows else None

    def delivery(self, delivery_id: int) -> DeliveryRow:
        return _delivery_from_row(self._rows("SELECT * FROM deliveries WHERE id = ?",
                                             [delivery_id])[0])

    def claim(self, *, key: str, receiver: str, group_key: str, kind: str, reason: str,
              now: datetime, lease_until: datetime, title: str,
              items: Sequence[DeliveryItem], existing: DeliveryRow | None = None,
              payload: dict[str, Any] | None = None) -> int:
        """Mark a delivery as being sent (before the send, so a crash leaves a trace)."""
        fields = {"idempotency_key": key, "receiver": receiver, "group_key": group_key,
                  "kind": kind, "reason": reason, "status": "sending", "updated_at": iso(now),
                  "lease_until": iso(lease_until), "title": title,
                  "payload": json.dumps(payload) if payload else None}
        if existing is None:
            delivery_id = self._insert("deliveries", {**fields, "attempts": 1,
                                                      "created_at": iso(now)})
        else:
            delivery_id = existing.id
            if existing.status == "sending":  # its lease ended: the process stopped mid-send
                self.record_attempt(delivery_id, attempt=existing.attempts, at=now,
                                    outcome="interrupted", error="no outcome recorded (the "
                                    "process stopped during the send); sending again")
            assignments = ", ".join(f"{k} = ?" for k in fields)
            self.db.execute(f"UPDATE deliveries SET {assignments}, attempts = attempts + 1 "
                            "WHERE id = ?", [*fields.values(), delivery_id])
            self.db.execute("DELETE FROM delivery_items WHERE delivery_id = ?", [delivery_id])
        self._insert_items(delivery_id, items)
        return delivery_id

    def _insert_items(self, delivery_id: int, items: Sequence[DeliveryItem]) -> None:
        self.db.conn.executemany(
            "INSERT INTO delivery_items (delivery_id, fingerprint, alertname, mineral, level, "
            "status, reason, episode) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (delivery_id, fingerprint) DO UPDATE SET alertname = excluded.alertname,"
            " mineral = excluded.mineral, level = excluded.level, status = excluded.status, "
            "reason = excluded.reason, episode = excluded.episode",
            [(delivery_id, i.fingerprint, i.alertname, i.mineral, i.level, i.status, i.reason,
              i.episode) for i in items])

    def finish(self, delivery_id: int, status: str, now: datetime, *,
               error: str | None = None, next_attempt_at: datetime | None = None,
               message_ref: str | None = None) -> None:
        """Record the outcome: ``sent``, ``retry`` (at ``next_attempt_at``), ``failed`` or
        ``superseded``."""
        self.db.execute(
            "UPDATE deliveries SET status = ?, updated_at = ?, last_error = ?, "
            "next_attempt_at = ?, lease_until = NULL, message_ref = COALESCE(?, message_ref), "
            "sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END WHERE id = ?",
            [status, iso(now), error, iso(next_attempt_at), message_ref, status, iso(now),
             delivery_id])

    def record_attempt(self, delivery_id: int, *, attempt: int, at: datetime, outcome: str,
                       error: str | None = None, next_attempt_at: datetime | None = None
                       ) -> int:
        """Keep one attempt's outcome (``sent``, ``retry``, ``failed``, ``interrupted``)."""
        return self._insert("delivery_attempts", {
            "delivery_id": delivery_id, "attempt": attempt, "at": iso(at), "outcome": outcome,
            "error": error, "next_attempt_at": iso(next_attempt_at)})

    def attempts(self, delivery_id: int) -> list[dict[str, Any]]:
        """Every recorded attempt at one delivery, oldest first."""
        return self._rows("SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY id",
                          [delivery_id])

    def record_mute(self, *, key: str, receiver: str, group_key: str, reason: str, mute: Mute,
                    item: DeliveryItem, now: datetime) -> bool:
        """Record once that a notification was muted; False if already recorded."""
        if self.delivery_by_key(key) is not None:
            return False
        delivery_id = self._insert("deliveries", {
            "idempotency_key": key, "receiver": receiver, "group_key": group_key,
            "kind": "mute", "reason": reason, "status": "muted", "attempts": 0,
            "created_at": iso(now), "updated_at": iso(now), "muted_by": str(mute),
            "title": f"{item.mineral} {item.alertname}"})
        self._insert_items(delivery_id, [item])
        return True

    def record_test(self, *, key: str, receiver: str, now: datetime, status: str,
                    error: str | None, message_ref: str | None) -> int:
        return self._insert("deliveries", {
            "idempotency_key": key, "receiver": receiver, "group_key": "test", "kind": "test",
            "reason": "test", "status": status, "attempts": 1, "created_at": iso(now),
            "updated_at": iso(now), "sent_at": iso(now) if status == "sent" else None,
            "last_error": error, "message_ref": message_ref,
            "title": f"test message to {receiver}"})

    def failed_deliveries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Deliveries that failed for good (permanent error or gave up), newest first."""
        sql = "SELECT * FROM deliveries WHERE status = 'failed'"
        params: list[Any] = []
        if since is not None:
            sql += " AND updated_at >= ?"
            params.append(iso(since))
        return self._rows(sql + " ORDER BY id DESC", params)

    def has_delivery_work(self) -> bool:
        """Anything a deliver pass could act on (read-only: lets an idle pass skip the lock)."""
        rows = self._rows("""
            SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'pending')
                OR EXISTS (SELECT 1 FROM alert_state WHERE state = 'firing')
                OR EXISTS (SELECT 1 FROM deliveries WHERE status IN ('sending', 'retry'))
              AS busy""")
        return bool(rows[0]["busy"])

    def stuck_deliveries(self, now: datetime, grace: timedelta = timedelta(minutes=5)) -> int:
        """Deliveries whose retry or lease ended more than ``grace`` ago without a new attempt
        (the deliver job is not running), for ``critmon health``."""
        limit = iso(now - grace)
        rows = self._rows(
            "SELECT COUNT(*) AS n FROM deliveries WHERE "
            "(status = 'retry' AND next_attempt_at < ?) OR (status = 'sending' AND lease_until < ?)",
            [limit, limit])
        return int(rows[0]["n"])

    def receiver_health(self) -> list[dict[str, Any]]:
        """Per receiver: last sent, last failure, messages waiting for a retry."""
        return self._rows("""
            SELECT receiver,
                   MAX(CASE WHEN status = 'sent' THEN sent_at END) AS last_sent_at,
                   MAX(CASE WHEN status = 'failed' THEN updated_at END) AS last_failed_at,
                   SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed,
                   SUM(CASE WHEN status IN ('retry', 'sending') THEN 1 ELSE 0 END) AS waiting,
                   (SELECT last_error FROM deliveries d2 WHERE d2.receiver = d.receiver
                      AND d2.status IN ('failed', 'retry') ORDER BY d2.id DESC LIMIT 1)
                     AS last_error
            FROM deliveries d WHERE kind != 'mute' GROUP BY receiver ORDER BY receiver""")

    # ------------------------------------------------------------------ silences, acks

    def add_silence(self, *, matchers: Sequence[str], starts_at: datetime, ends_at: datetime,
                    created_by: str, comment: str, now: datetime) -> Silence:
        silence_id = self._insert("silences", {
            "matchers": json.dumps(list(matchers)), "starts_at": iso(starts_at),
            "ends_at": iso(ends_at), "created_by": created_by, "comment": comment,
            "created_at": iso(now)})
        return Silence(silence_id, tuple(matchers), starts_at, ends_at, created_by, comment, now)

    def silences(self, *, include_expired: bool = True, now: datetime | None = None
                 ) -> list[Silence]:
        sql, params = "SELECT * FROM silences", []
        if not include_expired and now is not None:
            sql += " WHERE ends_at > ?"
            params = [iso(now)]
        return [Silence(r["id"], tuple(json.loads(r["matchers"])),
                        datetime.fromisoformat(r["starts_at"]),
                        datetime.fromisoformat(r["ends_at"]), r["created_by"], r["comment"],
                        parse_dt(r["created_at"]))
                for r in self._rows(sql + " ORDER BY id", params)]

    def expire_silence(self, silence_id: int, now: datetime) -> bool:
        """End a silence now; False when it does not exist or has already ended."""
        cursor = self.db.execute(
            "UPDATE silences SET ends_at = ?, expired_at = ? WHERE id = ? AND ends_at > ?",
            [iso(now), iso(now), silence_id, iso(now)])
        return cursor.rowcount > 0

    def add_ack(self, *, alert: AlertState, author: str, comment: str, now: datetime,
                expires_at: datetime | None = None) -> Ack:
        episode = alert.episode or iso(alert.active_since) or ""
        ack_id = self._insert("acks", {
            "fingerprint": alert.fingerprint, "level": alert.level, "episode": episode,
            "author": author, "comment": comment, "created_at": iso(now),
            "expires_at": iso(expires_at)})
        return Ack(ack_id, alert.fingerprint, alert.level, episode, author, comment, now,
                   expires_at)

    def acks(self) -> list[Ack]:
        return [Ack(r["id"], r["fingerprint"], r["level"], r["episode"], r["author"],
                    r["comment"], datetime.fromisoformat(r["created_at"]),
                    parse_dt(r["expires_at"]))
                for r in self._rows("SELECT * FROM acks ORDER BY id")]

    # ------------------------------------------------------------------ digests

    def digest_slot(self, receiver: str) -> datetime | None:
        rows = self._rows("SELECT last_slot_at FROM digest_state WHERE receiver = ?",
                          [receiver])
        return datetime.fromisoformat(rows[0]["last_slot_at"]) if rows else None

    def set_digest_slot(self, receiver: str, slot: datetime) -> None:
        self.db.execute(
            "INSERT INTO digest_state (receiver, last_slot_at) VALUES (?, ?) "
            "ON CONFLICT (receiver) DO UPDATE SET last_slot_at = excluded.last_slot_at",
            [receiver, iso(slot)])

    # ------------------------------------------------------------------ review

    def history(self, *, since: datetime | None = None, mineral: str | None = None,
                level: str | None = None, alertname: str | None = None,
                fingerprint: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """State changes and deliveries (sent, retried, failed, muted), oldest first."""
        filters, params = [], []
        for column, value in (("mineral", mineral), ("level", level),
                              ("alertname", alertname)):
            if value:
                filters.append(f"{column} = ?")
                params.append(value)
        if fingerprint:
            filters.append("fingerprint LIKE ? ESCAPE '\\'")
            params.append(like_prefix(fingerprint))
        if since is not None:
            filters.append("at >= ?")
            params.append(iso(since))
        where = (" WHERE " + " AND ".join(filters)) if filters else ""
        sql = f"""
            SELECT * FROM (
              SELECT at, 'state' AS type, kind AS event, fingerprint, alertname, mineral,
                     level, from_level, value, NULL AS receiver,
                     from_state || '->' || to_state AS reason, detail
              FROM alert_events
              UNION ALL
              SELECT a.at, 'delivery', a.outcome, i.fingerprint, i.alertname, i.mineral,
                     i.level, NULL, NULL, d.receiver, COALESCE(i.reason, d.reason),
                     {_ATTEMPT_DETAIL}
              FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
                   JOIN delivery_items i ON i.delivery_id = d.id
              UNION ALL
              SELECT COALESCE(d.sent_at, d.updated_at, d.created_at), 'delivery', d.status,
                     i.fingerprint, i.alertname, i.mineral, i.level, NULL, NULL, d.receiver,
                     COALESCE(i.reason, d.reason),
                     TRIM(COALESCE('muted by ' || d.muted_by, '') || ' ' ||
                          COALESCE(d.last_error, '') || ' ' ||
                          CASE WHEN d.attempts > 1 THEN 'attempts=' || d.attempts ELSE '' END)
              FROM deliveries d JOIN delivery_items i ON i.delivery_id = d.id
              WHERE {_UNTOLD}
              UNION ALL
              SELECT a.at, 'delivery', a.outcome, NULL, NULL, NULL, NULL, NULL, NULL,
                     d.receiver, d.reason, COALESCE(d.title || ': ', '') || {_ATTEMPT_DETAIL}
              FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
              WHERE d.kind IN ('digest', 'test')
              UNION ALL
              SELECT COALESCE(d.sent_at, d.updated_at, d.created_at), 'delivery', d.status,
                     NULL, NULL, NULL, NULL, NULL, NULL, d.receiver, d.reason,
                     COALESCE(d.last_error, d.title)
              FROM deliveries d WHERE d.kind IN ('digest', 'test') AND {_UNTOLD}
            ) AS history{where} ORDER BY at, type DESC LIMIT ?"""
        return self._rows(sql, [*params, limit])


def like_prefix(text: str) -> str:
    """A ``LIKE ? ESCAPE '\\'`` pattern matching values that start with ``text``, literally.

    ``%`` and ``_`` typed by a user are characters, not wildcards: ``critmon ack %`` must not
    acknowledge whatever alert happens to come first.
    """
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


#: History text of one attempt: "attempt 2: <error>; next attempt at <UTC time>".
_ATTEMPT_DETAIL = ("'attempt ' || a.attempt || COALESCE(': ' || a.error, '') || "
                   "COALESCE('; next attempt at ' || substr(a.next_attempt_at, 1, 19) || 'Z', '')")
#: A delivery whose current state no attempt row tells: muted, being sent now, superseded,
#: or written before attempts were kept.
_UNTOLD = ("(d.status IN ('sending', 'superseded') OR NOT EXISTS "
           "(SELECT 1 FROM delivery_attempts x WHERE x.delivery_id = d.id))")


def _with_id(alert: AlertState, alert_id: int) -> AlertState:
    return replace(alert, id=alert_id)
