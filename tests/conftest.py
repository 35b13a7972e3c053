"""Shared fixtures: tests never leave the machine."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.config.load import Config, load_config
from monitor.config.minerals import Mineral
from monitor.news.classify import NewsClassifier, load_classifier
from monitor.news.tagging import Tagger
from monitor.sources.http import HttpFetcher
from monitor.store.database import DB_NAME, Store
from tests.pg_server import PostgresCluster

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


# ---------------------------------------------------------------- shared by news and cli tests


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def minerals(config: Config) -> tuple[Mineral, ...]:
    return config.minerals.minerals


@pytest.fixture(scope="session")
def tagger(minerals: tuple[Mineral, ...]) -> Tagger:
    return Tagger(minerals)


@pytest.fixture(scope="session")
def classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("classifier-cache")


@pytest.fixture(scope="session")
def classifier(classifier_cache: Path) -> NewsClassifier:
    """Fitted once per session (a few seconds) and cached on disk like the daemon does."""
    return load_classifier(classifier_cache)


# ---------------------------------------------------------------- PostgreSQL (tests/pg_server.py)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """One throw-away PostgreSQL server for the whole session (started on first use)."""
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty database; its password is in ``PGPASSWORD`` (never in the URL)."""
    monkeypatch.setenv("PGPASSWORD", pg_cluster.password)
    url = pg_cluster.create_database()
    yield url
    pg_cluster.drop_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store test keeps its data: an SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "critmon.db")
    return str(request.getfixturevalue("pg_url"))


# ---------------------------------------------------------------- a store and an HTTP fetcher


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store (tests on both databases define their own over ``store_url``)."""
    with Store.open(tmp_path / DB_NAME) as opened:
        yield opened


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    """An HTTP fetcher with generous limits: the tests run real local servers on a loaded
    machine."""
    with HttpFetcher(connect_timeout_s=60, read_timeout_s=60, total_timeout_s=60) as opened:
        yield opened
