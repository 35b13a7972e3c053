"""A batch of payloads is ingested as if one after another, in one transaction."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.config.sources import SourcesFile
from monitor.core.models import FetchResult
from monitor.news import ingest
from monitor.news.ingest import (
    _ORIGINALS,
    NewsPipeline,
    classify_pending,
    ingest_news,
    ingest_news_batch,
)
from monitor.news.store import NewsStore
from monitor.store.database import Store

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def feed(n: int, items: list[tuple[str, str, str]]) -> bytes:
    """RSS 2.0 with (guid, title, link) items, all published the day before NOW."""
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{guid}</guid>"
        f"<pubDate>Sat, 31 May 2025 10:00:00 GMT</pubDate></item>" for guid, title, link in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>'
            f"<link>https://news{n}.example.org/</link>{body}</channel></rss>").encode()


PAYLOADS = [
    [("a1", "China bans gallium exports from next month", "https://a.example.org/1"),
     ("a2", "Strike halts cobalt mine in Congo", "https://a.example.org/2")],
    # the same story syndicated under another URL, one repeated guid, one new story
    [("b1", "China bans gallium exports from next month - Reuters", "https://b.example.org/9"),
     ("a2", "Strike halts cobalt mine in Congo", "https://a.example.org/2"),
     ("b2", "Indonesia raises nickel royalties", "https://b.example.org/3")],
    [("c1", "Flooding disrupts tin output in Myanmar", "https://a.example.org/2?utm_source=x")],
]


def payloads() -> list[tuple[object, FetchResult]]:
    sources = SourcesFile.model_validate({"sources": [
        {"id": f"feed{n}", "kind": "rss", "url": f"https://news{n}.example.org/rss"}
        for n in range(len(PAYLOADS))]}).sources
    return [(source, FetchResult(url=source.url, status=200, body=feed(n, items),
                                 content_type="application/rss+xml"))
            for n, (source, items) in enumerate(zip(sources, PAYLOADS, strict=True))]


def stored(store: Store) -> list[tuple[str, str, str | None, str]]:
    return [(r["id"][:40], r["source"], r["dedup_of"], r["kind"]) for r in store.db.query(
        "SELECT id, source, dedup_of, kind FROM news_items ORDER BY id")]


def test_a_batch_stores_what_one_at_a_time_stores(tmp_path: Path,
                                                  pipeline: NewsPipeline) -> None:
    with Store.open(tmp_path / "one.db") as one, Store.open(tmp_path / "batch.db") as batch:
        singles = [ingest_news(s, r, one, NOW, pipeline) for s, r in payloads()]  # type: ignore[arg-type]
        together = ingest_news_batch(payloads(), batch, NOW, pipeline)  # type: ignore[arg-type]
        assert together == singles
        assert stored(batch) == stored(one)
        # an item's id includes its source: feed1's a2 is a new item, a duplicate by URL
        assert [o.new for o in together] == [2, 3, 1]
        assert sum(o.duplicates for o in together) >= 3  # syndicated copy, same URL twice


def test_a_batch_is_idempotent(store_url: str, pipeline: NewsPipeline) -> None:
    """On SQLite and on PostgreSQL (``INSERT OR IGNORE`` and the count of new rows)."""
    with Store.open(store_url) as store:
        first = ingest_news_batch([*payloads(), payloads()[0]], store, NOW, pipeline)  # type: ignore[arg-type]
        assert first[-1].new == 0, "a payload repeated within the batch stores nothing again"
        before = stored(store)
        again = ingest_news_batch(payloads(), store, NOW, pipeline)  # type: ignore[arg-type]
        assert [o.new for o in again] == [0, 0, 0]
        assert stored(store) == before


def test_a_failing_save_leaves_nothing_of_the_batch(tmp_path: Path,
                                                   pipeline: NewsPipeline) -> None:
    with Store.open(tmp_path / "news.db") as store:
        store.db.execute("CREATE TRIGGER refuse BEFORE INSERT ON news_items "
                         "WHEN NEW.source = 'feed2' BEGIN SELECT RAISE(ABORT, 'refused'); END")
        try:
            ingest_news_batch(payloads(), store, NOW, pipeline)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the store's error, whatever its type
            assert "refused" in str(exc)
        else:
            raise AssertionError("the refused insert did not fail the batch")
        assert stored(store) == []


# ----------------------------------------------------------------------------- deferred classification


def raw_kinds(store: Store) -> dict[str, str | None]:
    return {r["id"]: r["kind"] for r in store.db.query("SELECT id, kind FROM news_items")}


def test_ingest_stores_items_pending_and_a_read_classifies_them_as_ingest_would(
        tmp_path: Path, pipeline: NewsPipeline) -> None:
    with Store.open(tmp_path / "news.db") as store:
        ingest_news_batch(payloads(), store, NOW, pipeline)  # type: ignore[arg-type]
        assert set(raw_kinds(store).values()) == {None}, "classification is left to the read"
        rows = {r["id"]: r for r in NewsStore(store).items(include_duplicates=True)}
        assert None not in raw_kinds(store).values()
        expected = pipeline.classifier.classify_many([(r["title"], r["summary"], "en")
                                                      for r in rows.values()])
        for row, result in zip(rows.values(), expected, strict=True):
            assert (row["kind"], row["is_supply_risk_event"], row["confidence"],
                    row["risk_confidence"]) == (result.kind, result.is_supply_risk_event,
                                                result.confidence, result.risk_confidence)
        assert rows_by_title(rows)["China bans gallium exports from next month"][
            "is_supply_risk_event"] is True


def rows_by_title(rows: dict[str, dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(r["title"]): r for r in rows.values() if r["dedup_of"] is None}


def test_a_classification_rolled_back_leaves_the_items_pending_for_the_next_read(
        store_url: str, pipeline: NewsPipeline) -> None:
    """An evaluation killed after classifying (its transaction rolled back) loses nothing.
    On SQLite and on PostgreSQL."""
    with Store.open(store_url) as store:
        ingest_news_batch(payloads(), store, NOW, pipeline)  # type: ignore[arg-type]
        try:
            with store.transaction():
                assert classify_pending(store, pipeline) == 6
                raise RuntimeError("killed mid-evaluation")
        except RuntimeError:
            pass
        assert set(raw_kinds(store).values()) == {None}
        risky = NewsStore(store).first_seen_between(None, NOW)
        assert "China bans gallium exports from next month" in {r["title"] for r in risky}
        assert None not in raw_kinds(store).values()
        assert classify_pending(store, pipeline) == 0


def test_a_traditional_chinese_item_is_classified_from_its_simplified_reading(
        tmp_path: Path, pipeline: NewsPipeline) -> None:
    title = "剛果民主共和國暫停鈷出口四個月"
    source = SourcesFile.model_validate({"sources": [
        {"id": "tw", "kind": "rss", "url": "https://tw.example.org/rss"}]}).sources[0]
    body = feed(9, [("t1", title, "https://tw.example.org/1")])
    with Store.open(tmp_path / "news.db") as store:
        ingest_news(source, FetchResult(url=source.url, status=200, body=body,  # type: ignore[arg-type]
                                        content_type="application/rss+xml"), store, NOW,
                    pipeline)
        [row] = NewsStore(store).items()
    reading = pipeline.language.read(title, "", "en")
    assert row["lang"] == reading.lang == "zh-Hant" and row["title"] == title
    [expected] = pipeline.classifier.classify_many([(reading.title, reading.summary,
                                                     reading.base)])
    assert (row["kind"], row["risk_confidence"]) == (expected.kind, expected.risk_confidence)


# ----------------------------------------------------------------------------- kept originals


@pytest.fixture(params=["sqlite", "postgresql"])
def two_store_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty stores of one kind: SQLite files, then PostgreSQL databases."""
    if request.param == "sqlite":
        yield str(tmp_path / "kept.db"), str(tmp_path / "read.db")
        return
    cluster = request.getfixturevalue("pg_cluster")
    request.getfixturevalue("pg_url")  # sets PGPASSWORD for the cluster
    urls = cluster.create_database(), cluster.create_database()
    yield urls
    for url in urls:
        cluster.drop_database(url)


