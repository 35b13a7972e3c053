"""Fixtures the source tests share: a fresh store, and an HTTP fetcher with generous limits
(the tests run real local servers on a loaded machine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.sources.http import HttpFetcher
from monitor.store.database import DB_NAME, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / DB_NAME) as opened:
        yield opened


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    with HttpFetcher(connect_timeout_s=60, read_timeout_s=60, total_timeout_s=60) as opened:
        yield opened
