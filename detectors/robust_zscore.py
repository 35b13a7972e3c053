"""Distance from the fitted median in robust (MAD) standard deviations."""

from __future__ import annotations

import numpy as np

from detectors._base import BaseDetector
from detectors._params import check_real
from detectors._scale import robust_location_scale


class RobustZScoreDetector(BaseDetector):
    """Fire on samples far from the fitted median, in robust (MAD) z-units.

    Meant for returns (e.g. monthly log returns of a price), not for levels: fit on the
    history of returns, score the recent ones. A row's score is minus its largest absolute
    robust z-score over the columns, ``|x - median| / (1.4826 * MAD)``.

    When more than half the fitted values are equal the MAD is 0; the scale then falls back
    to ``1.2533 * mean absolute deviation`` (Iglewicz & Hoaglin), and a column that was
    entirely constant gets a tiny scale, so any departure from that constant fires.

    Parameters
    ----------
    threshold : float, default=3.5
        Robust z-score above which a sample fires (3.5 is Iglewicz & Hoaglin's cut-off).

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        Median of each fitted column.
    scale_ : ndarray of shape (n_features,)
        Robust standard deviation of each fitted column (always > 0).
    offset_ : float
        ``-threshold``, so ``decision_function = threshold - max |z|``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: 8 rows. Below that the median and MAD swing with every new point; with
    8 the MAD still tolerates 3 outliers among the fitted values.
    NaN and infinite values are rejected with a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RobustZScoreDetector
    >>> returns = np.array([[0.01], [-0.02], [0.00], [0.02], [-0.01], [0.01], [0.00], [-0.01]])
    >>> det = RobustZScoreDetector(threshold=3.5).fit(returns)
    >>> det.predict([[0.015], [0.25]])
    array([ 1, -1])
    """

    min_history = 8

    def __init__(self, *, threshold: float = 3.5) -> None:
        self.threshold = threshold

    def _check_params(self) -> None:
        """Validate the parameters."""
        check_real(self, "threshold", self.threshold, low=0.0)

    def fit(self, X: object, y: object = None) -> RobustZScoreDetector:
        """Learn the median and robust scale of each column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Baseline samples (typically returns).
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : RobustZScoreDetector
            The fitted detector.
        """
        self._check_params()
        return self._fit_array(self._validate_fit_input(X))

    def _fit_array(self, X: np.ndarray) -> RobustZScoreDetector:
        self._check_params()
        self.center_, self.scale_ = robust_location_scale(X)
        self.offset_ = -float(self.threshold)
        return self

    def score_samples(self, X: object) -> np.ndarray:
        """Minus the largest absolute robust z-score of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            Lower is more abnormal.
        """
        return self._score_array(self._validate_score_input(X))

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        return -np.max(np.abs(X - self.center_) / self.scale_, axis=1)
