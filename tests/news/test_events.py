"""policy_event signals: one per item, one per (mineral, source) for a burst, a cap per run."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.alerting.enqueue import enqueue_signals, evaluated_rule_names
from monitor.alerting.state import State
from monitor.alerting.store import AlertStore
from monitor.config.load import load_config
from monitor.config.rules import NewsSettings
from monitor.news.events import MAX_ALERTS_PER_EVALUATION, event_signals
from monitor.store.database import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SETTINGS = NewsSettings()
SHARES = {("gallium", "China"): 0.98, ("gallium", "Japan"): 0.01}


def share_of(mineral: str, country: str | None) -> float | None:
    return SHARES.get((mineral, country)) if country else None


def news(n: int, *, source: str = "wire", country: str | None = "China",
         confidence: float = 0.8, kind: str = "export_ban") -> dict[str, Any]:
    return {"id": f"{source}:{n:016x}", "source": source, "title": f"Story {n}",
            "url": f"https://example.org/{n}", "kind": kind, "country": country,
            "risk_confidence": confidence, "at": (T0 - timedelta(minutes=n)).isoformat(),
            "summary": ""}


def test_a_single_item_is_its_own_alert_named_by_its_id() -> None:
    [signal] = event_signals([(news(1), "gallium")], share_of, SETTINGS)
    assert dict(signal.labels)["event"] == "wire:0000000000000001"
    assert dict(signal.annotations)["items"] == "1"
    assert signal.level == "critical"  # China refines 98% of the world's gallium


def test_a_burst_from_one_source_is_one_alert_with_the_count_and_top_titles() -> None:
    burst = [news(n, confidence=0.6 + n / 1000, country="Japan") for n in range(50)]
    burst.append(news(99, confidence=0.55))  # the only Chinese item: it makes the level
    [signal] = event_signals([(item, "gallium") for item in burst], share_of, SETTINGS)
    annotations = dict(signal.annotations)
    assert annotations["items"] == "51"
    assert annotations["summary"] == ("51 new items from wire on gallium: Story 49; Story 48; "
                                      "Story 47; and 48 more")
    assert annotations["titles"] == "Story 49\nStory 48\nStory 47"
    assert annotations["country"] == "China,Japan" and annotations["producer_share"] == "0.98"
    assert signal.level == "critical"
    labels = dict(signal.labels)
    assert labels["source"] == "wire" and labels["event"].startswith("wire:")


def test_bursts_group_by_mineral_and_source() -> None:
    chosen = [(news(n, source=source), mineral) for n in range(10)
              for source in ("wire", "mofcom") for mineral in ("gallium", "germanium")]
    signals = event_signals(chosen, share_of, SETTINGS)
    assert sorted((s.mineral, dict(s.labels)["source"]) for s in signals) == [
        ("gallium", "mofcom"), ("gallium", "wire"), ("germanium", "mofcom"),
        ("germanium", "wire")]
    assert {dict(s.annotations)["items"] for s in signals} == {"10"}


def test_the_same_burst_has_the_same_labels_and_another_burst_other_ones() -> None:
    burst = [(news(n), "gallium") for n in range(5)]
    [first] = event_signals(burst, share_of, SETTINGS)
    [again] = event_signals(list(reversed(burst)), share_of, SETTINGS)
    [other] = event_signals([(news(n), "gallium") for n in range(5, 10)], share_of, SETTINGS)
    assert first.labels == again.labels
    assert dict(other.labels)["event"] != dict(first.labels)["event"]


def test_alerts_beyond_the_cap_are_left_out_with_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    chosen = [(news(n, source=f"feed{n}", country=None), "gallium") for n in range(25)]
    chosen += [(news(100 + n, source="big", country=None), "antimony") for n in range(40)]
    chosen += [(news(200), "gallium")]  # critical: China
    with caplog.at_level(logging.WARNING):
        signals = event_signals(chosen, share_of, SETTINGS)
    assert len(signals) == MAX_ALERTS_PER_EVALUATION == 20
    assert signals[0].level == "critical"
    assert dict(signals[1].annotations)["items"] == "40"
    assert ("policy events: 27 alerts in one evaluation, over the cap of 20; raising the 20 most "
            "severe and leaving out 7 (7 items; minerals gallium)") in caplog.text


def test_a_grouped_alert_fires_once_keeps_firing_then_resolves() -> None:
    config = load_config(environ={})
    store = Store.memory()
    rules = evaluated_rule_names(config)
    burst = [(news(n), "gallium") for n in range(30)]

    def states() -> list[State]:
        return [a.state for a in AlertStore(store).load_states().values()]

    enqueue_signals(store, config, event_signals(burst, share_of, SETTINGS), T0,
                    evaluated_rules=rules)
    assert states() == [State.FIRING]
    enqueue_signals(store, config, event_signals(burst, share_of, SETTINGS),
                    T0 + timedelta(minutes=15), evaluated_rules=rules)  # evaluated twice
    enqueue_signals(store, config, [], T0 + timedelta(days=1), evaluated_rules=rules)
    assert states() == [State.FIRING]  # keep_firing_for: news alert_keep_firing, 7 days
    enqueue_signals(store, config, [], T0 + timedelta(days=8), evaluated_rules=rules)
    assert states() == [State.RESOLVED]
    reasons = [row[0] for row in store.db.execute("SELECT reason FROM outbox").fetchall()]
    assert reasons.count("first") == 2  # console and jsonl, once each
