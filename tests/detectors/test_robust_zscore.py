"""RobustZScoreDetector: median/MAD z-scores on returns."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import RobustZScoreDetector

# Monthly returns: median 0, MAD 0.01, so one robust z-unit is 0.014826.
RETURNS = np.array([0.01, -0.01, 0.0, 0.02, -0.02, 0.01, -0.01, 0.0, 0.005, -0.005])


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


@pytest.mark.parametrize(
    ("scored", "expected"),
    [
        # Ordinary returns stay inside 3.5 robust z-units (0.0519).
        pytest.param([0.0, 0.02, -0.03, 0.05], [1, 1, 1, 1], id="ordinary"),
        # A spike of +25 % (about 17 z-units) fires; so does a crash.
        pytest.param([0.25, -0.25], [-1, -1], id="spike-and-crash"),
        # Just either side of the 3.5 z boundary.
        pytest.param([0.0518, 0.0520, -0.0520], [1, -1, -1], id="boundary"),
    ],
)
def test_predict(scored: list[float], expected: list[int]) -> None:
    detector = RobustZScoreDetector().fit(column(*RETURNS))
    assert detector.predict(column(*scored)).tolist() == expected


def test_learns_median_and_mad_scale() -> None:
    detector = RobustZScoreDetector().fit(column(*RETURNS))
    np.testing.assert_allclose(detector.center_, [0.0])
    np.testing.assert_allclose(detector.scale_, [1.4826 * 0.01])
    np.testing.assert_allclose(detector.score_samples(column(0.1)), [-0.1 / 0.014826])


def test_outliers_in_the_fit_do_not_widen_the_scale() -> None:
    contaminated = np.append(RETURNS, [0.9, -0.8])  # two wild months in the history
    detector = RobustZScoreDetector().fit(column(*contaminated))
    assert detector.predict(column(0.25)).tolist() == [-1]


def test_several_features_take_the_largest_z() -> None:
    X = np.column_stack([RETURNS, 10 * RETURNS])
    detector = RobustZScoreDetector(threshold=3.5).fit(X)
    np.testing.assert_allclose(detector.score_samples([[0.0, 0.5]]), [-0.5 / 0.14826])
    assert detector.predict([[0.02, 0.2], [0.2, 0.02]]).tolist() == [1, -1]


def test_mostly_flat_history_falls_back_to_mean_absolute_deviation() -> None:
    flat = column(*([0.0] * 8 + [0.04, -0.04]))  # MAD is 0: 8 of 10 are the median
    detector = RobustZScoreDetector().fit(flat)
    np.testing.assert_allclose(detector.scale_, [1.253314 * 0.008])
    assert detector.predict(column(0.0, 0.03, 0.04)).tolist() == [1, 1, -1]


def test_constant_history_fires_on_any_change() -> None:
    detector = RobustZScoreDetector().fit(column(*[0.0] * 10))
    assert detector.predict(column(0.0, 0.001, -0.001)).tolist() == [1, -1, -1]
