"""Detectors for critmon: small scikit-learn outlier estimators; never imports ``monitor``.

Every detector follows scikit-learn's conventions: keyword-only hyper-parameters stored
unchanged by ``__init__``, ``fit(X)`` returning ``self``, ``score_samples`` (lower is more
abnormal), ``decision_function = score_samples - offset_`` (below 0 fires) and ``predict``
(-1 fires, +1 does not). Rows of ``X`` are points in time, columns are features. Our
detectors reject NaN and infinite values with a ``ValueError``; scikit-learn's
IsolationForest silently accepts them. Either way the calling layer drops (and counts)
non-finite points before it calls a detector. See docs/detectors.md.
"""

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

__all__ = [
    "DETECTORS",
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
