"""A batch of payloads is ingested as if one after another, in one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.config.sources import SourcesFile
from monitor.core.models import FetchResult
from monitor.news.ingest import NewsPipeline, ingest_news, ingest_news_batch
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
