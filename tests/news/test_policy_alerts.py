"""Policy-event alerts are one-shot: they fire on the item, stay firing a while, then resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.alerting.enqueue import enqueue_signals, evaluated_rule_names
from monitor.alerting.state import State
from monitor.alerting.store import AlertStore
from monitor.config.load import load_config
from monitor.core.models import Signal
from monitor.store.database import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_policy_event_alert_keeps_firing_then_resolves() -> None:
    config = load_config(environ={})
    store = Store.memory()
    signal = Signal(rule="policy_event", mineral="antimony", indicator="policy_event",
                    firing=True, level="critical", labels=(("event", "item-1"),),
                    annotations=(("summary", "China: export ban on antimony"),))
    rules = evaluated_rule_names(config)
    enqueue_signals(store, config, [signal], T0, evaluated_rules=rules)

    def state() -> State:
        [alert] = AlertStore(store).load_states().values()
        return alert.state

    assert state() == State.FIRING
    enqueue_signals(store, config, [], T0 + timedelta(days=1), evaluated_rules=rules)
    assert state() == State.FIRING  # kept firing: news_settings.alert_keep_firing is 7 days
    enqueue_signals(store, config, [], T0 + timedelta(days=8), evaluated_rules=rules)
    assert state() == State.RESOLVED


def test_without_evaluated_rules_an_empty_batch_changes_nothing() -> None:
    config = load_config(environ={})
    store = Store.memory()
    signal = Signal(rule="policy_event", mineral="gallium", indicator="policy_event",
                    firing=True, level="high", labels=(("event", "item-2"),))
    enqueue_signals(store, config, [signal], T0)
    enqueue_signals(store, config, [], T0 + timedelta(days=30))
    [alert] = AlertStore(store).load_states().values()
    assert alert.state == State.FIRING
