"""Time the backtest replay on the shipped data and print its summary (a benchmark, not a test).

Replays 2010-01-01..2024-08-31 (plus the 120-day warm-up) for every mineral in
config/minerals.yaml with the bundled MCS, Pink Sheet and WGI data, evaluating at each data
release date, then scores the alerts against the bundled events (monitor/data/events.csv).
Target: under 60 s on the dev machine.

Usage: .venv/bin/python bench/bench_backtest.py [--from 2010-01-01] [--to 2024-08-31]
                                                [--min-level high]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

from monitor.backtest.events import bundled_events_text, parse_events
from monitor.backtest.inputs import bundled_data
from monitor.backtest.scoring import run_backtest
from monitor.config.load import default_config_dir, load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", default="2010-01-01")
    parser.add_argument("--to", dest="end", default="2024-08-31")
    parser.add_argument("--min-level", default="high")
    args = parser.parse_args()
    config = load_config(default_config_dir())
    began = time.perf_counter()
    data = bundled_data(config)
    loaded = time.perf_counter() - began
    events, warnings = parse_events(bundled_events_text(), config.minerals.minerals)
    result, scored = run_backtest(config, data, events, start=date.fromisoformat(args.start),
                                  end=date.fromisoformat(args.end), min_level=args.min_level)
    total = time.perf_counter() - began
    print(f"load bundled data   {loaded:6.2f} s")
    print(f"replay + scoring    {result.seconds:6.2f} s  ({len(result.dates)} evaluations x "
          f"{len(result.minerals)} minerals, {len(result.transitions)} alert transitions)")
    print(f"wall time total     {total:6.2f} s  (target < 60 s)")
    print(f"events warnings     {len(warnings)}: " + "; ".join(warnings))
    print(json.dumps(scored.summary(), indent=2))
    for row in (s.row() for s in scored.per_event):
        if row["detected"]:
            print(f"  {row['id']} {row['kind']:24} first alert {row['first_alert_date']} "
                  f"lead {row['lead_days_announced']:+d} d ({row['rule']} {row['level']} on "
                  f"{row['alert_mineral']})")


if __name__ == "__main__":
    main()
