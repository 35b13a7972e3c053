"""Recognising the same story twice: URL canonicalisation and title similarity in a time window.

The same Reuters story reaches critmon through several feeds (the publisher's own, two Google
News searches, an aggregator) under different URLs and slightly different headlines. An item is
a duplicate of an earlier one when their canonical URLs are equal, or when their headlines are
near-identical (Jaccard similarity of normalised word stems, or of character bigrams for
Chinese, at or above a threshold) and they were published within the window of each other.
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from bisect import bisect_left, bisect_right, insort
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_TRACKING_PARAMS = re.compile(
    r"^(utm_.*|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|cmp|ref|ref_src|src|smid|"
    r"taid|mod|rss|feed|feedtype|from|spm|share|oc|guccounter|guce_.*|_ga|ito|ns_.*|"
    r"outputtype|amp|at_medium|at_campaign|sr_share|xtor|tpcc|scode)$",
    re.IGNORECASE,
)
_HOST_PREFIXES = ("www.", "m.", "amp.", "mobile.")
_INDEX_PAGES = re.compile(r"/(index|default)\.(html?|shtml|php|aspx?)$", re.IGNORECASE)
_FR_DOC = re.compile(r"^/(?:documents/\d{4}/\d{2}/\d{2}|d|api/v1/documents)/"
                     r"([0-9]{4}-[0-9]{4,6}|[CER][0-9]-[0-9]{4}-[0-9]+)(?:[/.]|$)")
_PUBLISHER_SUFFIX = re.compile(r"\s+[-|\u2013\u2014]\s+[^-|\u2013\u2014]{1,40}$")
_WORD = re.compile(r"[a-z0-9]+")
_NOT_WORD = re.compile(r"[^\w\u3400-\u9fff]+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_STOPWORDS = frozenset({
    "a", "an", "the", "of", "to", "in", "on", "for", "and", "or", "by", "with", "at", "from",
    "as", "is", "are", "be", "will", "its", "it", "this", "that", "after", "over", "amid",
    "into", "new", "says", "said", "report",
})


@lru_cache(maxsize=4096)  # a batch looks each new item's URL up twice (stored owners, index)
def canonical_url(url: str) -> str:
    """A normal form of ``url`` for equality: scheme, host, path and query tidied.

    http and https are equal, ``www.``/``m.`` prefixes and default ports go, tracking
    parameters (utm_*, fbclid, Google News' oc, ...) go, the rest are sorted; the fragment,
    a trailing slash, ``/amp`` and ``index.html`` go. Federal Register document pages, short
    links and API URLs all become ``federalregister.gov/d/<document number>``.
    """
    if not url:
        return ""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:
        return url.strip()
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix):
            host = host[len(prefix):]
            break
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = parts.path or "/"
    if host == "federalregister.gov" and (doc := _FR_DOC.match(path)):
        return f"federalregister.gov/d/{doc.group(1)}"
    path = _INDEX_PAGES.sub("/", path)
    path = re.sub(r"/amp/?$", "/", path)
    path = path.rstrip("/") or "/"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    kept = sorted((k, v) for k, v in query if not _TRACKING_PARAMS.match(k))
    canonical = f"{host}{path}"
    if kept:
        canonical += "?" + urllib.parse.urlencode(kept)
    return canonical


#: Titles whose normal form and tokens are remembered: an item's title is normalised when it
#: is looked up and again when it is added, and a batch's index re-adds the stored titles of
#: the last days (bench/bench_news.py).
TITLE_CACHE = 4096


@lru_cache(maxsize=TITLE_CACHE)
def normalise_title(title: str) -> str:
    """Lower-case, NFKC, no publisher suffix (" - Reuters"), no punctuation, single spaces."""
    text = unicodedata.normalize("NFKC", title).lower().strip()
    text = _PUBLISHER_SUFFIX.sub("", text)
    return " ".join(_NOT_WORD.sub(" ", text).split())


@lru_cache(maxsize=TITLE_CACHE)
def title_tokens(title: str) -> frozenset[str]:
    """Word stems (English) and character bigrams (Chinese) of a normalised title."""
    text = normalise_title(title)
    tokens = {_stem(w) for w in _WORD.findall(text) if w not in _STOPWORDS}
    for run in _CJK_RUN.findall(text):
        tokens.update(run[i:i + 2] for i in range(max(1, len(run) - 1)))
    return frozenset(tokens)


@lru_cache(maxsize=8192)  # headline words repeat: a look-up is a tenth of the stemming
def _stem(word: str) -> str:
    """A crude stem: enough to make "curbs"/"curb" and "exports"/"exported" meet."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:7]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """|a ∩ b| / |a union b|; 0 for two empty sets."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def micros(at: datetime) -> int:
    """``at`` in whole microseconds since the epoch: exact, and far cheaper to compare than
    datetimes (the similarity search checks the window of every candidate)."""
    delta = at - (_EPOCH if at.tzinfo is not None else _NAIVE_EPOCH)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


#: An entry's place in the order of the search: ``(0, at, id)`` for a stored original (a
#: rebuilt index adds them in that order: ``NewsStore.recent_originals``), ``(1, n, "")`` for
#: the n-th item added to the index itself, after all of them.
Order = tuple[int, int, str]


@dataclass(slots=True)
class _Entry:
    id: str
    at: int  # microseconds since the epoch (``micros``)
    tokens: frozenset[str]
    seq: Order = (1, 0, "")


class _Posting:
    """The entries holding one token, ordered by time, with their times apart for
    bisection: a search visits only the entries inside its window."""

    __slots__ = ("ats", "entries")

    def __init__(self) -> None:
        self.ats: list[int] = []
        self.entries: list[_Entry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, entry: _Entry) -> None:
        at = self.ats
        if not at or at[-1] <= entry.at:  # the usual case: added in time order
            at.append(entry.at)
            self.entries.append(entry)
            return
        position = bisect_right(at, entry.at)
        at.insert(position, entry.at)
        self.entries.insert(position, entry)

    def within(self, low: int, high: int) -> list[_Entry]:
        """The entries with ``low <= at <= high``."""
        return self.entries[bisect_left(self.ats, low):bisect_right(self.ats, high)]


_EMPTY = _Posting()


def _post(postings: dict[str, _Posting], entry: _Entry) -> None:
    """File ``entry`` under each of its tokens."""
    for token in entry.tokens:
        posting = postings.get(token)
        if posting is None:
            posting = postings[token] = _Posting()
        posting.add(entry)


class StoredOriginals:
    """The store's original items as a dedup index reads them, kept from one ingest to the
    next (``monitor.news.ingest``): a :class:`DedupIndex` built over it with ``since`` decides
    exactly as one rebuilt from the originals since then (tests/news/test_ingest.py), without
    reading and indexing them again at every poll.

    Everything is ordered by ``(at, id)``, the order a rebuild adds them in, and read from
    ``since`` on: an original added later in time order lands where a rebuild would put it.
    """

    def __init__(self) -> None:
        self.by_url: dict[str, list[tuple[int, str]]] = {}
        self.by_title: dict[str, list[_Entry]] = {}
        self.postings: dict[str, _Posting] = {}
        self.ids: set[str] = set()

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, item_id: str, canonical: str, title: str, at: datetime) -> None:
        """Remember a stored original."""
        moment = micros(at)
        if canonical:
            insort(self.by_url.setdefault(canonical, []), (moment, item_id))
        key = normalise_title(title)
        if not key:
            return
        self.ids.add(item_id)
        entry = _Entry(item_id, moment, title_tokens(title), (0, moment, item_id))
        insort(self.by_title.setdefault(key, []), entry, key=_order)
        _post(self.postings, entry)

    def url_owner(self, canonical: str, since: int) -> str | None:
        """The first original (in ``(at, id)`` order) at or after ``since`` with this URL."""
        owners = self.by_url.get(canonical)
        if not owners:
            return None
        position = bisect_left(owners, (since, ""))
        return owners[position][1] if position < len(owners) else None


