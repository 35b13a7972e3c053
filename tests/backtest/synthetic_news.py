"""Seeded, already classified news items for replay tests and bench/bench_backtest.py."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from monitor.backtest.inputs import NewsEvent
from monitor.config.load import Config

KINDS = ("export_control", "export_ban", "production_cut", "tariff", "other")
SOURCES = ("mofcom", "reuters", "mining.com", "argus")
COUNTRIES = ("China", "Indonesia", "Chile", "Congo (Kinshasa)", None)


def synthetic_news(config: Config, count: int, start: date, days: int,
                   seed: int = 17) -> list[NewsEvent]:
    """``count`` classified items spread over ``days`` from ``start`` (repeatable)."""
    rng = random.Random(seed)
    minerals = config.mineral_ids
    items = []
    for n in range(count):
        at = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(
            days=rng.randrange(days), hours=rng.randrange(24))
        chosen = tuple(rng.sample(minerals, rng.choice((1, 1, 2))))
        items.append(NewsEvent(
            id=f"bench-{n}", at=at, title=f"Item {n} on {' and '.join(chosen)}",
            url=f"https://bench.test/{n}", source=rng.choice(SOURCES), kind=rng.choice(KINDS),
            country=rng.choice(COUNTRIES), minerals=chosen, inferred_minerals=(),
            is_supply_risk_event=rng.random() < 0.6, risk_confidence=rng.uniform(0.4, 1.0)))
    return sorted(items, key=lambda i: (i.at, i.id))
