"""``critmon backtest``, ``critmon demo`` and ``critmon report`` (registered in monitor/cli.py)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from monitor.alerting.deliver import deliver_pending
from monitor.alerting.enqueue import enqueue_signals, evaluated_rule_names
from monitor.alerting.receivers import build_notifiers
from monitor.alerting.state import DEFAULT_LADDER, EventKind
from monitor.backtest.events import Event, bundled_events_text, parse_events
from monitor.backtest.inputs import (
    PublicationLags,
    ReplayData,
    bundled_data,
    classify_news,
    fetched_history,
    load_price_file,
    load_trade_file,
    read_news,
)
from monitor.cli.formatting import render, safe_text, to_json
from monitor.cli.progress import Progress, progress
from monitor.config.load import Config
from monitor.core.errors import MonitorError
from monitor.core.models import Observation
from monitor.core.untrusted import clean_text
from monitor.store.database import DB_NAME, OutputRefusedError, Store

if TYPE_CHECKING:  # the replay needs NumPy and scikit-learn: imported where used, so that
    # `critmon run` (this module is part of the command line) never loads them
    from monitor.backtest.replay import DateResult, ReplayResult
    from monitor.backtest.scoring import Score

#: The default of --exclude-rule: ``monitor.backtest.scoring.DEFAULT_EXCLUDED_RULES``, which
#: tests/cli/test_progress.py pins (importing the scoring here would load scikit-learn).
DEFAULT_EXCLUDED_RULES = ("price_stale",)

DATE = click.DateTime(formats=["%Y-%m-%d"])
EVENT_COLUMNS = ["id", "kind", "minerals", "date_announced", "detected", "first_alert_date",
                 "lead_days_announced", "lead_days_effective", "level", "rule", "factor",
                 "cause", "shared_onset"]
DEMO_FROM, DEMO_TO = date(2021, 6, 1), date(2024, 8, 31)


def _config(obj: Any, config_dir: str | None) -> Config:
    if config_dir:
        obj.config_dir_option = config_dir
    return obj.load_config()


perspective_option = click.option(
    "--perspective", metavar="ID",
    help="Replay as this perspective (the economy scored: us, cn, eu or one of your own, as "
         "listed in rules.yaml) [default: the first rules.yaml lists].")


def _with_perspective(config: Config, perspective: str | None) -> Config:
    """The config with ``perspective`` alone: the replay scores the first perspective listed."""
    if perspective is None:
        return config
    if perspective not in config.perspective_ids:
        raise click.BadParameter(f"{perspective!r} is not monitored; rules.yaml lists "
                                 f"{', '.join(config.perspective_ids)}",
                                 param_hint="--perspective")
    return dataclasses.replace(config, perspectives=(config.perspective(perspective),))


def _events(path: Path | None, config: Config) -> list[Event]:
    text = path.read_text(encoding="utf-8") if path else bundled_events_text()
    events, warnings = parse_events(text, config.minerals.minerals)
    for warning in warnings:
        click.echo(safe_text(f"events: {warning}"), err=True)
    return events


def _data(config: Config, prices: Sequence[str], news: Sequence[Path], lags: PublicationLags,
          cache_dir: Path | None) -> ReplayData:
    data = with_fetched_history(bundled_data(config), config, cache_dir)
    for spec in prices:
        data.observations += _loaded("prices", partial(load_price_file, spec, config, lags))
    items = [item for path in news for item in read_news(path)]
    if items:
        data.news = classify_news(items, config, cache_dir)
        risky = sum(1 for n in data.news if n.is_supply_risk_event and n.dedup_of is None)
        click.echo(f"news: {len(items)} items, {risky} original supply-risk events", err=True)
    return data


def _trade(config: Config, paths: Sequence[Path], lag: timedelta) -> list[Observation]:
    """Observations from ``--trade`` CSVs (monitor.backtest.inputs.load_trade_file)."""
    observations: list[Observation] = []
    for path in paths:
        observations += _loaded("trade", partial(load_trade_file, path, config, lag))
    return observations


def _loaded(option: str, load: Callable[[], tuple[list[Observation], list[str]]]
            ) -> list[Observation]:
    """Rows of one ``--prices``/``--trade`` file; its warnings on stderr, a bad file as a
    usage error naming the option."""
    try:
        rows, warnings = load()
    except (OSError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=f"--{option}") from exc
    for warning in warnings:
        click.echo(safe_text(f"{option}: {warning}"), err=True)
    return rows
def with_fetched_history(data: ReplayData, config: Config, state_dir: Path | None
                         ) -> ReplayData:
    """Add the MCS editions fetched into the state database (``critmon data fetch``)."""
    if state_dir is not None:
        data.observations += fetched_history(state_dir / DB_NAME, config)
    return data


def _minerals(config: Config, minerals: Sequence[str]) -> list[str] | None:
    unknown = sorted(set(minerals) - set(config.mineral_ids))
    if unknown:
        raise click.BadParameter(f"unknown mineral(s): {', '.join(unknown)}",
                                 param_hint="--mineral")
    return list(minerals) or None


def _cache_dir(obj: Any) -> Path | None:
    state = Path(obj.state_dir)
    return state if state.is_dir() else None


def _echo_table(scored: Score, result: ReplayResult) -> None:
    rows = [row | {"minerals": ";".join(row["minerals"]),
                   "detected": _verdict(row), "cause": _cause(row),
                   "shared_onset": ";".join(row["shares_onset_with"]) or None}
            for row in (s.row() for s in scored.per_event)]
    click.echo(render(rows, EVENT_COLUMNS, "table"))
    click.echo("")
    for key, value in scored.summary().items():
        click.echo(safe_text(f"{key:40} {value}"))
    click.echo(f"{'replay':40} {result.start}..{result.end}, {len(result.dates)} evaluations, "
               f"{len(result.minerals)} minerals, {result.seconds:.1f} s")


def _cause(row: dict[str, Any]) -> str | None:
    """The first alert's cause, marked when it does not relate to the event."""
    if row["cause"] is None:
        return None
    return row["cause"] if row["cause_related"] else f"{row['cause']} (unrelated)"


