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
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: never a GUI backend, also on a desktop

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from monitor.alerting.render import EN, Locale
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
                  title: str = "critmon report", locale: Locale = EN) -> str:
    """The whole HTML document, in ``locale``'s language (the alerts' translation table:
    headings, mineral names, levels, rule and factor names, dates)."""
    since = since or result.start
    loc = locale
    parts = [_head(title, loc), f"<h1>{_e(title)}</h1>",
             f"<p class=meta>{_e(_meta_line(result, episodes, since, loc))}</p>"]
    if score is not None:
        parts.append(_summary_table(score, loc))
    parts.append(f"<h2>{_e(loc.word('Minerals'))}</h2>")
    for spec in specs:
        mine = [e for e in episodes if e.mineral == spec.mineral]
        hits = [e for e in events if spec.mineral in e.minerals]
        name = spec.name if loc.language == "en" else loc.mineral(spec.mineral)
        parts.append(f'<section class=mineral id="m-{_e(spec.mineral)}">'
                     f"<h3>{_e(name)} <small>({_e(spec.mineral)})</small></h3>"
                     f"{mineral_chart(result, spec, mine, hits, since, loc)}</section>")
    parts.append(f"<h2>{_e(loc.word('Alert history (replay)'))}</h2>")
    parts.append(_episode_table([e for e in episodes if e.start >= since], loc))
    if store_history:
        parts.append(f"<h2>{_e(loc.word('Alert history (state database)'))}</h2>")
        parts.append(_rows_table(store_history, ["at", "type", "event", "alertname", "mineral",
                                                 "level", "reason"], loc))
    if score is not None:
        parts.append(f"<h2>{_e(loc.word('Events'))}</h2>")
        parts.append(_rows_table([s.row() for s in score.per_event],
                                 ["id", "kind", "minerals", "date_announced", "detected",
                                  "first_alert_date", "lead_days_announced",
                                  "lead_days_effective", "level", "rule", "factor"], loc))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def report_title(perspective_id: str, perspective_name: str, loc: Locale = EN) -> str:
    """The report's title: plain for the US perspective, naming any other."""
    if perspective_id == "us":
        return loc.word("critmon report")
    if loc.language == "zh":
        return f"critmon 报告\uff1a{perspective_name}\uff08{perspective_id}\uff09的供应安全"
    return f"critmon report: supply security of {perspective_name} ({perspective_id})"


def _meta_line(result: ReplayResult, episodes: Sequence[Episode], since: date,
               loc: Locale) -> str:
    shown = sum(1 for e in episodes if e.start >= since)
    if loc.language == "zh":
        return (f"回放 {loc.day(result.start)} 至 {loc.day(result.end)}\uff1a"
                f"{len(result.minerals)} 种矿产共评估 {len(result.dates)} 次\uff0c"
                f"显示 {shown} 个告警时段。")
    return (f"Replay {result.start} to {result.end}: {len(result.dates)} evaluations of "
            f"{len(result.minerals)} minerals, {shown} alert episodes shown.")


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
                  events: Sequence[Event], since: date, loc: Locale = EN) -> str:
    """An inline ``<svg>``: supply-risk score with level bands; price and its 3-month change.

    In Chinese the chart's words stay text in the SVG (``svg.fonttype: none``) for the
    reader's browser to draw with its own CJK font: the fonts matplotlib ships have no
    Chinese glyphs, so drawn as paths they would be empty boxes.
    """
    scores = [(d, s) for d, s, _ in result.scores.get(spec.mineral, ()) if d >= since]
    assessment = result.last_assessments.get(spec.mineral)
    prices = [(d, v) for d, v in (assessment.prices if assessment else ()) if d >= since]
    changes = [(d, v) for d, v in price_change_series(assessment.prices, 3) if d >= since] \
        if assessment and assessment.prices else []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1]})
    try:
        _score_axes(top, spec, scores, loc)
        _price_axes(bottom, spec, prices, changes, loc)
        for ax in (top, bottom):
            _mark(ax, episodes, events, since, result.end)
            ax.set_xlim(since, result.end)
        bottom.xaxis.set_major_locator(mdates.AutoDateLocator())
        bottom.xaxis.set_major_formatter(_date_formatter(bottom.xaxis.get_major_locator(), loc))
        with warnings.catch_warnings():  # layout measures CJK text with a font without it
            warnings.filterwarnings("ignore", "Glyph .* missing from", UserWarning)
            fig.tight_layout()
            return _svg(fig, text_as_text=loc.language != "en")
    finally:
        plt.close(fig)


