"""Serve the console with uvicorn: in the foreground (``critmon web``) or in a thread beside
the daemon (``critmon run --web``), stopped with it."""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from monitor.core.errors import ConfigError
from monitor.web.app import Settings, create_app, default_author
from monitor.web.security import Auth, check_bind, is_loopback, load_users

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 10.0
START_TIMEOUT_S = 30.0


def parse_address(text: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; a bare port binds to 127.0.0.1."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--web {text!r}: give [HOST:]PORT with a port from 1 to 65535")
    return host, int(port)


def url_of(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


@dataclass
class AuthOptions:
    users_file: Path | None = None
    proxy_header: str = ""
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")

    def build(self) -> Auth:
        users = load_users(self.users_file) if self.users_file else {}
        return Auth(users=users, proxy_header=self.proxy_header.strip(),
                    trusted_proxies=self.trusted_proxies)


def make_server(address: str, config_dir: Path, state_dir: Path, auth: AuthOptions,
                store_url: str | None = None) -> tuple[uvicorn.Server, str]:
    """The uvicorn server for the console, refusing an open bind without authentication."""
    host, port = parse_address(address)
    built = auth.build()
    check_bind(host, built)
    settings = Settings(config_dir=config_dir, state_dir=state_dir, auth=built,
                        loopback=is_loopback(host) and not built.configured,
                        default_author=default_author(), store_url=store_url)
    app = create_app(settings)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            proxy_headers=False, server_header=False, lifespan="off",
                            timeout_graceful_shutdown=5)
    return uvicorn.Server(config), url_of(host, port)


class BackgroundConsole:
    """The console in a daemon thread; :meth:`stop` ends it within ``STOP_TIMEOUT_S``."""

    def __init__(self, server: uvicorn.Server, url: str) -> None:
        self.server = server
        self.url = url
        self.thread = threading.Thread(target=server.run, name="critmon-web", daemon=True)

    def start(self) -> None:
        # The thread starts with the daemon's signals blocked, so SIGTERM/SIGHUP always reach
        # the main thread's sigwait (a thread inherits its creator's signal mask).
        handled = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, handled)
        try:
            self.thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started and self.thread.is_alive():
            if time.monotonic() > deadline:
                raise ConfigError(f"the web console did not start within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.05)
        if not self.server.started:
            raise ConfigError(f"the web console could not listen on {self.url} (address in "
                              "use?)")
        log.info("web console at %s", self.url)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(1.0)
