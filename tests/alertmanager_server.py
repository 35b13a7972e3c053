"""A real Prometheus Alertmanager on 127.0.0.1, and a webhook sink to see what it routes on.

Debian's ``prometheus-alertmanager`` (installed by ``make system-deps``) runs with clustering
off (``--cluster.listen-address=``), a temporary ``--storage.path``, a free port and a minimal
config: one route (small ``group_wait``/``group_interval``) to a ``webhook_configs`` receiver
pointing at :class:`WebhookSink`, with ``send_resolved: true``.

Used by the alerting tests and ``bench/bench_delivery.py``.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self, TypeVar

BINARY_NAMES = ("prometheus-alertmanager", "alertmanager")
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def alertmanager_binary() -> str:
    """The installed Alertmanager; ``make test`` installs it, so a missing one is an error."""
    for name in BINARY_NAMES:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                       else None)
        if found:
            return found
    raise AssertionError("prometheus-alertmanager is not installed: run `make system-deps` "
                         "(apt-get install prometheus-alertmanager)")


def wait_for(condition: Callable[[], T | None], *, timeout: float = 60.0,
             interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class WebhookSink:
    """An HTTP server keeping every webhook payload Alertmanager posts to it."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(size) or b"{}")
                with sink._lock:
                    sink.payloads.append(payload)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def notifications(self) -> list[tuple[str, dict[str, Any]]]:
        """(group status, alert) for every alert in every payload, in arrival order."""
        with self._lock:
            return [(p.get("status", ""), alert) for p in self.payloads
                    for alert in p.get("alerts", [])]

    def statuses(self, **labels: str) -> list[str]:
        """The status of each notified alert with these labels, in order."""
        return [alert["status"] for _, alert in self.notifications()
                if all(alert["labels"].get(k) == v for k, v in labels.items())]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: hook
  group_by: [alertname, mineral]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {webhook}
        send_resolved: true
"""


class Alertmanager:
    """One Alertmanager process on a free loopback port."""

    def __init__(self, workdir: Path, webhook_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertmanager.yml").write_text(CONFIG.format(webhook=webhook_url),
                                                  encoding="utf-8")
        self._log = (workdir / "alertmanager.log").open("wb")
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        self.process = subprocess.Popen(
            [alertmanager_binary(), f"--config.file={self.workdir / 'alertmanager.yml'}",
             f"--storage.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
             "--log.level=warn"],
            stdout=self._log, stderr=subprocess.STDOUT)
        try:
            wait_for(self._ready, timeout=90, what=f"Alertmanager on {self.url} to be ready")
        except AssertionError:
            self.__exit__()
            raise AssertionError("Alertmanager did not start: " + self.log_text()) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()

    def log_text(self) -> str:
        return (self.workdir / "alertmanager.log").read_text(encoding="utf-8", errors="replace")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(f"Alertmanager exited ({self.process.returncode}): "
                                 + self.log_text())
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=5) as reply:
                return bool(reply.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def alerts(self, **labels: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, silenced, inhibited, unprocessed), filtered."""
        with urllib.request.urlopen(self.url + "/api/v2/alerts", timeout=10) as reply:
            found = json.loads(reply.read())
        return [a for a in found if all(a["labels"].get(k) == v for k, v in labels.items())]
