"""Rule evaluation: rules x minerals -> signals with level, value, threshold and evidence."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.config.load import load_config
from monitor.config.rules import RulesFile
from monitor.core.models import Signal, SignalState
from monitor.risk.assess import assess, detector_series
from monitor.rules.evaluate import (
    RULE_ROW_COLUMNS,
    DetectorCache,
    build_matrix,
    effective_rule_rows,
    effective_rules,
    evaluate_rules,
)
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


def test_rule_rows_flatten_the_effective_rules_and_mark_the_overridden_ones() -> None:
    rules = rules_file([PRICE_JUMP], {"gallium": {"price_jump_3m": {"thresholds": [0.2, 0.4]}}})
    rows = {row["mineral"]: row for row in effective_rule_rows(rules, ["gallium", "nickel"])}
    assert all(tuple(row) == RULE_ROW_COLUMNS for row in rows.values())
    assert rows["gallium"]["params"] == "thresholds=[0.2, 0.4]"
    assert rows["gallium"]["levels"] == "high, critical"
    assert (rows["gallium"]["overridden"], rows["nickel"]["overridden"]) == (True, False)


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


# --------------------------------------------------------------------------- replay's evaluator


def _general_matrix(columns):
    """``build_matrix`` as written before its one-column fast path (the reference)."""
    import numpy as np

    common = set.intersection(*({d for d, _ in column} for column in columns))
    lookup = [dict(column) for column in columns]
    dates = sorted(common)
    rows = [[values[d] for values in lookup] for d in dates]
    kept = [(d, r) for d, r in zip(dates, rows, strict=True)
            if all(v is not None and math.isfinite(v) for v in r)]
    if not kept:
        return [], np.empty((0, len(columns))), len(rows) - len(kept)
    return ([d for d, _ in kept], np.array([r for _, r in kept], dtype=float),
            len(rows) - len(kept))


@pytest.mark.parametrize("seed", range(10))
def test_one_column_matrix_equals_the_general_path(seed: int) -> None:
    import random

    import numpy as np

    rng = random.Random(seed)
    day = date(2020, 1, 1)
    column = [(day + timedelta(days=3 * i), rng.choice(
        [rng.uniform(-5, 5), rng.uniform(-5, 5), float("nan"), None, math.inf, 2.0]))
        for i in range(rng.randrange(0, 40))]
    if seed % 3 == 1:
        rng.shuffle(column)  # unsorted: the general path sorts
    if seed % 3 == 2 and column:
        column.append(column[0])  # a repeated date
    got, expected = build_matrix([column]), _general_matrix([column])
    assert got[0] == expected[0] and got[2] == expected[2]
    assert got[1].shape == expected[1].shape and got[1].dtype == expected[1].dtype
    np.testing.assert_array_equal(got[1], expected[1])


def test_rule_evaluator_gives_what_evaluate_rules_gives_date_after_date() -> None:
    """Rising and falling series over many dates, a rule over two indicators, an anomaly
    detector and missing data: the evaluator's signals equal ``evaluate_rules``' at each date."""
    from monitor.rules.evaluate import RuleEvaluator

    rules = effective_rules(_rules_with_anomaly(), ["nickel", "tin"])
    evaluator = RuleEvaluator()
    values = [50.0 + 30.0 * math.sin(i / 3.0) for i in range(60)]
    for step in range(1, 60):
        as_of = date(2020, 1, 1) + timedelta(days=30 * step)
        dates = [date(2020, 1, 1) + timedelta(days=30 * i) for i in range(step + 1)]
        series = {"nickel": {"supply_risk": list(zip(dates, values, strict=False)),
                             "price_change_3m": [(as_of, values[step] / 100.0)]}}
        if step % 7:  # tin: its series only some dates, unchanged in between
            series["tin"] = {"supply_risk": [(dates[0], 40.0), (dates[1], 45.0)] * (step > 5)}
        now = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC)
        assert evaluator.evaluate(rules, series, as_of=as_of) == \
            evaluate_rules(rules, series, as_of=as_of, now=now)


def _rules_with_anomaly() -> RulesFile:
    return rules_file([
        PRICE_JUMP,
        {"name": "risk_level", "indicator": "supply_risk", "minerals": "all",
         "levels": ["high", "critical"],
         "detector": {"kind": "threshold", "thresholds": [50, 75], "hysteresis": 3}},
        {"name": "risk_shift", "indicator": "supply_risk", "minerals": "all",
         "levels": ["warning"], "detector": {"kind": "cusum", "k": 0.5, "h": 3.0}},
        {"name": "risk_and_price", "indicator": "supply_risk, price_change_3m",
         "minerals": "all", "levels": ["warning"],
         "detector": {"kind": "robust_zscore", "threshold": 3.0}},
        {"name": "risk_forest", "indicator": "supply_risk", "minerals": ["nickel"],
         "levels": ["warning"], "detector": {"kind": "isolation_forest", "n_estimators": 20}},
    ])
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
