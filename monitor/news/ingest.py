"""The news path of a poll: parse the payload, drop known items, tag, dedup, save.

Classification is deferred: readable items are stored pending and classified in one batch
(:func:`classify_pending`) before anything reads them (``NewsStore.items`` and
``first_seen_between`` call it), so a poll costs parse and store only, and the evaluation never
sees an unclassified item. A crash between the store and the classification loses nothing:
the pending items are classified at the next read.

``polling.poll_source`` calls :func:`ingest_news` for news sources. The pipeline's parts that
depend on configuration (the minerals for the tagger, the news settings, where to cache the
classifier) are held by a :class:`NewsPipeline`, built once per config by the daemon
(``NewsPipeline.from_config``) or, when a caller passes none, derived from the store: the config
the daemon last recorded there and the directory of the database file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.config.rules import NewsSettings
from monitor.config.sources import FederalRegisterSource, HtmlListSource, NewsSource, RssSource
from monitor.core.models import FetchResult
from monitor.core.untrusted import clean_text
from monitor.news.dedup import DedupIndex, canonical_url
from monitor.news.items import Classification, NewsItem, NewsRecord, ParsedFeed
from monitor.news.language import Reading
from monitor.news.pipeline import NewsPipeline, pipeline_for_store
from monitor.news.store import NewsStore
from monitor.news.tagging import Tags
from monitor.store.database import Store

__all__ = ["NEWS_SOURCE_TYPES", "UNREAD", "IngestOutcome", "NewsPipeline", "build_records",
           "classify_pending", "ingest_news", "ingest_news_batch", "parse_news_payload",
           "pipeline_for_store"]

log = logging.getLogger(__name__)

NEWS_SOURCE_TYPES = (RssSource, FederalRegisterSource, HtmlListSource)


def parse_news_payload(source: NewsSource, result: FetchResult) -> ParsedFeed:
    """Parse a fetched body with the parser for the source's kind.

    A listing page's parse gets the source's ``timeout`` as its own budget, on top of the fetch.
    """
    from monitor.news.parse import (
        HtmlListSpec,
        parse_federal_register,
        parse_feed,
        parse_html_list,
    )

    if isinstance(source, FederalRegisterSource):
        return parse_federal_register(result.body, source=source.id, lang=source.lang)
    if isinstance(source, HtmlListSource):
        spec = HtmlListSpec(selector=source.selector, regex=source.regex,
                            link_pattern=source.link_pattern, date_pattern=source.date_pattern)
        return parse_html_list(result.body, source=source.id, spec=spec, base_url=result.url,
                               lang=source.lang, content_type=result.content_type,
                               deadline_s=source.timeout.total_seconds())
    return parse_feed(result.body, source=source.id, lang=source.lang, base_url=result.url,
                      content_type=result.content_type or "application/xml")


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What ingesting one payload did."""

    parsed: int
    new: int
    duplicates: int
    skipped: tuple[str, ...] = ()
    warning: str | None = None


def build_records(items: Sequence[NewsItem], *, source: NewsSource, pipeline: NewsPipeline,
                  fetched_at: datetime, dedup: DedupIndex,
                  readings: Sequence[Reading] | None = None,
                  classified: Sequence[Classification] | None = None,
                  defer: bool = False) -> list[NewsRecord]:
    """Identify the language, tag, classify and dedup new items (pure apart from the first
    load of the classifier and the language models).

    ``defer``: leave the readable items unclassified (``classification`` None, stored pending
    for :func:`classify_pending`).

    An item in a language critmon does not read is stored with its language code and the
    kind ``unread_language``: never classified or tagged as if it were English.
    ``readings`` and ``classified`` (the classifications of the readable items, in order):
    what the caller has already (a batch identifies and classifies all its items at once).
    """
    if readings is None:
        readings = [pipeline.language.read(i.title, i.summary, i.lang) for i in items]
    if classified is None and not defer:
        readable = [(r.title, r.summary, r.base) for r in readings if r.readable]
        classified = pipeline.classifier.classify_many(readable) if readable else []
    results = iter(classified or ())
    records = []
    for item, reading in zip(items, readings, strict=True):
        item = replace(item, lang=reading.lang)
        result = (None if defer else next(results)) if reading.readable else UNREAD
        tags = _tags(pipeline, reading)
        minerals = tags.minerals or tuple(source.minerals)
        canonical = canonical_url(item.url)
        at = min(item.published_at or fetched_at, fetched_at)
        duplicate = dedup.find(canonical, item.title, at)
        if duplicate is None:
            dedup.add(item.id, canonical, item.title, at)
        records.append(NewsRecord(
            item=item, canonical_url=canonical, fetched_at=fetched_at, classification=result,
            minerals=minerals, inferred_minerals=pipeline.tagger.groups_of(minerals),
            country=source.country or tags.country, dedup_of=duplicate))
    return records


