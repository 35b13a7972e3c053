"""Detectors for critmon: small scikit-learn-style estimators; never imports monitor."""
