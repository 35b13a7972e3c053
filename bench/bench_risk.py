"""Time the indicators and the supply-risk score on the shipped data (a benchmark, not a test).

Full evaluation: for every mineral in config/minerals.yaml (63 entries), the indicators, the
market context and the score at one date, plus the monthly price-change series (1, 3 and 12
months) and the 12-month volatility series over the whole history (Pink Sheet 1960-2025), as
the evaluate job feeds them to the detectors. The governance table is built inside the timing.

Incremental evaluation: one new monthly copper price arrives; only copper is recomputed
(its indicators, series, market context and score), as the evaluate job does after a poll.

Loading the bundled files is timed separately: the daemon reads from its store instead.

Usage: .venv/bin/python bench/bench_risk.py [--as-of 2026-03-01] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from monitor.config.load import Config, load_config
from monitor.config.rules import RiskModelSpec
from monitor.core.models import Observation
from monitor.risk.indicators import (
    GovernanceTable,
    build_governance,
    compute_all_indicators,
    compute_indicators,
)
from monitor.risk.market import compute_market_context
from monitor.risk.prices import price_change_series, price_history, volatility_series
from monitor.risk.score import RiskScore, score_mineral
from monitor.sources.bundled import (
    PINKSHEET_COLUMNS,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
    wgi_published_at,
)
from monitor.sources.wgi import WgiEstimate

FULL_TARGET_S = 1.0
INCREMENTAL_TARGET_S = 0.050
Series = list[tuple[date, float]]


def timed(function: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def price_series(history: Series) -> dict[str, Series]:
    """The indicator series the detectors consume, over the whole history."""
    return {
        "price_change_1m": price_change_series(history, 1),
        "price_change_3m": price_change_series(history, 3),
        "price_change_12m": price_change_series(history, 12),
        "price_volatility": volatility_series(history),
    }


def evaluate_all(config: Config, by_mineral: Mapping[str, Sequence[Observation]],
                 wgi: Sequence[WgiEstimate], as_of: date) -> tuple[dict[str, RiskScore], int]:
    governance = build_governance(wgi)
    minerals = config.minerals.minerals
    values = compute_all_indicators([(m.id, m.group, m.members) for m in minerals], by_mineral,
                                    governance, as_of=as_of)
    scores, points = {}, 0
    for mineral, indicators in values.items():
        history = price_history(by_mineral.get(mineral, ()))
        points += sum(len(s) for s in price_series(history).values())
        scores[mineral] = score_mineral(indicators, config.rules.risk, as_of=as_of,
                                        market=compute_market_context(history))
    return scores, points


def evaluate_one(mineral: str, rows: Sequence[Observation], governance: GovernanceTable,
                 spec: RiskModelSpec, as_of: date) -> RiskScore:
    indicators = compute_indicators(mineral, rows, governance, as_of=as_of)
    history = price_history(rows)
    price_series(history)
    return score_mineral(indicators, spec, as_of=as_of, market=compute_market_context(history))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 3, 1))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    out = sys.stdout.write

    start = time.perf_counter()
    config = load_config()
    minerals = config.minerals.minerals
    observations = load_bundled_observations([(m.id, m.usgs) for m in minerals])
    observations += load_bundled_pinksheet(PINKSHEET_COLUMNS)
    wgi = [w for w in load_bundled_wgi() if wgi_published_at(w.year) <= args.as_of]
    by_mineral: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        if o.published_at is None or o.published_at <= args.as_of:
            by_mineral[o.mineral].append(o)
    load_s = time.perf_counter() - start
    out(f"loaded {len(observations)} observations, {len(wgi)} WGI estimates, "
        f"{len(minerals)} minerals in {load_s:.2f} s (not part of the figures below)\n")

    full_s, result = timed(lambda: evaluate_all(config, by_mineral, wgi, args.as_of),
                           args.repeat)
    scores, points = result  # type: ignore[misc]
    out(f"full evaluation as of {args.as_of}: {full_s * 1000:.1f} ms "
        f"({len(scores)} minerals, {points} price-series points; target < "
        f"{FULL_TARGET_S * 1000:.0f} ms) {'OK' if full_s < FULL_TARGET_S else 'SLOW'}\n")

    copper = by_mineral["copper"]
    latest = max((o for o in copper if o.frequency.value == "M"), key=lambda o: o.period)
    new = replace(latest, period=date(2025, 12, 1), value=(latest.value or 0) * 1.02,
                  published_at=args.as_of)
    rows = [*copper, new]
    governance = build_governance(wgi)
    inc_s, score = timed(lambda: evaluate_one("copper", rows, governance, config.rules.risk,
                                              args.as_of), args.repeat)
    out(f"incremental (one new copper price, {len(rows)} copper observations): "
        f"{inc_s * 1000:.1f} ms (target < {INCREMENTAL_TARGET_S * 1000:.0f} ms) "
        f"{'OK' if inc_s < INCREMENTAL_TARGET_S else 'SLOW'}\n")
    out(f"copper score {score.score:.1f} ({score.level}), method "  # type: ignore[union-attr]
        f"{score.method}\n")  # type: ignore[union-attr]

    ranked = sorted(scores.values(), key=lambda s: (s.score is None, -(s.score or 0.0)))
    out("\ntop 15:\n")
    for rank, s in enumerate(ranked[:15], start=1):
        factors = " ".join(f"{f.name[0].upper()}={'-' if f.value is None else f'{f.value:.2f}'}"
                           for f in s.factors)
        out(f"{rank:3d} {s.mineral:14s} {s.score:5.1f} {s.level:9s} "
            f"confidence {s.confidence:.1f}  {factors}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
