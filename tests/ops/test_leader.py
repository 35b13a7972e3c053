"""The lease keeper on a real PostgreSQL server: roles, stepping down, leader-only sends."""

from __future__ import annotations

import time
from typing import Any

import pytest

from monitor.core.errors import TransientDeliveryError
from monitor.ops.leader import Leadership, leader_only
from monitor.store.database import Store


class Recorder:
    name = "slack"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, notification: Any) -> str:
        self.sent.append(notification)
        return "ok"


def test_a_leader_that_cannot_renew_in_time_stops_sending_and_is_taken_over(
        pg_url: str) -> None:
    Store.open(pg_url).close()
    leader = Leadership(pg_url, ttl_s=1.0, holder="a:1:x")
    follower = Leadership(pg_url, ttl_s=30.0, holder="b:2:y")
    try:
        assert leader.tick() and leader.role == "leader" and leader.lease.token == 1
        assert not follower.tick() and follower.role == "follower"
        recorder = Recorder()
        guarded = leader_only({"slack": recorder}, leader)["slack"]
        guarded.send("first")
        deadline = time.monotonic() + 30
        while leader.is_leader:  # no renewal: the local deadline passes after 1 s
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(TransientDeliveryError, match="no longer holds the leader lease"):
            guarded.send("second")
        assert recorder.sent == ["first"]
        while not follower.tick():  # the lease has expired in the database too
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert follower.role == "leader" and follower.lease.token == 2
        assert leader.tick(), "renewal refused: the old leader becomes a follower"
        assert leader.role == "follower" and leader.lease.token == 0
    finally:
        follower.release()
        leader.close()


def test_on_sqlite_the_notifiers_are_left_alone() -> None:
    recorder = Recorder()
    assert leader_only({"slack": recorder}, None) == {"slack": recorder}
