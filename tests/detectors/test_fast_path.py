"""The checked fast path (``fit_checked``/``decision_checked``) equals the validating API.

The replay calls the fast path on arrays built by ``monitor.rules.evaluate.build_matrix``
(2-D, float64, finite); these tests prove it learns and answers exactly what ``fit`` and
``decision_function`` do, for every kind and on many shapes of data.
"""

from __future__ import annotations

import numpy as np
import pytest

from detectors import (
    CusumDetector,
    RateOfChangeDetector,
    RobustZScoreDetector,
    StalenessDetector,
    ThresholdDetector,
)

CASES = [
    ThresholdDetector(thresholds=[50, 75], hysteresis=3, levels=["high", "critical"]),
    ThresholdDetector(thresholds=[0.2, -0.1], direction="below"),
    ThresholdDetector(thresholds=[75]),
    CusumDetector(k=0.5, h=4.0),
    RobustZScoreDetector(threshold=3.0),
    StalenessDetector(tolerance=1.5),
    StalenessDetector(max_age=40.0),
    RateOfChangeDetector(window=3, max_change=0.3),
    RateOfChangeDetector(window=2, max_change=0.1, change="log", direction="up"),
    RateOfChangeDetector(window=1, max_change=2.0, change="diff", direction="down"),
]


def _state(detector: object) -> dict[str, object]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v)
            for k, v in vars(detector).items() if k.endswith("_") or k.startswith("_")}


def _data(seed: int, rows: int, columns: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = 50 + 20 * rng.standard_normal((rows, columns)).cumsum(axis=0) / np.sqrt(rows)
    X[rng.random((rows, columns)) < 0.2] = 60.0  # ties and constant stretches
    return np.ascontiguousarray(np.abs(X) + 0.5, dtype=np.float64)


@pytest.mark.parametrize("detector", CASES, ids=lambda d: repr(d))
@pytest.mark.parametrize("seed", range(6))
def test_the_fast_path_learns_and_answers_as_the_public_api(detector, seed: int) -> None:
    rows = [1, 3, 12, 40, 200, 801][seed]
    for columns in (1, 2):
        X = _data(seed, max(rows, detector.min_history), columns)
        public = type(detector)(**detector.get_params()).fit(X)
        fast = type(detector)(**detector.get_params()).fit_checked(X)
        np.testing.assert_equal(_state(fast), _state(public))  # NaN equals NaN here
        assert fast.n_features_in_ == public.n_features_in_ == columns
        probe = _data(seed + 100, max(rows, detector.min_history), columns)
        for rows_in in (X, probe, X[-1:], probe[-1:]):
            np.testing.assert_array_equal(fast.decision_checked(rows_in),
                                          public.decision_function(rows_in))
            np.testing.assert_array_equal(public.decision_checked(rows_in),
                                          public.decision_function(rows_in))
        if isinstance(detector, ThresholdDetector):
            np.testing.assert_array_equal(fast.predict_level_checked(probe),
                                          public.predict_level(probe))


def test_the_public_api_still_validates() -> None:
    with pytest.raises(ValueError, match=r"NaN|infinity"):
        ThresholdDetector(thresholds=[1.0]).fit([[np.nan]])
    fitted = CusumDetector().fit(_data(0, 20, 1))
    with pytest.raises(ValueError, match="features"):
        fitted.decision_function(_data(0, 20, 2))


@pytest.mark.parametrize("detector", [d for d in CASES if not getattr(d, "fit_reads_values",
                                                                       True)],
                         ids=lambda d: repr(d))
def test_a_detector_whose_fit_reads_no_values_learns_the_same_from_any_data(detector) -> None:
    """``fit_reads_values = False`` (the replay then keeps one fit per width): fits on other
    data of the same width, checked or not, leave the very same state."""
    for columns in (1, 2):
        states = [_state(type(detector)(**detector.get_params()).fit(_data(seed, rows, columns)))
                  for seed, rows in ((0, 1), (1, 7), (2, 300))]
        states.append(_state(type(detector)(**detector.get_params()).fit_checked(
            -_data(3, 40, columns))))
        for state in states[1:]:
            np.testing.assert_equal(state, states[0])


@pytest.mark.parametrize("detector", [d for d in CASES if isinstance(d, ThresholdDetector)]
                         + [ThresholdDetector(thresholds=[50, 60, 75], hysteresis=12.5)],
                         ids=lambda d: repr(d))
@pytest.mark.parametrize("seed", range(4))
def test_the_last_level_is_the_last_of_predict_level(detector, seed: int) -> None:
    """``last_level_checked`` (a rule's level: the last row's) equals ``predict_level``'s last
    row, for every prefix of a series crossing the thresholds both ways, with ties on them."""
    rng = np.random.default_rng(seed)
    values = 50 + 30 * np.sin(np.arange(120) / 7.0) + 8 * rng.standard_normal(120)
    values[rng.random(120) < 0.1] = 50.0  # exactly on a threshold
    values[rng.random(120) < 0.1] = 47.0  # exactly on a hysteresis floor
    for columns in (1, 2):
        X = np.ascontiguousarray(np.column_stack([values] * columns)
                                 + np.arange(columns) * 5.0)
        fitted = type(detector)(**detector.get_params()).fit(X)
        for end in range(1, len(X) + 1):
            assert fitted.last_level_checked(X[:end]) == fitted.predict_level(X[:end])[-1]
    fitted = type(detector)(**detector.get_params()).fit(values.reshape(-1, 1))
    for value in (-1e9, -0.0, 0.2, -0.1, 47.0, 50.0, 75.0, 1e9):
        # one row (scored without the array maths) as the first row of two (scored with it:
        # the latch starts released, so the first row is held only where it enters)
        two = fitted.decision_function(np.array([[value], [0.0]]))
        np.testing.assert_array_equal(fitted.decision_checked(np.array([[value]])), two[:1])
