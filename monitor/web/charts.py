"""SVG geometry for the console's charts, drawn on the server (pure: numbers in, shapes out).

Templates turn the shapes into ``<svg>`` elements with presentation attributes and CSS classes
only, so the Content-Security-Policy needs neither inline styles nor scripts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

Point = tuple[date, float]


@dataclass(frozen=True, slots=True)
class Band:
    """A horizontal band (a risk level) or a vertical span (an alert episode)."""

    x: float
    y: float
    width: float
    height: float
    css: str
    label: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """A horizontal line (a detector threshold) with its label."""

    y: float
    css: str
    label: str


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    line: str  # the polyline's points
    bands: tuple[Band, ...] = ()
    rules: tuple[Rule, ...] = ()
    spans: tuple[Band, ...] = ()
    x_labels: tuple[tuple[float, str], ...] = ()
    y_labels: tuple[tuple[float, str], ...] = ()
    last: tuple[float, float] | None = None
    empty: bool = False
    title: str = ""
    extra: dict[str, str] = field(default_factory=dict)


PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 10, 22


def sparkline(points: Sequence[Point], *, width: int = 120, height: int = 28,
              low: float | None = 0.0, high: float | None = 100.0) -> Chart:
    """A small line of ``points`` (no axes), on a fixed 0-100 scale for scores."""
    values = [v for _, v in points if _finite(v)]
    if len(values) < 1:
        return Chart(width, height, "", empty=True)
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    xs = _x_scale(points, 1, width - 1)
    ys = _y_scale(lo, hi, height - 2, 2)
    coords = [(xs(d), ys(v)) for d, v in points if _finite(v)]
    return Chart(width, height, _polyline(coords), last=coords[-1])


def line_chart(points: Sequence[Point], *, width: int = 720, height: int = 220,
               low: float | None = None, high: float | None = None,
               bands: Sequence[tuple[float, float, str, str]] = (),
               thresholds: Sequence[tuple[float, str, str]] = (),
               spans: Sequence[tuple[date, date, str, str]] = (),
               value_format: str = "{:.0f}") -> Chart:
    """A line chart with axes: ``bands`` are (low, high, css, label) horizontal bands (risk
    levels), ``thresholds`` (value, css, label) lines, ``spans`` (start, end, css, label)
    vertical spans (alert episodes)."""
    usable = [(d, v) for d, v in points if _finite(v)]
    if not usable:
        return Chart(width, height, "", empty=True)
    values = [v for _, v in usable] + [t for t, _, _ in thresholds]
    lo = min(values) if low is None else low
    hi = max(values) if high is None else high
    if hi <= lo:
        lo, hi = lo - 1, hi + 1
    left, right = PAD_LEFT, width - PAD_RIGHT
    top, bottom = PAD_TOP, height - PAD_BOTTOM
    xs = _x_scale(usable, left, right)
    ys = _y_scale(lo, hi, bottom, top)
    coords = [(xs(d), ys(v)) for d, v in usable]
    band_shapes = tuple(
        Band(left, ys(min(b_hi, hi)), right - left, max(0.0, ys(max(b_lo, lo)) - ys(min(b_hi, hi))),
             css, label)
        for b_lo, b_hi, css, label in bands if b_hi > lo and b_lo < hi)
    first, last = usable[0][0], usable[-1][0]
    span_shapes = tuple(
        Band(xs(max(s, first)), top, max(1.5, xs(min(e, last)) - xs(max(s, first))),
             bottom - top, css, label)
        for s, e, css, label in spans if e >= first and s <= last)
    rules = tuple(Rule(ys(t), css, label) for t, css, label in thresholds if lo <= t <= hi)
    return Chart(width, height, _polyline(coords), bands=band_shapes, rules=rules,
                 spans=span_shapes, x_labels=_year_labels(usable, xs),
                 y_labels=tuple((ys(v), _label(v, value_format)) for v in _ticks(lo, hi)),
                 last=coords[-1])


def _label(value: float, value_format: str) -> str:
    """An axis label: ``value_format``, or for ``"auto"`` thousands separators above 1000."""
    if value_format != "auto":
        return value_format.format(value)
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _x_scale(points: Sequence[Point], left: float, right: float) -> Callable[[date], float]:
    first = points[0][0].toordinal()
    span = max(1, points[-1][0].toordinal() - first)
    return lambda d: round(left + (d.toordinal() - first) / span * (right - left), 1)


def _y_scale(lo: float, hi: float, bottom: float, top: float) -> Callable[[float], float]:
    span = (hi - lo) or 1.0
    return lambda v: round(bottom - (min(max(v, lo), hi) - lo) / span * (bottom - top), 1)


def _polyline(coords: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x},{y}" for x, y in coords)


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.ceil(lo / step) * step
    ticks = []
    value = start
    while value <= hi + 1e-9 and len(ticks) < 12:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _year_labels(points: Sequence[Point], xs: Callable[[date], float]
                 ) -> tuple[tuple[float, str], ...]:
    first, last = points[0][0].year, points[-1][0].year
    years = list(range(first + 1, last + 1)) or [first]
    step = max(1, math.ceil(len(years) / 8))
    return tuple((xs(date(y, 1, 1)), str(y)) for y in years[::step]
                 if points[0][0] <= date(y, 1, 1) <= points[-1][0])
