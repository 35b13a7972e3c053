"""Fixed level thresholds with hysteresis: the value itself is the alarm."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors._base import BaseDetector
from detectors._params import check_option, check_real

DIRECTIONS = ("above", "below")


class ThresholdDetector(BaseDetector):
    """Fire when a value crosses fixed thresholds; report which level it reached.

    Made for indicators whose value already means something: a supply-risk score of
    50/75, a 3-month price change of 0.30/0.60, a series age in days. Thresholds are
    strict: with ``direction="above"`` a row fires when its value is *greater than* the
    first threshold (``decision_function < 0``, as everywhere in critmon).

    Rows are consecutive points in time. With ``hysteresis > 0`` a level, once reached, is
    kept until the value falls to ``threshold - hysteresis`` or below (mirrored for
    ``"below"``), so a value oscillating around a threshold does not flap. This state lives
    only within one call's rows: every call starts below all thresholds, so pass the recent
    history, not just the newest point. ``score_samples`` follows the same hysteresis for the
    first threshold, so ``predict(X) == -1`` exactly where ``predict_level(X) > 0``.

    With several columns each is judged on its own and the most severe one wins.
    Nothing is learnt from the data in ``fit``: it validates the parameters and records
    the number of features.

    Parameters
    ----------
    thresholds : float or sequence of float, default=(0.0,)
        Level thresholds from the least to the most severe level: strictly increasing
        for ``direction="above"``, strictly decreasing for ``"below"``.
    direction : {"above", "below"}, default="above"
        Fire on values above (or below) the thresholds.
    hysteresis : float, default=0.0
        Margin (in the units of the value) by which the value must move back past a
        threshold before the level it gave is dropped. Must be ``>= 0``.
    levels : sequence of str, default=None
        Names of the levels, one per threshold (e.g. ``["high", "critical"]``), for
        evidence in alerts. ``None`` names them ``level_1``, ``level_2``, ...

    Attributes
    ----------
    thresholds_ : ndarray of shape (n_levels,)
        The validated thresholds, as floats.
    levels_ : tuple of str
        Name of each level; level ``k`` (as returned by ``predict_level``) is
        ``levels_[k - 1]``.
    offset_ : float
        ``decision_function = score_samples - offset_``; equals ``-thresholds_[0]`` for
        ``"above"`` and ``thresholds_[0]`` for ``"below"``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: 1 row (``min_history``); nothing is estimated from the data.
    NaN and infinite values are rejected with a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import ThresholdDetector
    >>> X = np.array([[10.0], [55.0], [80.0], [73.0], [60.0], [48.0], [45.0]])
    >>> det = ThresholdDetector(thresholds=[50, 75], hysteresis=3, levels=["high", "critical"])
    >>> det.fit(X).predict_level(X)
    array([0, 1, 2, 2, 1, 1, 0])
    >>> det.predict(X)
    array([ 1, -1, -1, -1, -1, -1,  1])
    """

    min_history = 1
    #: ``fit`` reads only the number of columns of ``X``, never its values: a caller may reuse
    #: a fitted detector for any data of that width (tests/detectors/test_fast_path.py).
    fit_reads_values = False

    def __init__(
        self,
        *,
        thresholds: float | Sequence[float] = (0.0,),
        direction: str = "above",
        hysteresis: float = 0.0,
        levels: Sequence[str] | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.direction = direction
        self.hysteresis = hysteresis
        self.levels = levels

    def _check_params(self) -> tuple[np.ndarray, tuple[str, ...]]:
        """Validate the parameters; return the thresholds array and the level names."""
        check_option(self, "direction", self.direction, DIRECTIONS)
        check_real(self, "hysteresis", self.hysteresis, low=0.0)
        thresholds = _check_thresholds(self)
        return thresholds, _check_levels(self, len(thresholds))

    def fit(self, X: object, y: object = None) -> ThresholdDetector:
        """Validate the parameters and record the number of features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Values of the indicator; only their shape is used.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : ThresholdDetector
            The fitted detector.
        """
        self._check_params()
        return self._fit_array(self._validate_fit_input(X))

    def _fit_array(self, X: np.ndarray) -> ThresholdDetector:
        thresholds, levels = self._check_params()
        self._sign = 1.0 if self.direction == "above" else -1.0
        self._hysteresis = float(self.hysteresis)
        self.thresholds_ = thresholds
        self.levels_ = levels
        self.offset_ = -self._sign * float(thresholds[0])
        return self

    def score_samples(self, X: object) -> np.ndarray:
        """Negated value (``"above"``) or value (``"below"``), shifted while a level is held.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are consecutive points in time.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Lower is more abnormal; the worst column of each row.
        """
        return self._score_array(self._validate_score_input(X))

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        if X.shape == (1, 1):  # one value (a replay's decision on the latest row): no latch
            value = self._sign * float(X[0, 0])
            held = value > self._sign * float(self.thresholds_[0])
            return np.array([-(value + self._hysteresis * held)])
        oriented = self._sign * X
        held_first = self._held(oriented)[:, :, 0]
        return np.min(-(oriented + self._hysteresis * held_first), axis=1)

    def predict_level(self, X: object) -> np.ndarray:
        """Level reached at each row: 0 below every threshold, k once the k-th is crossed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are consecutive points in time; hysteresis is applied along them.

        Returns
        -------
        levels : ndarray of int of shape (n_samples,)
            The highest level held by any column at each row.
        """
        return self.predict_level_checked(self._validate_score_input(X))

    def predict_level_checked(self, X: np.ndarray) -> np.ndarray:
        """``predict_level`` on an array already known to be valid (see ``fit_checked``)."""
        return self._held(self._sign * X).sum(axis=2).max(axis=1)

    def last_level_checked(self, X: np.ndarray) -> int:
        """``predict_level_checked(X)[-1]``: the level reached at the last row (a rule's
        level), on an array already known to be valid. For one column it is found without
        scoring every row: with no hysteresis from the last value alone, else by walking back
        to the last row where each level was entered or left (the latch's state)."""
        if X.shape[1] != 1 or not len(X):
            return int(self.predict_level_checked(X)[-1])
        sign, margin = self._sign, self._hysteresis
        thresholds = [sign * float(t) for t in self.thresholds_]
        last = sign * float(X[-1, 0])
        if margin == 0.0 or len(X) == 1:
            return sum(last > t for t in thresholds)
        values = (sign * X[:, 0]).tolist()
        level = 0
        for threshold in thresholds:
            floor = threshold - margin
            for value in reversed(values):
                if value > threshold:  # entered here, held since: left on no later row
                    level += 1
                    break
                if value <= floor:  # left here, and not entered since
                    break
        return level

    def _held(self, oriented: np.ndarray) -> np.ndarray:
        """Boolean (n_samples, n_features, n_levels): is each level held at each row?"""
        values = oriented[:, :, np.newaxis]
        thresholds = self._sign * self.thresholds_
        enter = values > thresholds
        if self._hysteresis == 0.0 or len(enter) == 1:
            return enter  # no latch, or a latch over one row: held where it enters
        return _latch(enter, values <= thresholds - self._hysteresis)


def _latch(enter: np.ndarray, leave: np.ndarray) -> np.ndarray:
    """Set/reset latch along axis 0: held where the last ``enter`` is after the last ``leave``.

    ``enter`` and ``leave`` never hold on the same row (hysteresis >= 0), and the latch
    starts released, so a row is held iff some earlier-or-same row entered and no row since
    then left. Vectorised with running maxima of the row indices instead of a Python loop.
    """
    n_samples = enter.shape[0]
    rows = np.arange(n_samples).reshape((n_samples,) + (1,) * (enter.ndim - 1))
    last_enter = np.maximum.accumulate(np.where(enter, rows, -1), axis=0)
    last_leave = np.maximum.accumulate(np.where(leave, rows, -1), axis=0)
    return last_enter > last_leave


def _check_thresholds(owner: ThresholdDetector) -> np.ndarray:
    """Thresholds as a 1-D float array, ordered from the least to the most severe level."""
    order = "increasing" if owner.direction == "above" else "decreasing"
    problem = (
        f"The 'thresholds' parameter of ThresholdDetector must be a non-empty list of finite "
        f"numbers, strictly {order} for direction={owner.direction!r} (least severe level "
        f"first); got {owner.thresholds!r}."
    )
    try:
        thresholds = np.atleast_1d(np.asarray(owner.thresholds, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(problem) from exc
    sign = 1.0 if owner.direction == "above" else -1.0
    if (
        thresholds.ndim != 1
        or thresholds.size == 0
        or not np.all(np.isfinite(thresholds))
        or np.any(np.diff(sign * thresholds) <= 0)
    ):
        raise ValueError(problem)
    return thresholds


def _check_levels(owner: ThresholdDetector, n_levels: int) -> tuple[str, ...]:
    """Level names: the given ones (one distinct string per threshold) or defaults."""
    if owner.levels is None:
        return tuple(f"level_{k}" for k in range(1, n_levels + 1))
    names = owner.levels
    if (
        isinstance(names, str)
        or not isinstance(names, Sequence)
        or len(names) != n_levels
        or not all(isinstance(name, str) and name for name in names)
        or len(set(names)) != n_levels
    ):
        raise ValueError(
            f"The 'levels' parameter of ThresholdDetector must be None or {n_levels} distinct "
            f"non-empty names, one per threshold; got {names!r}."
        )
    return tuple(names)
