"""Detector rules: the effective rules per mineral (with overrides) evaluated into signals.

Fits the estimators of the top-level ``detectors`` package on indicator series and turns their
decisions into :class:`~monitor.core.models.Signal` values. Pure: may import ``core``,
``config`` and ``detectors``.
"""
