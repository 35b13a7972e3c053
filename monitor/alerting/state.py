"""The alert state machine: pure, one function, time passed in.

An alert instance is a rule plus a label set (Prometheus/Alertmanager). Its identity, the
*fingerprint*, hashes the sorted labels **without** ``severity``: a supply-risk alert that goes
from ``high`` to ``critical`` stays the same alert, and the level change is an *escalation*.

::

    inactive --condition true, for > 0--> pending --held for >= for--> firing   (FIRED)
    inactive --condition true, for = 0--> firing                                 (FIRED)
    pending  --condition false--> inactive                      (CLEARED: a blip, never notified)
    firing   --level up / down--> firing                        (ESCALATED / DEESCALATED)
    firing   --false for >= keep_firing_for--> resolved         (RESOLVED)
    resolved --condition true--> pending / firing               (a new episode)

Missing data (a signal whose ``state`` is not ``ok``) is never a clear: the alert keeps its
state, and the change of data state is recorded (NO_DATA, then DATA_BACK).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from monitor.core.models import Signal, SignalState

#: Severity ladder used when a rule does not list its own levels (lowest first).
DEFAULT_LADDER = ("info", "low", "warning", "moderate", "high", "critical")


class State(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class EventKind(StrEnum):
    """What happened to an alert; each one is a row in the append-only history."""

    PENDING = "pending"
    FIRED = "fired"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    RESOLVED = "resolved"
    CLEARED = "cleared"
    NO_DATA = "no_data"
    DATA_BACK = "data_back"


#: The transitions that may produce a notification.
NOTIFYING = frozenset({EventKind.FIRED, EventKind.ESCALATED, EventKind.RESOLVED})


@dataclass(frozen=True, slots=True)
class Timing:
    """How one rule holds and releases its alerts (rules.yaml ``for`` and ``keep_firing_for``)."""

    hold: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    levels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertState:
    """The current state of one alert instance, as persisted in ``alert_state``.

    ``fired_at`` starts an *episode* (one firing period); acks and the delivery log are scoped to
    it. ``previous_value`` is the value at the evaluation before the latest one, so a message can
    say "81 (was 62)".
    """

    fingerprint: str
    alertname: str
    mineral: str
    indicator: str
    labels: tuple[tuple[str, str], ...]
    state: State = State.INACTIVE
    level: str | None = None
    active_since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    cleared_since: datetime | None = None
    last_eval_at: datetime | None = None
    value: float | None = None
    previous_value: float | None = None
    threshold: float | None = None
    as_of: date | None = None
    annotations: tuple[tuple[str, str], ...] = ()
    data_state: str = SignalState.OK.value
    id: int | None = None

    @property
    def episode(self) -> str:
        """The episode this state belongs to: when it last started firing (ISO), or ``""``."""
        return self.fired_at.isoformat() if self.fired_at else ""

    @property
    def all_labels(self) -> dict[str, str]:
        """The identifying labels plus ``severity`` (what routes, silences and inhibits see)."""
        labels = dict(self.labels)
        if self.level:
            labels["severity"] = self.level
        return labels


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change of one alert, produced by :func:`step`."""

    kind: EventKind
    at: datetime
    from_state: State
    alert: AlertState
    from_level: str | None = None

    @property
    def fingerprint(self) -> str:
        return self.alert.fingerprint

    @property
    def level(self) -> str | None:
        return self.alert.level

    @property
    def labels(self) -> dict[str, str]:
        return self.alert.all_labels

    @property
    def notifies(self) -> bool:
        return self.kind in NOTIFYING


# --------------------------------------------------------------------------- identity


def signal_labels(signal: Signal) -> dict[str, str]:
    """The identifying labels of a signal's alert: alertname, mineral, indicator + its labels."""
    labels = {"alertname": signal.rule, "mineral": signal.mineral, "indicator": signal.indicator}
    labels.update({k: v for k, v in signal.labels if k != "severity"})
    return labels


#: The default perspective's label, left out of the fingerprint: an alert of the ``us``
#: perspective keeps the identity it had before perspectives existed (stores stay valid, and
#: monitoring a second perspective does not re-identify the first one's alerts).
DEFAULT_PERSPECTIVE_LABEL = ("perspective", "us")


def fingerprint(labels: Mapping[str, str]) -> str:
    """Hash the sorted labels, ``severity`` excluded, to 16 hex digits (Alertmanager's width).

    ``perspective="us"`` is left out too (:data:`DEFAULT_PERSPECTIVE_LABEL`); any other
    perspective is part of the identity.
    """
    items = sorted((k, v) for k, v in labels.items()
                   if k != "severity" and (k, v) != DEFAULT_PERSPECTIVE_LABEL)
    return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()[:16]


def level_rank(level: str | None, ladder: Iterable[str] = ()) -> int:
    """Rank of a level: its place on :data:`DEFAULT_LADDER`, else on the rule's own ladder.

    ``None`` ranks lowest (-1); an unknown name ranks 0.
    """
    if level is None:
        return -1
    if level in DEFAULT_LADDER:
        return DEFAULT_LADDER.index(level)
    ladder = tuple(ladder)
    return ladder.index(level) if level in ladder else 0


def one_signal_per_alert(signals: Iterable[Signal]) -> dict[str, Signal]:
    """If a batch holds two signals for one alert, the firing / more severe one wins."""
    chosen: dict[str, Signal] = {}
    for signal in signals:
        fp = fingerprint(signal_labels(signal))
        old = chosen.get(fp)
        if old is None or (signal.firing, level_rank(signal.level)) > (
                old.firing, level_rank(old.level)):
            chosen[fp] = signal
    return chosen


