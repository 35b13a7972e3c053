"""Run the detector rules of rules.yaml over each mineral's indicator series and emit signals.

Pure: it takes indicator series and the rules, and returns :class:`Signal` values. Each
(rule, mineral) gets its own detector built from the rule's (overridden) parameters, fitted on
the series' history and asked about its latest point. Fitted detectors are kept in a
:class:`DetectorCache` and reused until the rule's parameters or the data change, or until
``refit_every`` has passed, so an unchanged evaluation costs only scoring. Everything is
deterministic (``random_state`` is fixed for detectors that take one), so a replay is repeatable.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from detectors import ThresholdDetector, build_detector, insufficient_history
from monitor.config.rules import Rule, RulesFile
from monitor.core.models import Signal, SignalState
from monitor.core.values import format_pair

RANDOM_STATE = 0
Series = list[tuple[date, float]]


@dataclass(frozen=True, slots=True)
class EffectiveRule:
    """A rule as it applies to one mineral, after that mineral's overrides."""

    rule: Rule
    mineral: str
    params: dict[str, Any]
    levels: tuple[str, ...]
    enabled: bool = True

    @property
    def indicators(self) -> tuple[str, ...]:
        return tuple(i.strip() for i in self.rule.indicator.split(","))

    def build(self) -> BaseEstimator:
        detector = build_detector(self.rule.detector.kind, self.params)
        if "random_state" in detector.get_params():
            detector.set_params(random_state=RANDOM_STATE)
        return detector

    @property
    def params_key(self) -> str:
        text = json.dumps([self.rule.detector.kind, self.params], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def effective_rules(rules: RulesFile, minerals: Sequence[str]) -> list[EffectiveRule]:
    """Expand rules over minerals, applying per-mineral overrides (which inherit the rest)."""
    expanded = []
    for rule in rules.rules:
        targets = minerals if rule.minerals == "all" else [m for m in minerals
                                                            if m in rule.minerals]
        for mineral in targets:
            override = dict(rules.overrides.get(mineral, {}).get(rule.name, {}))
            enabled = bool(override.pop("enabled", True))
            levels = tuple(override.pop("levels", rule.levels))
            params = {**rule.detector.params(), **override}
            expanded.append(EffectiveRule(rule, mineral, params, levels, enabled))
    return expanded


@dataclass
class _Fitted:
    detector: BaseEstimator
    data_key: str
    fitted_at: datetime


@dataclass
class DetectorCache:
    """Fitted detectors per (rule, mineral), refitted when params or data change or when old."""

    refit_every: timedelta = timedelta(days=1)
    _fitted: dict[tuple[str, str, str], _Fitted] = field(default_factory=dict)
    fits: int = 0

    def fitted(self, rule: EffectiveRule, X: np.ndarray, now: datetime) -> BaseEstimator:
        key = (rule.rule.name, rule.mineral, rule.params_key)
        data_key = _data_key(X)
        entry = self._fitted.get(key)
        if entry is None or entry.data_key != data_key or now - entry.fitted_at > \
                self.refit_every:
            detector = rule.build().fit(X)
            entry = _Fitted(detector, data_key, now)
            self._fitted[key] = entry
            self.fits += 1
        return entry.detector


def evaluate_rules(rules: Sequence[EffectiveRule], series: Mapping[str, Mapping[str, Series]],
                   *, as_of: date, now: datetime, cache: DetectorCache | None = None
                   ) -> list[Signal]:
    """One signal per enabled (rule, mineral): firing with a level, quiet, or unable to judge.

    ``series[mineral][indicator]`` is the indicator's history, oldest first, one value per
    date; a rule over several indicators uses the dates they share.
    """
    cache = cache or DetectorCache()
    signals = []
    for rule in rules:
        if not rule.enabled:
            continue
        signals.append(_evaluate_one(rule, series.get(rule.mineral, {}), as_of, now, cache))
    return signals


def _evaluate_one(rule: EffectiveRule, series: Mapping[str, Series], as_of: date,
                  now: datetime, cache: DetectorCache) -> Signal:
    missing = [i for i in rule.indicators if not series.get(i)]
    if missing:
        return _quiet(rule, as_of, SignalState.NO_DATA, f"no data for {', '.join(missing)}")
    dates, X, dropped = build_matrix([series[i] for i in rule.indicators])
    note = f"; skipped {dropped} non-finite value{'s' * (dropped != 1)}" if dropped else ""
    detector = rule.build()
    needed = insufficient_history(detector, len(X))
    if needed is not None:
        return _quiet(rule, dates[-1] if dates else as_of, SignalState.INSUFFICIENT_HISTORY,
                      f"insufficient history (n={len(X)} < {needed}){note}")
    fitted = cache.fitted(rule, X, now)
    # A detector that scores a row against earlier rows of the same call (trade_collapse,
    # unit_value_jump) is given the history and judged on its last row.
    rows = X if getattr(fitted, "sequence_scorer", False) else X[-1:]
    decision = float(fitted.decision_function(rows)[-1])
    value = float(X[-1, 0]) if X.shape[1] == 1 else None
    level, threshold = _level(rule, fitted, X, decision)
    labels = (("detector", rule.rule.detector.kind),)
    evidence = _evidence(rule, fitted, X, decision, dates[-1]) + note
    return Signal(rule=rule.rule.name, mineral=rule.mineral, indicator=rule.rule.indicator,
                  firing=level is not None, level=level, value=value, threshold=threshold,
                  as_of=dates[-1], state=SignalState.OK, reason=evidence, labels=labels,
                  annotations=(("summary", _summary(rule, level, value, threshold)),))


def build_matrix(columns: Sequence[Series]) -> tuple[list[date], np.ndarray, int]:
    """Align indicator series on their common dates; drop non-finite rows and count them."""
    common = set.intersection(*({d for d, _ in column} for column in columns))
    lookup = [dict(column) for column in columns]
    dates = sorted(common)
    rows = [[values[d] for values in lookup] for d in dates]
    kept = [(d, r) for d, r in zip(dates, rows, strict=True)
            if all(v is not None and math.isfinite(v) for v in r)]
    dropped = len(rows) - len(kept)
    if not kept:
        return [], np.empty((0, len(columns))), dropped
    return [d for d, _ in kept], np.array([r for _, r in kept], dtype=float), dropped


def _level(rule: EffectiveRule, fitted: BaseEstimator, X: np.ndarray, decision: float
           ) -> tuple[str | None, float | None]:
    """The level name for the latest row, and the threshold it crossed."""
    if isinstance(fitted, ThresholdDetector):
        index = int(fitted.predict_level(X)[-1])
        if index == 0:
            return None, None
        names = rule.levels or tuple(f"level{i + 1}" for i in range(len(fitted.thresholds)))
        # thresholds_ run least to most severe in either direction (below: decreasing)
        return names[min(index, len(names)) - 1], float(fitted.thresholds_[index - 1])
    if decision >= 0:
        return None, None
    return (rule.levels[0] if rule.levels else "warning"), None


def _evidence(rule: EffectiveRule, fitted: BaseEstimator, X: np.ndarray, decision: float,
              at: date) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(rule.params.items()))
    return (f"{rule.rule.detector.kind}({params}) on {rule.rule.indicator} at {at}: "
            f"decision {decision:+.3f} over {len(X)} points")


def _summary(rule: EffectiveRule, level: str | None, value: float | None,
             threshold: float | None) -> str:
    what = rule.rule.description or rule.rule.name
    if level is None:
        return f"{rule.mineral}: {what} (not firing)"
    value_text, threshold_text = format_pair(value, threshold, rule.rule.indicator)
    shown = "" if value is None else f" value {value_text}"
    side = rule.params.get("direction", "above")
    crossed = "" if threshold is None else f" {side} {threshold_text}"
    return f"{rule.mineral} {level}: {what}{shown}{crossed}"


def _quiet(rule: EffectiveRule, as_of: date, state: SignalState, reason: str) -> Signal:
    return Signal(rule=rule.rule.name, mineral=rule.mineral, indicator=rule.rule.indicator,
                  firing=False, as_of=as_of, state=state, reason=reason,
                  labels=(("detector", rule.rule.detector.kind),))


def _data_key(X: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(X).tobytes()).hexdigest()[:16]
