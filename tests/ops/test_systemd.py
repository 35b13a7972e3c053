"""The notify protocol, against a real datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from monitor.ops.systemd import sd_notify, watchdog_interval_s


def test_notify_is_a_no_op_outside_systemd() -> None:
    assert sd_notify("READY=1", environ={}) is False


def test_notify_sends_one_datagram_to_a_path_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert sd_notify("READY=1\nSTATUS=ok", environ={"NOTIFY_SOCKET": path})
        assert server.recv(1024) == b"READY=1\nSTATUS=ok"


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"critmon-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        assert sd_notify("WATCHDOG=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert server.recv(1024) == b"WATCHDOG=1"


def test_a_dead_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert sd_notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_watchdog_pings_at_half_the_interval_for_this_process_only() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None
