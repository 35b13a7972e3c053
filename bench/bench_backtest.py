"""Time the backtest replay against the straightforward reference replay (a benchmark, not a test).

Three figures, each for the production code (monitor.backtest) and for the reference kept in
tests/backtest/reference_replay.py (every date re-assessed from scratch, nothing shared between
dates), with the memoised price maths cleared before each run so both start cold. Each line
prints wall and CPU seconds (the machine is shared: CPU time is what the run itself cost) and the
ratio reference / replay of each:

* ``bundled``: 2010-01-01..2025-12-31 (plus the 120-day warm-up), every mineral of
  config/minerals.yaml, bundled MCS, Pink Sheet and WGI data. Target: under 3 s.
* ``news``: 14 months (2023-01-01..2024-02-29) with 200 synthetic, already classified news
  items (the classifier's cost is not in it: items reach the replay classified once).
  Target: under 2 s.
* ``preview``: ``critmon rules preview`` over the bundled range (the running config and a
  draft with lower price-jump thresholds, both replayed and scored); its reference is the two
  reference replays. Target: under 5 s.

Then scores the bundled run against the bundled events, as before. The reference takes minutes
on the full range; ``--skip-reference`` leaves it out, ``--from/--to`` narrow the ranges.
``--repeat N`` runs each of ours N times (each from cold caches) and prints the best wall and
best CPU time: on a shared machine a single run moves by a fifth.

Usage: .venv/bin/python bench/bench_backtest.py [--from 2010-01-01] [--to 2025-12-31]
                                                [--skip-reference] [--min-level high]
                                                [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (the reference)

from monitor.backtest.events import bundled_events_text, parse_events
from monitor.backtest.inputs import ReplayData, bundled_data
from monitor.backtest.preview import preview
from monitor.backtest.replay import replay
from monitor.backtest.scoring import run_backtest
from monitor.config.load import Config, default_config_dir, load_config
from monitor.risk.market import clear_caches
from tests.backtest.reference_replay import reference_replay
from tests.backtest.synthetic_news import synthetic_news


def timed(run: Callable[[], object], repeat: int = 1) -> tuple[float, float, object]:
    """Best wall and best CPU seconds of ``run()`` over ``repeat`` runs, each from cold caches,
    and what the last returned."""
    best_wall = best_cpu = math.inf
    out: object = None
    for _ in range(repeat):
        clear_caches()
        wall, cpu = time.perf_counter(), time.process_time()
        out = run()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, out


def report(name: str, span: str, ours: tuple[float, float], target: float,
           reference: tuple[float, float] | None) -> None:
    line = (f"{name:8} {span:24} ours {ours[0]:7.2f} s wall {ours[1]:7.2f} s cpu "
            f"(target < {target:g} s)")
    if reference is not None:
        line += (f" | reference {reference[0]:7.2f} s wall {reference[1]:7.2f} s cpu"
                 f" | ratio {reference[0] / ours[0]:5.1f}x wall {reference[1] / ours[1]:5.1f}x cpu")
    print(line, flush=True)


def side_by_side(name: str, config: Config, data: ReplayData, start: date, end: date,
                 target: float, with_reference: bool, repeat: int = 1) -> None:
    wall, cpu, result = timed(lambda: replay(config, data, start, end), repeat)
    reference = None
    if with_reference:
        ref_wall, ref_cpu, _ = timed(lambda: list(reference_replay(config, data, start, end)))
        reference = (ref_wall, ref_cpu)
    dates = len(result.dates)  # type: ignore[attr-defined]
    report(name, f"{start}..{end} {dates}d", (wall, cpu), target, reference)


def draft_config(directory: Path) -> Config:
    """The shipped configuration with the price-jump thresholds lowered (more alerts)."""
    shutil.copytree(default_config_dir(), directory)
    rules = directory / "rules.yaml"
    rules.write_text(rules.read_text().replace("thresholds: [0.262, 0.470]",
                                               "thresholds: [0.095, 0.182]"))
    return load_config(directory)


def preview_side_by_side(config: Config, data: ReplayData, start: date, end: date,
                         with_reference: bool, repeat: int = 1) -> None:
    events, _ = parse_events(bundled_events_text(), config.minerals.minerals)
    with tempfile.TemporaryDirectory() as tmp:
        draft = draft_config(Path(tmp) / "draft")
        wall, cpu, found = timed(lambda: preview(config, draft, data, events, start=start,
                                                 end=end), repeat)
        reference = None
        if with_reference:
            ref_wall, ref_cpu, _ = timed(lambda: [
                list(reference_replay(c, data, start, end)) for c in (config, draft)])
            reference = (ref_wall, ref_cpu)
    changes = f"+{found.gained}/-{found.lost} alerts"  # type: ignore[attr-defined]
    report("preview", f"{start}..{end} {changes}", (wall, cpu), 5.0, reference)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", default="2010-01-01")
    parser.add_argument("--to", dest="end", default="2025-12-31")
    parser.add_argument("--min-level", default="high")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of ours per figure, the best printed (default 1)")
    args = parser.parse_args()
    repeat = max(1, args.repeat)
    config = load_config(default_config_dir())
    began = time.perf_counter()
    data = bundled_data(config)
    print(f"load bundled data {time.perf_counter() - began:6.2f} s")
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    side_by_side("bundled", config, data, start, end, 3.0, not args.skip_reference, repeat)
    news = synthetic_news(config, 200, date(2023, 1, 1), 425)
    with_news = ReplayData(data.observations, data.wgi, data.wgi_published_at, news)
    side_by_side("news", config, with_news, date(2023, 1, 1), date(2024, 2, 29), 2.0,
                 not args.skip_reference, repeat)
    preview_side_by_side(config, data, start, end, not args.skip_reference, repeat)
    events, warnings = parse_events(bundled_events_text(), config.minerals.minerals)
    result, scored = run_backtest(config, data, events, start=start, end=end,
                                  min_level=args.min_level)
    print(f"backtest + scoring {result.seconds:6.2f} s  ({len(result.transitions)} transitions)")
    print(f"events warnings {len(warnings)}: " + "; ".join(warnings))
    print(json.dumps(scored.summary(), indent=2))


if __name__ == "__main__":
    main()