def _order(entry: _Entry) -> Order:
    return entry.seq


@dataclass
class DedupIndex:
    """Items seen so far (this poll and recent ones from the store), searchable for duplicates.

    Probing uses only the rarest ``floor((1 - threshold) * n) + 1`` tokens of a title: a title
    with Jaccard similarity at or above ``threshold`` must share at least one of them, so the
    search is exact while skipping the long postings of words like "china" or "export".
    Each posting is kept in time order, so a search reads only the part of it inside the
    window (bench/bench_news.py: most of dedup's time was spent skipping entries outside it).

    ``stored``: the store's originals, read from ``since`` (microseconds since the epoch) on,
    as if they had been added first, in ``(at, id)`` order (:class:`StoredOriginals`).
    """

    window: timedelta = timedelta(days=3)
    threshold: float = 0.6
    stored: StoredOriginals | None = None
    since: int = -(1 << 62)
    _by_url: dict[str, str] = field(default_factory=dict)
    _by_title: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    _postings: dict[str, _Posting] = field(default_factory=dict)
    _ids: set[str] = field(default_factory=set)
    _added: int = 0
    #: Whether one id was added twice with a title: the search then takes the exact order
    #: of the original one (``_similar_in_order``), which the time order cannot reproduce.
    _repeated_ids: bool = False

    def find(self, canonical: str, title: str, at: datetime) -> str | None:
        """The id of an earlier item this one duplicates, or None."""
        stored = self.stored
        if canonical:
            if stored is not None and (owner := stored.url_owner(canonical, self.since)):
                return owner
            if canonical in self._by_url:
                return self._by_url[canonical]
        key = normalise_title(title)
        if not key:
            return None
        moment = micros(at)
        window = self.window // _MICROSECOND
        for entries in (stored.by_title.get(key, ()) if stored is not None else (),
                        self._by_title.get(key, ())):
            for entry in entries:
                if abs(entry.at - moment) <= window and entry.at >= self.since:
                    return entry.id
        return self._similar(title_tokens(title), moment, window)

    def add(self, item_id: str, canonical: str, title: str, at: datetime) -> None:
        """Remember an original item (duplicates point at it and are not added)."""
        if canonical:
            self._by_url.setdefault(canonical, item_id)
        key = normalise_title(title)
        if not key:
            return
        if item_id in self._ids or (self.stored is not None and item_id in self.stored.ids):
            self._repeated_ids = True
        self._ids.add(item_id)
        self._added += 1
        entry = _Entry(item_id, micros(at), title_tokens(title), (1, self._added, ""))
        self._by_title[key].append(entry)
        _post(self._postings, entry)

    def _probes(self, tokens: frozenset[str]) -> list[str]:
        """The rarest tokens of a title, rarest first (ties in the set's own order)."""
        postings, stored, since = self._postings, self.stored, self.since
        kept = stored.postings if stored is not None else {}
        counted = []
        for position, token in enumerate(tokens):  # the position keeps the set's order on ties
            own, old = postings.get(token), kept.get(token)
            count = len(own.entries) if own is not None else 0
            if old is not None:
                count += len(old.ats) - bisect_left(old.ats, since)
            counted.append((count, position, token))
        counted.sort()
        return [token for _, _, token in counted[: int((1 - self.threshold) * len(tokens)) + 1]]

    def _candidates(self, token: str, low: int, high: int) -> list[_Entry]:
        """The entries holding ``token`` with ``low <= at <= high``, stored ones first."""
        own = self._postings.get(token, _EMPTY).within(low, high)
        if self.stored is None:
            return own
        stored = self.stored.postings.get(token, _EMPTY).within(max(low, self.since), high)
        return stored + own if own else stored

    def _similar(self, tokens: frozenset[str], at: int, window: int) -> str | None:
        """The most similar entry within ``window`` microseconds of ``at``, as
        :func:`jaccard` scores it, or None below the threshold.

        Of equals, the last one met when reading the probes' postings in order, each in the
        order its entries were added (stored originals first, by ``(at, id)``), an entry
        counted where it is first met: the time-ordered postings are read in probe order,
        and a tie goes to the entry of the later probe, or of the same probe and added later.
        Inlined, as this loop is most of dedup's time.
        """
        size = len(tokens)
        if size < 3:  # "Gallium" alone is not evidence of the same story
            return None
        if self._repeated_ids:
            return self._similar_in_order(tokens, at, window)
        best_id, best, best_key = None, self.threshold, (-1, (-1, 0, ""))
        seen: set[str] = set()
        low, high = at - window, at + window
        postings, stored = self._postings, self.stored
        layers = (stored.postings, postings) if stored is not None else (postings,)
        stored_low = max(low, self.since)
        for n, token in enumerate(self._probes(tokens)):
            for layer in layers:  # the stored originals first: they were added first
                posting = layer.get(token)
                if posting is None:
                    continue
                ats = posting.ats
                start = bisect_left(ats, stored_low if layer is not postings else low)
                for entry in posting.entries[start:bisect_right(ats, high)]:
                    entry_id = entry.id
                    if entry_id in seen:
                        continue
                    seen.add(entry_id)
                    other = entry.tokens
                    shared = len(tokens & other)
                    # jaccard(tokens, other): both non-empty (``other`` has this token)
                    score = shared / (size + len(other) - shared)
                    if score > best or (score == best and (n, entry.seq) > best_key):
                        best_id, best, best_key = entry_id, score, (n, entry.seq)
        return best_id

    def _similar_in_order(self, tokens: frozenset[str], at: int, window: int) -> str | None:
        """:meth:`_similar` reading each posting in the order of addition (an id added twice
        is scored where it is first met in that order)."""
        size = len(tokens)
        best_id, best = None, self.threshold
        seen: set[str] = set()
        for token in self._probes(tokens):
            for entry in sorted(self._candidates(token, self.since, at + window), key=_order):
                if entry.id in seen or abs(entry.at - at) > window:
                    continue
                seen.add(entry.id)
                other = entry.tokens
                shared = len(tokens & other)
                score = shared / (size + len(other) - shared)
                if score >= best:
                    best_id, best = entry.id, score
        return best_id