#: What an item in an unread language is stored with.
UNREAD = Classification(kind="unread_language", confidence=0.0, is_supply_risk_event=False,
                        risk_confidence=0.0)


def _tags(pipeline: NewsPipeline, reading: Reading) -> Tags:
    if reading.readable:
        return pipeline.tagger.tag(reading.title, reading.summary, reading.base)
    return Tags((), None)


def ingest_news(source: NewsSource, result: FetchResult, store: Store, now: datetime,
                pipeline: NewsPipeline | None = None) -> IngestOutcome:
    """Parse, tag, dedup and save the items of one fetched payload (classified when next read:
    :func:`classify_pending`)."""
    return ingest_news_batch([(source, result)], store, now, pipeline)[0]


def ingest_news_batch(payloads: Sequence[tuple[NewsSource, FetchResult]], store: Store,
                      now: datetime, pipeline: NewsPipeline | None = None
                      ) -> list[IngestOutcome]:
    """:func:`ingest_news` for several payloads at once, one outcome each, in order.

    The result is the same as ingesting them one after another (an item already stored, or
    seen earlier in the batch, is skipped; a story seen earlier is a duplicate of it), but the
    fixed costs are paid once: one look-up of the known ids, one dedup index read from the
    store, one transaction. With small feeds these fixed costs are most of the work
    (bench/bench_news.py). The readable items are stored pending classification.
    """
    pipeline = pipeline or pipeline_for_store(store)
    news = NewsStore(store)
    parsed = [parse_news_payload(source, result) for source, result in payloads]
    known = news.known_ids(i.id for feed in parsed for i in feed.items)
    fresh: list[list[NewsItem]] = []
    for (source, _), feed in zip(payloads, parsed, strict=True):
        _log_problems(source, feed)
        mine = []
        for item in feed.items:
            if item.id not in known:
                known.add(item.id)  # a later payload of the batch repeating it skips it
                mine.append(item)
        fresh.append(mine)
    everything = [item for items in fresh for item in items]
    records: list[list[NewsRecord]] = [[] for _ in payloads]
    if everything:
        dedup = _dedup_index(news, everything, now, pipeline.settings)
        readings = [pipeline.language.read(i.title, i.summary, i.lang) for i in everything]
        start = 0
        for n, ((source, _), items) in enumerate(zip(payloads, fresh, strict=True)):
            mine = readings[start:start + len(items)]
            start += len(items)
            records[n] = build_records(items, source=source, pipeline=pipeline,
                                       fetched_at=now, dedup=dedup, readings=mine, defer=True)
    saved = [0] * len(payloads)
    if everything:
        with store.transaction():
            saved = [news.save(batch) for batch in records]
    return [IngestOutcome(len(feed.items), new, sum(1 for r in batch if r.dedup_of),
                          _skipped(feed), feed.warning)
            for feed, new, batch in zip(parsed, saved, records, strict=True)]


def _skipped(feed: ParsedFeed) -> tuple[str, ...]:
    return tuple(f"entry {s.position}: {s.reason}" for s in feed.skipped)


def _log_problems(source: NewsSource, feed: ParsedFeed) -> None:
    skipped = _skipped(feed)
    if feed.warning:
        log.warning("source %s: %s", source.id, clean_text(feed.warning))
    if skipped:
        log.warning("source %s: skipped %d entr%s: %s", source.id, len(skipped),
                    "y" if len(skipped) == 1 else "ies", "; ".join(skipped[:3]))


def _dedup_index(news: NewsStore, fresh: Sequence[NewsItem], now: datetime,
                 settings: NewsSettings) -> DedupIndex:
    """An index of stored originals near the new items in time, and of their URLs."""
    index = DedupIndex(window=settings.dedup_window, threshold=settings.title_similarity)
    earliest = min(min(i.published_at or now, now) for i in fresh)
    for item_id, canonical, title, at in news.recent_originals(earliest - settings.dedup_window):
        index.add(item_id, canonical, title, at)
    # A URL already stored is the same story however far apart in time.
    for canonical, item_id in news.url_owners(canonical_url(i.url) for i in fresh).items():
        index.add(item_id, canonical, "", earliest)
    return index


# --------------------------------------------------------------------------- classification

#: Pending items classified per classifier call (bounds the memory of a large backlog).
CLASSIFY_CHUNK = 2_000


def classify_pending(store: Store, pipeline: NewsPipeline | None = None) -> int:
    """Classify the stored items ingest left pending, in batches; return how many
    (``NewsStore.classify_pending``, which every read of the news runs first)."""
    return NewsStore(store).classify_pending(pipeline, chunk=CLASSIFY_CHUNK)
