"""The market context's percentiles: by bisection of the remembered sorted history, equal to the
straightforward count, and the same whether the history was grown month by month or not."""

from __future__ import annotations

import random
from datetime import date

from monitor.risk import market, prices
from monitor.risk.market import _percentile, _ranked_percentile, compute_market_context


def test_the_ranked_percentile_counts_as_the_pass_over_the_history() -> None:
    rng = random.Random(7)
    for size in (1, 2, 5, 40, 301):
        history = [round(rng.uniform(0, 1), 1 if size > 5 else 3) for _ in range(size)]  # ties
        ranked = sorted(history)
        for value in (*history, -1.0, 2.0, 0.5):
            assert _ranked_percentile(value, ranked) == _percentile(value, history)


def _monthly(n: int, seed: int) -> list[tuple[date, float]]:
    rng = random.Random(seed)
    value, points = 100.0, []
    for i in range(n):
        value *= 1.0 + rng.choice((-0.08, -0.02, 0.0, 0.0, 0.03, 0.1))  # repeated changes
        points.append((date(2005 + i // 12, i % 12 + 1, 1), round(value, 2)))
    return points


def test_a_history_grown_month_by_month_gives_the_context_of_a_cold_computation() -> None:
    full = _monthly(150, seed=3)
    grown = []
    market.clear_caches()
    for end in range(2, len(full) + 1):  # each history one month longer: the grown path
        history = full[:end]
        grown.append(compute_market_context(prices.intern_history(tuple(history))))
    for end, context in zip(range(2, len(full) + 1), grown, strict=True):
        market.clear_caches()
        assert compute_market_context(list(full[:end])) == context, end
    assert any(c.mode == "own_history" and c.volatility_percentile is not None for c in grown)
