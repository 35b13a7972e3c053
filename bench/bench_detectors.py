"""Time fitting and scoring every detector kind on a workload the size of the real one.

The real workload is about 60 minerals x 5 indicators x 790 monthly points (1960-2025).
Each per-series detector is cloned per mineral x indicator, fitted on the series and
asked for ``decision_function`` and ``predict`` on every row (as a full re-evaluation after
a reload would). IsolationForest works on each mineral's multivariate vectors instead
(790 rows x 5 features), so it is fitted once per mineral.

The "fired" column only shows the detectors did work on the synthetic random walks; it says
nothing about detection quality (the backtest does that).

Usage: .venv/bin/python bench/bench_detectors.py [--minerals 60] [--indicators 5]
       [--points 790] [--repeat 3] [--iforest-estimators 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator, clone

from detectors import build_detector

TARGET_S = 2.0

# One template per kind, with parameters like those in config/rules.yaml.
TEMPLATES: dict[str, dict[str, object]] = {
    "threshold": {"thresholds": [50, 75], "hysteresis": 3, "levels": ["high", "critical"]},
    "rate_of_change": {"window": 3, "max_change": 0.3},
    "robust_zscore": {"threshold": 3.5},
    "cusum": {"k": 0.5, "h": 5.0},
    "staleness": {"tolerance": 1.5},
    "isolation_forest": {"contamination": "auto", "random_state": 0},
}


def make_series(rng: np.random.Generator, n_series: int, n_points: int) -> np.ndarray:
    """Random-walk price levels, shape (n_series, n_points), with a few jumps."""
    returns = rng.normal(0.0, 0.04, size=(n_series, n_points))
    returns[:, n_points // 2] += 0.5  # one shock per series
    return 100.0 * np.exp(np.cumsum(returns, axis=1))


def series_inputs(kind: str, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit and score inputs (n_points, 1) for one series, as the daemon would build them."""
    n_points = levels.shape[0]
    if kind == "staleness":
        times = np.arange(n_points, dtype=float) * 30.44
        return times.reshape(-1, 1), np.linspace(0.0, 90.0, n_points).reshape(-1, 1)
    if kind == "robust_zscore":
        returns = np.diff(np.log(levels), prepend=np.log(levels[0]))
        return returns.reshape(-1, 1), returns.reshape(-1, 1)
    if kind == "threshold":
        score = np.clip(levels / levels.max() * 100.0, 0.0, 100.0)  # a 0-100 risk-like score
        return score.reshape(-1, 1), score.reshape(-1, 1)
    return levels.reshape(-1, 1), levels.reshape(-1, 1)


class Stopwatch:
    """Accumulates fit and score time separately."""

    def __init__(self) -> None:
        self.fit_s = 0.0
        self.score_s = 0.0

    def fit(self, template: BaseEstimator, X: np.ndarray) -> BaseEstimator:
        start = time.perf_counter()
        detector = clone(template).fit(X)
        self.fit_s += time.perf_counter() - start
        return detector

    def score(self, detector: BaseEstimator, X: np.ndarray) -> int:
        """Score every row the way the daemon does; return how many rows fired."""
        start = time.perf_counter()
        firing = detector.decision_function(X) < 0
        self.score_s += time.perf_counter() - start
        return int(np.sum(firing))


def run_series(template: BaseEstimator, kind: str, series: np.ndarray) -> tuple[Stopwatch, int]:
    """Clone, fit and score one detector per series."""
    watch, fired = Stopwatch(), 0
    for levels in series:
        X_fit, X_score = series_inputs(kind, levels)
        fired += watch.score(watch.fit(template, X_fit), X_score)
    return watch, fired


def run_multivariate(
    template: BaseEstimator, series: np.ndarray, n_indicators: int
) -> tuple[Stopwatch, int]:
    """One detector per mineral on its (n_points, n_indicators) matrix of log returns."""
    watch, fired = Stopwatch(), 0
    for mineral in series.reshape(-1, n_indicators, series.shape[1]):
        X = np.diff(np.log(mineral), axis=1, prepend=np.log(mineral[:, :1])).T
        fired += watch.score(watch.fit(template, X), X)
    return watch, fired


def best_of(func: Callable[[], tuple[Stopwatch, int]], repeat: int) -> tuple[Stopwatch, int]:
    """The fastest of ``repeat`` runs (by fit + score time)."""
    runs = [func() for _ in range(repeat)]
    return min(runs, key=lambda run: run[0].fit_s + run[0].score_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minerals", type=int, default=60)
    parser.add_argument("--indicators", type=int, default=5)
    parser.add_argument("--points", type=int, default=790)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--iforest-estimators", type=int, default=100, help="IsolationForest n_estimators"
    )
    args = parser.parse_args()
    TEMPLATES["isolation_forest"]["n_estimators"] = args.iforest_estimators

    series = make_series(np.random.default_rng(0), args.minerals * args.indicators, args.points)
    print(
        f"workload: {args.minerals} minerals x {args.indicators} indicators x {args.points} "
        f"points ({series.shape[0]} series); best of {args.repeat}"
    )
    print(f"{'kind':<18}{'fits':>6}{'fit s':>8}{'score s':>9}{'total s':>9}{'fired':>8}")
    fit_total = score_total = 0.0
    for kind, params in TEMPLATES.items():
        template = build_detector(kind, params)
        if kind == "isolation_forest":
            fits = args.minerals
            watch, fired = best_of(
                lambda t=template: run_multivariate(t, series, args.indicators), args.repeat
            )
        else:
            fits = series.shape[0]
            watch, fired = best_of(lambda t=template, k=kind: run_series(t, k, series), args.repeat)
        fit_total += watch.fit_s
        score_total += watch.score_s
        row_total = watch.fit_s + watch.score_s
        print(
            f"{kind:<18}{fits:>6}{watch.fit_s:>8.3f}{watch.score_s:>9.3f}{row_total:>9.3f}"
            f"{fired:>8}"
        )
    total = fit_total + score_total
    verdict = "within" if total < TARGET_S else "OVER"
    print(
        f"{'total':<18}{'':>6}{fit_total:>8.3f}{score_total:>9.3f}{total:>9.3f}"
        f"   ({verdict} the {TARGET_S:.0f} s target)"
    )


if __name__ == "__main__":
    main()
