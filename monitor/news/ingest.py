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
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from monitor.config.rules import NewsSettings
from monitor.config.sources import FederalRegisterSource, HtmlListSource, NewsSource, RssSource
from monitor.core.models import FetchResult
from monitor.core.untrusted import clean_text
from monitor.news.dedup import DedupIndex, StoredOriginals, canonical_url, micros
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
        if item.lang != reading.lang:
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
    saved = [0] * len(payloads)
    if not everything:
        return _outcomes(parsed, saved, records)
    originals = _ORIGINALS.take(store, pipeline.settings)
    dedup, originals = _dedup_index(news, everything, now, pipeline.settings, originals)
    readings = [pipeline.language.read(i.title, i.summary, i.lang) for i in everything]
    start = 0
    for n, ((source, _), items) in enumerate(zip(payloads, fresh, strict=True)):
        mine = readings[start:start + len(items)]
        start += len(items)
        records[n] = build_records(items, source=source, pipeline=pipeline,
                                   fetched_at=now, dedup=dedup, readings=mine, defer=True)
    with store.transaction():
        saved = [news.save(batch) for batch in records]
    if originals is not None and saved == [len(batch) for batch in records]:
        _ORIGINALS.keep(store, pipeline.settings, originals,
                        [r for batch in records for r in batch])
    return _outcomes(parsed, saved, records)


def _outcomes(parsed: Sequence[ParsedFeed], saved: Sequence[int],
              records: Sequence[Sequence[NewsRecord]]) -> list[IngestOutcome]:
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
                 settings: NewsSettings, originals: CachedOriginals | None
                 ) -> tuple[DedupIndex, CachedOriginals | None]:
    """An index of stored originals near the new items in time, and of their URLs; and the
    stored originals to keep for the next ingest (None: none to keep).

    The originals since ``earliest - window`` are what a search can meet. Those kept from
    the last ingest serve when the store holds exactly what they say (same number of
    items, same latest fetch: nothing written, pruned or rolled back since) and reach
    back far enough; else they are read again, a window further back, so that the next
    polls can use them too.
    """
    earliest = min(min(i.published_at or now, now) for i in fresh)
    since = earliest - settings.dedup_window
    if not _utc(since):  # an index of its own (the kept one is ordered by UTC times)
        originals = None
    else:
        fingerprint = news.items_fingerprint()
        window = settings.dedup_window
        if (originals is None or originals.fingerprint != fingerprint
                or not since - KEPT_WINDOWS * window <= originals.since <= since):
            originals = _read_originals(news, since - window, fingerprint)
    index = DedupIndex(window=settings.dedup_window, threshold=settings.title_similarity,
                       stored=originals.stored if originals else None,
                       since=micros(since) if originals else DedupIndex.since)
    if originals is None:  # too many to keep: the index reads those it needs
        for item_id, canonical, title, at in _in_order(news.recent_originals(since)):
            index.add(item_id, canonical, title, at)
    # A URL already stored is the same story however far apart in time.
    for canonical, item_id in news.url_owners(canonical_url(i.url) for i in fresh).items():
        index.add(item_id, canonical, "", earliest)
    return index, originals


def _in_order(rows: list[tuple[str, str, str, datetime]]
              ) -> list[tuple[str, str, str, datetime]]:
    """Stored originals in the order an index adds them: by event time, then id (the same on
    SQLite and PostgreSQL, whatever either does with ties)."""
    return sorted(rows, key=lambda row: (row[3], row[0]))


def _read_originals(news: NewsStore, since: datetime, fingerprint: tuple[int, str | None]
                    ) -> CachedOriginals | None:
    rows = news.recent_originals(since, limit=ORIGINALS_LIMIT)
    if len(rows) >= ORIGINALS_LIMIT or not all(_utc(row[3]) for row in rows):
        return None
    stored = StoredOriginals()
    for item_id, canonical, title, at in _in_order(rows):
        stored.add(item_id, canonical, title, at)
    return CachedOriginals(stored, since, fingerprint)


