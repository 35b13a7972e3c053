"""Time the backtest replay against the straightforward reference replay (a benchmark, not a test).

Two runs, each timed for the production replay (monitor.backtest.replay) and for the reference
kept in tests/backtest/reference_replay.py (every date re-assessed from scratch), with the
memoised price maths cleared before each run so both start cold:

* ``bundled``: 2010-01-01..2025-12-31 (plus the 120-day warm-up), every mineral of
  config/minerals.yaml, bundled MCS, Pink Sheet and WGI data. Target: under 3 s.
* ``news``: 14 months (2023-01-01..2024-02-29) with 200 synthetic, already classified news
  items (the classifier's cost is not in it: items reach the replay classified once).
  Target: under 2 s.

Then scores the bundled run against the bundled events, as before. The reference takes minutes
on the full range; ``--skip-reference`` leaves it out, ``--from/--to`` narrow the bundled run.

Usage: .venv/bin/python bench/bench_backtest.py [--from 2010-01-01] [--to 2025-12-31]
                                                [--skip-reference] [--min-level high]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (the reference)

from monitor.backtest.events import bundled_events_text, parse_events
from monitor.backtest.inputs import NewsEvent, ReplayData, bundled_data
from monitor.backtest.replay import replay
from monitor.backtest.scoring import run_backtest
from monitor.config.load import Config, default_config_dir, load_config
from monitor.risk.market import clear_caches
from tests.backtest.reference_replay import reference_replay

KINDS = ("export_control", "export_ban", "production_cut", "tariff", "other")
SOURCES = ("mofcom", "reuters", "mining.com", "argus")
COUNTRIES = ("China", "Indonesia", "Chile", "Congo (Kinshasa)", None)


def synthetic_news(config: Config, count: int, start: date, days: int) -> list[NewsEvent]:
    """``count`` classified items spread over ``days`` from ``start`` (seeded, repeatable)."""
    rng = random.Random(17)
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


def timed(run: Callable[[], object]) -> tuple[float, object]:
    clear_caches()
    began = time.perf_counter()
    out = run()
    return time.perf_counter() - began, out


def side_by_side(name: str, config: Config, data: ReplayData, start: date, end: date,
                 target: float, with_reference: bool) -> None:
    ours, result = timed(lambda: replay(config, data, start, end))
    line = (f"{name:8} {start}..{end}  {len(result.dates):4d} dates  "
            f"replay {ours:7.2f} s (target < {target:g} s)")
    if with_reference:
        ref, _ = timed(lambda: list(reference_replay(config, data, start, end)))
        line += f"  reference {ref:7.2f} s  ratio {ref / ours:5.1f}x"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", default="2010-01-01")
    parser.add_argument("--to", dest="end", default="2025-12-31")
    parser.add_argument("--min-level", default="high")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    config = load_config(default_config_dir())
    began = time.perf_counter()
    data = bundled_data(config)
    print(f"load bundled data {time.perf_counter() - began:6.2f} s")
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    side_by_side("bundled", config, data, start, end, 3.0, not args.skip_reference)
    news = synthetic_news(config, 200, date(2023, 1, 1), 425)
    with_news = ReplayData(data.observations, data.wgi, data.wgi_published_at, news)
    side_by_side("news", config, with_news, date(2023, 1, 1), date(2024, 2, 29), 2.0,
                 not args.skip_reference)
    events, warnings = parse_events(bundled_events_text(), config.minerals.minerals)
    result, scored = run_backtest(config, data, events, start=start, end=end,
                                  min_level=args.min_level)
    print(f"backtest + scoring {result.seconds:6.2f} s  ({len(result.transitions)} transitions)")
    print(f"events warnings {len(warnings)}: " + "; ".join(warnings))
    print(json.dumps(scored.summary(), indent=2))


if __name__ == "__main__":
    main()
