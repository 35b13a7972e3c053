"""``critmon data fetch``: load public history the bundle lacks (registered in main.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from monitor.cli.formatting import FORMATS, render, safe_text
from monitor.core.clock import SystemClock
from monitor.sources.bundled import MCS_LONG_EDITION
from monitor.sources.http import HttpFetcher
from monitor.sources.usgs_history import (
    FIRST_EDITION,
    SCIENCEBASE_ITEM_URL,
    fetch_mcs_editions,
    parse_editions,
)

DATASETS = ("usgs-mcs",)
COLUMNS = ["edition", "source", "status", "published", "rows", "production_rows", "changed",
           "url", "error"]


@click.group("data")
def data() -> None:
    """Fetch public history that is not bundled (needs the network)."""


def _urls(values: tuple[str, ...]) -> dict[int, str]:
    urls: dict[int, str] = {}
    for value in values:
        edition, sep, url = value.partition("=")
        if not sep or not edition.strip().isdigit() or not url.strip():
            raise click.BadParameter(f"expected EDITION=URL, got {value!r}", param_hint="--url")
        urls[int(edition)] = url.strip()
    return urls


@data.command("fetch")
@click.argument("dataset", type=click.Choice(DATASETS))
@click.option("--editions", default=f"{FIRST_EDITION}-{MCS_LONG_EDITION}", show_default=True,
              help="Editions to fetch: a year, a range, or a comma list (2020,2023-2024).")
@click.option("--url", "urls", multiple=True, metavar="EDITION=URL",
              help="Where an edition's release table is (CSV, or a zip holding one; http, "
                   "https or file://); overrides the ScienceBase default. Repeatable.")
@click.option("--item-url", default=SCIENCEBASE_ITEM_URL, show_default=True,
              metavar="TEMPLATE",
              help="ScienceBase item JSON address, {item} standing for the item id (a mirror).")
@click.option("--timeout", "timeout_s", default=300.0, show_default=True, type=float,
              help="Seconds allowed for each download.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
              show_default=True, help="Output format.")
@click.pass_obj
def fetch(obj: Any, dataset: str, editions: str, urls: tuple[str, ...], item_url: str,
          timeout_s: float, fmt: str) -> None:
    """Fetch DATASET and store it with its real publication dates.

    usgs-mcs: the USGS Mineral Commodity Summaries data releases (world production by country,
    net import reliance, prices), each dated the end of January of its edition, so that
    `--as-of`, `critmon report` and `critmon backtest` gain the structural history. Exits 1
    when an edition failed (the others are stored).
    """
    try:
        chosen = parse_editions(editions, last=MCS_LONG_EDITION)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--editions") from exc
    if "{item}" not in item_url:
        raise click.BadParameter("must contain {item}", param_hint="--item-url")
    extra = _urls(urls)
    unknown = sorted(set(extra) - set(chosen))
    if unknown:
        raise click.BadParameter(f"--url for edition(s) not fetched: {unknown}",
                                 param_hint="--url")
    runtime = obj.runtime()
    minerals = [(m.id, m.usgs) for m in runtime.config.minerals.minerals]
    with HttpFetcher(total_timeout_s=timeout_s) as fetcher, runtime.open_store() as store:
        results = fetch_mcs_editions(chosen, minerals=minerals, fetcher=fetcher, store=store,
                                     now=SystemClock().now(), urls=extra, timeout_s=timeout_s,
                                     item_url=item_url)
    rows = [{"edition": r.edition, "source": r.source, "status": "ok" if r.ok else "failed",
             "published": r.published_at.isoformat() if r.published_at else None,
             "rows": r.rows, "production_rows": r.production_rows, "changed": r.changed,
             "url": r.url, "error": r.error} for r in results]
    click.echo(render(rows, COLUMNS, fmt))
    failed = [r for r in results if not r.ok]
    for result in failed:
        click.echo(safe_text(f"critmon: MCS {result.edition}: {result.error}"), err=True)
    if failed:
        sys.exit(1)
