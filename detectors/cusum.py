"""Two-sided tabular CUSUM: detects a sustained shift of the level away from a baseline."""

from __future__ import annotations

import numpy as np

from detectors._base import BaseDetector
from detectors._params import check_real
from detectors._scale import nonzero_scale


class CusumDetector(BaseDetector):
    """Fire when the cumulative deviation from the baseline mean exceeds ``h`` std units.

    ``fit`` learns the baseline mean and standard deviation of each column. Scoring
    standardises the rows, ``z = (x - mean_) / std_``, and runs Page's two-sided tabular
    CUSUM along them in order, starting from 0 at the first row of the call::

        C+[i] = max(0, C+[i-1] + z[i] - k)      C-[i] = max(0, C-[i-1] - z[i] - k)

    The score of row ``i`` is ``-max(C+[i], C-[i])`` over the columns, and ``offset_ = -h``,
    so a row fires while either sum is above ``h``. The sums are not reset after an alarm:
    the detector keeps firing while the shift persists and clears once the level has been
    back near the baseline long enough for the sum to drain (about ``k`` per row).
    Single spikes are absorbed unless they alone exceed ``h + k`` standard deviations.

    Parameters
    ----------
    k : float, default=0.5
        Allowance (slack) per row in standard deviations, ``>= 0``; about half the shift
        to detect (0.5 targets a one-standard-deviation shift).
    h : float, default=5.0
        Decision interval in standard deviations, ``> 0``. With ``k=0.5, h=5`` the
        in-control average run length is about 465 rows and a 1-sigma shift is caught
        after about 10 rows.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Baseline mean of each column.
    std_ : ndarray of shape (n_features,)
        Baseline standard deviation of each column (a constant column gets a tiny one,
        so any change from it fires).
    offset_ : float
        ``-h``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: 12 rows of baseline (a year of monthly data); a shorter baseline gives a
    standard deviation too noisy to standardise with. Rows passed to ``score_samples`` must be
    consecutive points in time. NaN and infinite values are rejected with a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import CusumDetector
    >>> baseline = np.array([[10.0], [11.0], [9.0], [10.0], [11.0], [9.0]])
    >>> det = CusumDetector(k=0.5, h=4.0).fit(baseline)
    >>> recent = np.array([[10.0], [12.0], [12.0], [12.0], [12.0]])
    >>> det.predict(recent)
    array([ 1,  1,  1, -1, -1])
    """

    min_history = 12

    def __init__(self, *, k: float = 0.5, h: float = 5.0) -> None:
        self.k = k
        self.h = h

    def _check_params(self) -> None:
        """Validate the parameters."""
        check_real(self, "k", self.k, low=0.0)
        check_real(self, "h", self.h, low=0.0, strict=True)

    def fit(self, X: object, y: object = None) -> CusumDetector:
        """Learn the baseline mean and standard deviation of each column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Baseline (in-control) history of the series.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : CusumDetector
            The fitted detector.
        """
        self._check_params()
        return self._fit_array(self._validate_fit_input(X))

    def _fit_array(self, X: np.ndarray) -> CusumDetector:
        self._check_params()
        self.mean_ = X.mean(axis=0)
        self.std_ = nonzero_scale(X.std(axis=0), self.mean_)
        self._k = float(self.k)
        self.offset_ = -float(self.h)
        return self

    def score_samples(self, X: object) -> np.ndarray:
        """Minus the larger of the upper and lower CUSUM at each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Consecutive points in time.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Lower is more abnormal; the worst column of each row.
        """
        return self._score_array(self._validate_score_input(X))

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        z = (X - self.mean_) / self.std_
        upper = _lindley(z - self._k)
        lower = _lindley(-z - self._k)
        return -np.max(np.maximum(upper, lower), axis=1)


def _lindley(increments: np.ndarray) -> np.ndarray:
    """``C[i] = max(0, C[i-1] + increments[i])`` with ``C[-1] = 0``, along axis 0.

    Closed form of the recursion: the running sum minus its running minimum (taken with
    the empty prefix, 0), which avoids a Python loop over the rows.
    """
    total = np.cumsum(increments, axis=0)
    floor = np.minimum(np.minimum.accumulate(total, axis=0), 0.0)
    return total - floor
