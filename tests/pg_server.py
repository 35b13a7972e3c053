"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary directory, a free port.

Debian's ``postgresql`` (installed by ``make system-deps``) provides ``initdb`` and ``postgres``
under ``/usr/lib/postgresql/<version>/bin``. The server listens on 127.0.0.1 and on a unix
socket in the same temporary directory; host connections need a password (scram-sha-256), so
the tests exercise the path production uses (``PGPASSWORD`` or a password file, never the URL).

Both programs refuse to run as root: when the tests run as root, the cluster runs as the
unprivileged ``nobody`` account (a system account that already exists, so nothing global is
created), and the temporary directory is handed to it. Everything is removed by :meth:`stop`.

Used by ``tests/conftest.py`` (the ``pg_cluster`` and ``pg_url`` fixtures) and ``bench/``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Self

SUPERUSER = "critmon"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path:
    """The newest installed server's bin directory; ``make test`` installs it when missing."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "postgres").exists():
        return Path(initdb).resolve().parent
    raise AssertionError("the PostgreSQL server is not installed: run `make system-deps` "
                         "(apt-get install postgresql)")


class PostgresCluster:
    """One server process on a private data directory; :meth:`url` names a database on it."""

    def __init__(self) -> None:
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="critmon-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self.process: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
        self.root.chmod(0o700)
        self._started_dbs = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 120.0) -> Self:
        """initdb, start the server, wait until it takes connections (up to ``timeout``)."""
        self._as_owner(["mkdir", "-m", "0700", str(self.socket_dir)])
        pwfile = self.root / "pwfile"
        self._write_owned(pwfile, self.password + "\n")
        self._as_owner([str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                        "--pwfile", str(pwfile), "--auth-local=trust",
                        "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"])
        pwfile.unlink()
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 - the server keeps it open
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.socket_dir), "-c", "listen_addresses=127.0.0.1",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self._run_as)
        log.close()
        self._wait_ready(timeout)
        return self

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the whole temporary directory."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: "fast" shutdown, rolls back open sessions
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"postgres exited with {self.process.returncode}:\n"
                                     f"{self.server_log()[-4000:]}")
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                 "-U", SUPERUSER, "-t", "5"], check=False).returncode == 0
            if ready:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"postgres not ready after {timeout:g}s:\n"
                                     f"{self.server_log()[-4000:]}")
            time.sleep(0.2)

    def server_log(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ databases

    def url(self, dbname: str = "postgres") -> str:
        """A URL without the password (that comes from ``PGPASSWORD``; see :meth:`env`)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def env(self) -> dict[str, str]:
        return {"PGPASSWORD": self.password}

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        self._started_dbs += 1
        name = f"{prefix}_{os.getpid()}_{self._started_dbs}"
        with psycopg.connect(self.url(), password=self.password, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), password=self.password, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ------------------------------------------------------------------ helpers

    def _as_owner(self, argv: list[str]) -> None:
        done = subprocess.run(argv, capture_output=True, check=False, **self._run_as)
        if done.returncode != 0:
            raise AssertionError(f"{argv[0]} failed ({done.returncode}): "
                                 f"{done.stdout.decode(errors='replace')[-2000:]}"
                                 f"{done.stderr.decode(errors='replace')[-2000:]}")

    def _write_owned(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if self._run_as:
            os.chown(path, self._run_as["user"], self._run_as["group"])