#: Stored originals an index reads at most (``NewsStore.recent_originals``' limit): beyond,
#: none are kept and each ingest reads those it needs, as before.
ORIGINALS_LIMIT = 50_000
#: Stored originals kept between ingests at most (their memory stays with the daemon).
KEPT_MAX = 10_000
#: Databases whose originals are kept at once (a daemon has one; tests open many).
KEPT_STORES = 4
#: Kept originals reaching back more than this many windows before an ingest's cutoff are
#: read again (from one window before it): the old ones go, the memory stays bounded.
KEPT_WINDOWS = 8


@dataclass
class CachedOriginals:
    """A store's originals since ``since``, as they were when its items had ``fingerprint``
    (``NewsStore.items_fingerprint``)."""

    stored: StoredOriginals
    since: datetime
    fingerprint: tuple[int, str | None]


class _OriginalsCache:
    """The stored originals of each database, kept from one ingest to the next.

    Keyed by the database (``Store.target``), not the connection: the daemon opens a
    connection per poll. A store without a target (built from a bare handle) keeps none.

    An ingest takes them out (a concurrent one reads its own) and gives them back after its
    transaction, with its own originals added and the fingerprint they make; a failed
    ingest gives nothing back, and one rolled back later by an enclosing transaction leaves
    a fingerprint the store no longer has: either way the next ingest reads the store again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[tuple[object, ...], CachedOriginals]] = {}

    def take(self, store: Store, settings: NewsSettings) -> CachedOriginals | None:
        with self._lock:
            kept = self._kept.pop(store.target, None)
        return kept[1] if kept is not None and kept[0] == _settings_key(settings) else None

    def keep(self, store: Store, settings: NewsSettings, originals: CachedOriginals,
             records: Sequence[NewsRecord]) -> None:
        if not all(_utc(r.fetched_at) and _utc(r.item.published_at or r.fetched_at)
                   for r in records):
            return  # the store compares times as text: only UTC ones order alike
        for record in records:
            if record.dedup_of is None:
                item = record.item
                originals.stored.add(item.id, record.canonical_url, item.title,
                                     _event_time(item.published_at, record.fetched_at))
        count, latest = originals.fingerprint
        fetched = [r.fetched_at.isoformat() for r in records]
        if latest is not None:
            fetched.append(latest)
        originals.fingerprint = (count + len(records), max(fetched, default=None))
        if store.target and len(originals.stored) <= KEPT_MAX:
            with self._lock:
                self._kept[store.target] = (_settings_key(settings), originals)
                while len(self._kept) > KEPT_STORES:  # the least recently ingested goes
                    del self._kept[next(iter(self._kept))]

    def forget(self, store: Store) -> None:
        """Forget a store's originals (its next ingest reads them again)."""
        with self._lock:
            self._kept.pop(store.target, None)


def _utc(at: datetime) -> bool:
    return at.utcoffset() == timedelta(0)


def _event_time(published_at: datetime | None, fetched_at: datetime) -> datetime:
    """An item's event time as the store reads it back (``EVENT_TIME_SQL``: the lesser of
    the two ISO texts)."""
    fetched = fetched_at.isoformat()
    return datetime.fromisoformat(min(published_at.isoformat() if published_at else fetched,
                                      fetched))


def _settings_key(settings: NewsSettings) -> tuple[object, ...]:
    return (settings.dedup_window, settings.title_similarity)


_ORIGINALS = _OriginalsCache()


# --------------------------------------------------------------------------- classification

#: Pending items classified per classifier call (bounds the memory of a large backlog).
CLASSIFY_CHUNK = 2_000


def classify_pending(store: Store, pipeline: NewsPipeline | None = None) -> int:
    """Classify the stored items ingest left pending, in batches; return how many
    (``NewsStore.classify_pending``, which every read of the news runs first)."""
    return NewsStore(store).classify_pending(pipeline, chunk=CLASSIFY_CHUNK)
