"""The composite supply-risk score (DESIGN section 3): factors, score, level and method version.

Pure: indicators in, a :class:`RiskScore` out. Three factors, each in [0, 1]:

* structural S = (DP * TE * EV) ** (1/3), the USGS 2021 list method: DP the governance-weighted
  HHI, TE = NIR / 100, EV = 1 unless given;
* market M: how unusual the current price behaviour is against the mineral's own history
  (:func:`compute_market_context`): 0 for an ordinary or calm market, 1 at the extreme;
* policy P = 1 - exp(-policy_pressure).

score = 100 * clip(w_S * S + w_M * M + w_P * P, 0, 1). A factor that cannot be computed is
listed in ``missing`` and lowers ``confidence``; it is never counted as zero risk (nor as the
worst case): ``score_low``/``score_high`` give the score with the missing factors at 0 and at
1, and the score is the middle of that range. Below ``MIN_CONFIDENCE`` there is no score.
docs/risk-model.md explains the choices.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from functools import lru_cache

from monitor.config.rules import RiskLevel, RiskModelSpec
from monitor.risk.indicators import IndicatorValue
from monitor.risk.market import MARKET_PARAMS, MarketContext, MarketParams

METHOD_PREFIX = "risk-v1"

UNKNOWN_LEVEL = "unknown"

#: Below this share of the weight known, no score is given (policy alone is not a score).
MIN_CONFIDENCE = 0.3


@dataclass(frozen=True, slots=True)
class RiskFactor:
    """One factor of the score: its value, weight, contribution and the inputs it used."""

    name: str
    value: float | None
    weight: float
    contribution: float
    inputs: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A mineral's supply-risk score at one date, with its breakdown."""

    mineral: str
    as_of: date
    score: float | None
    level: str
    confidence: float
    factors: tuple[RiskFactor, ...]
    missing: tuple[str, ...]
    method: str
    score_low: float | None = None
    score_high: float | None = None
    note: str = ""


# --------------------------------------------------------------------------- published formulas


