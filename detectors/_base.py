"""The scoring contract every critmon detector shares: ``decision = score - offset_ < 0`` fires."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class BaseDetector(OutlierMixin, BaseEstimator):
    """Base class: scikit-learn outlier-detector API built on ``score_samples`` and ``offset_``.

    Subclasses implement ``fit`` (which must set ``offset_``) and ``score_samples``
    (lower means more abnormal). This class derives ``decision_function`` and ``predict``
    from them, so that ``decision_function(X) < 0`` exactly where ``predict(X) == -1``.

    Input is validated with :func:`sklearn.utils.validation.validate_data`: NaN and
    infinite values are rejected with a ``ValueError``; the calling layer is expected to
    drop (and count) missing points before it calls a detector.
    """

    # Rows of history the detector needs before its answer means something; read it through
    # ``detectors.required_history``. Subclasses override it (a class attribute or a property).
    min_history: int = 1

    def _validate_fit_input(self, X: object) -> np.ndarray:
        """Validate ``X`` for ``fit``: 2-D, finite, float64; records ``n_features_in_``."""
        return validate_data(self, X, dtype=np.float64)

    def _validate_score_input(self, X: object) -> np.ndarray:
        """Check the detector is fitted and ``X`` matches the fitted number of features."""
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, reset=False)

    def decision_function(self, X: object) -> np.ndarray:
        """Signed distance to the firing boundary: negative values fire.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are consecutive points in time.

        Returns
        -------
        decision : ndarray of shape (n_samples,)
            ``score_samples(X) - offset_``.
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X: object) -> np.ndarray:
        """Return -1 for rows where the detector fires and +1 elsewhere.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are consecutive points in time.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            -1 where ``decision_function(X) < 0``, else +1.
        """
        return np.where(self.decision_function(X) < 0, -1, 1)

    def score_samples(self, X: object) -> np.ndarray:  # pragma: no cover - abstract
        """Raw normality score per row; lower means more abnormal."""
        raise NotImplementedError
