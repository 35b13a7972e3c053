"""What ``critmon status`` and ``critmon explain`` show, built from assessments (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monitor.core.models import Signal
from monitor.risk.assess import Assessment
from monitor.risk.indicators import IndicatorValue

STATUS_COLUMNS = (
    "mineral", "score", "level", "confidence", "nir", "hhi", "gw_hhi", "top_producer",
    "top_share", "china_share", "price", "price_unit", "price_period", "chg_3m_pct",
    "chg_12m_pct", "volatility", "policy_pressure", "trade_to_kg", "trade_chg_pct",
    "unit_value", "signals",
)


def status_rows(assessments: Sequence[Assessment], signals: Sequence[Signal] = ()
                ) -> list[dict[str, Any]]:
    """One row per mineral, riskiest first; unknown scores last."""
    firing: dict[str, list[str]] = {}
    for signal in signals:
        if signal.firing:
            firing.setdefault(signal.mineral, []).append(f"{signal.rule}:{signal.level}")
    rows = [_row(a, firing.get(a.mineral, [])) for a in assessments]
    return sorted(rows, key=lambda r: (r["score"] is None, -(r["score"] or 0), r["mineral"]))


def _row(a: Assessment, firing: list[str]) -> dict[str, Any]:
    v = a.indicators
    top = v.get("top_producer")
    price = v.get("price")
    return {
        "mineral": a.mineral,
        "score": _round(a.risk.score, 1), "level": a.risk.level,
        "confidence": _round(a.risk.confidence, 2),
        "nir": format_nir(v.get("net_import_reliance")),
        "hhi": _round(_value(v, "production_hhi"), 0),
        "gw_hhi": _round(_value(v, "governance_weighted_hhi"), 3),
        "top_producer": dict(top.detail).get("country") if top and top.value is not None
        else None,
        "top_share": _round(_value(v, "top_producer_share"), 3),
        "china_share": _round(_value(v, "china_share"), 3),
        "price": _round(_value(v, "price"), 4), "price_unit": price.unit if price else "",
        "price_period": price.as_of.isoformat() if price and price.as_of else None,
        "chg_3m_pct": _pct(_value(v, "price_change_3m")),
        "chg_12m_pct": _pct(_value(v, "price_change_12m")),
        "volatility": _round(_value(v, "price_volatility"), 3),
        "policy_pressure": _round(_value(v, "policy_pressure"), 3),
        # trade (risk/trade.py): top producer's exports to the monitored economy, latest month
        "trade_to_kg": _round(_value(v, "trade_exports_to_monitored_kg"), 0),
        "trade_chg_pct": _round(100 * change, 1)
        if (change := _value(v, "trade_exports_to_monitored_vs_median")) is not None else None,
        "unit_value": _round(_value(v, "trade_unit_value"), 2),
        "signals": " ".join(firing),
    }


def format_nir(value: IndicatorValue | None) -> str | None:
    """Net import reliance as USGS writes it: ``100``, ``>50``, ``E`` (net exporter), ``W``."""
    if value is None:
        return None
    if value.qualifier in ("E", "W", "NA", "XX"):
        return value.qualifier
    if value.value is None:
        return None
    prefix = value.qualifier if value.qualifier in (">", "<") else ""
    shown = value.value * 2 if prefix == "<" else value.value  # "<x" is stored as x/2
    return f"{prefix}{shown:g}"


def explain_rows(a: Assessment) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The score's factors and every indicator behind them, with source and dates."""
    factors = [{
        "factor": f.name, "value": _round(f.value, 3), "weight": f.weight,
        "contribution": _round(f.contribution * 100, 1), "inputs": ", ".join(f.inputs),
        "note": f.note,
    } for f in a.risk.factors]
    indicators = [{
        "indicator": name, "value": _round(iv.value, 4), "unit": iv.unit,
        "qualifier": iv.qualifier, "source": iv.source,
        "period": iv.as_of.isoformat() if iv.as_of else None,
        "published": iv.published_at.isoformat() if iv.published_at else None,
        "missing": iv.reason if iv.value is None else "",
    } for name, iv in a.indicators.items()]
    return factors, indicators


def _value(values: dict[str, IndicatorValue], name: str) -> float | None:
    found = values.get(name)
    return found.value if found else None


def _round(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def _pct(log_change: float | None) -> float | None:
    """A log change shown as a percentage change."""
    return None if log_change is None else round(100 * math.expm1(log_change), 1)
