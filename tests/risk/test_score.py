"""The supply-risk score: factors, missing inputs, levels with hysteresis, method version."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import date

import pytest

from monitor.config.load import load_config
from monitor.config.rules import RiskLevel, RiskModelSpec, RiskWeights
from monitor.risk.indicators import IndicatorValue, build_governance, compute_all_indicators
from monitor.risk.market import MARKET_PARAMS, MarketContext, MarketParams, compute_market_context
from monitor.risk.prices import price_history
from monitor.risk.score import (
    MIN_CONFIDENCE,
    RiskScore,
    level_for,
    method_version,
    score_mineral,
    usgs_supply_risk,
)
from monitor.sources.bundled import (
    PINKSHEET_COLUMNS,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
    wgi_published_at,
)
from tests.risk.eu_method import eu_hhi_wgi, eu_supply_risk

AS_OF = date(2026, 3, 1)
SPEC = RiskModelSpec()  # weights 0.6 / 0.2 / 0.2, levels 0/25/50/75, hysteresis 3
LEVELS = SPEC.levels


def value(name: str, v: float | None, *, reason: str = "", qualifier: str = "",
          **detail: str) -> IndicatorValue:
    return IndicatorValue("x", name, v, as_of=date(2025, 1, 1), qualifier=qualifier,
                          reason=reason, detail=tuple(detail.items()))


def inputs(*, gw: float | None = 0.5, nir: float | None = 100.0,
           pressure: float | None = 0.0) -> dict[str, IndicatorValue]:
    return {
        "governance_weighted_hhi": value("governance_weighted_hhi", gw, stage="refinery",
                                         reason="" if gw is not None else
                                         "no world production table in MCS 2026"),
        "net_import_reliance": value("net_import_reliance", nir),
        "policy_pressure": value("policy_pressure", pressure),
        "price": value("price", None, reason="no price series"),
    }


def market(m: float | None) -> MarketContext:
    if m is None:
        return MarketContext(None, "none", reason="no price series")
    return MarketContext(m, "own_history", change=0.1, change_months=3, change_percentile=0.9,
                         volatility=0.2, volatility_percentile=0.9, note="test")


def factor(score: RiskScore, name: str) -> float | None:
    return next(f.value for f in score.factors if f.name == name)


# --------------------------------------------------------------------------- structural


def test_structural_factor_is_the_usgs_geometric_mean() -> None:
    score = score_mineral(inputs(gw=0.512, nir=50.0), SPEC, as_of=AS_OF, market=market(0.0))
    assert factor(score, "structural") == pytest.approx((0.512 * 0.5) ** (1 / 3))
    note = next(f.note for f in score.factors if f.name == "structural")
    assert note.startswith("S = (DP·TE·EV)^(1/3) = (0.512·0.50·1)^(1/3) = 0.635")


@pytest.mark.parametrize("bad", [-0.1, 1.01])
def test_usgs_supply_risk_rejects_inputs_outside_0_1(bad: float) -> None:
    with pytest.raises(ValueError, match="te must be in"):
        usgs_supply_risk(0.5, bad)


def test_a_net_exporter_has_no_structural_risk() -> None:
    indicators = inputs(nir=0.0)
    indicators["net_import_reliance"] = value("net_import_reliance", 0.0, qualifier="E")
    score = score_mineral(indicators, SPEC, as_of=AS_OF, market=market(0.0))
    assert factor(score, "structural") == 0.0
    assert "net exporter" in score.factors[0].note


# --------------------------------------------------------------------------- score


def test_the_score_is_100_times_the_weighted_sum_of_the_factors() -> None:
    score = score_mineral(inputs(gw=0.343, nir=100.0, pressure=math.log(2)), SPEC,
                          as_of=AS_OF, market=market(0.25))
    s, m, p = 0.343 ** (1 / 3), 0.25, 0.5  # P = 1 - exp(-ln 2)
    assert score.score == pytest.approx(100 * (0.6 * s + 0.2 * m + 0.2 * p))
    assert score.confidence == 1.0 and score.missing == ()
    assert [f.contribution for f in score.factors] == pytest.approx([0.6 * s, 0.2 * m, 0.2 * p])
    assert score.level == "high"


def test_a_missing_structural_factor_is_listed_and_not_counted_as_zero_risk() -> None:
    score = score_mineral(inputs(gw=None), SPEC, as_of=AS_OF, market=market(0.8))
    assert factor(score, "structural") is None
    assert score.confidence == pytest.approx(0.4)
    assert score.missing == ("governance_weighted_hhi: no world production table in MCS 2026",)
    # known part 0.2 * 0.8 = 16; the unknown 0.6 may add 0..60: the score is the middle
    assert (score.score_low, score.score_high) == pytest.approx((16.0, 76.0))
    assert score.score == pytest.approx(46.0)
    assert "taken at 0.5" in score.note


def test_no_price_series_is_listed_as_missing_market() -> None:
    score = score_mineral(inputs(), SPEC, as_of=AS_OF, market=None)
    assert factor(score, "market") is None
    assert "market: no price series" in score.missing
    assert score.confidence == pytest.approx(0.8)
    assert score.score > score.score_low


def test_a_market_context_without_a_value_is_missing_with_its_reason() -> None:
    score = score_mineral(inputs(), SPEC, as_of=AS_OF, market=market(None))
    assert "market: no price series" in score.missing


def test_with_too_little_known_there_is_no_score() -> None:
    score = score_mineral(inputs(gw=None, nir=None), SPEC, as_of=AS_OF, market=None)
    assert score.confidence == pytest.approx(0.2)
    assert score.confidence < MIN_CONFIDENCE
    assert score.score is None and score.level == "unknown"
    assert len(score.missing) == 3


def test_unknown_policy_pressure_is_missing_not_zero() -> None:
    score = score_mineral(inputs(pressure=None), SPEC, as_of=AS_OF, market=market(0.0))
    assert factor(score, "policy") is None
    assert score.score_high - score.score_low == pytest.approx(20.0)


def test_the_score_is_clipped_to_100() -> None:
    score = score_mineral(inputs(gw=1.0, nir=100.0, pressure=50.0), SPEC, as_of=AS_OF,
                          market=market(1.0))
    assert score.score == pytest.approx(100.0) and score.level == "critical"


# --------------------------------------------------------------------------- market


def monthly(values: list[float]) -> list[tuple[date, float]]:
    return [(date(1990 + i // 12, i % 12 + 1, 1), v) for i, v in enumerate(values)]


def test_a_record_move_in_a_long_history_gives_a_market_factor_near_1() -> None:
    calm = [100.0 * (1.01 if i % 2 else 1.0) for i in range(120)]
    context = compute_market_context(monthly([*calm, 100.0, 160.0, 240.0]))
    assert context.mode == "own_history"
    assert context.change_percentile == pytest.approx(1.0, abs=0.01)
    assert context.value > 0.95


def test_an_ordinary_market_adds_nothing() -> None:
    # a steady trend: the latest 3-month change is exactly the median one
    context = compute_market_context(monthly([100.0 * 1.01**i for i in range(121)]))
    assert context.value == pytest.approx(0.0)


def test_a_short_annual_history_is_judged_against_a_typical_metal() -> None:
    # antimony, MCS 2026: 5.31 6.18 5.49 10.24 25.0 $/lb
    history = [(date(2021 + i, 1, 1), v) for i, v in enumerate([5.31, 6.18, 5.49, 10.24, 25.0])]
    context = compute_market_context(history)
    sigma = MARKET_PARAMS.reference_annual_sigma
    assert context.mode == "reference" and context.change_months == 12
    assert context.change_percentile == pytest.approx(
        math.erf(math.log(25 / 10.24) / (sigma * math.sqrt(2))))
    assert context.value > 0.95


def test_a_short_historys_volatility_is_judged_by_the_chi_square_distribution() -> None:
    # 4 annual prices = 3 returns: (n-1) s^2 / sigma^2 is chi-square with 2 degrees of
    # freedom, whose CDF is 1 - exp(-x/2) = 1 - exp(-s^2 / sigma^2)
    prices = [100.0, 130.0, 110.0, 150.0]
    history = [(date(2022 + i, 1, 1), v) for i, v in enumerate(prices)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    mean = sum(returns) / 3
    variance = sum((r - mean) ** 2 for r in returns) / 2
    sigma = MARKET_PARAMS.reference_annual_sigma
    context = compute_market_context(history)
    assert context.volatility_percentile == pytest.approx(1 - math.exp(-variance / sigma**2))


def test_a_flat_annual_price_adds_nothing() -> None:
    history = [(date(2021 + i, 1, 1), 26.0) for i in range(5)]
    assert compute_market_context(history).value == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        pytest.param([], "no price series", id="none"),
        pytest.param([(date(2025, 1, 1), 104.0)], "no 12-month price change at 2025-01-01",
                     id="one-point"),
        pytest.param([(date(2025, 7, 1), 1.0), (date(2025, 9, 1), 1.0),
                      (date(2025, 11, 1), 1.0)], "no 3-month price change at 2025-11-01",
                     id="gap-before-latest"),
    ],
)
def test_no_market_factor_without_a_latest_change(history: list[tuple[date, float]],
                                                  reason: str) -> None:
    context = compute_market_context(history)
    assert context.value is None and context.reason.startswith(reason)


# --------------------------------------------------------------------------- levels


@pytest.mark.parametrize(
    ("score", "previous", "expected"),
    [
        pytest.param(10.0, None, "low", id="first-low"),
        pytest.param(50.0, None, "high", id="threshold-is-inclusive"),
        pytest.param(50.0, "moderate", "high", id="crossing-up-is-immediate"),
        pytest.param(80.0, "low", "critical", id="jump-several-levels-up"),
        pytest.param(48.0, "high", "high", id="dip-within-margin-holds"),
        pytest.param(47.0, "high", "high", id="exactly-at-margin-holds"),
        pytest.param(46.9, "high", "moderate", id="below-margin-drops"),
        pytest.param(48.0, "critical", "high", id="falls-through-critical-held-by-high-margin"),
        pytest.param(20.0, "critical", "low", id="crash-drops-to-its-level"),
        pytest.param(23.0, "high", "moderate", id="moderate-margin-holds-on-the-way-down"),
        pytest.param(60.0, "unknown", "high", id="unknown-previous-ignored"),
        pytest.param(60.0, "renamed", "high", id="level-no-longer-configured"),
    ],
)
def test_level_for(score: float, previous: str | None, expected: str) -> None:
    assert level_for(score, LEVELS, previous, 3.0) == expected


def test_levels_are_read_from_the_config_in_any_order() -> None:
    levels = (RiskLevel(name="watch", min=40), RiskLevel(name="calm", min=0))
    assert level_for(45.0, levels, None, 5.0) == "watch"
    assert level_for(36.0, levels, "watch", 5.0) == "watch"


def test_score_mineral_applies_hysteresis_with_the_previous_level() -> None:
    indicators = inputs(gw=0.11, nir=100.0)  # S = 0.479: score 28.7 + 19.0 = 47.7
    score = score_mineral(indicators, SPEC, as_of=AS_OF, market=market(0.95),
                          previous_level="high")
    assert 47.0 <= score.score < 50.0
    assert score.level == "high"
    assert score_mineral(indicators, SPEC, as_of=AS_OF, market=market(0.95)).level == "moderate"


# --------------------------------------------------------------------------- method version


def test_the_method_version_changes_with_anything_that_changes_a_score() -> None:
    base = method_version(SPEC)
    weights = RiskModelSpec(weights=RiskWeights(structural=0.5, market=0.3, policy=0.2))
    margin = RiskModelSpec(hysteresis=5)
    assert base.startswith("risk-v1:") and base == method_version(RiskModelSpec())
    assert len({base, method_version(weights), method_version(margin),
                method_version(SPEC, MarketParams(change_months=1))}) == 4


def test_a_score_carries_the_method_version() -> None:
    score = score_mineral(inputs(), SPEC, as_of=AS_OF, market=market(0.0))
    assert score.method == method_version(SPEC)


# --------------------------------------------------------------------------- EU formula


def test_eu_supply_risk_weights_global_and_eu_sourcing_by_import_reliance() -> None:
    # IR = 0.6: GS weight 0.3, EU weight 0.7
    sr = eu_supply_risk(4.0, 2.0, import_reliance=0.6, eol_rir=0.25, substitution=0.9)
    assert sr == pytest.approx((4.0 * 0.3 + 2.0 * 0.7) * 0.75 * 0.9)


def test_eu_supply_risk_with_one_sourcing_term_uses_it_alone() -> None:
    assert eu_supply_risk(5.0, None, import_reliance=0.3, eol_rir=0.0,
                          substitution=1.0) == 5.0
    assert eu_supply_risk(None, 2.0, import_reliance=0.3, eol_rir=0.5,
                          substitution=1.0) == 1.0
    with pytest.raises(ValueError, match="at least one"):
        eu_supply_risk(None, None, import_reliance=0.3, eol_rir=0.0, substitution=1.0)


def test_eu_hhi_wgi_applies_the_trade_parameter() -> None:
    shares = {"China": 0.8, "Vietnam": 0.2}
    wgi = {"China": 5.6, "Vietnam": 5.0}
    assert eu_hhi_wgi(shares, wgi, {"China": 1.1}) == pytest.approx(
        0.64 * 5.6 * 1.1 + 0.04 * 5.0)


# --------------------------------------------------------------------------- bundled ranking

TOP = ("gallium", "germanium", "graphite", "rare_earths", "tungsten", "antimony", "cobalt")
BOTTOM = ("copper", "zinc", "aluminum")


@pytest.fixture(scope="module")
def bundled_scores() -> dict[str, RiskScore]:
    """Every configured mineral scored with the shipped data known at 2026-03-01."""
    config = load_config()
    minerals = config.minerals.minerals
    observations = load_bundled_observations([(m.id, m.usgs) for m in minerals])
    observations += load_bundled_pinksheet(PINKSHEET_COLUMNS)
    by_mineral = defaultdict(list)
    for o in observations:
        if o.published_at is None or o.published_at <= AS_OF:
            by_mineral[o.mineral].append(o)
    governance = build_governance(w for w in load_bundled_wgi()
                                  if wgi_published_at(w.year) <= AS_OF)
    values = compute_all_indicators([(m.id, m.group, m.members) for m in minerals], by_mineral,
                                    governance, as_of=AS_OF)
    return {
        mineral: score_mineral(v, config.rules.risk, as_of=AS_OF,
                               market=compute_market_context(price_history(by_mineral[mineral])))
        for mineral, v in values.items()
    }


def test_the_expected_minerals_score_well_above_copper_zinc_and_aluminum(
        bundled_scores: dict[str, RiskScore]) -> None:
    top = {m: bundled_scores[m].score for m in TOP}
    bottom = {m: bundled_scores[m].score for m in BOTTOM}
    assert None not in top.values() and None not in bottom.values()
    margin = min(top.values()) - max(bottom.values())  # type: ignore[type-var,operator]
    assert margin >= 5.0, (top, bottom)


def test_bundled_scores_are_in_range_and_missing_data_is_explained(
        bundled_scores: dict[str, RiskScore]) -> None:
    for mineral, score in bundled_scores.items():
        assert score.method == bundled_scores["gallium"].method
        if score.score is None:
            assert score.level == "unknown" and score.missing, mineral
        else:
            assert 0.0 <= score.score_low <= score.score <= score.score_high <= 100.0, mineral
        if score.confidence < 1.0:
            assert score.missing, mineral
