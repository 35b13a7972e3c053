"""A loopback server that answers with raw bytes, for the tests of fetching and polling."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def drip_server(head: bytes, drip: bytes = b"", *, every_s: float = 0.0,
                path: str = "/") -> Iterator[str]:
    """Answer each connection with ``head`` at once, then ``drip`` one byte per ``every_s``.

    Raw bytes, so a test can send what no HTTP server library would: any status line or
    reason phrase, a body that never finishes.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                try:
                    conn.sendall(head)
                    for byte in drip:
                        if stop.wait(every_s):
                            break
                        conn.sendall(bytes([byte]))
                except OSError:
                    pass  # the client gave up, as it should

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}{path}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