def new_alert(signal: Signal) -> AlertState:
    """An inactive alert for a signal never seen before."""
    labels = signal_labels(signal)
    return AlertState(fingerprint=fingerprint(labels), alertname=signal.rule,
                      mineral=signal.mineral, indicator=signal.indicator,
                      labels=tuple(sorted(labels.items())))


def absent_signal(alert: AlertState) -> Signal:
    """The condition-false signal for an alert its rule no longer reports (it was evaluated)."""
    extra = tuple((k, v) for k, v in alert.labels
                  if k not in ("alertname", "mineral", "indicator"))
    return Signal(rule=alert.alertname, mineral=alert.mineral, indicator=alert.indicator,
                  firing=False, labels=extra, reason="absent from the evaluation")


# --------------------------------------------------------------------------- the step


def step(prev: AlertState | None, signal: Signal, timing: Timing, now: datetime
         ) -> tuple[AlertState | None, list[Transition]]:
    """Advance one alert by one evaluation; return its new state and what changed.

    ``prev`` is ``None`` for an alert never seen. A quiet signal for an unknown alert returns
    ``(None, [])``: inactive alerts are not stored until they first become pending.
    """
    if signal.state != SignalState.OK:
        return _missing_data(prev, signal, now)
    if prev is None:
        if not signal.firing:
            return None, []
        prev = new_alert(signal)
    current = _observe(prev, signal, now)
    if signal.firing:
        new, kind = _when_true(prev, current, signal, timing, now)
    else:
        new, kind = _when_false(prev, current, timing, now)
    transitions: list[Transition] = []
    if prev.data_state != SignalState.OK and prev.state in (State.PENDING, State.FIRING):
        transitions.append(Transition(EventKind.DATA_BACK, now, prev.state, new, prev.level))
    if kind is not None:
        transitions.append(Transition(kind, now, prev.state, new, prev.level))
    return new, transitions


def _observe(prev: AlertState, signal: Signal, now: datetime) -> AlertState:
    """Take the signal's value, threshold and text; keep the previous value for "was".

    A quiet signal's value is taken even when it has none (the rule no longer reports the
    alert): a resolution then shows no current value rather than the firing one.
    """
    annotations = dict(signal.annotations)
    if signal.reason:
        annotations.setdefault("reason", signal.reason)
    observed = signal.value is not None or not signal.firing
    return replace(
        prev,
        # Same fingerprint, so the same identity; the signal's labels may add one the fingerprint
        # ignores (``perspective="us"`` on an alert stored before perspectives existed).
        labels=tuple(sorted(signal_labels(signal).items())),
        last_eval_at=now,
        value=signal.value if observed else prev.value,
        previous_value=prev.value if observed else prev.previous_value,
        threshold=signal.threshold if signal.threshold is not None else prev.threshold,
        as_of=signal.as_of or prev.as_of,
        annotations=tuple(sorted(annotations.items())) if signal.firing or not prev.annotations
        else prev.annotations,
        data_state=SignalState.OK.value,
    )


def _when_true(prev: AlertState, current: AlertState, signal: Signal, timing: Timing,
               now: datetime) -> tuple[AlertState, EventKind | None]:
    level = signal.level or prev.level
    if prev.state in (State.INACTIVE, State.RESOLVED):  # a new episode begins
        started = replace(current, level=level, active_since=now, cleared_since=None,
                          resolved_at=None, fired_at=None)
        if timing.hold <= timedelta(0):
            return replace(started, state=State.FIRING, fired_at=now), EventKind.FIRED
        return replace(started, state=State.PENDING), EventKind.PENDING
    if prev.state == State.PENDING:
        held = now - (prev.active_since or now)
        if held >= timing.hold:
            return replace(current, state=State.FIRING, level=level, fired_at=now), EventKind.FIRED
        return replace(current, level=level), None
    # firing: the condition holds again (cancels keep_firing_for) and may change level
    new = replace(current, level=level, cleared_since=None)
    up = level_rank(level, timing.levels) - level_rank(prev.level, timing.levels)
    if up > 0:
        return new, EventKind.ESCALATED
    if up < 0:
        return new, EventKind.DEESCALATED
    return new, None


def _when_false(prev: AlertState, current: AlertState, timing: Timing, now: datetime
                ) -> tuple[AlertState, EventKind | None]:
    if prev.state == State.PENDING:
        return replace(current, state=State.INACTIVE, active_since=None), EventKind.CLEARED
    if prev.state != State.FIRING:
        return current, None
    cleared_since = prev.cleared_since or now
    if now - cleared_since >= timing.keep_firing_for:
        return (replace(current, state=State.RESOLVED, resolved_at=now, cleared_since=None),
                EventKind.RESOLVED)
    return replace(current, cleared_since=cleared_since), None


def _missing_data(prev: AlertState | None, signal: Signal, now: datetime
                  ) -> tuple[AlertState | None, list[Transition]]:
    """Keep the state; record the first evaluation that could not judge."""
    if prev is None or prev.state not in (State.PENDING, State.FIRING):
        return prev, []
    new = replace(prev, last_eval_at=now, data_state=str(signal.state))
    if prev.data_state == str(signal.state):
        return new, []
    return new, [Transition(EventKind.NO_DATA, now, prev.state, new, prev.level)]
