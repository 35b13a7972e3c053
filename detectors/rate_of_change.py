"""Change of a level series over a fixed number of rows."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Tags

from detectors._base import BaseDetector
from detectors._params import check_int, check_option, check_real

DIRECTIONS = ("both", "up", "down")
CHANGES = ("pct", "log", "diff")


class RateOfChangeDetector(BaseDetector):
    """Fire when a level series moved more than ``max_change`` over ``window`` rows.

    ``X`` is the level series itself (e.g. monthly prices), rows in time order. Row ``i`` is
    scored on its change against row ``i - window`` *of the same call*. The first ``window``
    rows have no such predecessor and are scored as "no change" (score 0, never firing):
    pass at least ``window + 1`` rows (``min_history``) to judge the newest one.

    With several columns each is judged on its own and the largest move wins. Nothing is
    learnt from the data in ``fit``: it validates the parameters and records the number
    of features.

    Parameters
    ----------
    window : int, default=3
        Number of rows between the two points compared (3 = three months on monthly data).
    max_change : float, default=0.3
        Largest tolerated change, ``>= 0``: a fraction for ``"pct"`` (0.3 = 30 %), a log
        difference for ``"log"``, a difference in the units of the series for ``"diff"``.
    direction : {"both", "up", "down"}, default="both"
        Which moves fire: rises, falls, or either. A fall is measured as a positive amount,
        so ``direction="down", max_change=0.3`` fires on a drop of more than 30 %.
    change : {"pct", "log", "diff"}, default="pct"
        ``"pct"``: ``(x[i] - x[i-w]) / |x[i-w]|``; a zero base has no relative change and
        is scored as no change (use ``"diff"`` for series that can be 0, such as import
        reliance). ``"log"``: ``log(x[i]) - log(x[i-w])``; the values must be strictly
        positive (a ``ValueError`` otherwise). ``"diff"``: ``x[i] - x[i-w]``. (Not named
        ``kind``: that key names the detector in a rule's ``detector:`` block.)

    Attributes
    ----------
    offset_ : float
        ``-max_change``, so ``decision_function = max_change - change``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: ``window + 1`` rows. NaN and infinite values are rejected with a
    ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import RateOfChangeDetector
    >>> prices = np.array([[100.0], [102.0], [101.0], [150.0], [149.0]])
    >>> det = RateOfChangeDetector(window=2, max_change=0.3).fit(prices)
    >>> det.predict(prices)
    array([ 1,  1,  1, -1, -1])
    >>> det.decision_function(prices).round(3)
    array([ 0.3  ,  0.3  ,  0.29 , -0.171, -0.175])
    """

    def __init__(
        self,
        *,
        window: int = 3,
        max_change: float = 0.3,
        direction: str = "both",
        change: str = "pct",
    ) -> None:
        self.window = window
        self.max_change = max_change
        self.direction = direction
        self.change = change

    @property
    def min_history(self) -> int:
        """Rows needed to score the newest one: ``window + 1``."""
        return int(self.window) + 1

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = isinstance(self.change, str) and self.change == "log"
        return tags

    def _check_params(self) -> None:
        """Validate the parameters."""
        check_int(self, "window", self.window, low=1)
        check_real(self, "max_change", self.max_change, low=0.0)
        check_option(self, "direction", self.direction, DIRECTIONS)
        check_option(self, "change", self.change, CHANGES)

    def fit(self, X: object, y: object = None) -> RateOfChangeDetector:
        """Validate the parameters and record the number of features.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Level series; only its shape (and, for ``change="log"``, its sign) is used.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : RateOfChangeDetector
            The fitted detector.
        """
        self._check_params()
        return self._fit_array(self._validate_fit_input(X))

    def _fit_array(self, X: np.ndarray) -> RateOfChangeDetector:
        self._check_params()
        self._window = int(self.window)
        self._direction = self.direction
        self._change_kind = self.change
        self._check_positive(X)
        self.offset_ = -float(self.max_change)
        return self

    def score_samples(self, X: object) -> np.ndarray:
        """Negated change over ``window`` rows, in the configured direction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Level series, rows in time order.

        Returns
        -------
        scores : ndarray of shape (n_samples,)
            ``-change`` of the column that moved most; 0 for the first ``window`` rows.
        """
        return self._score_array(self._validate_score_input(X))

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        self._check_positive(X)
        change = _directional(self._signed_change(X), self._direction)
        return -np.max(change, axis=1)

    def _signed_change(self, X: np.ndarray) -> np.ndarray:
        """Signed change of each row against the row ``window`` earlier (0 when there is none)."""
        change = np.zeros_like(X)
        if X.shape[0] <= self._window:
            return change
        now, base = X[self._window :], X[: -self._window]
        if self._change_kind == "diff":
            change[self._window :] = now - base
        elif self._change_kind == "log":
            change[self._window :] = np.log(now) - np.log(base)
        else:
            np.divide(now - base, np.abs(base), out=change[self._window :], where=base != 0)
        return change

    def _check_positive(self, X: np.ndarray) -> None:
        if self._change_kind == "log" and np.any(X <= 0):
            raise ValueError(
                "Negative values in data passed to RateOfChangeDetector: change='log' needs "
                "strictly positive values; use change='pct' or change='diff'."
            )


def _directional(change: np.ndarray, direction: str) -> np.ndarray:
    """The part of a signed change that counts for ``direction``."""
    if direction == "up":
        return change
    if direction == "down":
        return -change
    return np.abs(change)
