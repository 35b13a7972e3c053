"""Each detector kind's parameters and their checks, without importing any estimator.

:func:`check_spec` rejects exactly what :func:`detectors.build_detector` rejects, with the same
message, but needs neither scikit-learn nor NumPy: a config can be validated (``critmon run``
validates its config at start and on every reload) without the 100 MB that importing
``sklearn.base`` costs. ``tests/detectors/test_spec.py`` checks that the names and defaults here
match each class's ``get_params()`` and that both checks agree on good and bad values.

Estimators used straight from scikit-learn (IsolationForest) have their own constraint
machinery; for them :func:`check_spec` checks the parameter names here and the values by
building the estimator (so scikit-learn is loaded only by a config that uses one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from numbers import Real
from typing import Any

from detectors._params import check_int, check_option, check_real

THRESHOLD_DIRECTIONS = ("above", "below")
RATE_DIRECTIONS = ("both", "up", "down")
RATE_CHANGES = ("pct", "log", "diff")

#: kind -> (class name, {parameter: default}), as ``Class().get_params()`` returns them.
PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "threshold": ("ThresholdDetector", {"direction": "above", "hysteresis": 0.0, "levels": None,
                                        "thresholds": (0.0,)}),
    "rate_of_change": ("RateOfChangeDetector", {"change": "pct", "direction": "both",
                                                "max_change": 0.3, "window": 3}),
    "robust_zscore": ("RobustZScoreDetector", {"threshold": 3.5}),
    "cusum": ("CusumDetector", {"h": 5.0, "k": 0.5}),
    "staleness": ("StalenessDetector", {"max_age": None, "tolerance": 1.5}),
    "trade_collapse": ("TradeCollapseDetector", {"drop": 0.5, "months": 1, "min_periods": 6,
                                                 "window": 12}),
    "unit_value_jump": ("UnitValueJumpDetector", {"direction": "both", "max_change": 0.405,
                                                  "min_periods": 6, "window": 12}),
    "isolation_forest": ("IsolationForest", {
        "bootstrap": False, "contamination": "auto", "max_features": 1.0,
        "max_samples": "auto", "n_estimators": 100, "n_jobs": None, "random_state": None,
        "verbose": 0, "warm_start": False}),
}


class _Owner:
    """Stands for the detector in error messages (which name ``type(owner).__name__``)."""


def _owner(class_name: str) -> object:
    return type(class_name, (_Owner,), {})()


def _threshold(owner: object, p: Mapping[str, Any]) -> None:
    check_option(owner, "direction", p["direction"], THRESHOLD_DIRECTIONS)
    check_real(owner, "hysteresis", p["hysteresis"], low=0.0)
    n_levels = _check_thresholds(p["thresholds"], p["direction"])
    _check_levels(p["levels"], n_levels)


def _check_thresholds(value: object, direction: str) -> int:
    """As ``threshold._check_thresholds``: a non-empty, strictly ordered list of finite numbers."""
    order = "increasing" if direction == "above" else "decreasing"
    problem = (
        f"The 'thresholds' parameter of ThresholdDetector must be a non-empty list of finite "
        f"numbers, strictly {order} for direction={direction!r} (least severe level "
        f"first); got {value!r}."
    )
    items = [value] if isinstance(value, Real) else value
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence) or not items:
        raise ValueError(problem)
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError) as exc:
        raise ValueError(problem) from exc
    sign = 1.0 if direction == "above" else -1.0
    if not all(math.isfinite(v) for v in numbers) or any(
            sign * (b - a) <= 0 for a, b in pairwise(numbers)):
        raise ValueError(problem)
    return len(numbers)


def _check_levels(names: object, n_levels: int) -> None:
    if names is None:
        return
    if (isinstance(names, str) or not isinstance(names, Sequence) or len(names) != n_levels
            or not all(isinstance(name, str) and name for name in names)
            or len(set(names)) != n_levels):
        raise ValueError(
            f"The 'levels' parameter of ThresholdDetector must be None or {n_levels} distinct "
            f"non-empty names, one per threshold; got {names!r}."
        )


def _rate_of_change(owner: object, p: Mapping[str, Any]) -> None:
    check_int(owner, "window", p["window"], low=1)
    check_real(owner, "max_change", p["max_change"], low=0.0)
    check_option(owner, "direction", p["direction"], RATE_DIRECTIONS)
    check_option(owner, "change", p["change"], RATE_CHANGES)


def _robust_zscore(owner: object, p: Mapping[str, Any]) -> None:
    check_real(owner, "threshold", p["threshold"], low=0.0)


def _cusum(owner: object, p: Mapping[str, Any]) -> None:
    check_real(owner, "k", p["k"], low=0.0)
    check_real(owner, "h", p["h"], low=0.0, strict=True)


def _staleness(owner: object, p: Mapping[str, Any]) -> None:
    if p["max_age"] is not None:
        check_real(owner, "max_age", p["max_age"], low=0.0, strict=True)
    check_real(owner, "tolerance", p["tolerance"], low=0.0, strict=True)


def check_trade_collapse(owner: object, p: Mapping[str, Any]) -> None:
    """``TradeCollapseDetector``'s parameters (the class calls this too)."""
    drop = check_real(owner, "drop", p["drop"], low=0.0, strict=True)
    if drop >= 1.0:
        raise ValueError(f"The 'drop' parameter of {type(owner).__name__} must be a finite "
                         f"real number in (0, 1); got {p['drop']!r}.")
    check_int(owner, "months", p["months"], low=1)
    _check_baseline(owner, p)


def check_unit_value_jump(owner: object, p: Mapping[str, Any]) -> None:
    """``UnitValueJumpDetector``'s parameters (the class calls this too)."""
    check_real(owner, "max_change", p["max_change"], low=0.0, strict=True)
    _check_baseline(owner, p)
    check_option(owner, "direction", p["direction"], RATE_DIRECTIONS)


def _check_baseline(owner: object, p: Mapping[str, Any]) -> None:
    window = check_int(owner, "window", p["window"], low=1)
    periods = check_int(owner, "min_periods", p["min_periods"], low=1)
    if periods > window:
        raise ValueError(f"The 'min_periods' parameter of {type(owner).__name__} must be "
                         f"at most window={window}; got {p['min_periods']!r}.")


_CHECKS: dict[str, Callable[[object, Mapping[str, Any]], None]] = {
    "threshold": _threshold, "rate_of_change": _rate_of_change,
    "robust_zscore": _robust_zscore, "cusum": _cusum, "staleness": _staleness,
    "trade_collapse": check_trade_collapse, "unit_value_jump": check_unit_value_jump,
}


def check_spec(kind: object, params: Mapping[str, Any] | None = None) -> None:
    """Raise ``ValueError`` (as ``build_detector`` would) unless ``kind`` and ``params`` build."""
    params = dict(params or {})
    try:
        class_name, defaults = PARAMS[kind]  # type: ignore[index]
    except (KeyError, TypeError):  # TypeError: an unhashable kind, e.g. a list from YAML
        known = ", ".join(sorted(PARAMS))
        raise ValueError(f"unknown detector kind {kind!r}; known: {known}") from None
    valid = sorted(defaults)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(
            f"unknown parameter{plural} {names} for detector kind {kind!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    check = _CHECKS.get(str(kind))
    if check is None:  # a scikit-learn estimator: its own checks, so build it
        from detectors.registry import build_detector

        build_detector(str(kind), params)
        return
    check(_owner(class_name), {**defaults, **params})
