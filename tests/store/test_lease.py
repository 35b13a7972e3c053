"""The leader lease on a real PostgreSQL server: take, renew, take over, fence."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from monitor.store.database import Store
from monitor.store.lease import (
    FencedError,
    LeaseToken,
    acquire,
    lease_info,
    release,
    renew,
)
from monitor.store.pg import PgDatabase


@pytest.fixture
def lease_db(pg_url: str) -> Iterator[PgDatabase]:
    Store.open(pg_url).close()  # migrated
    db = PgDatabase(pg_url)
    yield db
    db.close()


def write(pg_url: str, lease: LeaseToken, key: str = "probe") -> None:
    with Store.open(pg_url, migrate=False, lease=lease) as store:
        store.set_meta(key, "written")


def test_the_first_instance_takes_the_lease_and_a_second_cannot_while_it_lasts(
        lease_db: PgDatabase) -> None:
    assert acquire(lease_db, "a", ttl_s=30) == 1
    assert acquire(lease_db, "b", ttl_s=30) is None
    info = lease_info(lease_db)
    assert info is not None and info.holder == "a" and info.token == 1
    assert 25 < info.expires_in_s <= 30
    assert renew(lease_db, LeaseToken("a", 1), ttl_s=30)


def test_an_expired_lease_is_taken_over_with_a_new_token_and_the_old_holder_is_fenced(
        lease_db: PgDatabase, pg_url: str) -> None:
    old = LeaseToken("a", acquire(lease_db, "a", ttl_s=0.5) or 0)
    write(pg_url, old)  # the leader writes
    deadline = time.monotonic() + 30
    token = None
    while token is None and time.monotonic() < deadline:
        token = acquire(lease_db, "b", ttl_s=30)
        time.sleep(0.1)
    assert token == old.token + 1
    with pytest.raises(FencedError, match="expired or was taken over"):
        write(pg_url, old, "stale")
    assert not renew(lease_db, old)  # nor can it renew its way back
    write(pg_url, LeaseToken("b", token), "new")
    with Store.open(pg_url, migrate=False) as store:
        assert store.get_meta("stale") is None and store.get_meta("new") == "written"


def test_a_follower_writes_nothing(lease_db: PgDatabase, pg_url: str) -> None:
    acquire(lease_db, "a", ttl_s=30)
    with pytest.raises(FencedError, match="follower"):
        write(pg_url, LeaseToken("b"))
    # A bare statement outside Store.transaction() is fenced too (it gets its own transaction).
    with Store.open(pg_url, migrate=False, lease=LeaseToken("b")) as store, \
            pytest.raises(FencedError):
        store.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ["bare", "x"])


def test_a_takeover_waits_for_the_leaders_transaction_in_flight(
        lease_db: PgDatabase, pg_url: str) -> None:
    """The fence reads the lease row FOR KEY SHARE, the takeover locks it FOR UPDATE: no
    takeover between a check and its commit. A renewal is not held up."""
    leader = LeaseToken("a", acquire(lease_db, "a", ttl_s=1) or 0)
    in_transaction, may_commit = threading.Event(), threading.Event()

    def slow_write() -> None:
        with Store.open(pg_url, migrate=False, lease=leader) as store, store.transaction():
            store.set_meta("slow", "committed")
            in_transaction.set()
            may_commit.wait(30)

    writer = threading.Thread(target=slow_write)
    writer.start()
    assert in_transaction.wait(30)
    time.sleep(1.5)  # the lease has expired meanwhile; the row is still locked
    taken: list[int | None] = []
    follower = PgDatabase(pg_url)
    taker = threading.Thread(target=lambda: taken.append(acquire(follower, "b", ttl_s=30)))
    taker.start()
    pid = follower.raw.info.backend_pid
    deadline = time.monotonic() + 30
    while _wait_event(lease_db, pid) != "Lock":  # the takeover waits for the row lock
        assert taker.is_alive() and time.monotonic() < deadline, "the takeover did not wait"
        time.sleep(0.05)
    assert renew(lease_db, leader, ttl_s=30)  # a renewal does not wait for the writer
    may_commit.set()
    writer.join(30)
    taker.join(30)
    follower.close()
    assert taken == [None]  # renewed while it waited: the leader keeps the lease
    with Store.open(pg_url, migrate=False) as store:
        assert store.get_meta("slow") == "committed"


def _wait_event(db: PgDatabase, pid: int) -> str | None:
    rows = list(db.query("SELECT wait_event_type FROM pg_stat_activity WHERE pid = ?", [pid]))
    return rows[0]["wait_event_type"] if rows else None


def test_release_hands_over_at_once(lease_db: PgDatabase) -> None:
    lease = LeaseToken("a", acquire(lease_db, "a", ttl_s=60) or 0)
    release(lease_db, lease)
    assert acquire(lease_db, "b", ttl_s=60) == lease.token + 1


def test_sqlite_has_no_lease(tmp_path: object) -> None:
    with Store.open(f"{tmp_path}/critmon.db") as store:
        assert lease_info(store.db) is None
        store.set_meta("k", "v")  # no fence: one instance owns the file
