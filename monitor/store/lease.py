"""The leader lease: several critmon instances share one PostgreSQL database, one works.

One row of ``leader_lease`` names the holder, a fencing token and when the lease expires. The
times are the database server's (``clock_timestamp()``), so the hosts' clocks never matter.

- A follower takes the lease only once it has expired (:func:`acquire`); taking it adds one to
  the token. The leader renews it every few seconds (:func:`renew`); a clean stop releases it.
- Every write transaction of the leader starts with :func:`check_fence`: the row must still
  carry its holder and token and be unexpired. The check reads the row ``FOR KEY SHARE``; a
  takeover first locks the row ``FOR UPDATE``, which waits until every such transaction has
  ended, so no transaction of the old leader commits after the takeover: a stale leader that
  wakes up cannot write. The renewal is a plain UPDATE (no key changes), which ``FOR KEY
  SHARE`` does not block: a long evaluation does not hold up the lease it runs under.
- A leader stopped in mid-transaction (SIGSTOP, a VM pause) would hold that row lock for
  ever; the server ends its session after ``idle_in_transaction_session_timeout``
  (:mod:`monitor.store.pg`), which is shorter than the lease.

A follower's stores carry token 0, which no lease ever has: every write they try is refused.
SQLite has no lease: one instance owns the file and is always the leader.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.core.errors import StoreError

if TYPE_CHECKING:
    from monitor.store.pg import PgDatabase

LEASE_NAME = "leader"

#: How long a lease lasts without renewal. A follower takes over at most this long (plus one
#: follower poll) after the leader stopped renewing: 10 s + 2 s, well within 30 s.
LEASE_TTL_S = 10.0

#: The leader renews (and a follower looks) this often.
LEASE_POLL_S = 2.0


class FencedError(StoreError):
    """A write refused because this instance does not hold the leader lease (any more)."""


@dataclass(frozen=True, slots=True)
class LeaseToken:
    """Who writes: the holder's name and the fencing token it was given (0: a follower)."""

    holder: str
    token: int = 0

    @property
    def is_leader(self) -> bool:
        return self.token > 0


def new_holder_name() -> str:
    """This process's name in the lease: host, pid and a random part (a restart is new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def check_fence(db: PgDatabase, lease: LeaseToken) -> None:
    """Inside a transaction: FencedError unless ``lease`` is the current, unexpired lease."""
    if not lease.is_leader:
        raise FencedError(f"this instance ({lease.holder}) is a follower: it does not hold "
                          "the leader lease, so it does not write")
    with db.raw.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM leader_lease WHERE name = %s AND holder = %s AND token = %s "
            "AND expires_at > clock_timestamp() FOR KEY SHARE",
            [LEASE_NAME, lease.holder, lease.token])
        held = cursor.fetchone() is not None
    if not held:
        raise FencedError(f"the leader lease (token {lease.token}) of {lease.holder} has "
                          "expired or was taken over: write refused")


def acquire(db: PgDatabase, holder: str, ttl_s: float = LEASE_TTL_S) -> int | None:
    """Take the lease if it is free or expired; the new fencing token, or None.

    An unexpired lease is left alone without taking any lock. An expired one is locked
    ``FOR UPDATE`` (waiting for the old leader's write transactions still running), checked
    again (it may have been renewed meanwhile) and taken with the next token.
    """
    params = {"name": LEASE_NAME, "holder": holder, "ttl": ttl_s}
    with db.raw.transaction(), db.raw.cursor() as cursor:
        cursor.execute("SELECT expires_at <= clock_timestamp() FROM leader_lease "
                       "WHERE name = %(name)s", params)
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                """INSERT INTO leader_lease (name, holder, token, acquired_at, renewed_at,
                                             expires_at)
                   VALUES (%(name)s, %(holder)s, 1, clock_timestamp(), clock_timestamp(),
                           clock_timestamp() + make_interval(secs => %(ttl)s))
                   ON CONFLICT (name) DO NOTHING RETURNING token""", params)
            created = cursor.fetchone()
            return int(created[0]) if created else None
        if not row[0]:
            return None  # held and unexpired
        cursor.execute("SELECT expires_at <= clock_timestamp() FROM leader_lease "
                       "WHERE name = %(name)s FOR UPDATE", params)
        row = cursor.fetchone()
        if row is None or not row[0]:
            return None  # renewed while we waited for the lock
        cursor.execute(
            """UPDATE leader_lease SET holder = %(holder)s, token = token + 1,
                   acquired_at = clock_timestamp(), renewed_at = clock_timestamp(),
                   expires_at = clock_timestamp() + make_interval(secs => %(ttl)s)
               WHERE name = %(name)s RETURNING token""", params)
        taken = cursor.fetchone()
    return int(taken[0]) if taken else None


def renew(db: PgDatabase, lease: LeaseToken, ttl_s: float = LEASE_TTL_S) -> bool:
    """Extend the lease; False when it is no longer ours (taken over: token changed).

    A lease that expired but that nobody took is renewed: no one else wrote meanwhile.
    """
    with db.raw.cursor() as cursor:
        cursor.execute(
            "UPDATE leader_lease SET renewed_at = clock_timestamp(), "
            "expires_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE name = %s AND holder = %s AND token = %s",
            [ttl_s, LEASE_NAME, lease.holder, lease.token])
        return cursor.rowcount == 1


def release(db: PgDatabase, lease: LeaseToken) -> None:
    """Let a follower take over at once (a clean stop)."""
    with db.raw.cursor() as cursor:
        cursor.execute("UPDATE leader_lease SET expires_at = clock_timestamp() "
                       "WHERE name = %s AND holder = %s AND token = %s",
                       [LEASE_NAME, lease.holder, lease.token])


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """The lease as stored, for ``critmon health`` and ``/metrics``."""

    holder: str
    token: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    expires_in_s: float  # negative: expired that long ago (the server's clock)

    @property
    def expired(self) -> bool:
        return self.expires_in_s <= 0


def lease_info(db: Any) -> LeaseInfo | None:
    """The current lease row, or None (no lease yet, or an SQLite store)."""
    if getattr(db, "dialect", "sqlite") != "postgresql":
        return None
    if not next(db.query("SELECT to_regclass('leader_lease') IS NOT NULL AS present"))[
            "present"]:
        return None  # not migrated yet
    rows = list(db.query(
        "SELECT holder, token, acquired_at, renewed_at, expires_at, "
        "EXTRACT(EPOCH FROM expires_at - clock_timestamp()) AS expires_in_s "
        "FROM leader_lease WHERE name = ?", [LEASE_NAME]))
    if not rows:
        return None
    row = rows[0]
    return LeaseInfo(holder=row["holder"], token=int(row["token"]),
                     acquired_at=row["acquired_at"], renewed_at=row["renewed_at"],
                     expires_at=row["expires_at"], expires_in_s=float(row["expires_in_s"]))
