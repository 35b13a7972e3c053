"""Silences, acks and inhibition (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerting.silences import (
    Ack,
    FiringAlert,
    InhibitRule,
    Silence,
    acked_by,
    inhibited_by,
    silenced_by,
)
from monitor.config.matchers import parse_matchers

T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
GALLIUM = {"alertname": "supply_risk_level", "mineral": "gallium", "severity": "high"}


def silence(*matchers: str, start: datetime = T0, end: datetime = T0 + HOUR) -> Silence:
    return Silence(1, matchers, start, end, "ana", "maintenance")


@pytest.mark.parametrize(
    ("at", "status"),
    [(T0 - HOUR, "pending"), (T0, "active"), (T0 + HOUR / 2, "active"),
     (T0 + HOUR, "expired")],
    ids=["before-start", "at-start", "during", "at-end-it-expires-by-itself"],
)
def test_silence_status_follows_its_window(at: datetime, status: str) -> None:
    assert silence("mineral=gallium").status(at) == status


def test_a_silence_mutes_only_matching_alerts_while_active() -> None:
    silences = [silence("mineral=gallium", "severity=~high|critical")]
    assert silenced_by(GALLIUM, silences, T0) is silences[0]
    assert silenced_by({**GALLIUM, "mineral": "cobalt"}, silences, T0) is None
    assert silenced_by({**GALLIUM, "severity": "warning"}, silences, T0) is None
    assert silenced_by(GALLIUM, silences, T0 + 2 * HOUR) is None


EPISODE = T0.isoformat()


def ack(level: str = "high", expires: datetime | None = None) -> Ack:
    return Ack(7, "fp1", level, EPISODE, "ana", "on it", T0, expires)


@pytest.mark.parametrize(
    ("fingerprint", "episode", "level", "at", "covered"),
    [
        pytest.param("fp1", EPISODE, "high", T0, True, id="same-alert-same-level"),
        pytest.param("fp1", EPISODE, "warning", T0, True, id="lower-level-still-acked"),
        pytest.param("fp1", EPISODE, "critical", T0, False, id="escalation-ends-the-ack"),
        pytest.param("fp1", "2026-04-01T00:00:00+00:00", "high", T0, False,
                     id="a-new-episode-is-not-acked"),
        pytest.param("fp2", EPISODE, "high", T0, False, id="other-alert"),
    ],
)
def test_ack_scope(fingerprint: str, episode: str, level: str, at: datetime,
                   covered: bool) -> None:
    assert (acked_by(fingerprint, episode, level, [ack()], at) is not None) is covered


def test_an_ack_with_an_expiry_ends_then() -> None:
    acks = [ack(expires=T0 + HOUR)]
    assert acked_by("fp1", EPISODE, "high", acks, T0) is not None
    assert acked_by("fp1", EPISODE, "high", acks, T0 + HOUR) is None


CRITICAL_INHIBITS_LOWER = InhibitRule(parse_matchers(['severity="critical"']),
                                      parse_matchers(['severity=~"high|warning"']),
                                      ("mineral",))


def firing(fp: str, **labels: str) -> FiringAlert:
    return FiringAlert(fp, labels)


def test_critical_alert_inhibits_lower_ones_of_the_same_mineral() -> None:
    source = firing("s", alertname="supply_risk_level", mineral="gallium", severity="critical")
    target = firing("t", alertname="price_jump_3m", mineral="gallium", severity="high")
    other = firing("o", alertname="price_jump_3m", mineral="cobalt", severity="high")
    everything = [source, target, other]
    assert inhibited_by(target, everything, [CRITICAL_INHIBITS_LOWER]) is source
    assert inhibited_by(other, everything, [CRITICAL_INHIBITS_LOWER]) is None
    assert inhibited_by(source, everything, [CRITICAL_INHIBITS_LOWER]) is None


def test_without_a_firing_source_nothing_is_inhibited() -> None:
    target = firing("t", mineral="gallium", severity="high")
    assert inhibited_by(target, [target], [CRITICAL_INHIBITS_LOWER]) is None


def test_missing_equal_labels_count_as_equal_empty_values() -> None:
    rule = InhibitRule(parse_matchers(["alertname=source_down"]),
                       parse_matchers(["alertname=price_jump"]), ("source",))
    source = firing("s", alertname="source_down")
    target = firing("t", alertname="price_jump")
    assert inhibited_by(target, [source, target], [rule]) is source
    assert inhibited_by(firing("t2", alertname="price_jump", source="lme"),
                        [source], [rule]) is None


def test_alerts_matching_both_sides_do_not_inhibit_each_other() -> None:
    rule = InhibitRule(parse_matchers(["team=a"]), parse_matchers(["team=a"]), ())
    one, two = firing("1", team="a"), firing("2", team="a")
    assert inhibited_by(one, [one, two], [rule]) is None