def _verdict(row: dict[str, Any]) -> str:
    if not row["replayed"]:
        return "n/a"
    if row["scored"]:
        return "yes" if row["detected"] else "no"
    return "alerted" if row["detected"] else "easing"


def _live_db(obj: Any) -> Path:
    return Path(obj.state_dir) / DB_NAME


def _refuse(message: object) -> NoReturn:
    """Say why an output file was not written; exit 73 (sysexits EX_CANTCREAT)."""
    click.echo(safe_text(f"critmon: {message}"), err=True)
    sys.exit(os.EX_CANTCREAT)


def _check_report_path(obj: Any, path: Path, force: bool) -> None:
    """Fail before a long replay, not after it, when the report could not be written."""
    from monitor.backtest.report import check_report_path

    try:
        check_report_path(path, live_db=_live_db(obj), force=force)
    except OutputRefusedError as exc:
        _refuse(exc)


def _write_report(obj: Any, path: Path, config: Config, result: ReplayResult, scored: Score,
                  events: Sequence[Event], minerals: Sequence[str] | None,
                  since: date | None, store_history: Sequence[dict[str, Any]] = (), *,
                  force: bool = False, language: str = "en") -> None:
    from monitor.alerting.render import Locale
    from monitor.backtest.report import render_report, report_title, write_report
    from monitor.backtest.scoring import episodes

    eps = episodes(result.transitions)
    chosen = list(minerals or default_report_minerals(result, eps))
    seen_from = config.perspectives[0]
    locale = Locale.of(language, config.minerals.minerals)
    text = render_report(result, chart_specs(config, chosen), events=events, episodes=eps,
                         score=scored, since=since, store_history=store_history,
                         title=report_title(seen_from.id, seen_from.name, locale),
                         locale=locale)
    try:
        write_report(path, text, live_db=_live_db(obj), force=force)
    except OutputRefusedError as exc:
        _refuse(exc)
    except OSError as exc:
        _refuse(f"cannot write the report to {path}: {exc.strerror}")
    click.echo(f"report written to {path} ({len(chosen)} minerals, {len(text):,} bytes)",
               err=True)


