"""Enqueue and deliver, with a fixed clock: what each receiver gets, when, and why not."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.alerting import crash_points, deliver
from monitor.alerting.deliver import (
    LEASE,
    DeliveryReport,
    deliver_pending,
    needs_notification,
    next_slots,
)
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.notifiers.base import SendResult
from monitor.alerting.render import Notification, Reason
from monitor.alerting.state import State
from monitor.alerting.store import AlertStore
from monitor.config.alerting import AlertingFile
from monitor.config.load import Config, load_config
from monitor.config.rules import Rule
from monitor.core.errors import PermanentDeliveryError, StoreError, TransientDeliveryError
from monitor.core.models import Signal, SignalState
from monitor.store.database import Store

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SEC, MIN, HOUR = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)

ALERTING = """
version: 1
receivers:
  - {name: slack, kind: console}
  - {name: email, kind: console, send_resolved: false}
route:
  receiver: slack
  group_by: [mineral]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - {receiver: slack, continue: true}
    - {receiver: email}
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity=~"high|warning"']
    equal: [mineral]
"""


@pytest.fixture(scope="module")
def base_config() -> Config:
    return load_config(None)


def configured(base: Config, alerting: str = ALERTING, rules: tuple[Rule, ...] = ()) -> Config:
    config = replace(base, alerting=AlertingFile.model_validate(yaml.safe_load(alerting)))
    if rules:
        config = replace(config, rules=config.rules.model_copy(update={"rules": rules}))
    return config


class Recorder:
    """A notifier that keeps what it is sent; ``fail`` queues exceptions to raise first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.attempts = 0
        self.fail: list[Exception] = []
        self.always_fail: Exception | None = None

    def send(self, notification: Notification) -> SendResult:
        self.attempts += 1
        if self.fail:
            raise self.fail.pop(0)
        if self.always_fail is not None:
            raise self.always_fail
        self.sent.append(notification)
        return SendResult(ref=f"<{self.name}-{len(self.sent)}@test>")


class World:
    """A store, a config, two recording receivers and a clock that moves only when told."""

    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store.memory()
        self.now = T0
        self.notifiers: dict[str, Any] = {"slack": Recorder("slack"), "email": Recorder("email")}

    def evaluate(self, *signals: Signal, evaluated: set[str] | None = None) -> list[str]:
        transitions = enqueue_signals(self.store, self.config, signals, self.now,
                                      evaluated_rules=evaluated)
        return [str(t.kind) for t in transitions]

    def deliver(self, **options: Any) -> DeliveryReport:
        return deliver_pending(self.store, self.config, self.notifiers, self.now,
                               rng=random.Random(0), **options)

    def at(self, delta: timedelta) -> World:
        self.now = T0 + delta
        return self

    def sent(self, receiver: str) -> list[Notification]:
        return self.notifiers[receiver].sent

    def reasons(self, receiver: str) -> list[str]:
        return [str(n.reason) for n in self.sent(receiver)]

    @property
    def alerts(self) -> AlertStore:
        return AlertStore(self.store)

    def history(self, event: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.alerts.history() if event in (None, r["event"])]


@pytest.fixture
def world(base_config: Config, store_url: str) -> Iterator[World]:
    """On an SQLite file, then on PostgreSQL (the ``store_url`` fixture)."""
    with Store.open(store_url) as store:
        yield World(configured(base_config), store)


def risk(level: str | None = "high", value: float = 62.0, mineral: str = "gallium",
         rule: str = "supply_risk_level", state: SignalState = SignalState.OK) -> Signal:
    firing = level is not None
    return Signal(rule=rule, mineral=mineral, indicator="supply_risk", firing=firing,
                  level=level, value=value, threshold=75.0 if level == "critical" else 50.0,
                  state=state, annotations=(("summary", f"{mineral} supply risk"),))


def fired_and_sent(world: World) -> None:
    world.evaluate(risk())
    world.at(30 * SEC).deliver()
    assert world.reasons("slack") == world.reasons("email") == ["first"]


# --------------------------------------------------------------------------- the basics


def test_a_new_firing_alert_sends_one_message_per_receiver_after_group_wait(world: World
                                                                           ) -> None:
    assert world.evaluate(risk()) == ["fired"]
    assert world.deliver().waiting == 2
    assert world.at(29 * SEC).deliver().sent == 0
    assert world.at(30 * SEC).deliver().sent == 2
    assert world.reasons("slack") == world.reasons("email") == ["first"]
    assert world.at(31 * SEC).deliver().sent == 0
    message = world.sent("slack")[0]
    assert message.alerts[0].mineral == "gallium" and message.alerts[0].level == "high"


