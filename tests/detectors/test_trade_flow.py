"""TradeCollapseDetector and UnitValueJumpDetector: the trailing-median rules, row by row."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import TradeCollapseDetector, UnitValueJumpDetector, build_detector

BASE = [4800.0, 5000.0, 4600.0, 4900.0, 5100.0, 4700.0, 5200.0, 4800.0, 4900.0, 5000.0,
        4750.0, 4850.0]


def _col(values: list[float]) -> np.ndarray:
    return np.array(values, dtype=float).reshape(-1, 1)


def test_a_month_of_nothing_fires_against_the_median() -> None:
    X = _col([*BASE, 0.0])
    det = TradeCollapseDetector().fit(X)
    assert det.decision_function(X)[-1] == pytest.approx(-0.5)
    assert list(det.predict(X)) == [1] * 12 + [-1]


def test_a_dip_above_the_limit_does_not_fire() -> None:
    X = _col([*BASE, 2600.0])  # 2600 / 4850 = 0.54 > 0.5
    assert TradeCollapseDetector().fit(X).predict(X)[-1] == 1


def test_months_needs_the_whole_run_down() -> None:
    one_low = _col([*BASE, 0.0])
    two_low = _col([*BASE, 0.0, 100.0])
    back_up = _col([*BASE, 0.0, 4900.0])
    det = TradeCollapseDetector(months=2)
    assert det.fit(one_low).predict(one_low)[-1] == 1
    assert det.fit(two_low).predict(two_low)[-1] == -1
    assert det.fit(back_up).predict(back_up)[-1] == 1


def test_the_baseline_excludes_the_run() -> None:
    # With months=3 the three low months must not drag the median down with them.
    X = _col([*BASE, 10.0, 10.0, 10.0])
    det = TradeCollapseDetector(months=3, drop=0.9).fit(X)
    assert det.decision_function(X)[-1] == pytest.approx(10.0 / np.median(BASE) - 0.1)


def test_a_flow_that_never_existed_cannot_collapse() -> None:
    X = _col([0.0] * 12 + [0.0])
    det = TradeCollapseDetector().fit(X)
    assert det.score_samples(X)[-1] == 1.0
    assert det.predict(X)[-1] == 1


def test_too_little_baseline_scores_as_no_change() -> None:
    X = _col([5000.0, 4800.0, 0.0])
    det = TradeCollapseDetector(min_periods=6).fit(X)
    assert list(det.score_samples(X)) == [1.0, 1.0, 1.0]
    assert det.min_history == 7


@pytest.mark.parametrize(("params", "name"), [
    ({"drop": 0.0}, "drop"), ({"drop": 1.0}, "drop"), ({"months": 0}, "months"),
    ({"window": 3, "min_periods": 4}, "min_periods"),
])
def test_collapse_parameters_are_checked(params: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=repr(name)):
        build_detector("trade_collapse", params)


def test_unit_value_jump_up_and_down() -> None:
    base = [300.0, 310.0, 295.0, 305.0, 300.0, 302.0]
    up = _col([*base, 600.0])
    down = _col([*base, 150.0])
    both = UnitValueJumpDetector()
    assert both.fit(up).predict(up)[-1] == -1
    assert both.fit(down).predict(down)[-1] == -1
    only_up = UnitValueJumpDetector(direction="up")
    assert only_up.fit(down).predict(down)[-1] == 1
    assert only_up.fit(up).decision_function(up)[-1] == pytest.approx(
        0.405 - np.log(600.0 / 301.0))


def test_unit_value_ignores_months_without_a_price() -> None:
    X = _col([300.0, 0.0, 305.0, 300.0, 0.0, 302.0, 310.0, 298.0, 0.0])
    det = UnitValueJumpDetector(min_periods=6).fit(X)
    assert det.score_samples(X)[-1] == 0.0  # a zero has no unit value: no change
    assert set(det.predict(X)) == {1}
