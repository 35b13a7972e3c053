"""Value types of the news pipeline: a parsed item, a skipped entry, a classified record."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")  # str.isalpha of an ASCII character


@dataclass(frozen=True, slots=True)
class NewsItem:
    """One news item as a source published it: plain text, never HTML.

    ``id`` is stable across polls: ``<source>:<16 hex>`` hashed from the entry's guid, else
    its link, else its title and date. ``published_at`` is timezone-aware UTC or ``None``.
    """

    id: str
    source: str
    url: str
    title: str
    summary: str = ""
    published_at: datetime | None = None
    lang: str = "en"

    @property
    def text(self) -> str:
        """Title and summary, the text the tagger and the classifier read."""
        return f"{self.title}\n{self.summary}" if self.summary else self.title


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An entry left out of a payload, and why (too long a title, no title and no link...)."""

    position: int
    reason: str


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What parsing one payload gave: items, skipped entries and a warning for a bozo feed."""

    items: tuple[NewsItem, ...]
    skipped: tuple[SkippedEntry, ...] = ()
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classifier said about one text."""

    kind: str
    confidence: float
    is_supply_risk_event: bool
    risk_confidence: float


@dataclass(frozen=True, slots=True)
class NewsRecord:
    """A news item with everything the pipeline added: the row saved in ``news_items``.

    ``classification`` None: stored pending, classified in batch before the item is next read
    (``monitor.news.ingest.classify_pending``; docs/news-classifier.md, "Deferred
    classification").
    """

    item: NewsItem
    canonical_url: str
    fetched_at: datetime
    classification: Classification | None
    minerals: tuple[str, ...] = ()
    inferred_minerals: tuple[str, ...] = ()
    country: str | None = None
    dedup_of: str | None = None


def item_id(source: str, key: str) -> str:
    """A short stable id for the entry with key ``key`` (guid, link or title|date) in a source."""
    digest = hashlib.sha256(key.encode("utf-8", errors="replace")).hexdigest()[:16]
    return f"{source}:{digest}"


def detect_lang(text: str, default: str = "en") -> str:
    """``"zh"`` when a fifth or more of the letters are CJK ideographs, else the declared
    language (``"en"`` for a Chinese source); ``monitor.news.language`` then decides."""
    if text.isascii():  # no CJK: only whether there is a letter at all matters
        if not _ASCII_LETTER.search(text):
            return default
        return "en" if default.startswith("zh") else default
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return default
    cjk = sum(1 for c in letters if _CJK.match(c))
    if cjk * 5 >= len(letters):
        return "zh"
    return "en" if default.startswith("zh") else default
