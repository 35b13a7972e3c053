"""Monthly trade flows: a collapse against the trailing median, and a unit-value jump."""

from __future__ import annotations

import numpy as np

from detectors._base import BaseDetector
from detectors.spec import check_trade_collapse, check_unit_value_jump


def _trailing_median(column: np.ndarray, end: int, window: int, min_periods: int,
                     positive: bool = False) -> float | None:
    """Median of ``column[end - window:end]`` (only values > 0 with ``positive``), or None
    when fewer than ``min_periods`` values are there."""
    values = column[max(0, end - window):max(0, end)]
    if positive:
        values = values[values > 0]
    if len(values) < min_periods:
        return None
    return float(np.median(values))


class TradeCollapseDetector(BaseDetector):
    """Fire when a flow stayed below ``1 - drop`` of its trailing median for ``months`` rows.

    ``X`` is a monthly level series (kilograms exported, say), rows in time order. For row
    ``i`` the run is rows ``i - months + 1 .. i`` and the baseline is the median of the
    ``window`` rows before the run. The score of row ``i`` is the largest ratio of a run row
    to that baseline, and ``offset_ = 1 - drop``: the row fires when every month of the run
    was below ``(1 - drop) x median``. A row without ``min_periods`` baseline rows, or whose
    baseline median is 0 (a flow that does not normally exist cannot collapse), scores 1
    (no change) and never fires. Rows are scored against earlier rows *of the same call*: pass
    the history, not only the newest row, and read the last element (``sequence_scorer``).

    With several columns each is judged on its own and the worst (lowest) score wins. Nothing
    is learnt in ``fit`` beyond the parameters and the number of features.

    Parameters
    ----------
    drop : float, default=0.5
        Share of the median the flow must lose, in ``(0, 1)``: 0.5 fires below half the
        median, 0.9 below a tenth of it.
    months : int, default=1
        Consecutive rows the flow must stay down, ``>= 1``.
    window : int, default=12
        Rows in the baseline before the run, ``>= 1`` (12 = a year of months).
    min_periods : int, default=6
        Baseline rows needed before a row is judged, ``1 <= min_periods``; at most ``window``.

    Attributes
    ----------
    offset_ : float
        ``1 - drop``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: ``months + min_periods`` rows. NaN and infinite values are rejected with
    a ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import TradeCollapseDetector
    >>> kg = np.array([[4800.0], [5000.0], [4600.0], [4900.0], [5100.0], [4700.0], [0.0]])
    >>> det = TradeCollapseDetector(drop=0.5, months=1, window=12, min_periods=6).fit(kg)
    >>> det.predict(kg)
    array([ 1,  1,  1,  1,  1,  1, -1])
    >>> float(det.decision_function(kg)[-1])
    -0.5
    """

    sequence_scorer = True

    def __init__(self, *, drop: float = 0.5, months: int = 1, window: int = 12,
                 min_periods: int = 6) -> None:
        self.drop = drop
        self.months = months
        self.window = window
        self.min_periods = min_periods

    @property
    def min_history(self) -> int:
        """Rows needed to judge the newest one: ``months + min_periods``."""
        return int(self.months) + int(self.min_periods)

    def _check_params(self) -> None:
        """Validate the parameters (the same checks validate a config: ``detectors.spec``)."""
        check_trade_collapse(self, self.get_params(deep=False))

    def _fit_array(self, X: np.ndarray) -> TradeCollapseDetector:
        """Nothing to learn but the parameters (checked by ``fit``) and the width."""
        self._months, self._window = int(self.months), int(self.window)
        self._min_periods = int(self.min_periods)
        self.offset_ = 1.0 - float(self.drop)
        return self

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        """The largest ratio to the trailing median over each row's run (lower is worse)."""
        scores = np.ones(X.shape)
        for column in range(X.shape[1]):
            values = X[:, column]
            for row in range(self._months - 1, X.shape[0]):
                start = row - self._months + 1
                median = _trailing_median(values, start, self._window, self._min_periods)
                if median is not None and median > 0:
                    scores[row, column] = float(np.max(values[start:row + 1])) / median
        return np.min(scores, axis=1)


class UnitValueJumpDetector(BaseDetector):
    """Fire when a unit value (USD/kg) moved more than ``max_change`` from its trailing median.

    ``X`` is a monthly unit-value series, rows in time order. Row ``i`` is compared with the
    median of the ``window`` rows before it: the change is ``log(x[i] / median)`` and
    ``offset_ = -max_change``, so the row fires when the change (in ``direction``) exceeds
    ``max_change`` (0.405 = +50 % or -33 %). Values <= 0 carry no price: they are left out of
    baselines and score 0 (no change). A row without ``min_periods`` positive baseline rows
    scores 0 and never fires. Rows are scored against earlier rows of the same call
    (``sequence_scorer``): pass the history and read the last element.

    Parameters
    ----------
    max_change : float, default=0.405
        Largest tolerated log change, ``> 0`` (ln 1.5 = 0.405).
    window : int, default=12
        Rows in the baseline, ``>= 1``.
    min_periods : int, default=6
        Baseline rows needed, ``1 <= min_periods <= window``.
    direction : {"both", "up", "down"}, default="both"
        Which moves fire.

    Attributes
    ----------
    offset_ : float
        ``-max_change``.
    n_features_in_ : int
        Number of features seen during ``fit``.

    Notes
    -----
    Minimum history: ``min_periods + 1`` rows. NaN and infinite values are rejected with a
    ``ValueError``.

    Examples
    --------
    >>> import numpy as np
    >>> from detectors import UnitValueJumpDetector
    >>> usd_per_kg = np.array([[300.0], [310.0], [295.0], [305.0], [300.0], [302.0], [600.0]])
    >>> det = UnitValueJumpDetector(max_change=0.405, min_periods=6).fit(usd_per_kg)
    >>> det.predict(usd_per_kg)
    array([ 1,  1,  1,  1,  1,  1, -1])
    """

    sequence_scorer = True

    def __init__(self, *, max_change: float = 0.405, window: int = 12, min_periods: int = 6,
                 direction: str = "both") -> None:
        self.max_change = max_change
        self.window = window
        self.min_periods = min_periods
        self.direction = direction

    @property
    def min_history(self) -> int:
        """Rows needed to judge the newest one: ``min_periods + 1``."""
        return int(self.min_periods) + 1

    def _check_params(self) -> None:
        """Validate the parameters (the same checks validate a config: ``detectors.spec``)."""
        check_unit_value_jump(self, self.get_params(deep=False))

    def _fit_array(self, X: np.ndarray) -> UnitValueJumpDetector:
        """Nothing to learn but the parameters (checked by ``fit``) and the width."""
        self._window, self._min_periods = int(self.window), int(self.min_periods)
        self._direction = self.direction
        self.offset_ = -float(self.max_change)
        return self

    def _score_array(self, X: np.ndarray) -> np.ndarray:
        """Minus the log change against the trailing median, in the configured direction."""
        change = np.zeros(X.shape)
        for column in range(X.shape[1]):
            values = X[:, column]
            for row in range(X.shape[0]):
                median = _trailing_median(values, row, self._window, self._min_periods,
                                          positive=True)
                if median is not None and values[row] > 0:
                    change[row, column] = np.log(values[row] / median)
        if self._direction == "down":
            change = -change
        elif self._direction == "both":
            change = np.abs(change)
        return -np.max(change, axis=1)
