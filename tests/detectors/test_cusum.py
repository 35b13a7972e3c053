"""CusumDetector: two-sided tabular CUSUM on standardised values."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import CusumDetector

# Baseline with mean 10 and standard deviation 1 (population).
BASELINE = np.array([9.0, 11.0] * 8).reshape(-1, 1)


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


def fired(values: list[float], *, k: float = 0.5, h: float = 5.0) -> list[int]:
    detector = CusumDetector(k=k, h=h).fit(BASELINE)
    return (detector.predict(column(*values)) == -1).astype(int).tolist()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # The baseline itself never accumulates: each +1/-1 is inside the allowance k.
        pytest.param([9, 11] * 6, [0] * 12, id="in-control"),
        # Flat at the mean: nothing to accumulate.
        pytest.param([10] * 10, [0] * 10, id="flat"),
        # A step of +2 sigma adds 1.5 per row: 1.5, 3, 4.5, 6 > 5 fires 4 rows into the step.
        pytest.param([10, 10, 12, 12, 12, 12, 12], [0, 0, 0, 0, 0, 1, 1], id="step-up"),
        # The same downward: the lower sum catches it.
        pytest.param([10, 8, 8, 8, 8, 8], [0, 0, 0, 0, 1, 1], id="step-down"),
        # A single 4-sigma spike adds 3.5 < 5 and then drains: no alarm.
        pytest.param([10, 14, 10, 10, 10], [0, 0, 0, 0, 0], id="spike-absorbed"),
        # A 6-sigma spike alone exceeds h + k and fires on that row only.
        pytest.param([10, 16, 10, 10], [0, 1, 0, 0], id="big-spike"),
        # A drift of +0.25 sigma per row from +0.5 sigma: the upper sum grows 0, 0.25, 0.75,
        # 1.5, 2.5, 3.75, 5.25 and fires on the 7th row, though no row is beyond 1.75 sigma.
        pytest.param(
            [10 + 0.25 * i for i in range(2, 13)],
            [0] * 6 + [1] * 5,
            id="slow-drift",
        ),
    ],
)
def test_fires(values: list[float], expected: list[int]) -> None:
    assert fired(values) == expected


def test_learns_baseline_mean_and_std() -> None:
    detector = CusumDetector().fit(BASELINE)
    np.testing.assert_allclose(detector.mean_, [10.0])
    np.testing.assert_allclose(detector.std_, [1.0])
    assert detector.offset_ == -5.0


def test_scores_are_minus_the_larger_sum() -> None:
    detector = CusumDetector(k=0.5, h=5.0).fit(BASELINE)
    # upper: 1.5, 3.0, 2.5 (z=0 drains k), lower stays 0
    np.testing.assert_allclose(detector.score_samples(column(12, 12, 10)), [-1.5, -3.0, -2.5])
    np.testing.assert_allclose(detector.decision_function(column(12, 12, 10)), [3.5, 2.0, 2.5])


def test_keeps_firing_while_shifted_and_clears_after_return() -> None:
    shifted = [12.0] * 6 + [10.0] * 12  # sums to 9 after the shift, drains 0.5 per row
    flags = fired(shifted)
    assert flags[3:6] == [1, 1, 1]
    assert flags[6:13] == [1] * 7  # 8.5, 8.0, ..., 5.5
    assert flags[13:] == [0] * 5  # 5.0 is not above h; then it keeps draining


def test_smaller_h_fires_sooner() -> None:
    values = [12.0] * 5
    assert fired(values, h=2.0) == [0, 1, 1, 1, 1]
    assert fired(values, h=5.0) == [0, 0, 0, 1, 1]


def test_constant_baseline_fires_on_any_change() -> None:
    detector = CusumDetector().fit(column(*[50.0] * 12))
    assert detector.predict(column(50.0, 50.0)).tolist() == [1, 1]
    assert detector.predict(column(50.0, 50.5)).tolist() == [1, -1]


def test_several_columns_take_the_worst() -> None:
    baseline = np.column_stack([BASELINE[:, 0], 100 + 10 * (BASELINE[:, 0] - 10)])
    detector = CusumDetector().fit(baseline)
    X = np.array([[10.0, 100.0], [10.0, 130.0], [10.0, 100.0]])
    np.testing.assert_allclose(detector.score_samples(X), [0.0, -2.5, -2.0])
