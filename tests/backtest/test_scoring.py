"""Honest scoring: alertable exposure, onset precision, attribution, shared detections."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from click.testing import CliRunner

from monitor.backtest.events import (
    EASING_KINDS,
    KIND_FAMILIES,
    Event,
    bundled_events_text,
    kind_family,
)
from monitor.backtest.inputs import NewsEvent, ReplayData
from monitor.backtest.replay import Onset, ReplayResult
from monitor.backtest.scoring import alertable_since, cause, score
from monitor.cli.main import cli
from monitor.core.models import Frequency, Measure, Observation
from monitor.core.news_kinds import RESTRICTING_KINDS

D = date.fromisoformat
START, END = D("2021-01-01"), D("2021-12-31")


def _event(eid: str, announced: str, minerals: tuple[str, ...],
           kind: str = "export_ban") -> Event:
    return Event(eid, D(announced), None, minerals, "X", kind)


def _onset(at: str, mineral: str, rule: str = "price_jump_3m",
           factor: str = "price_change_3m") -> Onset:
    return Onset(D(at), mineral, rule, "high", f"fp-{mineral}-{rule}-{at}", factor)


def _news_onset(at: str, mineral: str, kind: str) -> Onset:
    return _onset(at, mineral, "policy_event", f"news {kind} (China)")


def _score(events: list[Event], found: list[Onset], minerals: list[str], **kw):
    return score(events, found, start=START, end=END, minerals=minerals, **kw)


# --------------------------------------------------------------------------- precision


def test_onset_precision_counts_onsets_followed_by_a_scored_event() -> None:
    """Two onsets, one with a scored event of its mineral in the window: precision 0.5."""
    events = [_event("E", "2021-05-01", ("nickel",))]
    found = [_onset("2021-03-01", "nickel"), _onset("2021-09-01", "nickel")]
    summary = _score(events, found, ["nickel"]).summary()
    assert summary["onsets_followed_by_event"] == 1
    assert summary["onset_precision"] == 0.5


def test_onset_precision_window_is_the_detection_window_and_ignores_easing() -> None:
    events = [_event("E", "2021-06-01", ("nickel",)),
              _event("EASE", "2021-06-01", ("tin",), kind="policy_relaxation")]
    found = [_onset("2021-03-03", "nickel"),   # event 90 days later: followed
             _onset("2021-03-02", "nickel"),   # 91 days later: not
             _onset("2021-07-01", "nickel"),   # event 30 days before: followed (detects it)
             _onset("2021-07-02", "nickel"),   # 31 days before: not
             _onset("2021-05-01", "tin")]      # only an easing event: not
    result = _score(events, found, ["nickel", "tin"])
    assert sorted(o.at.isoformat() for o in result.followed) == ["2021-03-03", "2021-07-01"]
    assert result.summary()["onset_precision"] == 0.4


# --------------------------------------------------------------------------- shared onsets


def test_one_onset_credited_to_two_events_is_one_onset_with_two_detections() -> None:
    events = [_event("A", "2021-03-01", ("nickel",)),
              _event("B", "2021-03-20", ("nickel", "palladium"), kind="sanction"),
              _event("C", "2021-09-01", ("nickel",))]
    found = [_onset("2021-02-15", "nickel"), _onset("2021-08-20", "nickel")]
    result = _score(events, found, ["nickel", "palladium"])
    rows = {r["id"]: r for r in result.to_json()["per_event"]}
    assert rows["A"]["shares_onset_with"] == ["B"] and rows["B"]["shares_onset_with"] == ["A"]
    assert rows["C"]["shares_onset_with"] == []
    summary = result.summary()
    assert summary["detected"] == 3
    assert summary["detecting_onsets"] == 2
    assert summary["shared_onset_detections"] == 2
    detecting = result.to_json()["detecting_onsets"]
    assert [(d["date"], d["events"]) for d in detecting] == [("2021-02-15", ["A", "B"]),
                                                             ("2021-08-20", ["C"])]


# --------------------------------------------------------------------------- attribution


def test_causes_of_onsets() -> None:
    assert cause(_news_onset("2021-01-01", "gallium", "export_control")) == "news:restriction"
    assert cause(_news_onset("2021-01-01", "gallium", "mine_disruption")) == "news:disruption"
    assert cause(_onset("2021-01-01", "nickel")) == "market"
    assert cause(_onset("2021-01-01", "nickel", "supply_risk_level",
                        "supply_risk: structural")) == "score:structural"
    assert cause(_onset("2021-01-01", "nickel", "supply_risk_level",
                        "supply_risk: market")) == "score:market"


def test_recall_with_and_without_unrelated_causes() -> None:
    events = [
        _event("MARKET", "2021-02-01", ("nickel",)),                      # price rule: related
        _event("SAME", "2021-04-01", ("gallium",), kind="export_control"),  # restriction news
        _event("OTHER", "2021-06-01", ("cobalt",), kind="export_ban"),    # disruption news
        _event("SLOW", "2021-08-01", ("lithium",), kind="mine_closure"),  # structural score
        _event("LATER", "2021-10-01", ("tin",), kind="export_quota"),     # unrelated, then ok
    ]
    found = [
        _onset("2021-01-20", "nickel"),
        _news_onset("2021-03-20", "gallium", "export_ban"),
        _news_onset("2021-05-20", "cobalt", "mine_disruption"),
        _onset("2021-07-20", "lithium", "supply_risk_level", "supply_risk: structural"),
        _onset("2021-09-01", "tin", "supply_risk_level", "supply_risk: structural"),
        _news_onset("2021-09-15", "tin", "export_quota"),
    ]
    result = _score(events, found, ["nickel", "gallium", "cobalt", "lithium", "tin"])
    rows = {r["id"]: r for r in result.to_json()["per_event"]}
    assert {i: r["cause_related"] for i, r in rows.items()} == {
        "MARKET": True, "SAME": True, "OTHER": False, "SLOW": False, "LATER": False}
    assert rows["OTHER"]["cause"] == "news:disruption"
    assert rows["OTHER"]["kind_family"] == "restriction"
    assert {i: r["detected_related"] for i, r in rows.items()} == {
        "MARKET": True, "SAME": True, "OTHER": False, "SLOW": False, "LATER": True}
    summary = result.summary()
    assert summary["recall"] == 1.0 and summary["detected"] == 5
    assert summary["detected_related"] == 3 and summary["recall_related"] == 0.6
    assert summary["first_alert_unrelated"] == 3


def test_kind_families_cover_both_vocabularies() -> None:
    """Every kind that can alert and every kind in the bundled events file has one family."""
    for kind in RESTRICTING_KINDS:
        assert kind_family(kind) in {"restriction", "disruption"}, kind
    bundled = {line.split(",")[5] for line in bundled_events_text().splitlines()[1:] if line}
    for kind in bundled:
        assert kind_family(kind) is not None, kind
    assert all(kind_family(k) == "easing" for k in EASING_KINDS)
    assert sum(len(kinds) for kinds in KIND_FAMILIES.values()) == len(
        set().union(*KIND_FAMILIES.values()))
    assert kind_family("price_move") is None


# --------------------------------------------------------------------------- exposure


def _price(mineral: str, published: str) -> Observation:
    return Observation("t", f"{mineral}-price", mineral, Measure.PRICE, D(published),
                       Frequency.MONTHLY, 1.0, "$/t", published_at=D(published))


def _news(mineral: str, at: str, risky: bool) -> NewsEvent:
    return NewsEvent(f"n-{mineral}", datetime.fromisoformat(at).replace(tzinfo=UTC), "t",
                     "https://x.test", "t", "export_ban", "China", (mineral,), (), risky, 0.9)


def test_false_alarms_per_alertable_mineral_year() -> None:
    """Exposure counts a mineral from its first price, score, supply-risk news or onset."""
    data = ReplayData([_price("nickel", "2020-11-04")], [], lambda year: D(f"{year + 1}-09-30"),
                      [_news("gallium", "2021-07-01", True), _news("tin", "2021-02-01", False)])
    minerals = ("nickel", "gallium", "copper", "tin", "lithium", "iron_ore")
    result = ReplayResult(START, END, minerals)
    result.scores["copper"].append((D("2020-06-01"), 60.0, "high"))
    since = alertable_since(result, data)
    assert since == {"nickel": D("2020-11-04"), "gallium": D("2021-07-01"),
                     "copper": D("2020-06-01")}
    found = [_onset("2021-10-01", "iron_ore")]  # no input known to the exposure: from its onset
    summary = score([], found, start=START, end=END, minerals=minerals,
                    alertable_from=since).summary()
    days = 365 + 184 + 365 + 92  # nickel, gallium from 1 Jul, copper, iron_ore from 1 Oct
    assert summary["alertable_mineral_years"] == round(days / 365.25, 2)
    assert summary["false_alarm_episodes"] == 1
    assert summary["false_alarms_per_alertable_mineral_year"] == round(365.25 / days, 4)
    assert summary["false_alarms_per_mineral_year"] == round(365.25 / (6 * 365), 4)


# --------------------------------------------------------------------------- CLI


def test_cli_backtest_json_has_new_keys_beside_the_old(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "backtest", "--from",
                                   "2022-01-01", "--to", "2022-06-30", "--mineral", "nickel",
                                   "--format", "json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    old = {"min_level", "events_scored", "detected", "recall", "median_lead_days_announced",
           "median_lead_days_effective", "false_alarm_episodes", "mineral_years",
           "false_alarms_per_mineral_year", "alert_onsets", "easing_events",
           "easing_events_alerted", "events_not_replayed"}
    new = {"alertable_mineral_years", "false_alarms_per_alertable_mineral_year",
           "onsets_followed_by_event", "onset_precision", "detected_related", "recall_related",
           "first_alert_unrelated", "detecting_onsets", "shared_onset_detections"}
    assert set(doc["summary"]) == old | new
    assert set(doc) == {"summary", "per_event", "false_alarms", "detecting_onsets", "replay"}
    ev017 = next(e for e in doc["per_event"] if e["id"] == "EV017")
    assert ev017["cause"] == "market" and ev017["cause_related"] is True
    assert doc["summary"]["alertable_mineral_years"] == doc["summary"]["mineral_years"]


def test_cli_backtest_table_shows_the_new_figures(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "backtest", "--from",
                                   "2022-01-01", "--to", "2022-04-30", "--mineral", "nickel"])
    assert out.exit_code == 0, out.output
    for key in ("false_alarms_per_alertable_mineral_year", "onset_precision", "recall_related",
                "shared_onset_detections", "shared_onset", "cause"):
        assert key in out.stdout, key
