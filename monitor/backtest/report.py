"""One self-contained HTML report: per-mineral charts (inline SVG) and the alert history.

Charts are drawn with matplotlib's Agg/SVG backends and embedded as ``<svg>`` elements, so the
file has no external assets: it opens offline, can be mailed, and is safe to archive. Every
piece of text that reaches the HTML goes through :func:`html.escape`; matplotlib escapes the
text inside its SVG itself.

:func:`write_report` writes the file: atomically, mode 0600, and only over a previous report
(recognised by :data:`REPORT_MARKER`) unless forced; never over the state database.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a GUI backend, also on a desktop

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from monitor.alerting.state import level_rank
from monitor.backtest.events import Event
from monitor.backtest.replay import Episode, ReplayResult
from monitor.backtest.scoring import Score
from monitor.risk.prices import price_change_series
from monitor.store.database import (
    OutputRefusedError,
    check_output_path,
    looks_like_sqlite,
    write_private_file,
)

BAND_COLOURS = {"low": "#e8f5e9", "moderate": "#fff8e1", "high": "#ffe0b2", "critical": "#ffcdd2"}
EPISODE_COLOURS = {"critical": "#c62828", "high": "#ef6c00"}
_XML_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)

#: The first line after the doctype of every report: how ``--out`` knows a file it may replace.
REPORT_MARKER = "<!-- critmon report -->"
#: What reports written before the marker carry in their head.
_OLD_REPORT_SIGN = "<meta name=generator content=critmon>"
_SNIFF_BYTES = 1024


@dataclass(frozen=True, slots=True)
class ChartSpec:
    """What one mineral's chart needs besides the replay: bands and thresholds."""

    mineral: str
    name: str
    bands: tuple[tuple[str, float], ...]
    change_thresholds: tuple[float, ...] = ()