def default_report_minerals(result: ReplayResult, eps: Sequence[Any]) -> list[str]:
    """Minerals worth a chart when none were asked for: those with prices or alerts."""
    alerted = {e.mineral for e in eps}
    return [m for m in result.minerals
            if m in alerted or (m in result.last_assessments and
                                result.last_assessments[m].prices)]


def chart_specs(config: Config, minerals: Sequence[str]) -> list[Any]:
    """Level bands and price-jump thresholds per mineral, from the effective config."""
    from monitor.backtest.report import ChartSpec
    from monitor.rules.evaluate import effective_rules

    bands = tuple((level.name, float(level.min)) for level in config.rules.risk.levels)
    specs = []
    for mineral in minerals:
        thresholds: tuple[float, ...] = ()
        for rule in effective_rules(config.rules, [mineral]):
            if rule.rule.indicator == "price_change_3m" and rule.enabled:
                thresholds = tuple(float(t) for t in rule.params.get("thresholds", ()))
        specs.append(ChartSpec(mineral, config.mineral(mineral).name, bands, thresholds))
    return specs


common = [
    click.option("--config", "config_dir", metavar="DIR", help="Config directory."),
    click.option("--prices", multiple=True, metavar="[MINERAL=]PATH",
                 help="Extra prices: long CSV or Pink Sheet PATH; MINERAL=PATH for FRED."),
    click.option("--news", "news", multiple=True, type=click.Path(exists=True, path_type=Path),
                 help="News JSONL (date,title,summary,url,lang) or a directory of RSS/Atom."),
    click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False,
                                                            path_type=Path),
                 help="Events CSV [default: the bundled events.csv]."),
    click.option("--min-level", default="high", show_default=True,
                 type=click.Choice(DEFAULT_LADDER), help="Lowest alert level that counts."),
    click.option("--mineral", "minerals", multiple=True, help="Only these minerals."),
    click.option("--exclude-rule", "excluded", multiple=True,
                 default=DEFAULT_EXCLUDED_RULES, show_default=True,
                 help="Rules whose alerts are not scored (operational ones)."),
    click.option("--lag-monthly-days", default=4, show_default=True, type=int,
                 help="--prices monthly value public this many days after its month ends."),
    click.option("--lag-annual-days", default=0, show_default=True, type=int,
                 help="--prices annual value public this many days after 31 Jan next year."),
]


def with_common(func: Any) -> Any:
    for option in reversed(common):
        func = option(func)
    return func


@click.command()
@click.option("--from", "start", type=DATE, default="2010-01-01", show_default=True)
@click.option("--to", "end", type=DATE, default="2024-08-31", show_default=True)
@with_common
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the HTML report here (replaces only a previous report).")
@click.option("--force", is_flag=True,
              help="Let --report replace an existing file that is not a critmon report.")
@perspective_option
@click.option("--trade", "trade_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Trade-flow history: a long CSV (period,reporter,partner,flow,hs,mineral,"
                   "value_usd,net_weight_kg); docs/trade.md.")
@click.option("--lag-trade-days", default=60, show_default=True, type=int,
              help="--trade month public this many days after it ends (without published_at).")
@click.pass_obj
def backtest(obj: Any, start: datetime, end: datetime, config_dir: str | None,
             prices: tuple[str, ...], news: tuple[Path, ...], events_path: Path | None,
             min_level: str, minerals: tuple[str, ...], excluded: tuple[str, ...],
             lag_monthly_days: int, lag_annual_days: int, fmt: str,
             report_path: Path | None, force: bool, perspective: str | None,
             trade_files: tuple[Path, ...] = (), lag_trade_days: int = 60) -> None:
    """Replay history through the live pipeline and score the alerts against dated events."""
    if report_path:
        _check_report_path(obj, report_path, force)
    config = _with_perspective(_config(obj, config_dir), perspective)
    lags = PublicationLags(monthly=timedelta(days=lag_monthly_days),
                           annual=timedelta(days=lag_annual_days))
    data = _data(config, prices, news, lags, _cache_dir(obj))
    data.observations += _trade(config, trade_files, timedelta(days=lag_trade_days))
    events = _events(events_path, config)
    from monitor.backtest.scoring import dumps, run_backtest

    with progress("replaying", fmt=fmt, unit="date") as bar:
        result, scored = run_backtest(
            config, data, events, start=start.date(), end=end.date(),
            minerals=_minerals(config, minerals), min_level=min_level, excluded_rules=excluded,
            **progress_argument(run_backtest, bar))
    if fmt == "json":
        click.echo(to_json(json.loads(dumps(scored, result))))
    else:
        _echo_table(scored, result)
    if report_path:
        _write_report(obj, report_path, config, result, scored, events, minerals or None,
                      start.date(), force=force)


