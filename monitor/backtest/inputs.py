"""What a replay reads: the bundled data, price files, news files, with publication dates.

Every observation keeps the date it became public (``PublicationLags`` for files that do not
say), so the replay never sees the future.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.backtest.events import _norm, mineral_names
from monitor.config.load import Config
from monitor.core.models import Frequency, Observation
from monitor.news.items import NewsItem
from monitor.sources.wgi import WgiEstimate

Series = list[tuple[date, float]]


# =========================================================================== inputs


@dataclass(frozen=True, slots=True)
class PublicationLags:
    """When a value of an external price file became public, by its frequency.

    Monthly: period end + ``monthly`` (default 4 days, the Pink Sheet's rhythm); daily: the day
    + ``daily``; annual: 31 January of the next year + ``annual`` (an annual average needs the
    whole year, and the USGS MCS edition with year Y appears at the end of January of Y+1).
    """

    monthly: timedelta = timedelta(days=4)
    daily: timedelta = timedelta(days=1)
    annual: timedelta = timedelta(days=0)

    def published_at(self, period: date, frequency: Frequency) -> date:
        if frequency is Frequency.ANNUAL:
            return date(period.year + 1, 1, 31) + self.annual
        if frequency is Frequency.MONTHLY:
            first_of_next = (period.replace(day=1) + timedelta(days=32)).replace(day=1)
            return first_of_next - timedelta(days=1) + self.monthly
        return period + self.daily


@dataclass(frozen=True, slots=True)
class NewsEvent:
    """A classified, tagged, deduplicated news item, as the replay uses it."""

    id: str
    at: datetime
    title: str
    url: str
    source: str
    kind: str
    country: str | None
    minerals: tuple[str, ...]
    inferred_minerals: tuple[str, ...]
    is_supply_risk_event: bool
    risk_confidence: float
    dedup_of: str | None = None

    def as_item(self) -> dict[str, Any]:
        """The row shape ``monitor.news.events`` reads from the news store."""
        return {"id": self.id, "at": self.at.isoformat(), "title": self.title, "url": self.url,
                "source": self.source, "kind": self.kind, "country": self.country,
                "minerals": sorted({*self.minerals, *self.inferred_minerals}),
                "risk_confidence": self.risk_confidence, "summary": ""}


@dataclass
class ReplayData:
    """Everything the replay may use; each piece carries the date it became public."""

    observations: list[Observation]
    wgi: list[WgiEstimate]
    wgi_published_at: Callable[[int], date]
    news: list[NewsEvent] = field(default_factory=list)

    def until(self, cutoff: date) -> ReplayData:
        """Only what was public on ``cutoff`` (used by the look-ahead test)."""
        return ReplayData(
            [o for o in self.observations if _published(o) <= cutoff],
            [w for w in self.wgi if self.wgi_published_at(w.year) <= cutoff],
            self.wgi_published_at, [n for n in self.news if n.at.date() <= cutoff])


def _published(observation: Observation) -> date:
    # The live store files an observation without a date as known when fetched; a replay
    # has no fetch time, so such a value is treated as never public.
    return observation.published_at or date.max


def bundled_data(config: Config) -> ReplayData:
    """The data shipped in ``monitor/data``: MCS releases, Pink Sheet prices, WGI."""
    from monitor.sources.bundled import (
        PINKSHEET_COLUMNS,
        load_bundled_observations,
        load_bundled_pinksheet,
        load_bundled_wgi,
        wgi_published_at,
    )

    known = set(config.mineral_ids)
    minerals = [(m.id, m.usgs) for m in config.minerals.minerals]
    observations = load_bundled_observations(minerals)
    observations += load_bundled_pinksheet({c: m for c, m in PINKSHEET_COLUMNS.items()
                                            if m in known})
    return ReplayData(observations, load_bundled_wgi(), wgi_published_at)


def fetched_history(db_path: Path, config: Config) -> list[Observation]:
    """The MCS editions stored by ``critmon data fetch usgs-mcs``, each dated by its edition.

    The bundled edition is left out (``bundled_data`` has it); so are minerals the config does
    not watch. An absent database gives nothing.
    """
    from monitor.sources.bundled import MCS_LONG_EDITION, mcs_source
    from monitor.sources.usgs_history import FIRST_EDITION
    from monitor.store.database import Store

    if not db_path.exists():
        return []
    known = set(config.mineral_ids)
    with Store.open(db_path, migrate=False) as store:
        return [o for edition in range(FIRST_EDITION, MCS_LONG_EDITION)
                for o in store.observations(source=mcs_source(edition)) if o.mineral in known]


def load_price_file(spec: str, config: Config, lags: PublicationLags | None = None
                    ) -> tuple[list[Observation], list[str]]:
    """Prices from one ``--prices`` argument, each dated with ``lags``; and warnings.

    ``MINERAL=PATH`` is a FRED ``fredgraph.csv`` for that mineral; a plain ``PATH`` is a long
    CSV (``date,mineral,value[,unit,source]``) or a World Bank Pink Sheet (xlsx or its CSV).
    """
    from monitor.sources.bundled import PINKSHEET_COLUMNS
    from monitor.sources.prices import TableSpec, parse_fred_csv, parse_pinksheet, parse_table

    lags = lags or PublicationLags()
    names = mineral_names(config.minerals.minerals)
    mineral, _, path_text = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path = Path(path_text)
    body = path.read_bytes()
    source = f"file:{path.name}"
    warnings: list[str] = []
    if mineral:
        mineral_id = names.get(_norm(mineral))
        if mineral_id is None:
            raise ValueError(f"--prices {spec}: unknown mineral {mineral!r}")
        rows = parse_fred_csv(body, source=source, mineral=mineral_id, unit="")
    elif body.startswith(b"PK") or _is_pinksheet_csv(body):
        wanted = {c: m for c, m in PINKSHEET_COLUMNS.items() if m in config.mineral_ids}
        # a later release that renamed a code still gives the others, with a warning
        rows = parse_pinksheet(body, source=source, columns=wanted,
                               on_missing=lambda problem: warnings.append(
                                   f"{path.name}: {problem}"))
    else:
        header = _csv_header(body)
        if not {"date", "mineral", "value"} <= set(header):
            raise ValueError(f"--prices {spec}: not a long CSV (date,mineral,value,...), a Pink "
                             f"Sheet, or MINERAL=PATH for a FRED file; header {header}")
        units, sources = _long_extras(body)
        rows = parse_table(body, source=source, spec=TableSpec(
            format="csv", date_field="date", value_field="value", mineral_field="mineral"))
        kept = []
        for row in rows:
            found = names.get(_norm(row.mineral))
            if found is None:
                warnings.append(f"{path.name}: unknown mineral {row.mineral!r}")
                continue
            kept.append(replace(row, mineral=found, unit=units.get(row.mineral, ""),
                                source=sources.get(row.mineral) or source))
        rows = kept
    dated = [replace(o, published_at=lags.published_at(o.period, o.frequency)) for o in rows]
    return dated, sorted(set(warnings))


def load_trade_file(path: Path, config: Config, lag: timedelta | None = None
                    ) -> tuple[list[Observation], list[str]]:
    """Trade flows from one ``--trade`` CSV as observations (the replay's usual path); and
    warnings. A row's mineral is its ``mineral`` column (id or name) or, when empty, every
    mineral whose ``hs:`` list holds its code; a month without ``published_at`` is public at
    its end + ``lag`` (default: Comtrade's 60 days)."""
    from monitor.core.trade import (
        COMTRADE_LAG,
        estimated_publication,
        flows_to_observations,
        minerals_by_code,
    )
    from monitor.sources.trade_csv import parse_trade_csv

    lag = COMTRADE_LAG if lag is None else lag
    flows = parse_trade_csv(path.read_bytes(), name=path.name)
    names = mineral_names(config.minerals.minerals)
    warnings: list[str] = []
    kept = []
    for flow in flows:
        mineral = flow.mineral
        if mineral:
            mineral = names.get(_norm(mineral), "")
            if not mineral:
                warnings.append(f"{path.name}: unknown mineral {flow.mineral!r}")
                continue
        kept.append(replace(flow, mineral=mineral, published_at=flow.published_at
                            or estimated_publication(flow.period, lag)))
    by_code = minerals_by_code({m.id: m.hs_codes for m in config.minerals.minerals})
    return flows_to_observations(kept, by_code), sorted(set(warnings))


def _csv_header(body: bytes) -> list[str]:
    first = body.decode("utf-8-sig", errors="replace").splitlines()[:1]
    return [c.strip().lower() for c in next(csv.reader(first), [])] if first else []


def _is_pinksheet_csv(body: bytes) -> bool:
    """A Pink Sheet CSV re-shape: metal codes as columns, no ``mineral`` column."""
    header = {c.upper() for c in _csv_header(body)}
    return "MINERAL" not in header and bool(header & {"COPPER", "NICKEL", "ALUMINUM", "ZINC"})


def _long_extras(body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """The unit and source of each mineral in a long CSV (first row wins)."""
    units: dict[str, str] = {}
    sources: dict[str, str] = {}
    text = body.decode("utf-8-sig", errors="replace")
    for row in csv.DictReader(io.StringIO(text)):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        units.setdefault(row.get("mineral", ""), row.get("unit", ""))
        sources.setdefault(row.get("mineral", ""), row.get("source", ""))
    return units, sources


def read_news(path: Path) -> list[NewsItem]:
    """News items from a JSONL file (``date, title, summary, url, lang``; other fields are
    ignored) or a directory of RSS/Atom files (``*.xml``, ``*.rss``, ``*.atom``)."""
    from monitor.news.items import detect_lang, item_id
    from monitor.news.parse import parse_feed

    if path.is_dir():
        items: list[NewsItem] = []
        for feed in sorted(p for p in path.iterdir()
                           if p.suffix.lower() in (".xml", ".rss", ".atom")):
            items += parse_feed(feed.read_bytes(), source=f"file:{feed.stem}").items
        return items
    items = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        title = str(row.get("title") or "").strip()
        when = row.get("date") or row.get("published_at")
        if not title or not when:
            raise ValueError(f"{path}: line {line_no}: needs 'date' and 'title'")
        at = datetime.fromisoformat(str(when))
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        summary = str(row.get("summary") or "")
        url = str(row.get("url") or "")
        items.append(NewsItem(id=item_id(f"file:{path.stem}", url or f"{title}|{when}"),
                              source=f"file:{path.stem}", url=url, title=title,
                              summary=summary, published_at=at,
                              lang=row.get("lang") or detect_lang(title)))
    return items


def classify_news(items: Sequence[NewsItem], config: Config,
                  cache_dir: Path | None = None) -> list[NewsEvent]:
    """Tag, classify and deduplicate items as ``news.ingest.build_records`` does, oldest first.

    An item is taken as fetched when published (a replay has no fetch time).
    """
    from monitor.news.classify import load_classifier
    from monitor.news.dedup import DedupIndex, canonical_url
    from monitor.news.tagging import Tagger

    dated = sorted((i for i in items if i.published_at), key=lambda i: (i.published_at, i.id))
    if not dated:
        return []
    settings = config.rules.news
    tagger = Tagger(config.minerals.minerals)
    results = load_classifier(cache_dir).classify_many([(i.title, i.summary) for i in dated])
    dedup = DedupIndex(settings.dedup_window, settings.title_similarity)
    out = []
    for item, result in zip(dated, results, strict=True):
        assert item.published_at is not None
        tags = tagger.tag(item.title, item.summary)
        canonical = canonical_url(item.url)
        duplicate = dedup.find(canonical, item.title, item.published_at)
        if duplicate is None:
            dedup.add(item.id, canonical, item.title, item.published_at)
        out.append(NewsEvent(
            id=item.id, at=item.published_at, title=item.title, url=item.url,
            source=item.source, kind=result.kind, country=tags.country, minerals=tags.minerals,
            inferred_minerals=tagger.groups_of(tags.minerals),
            is_supply_risk_event=result.is_supply_risk_event,
            risk_confidence=result.risk_confidence, dedup_of=duplicate))
    return out
