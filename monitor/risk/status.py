"""What ``critmon status`` and ``critmon explain`` show, built from assessments (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from monitor.core.models import Signal
from monitor.risk.assess import Assessment
from monitor.risk.indicators import IndicatorValue

STATUS_COLUMNS = (
    "perspective", "mineral", "score", "level", "confidence", "nir", "hhi", "gw_hhi", "top_producer",
    "top_share", "china_share", "price", "price_unit", "price_period", "chg_3m_pct",
    "chg_12m_pct", "volatility", "policy_pressure", "trade_to_kg", "trade_chg_pct",
    "unit_value", "signals",
)


def status_columns(assessments: Sequence[Assessment], fmt: str = "table") -> tuple[str, ...]:
    """:data:`STATUS_COLUMNS`; ``perspective`` only when more than one is shown, or in JSON
    (a key more breaks no reader; a column more would change the table and the CSV)."""
    if fmt == "json" or len({a.perspective for a in assessments}) > 1:
        return STATUS_COLUMNS
    return STATUS_COLUMNS[1:]


def status_rows(assessments: Sequence[Assessment], signals: Sequence[Signal] = ()
                ) -> list[dict[str, Any]]:
    """One row per mineral and perspective, riskiest first; unknown scores last.

    Perspectives keep the order in which they come (rules.yaml's); within one, riskiest first.
    """
    firing: dict[tuple[str, str], list[str]] = {}
    for signal in signals:
        if signal.firing:
            key = (dict(signal.labels).get("perspective", "us"), signal.mineral)
            firing.setdefault(key, []).append(f"{signal.rule}:{signal.level}")
    order = {p: i for i, p in enumerate(dict.fromkeys(a.perspective for a in assessments))}
    rows = [_row(a, firing.get((a.perspective, a.mineral), [])) for a in assessments]
    return sorted(rows, key=lambda r: (order[r["perspective"]], r["score"] is None,
                                       -(r["score"] or 0), r["mineral"]))


def rows_by_perspective(assessments: Sequence[Assessment], signals: Sequence[Signal] = ()
                        ) -> dict[str, list[dict[str, Any]]]:
    """:func:`status_rows` per perspective id (for the web console: one table per economy)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in status_rows(assessments, signals):
        grouped.setdefault(row["perspective"], []).append(row)
    return grouped


def side_by_side(assessments: Sequence[Assessment], top: int = 10) -> list[dict[str, Any]]:
    """The ``top`` riskiest minerals of each perspective, side by side: row ``rank`` holds,
    per perspective id, ``"mineral score"`` (e.g. ``{"rank": 1, "us": "bismuth 63.5"}``)."""
    grouped = rows_by_perspective(assessments)
    rows = []
    for rank in range(top):
        row: dict[str, Any] = {"rank": rank + 1}
        for perspective, ranked in grouped.items():
            scored = [r for r in ranked if r["score"] is not None]
            row[perspective] = (f"{scored[rank]['mineral']} {scored[rank]['score']:.1f}"
                                if rank < len(scored) else "")
        rows.append(row)
    return rows


def _row(a: Assessment, firing: list[str]) -> dict[str, Any]:
    v = a.indicators
    top = v.get("top_producer")
    price = v.get("price")
    return {
        "perspective": a.perspective,
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


def describe_exposure(a: Assessment) -> str:
    """Where the exposure term of a perspective comes from, in one paragraph (for explain).

    The reliance figure with its source and the other published figures, the dominant-producer
    rule that made the economy a net exporter, or why it is unknown; plus the sourcing mix
    when the economy's import partners are known.
    """
    nir = a.indicators.get("net_import_reliance")
    if nir is None:
        return ""
    d = nir.detail_dict()
    who = d.get("perspective", a.perspective)
    if nir.value is None:
        text = f"import reliance ({who}) unknown: {nir.reason}"
    elif d.get("method") == "dominant producer":
        text = f"import reliance ({who}): net exporter, {d.get('why', '')}"
    elif "figure" in d:
        inherited = f" (from {d['inherited_from']})" if "inherited_from" in d else ""
        text = (f"import reliance ({who}){inherited}: {d['figure']}, stage {d.get('stage')}, "
                f"reliability {d.get('reliability')}/5, source: {d.get('source_title', '')}")
        if d.get("recycling_pct"):
            text += f"; end-of-life recycling input {d['recycling_pct']}%"
        if d.get("spread"):
            text += f"; other figures: {d['spread']}"
    else:
        text = f"import reliance ({who}): {format_nir(nir)} ({nir.source})"
    dp = a.indicators.get("governance_weighted_hhi")
    dp_detail = dp.detail_dict() if dp is not None else {}
    if "dp_sourcing" in dp_detail:
        text += (f"; governance from the sourcing mix: partners {dp_detail['partners']}, "
                 f"DP_world {dp_detail['dp_world']}, DP_sourcing {dp_detail['dp_sourcing']}")
    return text