def story_feeds(rng: random.Random, step: int) -> list[tuple[object, FetchResult]]:
    """Three small feeds of near-identical headlines (ties in similarity), some undated (ties
    in time: their event time is the fetch), some days old (an index reaching further back),
    and links repeated across feeds and steps."""
    countries = ["China", "Congo", "Chile"]
    minerals = ["gallium", "cobalt", "lithium", "nickel"]
    verbs = ["bans", "curbs", "limits", "halts"]
    sources = SourcesFile.model_validate({"sources": [
        {"id": f"feed{n}", "kind": "rss", "url": f"https://news{n}.example.org/rss"}
        for n in range(3)]}).sources
    results = []
    for n, source in enumerate(sources):
        items = []
        for k in range(rng.randint(2, 6)):
            title = (f"{rng.choice(countries)} {rng.choice(verbs)} {rng.choice(minerals)} "
                     f"exports {rng.choice(['now', 'again', 'from June', ''])}")
            link = f"https://wire.example.org/{rng.randrange(60)}"
            when = rng.choice([None, None, NOW + timedelta(hours=7 * step - rng.randrange(80)),
                               NOW - timedelta(days=rng.randrange(2, 12))])
            date = f"<pubDate>{format_datetime(when)}</pubDate>" if when else ""
            items.append(f"<item><title>{title}</title><link>{link}</link>"
                         f"<guid>s{step}-f{n}-{k}</guid>{date}</item>")
        body = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>F{n}</title>'
                f"<link>https://news{n}.example.org/</link>{''.join(items)}</channel></rss>")
        results.append((source, FetchResult(url=source.url, status=200, body=body.encode(),
                                            content_type="application/rss+xml")))
    return results


