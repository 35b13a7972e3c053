"""Detectors for critmon: small scikit-learn outlier estimators; never imports ``monitor``.

Every detector follows scikit-learn's conventions: keyword-only hyper-parameters stored
unchanged by ``__init__``, ``fit(X)`` returning ``self``, ``score_samples`` (lower is more
abnormal), ``decision_function = score_samples - offset_`` (below 0 fires) and ``predict``
(-1 fires, +1 does not). Rows of ``X`` are points in time, columns are features. Our
detectors reject NaN and infinite values with a ``ValueError``; scikit-learn's
IsolationForest silently accepts them. Either way the calling layer drops (and counts)
non-finite points before it calls a detector. See docs/detectors.md.

The names below are imported on first use (PEP 562), so that ``detectors._params`` and
``detectors.spec`` can be used without loading scikit-learn (and SciPy) at all: the daemon
validates its config with them and keeps its resident memory small.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detectors._base import BaseDetector
    from detectors.cusum import CusumDetector
    from detectors.rate_of_change import RateOfChangeDetector
    from detectors.registry import (
        DETECTORS,
        build_detector,
        check_params,
        insufficient_history,
        required_history,
    )
    from detectors.robust_zscore import RobustZScoreDetector
    from detectors.staleness import StalenessDetector
    from detectors.threshold import ThresholdDetector
    from detectors.trade_flow import TradeCollapseDetector, UnitValueJumpDetector

_WHERE = {
    "BaseDetector": "detectors._base",
    "CusumDetector": "detectors.cusum",
    "RateOfChangeDetector": "detectors.rate_of_change",
    "RobustZScoreDetector": "detectors.robust_zscore",
    "StalenessDetector": "detectors.staleness",
    "ThresholdDetector": "detectors.threshold",
    "TradeCollapseDetector": "detectors.trade_flow",
    "UnitValueJumpDetector": "detectors.trade_flow",
    "DETECTORS": "detectors.registry",
    "build_detector": "detectors.registry",
    "check_params": "detectors.registry",
    "insufficient_history": "detectors.registry",
    "required_history": "detectors.registry",
}

__all__ = [
    "DETECTORS",
    "BaseDetector",
    "CusumDetector",
    "RateOfChangeDetector",
    "RobustZScoreDetector",
    "StalenessDetector",
    "ThresholdDetector",
    "TradeCollapseDetector",
    "UnitValueJumpDetector",
    "build_detector",
    "check_params",
    "insufficient_history",
    "required_history",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'detectors' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
