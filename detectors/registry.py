"""The detector kinds config files can name, and how to build one from its parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest

from detectors.cusum import CusumDetector
from detectors.rate_of_change import RateOfChangeDetector
from detectors.robust_zscore import RobustZScoreDetector
from detectors.staleness import StalenessDetector
from detectors.threshold import ThresholdDetector
from detectors.trade_flow import TradeCollapseDetector, UnitValueJumpDetector

DETECTORS: dict[str, type[BaseEstimator]] = {
    "threshold": ThresholdDetector,
    "rate_of_change": RateOfChangeDetector,
    "robust_zscore": RobustZScoreDetector,
    "cusum": CusumDetector,
    "staleness": StalenessDetector,
    "isolation_forest": IsolationForest,
    "trade_collapse": TradeCollapseDetector,
    "unit_value_jump": UnitValueJumpDetector,
}

# Estimators used straight from scikit-learn carry no ``min_history``. IsolationForest: with
# fewer than 16 rows each tree is at most 4 splits deep, so path lengths barely separate
# normal from abnormal points and the scores are mostly noise.
_FOREIGN_MIN_HISTORY: dict[type, int] = {IsolationForest: 16}


def build_detector(kind: str, params: Mapping[str, Any] | None = None) -> BaseEstimator:
    """Build an unfitted detector of ``kind`` with ``params``, checking both.

    Parameters
    ----------
    kind : str
        A key of ``DETECTORS``, e.g. ``"threshold"``.
    params : mapping, default=None
        Hyper-parameters, as in a rule's ``detector:`` block without ``kind``.

    Returns
    -------
    detector : estimator
        A new, unfitted detector.

    Raises
    ------
    ValueError
        For an unknown kind, an unknown parameter name (the message lists the valid
        ones) or an invalid parameter value.

    Examples
    --------
    >>> from detectors import build_detector
    >>> build_detector("cusum", {"h": 4.0})
    CusumDetector(h=4.0)
    >>> build_detector("cusum", {"H": 4.0})
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter 'H' for detector kind 'cusum'; valid parameters: h, k
    """
    params = dict(params or {})
    detector = _detector_class(kind)()
    valid = sorted(detector.get_params(deep=False))
    unknown = sorted(set(params) - set(valid))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise ValueError(
            f"unknown parameter{plural} {names} for detector kind {kind!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    detector.set_params(**params)
    check_params(detector)
    return detector


def check_params(detector: BaseEstimator) -> None:
    """Validate a detector's hyper-parameter values without fitting it.

    ``fit`` runs the same checks; calling this early lets a config file be rejected before
    any data is loaded. Raises ``ValueError`` naming the parameter.
    """
    check = getattr(detector, "_check_params", None)
    if check is None:
        # scikit-learn's own estimators declare ``_parameter_constraints`` and validate them
        # with this (private, but long-stable) method; skip quietly if it ever disappears.
        check = getattr(detector, "_validate_params", None)
    if check is not None:
        check()


def required_history(detector: BaseEstimator) -> int:
    """Rows of history ``detector`` needs before its answer means something.

    Our detectors state it in their ``min_history`` attribute (it can depend on the
    parameters, e.g. ``window + 1``); estimators used straight from scikit-learn are looked
    up in a table.
    """
    own = getattr(detector, "min_history", None)
    if own is not None:
        return int(own)
    for cls, count in _FOREIGN_MIN_HISTORY.items():
        if isinstance(detector, cls):
            return count
    raise TypeError(f"no minimum history is known for {type(detector).__name__}")


def insufficient_history(detector: BaseEstimator, n_samples: int) -> int | None:
    """Return the rows needed when ``n_samples`` is too few for ``detector``, else None.

    The caller reports it as "insufficient history (n < k)" instead of an alert.

    Examples
    --------
    >>> from detectors import CusumDetector, insufficient_history
    >>> insufficient_history(CusumDetector(), 5)
    12
    >>> insufficient_history(CusumDetector(), 40) is None
    True
    """
    required = required_history(detector)
    return required if n_samples < required else None


def _detector_class(kind: str) -> type[BaseEstimator]:
    try:
        return DETECTORS[kind]
    except (KeyError, TypeError):  # TypeError: an unhashable kind, e.g. a list from YAML
        known = ", ".join(sorted(DETECTORS))
        raise ValueError(f"unknown detector kind {kind!r}; known: {known}") from None
