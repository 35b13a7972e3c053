"""Location and scale estimates that never divide by zero."""

from __future__ import annotations

import numpy as np

# 1 / Phi^-1(3/4): makes the MAD a consistent estimator of the standard deviation.
MAD_TO_STD = 1.4826
# sqrt(pi / 2): the same for the mean absolute deviation (Iglewicz & Hoaglin's MAD = 0 case).
MEANAD_TO_STD = 1.253314


def robust_location_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column median and MAD-based scale of ``X`` (n_samples, n_features).

    When more than half the values equal the median the MAD is 0, so the scale falls back
    to the mean absolute deviation; a column that is entirely constant gets a tiny scale
    (see :func:`nonzero_scale`), so any later departure from that constant is extreme.
    """
    center = np.median(X, axis=0)
    deviation = np.abs(X - center)
    scale = MAD_TO_STD * np.median(deviation, axis=0)
    scale = np.where(scale > 0, scale, MEANAD_TO_STD * np.mean(deviation, axis=0))
    return center, nonzero_scale(scale, center)


def nonzero_scale(scale: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Replace zero scales by a tiny positive one relative to the magnitude of ``center``.

    A constant baseline has no spread; rather than pick an arbitrary unit (which would make
    the answer depend on the units of the series) we treat any change as far outside it.
    """
    tiny = np.finfo(np.float64).eps * np.maximum(1.0, np.abs(center))
    return np.where(scale > 0, scale, tiny)
