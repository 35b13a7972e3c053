"""A real console over a real state database, and a real Chromium to drive it.

The state is seeded once per session the way the daemon makes it: the bundled public data
(``prepare``), then the daemon's own evaluate and deliver jobs at several dates of 2024-2025 on
a fixed clock. The test config adds two platinum rules to the shipped ones, so that at the last
date one alert is critical (inhibiting platinum's high price-jump alert) and one is pending.
Each test gets its own copy of the config and state directories and its own server.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.config.load import default_config_dir, load_config
from monitor.core.clock import FixedClock
from monitor.news.items import Classification, NewsItem, NewsRecord
from monitor.news.store import NewsStore
from monitor.ops.jobs import deliver_once, evaluate, prepare
from monitor.store.database import Store
from monitor.web.security import Auth
from monitor.web.server import AuthOptions, BackgroundConsole, make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

SEED_DATES = [datetime(2024, m, 1, 9, tzinfo=UTC) for m in (1, 7)] + [
    datetime(2025, m, 1, 9, tzinfo=UTC) for m in (1, 4, 7, 10)]
XSS_TITLE = ('Gallium <script>window.__xss = "script"</script> export '
             '<img src=x onerror="window.__xss = \'img\'"> controls')
XSS_URL = "javascript:window.__xss='link'"

EXTRA_RULES = """
  - name: platinum_watch
    description: A tight watch on platinum's price (test rule, critical).
    indicator: price_change_3m
    minerals: [platinum]
    detector: {kind: threshold, thresholds: [0.2], direction: above}
    levels: [critical]

  - name: platinum_slow
    description: Held for 90 days before it fires (test rule, stays pending).
    indicator: price_change_3m
    minerals: [platinum]
    detector: {kind: threshold, thresholds: [0.1], direction: above}
    levels: [warning]
    for: 90d

"""


def write_config(directory: Path) -> Path:
    """The shipped config, no polled source, two extra platinum rules."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("minerals.yaml", "alerting.yaml", "rules.yaml"):
        shutil.copyfile(default_config_dir() / name, directory / name)
    (directory / "sources.yaml").write_text("version: 1\nsources: []\n")
    rules = (directory / "rules.yaml").read_text()
    marker = "# Examples (uncomment to use):"
    assert marker in rules
    (directory / "rules.yaml").write_text(rules.replace(marker, EXTRA_RULES + marker))
    return directory


def seed(config_dir: Path, state_dir: Path) -> None:
    config = load_config(config_dir)
    runtime = prepare(config, config_dir, state_dir, SEED_DATES[0])
    for when in SEED_DATES:
        clock = FixedClock(when)
        evaluate(runtime, clock)
        deliver_once(runtime, clock)
    with Store.open(runtime.db_path) as store:
        NewsStore(store).save([
            _news("xss", XSS_TITLE, XSS_URL, datetime(2025, 9, 20, tzinfo=UTC)),
            _news("real", "Platinum mine flooded in the Bushveld", "https://example.org/pt",
                  datetime(2025, 9, 22, tzinfo=UTC)),
        ])
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _news(key: str, title: str, url: str, at: datetime) -> NewsRecord:
    item = NewsItem(id=f"test_feed:{key}", source="test_feed", url=url, title=title,
                    published_at=at)
    return NewsRecord(item=item, canonical_url=url, fetched_at=at,
                      classification=Classification("mine_disruption", 0.9, True, 0.88),
                      minerals=("platinum",), country="ZA")


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("seeded")
    config_dir, state_dir = write_config(base / "config"), base / "state"
    seed(config_dir, state_dir)
    return config_dir, state_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    config_dir: Path
    state_dir: Path
    console: BackgroundConsole

    def store(self) -> Store:
        return Store.open(self.state_dir / "critmon.db", migrate=False)


@pytest.fixture
def served(seeded: tuple[Path, Path], tmp_path: Path) -> Iterator[Served]:
    """A console on a free loopback port over a private copy of the seeded state."""
    config_dir = shutil.copytree(seeded[0], tmp_path / "config")
    state_dir = shutil.copytree(seeded[1], tmp_path / "state")
    yield from _serve(config_dir, state_dir, AuthOptions())


def _serve(config_dir: Path, state_dir: Path, auth: AuthOptions,
           host: str = "127.0.0.1") -> Iterator[Served]:
    server, url = make_server(f"{host}:{free_port()}", config_dir, state_dir, auth)
    console = BackgroundConsole(server, url)
    console.start()
    try:
        yield Served(url.rstrip("/"), config_dir, state_dir, console)
    finally:
        console.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless, driven by chromedriver (make system-deps installs both)."""
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
        "Debian's chromium and chromium-driver are needed: `make test` installs them")
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests save a screenshot of each page (CRITMON_SCREENSHOTS to keep
    them, e.g. docs/img)."""
    wanted = os.environ.get("CRITMON_SCREENSHOTS")
    if wanted:
        Path(wanted).mkdir(parents=True, exist_ok=True)
        return Path(wanted)
    return tmp_path_factory.mktemp("screenshots")


__all__ = ["Auth", "Served"]
