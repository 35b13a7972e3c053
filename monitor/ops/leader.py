"""Leadership of one daemon among several on one PostgreSQL database (the leader lease).

:class:`Leadership` keeps its own connection (no fence: it is the one writing the lease row)
and is ticked by the daemon's ``lease`` job every ``LEASE_POLL_S``: a follower tries to take
an expired lease, the leader renews its own. The leader also keeps a local deadline on the
monotonic clock (the start of its last successful renewal plus the TTL): when renewals fail
(the database unreachable, a network cut) it steps down by itself once that passes, before
any follower can have taken over. Its writes are fenced in the database anyway
(:func:`monitor.store.lease.check_fence`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from monitor.core.errors import MonitorError, TransientDeliveryError
from monitor.store.lease import (
    LEASE_TTL_S,
    LeaseToken,
    acquire,
    new_holder_name,
    release,
    renew,
)

log = logging.getLogger(__name__)

#: The leader stops trusting its lease this long before it expires by the local clock: a
#: renewal's reply may arrive late, and the clocks of two hosts run at slightly different
#: rates. A follower can take over only after the expiry, so no two ever believe they lead.
SAFETY_MARGIN_S = 2.0


class Leadership:
    """This daemon's role: follower until it takes the lease, leader while it keeps it."""

    def __init__(self, url: str, *, ttl_s: float = LEASE_TTL_S, holder: str | None = None
                 ) -> None:
        self.url = url
        self.ttl_s = ttl_s
        self.lease = LeaseToken(holder or new_holder_name())
        self._db: Any = None
        self._valid_until = float("-inf")
        #: Monotonic time this instance became leader (for the takeover log line).
        self.since: float | None = None

    @property
    def holder(self) -> str:
        return self.lease.holder

    @property
    def is_leader(self) -> bool:
        """Holding the lease and, by the local clock, sure it has not expired (with a margin)."""
        return (self.lease.is_leader
                and time.monotonic() < self._valid_until - min(SAFETY_MARGIN_S, self.ttl_s / 4))

    @property
    def role(self) -> str:
        return "leader" if self.is_leader else "follower"

    def tick(self) -> bool:
        """Renew or try to take the lease; True when the role changed."""
        was_leader = self.lease.is_leader
        started = time.monotonic()
        try:
            db = self._connection()
            if was_leader:
                if renew(db, self.lease, self.ttl_s):
                    self._valid_until = started + self.ttl_s
                else:
                    log.error("lost the leader lease (token %d): another instance took it "
                              "over; now a follower", self.lease.token)
                    self._step_down()
            else:
                token = acquire(db, self.holder, self.ttl_s)
                if token is not None:
                    self.lease = LeaseToken(self.holder, token)
                    self._valid_until = started + self.ttl_s
                    self.since = started
                    log.warning("took the leader lease (token %d) as %s", token, self.holder)
        except (MonitorError, OSError) as exc:
            self._drop_connection()
            log.error("leader lease: %s", exc)
        except Exception as exc:  # noqa: BLE001 - psycopg: the connection is gone or unusable
            self._drop_connection()
            log.error("leader lease: %s: %s", type(exc).__name__,
                      str(exc).splitlines()[0] if str(exc) else "")
        if self.lease.is_leader and not self.is_leader:
            log.error("could not renew the leader lease (token %d) in time; now a follower",
                      self.lease.token)
            self._step_down()
        return self.lease.is_leader != was_leader

    def release(self) -> None:
        """A clean stop: give the lease up so a follower takes over at once."""
        if not self.lease.is_leader:
            self.close()
            return
        try:
            release(self._connection(), self.lease)
            log.info("released the leader lease (token %d)", self.lease.token)
        except Exception as exc:  # noqa: BLE001 - the database is gone: the lease expires
            log.warning("could not release the leader lease: %s", type(exc).__name__)
        self._step_down()
        self.close()

    def close(self) -> None:
        self._drop_connection()

    def _step_down(self) -> None:
        self.lease = LeaseToken(self.holder)
        self._valid_until = float("-inf")
        self.since = None

    def _connection(self) -> Any:
        if self._db is None:
            from monitor.store.pg import PgDatabase

            self._db = PgDatabase(self.url, connect_timeout_s=max(2, int(self.ttl_s / 3)))
        return self._db

    def _drop_connection(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except Exception:
                log.debug("closing the lease connection failed", exc_info=True)
            self._db = None


class LeaderOnlyNotifier:
    """A notifier that sends only while this daemon surely holds the lease.

    The claim before a send is fenced in the database, but the send itself goes to Slack or an
    SMTP server, which know nothing of tokens. A leader that stalled between its claim and its
    send (and lost the lease meanwhile) must not send when it wakes: its successor resends
    that claim. The check uses the local monotonic deadline, so it needs no database.
    """

    def __init__(self, notifier: Any, leadership: Leadership) -> None:
        self._notifier = notifier
        self._leadership = leadership
        self.name = notifier.name

    def send(self, notification: Any) -> Any:
        if not self._leadership.is_leader:
            log.warning("not sending to %s: this instance no longer holds the leader lease",
                        self.name)
            raise TransientDeliveryError("not sent: this instance no longer holds the leader "
                                         "lease (its successor sends it)", receiver=self.name)
        return self._notifier.send(notification)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._notifier, attribute)


def leader_only(notifiers: Mapping[str, Any], leadership: Leadership | None
                ) -> dict[str, Any]:
    """Wrap every notifier in :class:`LeaderOnlyNotifier` (unchanged on SQLite)."""
    if leadership is None:
        return dict(notifiers)
    return {name: LeaderOnlyNotifier(n, leadership) for name, n in notifiers.items()}


def reclaim_interrupted_sends(store: Any, now: str) -> int:
    """On taking over: the deliveries the last leader left 'sending' may be sent at once.

    Their claims ended with that leader (it is dead, or fenced and no longer sends): waiting
    for each claim's two-minute lease would only delay them. Runs fenced with the new token.
    """
    with store.transaction():
        return int(store.db.execute(
            "UPDATE deliveries SET lease_until = ? WHERE status = 'sending' "
            "AND (lease_until IS NULL OR lease_until > ?)", [now, now]).rowcount)
