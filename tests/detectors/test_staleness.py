"""StalenessDetector: cadence learnt from observation times, ages scored against it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors import StalenessDetector

MONTHLY = [0.0, 31.0, 59.0, 90.0, 120.0, 151.0, 181.0]  # median gap 30.5 days
WEEKLY = [0.0, 7.0, 14.0, 21.0, 28.0]


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        pytest.param(MONTHLY, 30.5, id="monthly"),
        pytest.param(WEEKLY, 7.0, id="weekly"),
        # Order does not matter: times are sorted before taking gaps.
        pytest.param(WEEKLY[::-1], 7.0, id="unsorted"),
        # A past outage (a 90-day gap) does not move the median cadence.
        pytest.param([0, 30, 60, 150, 180, 210, 240], 30.0, id="gap-in-history"),
        # Duplicate times (the same observation seen twice) are not zero gaps.
        pytest.param([0, 30, 30, 30, 60, 90], 30.0, id="duplicates"),
    ],
)
def test_learns_median_cadence(times: list[float], expected: float) -> None:
    assert StalenessDetector().fit(column(*times)).cadence_ == expected


@pytest.mark.parametrize(
    ("params", "times", "ages", "expected"),
    [
        # Monthly data, limit 1.5 x 30.5 = 45.75 days: fresh, nearly late, late.
        pytest.param({}, MONTHLY, [0, 30, 45.75, 46, 120], [1, 1, 1, -1, -1], id="monthly"),
        # Weekly data goes stale after 10.5 days.
        pytest.param({}, WEEKLY, [7, 10, 11], [1, 1, -1], id="weekly"),
        # A looser tolerance waits longer.
        pytest.param({"tolerance": 3.0}, WEEKLY, [11, 20, 22], [1, 1, -1], id="tolerance"),
        # A fixed max_age overrides the cadence.
        pytest.param({"max_age": 75.0}, MONTHLY, [46, 75, 76], [1, 1, -1], id="max-age"),
        # Future-dated observations (negative age) are fresh.
        pytest.param({}, MONTHLY, [-3], [1], id="negative-age"),
    ],
)
def test_predict(
    params: dict[str, Any], times: list[float], ages: list[float], expected: list[int]
) -> None:
    detector = StalenessDetector(**params).fit(column(*times))
    assert detector.predict(column(*ages)).tolist() == expected


def test_decision_function_is_days_of_slack() -> None:
    detector = StalenessDetector().fit(column(*WEEKLY))
    assert detector.limit_ == 10.5
    assert detector.offset_ == -10.5
    np.testing.assert_allclose(detector.score_samples(column(3, 14)), [-3, -14])
    np.testing.assert_allclose(detector.decision_function(column(3, 14)), [7.5, -3.5])


def test_several_series_share_a_cadence_and_the_oldest_counts() -> None:
    times = np.column_stack([MONTHLY, np.array(MONTHLY) + 2.0])
    detector = StalenessDetector().fit(times)
    assert detector.cadence_ == 30.5
    assert detector.predict([[10.0, 50.0], [10.0, 20.0]]).tolist() == [-1, 1]


@pytest.mark.parametrize("times", [[5.0], [5.0, 5.0, 5.0]], ids=["single", "all-equal"])
def test_cadence_needs_two_distinct_times(times: list[float]) -> None:
    with pytest.raises(ValueError, match="two distinct observation times"):
        StalenessDetector().fit(column(*times))
    # With a fixed max_age there is nothing to learn, so one observation is enough.
    detector = StalenessDetector(max_age=40.0).fit(column(*times))
    assert np.isnan(detector.cadence_)
    assert detector.predict(column(39, 41)).tolist() == [1, -1]
