"""Assess every mineral at a date: indicators, market context, risk score, detector series.

:func:`assess` is pure (observations and WGI in, assessments out); :func:`load_assessments`
reads what it needs from the store, keeping only data that was public at ``as_of``. The same
code serves ``critmon status``, ``explain``, the daemon's evaluate job and the backtest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from monitor.config.load import Config
from monitor.config.perspectives import US, Perspective
from monitor.core.models import Measure, Observation, Signal
from monitor.core.trade import flows_to_observations, minerals_by_code
from monitor.news.pressure import policy_pressure_for
from monitor.risk.indicators import (
    GovernanceTable,
    IndicatorValue,
    build_governance,
    compute_all_indicators,
    dated_price_indicators,
    policy_value,
)
from monitor.risk.market import MarketContext, compute_market_context
from monitor.risk.perspectives import apply_perspective, method_key
from monitor.risk.prices import (
    memo_growing,
    price_change_series,
    price_points,
    volatility_series,
)
from monitor.risk.score import RiskScore, score_mineral
from monitor.risk.track import PriceTrack
from monitor.risk.trade import (
    TRADE_SERIES,
    TradeView,
    describe_trade,
    monitored_economy,
    trade_view,
)
from monitor.rules.evaluate import DetectorCache, effective_rules, evaluate_rules
from monitor.sources.wgi import WgiEstimate
from monitor.store.database import Store

Series = list[tuple[date, float]]
PRICE_CHANGE_MONTHS = (1, 3, 12)


@dataclass(frozen=True, slots=True)
class Assessment:
    """One mineral at one date: what critmon knows, how risky it looks, and why."""

    mineral: str
    name: str
    lists: tuple[int, ...]
    indicators: dict[str, IndicatorValue]
    market: MarketContext | None
    risk: RiskScore
    prices: Series
    perspective: str = US.id
    trade: dict[str, Series] = field(default_factory=dict)


def assess(config: Config, observations: Mapping[str, Sequence[Observation]],
           wgi: Sequence[WgiEstimate] | GovernanceTable, *, as_of: date,
           previous_levels: Mapping[str, str] | None = None,
           policy_pressure: Mapping[str, float | None] | None = None,
           perspective: Perspective = US,
           only: Collection[str] | None = None,
           tracks: Mapping[str, PriceTrack] | None = None) -> list[Assessment]:
    """Assess every configured mineral from data known at ``as_of`` (pure), as seen from
    ``perspective``'s economy (``us`` by default; docs/risk-model.md, "Perspectives").

    ``wgi`` may be a prebuilt :class:`~monitor.risk.indicators.GovernanceTable` (a replay
    builds one per WGI release, not one per date). ``only`` limits the result to those
    minerals (in config order; their groups' indicators are computed for inheritance), each
    assessed exactly as in the full call. ``tracks``: price tracks of minerals whose
    observations they follow (:class:`~monitor.risk.track.PriceTrack`, a replay's); their price
    indicators, market context and price history are read from the track, which gives what
    the observations give.
    """
    tracks = tracks or {}
    minerals = config.minerals.minerals
    if only is not None:
        needed = set(only) | {m.group for m in minerals if m.id in only and m.group}
        specs = [(m.id, m.group, m.members) for m in minerals if m.id in needed]
        minerals = [m for m in minerals if m.id in only]
    else:
        specs = [(m.id, m.group, m.members) for m in minerals]
    governance = wgi if isinstance(wgi, GovernanceTable) else build_governance(wgi)
    values = compute_all_indicators(
        specs, observations, governance, as_of=as_of, policy_pressure=policy_pressure,
        prices={m: dated_price_indicators(t.indicator_values(m), t.end, as_of)
                for m, t in tracks.items()})
    values = apply_perspective(values, perspective, specs, observations, governance)
    key = method_key(perspective)
    previous_levels = previous_levels or {}
    monitored = monitored_economy(config.sources.sources)
    assessments = []
    for mineral in minerals:
        track = tracks.get(mineral.id)
        if track is not None:
            prices, market = track.points(), track.market()
        else:
            points = price_points(observations.get(mineral.id, ()))
            prices = list(points)  # price_history
            market = compute_market_context(points) if points else None
        risk = score_mineral(values[mineral.id], config.rules.risk, as_of=as_of, market=market,
                             previous_level=previous_levels.get(mineral.id), perspective=key)
        trade = memo_growing(_trade_of, _trade_reads, observations.get(mineral.id, ()),
                             mineral.id, mineral.name, monitored)
        assessments.append(Assessment(mineral.id, mineral.name, mineral.lists,
                                      {**values[mineral.id], **trade.indicators}, market, risk,
                                      prices, perspective=perspective.id,
                                      trade={k: list(v) for k, v in trade.series.items()}))
    return assessments


def with_policy_pressure(assessment: Assessment, config: Config, pressure: float | None, *,
                         as_of: date, perspective: Perspective = US) -> Assessment:
    """``assessment`` (of :func:`assess`, without a previous level) as it is with another
    policy pressure at ``as_of``, the other inputs the same: only the ``policy_pressure``
    indicator and the score read the pressure (a replay's news change it every day)."""
    indicators = dict(assessment.indicators)
    indicators["policy_pressure"] = policy_value(assessment.mineral, pressure, as_of)
    risk = score_mineral(indicators, config.rules.risk, as_of=as_of, market=assessment.market,
                         perspective=method_key(perspective))
    return replace(assessment, indicators=indicators, risk=risk)


def _trade_of(observations: Sequence[Observation], mineral: str, name: str,
              monitored: str) -> TradeView:
    return trade_view(mineral, name, observations, monitored=monitored)


def _trade_reads(o: Observation) -> bool:
    """What ``trade_view`` reads (for ``memo_growing``: a replay reuses the view of a mineral
    whose new observations are no trade flows)."""
    return o.measure in (Measure.TRADE_WEIGHT, Measure.TRADE_VALUE)


def load_assessments(store: Store, config: Config, *, as_of: date,
                     previous_levels: Mapping[str, str] | None = None,
                     perspective: Perspective = US) -> list[Assessment]:
    """Read observations and WGI public at ``as_of`` from the store and assess every mineral."""
    by_mineral, wgi = load_inputs(store, config, as_of)
    return _assess_stored(store, config, by_mineral, wgi, as_of=as_of,
                          previous_levels=previous_levels, perspective=perspective)


def load_inputs(store: Store, config: Config, as_of: date
                ) -> tuple[dict[str, list[Observation]], list[WgiEstimate]]:
    """Observations (by mineral) and WGI estimates public at ``as_of``: read once, shared by
    every perspective."""
    by_mineral: dict[str, list[Observation]] = {}
    for observation in store.observations(known_at=as_of):
        by_mineral.setdefault(observation.mineral, []).append(observation)
    by_code = minerals_by_code({m.id: m.hs_codes for m in config.minerals.minerals})
    if by_code:
        flows = store.trade_flows(known_at=as_of, hs=by_code)
        for observation in flows_to_observations(flows, by_code):
            by_mineral.setdefault(observation.mineral, []).append(observation)
    wgi = [WgiEstimate(code=row["code"], country=row["country"], year=row["year"],
                       indicator=row["indicator"], estimate=row["estimate"])
           for row in store.wgi(known_at=as_of)]
    return by_mineral, wgi


def _assess_stored(store: Store, config: Config, by_mineral: Mapping[str, Sequence[Observation]],
                   wgi: Sequence[WgiEstimate], *, as_of: date,
                   previous_levels: Mapping[str, str] | None,
                   perspective: Perspective) -> list[Assessment]:
    pressure = {m: policy_pressure_for(store, m, as_of, config.rules.news,
                                       perspective=perspective)
                for m in config.mineral_ids}
    return assess(config, by_mineral, wgi, as_of=as_of, previous_levels=previous_levels,
                  policy_pressure=pressure, perspective=perspective)


def selected_perspectives(config: Config, only: str | None = None) -> tuple[Perspective, ...]:
    """The monitored perspectives, or just ``only`` (KeyError naming it when not monitored)."""
    if only is None:
        return config.perspectives
    return (config.perspective(only),)


def assess_and_detect(store: Store, config: Config, *, as_of: date, now: datetime,
                      cache: DetectorCache | None = None, perspective: str | None = None
                      ) -> tuple[list[Assessment], list[Signal]]:
    """Assess every mineral at ``as_of`` and run the detector rules over the results, for
    each monitored perspective (or only ``perspective``).

    Every signal carries a ``perspective`` label. Assessments come perspective by
    perspective, in the order rules.yaml lists them.
    """
    assessments: list[Assessment] = []
    signals: list[Signal] = []
    by_mineral, wgi = load_inputs(store, config, as_of)
    for chosen in selected_perspectives(config, perspective):
        mine = _assess_stored(store, config, by_mineral, wgi, as_of=as_of, perspective=chosen,
                              previous_levels=store.latest_levels(chosen.id))
        series = {a.mineral: detector_series(
            a, as_of=as_of, risk_history=store.risk_series(a.mineral, chosen.id))
            for a in mine}
        found = evaluate_rules(effective_rules(config.rules, config.mineral_ids), series,
                               as_of=as_of, now=now,
                               cache=cache.child(chosen.id) if cache is not None else None)
        assessments += mine
        signals += annotate_signals(label_perspective(found, chosen.id),
                                    {a.mineral: a for a in mine})
    return assessments, signals


def label_perspective(signals: Sequence[Signal], perspective: str) -> list[Signal]:
    """Add the ``perspective`` label to every signal (routes and silences can match it)."""
    return [s if dict(s.labels).get("perspective") else
            replace(s, labels=(*s.labels, ("perspective", perspective))) for s in signals]


def detector_series(assessment: Assessment, *, as_of: date,
                    risk_history: Series = (),
                    price_series: Mapping[str, Series] | None = None) -> dict[str, Series]:
    """The time series each indicator offers to detectors, oldest first.

    Price indicators come with their whole history (log changes over 1/3/12 months, rolling
    volatility); the supply-risk score with its stored history plus today's value; every other
    indicator with its current value only. ``price_series`` is
    :func:`price_detector_series` of the assessment's prices when the caller kept it (a replay
    does while a mineral's prices do not change); the lists are then shared, not copied.
    """
    series: dict[str, Series] = dict(price_detector_series(assessment.prices)
                                     if price_series is None else price_series)
    for name, value in assessment.indicators.items():
        if name not in series and value.value is not None and math.isfinite(value.value):
            series[name] = [(as_of, float(value.value))]
    if _frequency(assessment) == "A":
        # An annual average is naturally about a year old: staleness is watched only on
        # series with a monthly (or finer) cadence, which a live source should keep fresh.
        series.pop("price_age_days", None)
    for name, points in assessment.trade.items():
        series[name] = list(points)  # monthly trade history (risk/trade.py)
    if assessment.risk.score is not None:
        history = [(d, s) for d, s in risk_history if d < as_of]
        series["supply_risk"] = [*history, (as_of, assessment.risk.score)]
    return series


#: The series :func:`price_detector_series` gives for a mineral with prices.
PRICE_SERIES = ("price", *(f"price_change_{m}m" for m in PRICE_CHANGE_MONTHS),
                "price_volatility")


def price_detector_series(prices: Sequence[tuple[date, float]],
                          only: Collection[str] | None = None) -> dict[str, Series]:
    """The price part of :func:`detector_series`: a function of the price history alone.
    ``only`` leaves out the other series (a replay builds those its rules read)."""
    series: dict[str, Series] = {}
    if prices:
        if only is None or "price" in only:
            series["price"] = list(prices)
        for months in PRICE_CHANGE_MONTHS:
            name = f"price_change_{months}m"
            if only is None or name in only:
                series[name] = price_change_series(prices, months)
        if only is None or "price_volatility" in only:
            series["price_volatility"] = volatility_series(prices)
    return series


def _frequency(assessment: Assessment) -> str | None:
    price = assessment.indicators.get("price")
    return dict(price.detail).get("frequency") if price else None


def indicator_rows(assessment: Assessment, as_of: date) -> list[dict[str, object]]:
    """Rows for the ``indicator_values`` table."""
    return [{
        "mineral": v.mineral or assessment.mineral, "perspective": assessment.perspective,
        "indicator": name, "as_of": as_of.isoformat(),
        "value": v.value, "unit": v.unit,
        "period": v.as_of.isoformat() if v.as_of else None,
        "published_at": v.published_at.isoformat() if v.published_at else None,
        "source": v.source, "qualifier": v.qualifier, "reason": v.reason,
        "detail": json.dumps(dict(v.detail), ensure_ascii=False),
    } for name, v in assessment.indicators.items()]


def score_row(assessment: Assessment, as_of: date) -> dict[str, object]:
    """A row for the ``risk_scores`` table."""
    risk = assessment.risk
    return {
        "mineral": assessment.mineral, "perspective": assessment.perspective,
        "as_of": as_of.isoformat(), "score": risk.score,
        "level": risk.level, "confidence": risk.confidence, "method": risk.method,
        "factors": json.dumps([{"name": f.name, "value": f.value, "weight": f.weight,
                                "contribution": f.contribution, "inputs": list(f.inputs),
                                "note": f.note} for f in risk.factors], ensure_ascii=False),
        "missing": json.dumps(list(risk.missing), ensure_ascii=False),
    }


def annotate_signals(signals: Sequence[Signal], assessments: Mapping[str, Assessment]
                     ) -> list[Signal]:
    """Add each mineral's risk breakdown and data sources to its signals, for the alert text."""
    annotated = []
    extras: dict[str, tuple[tuple[str, str], ...]] = {}  # one description per mineral
    for signal in signals:
        assessment = assessments.get(signal.mineral)
        if assessment is None:
            annotated.append(signal)
            continue
        extra = extras.get(signal.mineral)
        if extra is None:
            extra = extras[signal.mineral] = signal_extras(
                describe_risk(assessment.risk), describe_sources(assessment), assessment.name)
        annotated.append(replace(signal, annotations=(
            *_trade_summary(signal, assessment.indicators), *extra)))
    return annotated


def signal_extras(risk: str, sources: str, name: str) -> tuple[tuple[str, str], ...]:
    """The annotations :func:`annotate_signals` adds to every signal of a mineral."""
    return (("risk", risk), ("sources", sources), ("name", name))


def finish_signal(signal: Signal, perspective: str, extra: tuple[tuple[str, str], ...],
                  indicators: Mapping[str, IndicatorValue]) -> Signal:
    """``annotate_signals(label_perspective([signal], perspective), ...)`` of one signal whose
    mineral's annotations are ``extra`` (:func:`signal_extras`) and indicators ``indicators``,
    in one copy instead of two (the replay finishes every fresh signal of every date)."""
    labels = signal.labels if dict(signal.labels).get("perspective") else \
        (*signal.labels, ("perspective", perspective))
    return Signal(rule=signal.rule, mineral=signal.mineral, indicator=signal.indicator,
                  firing=signal.firing, level=signal.level, value=signal.value,
                  threshold=signal.threshold, as_of=signal.as_of, state=signal.state,
                  reason=signal.reason, labels=labels,
                  annotations=(*_trade_summary(signal, indicators), *extra))


def _trade_summary(signal: Signal, indicators: Mapping[str, IndicatorValue]
                   ) -> tuple[tuple[str, str], ...]:
    """A trade signal's summary in plain words (the flow, the month, the median); other
    signals keep theirs."""
    indicator = indicators.get(signal.indicator)
    if not signal.firing or signal.indicator not in TRADE_SERIES or indicator is None:
        return signal.annotations
    text = describe_trade(indicator, signal.value, signal.as_of)
    if text is None:
        return signal.annotations
    level = f" ({signal.level})" if signal.level else ""
    return (*((k, v) for k, v in signal.annotations if k != "summary"),
            ("summary", f"{text}{level}"))


def describe_risk(risk: RiskScore) -> str:
    """One line: score, level, confidence and each factor's contribution."""
    if risk.score is None:
        return f"supply risk unknown (confidence {risk.confidence:.0%})"
    parts = ", ".join(
        f"{f.name} {f.value:.2f}x{f.weight:g}" if f.value is not None else f"{f.name} missing"
        for f in risk.factors)
    return (f"supply risk {risk.score:.0f} ({risk.level}, confidence {risk.confidence:.0%}): "
            f"{parts}")


def describe_sources(assessment: Assessment) -> str:
    """The distinct sources behind the indicators, with their latest data period."""
    return sources_text(latest_by_source(assessment.indicators.values()))


def latest_by_source(values: Iterable[IndicatorValue],
                     into: dict[str, date] | None = None) -> dict[str, date]:
    """Each source of ``values`` with its latest data period (added to ``into`` if given)."""
    latest: dict[str, date] = {} if into is None else into
    for value in values:
        if value.source and value.as_of:
            latest[value.source] = max(latest.get(value.source, value.as_of), value.as_of)
    return latest


def sources_text(latest: Mapping[str, date]) -> str:
    """:func:`describe_sources`'s text of :func:`latest_by_source`'s result."""
    return "; ".join(f"{source} (data to {when.isoformat()})"
                     for source, when in sorted(latest.items()))


def signal_row(signal: Signal) -> dict[str, object]:
    """A row for the ``signals`` table (the current signal of each rule and mineral)."""
    return {
        "rule": signal.rule, "mineral": signal.mineral, "indicator": signal.indicator,
        "perspective": dict(signal.labels).get("perspective", US.id),
        "as_of": signal.as_of.isoformat() if signal.as_of else None,
        "state": str(signal.state), "firing": int(signal.firing), "level": signal.level,
        "value": signal.value, "threshold": signal.threshold, "reason": signal.reason,
    }
