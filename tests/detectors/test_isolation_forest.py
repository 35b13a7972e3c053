"""IsolationForest, used straight from scikit-learn, on per-mineral feature vectors."""

from __future__ import annotations

import numpy as np

from detectors import build_detector


def test_flags_the_month_unlike_the_others() -> None:
    # 40 months of (return, volatility, policy pressure) around calm values, then two odd ones.
    rng = np.random.default_rng(0)
    calm = np.column_stack(
        [rng.normal(0.0, 0.02, 40), rng.normal(0.05, 0.005, 40), rng.uniform(0, 0.1, 40)]
    )
    odd = np.array([[0.35, 0.20, 0.9], [-0.30, 0.18, 0.8]])
    detector = build_detector("isolation_forest", {"contamination": 0.05, "random_state": 0})
    detector.fit(np.vstack([calm, odd]))
    assert detector.predict(odd).tolist() == [-1, -1]
    assert np.mean(detector.predict(calm) == 1) >= 0.9
    np.testing.assert_array_equal(
        detector.predict(calm) == -1, detector.decision_function(calm) < 0
    )
