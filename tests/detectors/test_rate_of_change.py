"""RateOfChangeDetector: change of a level series over ``window`` rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detectors import RateOfChangeDetector


def column(*values: float) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


def fired(params: dict[str, Any], values: list[float]) -> list[int]:
    X = column(*values)
    return (RateOfChangeDetector(**params).fit(X).predict(X) == -1).astype(int).tolist()


@pytest.mark.parametrize(
    ("params", "values", "expected"),
    [
        # A flat price never fires.
        pytest.param({}, [100] * 6, [0] * 6, id="flat"),
        # A +50 % step fires for the `window` rows whose base is still before the step.
        pytest.param(
            {"window": 2}, [100, 100, 100, 150, 150, 150], [0, 0, 0, 1, 1, 0], id="step-up"
        ),
        # A one-row spike fires on the spike and again when it becomes the base (a fall).
        pytest.param({"window": 1}, [100, 100, 200, 100, 100], [0, 0, 1, 1, 0], id="spike"),
        # ...but with direction="up" only the rise counts.
        pytest.param(
            {"window": 1, "direction": "up"},
            [100, 100, 200, 100, 100],
            [0, 0, 1, 0, 0],
            id="spike-up-only",
        ),
        # A slow drift of +5 %/row stays under 30 % over 3 rows (about 15.8 %)...
        pytest.param({}, [100 * 1.05**i for i in range(8)], [0] * 8, id="slow-drift"),
        # ...but crosses it over 6 rows (about 34 %).
        pytest.param(
            {"window": 6},
            [100 * 1.05**i for i in range(8)],
            [0] * 6 + [1, 1],
            id="slow-drift-long-window",
        ),
        # A 40 % fall fires with "down" and "both" but not with "up".
        pytest.param({"direction": "down"}, [100, 100, 100, 60], [0, 0, 0, 1], id="fall-down"),
        pytest.param({"direction": "up"}, [100, 100, 100, 60], [0, 0, 0, 0], id="fall-up"),
        # Exactly max_change does not fire (strict, like every detector).
        pytest.param({"window": 1}, [100, 130], [0, 0], id="equal-is-not-above"),
        # Log change: log(130/100) = 0.262 stays under 0.3, log(140/100) = 0.336 does not.
        pytest.param({"window": 1, "change": "log"}, [100, 130, 182], [0, 0, 1], id="log-change"),
        # "diff" measures points, e.g. import reliance going from 0 % to 40 %.
        pytest.param(
            {"window": 1, "change": "diff", "max_change": 25},
            [0, 0, 40, 45],
            [0, 0, 1, 0],
            id="diff-from-zero",
        ),
        # A zero base has no relative change: scored as no change with "pct".
        pytest.param({"window": 1}, [0, 40, 45], [0, 0, 0], id="pct-zero-base"),
        # Fewer rows than window + 1: nothing can be scored, nothing fires.
        pytest.param({"window": 3}, [100, 500, 900], [0, 0, 0], id="too-short"),
    ],
)
def test_fires(params: dict[str, Any], values: list[float], expected: list[int]) -> None:
    assert fired(params, values) == expected


def test_scores_are_the_negated_change_and_the_first_rows_are_zero() -> None:
    X = column(100, 110, 120, 90)
    detector = RateOfChangeDetector(window=2, max_change=0.3).fit(X)
    np.testing.assert_allclose(detector.score_samples(X), [0, 0, -0.2, -(20 / 110)])
    np.testing.assert_allclose(detector.decision_function(X), [0.3, 0.3, 0.1, 0.3 - 20 / 110])


def test_pct_change_uses_the_size_of_a_negative_base() -> None:
    X = column(-100, -50)  # e.g. a net-export balance moving up by half its size
    detector = RateOfChangeDetector(window=1, direction="up").fit(X)
    np.testing.assert_allclose(detector.score_samples(X), [0, -0.5])


def test_several_columns_take_the_largest_move() -> None:
    X = np.array([[100.0, 10.0], [110.0, 20.0], [100.0, 10.0]])
    detector = RateOfChangeDetector(window=1).fit(X)
    np.testing.assert_allclose(detector.score_samples(X), [0, -1.0, -0.5])


@pytest.mark.parametrize("values", [[100, 0, 50], [100, -5, 50]], ids=["zero", "negative"])
def test_log_change_rejects_non_positive_levels(values: list[float]) -> None:
    detector = RateOfChangeDetector(change="log").fit(column(1, 2))
    with pytest.raises(ValueError, match="strictly positive"):
        detector.score_samples(column(*values))
    with pytest.raises(ValueError, match="strictly positive"):
        RateOfChangeDetector(change="log").fit(column(*values))
