"""Rule evaluation: rules x minerals -> signals with level, value, threshold and evidence."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.config.load import load_config
from monitor.config.rules import RulesFile
from monitor.core.models import Signal, SignalState
from monitor.risk.assess import assess, detector_series
from monitor.rules.evaluate import DetectorCache, build_matrix, effective_rules, evaluate_rules
from monitor.sources.bundled import PINKSHEET_COLUMNS, load_bundled_pinksheet

NOW = datetime(2026, 3, 1, tzinfo=UTC)
AS_OF = NOW.date()


def rules_file(rules: list[dict], overrides: dict | None = None) -> RulesFile:
    return RulesFile.model_validate({"rules": rules, "overrides": overrides or {}})


def monthly(values: list[float], start: date = date(2020, 1, 1)) -> list[tuple[date, float]]:
    out = []
    year, month = start.year, start.month
    for value in values:
        out.append((date(year, month, 1), value))
        year, month = year + (month == 12), month % 12 + 1
    return out


PRICE_JUMP = {"name": "price_jump_3m", "indicator": "price_change_3m", "minerals": "all",
              "levels": ["high", "critical"],
              "detector": {"kind": "threshold", "thresholds": [0.3, 0.6]}}


def test_a_rule_for_all_minerals_expands_to_each_mineral() -> None:
    expanded = effective_rules(rules_file([PRICE_JUMP]), ["gallium", "nickel"])
    assert [(r.rule.name, r.mineral) for r in expanded] == [
        ("price_jump_3m", "gallium"), ("price_jump_3m", "nickel")]


def test_an_override_changes_only_what_it_names_and_inherits_the_rest() -> None:
    rules = rules_file([PRICE_JUMP], {"gallium": {"price_jump_3m": {"thresholds": [0.2, 0.4]}}})
    by_mineral = {r.mineral: r for r in effective_rules(rules, ["gallium", "nickel"])}
    assert by_mineral["gallium"].params["thresholds"] == [0.2, 0.4]
    assert by_mineral["gallium"].levels == ("high", "critical")
    assert by_mineral["nickel"].params["thresholds"] == [0.3, 0.6]


def test_an_override_can_disable_a_rule_for_one_mineral() -> None:
    rules = rules_file([PRICE_JUMP], {"nickel": {"price_jump_3m": {"enabled": False}}})
    signals = evaluate_rules(effective_rules(rules, ["nickel"]),
                             {"nickel": {"price_change_3m": monthly([0.9])}}, as_of=AS_OF,
                             now=NOW)
    assert signals == []


def test_a_rule_for_listed_minerals_skips_the_others() -> None:
    rule = {**PRICE_JUMP, "minerals": ["gallium"]}
    assert [r.mineral for r in effective_rules(rules_file([rule]), ["gallium", "nickel"])] == [
        "gallium"]


@pytest.mark.parametrize(
    ("latest", "firing", "level", "threshold"),
    [
        pytest.param(0.10, False, None, None, id="calm"),
        pytest.param(0.45, True, "high", 0.3, id="above-first-threshold-is-high"),
        pytest.param(0.70, True, "critical", 0.6, id="above-second-threshold-is-critical"),
    ],
)
def test_threshold_rule_levels(latest: float, firing: bool, level: str | None,
                               threshold: float | None) -> None:
    series = {"nickel": {"price_change_3m": monthly([0.01, -0.02, 0.05, latest])}}
    [signal] = evaluate_rules(effective_rules(rules_file([PRICE_JUMP]), ["nickel"]), series,
                              as_of=AS_OF, now=NOW)
    assert (signal.firing, signal.level, signal.threshold) == (firing, level, threshold)
    assert signal.value == pytest.approx(latest)
    assert signal.as_of == date(2020, 4, 1)
    assert signal.state == SignalState.OK
    assert "threshold(" in signal.reason


PRICE_SLUMP = {"name": "price_slump_3m", "indicator": "price_change_3m", "minerals": "all",
               "levels": ["high", "critical"],
               "detector": {"kind": "threshold", "direction": "below",
                            "thresholds": [-0.3, -0.6]}}


@pytest.mark.parametrize(
    ("latest", "level", "threshold"),
    [
        pytest.param(-0.45, "high", -0.3, id="below-first-threshold-is-high"),
        pytest.param(-0.70, "critical", -0.6, id="below-second-threshold-is-critical"),
    ],
)
def test_a_below_rule_names_the_threshold_it_crossed(latest: float, level: str,
                                                     threshold: float) -> None:
    series = {"nickel": {"price_change_3m": monthly([0.01, -0.02, 0.05, latest])}}
    [signal] = evaluate_rules(effective_rules(rules_file([PRICE_SLUMP]), ["nickel"]), series,
                              as_of=AS_OF, now=NOW)
    assert (signal.firing, signal.level, signal.threshold) == (True, level, threshold)


def test_a_mineral_without_the_indicator_gets_a_no_data_signal_not_silence() -> None:
    [signal] = evaluate_rules(effective_rules(rules_file([PRICE_JUMP]), ["gallium"]), {},
                              as_of=AS_OF, now=NOW)
    assert signal.state == SignalState.NO_DATA and not signal.firing
    assert "no data for price_change_3m" in signal.reason


def test_too_little_history_is_reported_as_such() -> None:
    rule = {"name": "z", "indicator": "price_change_1m", "minerals": "all",
            "detector": {"kind": "robust_zscore", "threshold": 3.5}}
    series = {"tin": {"price_change_1m": monthly([0.01, 0.02, 0.03])}}
    [signal] = evaluate_rules(effective_rules(rules_file([rule]), ["tin"]), series, as_of=AS_OF,
                              now=NOW)
    assert signal.state == SignalState.INSUFFICIENT_HISTORY
    assert signal.reason.startswith("insufficient history (n=3 < 8)")


def test_non_finite_values_are_skipped_and_counted() -> None:
    dates, X, dropped = build_matrix([monthly([1.0, math.nan, 2.0, math.inf, 3.0])])
    assert dropped == 2 and X[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert dates == [date(2020, 1, 1), date(2020, 3, 1), date(2020, 5, 1)]
    series = {"tin": {"price_change_3m": monthly([0.1, math.nan, 0.7])}}
    [signal] = evaluate_rules(effective_rules(rules_file([PRICE_JUMP]), ["tin"]), series,
                              as_of=AS_OF, now=NOW)
    assert signal.level == "critical" and "skipped 1 non-finite value" in signal.reason


def test_a_multi_indicator_rule_uses_the_dates_the_indicators_share() -> None:
    dates, X, _ = build_matrix([monthly([1.0, 2.0, 3.0]),
                                monthly([10.0, 20.0], start=date(2020, 2, 1))])
    assert dates == [date(2020, 2, 1), date(2020, 3, 1)]
    assert X.tolist() == [[2.0, 10.0], [3.0, 20.0]]


def test_an_anomaly_rule_fires_with_its_configured_level() -> None:
    rule = {"name": "spike", "indicator": "price_change_1m", "minerals": "all",
            "levels": ["warning"], "detector": {"kind": "robust_zscore", "threshold": 3.5}}
    calm = [0.01 * ((i % 5) - 2) for i in range(36)]
    series = {"tin": {"price_change_1m": monthly([*calm, 0.4])}}
    [signal] = evaluate_rules(effective_rules(rules_file([rule]), ["tin"]), series, as_of=AS_OF,
                              now=NOW)
    assert signal.firing and signal.level == "warning"


def test_isolation_forest_is_deterministic() -> None:
    rule = {"name": "iforest", "indicator": "a,b", "minerals": "all",
            "detector": {"kind": "isolation_forest", "contamination": 0.05}}
    a = monthly([math.sin(i / 3) for i in range(60)])
    b = monthly([math.cos(i / 5) for i in range(60)])
    run = [evaluate_rules(effective_rules(rules_file([rule]), ["x"]),
                          {"x": {"a": a, "b": b}}, as_of=AS_OF, now=NOW)[0] for _ in range(2)]
    assert run[0] == run[1]


def test_fitted_detectors_are_reused_until_data_params_or_age_change() -> None:
    cache = DetectorCache(refit_every=timedelta(days=1))
    rule = {"name": "z", "indicator": "r", "minerals": "all",
            "detector": {"kind": "robust_zscore"}}
    rules = effective_rules(rules_file([rule]), ["tin"])
    series = {"tin": {"r": monthly([0.01 * (i % 7) for i in range(24)])}}
    evaluate_rules(rules, series, as_of=AS_OF, now=NOW, cache=cache)
    evaluate_rules(rules, series, as_of=AS_OF, now=NOW + timedelta(hours=1), cache=cache)
    assert cache.fits == 1
    series["tin"]["r"] = [*series["tin"]["r"], (date(2022, 1, 1), 0.02)]
    evaluate_rules(rules, series, as_of=AS_OF, now=NOW + timedelta(hours=2), cache=cache)
    assert cache.fits == 2
    evaluate_rules(rules, series, as_of=AS_OF, now=NOW + timedelta(days=2), cache=cache)
    assert cache.fits == 3
    changed = effective_rules(rules_file([rule], {"tin": {"z": {"threshold": 5.0}}}), ["tin"])
    evaluate_rules(changed, series, as_of=AS_OF, now=NOW + timedelta(days=2), cache=cache)
    assert cache.fits == 4


# --- the bundled Pink Sheet nickel series, through the same path the daemon uses -------------

def _nickel_signal(as_of: date) -> Signal:
    config = load_config(environ={})
    nickel = [o for o in load_bundled_pinksheet({"NICKEL": PINKSHEET_COLUMNS["NICKEL"]})
              if o.published_at is not None and o.published_at <= as_of]
    [assessment] = [a for a in assess(config, {"nickel": nickel}, [], as_of=as_of)
                    if a.mineral == "nickel"]
    rules = [r for r in effective_rules(config.rules, ["nickel"])
             if r.rule.name == "price_jump_3m"]
    series = {"nickel": detector_series(assessment, as_of=as_of)}
    [signal] = evaluate_rules(rules, series, as_of=as_of, now=NOW)
    return signal


def test_nickel_march_2022_lme_squeeze_fires_critical() -> None:
    signal = _nickel_signal(date(2022, 4, 5))  # March's average is public on 4 April
    assert signal.firing and signal.level == "critical"
    assert signal.as_of == date(2022, 3, 1)
    assert signal.value == pytest.approx(math.log(33924.2 / 20013.9), abs=0.02)


@pytest.mark.parametrize("month", range(1, 13))
def test_nickel_in_calm_2013_never_fires(month: int) -> None:
    # 2013: an oversupplied market drifting down before Indonesia's January 2014 ore export
    # ban; no 3-month move beyond 16% all year.
    signal = _nickel_signal(date(2013, month, 5))
    assert not signal.firing


def test_a_sequence_scorer_is_judged_on_its_history_not_the_last_row_alone() -> None:
    # trade_collapse compares the newest month with the median of the months before it: given
    # only the last row it could never fire (docs/trade.md).
    rules = effective_rules(rules_file([{
        "name": "trade_collapse", "indicator": "trade_exports_to_monitored_kg",
        "minerals": ["gallium"], "levels": ["high"],
        "detector": {"kind": "trade_collapse", "drop": 0.5}}]), ["gallium"])
    kg = [4800.0, 5000.0, 4600.0, 4900.0, 4700.0, 4800.0, 5200.0, 4800.0, 0.0]
    series = {"gallium": {"trade_exports_to_monitored_kg": monthly(kg)}}
    [signal] = evaluate_rules(rules, series, as_of=date(2020, 12, 1), now=NOW)
    assert signal.firing and signal.level == "high" and signal.value == 0.0
    assert "decision -0.500" in signal.reason
    quiet = {"gallium": {"trade_exports_to_monitored_kg": monthly([*kg[:-1], 4700.0])}}
    [calm] = evaluate_rules(rules, quiet, as_of=date(2020, 12, 1), now=NOW)
    assert not calm.firing and calm.state is SignalState.OK