def usgs_supply_risk(dp: float, te: float, ev: float = 1.0) -> float:
    """The USGS 2021 list method's supply risk (DP * TE * EV) ** (1/3), each input in [0, 1].

    USGS (Nassar and Fortier, OFR 2021-1045) used 0.40 on this scale as its list cut-off.
    """
    for name, value in (("dp", dp), ("te", te), ("ev", ev)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    return (dp * te * ev) ** (1.0 / 3.0)


# --------------------------------------------------------------------------- factors


def _structural(indicators: Mapping[str, IndicatorValue], weight: float,
                ev: float) -> tuple[RiskFactor, list[str]]:
    inputs = ("governance_weighted_hhi", "net_import_reliance")
    dp_value, te_value = (indicators.get(name) for name in inputs)
    missing = [f"{name}: {value.reason if value else 'not computed'}"
               for name, value in zip(inputs, (dp_value, te_value), strict=True)
               if value is None or value.value is None]
    if missing:
        return RiskFactor("structural", None, weight, 0.0, inputs,
                          "S = (DP·TE·EV)^(1/3) needs DP and TE"), missing
    assert dp_value is not None and te_value is not None
    assert dp_value.value is not None and te_value.value is not None
    dp = min(1.0, max(0.0, dp_value.value))
    te = min(1.0, max(0.0, te_value.value / 100.0))
    te_detail = te_value.detail_dict()
    recycling = te_detail.get("recycling_pct")
    if recycling is not None:  # secondary supply (EoL-RIR) needs no imports
        te *= 1.0 - min(100.0, max(0.0, float(recycling))) / 100.0
    s = usgs_supply_risk(dp, te, ev)
    stage = dp_value.detail_dict().get("stage", "?")
    perspective = te_detail.get("perspective")
    exposure = f"import reliance ({perspective})" if perspective else "NIR"
    note = (f"S = (DP·TE·EV)^(1/3) = ({dp:.3f}·{te:.2f}·{ev:g})^(1/3) = {s:.3f}; "
            f"DP = governance-weighted HHI ({stage}, {_year(dp_value)}"
            f"{', sourcing mix' * ('dp_sourcing' in dp_value.detail_dict())}), "
            f"TE = {exposure} {te_value.qualifier if te_value.qualifier in ('>', '<') else ''}"
            f"{te_value.value:g}% ({_year(te_value)}){' net exporter' * (te_value.qualifier == 'E')}"
            f"{f' x (1 - EoL-RIR {recycling}%)' if recycling is not None else ''}")
    return RiskFactor("structural", s, weight, weight * s, inputs, note), []


def _year(value: IndicatorValue) -> str:
    return str(value.as_of.year) if value.as_of else "?"


def _market(market: MarketContext | None, indicators: Mapping[str, IndicatorValue],
            weight: float) -> tuple[RiskFactor, list[str]]:
    inputs = ("price",)
    if market is None:
        price = indicators.get("price")
        reason = (price.reason if price is not None and price.value is None
                  else "market context not computed")
        return RiskFactor("market", None, weight, 0.0, inputs, reason), [f"market: {reason}"]
    if market.value is None:
        return (RiskFactor("market", None, weight, 0.0, inputs, market.reason),
                [f"market: {market.reason}"])
    missing = [] if market.volatility_percentile is not None else [
        "market: volatility percentile (too few returns); change percentile alone used"]
    inputs = (f"price_change_{market.change_months}m", "price_volatility")
    return (RiskFactor("market", market.value, weight, weight * market.value, inputs,
                       f"M = {market.value:.3f} ({market.mode}): {market.note}"), missing)


def _policy(indicators: Mapping[str, IndicatorValue],
            weight: float) -> tuple[RiskFactor, list[str]]:
    inputs = ("policy_pressure",)
    pressure = indicators.get("policy_pressure")
    if pressure is None or pressure.value is None:
        reason = pressure.reason if pressure else "not computed"
        return (RiskFactor("policy", None, weight, 0.0, inputs, reason),
                [f"policy_pressure: {reason}"])
    value = 1.0 - math.exp(-max(0.0, pressure.value))
    note = f"P = 1 - exp(-{pressure.value:.3g}) = {value:.3f}"
    return RiskFactor("policy", value, weight, weight * value, inputs, note), []


# --------------------------------------------------------------------------- score and level


def score_mineral(indicators: Mapping[str, IndicatorValue], spec: RiskModelSpec, *,
                  as_of: date, market: MarketContext | None = None,
                  previous_level: str | None = None, ev: float = 1.0,
                  perspective: str = "") -> RiskScore:
    """Score one mineral from its indicators (and its market context); see the module doc.

    ``perspective`` is the perspective's method key (``risk.perspectives.method_key``): its
    data and rules are part of the method version. Empty for the default ``us``.
    """
    mineral = next((v.mineral for v in indicators.values()), "")
    weights = spec.weights
    parts = (_structural(indicators, weights.structural, ev),
             _market(market, indicators, weights.market),
             _policy(indicators, weights.policy))
    factors = tuple(factor for factor, _ in parts)
    missing = tuple(line for _, lines in parts for line in lines)
    total_weight = sum(f.weight for f in factors)
    known = [f for f in factors if f.value is not None]
    known_weight = sum(f.weight for f in known)
    confidence = known_weight / total_weight if total_weight else 0.0
    low = 100.0 * min(1.0, sum(f.contribution for f in known) / (total_weight or 1.0))
    high = min(100.0, low + 100.0 * (total_weight - known_weight) / (total_weight or 1.0))
    method = method_version(spec, market.params if market is not None else MARKET_PARAMS,
                            perspective)
    if known_weight <= 0 or confidence < MIN_CONFIDENCE:
        note = f"no score: only {confidence:.0%} of the weight is known (< {MIN_CONFIDENCE:.0%})"
        return RiskScore(mineral, as_of, None, UNKNOWN_LEVEL, confidence, factors, missing,
                         method, low, high, note)
    # An unknown factor is taken at the middle of its range: the score is the midpoint of
    # what the missing factors allow, neither zero risk nor the worst case.
    score = (low + high) / 2.0
    note = "" if confidence >= 1.0 else (
        f"{1 - confidence:.0%} of the weight unknown "
        f"({', '.join(f.name for f in factors if f.value is None)}), taken at 0.5: "
        f"the score is the middle of {low:.1f}..{high:.1f}")
    level = level_for(score, spec.levels, previous_level, spec.hysteresis)
    return RiskScore(mineral, as_of, score, level, confidence, factors, missing, method,
                     low, high, note)


def level_for(score: float, levels: Sequence[RiskLevel], previous_level: str | None,
              hysteresis: float) -> str:
    """The level of ``score``: up as soon as a threshold is reached, down only past a margin.

    A mineral at ``high`` (min 50) stays ``high`` until its score falls below
    50 - ``hysteresis``; it then drops to the highest level whose own threshold minus the
    margin is still at or below the score. An unknown previous level is ignored.
    """
    ordered = sorted(levels, key=lambda level: level.min)
    raw = max((i for i, level in enumerate(ordered) if score >= level.min), default=0)
    names = [level.name for level in ordered]
    if previous_level not in names:
        return names[raw]
    previous = names.index(previous_level)
    if raw >= previous:
        return names[raw]
    for index in range(previous, raw, -1):
        if score >= ordered[index].min - hysteresis:
            return names[index]
    return names[raw]


def method_version(spec: RiskModelSpec, params: MarketParams = MARKET_PARAMS,
                   perspective: str = "") -> str:
    """``risk-v1:`` and a short hash of everything that changes a score for the same inputs.

    ``perspective`` (a perspective's data digest and rules) joins the hash when given; the
    default ``us`` perspective gives none, so its method version is unchanged.
    """
    return _method_version(spec, params, perspective)


@lru_cache(maxsize=64)
def _method_version(spec: RiskModelSpec, params: MarketParams, perspective: str) -> str:
    """Memoised: the arguments are frozen, and every score of an evaluation asks again."""
    payload: dict[str, object] = {
        "spec": spec.model_dump(mode="json"),
        "market": asdict(params),
        "min_confidence": MIN_CONFIDENCE,
    }
    if perspective:
        payload["perspective"] = perspective
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return f"{METHOD_PREFIX}:{hashlib.sha256(text.encode()).hexdigest()[:10]}"