def _score_axes(ax: Any, spec: ChartSpec, scores: Sequence[tuple[date, float]],
                loc: Locale = EN) -> None:
    bounds = [*(m for _, m in spec.bands[1:]), 100.0]
    for (name, low), high in zip(spec.bands, bounds, strict=True):
        ax.axhspan(low, high, color=BAND_COLOURS.get(name, "#eeeeee"), zorder=0)
        ax.text(1.005, (low + high) / 2, loc.level(name), transform=ax.get_yaxis_transform(),
                fontsize=7, va="center")
    if scores:
        ax.step([d for d, _ in scores], [s for _, s in scores], where="post", color="#1a237e",
                lw=1.4, label=loc.word("supply-risk score"))
    else:
        ax.text(0.5, 0.5, loc.word("no supply-risk score (too few inputs)"),
                transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#555555")
    ax.set_ylim(0, 100)
    ax.set_ylabel(loc.word("supply risk"))


def _price_axes(ax: Any, spec: ChartSpec, prices: Sequence[tuple[date, float]],
                changes: Sequence[tuple[date, float]], loc: Locale = EN) -> None:
    if not prices:
        ax.text(0.5, 0.5, loc.word("no price series"), transform=ax.transAxes, ha="center",
                va="center", fontsize=9, color="#555555")
        ax.set_yticks([])
        return
    ax.plot([d for d, _ in prices], [v for _, v in prices], color="#37474f", lw=1.1)
    ax.set_ylabel(loc.word("price"))
    if changes:
        twin = ax.twinx()
        twin.plot([d for d, _ in changes], [v for _, v in changes], color="#00897b", lw=0.9,
                  alpha=0.8)
        for threshold in spec.change_thresholds:
            twin.axhline(threshold, color="#c62828", ls="--", lw=0.8)
        twin.set_ylabel(loc.word("3m log change"), color="#00897b")


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


#: Chinese date ticks (ConciseDateFormatter's levels: years, months, days, hours, minutes,
#: seconds); the English ones are matplotlib's defaults.
_ZH_DATE_FORMATS = {
    "formats": ["%Y年", "%m月", "%d日", "%H:%M", "%H:%M", "%S.%f"],
    "zero_formats": ["", "%Y年", "%m月", "%m月%d日", "%H:%M", "%H:%M"],
    "offset_formats": ["", "%Y年", "%Y年%m月", "%Y年%m月%d日", "%Y年%m月%d日",
                       "%Y年%m月%d日 %H:%M"],
}


def _date_formatter(locator: Any, loc: Locale) -> mdates.ConciseDateFormatter:
    if loc.language == "zh":
        return mdates.ConciseDateFormatter(locator, **_ZH_DATE_FORMATS)
    return mdates.ConciseDateFormatter(locator)


def _svg(fig: Any, *, text_as_text: bool = False) -> str:
    buffer = io.StringIO()
    fonttype = "none" if text_as_text else "path"
    with matplotlib.rc_context({"svg.hashsalt": "critmon", "svg.fonttype": fonttype}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return _XML_PROLOGUE.sub("", buffer.getvalue(), count=1)


def _summary_table(score: Score, loc: Locale = EN) -> str:
    rows = [{"figure": loc.word(k), "value": loc.level(v) if k == "min_level" else v}
            for k, v in score.summary().items()]
    return (f"<h2>{_e(loc.word('Backtest summary'))}</h2>"
            + _rows_table(rows, ["figure", "value"], loc))


def _episode_table(episodes: Sequence[Episode], loc: Locale = EN) -> str:
    rows = [{"start": e.start, "end": e.end or loc.word("firing"), "mineral": e.mineral,
             "rule": e.rule, "level": e.level, "days": ((e.end - e.start).days if e.end else "")}
            for e in sorted(episodes, key=lambda e: (e.start, -level_rank(e.level)))]
    return _rows_table(rows, ["start", "end", "mineral", "rule", "level", "days"], loc)


#: Columns whose cells are words of ours (translated) rather than data (shown as they are).
_MINERAL_COLUMNS = frozenset({"mineral", "minerals", "alert_mineral"})
_WORD_COLUMNS = frozenset({"level", "rule", "alertname", "kind", "type", "event"})


def _rows_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                loc: Locale = EN) -> str:
    if not rows:
        return f"<p class=meta>{_e(loc.word('none'))}</p>"
    head = "".join(f"<th>{_e(loc.word(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(_cell(row.get(c), c, loc))}</td>"
                                    for c in columns)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any, column: str = "", loc: Locale = EN) -> str:
    """A table cell: data as it is; in another language dates, our words (levels, rules,
    kinds), mineral ids and backtest factors translated."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v, column, loc) for v in value)
    if loc.language != "en":
        return _localized_cell(value, column, loc)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _localized_cell(value: Any, column: str, loc: Locale) -> str:
    if isinstance(value, bool):
        return loc.word("yes" if value else "no")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, date) and not isinstance(value, datetime):
        return loc.day(value)
    if isinstance(value, datetime):
        return loc.when(value)
    text = str(value)
    if _ISO_DAY.fullmatch(text):
        return loc.day(date.fromisoformat(text))
    if _ISO_MOMENT.fullmatch(text):
        return _moment(text, loc)
    if column in _MINERAL_COLUMNS:
        return loc.mineral(text)
    if column in _WORD_COLUMNS:
        return loc.word(text)
    if column == "factor":
        return loc.factor(text)
    if column == "reason":  # a state change ("inactive->firing") or a delivery's reason
        return "->".join(loc.word(part) for part in text.split("->"))
    return text


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")


def _moment(text: str, loc: Locale) -> str:
    """An ISO timestamp of the state database (UTC) in the reader's form."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return text
    return loc.when(at.astimezone(UTC) if at.tzinfo else at)
_HTML_LANG = {"en": "en", "zh": "zh-Hans"}


def _head(title: str, loc: Locale = EN) -> str:
    generated = datetime.now().replace(microsecond=0).isoformat()
    return (
        f"<!DOCTYPE html>\n{REPORT_MARKER}\n<html lang={_HTML_LANG.get(loc.language, 'en')}>"
        "<head><meta charset=utf-8>"
        f"<title>{_e(title)}</title><meta name=generator content=critmon>"
        f"<meta name=created content=\"{_e(generated)}\">"
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1100px;"
        "color:#222}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "th{background:#f5f5f5}.meta{color:#555}section.mineral svg{width:100%;height:auto}"
        "</style></head><body>")