def test_nothing_more_within_repeat_interval_then_one_repeat(world: World) -> None:
    fired_and_sent(world)
    for minutes in range(15, 240, 15):  # evaluations and delivery ticks while still firing
        world.at(minutes * MIN).evaluate(risk())
        world.deliver()
    assert world.reasons("slack") == ["first"]
    world.at(30 * SEC + 4 * HOUR).deliver()
    assert world.reasons("slack") == world.reasons("email") == ["first", "repeat_due"]
    world.at(4 * HOUR + 10 * MIN).deliver()
    assert world.reasons("slack") == ["first", "repeat_due"]


def test_an_escalation_sends_one_follow_up_after_group_interval(world: World) -> None:
    fired_and_sent(world)
    assert world.at(MIN).evaluate(risk("critical", 81.0)) == ["escalated"]
    world.at(2 * MIN).deliver()
    assert world.reasons("slack") == ["first"], "group_interval has not passed"
    world.at(5 * MIN + 30 * SEC).deliver()
    assert world.reasons("slack") == ["first", "escalated"]
    escalation = world.sent("slack")[1].alerts[0]
    assert (escalation.level, escalation.previous_level) == ("critical", "high")
    assert (escalation.value, escalation.was_value) == (81.0, 62.0)
    world.at(20 * MIN).evaluate(risk("critical", 83.0))
    world.deliver()
    assert world.reasons("slack") == ["first", "escalated"]


def test_a_de_escalation_is_recorded_but_not_sent(world: World) -> None:
    world.evaluate(risk("critical", 81.0))
    world.at(30 * SEC).deliver()
    assert world.at(MIN).evaluate(risk("high", 70.0)) == ["deescalated"]
    world.at(10 * MIN).deliver()
    assert world.reasons("slack") == ["first"]
    assert world.history("deescalated")


def test_one_resolved_message_where_send_resolved_is_on(world: World) -> None:
    fired_and_sent(world)
    assert world.at(HOUR).evaluate(risk(None, 40.0)) == ["resolved"]
    world.deliver()
    world.at(2 * HOUR).deliver()
    assert world.reasons("slack") == ["first", "resolved"]
    assert world.reasons("email") == ["first"], "email has send_resolved: false"
    resolved = world.sent("slack")[1].alerts[0]
    assert (resolved.status, resolved.value, resolved.was_value) == ("resolved", 40.0, 62.0)


def test_a_blip_resolved_within_group_wait_is_never_sent(world: World) -> None:
    world.evaluate(risk())
    world.at(10 * SEC).evaluate(risk(None, 40.0))
    world.at(HOUR).deliver()
    assert world.sent("slack") == world.sent("email") == []
    assert [r["event"] for r in world.history()] == ["fired", "resolved"]


def test_for_holds_an_alert_pending_without_notifying(base_config: Config) -> None:
    held = Rule.model_validate({"name": "supply_risk_level", "indicator": "supply_risk",
                                "detector": {"kind": "threshold", "thresholds": [50]},
                                "for": "1h"})
    world = World(configured(base_config, rules=(held,)))
    assert world.evaluate(risk()) == ["pending"]
    world.at(30 * MIN).evaluate(risk())
    world.deliver()
    assert world.sent("slack") == []
    assert world.at(HOUR).evaluate(risk()) == ["fired"]
    world.at(HOUR + 30 * SEC).deliver()
    assert world.reasons("slack") == ["first"]


def test_alerts_of_one_group_share_a_message(world: World) -> None:
    world.evaluate(risk(), risk(rule="price_jump_3m", value=0.4))
    world.at(30 * SEC).deliver()
    assert len(world.sent("slack")) == 1
    assert {a.alertname for a in world.sent("slack")[0].alerts} == {
        "supply_risk_level", "price_jump_3m"}


def test_different_groups_get_separate_messages(world: World) -> None:
    world.evaluate(risk(), risk(mineral="germanium"))
    world.at(30 * SEC).deliver()
    assert sorted(n.group_labels for n in world.sent("slack")) == [
        (("mineral", "gallium"),), (("mineral", "germanium"),)]


