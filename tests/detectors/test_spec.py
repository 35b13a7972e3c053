"""The light parameter spec agrees with the real detectors: names, defaults, verdicts, messages."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

from detectors import DETECTORS, build_detector
from detectors.spec import PARAMS, check_spec


@pytest.mark.parametrize("kind", sorted(DETECTORS))
def test_names_and_defaults_match_the_real_classes(kind: str) -> None:
    class_name, defaults = PARAMS[kind]
    real = DETECTORS[kind]
    assert class_name == real.__name__
    assert defaults == real().get_params(deep=False)


def test_every_kind_is_described() -> None:
    assert set(PARAMS) == set(DETECTORS)


CASES: list[tuple[Any, dict[str, Any]]] = [
    ("threshold", {}), ("threshold", {"thresholds": [50, 75]}),
    ("threshold", {"thresholds": 3}), ("threshold", {"thresholds": True}),
    ("threshold", {"thresholds": [75, 50]}), ("threshold", {"thresholds": [75, 50],
                                                            "direction": "below"}),
    ("threshold", {"thresholds": []}), ("threshold", {"thresholds": "high"}),
    ("threshold", {"thresholds": ["1", "2"]}), ("threshold", {"thresholds": [[1, 2]]}),
    ("threshold", {"thresholds": [1, math.inf]}), ("threshold", {"thresholds": {"a": 1}}),
    ("threshold", {"thresholds": [1, None]}), ("threshold", {"direction": "sideways"}),
    ("threshold", {"hysteresis": -1}), ("threshold", {"hysteresis": True}),
    ("threshold", {"thresholds": [1, 2], "levels": ["a", "b"]}),
    ("threshold", {"thresholds": [1, 2], "levels": ["a", "a"]}),
    ("threshold", {"thresholds": [1, 2], "levels": "ab"}),
    ("threshold", {"thresholds": [1, 2], "levels": ["a", ""]}),
    ("threshold", {"thresholds": [1, 2], "levels": ["a"]}),
    ("rate_of_change", {"window": 0}), ("rate_of_change", {"window": 2.5}),
    ("rate_of_change", {"window": 6, "max_change": 0.5, "direction": "up", "change": "log"}),
    ("rate_of_change", {"change": "ratio"}), ("rate_of_change", {"max_change": math.nan}),
    ("robust_zscore", {"threshold": -1}), ("robust_zscore", {"threshold": 4}),
    ("cusum", {"h": 0}), ("cusum", {"h": 4.0, "k": 0.25}), ("cusum", {"H": 4.0}),
    ("cusum", {"H": 4.0, "K": 1}), ("staleness", {"max_age": 0}),
    ("staleness", {"max_age": 90}), ("staleness", {"tolerance": "x"}),
    ("isolation_forest", {"contamination": 0.02}), ("isolation_forest", {"contamination": 2}),
    ("isolation_forest", {"trees": 5}), ("nope", {}), (["threshold"], {}),
    ("trade_collapse", {}), ("trade_collapse", {"drop": 1.0}), ("trade_collapse", {"drop": 0}),
    ("trade_collapse", {"months": 0}), ("trade_collapse", {"window": 3, "min_periods": 4}),
    ("unit_value_jump", {}), ("unit_value_jump", {"max_change": 0}),
    ("unit_value_jump", {"direction": "sideways"}), ("unit_value_jump", {"window": 0}),
]


def _verdict(check: Any, kind: Any, params: dict[str, Any]) -> str | None:
    try:
        check(kind, params)
    except ValueError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(("kind", "params"), CASES)
def test_the_spec_rejects_what_building_rejects_with_the_same_message(
        kind: Any, params: dict[str, Any]) -> None:
    assert _verdict(check_spec, kind, params) == _verdict(build_detector, kind, params)


def test_the_cases_include_both_verdicts() -> None:
    verdicts = [_verdict(build_detector, kind, params) for kind, params in CASES]
    assert any(v is None for v in verdicts) and sum(v is not None for v in verdicts) > 20


def test_checking_our_own_kinds_loads_neither_scikit_learn_nor_numpy() -> None:
    code = ("import sys\nfrom detectors.spec import check_spec\n"
            "check_spec('threshold', {'thresholds': [50, 75]})\n"
            "print(sorted(m for m in ('sklearn', 'scipy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.strip() == "[]"
