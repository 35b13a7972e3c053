"""A series that stopped updating: silence is a signal, not calm."""

from __future__ import annotations

import numpy as np

from detectors._base import BaseDetector
from detectors._params import check_real


class StalenessDetector(BaseDetector):
    """Fire when the newest observation is older than the series' cadence allows.

    ``fit`` takes the observation *times* of a series (one column, in days as floats, e.g.
    days since an epoch) and learns its cadence, the median gap between consecutive distinct
    times. ``score_samples`` takes *ages* (days since the last observation, computed by the
    caller at its own ``now``) and scores each as ``-age``. The age limit is ``max_age`` when
    given, else ``tolerance * cadence_``; ``offset_ = -limit_``, so the detector fires when
    ``age > limit_``, and ``decision_function`` is the number of days of slack left
    (negative: days overdue).

    Several columns are treated as several series sharing one cadence: the gaps of all
    columns are pooled for the median, and a row's score is that of its oldest column.

    Parameters
    ----------
    max_age : float, default=None
        Fixed age limit in days, ``> 0``. ``None`` derives it from the learnt cadence.
    tolerance : float, default=1.5
        Multiple of the cadence tolerated before firing when ``max_age`` is None, ``> 0``
        (1.5 on monthly data: fire after about 45 days without a new point).

    Attributes
    ----------
    cadence_ : float
        Median gap in days between consecutive distinct observation times; NaN when fewer
        than two distinct times were given (allowed only with ``max_age``).
    limit_ : float
        Age in days above which the detector fires.
    offset_ : float
        ``-limit_``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: 3 observation times (two gaps, so the cadence is not one possibly odd
    gap) without ``max_age``; 1 with it. Without ``max_age``, ``fit`` raises a ``ValueError``
    when fewer than two distinct times are given. NaN and infinite values are rejected
    with a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import StalenessDetector
    >>> times = np.array([[0.0], [31.0], [59.0], [90.0], [120.0]])
    >>> det = StalenessDetector(tolerance=1.5).fit(times)
    >>> float(det.cadence_), float(det.limit_)
    (30.5, 45.75)
    >>> det.predict([[10.0], [44.0], [60.0]])
    array([ 1,  1, -1])
    """

    def __init__(self, *, max_age: float | None = None, tolerance: float = 1.5) -> None:
        self.max_age = max_age
        self.tolerance = tolerance

    @property
    def min_history(self) -> int:
        """Observation times needed: 3 to learn a cadence, 1 with a fixed ``max_age``."""
        return 3 if self.max_age is None else 1

    def _check_params(self) -> None:
        """Validate the parameters."""
        if self.max_age is not None:
            check_real(self, "max_age", self.max_age, low=0.0, strict=True)
        check_real(self, "tolerance", self.tolerance, low=0.0, strict=True)

    def fit(self, X: object, y: object = None) -> StalenessDetector:
        """Learn the cadence of the series from its observation times.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Observation times in days, in any order; one column per series.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : StalenessDetector
            The fitted detector.
        """
        self._check_params()
        return self._fit_array(self._validate_fit_input(X))

    def _fit_array(self, X: np.ndarray) -> StalenessDetector:
        self._check_params()
        self.cadence_ = _median_gap(X)
        if self.max_age is not None:
            self.limit_ = float(self.max_age)
        elif np.isnan(self.cadence_):
            raise ValueError(
                "StalenessDetector needs at least two distinct observation times to learn a "
                f"cadence; got {X.shape[0]} sample(s). Set max_age to use a fixed limit."
            )
        else:
            self.limit_ = float(self.tolerance) * self.cadence_
        self.offset_ = -self.limit_
        return self

    def score_samples(self, X: object) -> np.ndarray:
        """Minus the age of the oldest column of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Ages in days (time since the last observation of each series).

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Lower is more abnormal (staler).
        """
        return self._score_array(self._validate_score_input(X))

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        return -np.max(X, axis=1)


def _median_gap(times: np.ndarray) -> float:
    """Median positive gap between consecutive times, pooled over columns (NaN if none)."""
    gaps = np.diff(np.sort(times, axis=0), axis=0).ravel()
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if gaps.size else float("nan")
