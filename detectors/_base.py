"""The scoring contract every critmon detector shares: ``decision = score - offset_ < 0`` fires."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class BaseDetector(OutlierMixin, BaseEstimator):
    """Base class: scikit-learn outlier-detector API built on ``score_samples`` and ``offset_``.

    Subclasses implement ``_check_params``, ``_fit_array`` (which must set ``offset_``) and
    ``_score_array`` (lower means more abnormal); ``fit`` and ``score_samples`` validate the input
    and call them. This class derives ``decision_function`` and ``predict``
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

    # ------------------------------------------------------------------ checked fast path
    # ``fit`` and ``score_samples`` validate their input (scikit-learn convention) and then call
    # ``_fit_array`` / ``_score_array``. A caller that has already built a 2-D, finite float64
    # array (``monitor.rules.evaluate.build_matrix`` does) may call ``fit_checked`` and
    # ``decision_checked`` instead and skip the validation, which costs more than the maths on
    # short series; tests/detectors/test_fast_path.py proves both paths give the same results.

    def fit_checked(self, X: np.ndarray) -> BaseDetector:
        """``fit`` on an array already known to be 2-D, float64, finite, with rows."""
        self.n_features_in_ = X.shape[1]
        return self._fit_array(X)

    def decision_checked(self, X: np.ndarray) -> np.ndarray:
        """``decision_function`` on an array already known to be valid for this detector."""
        return self._score_array(X) - self.offset_

    def _check_params(self) -> object:  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_array(self, X: np.ndarray) -> BaseDetector:  # pragma: no cover - abstract
        """Check the parameters and learn from validated ``X``."""
        raise NotImplementedError

    def _score_array(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """``score_samples`` of validated ``X``."""
        raise NotImplementedError

    def fit(self, X: object, y: object = None) -> BaseDetector:
        """Check the parameters, validate ``X`` and learn from it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are consecutive points in time.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : BaseDetector
            The fitted detector.
        """
        self._check_params()
        return self._fit_array(self._validate_fit_input(X))

    def score_samples(self, X: object) -> np.ndarray:
        """Raw normality score per row; lower means more abnormal.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows are consecutive points in time.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        return self._score_array(self._validate_score_input(X))

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
