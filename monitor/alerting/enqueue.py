"""The enqueue stage (after each evaluation): signals -> alert states, history and outbox.

Runs the pure state machine (:func:`monitor.alerting.state.step`) for every signal, then writes
the new states, the history events and one outbox row per (notifying transition, matching route)
in ONE transaction. A crash after it loses nothing; a crash before it loses nothing either (the
next evaluation sees the same data).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from monitor.alerting import crash_points
from monitor.alerting.render import Reason
from monitor.alerting.routing import RouteNode, build_route_tree, match_routes
from monitor.alerting.state import (
    AlertState,
    EventKind,
    State,
    Timing,
    Transition,
    absent_signal,
    one_signal_per_alert,
    step,
)
from monitor.alerting.store import AlertStore
from monitor.config.load import Config
from monitor.core.models import Signal
from monitor.store.database import Store

log = logging.getLogger(__name__)

_REASON_OF = {EventKind.FIRED: Reason.FIRST, EventKind.ESCALATED: Reason.ESCALATED,
              EventKind.RESOLVED: Reason.RESOLVED}


# =========================================================================== enqueue


POLICY_EVENT_RULE = "policy_event"


def rule_timings(config: Config) -> dict[str, Timing]:
    timings = {rule.name: Timing(rule.hold, rule.keep_firing_for, tuple(rule.levels))
               for rule in config.rules.rules}
    timings[POLICY_EVENT_RULE] = Timing(timedelta(0), config.rules.news.alert_keep_firing,
                                        ("high", "critical"))
    return timings


def evaluated_rule_names(config: Config) -> set[str]:
    """Every rule one evaluation judges: an alert of these absent from a batch is not true."""
    return {rule.name for rule in config.rules.rules} | {POLICY_EVENT_RULE}


def enqueue_signals(store: Store, config: Config, signals: Sequence[Signal], now: datetime, *,
                    evaluated_rules: Collection[str] | None = None) -> list[Transition]:
    """Step every alert, persist states + events + outbox rows in one transaction.

    An alert that is pending or firing but has no signal in this batch is treated as
    condition-false when its rule was evaluated: by default, when the batch holds at least one
    signal of that rule (so an empty batch changes nothing); pass ``evaluated_rules`` to say
    so explicitly. A signal that could not judge (``state`` not ``ok``) never clears an alert.
    """
    alerts = AlertStore(store)
    tree = build_route_tree(config.alerting.route)
    timings = rule_timings(config)
    chosen = one_signal_per_alert(signals)
    evaluated = set(evaluated_rules) if evaluated_rules is not None \
        else {s.rule for s in signals}
    transitions: list[Transition] = []
    with alerts.transaction():
        states = alerts.load_states()
        for fp, signal in chosen.items():
            transitions += _apply(alerts, tree, states.get(fp), signal,
                                  timings.get(signal.rule, Timing()), now)
        for fp, alert in states.items():
            if (fp in chosen or alert.alertname not in evaluated
                    or alert.state not in (State.PENDING, State.FIRING)):
                continue
            transitions += _apply(alerts, tree, alert, absent_signal(alert),
                                  timings.get(alert.alertname, Timing()), now)
    for transition in transitions:
        _log_transition(transition)
    crash_points.reached("enqueued")
    return transitions


def _apply(alerts: AlertStore, tree: RouteNode, prev: AlertState | None, signal: Signal,
           timing: Timing, now: datetime) -> list[Transition]:
    new, transitions = step(prev, signal, timing, now)
    if new is None:
        return []
    new = alerts.save_state(new, now)
    done = []
    for transition in transitions:
        transition = replace(transition, alert=new)
        event_id = alerts.append_event(transition)
        if transition.notifies:
            labels = new.all_labels
            for match in match_routes(tree, labels):
                alerts.add_outbox(created_at=now, receiver=match.receiver,
                                  group_key=match.group_key(labels),
                                  reason=str(_REASON_OF[transition.kind]),
                                  fingerprint=new.fingerprint, event_id=event_id,
                                  route_id=match.route_id)
        done.append(transition)
    return done


def _log_transition(t: Transition) -> None:
    alert = t.alert
    what = f"{alert.alertname} {alert.mineral}"
    if t.kind == EventKind.FIRED:
        log.warning("alert fired: %s %s (value %s, threshold %s)", what, alert.level,
                    alert.value, alert.threshold)
    elif t.kind == EventKind.ESCALATED:
        log.warning("alert escalated: %s %s -> %s", what, t.from_level, alert.level)
    elif t.kind == EventKind.RESOLVED:
        log.info("alert resolved: %s", what)
    elif t.kind == EventKind.NO_DATA:
        log.info("alert %s: no data (%s), keeping state %s", what, alert.data_state,
                 alert.state)