def test_a_new_alert_in_an_active_group_waits_for_group_interval_and_lists_the_others(
        world: World) -> None:
    fired_and_sent(world)
    world.at(MIN).evaluate(risk(), risk(rule="price_jump_3m", value=0.4))
    world.at(4 * MIN).deliver()
    assert len(world.sent("slack")) == 1
    world.at(6 * MIN).deliver()
    second = world.sent("slack")[1]
    reasons = {a.alertname: a.reason for a in second.alerts}
    assert reasons == {"price_jump_3m": Reason.FIRST, "supply_risk_level": None}


# --------------------------------------------------------------------------- evaluation


def test_an_alert_absent_from_an_evaluation_of_its_rule_is_condition_false(world: World
                                                                          ) -> None:
    world.evaluate(risk(), risk(mineral="cobalt"))
    assert world.at(MIN).evaluate(risk(mineral="cobalt")) == ["resolved"]
    gallium = next(a for a in world.alerts.states() if a.mineral == "gallium")
    assert gallium.state == State.RESOLVED


def test_an_empty_evaluation_changes_nothing(world: World) -> None:
    world.evaluate(risk())
    assert world.at(MIN).evaluate() == []
    assert world.alerts.states()[0].state == State.FIRING


def test_an_evaluation_of_other_rules_only_does_not_clear(world: World) -> None:
    world.evaluate(risk())
    assert world.at(MIN).evaluate(risk(None, rule="price_jump_3m")) == []
    assert world.at(2 * MIN).evaluate(evaluated={"supply_risk_level"}) == ["resolved"]


def test_missing_data_is_not_a_clear(world: World) -> None:
    fired_and_sent(world)
    assert world.at(HOUR).evaluate(risk(None, state=SignalState.NO_DATA)) == ["no_data"]
    world.at(2 * HOUR).deliver()
    assert world.reasons("slack") == ["first"]
    assert world.alerts.states()[0].state == State.FIRING


