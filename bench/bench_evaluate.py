"""Benchmark: assess every mineral and run every configured detector rule over the bundled history.

Prints figures; not a test. Run: .venv/bin/python bench/bench_evaluate.py
Targets (2-core dev machine): fitting and scoring every configured detector for all minerals
under 2 s; an unchanged re-evaluation reuses fitted detectors.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from datetime import UTC, date, datetime

from monitor.config.load import load_config
from monitor.config.rules import RulesFile
from monitor.risk.assess import assess, detector_series
from monitor.rules.evaluate import DetectorCache, effective_rules, evaluate_rules
from monitor.sources.bundled import (
    PINKSHEET_COLUMNS,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
)

AS_OF = date(2025, 12, 10)
NOW = datetime(2025, 12, 10, tzinfo=UTC)
EXTRA_RULES = [  # every detector kind, on every mineral, to find the slowest
    {"name": "z_1m", "indicator": "price_change_1m", "detector": {"kind": "robust_zscore"}},
    {"name": "cusum", "indicator": "price", "detector": {"kind": "cusum"}},
    {"name": "roc", "indicator": "price", "detector": {"kind": "rate_of_change", "window": 3}},
    {"name": "iforest", "indicator": "price_change_3m,price_volatility",
     "detector": {"kind": "isolation_forest", "n_estimators": 100}},
]


def main() -> None:
    config = load_config(environ={})
    observations = [*load_bundled_observations([(m.id, m.usgs) for m in config.minerals.minerals]),
                    *load_bundled_pinksheet(PINKSHEET_COLUMNS)]
    by_mineral = defaultdict(list)
    for o in observations:
        by_mineral[o.mineral].append(o)
    wgi = load_bundled_wgi()

    started = time.perf_counter()
    assessments = assess(config, by_mineral, wgi, as_of=AS_OF)
    series = {a.mineral: detector_series(a, as_of=AS_OF) for a in assessments}
    assess_s = time.perf_counter() - started
    points = sum(len(s) for per in series.values() for s in per.values())
    print(f"assess {len(assessments)} minerals + build series ({points:,} points): "
          f"{assess_s * 1000:.0f} ms")

    rules = effective_rules(config.rules, config.mineral_ids)
    report("configured rules", rules, series)
    for extra in EXTRA_RULES:
        spec = RulesFile.model_validate({"rules": [extra]})
        report(f"all minerals x {extra['detector']['kind']}",
               effective_rules(spec, config.mineral_ids), series)


def report(label: str, rules: list, series: dict) -> None:
    cold, warm = [], []
    for _ in range(3):
        cache = DetectorCache()
        started = time.perf_counter()
        signals = evaluate_rules(rules, series, as_of=AS_OF, now=NOW, cache=cache)
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        evaluate_rules(rules, series, as_of=AS_OF, now=NOW, cache=cache)
        warm.append(time.perf_counter() - started)
    firing = sum(1 for s in signals if s.firing)
    print(f"{label:<36} {len(rules):>4} rule x mineral  fit+score {statistics.median(cold):.3f} s"
          f"  cached {statistics.median(warm):.3f} s  ({cache.fits} fits, {firing} firing)")


if __name__ == "__main__":
    main()