@click.command()
@click.option("--from", "start", type=DATE, default=DEMO_FROM.isoformat(), show_default=True)
@click.option("--to", "end", type=DATE, default=DEMO_TO.isoformat(), show_default=True)
@click.option("--pause", default=0.0, show_default=True, type=float,
              help="Seconds to wait between simulated dates (0: as fast as possible).")
@click.option("--deliver", is_flag=True,
              help="Also send the replayed alerts to the receivers of alerting.yaml (Slack, "
                   "email, ...), through the real delivery pipeline.")
@click.pass_obj
def demo(obj: Any, start: datetime, end: datetime, pause: float, deliver: bool) -> None:
    """Replay a recent stretch of bundled history, alerts to the console, then the summary."""
    config = obj.load_config()
    outbox = _DemoOutbox(config, obj.state_dir) if deliver else None
    events = _events(None, config)
    click.echo(f"critmon demo: replaying {start.date()}..{end.date()} from the bundled data "
               f"(no network)\n")

    def show(out: DateResult) -> None:
        if out.as_of < start.date():
            return
        for t in out.transitions:
            if t.kind in (EventKind.FIRED, EventKind.ESCALATED, EventKind.RESOLVED):
                click.echo(demo_line(out.as_of, t))
        if outbox is not None:
            outbox.deliver(out)
        if pause:
            time.sleep(pause)

    from monitor.backtest.scoring import run_backtest

    try:
        result, scored = run_backtest(config, bundled_data(config), events, start=start.date(),
                                      end=end.date(), on_date=show)
    finally:
        if outbox is not None:
            outbox.close()
    click.echo("")
    _echo_table(scored, result)


class _DemoOutbox:
    """Send replayed alerts through the real pipeline, from a throwaway store."""

    def __init__(self, config: Any, state_dir: Path) -> None:
        self.config = config
        self.notifiers = build_notifiers(config, state_dir)
        self._dir = tempfile.TemporaryDirectory(prefix="critmon-demo-")
        self.store = Store.open(Path(self._dir.name) / DB_NAME)

    def deliver(self, out: DateResult) -> None:
        now = datetime.combine(out.as_of, datetime.min.time(), UTC)
        enqueue_signals(self.store, self.config, out.signals, now,
                        evaluated_rules=evaluated_rule_names(self.config))
        report = deliver_pending(self.store, self.config, self.notifiers, now, flush=True)
        if report.failed or report.retrying:
            click.echo(f"{out.as_of}  delivery: {report}", err=True)

    def close(self) -> None:
        self.store.close()
        self._dir.cleanup()


def demo_line(as_of: date, t: Any) -> str:
    """One console line per alert transition (its text cleaned; only our colour is ANSI)."""
    summary = clean_text(dict(t.alert.annotations).get("summary", ""), limit=None)
    kind = str(t.kind).upper()
    colour = {"FIRED": "red", "ESCALATED": "magenta", "RESOLVED": "green"}.get(kind)
    head = click.style(f"{kind:9}", fg=colour, bold=True)
    return f"{as_of}  {head} {clean_text(t.alert.alertname):18} " \
           f"{clean_text(t.alert.mineral):14} {clean_text(t.level or ''):8} {summary}"


@click.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file (0600); replaces only a previous report.")
@click.option("--force", is_flag=True,
              help="Replace an existing file that is not a critmon report (never the database).")
@click.option("--mineral", "minerals", multiple=True, help="Chart these minerals (repeatable).")
@click.option("--since", type=DATE, default="2010-01-01", show_default=True,
              help="First date shown.")