def test_state_events_and_outbox_commit_together_or_not_at_all(world: World) -> None:
    AlertStore(world.store)
    if world.store.is_postgres:
        world.store.db.execute("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
                               "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$")
        world.store.db.execute("CREATE TRIGGER boom BEFORE INSERT ON outbox "
                               "FOR EACH ROW EXECUTE FUNCTION boom()")
    else:
        world.store.db.execute("CREATE TRIGGER boom BEFORE INSERT ON outbox "
                               "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(StoreError):
        world.evaluate(risk())
    assert world.alerts.states() == [] and world.history() == []


# --------------------------------------------------------------------------- muting


def test_a_silence_suppresses_and_history_says_so(world: World) -> None:
    with world.store.transaction():
        silence = world.alerts.add_silence(matchers=["mineral=gallium"], starts_at=T0,
                                           ends_at=T0 + 2 * HOUR, created_by="ana",
                                           comment="known", now=T0)
    world.evaluate(risk())
    assert world.at(30 * SEC).deliver().muted == 2
    assert world.at(HOUR).deliver().muted == 0, "a mute is recorded once"
    assert world.sent("slack") == world.sent("email") == []
    muted = world.history("muted")
    assert {r["receiver"] for r in muted} == {"slack", "email"}
    assert all(r["detail"] == f"muted by silence:{silence.id}" and r["reason"] == "first"
               for r in muted)
    world.at(2 * HOUR).deliver()  # the silence ended: the alert is announced now
    assert world.reasons("slack") == ["first"]


def test_an_expired_silence_no_longer_mutes(world: World) -> None:
    with world.store.transaction():
        silence = world.alerts.add_silence(matchers=["mineral=gallium"], starts_at=T0,
                                           ends_at=T0 + HOUR, created_by="ana", comment="x",
                                           now=T0)
        world.alerts.expire_silence(silence.id, T0)
    world.evaluate(risk())
    world.at(30 * SEC).deliver()
    assert world.reasons("slack") == ["first"]


def test_an_ack_stops_repeats_until_the_level_changes(world: World) -> None:
    fired_and_sent(world)
    alert = world.alerts.states()[0]
    with world.store.transaction():
        world.alerts.add_ack(alert=alert, author="ana", comment="on it", now=T0 + MIN)
    world.at(5 * HOUR).deliver()
    world.at(9 * HOUR).deliver()
    assert world.reasons("slack") == ["first"]
    assert len([r for r in world.history("muted") if r["receiver"] == "slack"]) == 1
    world.at(10 * HOUR).evaluate(risk("critical", 81.0))
    world.at(10 * HOUR + MIN).deliver()
    assert world.reasons("slack") == ["first", "escalated"]
    world.at(14 * HOUR + 2 * MIN).deliver()
    assert world.reasons("slack") == ["first", "escalated", "repeat_due"]


def test_an_acked_alert_still_resolves_out_loud(world: World) -> None:
    fired_and_sent(world)
    with world.store.transaction():
        world.alerts.add_ack(alert=world.alerts.states()[0], author="ana", comment="x",
                             now=T0 + MIN)
    world.at(HOUR).evaluate(risk(None, 40.0))
    world.deliver()
    assert world.reasons("slack") == ["first", "resolved"]


def test_a_critical_alert_inhibits_the_lower_ones_of_its_mineral(world: World) -> None:
    world.evaluate(risk("critical", 81.0), risk("high", 0.4, rule="price_jump_3m"),
                   risk("high", mineral="cobalt"))
    report = world.at(30 * SEC).deliver()
    by_mineral = {n.group_labels: n for n in world.sent("slack")}
    gallium = by_mineral[(("mineral", "gallium"),)]
    assert [a.alertname for a in gallium.alerts] == ["supply_risk_level"]
    assert (("mineral", "cobalt"),) in by_mineral
    assert report.muted == 2  # price_jump_3m, for slack and for email
    assert all(r["alertname"] == "price_jump_3m" and r["detail"].startswith("muted by inhibit:")
               for r in world.history("muted"))


# --------------------------------------------------------------------------- failures


def test_a_transient_failure_is_retried_with_backoff(world: World) -> None:
    world.notifiers["slack"].fail = [TransientDeliveryError("slack answered 500",
                                                            receiver="slack")]
    world.evaluate(risk())
    report = world.at(30 * SEC).deliver()
    assert (report.sent, report.retrying) == (1, 1)
    assert world.reasons("email") == ["first"]
    assert world.at(31 * SEC).deliver().sent == 0, "backoff not over"
    world.at(45 * SEC).deliver()  # the first backoff is 5-10 s
    assert world.reasons("slack") == ["first"]
    assert world.notifiers["slack"].attempts == 2
    assert [(r["event"], r["detail"][:9]) for r in world.history() if r["receiver"] == "slack"
            ] == [("retry", "attempt 1"), ("sent", "attempt 2")]


def test_retry_after_from_a_429_is_honoured(world: World) -> None:
    world.notifiers["slack"].fail = [TransientDeliveryError("429", receiver="slack",
                                                            retry_after_s=120)]
    world.evaluate(risk())
    world.at(30 * SEC).deliver()
    world.at(30 * SEC + 119 * SEC).deliver()
    assert world.notifiers["slack"].attempts == 1
    world.at(30 * SEC + 133 * SEC).deliver()  # Retry-After plus at most 10% jitter
    assert world.reasons("slack") == ["first"]


def test_a_permanent_failure_is_marked_failed_once_and_never_retried(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.notifiers["slack"].always_fail = PermanentDeliveryError("invalid_auth",
                                                                  receiver="slack")
    world.evaluate(risk())
    assert world.at(30 * SEC).deliver().failed == 1
    for minutes in range(1, 300, 7):
        world.at(minutes * MIN).deliver()
    assert world.notifiers["slack"].attempts == 1
    assert caplog.text.count("failed for good") == 1
    assert world.reasons("email") == ["first", "repeat_due"]
    failed = world.alerts.failed_deliveries()
    assert len(failed) == 1 and failed[0]["last_error"] == "invalid_auth"


def test_transient_failures_give_up_after_give_up_after(world: World) -> None:
    world.notifiers["slack"].always_fail = TransientDeliveryError("down", receiver="slack")
    world.evaluate(risk())
    hours = 0
    while not world.alerts.failed_deliveries() and hours < 60:
        hours += 1
        world.at(hours * HOUR).deliver()
    assert world.alerts.failed_deliveries()[0]["last_error"].startswith("gave up after")
    assert 48 <= hours <= 49


def test_a_hanging_receiver_never_blocks_another(tmp_path: Path, base_config: Config) -> None:
    release = threading.Event()
    with Store.open(tmp_path / "critmon.db") as store:
        world = World(configured(base_config), store)
        world.evaluate(risk())
    slack = world.notifiers["slack"]
    original = slack.send

    def hang(notification: Notification) -> SendResult:
        release.wait(120)  # until the test has seen the email
        return original(notification)

    def deliver_in_a_job_thread() -> None:
        with Store.open(tmp_path / "critmon.db") as store:
            deliver_pending(store, world.config, world.notifiers, T0 + 30 * SEC)

    slack.send = hang
    thread = threading.Thread(target=deliver_in_a_job_thread)
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=120)
        while not world.sent("email") and datetime.now(UTC) < deadline:
            threading.Event().wait(0.01)
        assert world.reasons("email") == ["first"], "email went out while slack hung"
        assert world.sent("slack") == []
    finally:
        release.set()
        thread.join(120)
    assert world.reasons("slack") == ["first"]


def test_a_notifier_bug_is_contained(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.notifiers["slack"].fail = [RuntimeError("bug")]
    world.evaluate(risk())
    assert world.at(30 * SEC).deliver().retrying == 1
    assert world.reasons("email") == ["first"]


# --------------------------------------------------------------------------- restarts


def test_a_restart_sends_nothing_twice(tmp_path: Path, base_config: Config) -> None:
    config = configured(base_config)
    with Store.open(tmp_path / "critmon.db") as store:
        before = World(config, store)
        fired_and_sent(before)
    with Store.open(tmp_path / "critmon.db") as store:
        after = World(config, store)
        assert after.at(MIN).evaluate(risk()) == []
        after.at(2 * HOUR).deliver()
        assert after.sent("slack") == after.sent("email") == []


def test_a_crash_after_claiming_resends_once_when_the_lease_ends(world: World,
                                                                  monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    def crash(stage: str) -> None:
        if stage == "claimed":
            raise KeyboardInterrupt("killed")

    world.evaluate(risk())
    monkeypatch.setattr(crash_points, "after_commit", crash)
    with pytest.raises(KeyboardInterrupt):
        world.at(30 * SEC).deliver()
    monkeypatch.setattr(crash_points, "after_commit", None)
    assert world.at(30 * SEC + LEASE - SEC).deliver().waiting == 2
    assert world.sent("slack") == []
    world.at(30 * SEC + LEASE).deliver()
    world.at(30 * SEC + LEASE + MIN).deliver()
    assert world.reasons("slack") == world.reasons("email") == ["first"]
    assert [(r["event"], r["detail"][:9]) for r in world.history() if r["receiver"] == "slack"
            ] == [("interrupted", "attempt 1"), ("sent", "attempt 2")]


def test_a_delivery_already_in_the_log_is_not_sent_again(world: World) -> None:
    fired_and_sent(world)
    # Forget what the receivers were told, as if a second process raced the first one:
    # the idempotency key in the delivery log still stops the duplicate.
    with world.store.transaction():
        world.store.db.execute("DELETE FROM notify_log")
    world.at(HOUR).deliver()
    assert world.reasons("slack") == ["first"]


# --------------------------------------------------------------------------- digests

DIGEST = ALERTING.replace(
    "  - {name: email, kind: console, send_resolved: false}",
    "  - {name: email, kind: console, digest: {schedule: 'daily 08:00', immediate: false}}")


def test_a_digest_summarises_firing_alerts_and_changes_on_schedule(base_config: Config
                                                                   ) -> None:
    world = World(configured(base_config, DIGEST))
    world.deliver()  # 07:00: the digest clock starts
    world.at(MIN).evaluate(risk())
    world.at(30 * MIN).evaluate(risk("critical", 81.0))
    world.at(45 * MIN).evaluate(risk("critical", 81.0), risk(mineral="cobalt"))
    world.at(50 * MIN).evaluate(risk("critical", 81.0), risk(None, 10.0, mineral="cobalt"))
    world.at(59 * MIN).deliver()
    assert world.sent("email") == [], "digest-only receivers get no immediate messages"
    world.at(HOUR + 5 * SEC).deliver()  # 08:00:05
    (digest,) = world.sent("email")
    assert digest.reason == Reason.DIGEST and digest.digest is not None
    assert [a.mineral for a in digest.digest.firing] == ["gallium"]
    assert [(c.kind, c.mineral) for c in digest.digest.changes] == [
        ("fired", "gallium"), ("escalated", "gallium"), ("fired", "cobalt"),
        ("resolved", "cobalt")]
    world.at(5 * HOUR).deliver()
    assert len(world.sent("email")) == 1
    world.at(25 * HOUR + 5 * SEC).deliver()  # the next morning: still firing, no changes
    assert len(world.sent("email")) == 2
    assert world.sent("email")[1].digest.changes == ()  # type: ignore[union-attr]


def test_missed_digest_slots_coalesce_into_one() -> None:
    slot = next_slots("0 8 * * *", "UTC", T0, T0 + timedelta(days=3))
    assert slot == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)
    assert next_slots("0 8 * * *", "UTC", T0, T0 + 30 * MIN) is None


def test_digest_schedules_honour_the_timezone() -> None:
    slot = next_slots("0 8 * * *", "Europe/Berlin", T0 - HOUR, T0 + 12 * HOUR)
    assert slot == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # 08:00 CET


# --------------------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("state", "log", "send_resolved", "age", "expected"),
    [
        pytest.param("firing", None, True, 0, Reason.FIRST, id="never-told"),
        pytest.param("firing", ("firing", "high", "old"), True, 0, Reason.FIRST,
                     id="told-about-an-earlier-episode"),
        pytest.param("firing", ("firing", "high", "same"), True, 1, None,
                     id="told-recently"),
        pytest.param("firing", ("firing", "high", "same"), True, 4, Reason.REPEAT_DUE,
                     id="repeat-interval-elapsed"),
        pytest.param("firing", ("firing", "warning", "same"), True, 1, Reason.ESCALATED,
                     id="higher-level-than-told"),
        pytest.param("firing", ("firing", "critical", "same"), True, 1, None,
                     id="lower-level-than-told-is-quiet"),
        pytest.param("resolved", ("firing", "high", "same"), True, 1, Reason.RESOLVED,
                     id="resolved-after-being-told"),
        pytest.param("resolved", ("firing", "high", "same"), False, 1, None,
                     id="resolved-but-send-resolved-off"),
        pytest.param("resolved", None, True, 1, None, id="resolved-never-told"),
        pytest.param("resolved", ("resolved", "high", "same"), True, 1, None,
                     id="resolved-already-told"),
        pytest.param("pending", None, True, 1, None, id="pending-is-never-sent"),
    ],
)
def test_needs_notification(state: str, log: tuple[str, str, str] | None,
                            send_resolved: bool, age: int, expected: Reason | None) -> None:
    from monitor.alerting.state import AlertState
    from monitor.alerting.store import LogEntry

    alert = AlertState(fingerprint="f", alertname="a", mineral="m", indicator="i", labels=(),
                       state=State(state), level="high", fired_at=T0)
    entry = None
    if log is not None:
        status, level, episode = log
        entry = LogEntry("r", "f", "g", T0.isoformat() if episode == "same" else "old",
                         status, level, 1.0, T0, "first")
    assert needs_notification(alert, entry, send_resolved=send_resolved,
                              repeat_interval=4 * HOUR, now=T0 + age * HOUR) == expected


def test_backoff_grows_exponentially_with_jitter_and_a_cap(base_config: Config) -> None:
    settings = base_config.alerting.delivery
    rng = random.Random(1)
    delays = [deliver.backoff(n, settings, rng).total_seconds() for n in range(1, 12)]
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    assert max(delays) <= settings.max_backoff.total_seconds()
    assert deliver.backoff(1, settings, rng, retry_after_s=30).total_seconds() >= 30


@pytest.fixture(autouse=True)
def _no_hook() -> Iterator[None]:
    yield
    crash_points.after_commit = None


def test_log_lines_one_per_state_change(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.alerting.enqueue")
    world.evaluate(risk())
    world.at(MIN).evaluate(risk())
    world.at(2 * MIN).evaluate(risk("critical", 81.0))
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.alerting.enqueue"]
    assert lines == ["alert fired: supply_risk_level gallium high (value 62.0, threshold 50.0)",
                     "alert escalated: supply_risk_level gallium high -> critical"]


def test_a_retry_nobody_picks_up_counts_as_stuck_for_health(world: World) -> None:
    world.notifiers["slack"].fail = [TransientDeliveryError("down", receiver="slack")]
    world.evaluate(risk())
    world.at(30 * SEC).deliver()
    assert world.alerts.stuck_deliveries(T0 + MIN) == 0
    assert world.alerts.stuck_deliveries(T0 + 10 * MIN) == 1
    world.at(10 * MIN).deliver()
    assert world.alerts.stuck_deliveries(T0 + 10 * MIN) == 0


def test_follow_ups_carry_the_first_messages_reference_for_threading(world: World) -> None:
    fired_and_sent(world)
    world.at(HOUR).evaluate(risk(None, 40.0))
    world.deliver()
    assert world.sent("slack")[0].thread_ref is None
    assert world.sent("slack")[1].thread_ref == "<slack-1@test>"


@pytest.mark.parametrize(
    ("digest", "problem"),
    [("{schedule: 'daily 25:00'}", "bad digest schedule"),
     ("{schedule: sometimes}", "bad digest schedule"),
     ("{schedule: 'daily 08:00', timezone: Mars/Olympus}", "unknown timezone")],
    ids=["hour-out-of-range", "not-a-schedule", "unknown-timezone"],
)
def test_bad_digest_settings_are_config_errors_naming_the_receiver(
        tmp_path: Path, digest: str, problem: str) -> None:
    from monitor.core.errors import ConfigError

    (tmp_path / "alerting.yaml").write_text(
        "version: 1\nreceivers:\n  - name: mail\n    kind: console\n"
        f"    digest: {digest}\nroute:\n  receiver: mail\n", "utf-8")
    with pytest.raises(ConfigError, match=problem) as caught:
        load_config(tmp_path)
    assert caught.value.key is not None and caught.value.key.startswith("receivers.0.digest")
    assert caught.value.line == 5


# --------------------------------------------------------------------------- isolation


@pytest.mark.parametrize("retry_after", [float("inf"), 1e300, 99999999999.0, float("nan")])
def test_a_retry_after_beyond_an_hour_waits_an_hour_and_holds_up_no_one(
        world: World, retry_after: float) -> None:
    world.notifiers["slack"].fail = [TransientDeliveryError("429", receiver="slack",
                                                            retry_after_s=retry_after)]
    world.evaluate(risk())
    report = world.at(30 * SEC).deliver()
    assert (report.sent, report.retrying) == (1, 1)
    assert world.reasons("email") == ["first"]
    (slack,) = [d for d in world.alerts.in_flight().values() if d.receiver == "slack"]
    assert slack.next_attempt_at is not None
    assert slack.next_attempt_at <= T0 + 30 * SEC + 1.1 * HOUR
    world.at(30 * SEC + 1.1 * HOUR).deliver()
    assert world.reasons("slack") == world.reasons("email") == ["first"]


class UnrecordableRef(Recorder):
    """A notifier bug: the send works but returns a reference the database cannot store."""

    def send(self, notification: Notification) -> SendResult:
        super().send(notification)
        return SendResult(ref=object())  # type: ignore[arg-type]


def test_an_outcome_that_cannot_be_recorded_is_that_messages_problem_only(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.notifiers["slack"] = UnrecordableRef("slack")
    world.evaluate(risk())
    report = world.at(30 * SEC).deliver()
    assert report.sent == 2
    rows = {r["receiver"]: r for r in world.store.db.query(
        "SELECT receiver, status, last_error FROM deliveries")}
    assert rows["email"] == {"receiver": "email", "status": "sent", "last_error": None}
    assert rows["slack"]["status"] == "sent"
    # sqlite3's ProgrammingError; on PostgreSQL the store's StoreError naming psycopg's reason
    assert rows["slack"]["last_error"].startswith(
        ("recording failed: ProgrammingError", "recording failed: StoreError: database error"))
    assert "recording the outcome failed" in caplog.text
    for minutes in (5, 30, 60):  # nothing is sent twice, nothing is stuck
        world.at(minutes * MIN).deliver()
    assert world.reasons("slack") == world.reasons("email") == ["first"]
    assert world.alerts.in_flight() == {}


def test_a_message_that_cannot_be_prepared_holds_up_only_its_own_group(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real_title = deliver.title

    def title_with_a_bug(notification: Notification) -> str:
        if any(alert.mineral == "gallium" for alert in notification.alerts):
            raise ValueError("a rendering bug")
        return real_title(notification)

    monkeypatch.setattr(deliver, "title", title_with_a_bug)
    world.evaluate(risk(), risk(mineral="cobalt"))
    world.at(30 * SEC).deliver()
    assert [n.alerts[0].mineral for n in world.sent("slack")] == ["cobalt"]
    assert "cannot prepare the message to slack" in caplog.text
    monkeypatch.setattr(deliver, "title", real_title)  # the fix is deployed
    world.at(MIN).deliver()
    assert [n.alerts[0].mineral for n in world.sent("slack")] == ["cobalt", "gallium"]
