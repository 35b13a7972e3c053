"""The alert state machine, one table row per transition."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerting.state import (
    AlertState,
    EventKind,
    State,
    Timing,
    absent_signal,
    fingerprint,
    level_rank,
    new_alert,
    signal_labels,
    step,
)
from monitor.core.models import Signal, SignalState

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOLD = timedelta(minutes=30)
KEEP = timedelta(minutes=20)


def sig(firing: bool = True, level: str | None = "high", value: float | None = 62.0,
        state: SignalState = SignalState.OK) -> Signal:
    return Signal(rule="supply_risk_level", mineral="gallium", indicator="supply_risk",
                  firing=firing, level=level if firing else None, value=value,
                  threshold=50.0 if firing else None, state=state,
                  labels=(("detector", "threshold"),))


BASE = new_alert(sig())


def alert(state: State, *, level: str | None = "high", since: datetime = T0,
          cleared: datetime | None = None, data: str = "ok") -> AlertState:
    return replace(BASE, state=state, level=level, active_since=since,
                   fired_at=since if state in (State.FIRING, State.RESOLVED) else None,
                   resolved_at=since + MIN if state == State.RESOLVED else None,
                   cleared_since=cleared, value=55.0, data_state=data)


NOW = T0 + timedelta(hours=1)
NO_HOLD = Timing()
WITH_HOLD = Timing(hold=HOLD)
WITH_KEEP = Timing(keep_firing_for=KEEP)


@pytest.mark.parametrize(
    ("prev", "signal", "timing", "state", "events"),
    [
        # An alert never seen, with nothing firing, is not even stored.
        pytest.param(None, sig(False), NO_HOLD, None, [], id="unknown-quiet-stays-unstored"),
        pytest.param(None, sig(), NO_HOLD, State.FIRING, ["fired"], id="first-breach-fires"),
        pytest.param(None, sig(), WITH_HOLD, State.PENDING, ["pending"],
                     id="first-breach-with-for-is-pending"),
        pytest.param(alert(State.PENDING, since=NOW - HOLD / 2), sig(), WITH_HOLD,
                     State.PENDING, [], id="pending-not-held-long-enough"),
        pytest.param(alert(State.PENDING, since=NOW - HOLD), sig(), WITH_HOLD,
                     State.FIRING, ["fired"], id="held-for-the-whole-for-fires"),
        # A blip that clears while pending never notifies.
        pytest.param(alert(State.PENDING), sig(False), WITH_HOLD, State.INACTIVE,
                     ["cleared"], id="pending-blip-clears"),
        pytest.param(alert(State.FIRING), sig(), NO_HOLD, State.FIRING, [],
                     id="firing-same-level-no-event"),
        pytest.param(alert(State.FIRING), sig(level="critical"), NO_HOLD, State.FIRING,
                     ["escalated"], id="level-up-escalates"),
        pytest.param(alert(State.FIRING, level="critical"), sig(), NO_HOLD, State.FIRING,
                     ["deescalated"], id="level-down-deescalates"),
        pytest.param(alert(State.FIRING), sig(False), NO_HOLD, State.RESOLVED, ["resolved"],
                     id="recovery-resolves"),
        pytest.param(alert(State.FIRING), sig(False), WITH_KEEP, State.FIRING, [],
                     id="keep-firing-for-holds-the-first-clear"),
        pytest.param(alert(State.FIRING, cleared=NOW - KEEP / 2), sig(False), WITH_KEEP,
                     State.FIRING, [], id="keep-firing-for-not-yet-over"),
        pytest.param(alert(State.FIRING, cleared=NOW - KEEP), sig(False), WITH_KEEP,
                     State.RESOLVED, ["resolved"], id="keep-firing-for-over-resolves"),
        pytest.param(alert(State.FIRING, cleared=NOW - KEEP / 2), sig(), WITH_KEEP,
                     State.FIRING, [], id="flap-back-within-keep-firing-for-is-silent"),
        pytest.param(alert(State.RESOLVED), sig(False), NO_HOLD, State.RESOLVED, [],
                     id="resolved-stays-resolved"),
        pytest.param(alert(State.RESOLVED), sig(), NO_HOLD, State.FIRING, ["fired"],
                     id="resolved-fires-again-new-episode"),
        pytest.param(alert(State.RESOLVED), sig(), WITH_HOLD, State.PENDING, ["pending"],
                     id="resolved-breach-with-for-is-pending"),
        pytest.param(alert(State.INACTIVE), sig(), NO_HOLD, State.FIRING, ["fired"],
                     id="inactive-fires"),
        pytest.param(alert(State.INACTIVE), sig(False), NO_HOLD, State.INACTIVE, [],
                     id="inactive-stays-inactive"),
        # Missing data is never a clear.
        pytest.param(alert(State.FIRING), sig(False, state=SignalState.NO_DATA), NO_HOLD,
                     State.FIRING, ["no_data"], id="no-data-keeps-firing"),
        pytest.param(alert(State.FIRING, data="no_data"), sig(False, state=SignalState.NO_DATA),
                     NO_HOLD, State.FIRING, [], id="no-data-again-records-nothing-new"),
        pytest.param(alert(State.PENDING, since=NOW - HOLD),
                     sig(False, state=SignalState.INSUFFICIENT_HISTORY), WITH_HOLD,
                     State.PENDING, ["no_data"], id="no-data-keeps-pending-and-does-not-fire"),
        pytest.param(alert(State.FIRING, data="no_data"), sig(), NO_HOLD, State.FIRING,
                     ["data_back"], id="data-back-is-recorded"),
        pytest.param(alert(State.FIRING, data="no_data"), sig(False), NO_HOLD,
                     State.RESOLVED, ["data_back", "resolved"],
                     id="data-back-below-threshold-resolves"),
        pytest.param(None, sig(False, state=SignalState.NO_DATA), NO_HOLD, None, [],
                     id="no-data-for-unknown-alert-is-nothing"),
        pytest.param(alert(State.RESOLVED), sig(False, state=SignalState.NO_DATA), NO_HOLD,
                     State.RESOLVED, [], id="no-data-on-resolved-is-nothing"),
    ],
)
def test_step(prev: AlertState | None, signal: Signal, timing: Timing, state: State | None,
              events: list[str]) -> None:
    new, transitions = step(prev, signal, timing, NOW)
    assert (new.state if new else None) == state
    assert [str(t.kind) for t in transitions] == events
    for transition in transitions:
        assert transition.alert == new, "every transition carries the final state"


def test_firing_starts_an_episode_at_now_and_resolving_keeps_it() -> None:
    fired, _ = step(None, sig(), NO_HOLD, T0)
    assert fired is not None and fired.fired_at == T0 and fired.episode == T0.isoformat()
    resolved, _ = step(fired, sig(False), NO_HOLD, T0 + MIN)
    assert resolved is not None and resolved.resolved_at == T0 + MIN
    assert resolved.episode == fired.episode
    again, _ = step(resolved, sig(), NO_HOLD, T0 + 2 * MIN)
    assert again is not None and again.episode != fired.episode and again.resolved_at is None


def test_previous_value_is_the_value_one_evaluation_ago() -> None:
    first, _ = step(None, sig(value=62.0), NO_HOLD, T0)
    second, _ = step(first, sig(level="critical", value=81.0), NO_HOLD, T0 + MIN)
    assert second is not None and (second.value, second.previous_value) == (81.0, 62.0)


def test_escalation_transition_remembers_the_level_it_came_from() -> None:
    first, _ = step(None, sig(), NO_HOLD, T0)
    _, transitions = step(first, sig(level="critical"), NO_HOLD, T0 + MIN)
    assert transitions[0].kind == EventKind.ESCALATED
    assert (transitions[0].from_level, transitions[0].level) == ("high", "critical")
    assert transitions[0].notifies


def test_fingerprint_ignores_severity_and_annotations() -> None:
    high = signal_labels(sig(level="high"))
    critical = signal_labels(replace(sig(level="critical"),
                                     labels=(("detector", "threshold"), ("severity", "x")),
                                     annotations=(("summary", "other"),)))
    assert fingerprint(high) == fingerprint(critical)
    assert fingerprint(high) == fingerprint({**high, "severity": "critical"})


def test_fingerprint_depends_on_every_identifying_label() -> None:
    base = signal_labels(sig())
    assert fingerprint(base) != fingerprint({**base, "mineral": "germanium"})
    assert fingerprint(base) != fingerprint({**base, "detector": "cusum"})
    assert len(fingerprint(base)) == 16


def test_labels_are_alertname_mineral_indicator_plus_signal_labels() -> None:
    assert signal_labels(sig()) == {"alertname": "supply_risk_level", "mineral": "gallium",
                                    "indicator": "supply_risk", "detector": "threshold"}
    fired, _ = step(None, sig(level="critical"), NO_HOLD, T0)
    assert fired is not None and fired.all_labels["severity"] == "critical"


def test_absent_signal_is_condition_false_for_the_same_alert() -> None:
    fired, _ = step(None, sig(), NO_HOLD, T0)
    assert fired is not None
    absent = absent_signal(fired)
    assert not absent.firing and fingerprint(signal_labels(absent)) == fired.fingerprint


def test_level_rank_follows_the_default_ladder_then_the_rules_own() -> None:
    assert level_rank("critical") > level_rank("high") > level_rank("warning") > level_rank(None)
    assert level_rank("level2", ("level1", "level2")) > level_rank("level1", ("level1", "level2"))


def test_a_resolution_carries_the_value_that_resolved_it() -> None:
    fired, _ = step(None, sig(value=81.0), NO_HOLD, T0)
    resolved, _ = step(fired, sig(False, value=40.0), NO_HOLD, T0 + MIN)
    assert resolved is not None and resolved.state == State.RESOLVED
    assert (resolved.value, resolved.previous_value, resolved.threshold) == (40.0, 81.0, 50.0)


def test_a_resolution_by_absence_keeps_no_stale_value() -> None:
    """A rule that no longer reports the alert has no current value: the firing one must not
    pass for the value at resolution ("now 0.98, back above 0.5")."""
    fired, _ = step(None, sig(value=0.98), NO_HOLD, T0)
    assert fired is not None
    resolved, _ = step(fired, absent_signal(fired), NO_HOLD, T0 + MIN)
    assert resolved is not None and resolved.state == State.RESOLVED
    assert (resolved.value, resolved.previous_value) == (None, 0.98)


def test_the_default_perspective_keeps_the_fingerprint_others_change_it() -> None:
    plain = signal_labels(sig())
    us = signal_labels(replace(sig(), labels=(("detector", "threshold"), ("perspective", "us"))))
    cn = signal_labels(replace(sig(), labels=(("detector", "threshold"), ("perspective", "cn"))))
    assert us["perspective"] == "us"
    assert fingerprint(us) == fingerprint(plain)  # stores from before perspectives stay valid
    assert fingerprint(cn) != fingerprint(us)


def test_an_alert_stored_without_a_perspective_takes_the_label_on_its_next_evaluation() -> None:
    old, _ = step(None, sig(), Timing(), T0)  # labels as before perspectives existed
    assert old is not None and "perspective" not in dict(old.labels)
    labelled = replace(sig(), labels=(("detector", "threshold"), ("perspective", "us")))
    new, _ = step(old, labelled, Timing(), T0 + timedelta(hours=1))
    assert new is not None and new.fingerprint == old.fingerprint
    assert new.all_labels["perspective"] == "us"