@click.option("--to", "end", type=DATE, help="Last date replayed [default: today].")
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path))
@perspective_option
@click.option("--language", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="The report's language: mineral names, levels, factors, headings, dates.")
@click.pass_obj
def report(obj: Any, out: Path, force: bool, minerals: tuple[str, ...], since: datetime,
           end: datetime | None, events_path: Path | None, perspective: str | None,
           language: str) -> None:
    """Write one self-contained HTML report: charts per mineral, alert episodes and events."""
    _check_report_path(obj, out, force)
    config = _with_perspective(obj.load_config(), perspective)
    chosen = _minerals(config, minerals)
    events = _events(events_path, config)
    last = end.date() if end else date.today()
    from monitor.backtest.scoring import run_backtest

    with progress("report: replaying", unit="date") as bar:
        data = with_fetched_history(bundled_data(config), config, _cache_dir(obj))
        result, scored = run_backtest(config, data, events, start=since.date(),
                                      end=last, minerals=chosen,
                                      **progress_argument(run_backtest, bar))
        bar.note("writing the report")
        _write_report(obj, out, config, result, scored, events, chosen, since.date(),
                      _store_history(obj, since), force=force, language=language)


def _store_history(obj: Any, since: datetime) -> list[dict[str, Any]]:
    """The state database's alert history, if the daemon has one."""
    from monitor.alerting.store import AlertStore
    from monitor.store.database import DB_NAME, Store

    path = Path(obj.state_dir) / DB_NAME
    url = getattr(obj, "store_url", None)
    if not url and not path.exists():
        return []
    try:
        with Store.open(url or path) as store:
            return AlertStore(store).history(since=since)
    except (MonitorError, OSError, sqlite3.Error) as exc:  # keep the report anyway
        click.echo(safe_text(f"report: alert history unavailable: {exc}"), err=True)
        return []


@click.command("preview")
@click.argument("draft_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--from", "start", type=DATE, default="2010-01-01", show_default=True)
@click.option("--to", "end", type=DATE, default="2024-08-31", show_default=True)
@with_common
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_obj
def rules_preview(obj: Any, draft_dir: Path, start: datetime, end: datetime,
                  config_dir: str | None, prices: tuple[str, ...], news: tuple[Path, ...],
                  events_path: Path | None, min_level: str, minerals: tuple[str, ...],
                  excluded: tuple[str, ...], lag_monthly_days: int, lag_annual_days: int,
                  fmt: str) -> None:
    """Replay the running config and the draft in DRAFT_DIR: alerts gained and lost per
    mineral, and the scoring figures of both."""
    from monitor.backtest.preview import preview
    from monitor.config.load import load_config

    config = _config(obj, config_dir)
    draft = load_config(draft_dir)  # ConfigError (exit 1, the reason) when the draft is bad
    lags = PublicationLags(monthly=timedelta(days=lag_monthly_days),
                           annual=timedelta(days=lag_annual_days))
    data = _data(config, prices, news, lags, _cache_dir(obj))
    with progress("replaying both configs", fmt=fmt, unit="date") as bar:
        result = preview(config, draft, data, _events(events_path, config),
                         start=start.date(), end=end.date(), minerals=_minerals(config, minerals),
                         min_level=min_level, excluded_rules=excluded,
                         **progress_argument(preview, bar))
    if fmt == "json":
        click.echo(to_json(result.as_dict()))
        return
    rows = [{"mineral": c.mineral, "gained": len(c.gained), "lost": len(c.lost),
             "alerts": "; ".join([f"+{o.at} {o.rule} {o.level}" for o in c.gained]
                                 + [f"-{o.at} {o.rule} {o.level}" for o in c.lost])}
            for c in result.changes]
    click.echo(render(rows, ["mineral", "gained", "lost", "alerts"], "table") if rows
               else "no alert gained or lost")
    click.echo("")
    click.echo(f"{'':32} {'current':>12} {'draft':>12}")
    for key, value in result.current.items():
        click.echo(safe_text(f"{key:32} {value!s:>12} {result.draft.get(key)!s:>12}"))


def progress_argument(replay: Any, bar: Progress) -> dict[str, Any]:
    """``{"progress": bar}`` when ``replay`` takes a ``progress(dates_done, dates_total)``
    callback and a bar is shown; else nothing (the replay runs as before)."""
    if not bar.shown or "progress" not in inspect.signature(replay).parameters:
        return {}
    return {"progress": bar}


BACKTEST_COMMANDS = (backtest, demo, report)
