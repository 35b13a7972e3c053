"""New data is evaluated on arrival: a poll that stores a price spike raises the alert within
seconds, long before the evaluate tick (set to hours here), and arrivals are debounced.

The daemon runs in this process with its real scheduler, jobs and HTTP fetcher against a local
price feed; only ``critmon run``'s signal loop is left out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.alerting.store import AlertStore
from monitor.config.load import load_config
from monitor.config.sources import SourcesFile
from monitor.core.clock import SystemClock
from monitor.core.models import FetchResult
from monitor.news.ingest import ingest_news
from monitor.news.store import NewsStore
from monitor.ops.daemon import Arrivals, Daemon
from monitor.ops.jobs import prepare
from monitor.store.database import DB_NAME, SourceState, Store

HISTORY = "observation_date,GALLIUM\n2025-06-01,400\n2025-07-01,405\n2025-08-01,400\n" \
          "2025-09-01,400\n2025-10-01,410\n"
NORMAL = HISTORY + "2025-11-01,415\n"  # +4% over 3 months: quiet
SPIKE = HISTORY + "2025-11-01,600\n"  # +41% over 3 months: high

RULES = """
version: 1
rules:
  - name: price_jump_3m
    indicator: price_change_3m
    minerals: [gallium]
    detector: {kind: threshold, thresholds: [0.262, 0.470], direction: above}
    levels: [high, critical]
"""

SOURCES = """
version: 1
sources:
  - id: local_gallium
    kind: fred_csv
    url: {url}
    mineral: gallium
    unit: USD/kg
    interval: 1s
    jitter: 0s
"""

ALERTING = """
version: 1
receivers:
  - {name: jsonl, kind: file, path: alerts.jsonl}
route: {receiver: jsonl, group_by: [mineral], group_wait: 0s, group_interval: 1m,
        repeat_interval: 24h}
