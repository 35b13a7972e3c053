"""``critmon news``: list classified items, classify one headline, score against labels."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import click

from monitor.cli.formatting import FORMATS, render, safe_text, to_json
from monitor.config.common import parse_duration
from monitor.config.load import Config
from monitor.core.news_kinds import NEWS_KINDS
from monitor.news.store import NewsStore
from monitor.news.tagging import Tagger
from monitor.store.database import Store

LIST_COLUMNS = ["at", "source", "kind", "risk", "confidence", "country", "minerals", "title",
                "url"]


class _Context(Protocol):
    """What these commands use of the CLI's shared context (``monitor.cli.main.Context``)."""

    state_dir: Path

    def load_config(self) -> Config: ...
    def open_store(self) -> Store: ...


def _cache_dir(obj: _Context) -> Path | None:
    """Cache the classifier in the state dir when it exists; never create it for a query."""
    return obj.state_dir if obj.state_dir.is_dir() else None


@click.group("news", invoke_without_command=True)
@click.option("--since", default="7d", show_default=True, metavar="DURATION",
              help="Only items public within this long (e.g. 24h, 7d, 4w).")
@click.option("--mineral", help="Only items tagged with this mineral id.")
@click.option("--kind", type=click.Choice(NEWS_KINDS), help="Only items of this kind.")
@click.option("--risk-only", is_flag=True, help="Only supply-risk events.")
@click.option("--all", "include_duplicates", is_flag=True,
              help="Include items recognised as duplicates of earlier ones.")
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.pass_context
def news(ctx: click.Context, since: str, mineral: str | None, kind: str | None,
         risk_only: bool, include_duplicates: bool, limit: int, fmt: str) -> None:
    """List classified policy-news items, newest first (subcommands: classify, eval, cv)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    obj: _Context = ctx.obj
    with obj.open_store() as store:
        rows = NewsStore(store).items(since=datetime.now(UTC) - window, mineral=mineral,
                                      kind=kind, risk_only=risk_only,
                                      include_duplicates=include_duplicates, limit=limit)
    for row in rows:
        row["risk"] = "yes" if row["is_supply_risk_event"] else "no"
        row["minerals"] = ",".join(row["minerals"])
        row["at"] = row["at"][:16].replace("T", " ")
        if fmt == "table":
            row["title"] = _clip(row["title"], 90)
    columns = LIST_COLUMNS if fmt != "table" else LIST_COLUMNS[:-1]
    click.echo(render(rows, columns, fmt))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@news.command("classify")
@click.argument("text")
@click.option("--summary", default="", help="The item's summary, if any.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_obj
def news_classify(obj: _Context, text: str, summary: str, fmt: str) -> None:
    """Show minerals, acting country, kind and confidence for one headline."""
    config = obj.load_config()
    from monitor.news.classify import load_classifier  # scikit-learn: only where used
    from monitor.news.ingest import UNREAD
    from monitor.news.language import default_identifier

    reading = default_identifier().read(text, summary)
    tags = Tagger(config.minerals.minerals).tag(reading.title, reading.summary, reading.base)
    result = (load_classifier(_cache_dir(obj)).classify(reading.title, reading.summary,
                                                        reading.base)
              if reading.readable else UNREAD)
    row = {"language": reading.lang, "minerals": list(tags.minerals), "country": tags.country,
           "kind": result.kind,
           "confidence": result.confidence,
           "is_supply_risk_event": result.is_supply_risk_event,
           "risk_confidence": result.risk_confidence}
    if fmt == "json":
        click.echo(to_json(row))
        return
    width = max(len(k) for k in row)
    for key, value in row.items():
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(safe_text(f"{key.ljust(width)}  {'-' if shown in (None, '') else shown}"))


@news.command("eval")
@click.option("--labels", "labels_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines: id, date, title, summary, url, lang, minerals, kind, "
                   "is_supply_risk_event, country.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_obj
def news_eval(obj: _Context, labels_path: Path, fmt: str) -> None:
    """Score the classifier and the tagger against a labelled file."""
    from monitor.news.classify import LabelsError, load_classifier, parse_labels
    from monitor.news.evaluation import build_mineral_names, evaluate

    try:
        items = parse_labels(labels_path.read_text(encoding="utf-8"), origin=str(labels_path))
    except (LabelsError, UnicodeDecodeError) as exc:
        raise click.ClickException(str(exc)) from None
    if not items:
        raise click.ClickException(f"{labels_path}: no labelled items")
    config = obj.load_config()
    minerals = config.minerals.minerals
    report = evaluate(items, load_classifier(_cache_dir(obj)), Tagger(minerals),
                      mineral_names=build_mineral_names(minerals))
    _echo_report(report, fmt)


@news.command("cv")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_obj
def news_cv(obj: _Context, folds: int, fmt: str) -> None:
    """Cross-validate the classifier on the shipped corpus (the docs' figures)."""
    from monitor.news.evaluation import build_mineral_names, cross_validate

    minerals = obj.load_config().minerals.minerals
    report = cross_validate(load_corpus(), folds=folds, tagger=Tagger(minerals),
                            mineral_names=build_mineral_names(minerals))
    _echo_report(report, fmt)


def load_corpus() -> list[Any]:
    """The shipped labelled corpus (scikit-learn is imported here, when used)."""
    from monitor.news.classify import load_corpus as load

    return list(load())


def _echo_report(report: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        click.echo(to_json(report))
    else:
        from monitor.news.evaluation import render_report

        click.echo(safe_text(render_report(report)))
