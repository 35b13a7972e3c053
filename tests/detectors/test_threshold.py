"""ThresholdDetector: levels, direction, hysteresis along the rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors import ThresholdDetector

RISK = {"thresholds": [50, 75], "levels": ["high", "critical"]}
STOCKS = {"thresholds": [0.2, 0.1], "direction": "below"}


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


def levels(params: dict[str, Any], X: np.ndarray) -> list[int]:
    return ThresholdDetector(**params).fit(X).predict_level(X).tolist()


@pytest.mark.parametrize(
    ("params", "values", "expected"),
    [
        # A flat series below every threshold never fires.
        pytest.param(RISK, [20, 20, 20, 20], [0, 0, 0, 0], id="flat-below"),
        # A step from 20 to 60 reaches the first level and stays there.
        pytest.param(RISK, [20, 20, 60, 60, 60], [0, 0, 1, 1, 1], id="step"),
        # A one-row spike fires on that row only when there is no hysteresis.
        pytest.param(RISK, [20, 20, 90, 20, 20], [0, 0, 2, 0, 0], id="spike"),
        # Escalation through both levels, one row at a time.
        pytest.param(RISK, [10, 40, 55, 70, 80, 95], [0, 0, 1, 1, 2, 2], id="escalation"),
        # A slow drift upward crosses the levels where it passes them.
        pytest.param(
            RISK,
            [44, 48, 52, 56, 60, 64, 68, 72, 76, 80],
            [0, 0, 1, 1, 1, 1, 1, 1, 2, 2],
            id="slow-drift",
        ),
        # Thresholds are strict: a value equal to one has not crossed it.
        pytest.param(RISK, [50, 75, 50.001, 75.001], [0, 1, 1, 2], id="equal-is-not-above"),
        # Without hysteresis a value oscillating around 50 flaps on every row...
        pytest.param(RISK, [49, 51, 49, 51, 49, 51], [0, 1, 0, 1, 0, 1], id="flaps-without"),
        # ...with a margin of 3 it is held once reached.
        pytest.param(
            {**RISK, "hysteresis": 3},
            [49, 51, 49, 51, 49, 51],
            [0, 1, 1, 1, 1, 1],
            id="hysteresis-holds",
        ),
        # The level is dropped once the value reaches threshold - hysteresis (47).
        pytest.param({**RISK, "hysteresis": 3}, [51, 48, 47, 49], [1, 1, 0, 0], id="release"),
        # De-escalation steps down one level at a time, each with its own margin.
        pytest.param(
            {**RISK, "hysteresis": 3},
            [80, 73, 72, 71, 60, 48, 46],
            [2, 2, 1, 1, 1, 1, 0],
            id="de-escalation",
        ),
        # Hysteresis never raises a level that was not reached.
        pytest.param({**RISK, "hysteresis": 3}, [49, 74, 73, 49], [0, 1, 1, 1], id="no-upgrade"),
        # "below" mirrors everything: stock-to-use ratio 0.2 (warning) / 0.1 (critical).
        pytest.param(
            {**STOCKS, "hysteresis": 0.03},
            [0.3, 0.15, 0.08, 0.12, 0.14, 0.25],
            [0, 1, 2, 2, 1, 0],
            id="below-with-hysteresis",
        ),
        # A single scalar threshold is accepted.
        pytest.param({"thresholds": 75}, [70, 80], [0, 1], id="scalar-threshold"),
    ],
)
def test_predict_level(params: dict[str, Any], values: list[float], expected: list[int]) -> None:
    assert levels(params, column(*values)) == expected


@pytest.mark.parametrize(
    ("params", "values"),
    [
        pytest.param(RISK, [49, 51, 49, 90, 74], id="no-hysteresis"),
        pytest.param({**RISK, "hysteresis": 3}, [49, 51, 49, 48, 46, 80, 72], id="hysteresis"),
        pytest.param({**STOCKS, "hysteresis": 0.05}, [0.3, 0.19, 0.22, 0.26], id="below"),
    ],
)
def test_predict_fires_exactly_where_a_level_is_held(
    params: dict[str, Any], values: list[float]
) -> None:
    X = column(*values)
    detector = ThresholdDetector(**params).fit(X)
    np.testing.assert_array_equal(detector.predict(X) == -1, detector.predict_level(X) > 0)


@pytest.mark.parametrize(
    ("params", "values", "expected"),
    [
        # Relative to the first threshold: 50 - value.
        pytest.param(RISK, [40, 60, 90], [10, -10, -40], id="above"),
        # While held, relative to threshold - hysteresis: 47 - value.
        pytest.param({**RISK, "hysteresis": 3}, [40, 60, 49], [10, -13, -2], id="held"),
        # "below": value - first threshold.
        pytest.param(STOCKS, [0.5, 0.15], [0.3, -0.05], id="below"),
    ],
)
def test_decision_function_values(
    params: dict[str, Any], values: list[float], expected: list[float]
) -> None:
    X = column(*values)
    decision = ThresholdDetector(**params).fit(X).decision_function(X)
    np.testing.assert_allclose(decision, expected)


def test_several_columns_take_the_worst() -> None:
    X = np.array([[10.0, 60.0], [80.0, 20.0], [30.0, 30.0]])
    detector = ThresholdDetector(**RISK).fit(X)
    assert detector.predict_level(X).tolist() == [1, 2, 0]
    np.testing.assert_allclose(detector.decision_function(X), [-10, -30, 20])


def test_state_does_not_carry_across_calls() -> None:
    detector = ThresholdDetector(**RISK, hysteresis=3).fit(column(0))
    assert detector.predict_level(column(51, 49)).tolist() == [1, 1]
    # The same 49 on its own: nothing before it was reached, so nothing is held.
    assert detector.predict_level(column(49)).tolist() == [0]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param(RISK, ("high", "critical"), id="named"),
        pytest.param({"thresholds": [1, 2, 3]}, ("level_1", "level_2", "level_3"), id="default"),
    ],
)
def test_level_names(params: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert ThresholdDetector(**params).fit(column(0)).levels_ == expected


def test_fit_does_not_change_params() -> None:
    thresholds = [50, 75]
    detector = ThresholdDetector(thresholds=thresholds).fit(column(1))
    assert detector.thresholds is thresholds
    np.testing.assert_array_equal(detector.thresholds_, [50.0, 75.0])
    assert detector.offset_ == -50.0


@pytest.mark.parametrize("direction", ["above", "below"])
def test_one_row_is_held_where_it_enters_as_the_latch_says(direction: str) -> None:
    """``_held`` of a single row skips the latch: over one row, the latch (which starts
    released) holds exactly where the row enters, since entering and leaving exclude each
    other. Checked against the latch itself on both sides of every threshold and margin."""
    from detectors.threshold import _latch

    thresholds = [1.0, 2.0] if direction == "above" else [-1.0, -2.0]
    detector = ThresholdDetector(thresholds=thresholds, hysteresis=0.5,
                                 direction=direction).fit(np.zeros((1, 2)))
    sign = 1.0 if direction == "above" else -1.0
    for value in (-3.0, -2.0, -1.6, -1.0, -0.5, 0.0, 0.5, 1.0, 1.4, 1.5, 1.6, 2.0, 2.4, 3.0):
        oriented = sign * np.array([[value, -value]])
        values = oriented[:, :, np.newaxis]
        bounds = sign * detector.thresholds_
        expected = _latch(values > bounds, values <= bounds - 0.5)
        assert (detector._held(oriented) == expected).all(), value
        assert detector.predict_level(np.array([[value, -value]]))[0] == \
            expected.sum(axis=2).max(axis=1)[0]