"""

TICK = timedelta(hours=6)


def wait_for(condition: Callable[[], bool], timeout_s: float = 300.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def serve(feed: HTTPServer, csv: str) -> None:
    feed.clear()
    feed.expect_request("/gallium.csv").respond_with_data(csv)


@pytest.fixture
def daemon(tmp_path: Path, httpserver: HTTPServer) -> Iterator[Daemon]:
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "rules.yaml").write_text(RULES, "utf-8")
    (config_dir / "alerting.yaml").write_text(ALERTING, "utf-8")
    (config_dir / "sources.yaml").write_text(
        SOURCES.format(url=httpserver.url_for("/gallium.csv")), "utf-8")
    serve(httpserver, NORMAL)
    clock = SystemClock()
    runtime = prepare(load_config(config_dir), config_dir, tmp_path / "state", clock.now())
    worker = Daemon(runtime, clock=clock, evaluate_every=TICK)
    worker.start()
    yield worker
    worker.stop()


def meta(daemon: Daemon, key: str) -> str | None:
    with Store.open(daemon.runtime.state_dir / DB_NAME, migrate=False) as store:
        return store.get_meta(key)


def gallium_states(daemon: Daemon) -> list[str]:
    with Store.open(daemon.runtime.state_dir / DB_NAME, migrate=False) as store:
        return [a.state.value for a in AlertStore(store).states() if a.mineral == "gallium"]


def delivered(daemon: Daemon) -> list[dict]:
    path = daemon.runtime.state_dir / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def source_state(daemon: Daemon) -> SourceState:
    with Store.open(daemon.runtime.state_dir / DB_NAME, migrate=False) as store:
        return store.source_state("local_gallium")


def evaluated_since_last_change(daemon: Daemon) -> bool:
    changed, evaluated = source_state(daemon).last_change_at, meta(daemon, "last_evaluation_at")
    return changed is not None and evaluated is not None and evaluated >= changed


def gallium_prices(daemon: Daemon) -> int:
    with Store.open(daemon.runtime.state_dir / DB_NAME, migrate=False) as store:
        return store.count_observations().get("local_gallium", 0)


def test_a_polled_price_spike_fires_and_is_delivered_without_waiting_for_the_tick(
        daemon: Daemon, httpserver: HTTPServer) -> None:
    assert wait_for(lambda: gallium_prices(daemon) == 6)
    # the first poll's data is evaluated on arrival (the tick is hours away): nothing fires
    assert wait_for(lambda: evaluated_since_last_change(daemon))
    assert gallium_states(daemon) == []

    serve(httpserver, SPIKE)
    assert wait_for(lambda: gallium_states(daemon) == ["firing"])
    assert wait_for(lambda: len(delivered(daemon)) == 1), "delivered at once (group_wait 0s)"
    next_tick = daemon.scheduler.get_job("evaluate").next_run_time
    assert next_tick - daemon.clock.now() > TICK - timedelta(minutes=5), \
        "evaluated on arrival, not by the tick"


def test_an_unchanged_poll_does_not_evaluate_again(daemon: Daemon) -> None:
    assert wait_for(lambda: gallium_prices(daemon) == 6)
    assert wait_for(lambda: evaluated_since_last_change(daemon))
    evaluated_at, seen = meta(daemon, "last_evaluation_at"), source_state(daemon).polls
    # each 1 s poll from now on fetches the same prices and stores nothing new
    assert wait_for(lambda: source_state(daemon).polls >= seen + 5)
    assert meta(daemon, "last_evaluation_at") == evaluated_at


NEWS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
        b"<link>https://wire.example.org/</link><item><title>China bans gallium exports</title>"
        b"<link>https://wire.example.org/1</link><guid>w1</guid></item></channel></rss>")


def store_news_behind_the_daemons_back(daemon: Daemon) -> None:
    """Ingest a feed as another process would (``critmon once`` from a shell): stored
    pending classification, and no arrival told to the daemon."""
    source = SourcesFile.model_validate({"sources": [
        {"id": "wire", "kind": "rss", "url": "https://wire.example.org/rss"}]}).sources[0]
    result = FetchResult(url=source.url, status=200, body=NEWS,
                         content_type="application/rss+xml")
    with Store.open(daemon.runtime.state_dir / DB_NAME, migrate=False) as store:
        ingest_news(source, result, store, daemon.clock.now())  # type: ignore[arg-type]
        assert NewsStore(store).has_pending()


def test_news_waiting_for_its_classification_is_evaluated_in_full_not_in_the_daemon(
        daemon: Daemon) -> None:
    # The daemon's cheap pass (nothing changed) reads the news in its own process: reading
    # pending news there would load the classifier (scikit-learn) into the daemon for good.
    assert wait_for(lambda: gallium_prices(daemon) == 6)
    assert wait_for(lambda: evaluated_since_last_change(daemon))
    evaluated_at = meta(daemon, "last_evaluation_at")
    store_news_behind_the_daemons_back(daemon)
    daemon._evaluate_job()
    assert meta(daemon, "last_evaluation_at") != evaluated_at, "a full evaluation, in the child"
    with Store.open(daemon.runtime.state_dir / DB_NAME, migrate=False) as store:
        assert not NewsStore(store).has_pending()


SETTLE = timedelta(seconds=2)


def test_arrivals_before_an_evaluation_starts_join_it() -> None:
    arrivals = Arrivals(SETTLE)
    assert arrivals.arrived() == SETTLE
    assert arrivals.arrived() is None and arrivals.arrived() is None
    arrivals.started()
    assert arrivals.finished() is None


def test_an_arrival_during_an_evaluation_asks_for_exactly_one_more() -> None:
    arrivals = Arrivals(SETTLE)
    arrivals.arrived()
    arrivals.started()
    assert arrivals.arrived() is None, "never two evaluations at once"
    assert arrivals.arrived() is None
    assert arrivals.finished() == SETTLE
    assert arrivals.arrived() is None, "the next one is already planned"
    arrivals.started()
    assert arrivals.finished() is None
    assert arrivals.arrived() == SETTLE