@pytest.mark.parametrize("kept_max", [ingest.KEPT_MAX, 40], ids=["kept", "too-many-to-keep"])
def test_kept_originals_decide_exactly_as_the_store_read_again(
        two_store_urls: tuple[str, str], pipeline: NewsPipeline, kept_max: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One store keeps its originals between ingests, the other reads them again every time:
    over a sequence of polls (one feed at a time and batches), an ingest rolled back by the
    transaction around it, back-dated items and a prune, every item is stored with the same
    duplicate decision in both, on SQLite and on PostgreSQL; and the same when the store has
    more originals than are kept (each ingest then reads them)."""
    monkeypatch.setattr(ingest, "KEPT_MAX", kept_max)
    reads: list[str] = []
    read_originals = NewsStore.recent_originals

    def counted(self: NewsStore, *args: Any, **kwargs: Any) -> Any:
        reads.append(self.store.target)
        return read_originals(self, *args, **kwargs)

    monkeypatch.setattr(NewsStore, "recent_originals", counted)
    rng = random.Random(5)
    kept_url, read_url = two_store_urls
    with Store.open(read_url) as read:
        duplicates = 0
        for step in range(24):
            now = NOW + timedelta(hours=7 * step)
            feeds = story_feeds(rng, step)
            # the kept store is a new connection every step, as the daemon opens one per poll
            with Store.open(kept_url) as kept:
                kept_target = kept.target
                for store in (kept, read):
                    if store is read:
                        _ORIGINALS.forget(read)
                    if step == 9:  # ingested, then rolled back with the transaction around it
                        with pytest.raises(RuntimeError), store.transaction():
                            ingest_news_batch(feeds, store, now, pipeline)  # type: ignore[arg-type]
                            raise RuntimeError("the enclosing work failed")
                        continue
                    if step == 16:
                        NewsStore(store).prune(now - timedelta(days=2))
                    if step % 2:
                        ingest_news_batch(feeds, store, now, pipeline)  # type: ignore[arg-type]
                    else:
                        for source, result in feeds:
                            ingest_news(source, result, store, now,
                                        pipeline)  # type: ignore[arg-type]
                assert stored(kept) == stored(read), f"step {step}"
                duplicates = sum(1 for row in stored(kept) if row[2])
                if step == 23:
                    _ORIGINALS.forget(kept)
        kept_reads, read_reads = reads.count(kept_target), reads.count(read.target)
    assert duplicates > 20  # decisions were made, not only misses
    # the kept store read its originals again only after the rollback, the prune, and when
    # a back-dated item reached further back than the kept ones (or when it had too many)
    if kept_max == ingest.KEPT_MAX:
        assert kept_reads < read_reads / 3, (kept_reads, read_reads)
    else:
        assert kept_reads > read_reads * 0.8, (kept_reads, read_reads)
