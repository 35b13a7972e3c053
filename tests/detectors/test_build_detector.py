"""Building detectors from config: kinds, parameter names, parameter values, history needs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sklearn.ensemble import IsolationForest

from detectors import (
    DETECTORS,
    CusumDetector,
    RateOfChangeDetector,
    StalenessDetector,
    ThresholdDetector,
    build_detector,
    insufficient_history,
    required_history,
)


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        pytest.param(
            "threshold",
            {"thresholds": [0.3, 0.6], "levels": ["high", "critical"]},
            ThresholdDetector(thresholds=[0.3, 0.6], levels=["high", "critical"]),
            id="threshold-from-rules-yaml",
        ),
        pytest.param("cusum", {}, CusumDetector(), id="no-params-gives-defaults"),
        pytest.param("cusum", None, CusumDetector(), id="none-params-gives-defaults"),
        pytest.param(
            "isolation_forest",
            {"contamination": 0.05, "random_state": 0},
            IsolationForest(contamination=0.05, random_state=0),
            id="sklearn-estimator-straight",
        ),
    ],
)
def test_build_detector_sets_params(
    kind: str, params: dict[str, Any] | None, expected: object
) -> None:
    detector = build_detector(kind, params)
    assert type(detector) is type(expected)
    assert detector.get_params() == expected.get_params()


@pytest.mark.parametrize("kind", sorted(DETECTORS))
def test_no_parameter_is_named_kind(kind: str) -> None:
    # A rule's block is {kind: <detector kind>, **params}: a parameter called "kind" could
    # never be set from config.
    assert "kind" not in DETECTORS[kind]().get_params()


def test_build_detector_returns_a_new_instance_each_time() -> None:
    assert build_detector("cusum", {}) is not build_detector("cusum", {})


@pytest.mark.parametrize("kind", ["x", "Threshold", "", ["threshold"]])
def test_unknown_kind_lists_the_known_ones(kind: object) -> None:
    known = ", ".join(sorted(DETECTORS))
    with pytest.raises(
        ValueError, match=re.escape(f"unknown detector kind {kind!r}; known: {known}")
    ):
        build_detector(kind, {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        pytest.param(
            "cusum",
            {"H": 4.0},
            "unknown parameter 'H' for detector kind 'cusum'; valid parameters: h, k",
            id="one-unknown",
        ),
        pytest.param(
            "staleness",
            {"tolerance": 2, "cadence": 30, "age": 5},
            "unknown parameters 'age', 'cadence' for detector kind 'staleness'; "
            "valid parameters: max_age, tolerance",
            id="several-unknown",
        ),
        pytest.param(
            "threshold",
            {"thresholds": [1], "for": "30d"},
            "unknown parameter 'for' for detector kind 'threshold'; valid parameters: "
            "direction, hysteresis, levels, thresholds",
            id="rule-key-inside-detector-block",
        ),
    ],
)
def test_unknown_parameter_lists_the_valid_ones(
    kind: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_detector(kind, params)


@pytest.mark.parametrize(
    ("kind", "params", "names"),
    [
        pytest.param("threshold", {"thresholds": [0.6, 0.3]}, "'thresholds'", id="descending"),
        pytest.param(
            "threshold",
            {"thresholds": [0.3, 0.6], "direction": "below"},
            "'thresholds'",
            id="ascending-for-below",
        ),
        pytest.param("threshold", {"thresholds": []}, "'thresholds'", id="no-thresholds"),
        pytest.param("threshold", {"thresholds": "high"}, "'thresholds'", id="not-numbers"),
        pytest.param("threshold", {"direction": "up"}, "'direction'", id="bad-direction"),
        pytest.param("threshold", {"hysteresis": -1}, "'hysteresis'", id="negative-hysteresis"),
        pytest.param(
            "threshold",
            {"thresholds": [1, 2], "levels": ["high"]},
            "'levels'",
            id="levels-count-mismatch",
        ),
        pytest.param(
            "threshold",
            {"thresholds": [1, 2], "levels": ["high", "high"]},
            "'levels'",
            id="duplicate-level-names",
        ),
        pytest.param("rate_of_change", {"window": 0}, "'window'", id="zero-window"),
        pytest.param("rate_of_change", {"window": 2.5}, "'window'", id="fractional-window"),
        pytest.param("rate_of_change", {"change": "ratio"}, "'change'", id="bad-change"),
        pytest.param("rate_of_change", {"max_change": -0.1}, "'max_change'", id="negative"),
        pytest.param("robust_zscore", {"threshold": "3"}, "'threshold'", id="string-number"),
        pytest.param("robust_zscore", {"threshold": True}, "'threshold'", id="bool-number"),
        pytest.param("cusum", {"h": 0}, "'h'", id="zero-h"),
        pytest.param("cusum", {"k": float("nan")}, "'k'", id="nan-k"),
        pytest.param("staleness", {"max_age": 0}, "'max_age'", id="zero-max-age"),
        pytest.param("staleness", {"tolerance": -1}, "'tolerance'", id="negative-tolerance"),
        pytest.param(
            "isolation_forest", {"contamination": 0.9}, "'contamination'", id="sklearn-own-check"
        ),
    ],
)
def test_invalid_values_are_rejected_at_build_time(
    kind: str, params: dict[str, Any], names: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(names)):
        build_detector(kind, params)


@pytest.mark.parametrize(
    ("detector", "required"),
    [
        pytest.param(ThresholdDetector(), 1, id="threshold"),
        pytest.param(RateOfChangeDetector(window=3), 4, id="rate-of-change-window-3"),
        pytest.param(RateOfChangeDetector(window=12), 13, id="rate-of-change-window-12"),
        pytest.param(DETECTORS["robust_zscore"](), 8, id="robust-zscore"),
        pytest.param(CusumDetector(), 12, id="cusum"),
        pytest.param(StalenessDetector(), 3, id="staleness-learns-cadence"),
        pytest.param(StalenessDetector(max_age=45.0), 1, id="staleness-fixed-limit"),
        pytest.param(IsolationForest(), 16, id="isolation-forest"),
    ],
)
def test_required_history(detector: object, required: int) -> None:
    assert required_history(detector) == required  # type: ignore[arg-type]
    assert insufficient_history(detector, required - 1) == required  # type: ignore[arg-type]
    assert insufficient_history(detector, required) is None  # type: ignore[arg-type]