def render_report(result: ReplayResult, specs: Sequence[ChartSpec], *,
                  events: Sequence[Event] = (), episodes: Sequence[Episode] = (),
                  score: Score | None = None, since: date | None = None,
                  store_history: Sequence[Mapping[str, Any]] = (),
                  title: str = "critmon report") -> str:
    """The whole HTML document."""
    since = since or result.start
    parts = [_head(title), f"<h1>{_e(title)}</h1>",
             (f"<p class=meta>Replay {_e(result.start)} to {_e(result.end)}: "
              f"{len(result.dates)} evaluations of {len(result.minerals)} minerals, "
              f"{sum(1 for e in episodes if e.start >= since)} alert episodes shown.</p>")]
    if score is not None:
        parts.append(_summary_table(score))
    parts.append("<h2>Minerals</h2>")
    for spec in specs:
        mine = [e for e in episodes if e.mineral == spec.mineral]
        hits = [e for e in events if spec.mineral in e.minerals]
        parts.append(f'<section class=mineral id="m-{_e(spec.mineral)}">'
                     f"<h3>{_e(spec.name)} <small>({_e(spec.mineral)})</small></h3>"
                     f"{mineral_chart(result, spec, mine, hits, since)}</section>")
    parts.append("<h2>Alert history (replay)</h2>")
    parts.append(_episode_table([e for e in episodes if e.start >= since]))
    if store_history:
        parts.append("<h2>Alert history (state database)</h2>")
        parts.append(_rows_table(store_history, ["at", "type", "event", "alertname", "mineral",
                                                 "level", "reason"]))
    if score is not None:
        parts.append("<h2>Events</h2>")
        parts.append(_rows_table([s.row() for s in score.per_event],
                                 ["id", "kind", "minerals", "date_announced", "detected",
                                  "first_alert_date", "lead_days_announced",
                                  "lead_days_effective", "level", "rule", "factor"]))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def is_report(path: Path) -> bool:
    """Whether ``path`` holds a report critmon wrote (the marker within its first KB)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES).decode("utf-8", "replace")
    except OSError:
        return False
    return REPORT_MARKER in head or _OLD_REPORT_SIGN in head


def check_report_path(path: Path, *, live_db: Path | None, force: bool = False) -> None:
    """Refuse (OutputRefusedError) a path a report must not be written to.

    A previous report is replaced; another existing file only with ``force``; the state
    database and its companions, or any SQLite file, never.
    """
    check_output_path(path, live_db=live_db, force=force, replaceable=is_report, what="report")
    if looks_like_sqlite(path):
        raise OutputRefusedError(f"refusing to write the report to {path}: it is an SQLite "
                                 "database, perhaps another state directory's")


def write_report(path: Path, text: str, *, live_db: Path | None, force: bool = False) -> None:
    """Write a rendered report to ``path`` (checked as :func:`check_report_path`), 0600."""
    check_report_path(path, live_db=live_db, force=force)
    write_private_file(path, text.encode("utf-8"))


def mineral_chart(result: ReplayResult, spec: ChartSpec, episodes: Sequence[Episode],
                  events: Sequence[Event], since: date) -> str:
    """An inline ``<svg>``: supply-risk score with level bands; price and its 3-month change."""
    scores = [(d, s) for d, s, _ in result.scores.get(spec.mineral, ()) if d >= since]
    assessment = result.last_assessments.get(spec.mineral)
    prices = [(d, v) for d, v in (assessment.prices if assessment else ()) if d >= since]
    changes = [(d, v) for d, v in price_change_series(assessment.prices, 3) if d >= since] \
        if assessment and assessment.prices else []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1]})
    try:
        _score_axes(top, spec, scores)
        _price_axes(bottom, spec, prices, changes)
        for ax in (top, bottom):
            _mark(ax, episodes, events, since, result.end)
            ax.set_xlim(since, result.end)
        bottom.xaxis.set_major_locator(mdates.AutoDateLocator())
        bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(
            bottom.xaxis.get_major_locator()))
        fig.tight_layout()
        return _svg(fig)
    finally:
        plt.close(fig)


def _score_axes(ax: Any, spec: ChartSpec, scores: Sequence[tuple[date, float]]) -> None:
    bounds = [*(m for _, m in spec.bands[1:]), 100.0]
    for (name, low), high in zip(spec.bands, bounds, strict=True):
        ax.axhspan(low, high, color=BAND_COLOURS.get(name, "#eeeeee"), zorder=0)
        ax.text(1.005, (low + high) / 2, name, transform=ax.get_yaxis_transform(),
                fontsize=7, va="center")
    if scores:
        ax.step([d for d, _ in scores], [s for _, s in scores], where="post", color="#1a237e",
                lw=1.4, label="supply-risk score")
    else:
        ax.text(0.5, 0.5, "no supply-risk score (too few inputs)", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="#555555")
    ax.set_ylim(0, 100)
    ax.set_ylabel("supply risk")


def _price_axes(ax: Any, spec: ChartSpec, prices: Sequence[tuple[date, float]],
                changes: Sequence[tuple[date, float]]) -> None:
    if not prices:
        ax.text(0.5, 0.5, "no price series", transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="#555555")
        ax.set_yticks([])
        return
    ax.plot([d for d, _ in prices], [v for _, v in prices], color="#37474f", lw=1.1)
    ax.set_ylabel("price")
    if changes:
        twin = ax.twinx()
        twin.plot([d for d, _ in changes], [v for _, v in changes], color="#00897b", lw=0.9,
                  alpha=0.8)
        for threshold in spec.change_thresholds:
            twin.axhline(threshold, color="#c62828", ls="--", lw=0.8)
        twin.set_ylabel("3m log change", color="#00897b")


def _mark(ax: Any, episodes: Iterable[Episode], events: Iterable[Event], since: date,
          end: date) -> None:
    for episode in episodes:
        if (episode.end or end) < since:
            continue
        colour = EPISODE_COLOURS.get(episode.level or "", "#9e9e9e")
        ax.axvspan(max(episode.start, since), episode.end or end, color=colour, alpha=0.18,
                   lw=0)
    for event in events:
        if since <= event.announced <= end:
            ax.axvline(event.announced, color="#6a1b9a", lw=0.8, ls=":")
            ax.text(event.announced, 0.98, event.id, transform=ax.get_xaxis_transform(),
                    rotation=90, fontsize=6, va="top", ha="right", color="#6a1b9a")


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "critmon", "svg.fonttype": "path"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return _XML_PROLOGUE.sub("", buffer.getvalue(), count=1)


def _summary_table(score: Score) -> str:
    rows = [{"figure": k, "value": v} for k, v in score.summary().items()]
    return "<h2>Backtest summary</h2>" + _rows_table(rows, ["figure", "value"])


def _episode_table(episodes: Sequence[Episode]) -> str:
    rows = [{"start": e.start, "end": e.end or "firing", "mineral": e.mineral, "rule": e.rule,
             "level": e.level, "days": ((e.end - e.start).days if e.end else "")}
            for e in sorted(episodes, key=lambda e: (e.start, -level_rank(e.level)))]
    return _rows_table(rows, ["start", "end", "mineral", "rule", "level", "days"])


def _rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p class=meta>none</p>"
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(_cell(row.get(c)))}</td>" for c in columns)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _head(title: str) -> str:
    generated = datetime.now().replace(microsecond=0).isoformat()
    return (
        f"<!DOCTYPE html>\n{REPORT_MARKER}\n<html lang=en><head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><meta name=generator content=critmon>"
        f"<meta name=created content=\"{_e(generated)}\">"
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;"
        "color:#222}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "th{background:#f5f5f5}.meta{color:#555}section.mineral svg{width:100%;height:auto}"
        "</style></head><body>")
