"""Shared fixtures: tests never leave the machine."""

from __future__ import annotations

import socket

import pytest

_real_connect = socket.socket.connect
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse any connection that is not to loopback or a unix socket."""

    def connect(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family != socket.AF_UNIX and host not in _LOOPBACK:
            raise RuntimeError(f"network access in tests: {address!r}")
        return _real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
