"""Time one evaluation per perspective on the shipped data (a benchmark, not a test).

For each shipped perspective (us, cn, eu), ``assess`` over every configured mineral at one
date: indicators, the perspective's exposure and sourcing governance, market context, score.
Prints the median of ``--repeat`` runs and the ratio to ``us`` (the cost of a perspective
beyond the default), and the time to load the three perspective tables.

Usage: .venv/bin/python bench/bench_perspectives.py [--as-of 2026-03-01] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from monitor.config.load import load_config
from monitor.core.models import Observation
from monitor.risk.assess import assess
from monitor.sources.bundled import (
    PINKSHEET_COLUMNS,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
    wgi_published_at,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 3, 1))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "rules.yaml").write_text("version: 1\nperspectives: [us, cn, eu]\n",
                                                    encoding="utf-8")
        started = time.perf_counter()
        config = load_config(directory)
        load_s = time.perf_counter() - started
    rows = load_bundled_observations([(m.id, m.usgs) for m in config.minerals.minerals])
    rows += load_bundled_pinksheet(PINKSHEET_COLUMNS)
    observations: dict[str, list[Observation]] = defaultdict(list)
    for o in rows:
        if o.published_at is None or o.published_at <= args.as_of:
            observations[o.mineral].append(o)
    wgi = [w for w in load_bundled_wgi() if wgi_published_at(w.year) <= args.as_of]
    print(f"config with 3 perspectives loaded in {load_s * 1000:.0f} ms "
          f"({len(config.minerals.minerals)} minerals)")
    medians: dict[str, float] = {}
    for perspective in config.perspectives:
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            assess(config, observations, wgi, as_of=args.as_of, perspective=perspective)
            times.append(time.perf_counter() - started)
        medians[perspective.id] = statistics.median(times)
    for pid, seconds in medians.items():
        print(f"assess {pid:3}: {seconds * 1000:7.1f} ms  ratio to us {seconds / medians['us']:.2f}")
    print(f"all three: {sum(medians.values()) * 1000:.1f} ms "
          f"(ratio to us alone {sum(medians.values()) / medians['us']:.2f})")


if __name__ == "__main__":
    main()
