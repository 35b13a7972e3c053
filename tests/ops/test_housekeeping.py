"""Daily housekeeping: retention of raw news and observations; alert history is kept."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from monitor.config.load import load_config
from monitor.config.sources import RetentionSpec
from monitor.core.clock import FixedClock
from monitor.core.models import Frequency, Measure, Observation
from monitor.ops.housekeeping import housekeeping
from monitor.ops.jobs import prepare

NOW = datetime(2026, 11, 23, tzinfo=UTC)


def price(period: date) -> Observation:
    return Observation(source="fred_tin", series="PTINUSDM", mineral="tin",
                       measure=Measure.PRICE, period=period, frequency=Frequency.MONTHLY,
                       value=30_000.0, unit="USD/t")


def news_row(item_id: str, fetched: datetime) -> tuple[str, str, str, str]:
    return (item_id, "wire", f"title {item_id}", fetched.isoformat())


def test_housekeeping_prunes_old_news_and_keeps_observations_by_default(tmp_path: Path) -> None:
    runtime = prepare(load_config(environ={}), None, tmp_path, NOW)
    with runtime.open_store() as store:
        store.save_observations([price(date(1990, 1, 1))], fetched_at=NOW)
        store.db.conn.executemany(
            "INSERT INTO news_items (id, source, title, fetched_at) VALUES (?, ?, ?, ?)",
            [news_row("old", NOW - timedelta(days=800)), news_row("new", NOW - timedelta(1))])
        store.db.execute("INSERT INTO news_tags (item_id, mineral, direct) VALUES ('old', 'tin', 1)")
        store.db.conn.commit()
    pruned = housekeeping(runtime, FixedClock(NOW))
    assert pruned == {"news_items": 1, "observations": 0}
    with runtime.open_store() as store:
        assert [r["id"] for r in store.db.query("SELECT id FROM news_items")] == ["new"]
        assert store.db.execute("SELECT COUNT(*) FROM news_tags").fetchone()[0] == 0
        assert store.observations(mineral="tin", source="fred_tin")
        assert store.get_meta("last_housekeeping_at") == NOW.isoformat()


def test_observation_retention_when_configured(tmp_path: Path) -> None:
    config = load_config(environ={})
    sources = config.sources.model_copy(update={
        "retention": RetentionSpec(news_items=None, observations=timedelta(days=365 * 20))})
    runtime = prepare(replace(config, sources=sources), None, tmp_path, NOW)
    with runtime.open_store() as store:
        store.save_observations([price(date(1990, 1, 1)), price(date(2020, 1, 1))],
                                fetched_at=NOW)
        before = sum(store.count_observations().values())
    pruned = housekeeping(runtime, FixedClock(NOW))
    with runtime.open_store() as store:
        assert [o.period for o in store.observations(source="fred_tin")] == [date(2020, 1, 1)]
        assert pruned["observations"] == before - sum(store.count_observations().values())
