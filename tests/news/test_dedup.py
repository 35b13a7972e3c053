"""Recognising the same story: canonical URLs and similar titles within a time window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.news.dedup import DedupIndex, canonical_url, jaccard, normalise_title, title_tokens

T0 = datetime(2023, 7, 3, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("https://www.reuters.com/markets/a/?utm_source=rss&utm_medium=feed",
                 "reuters.com/markets/a", id="tracking-params-and-www-go"),
    pytest.param("http://Reuters.com:80/markets/a#top", "reuters.com/markets/a",
                 id="scheme-port-case-fragment"),
    pytest.param("https://m.example.com/story/amp/", "example.com/story", id="mobile-and-amp"),
    pytest.param("https://example.com/list/index.html", "example.com/list",
                 id="index-page"),
    pytest.param("https://example.com/a?b=2&a=1&fbclid=x", "example.com/a?a=1&b=2",
                 id="params-sorted"),
    pytest.param("https://news.google.com/rss/articles/CBMi123?oc=5",
                 "news.google.com/rss/articles/CBMi123", id="google-news-oc"),
    pytest.param("https://www.federalregister.gov/documents/2025/08/05/2025-14893/adjusting",
                 "federalregister.gov/d/2025-14893", id="fr-document-page"),
    pytest.param("https://www.federalregister.gov/api/v1/documents/2025-14893.json",
                 "federalregister.gov/d/2025-14893", id="fr-api-url"),
    pytest.param("https://www.federalregister.gov/d/2025-14893", "federalregister.gov/d/2025-14893",
                 id="fr-short-link"),
    pytest.param("https://example.com:8443/x", "example.com:8443/x", id="odd-port-kept"),
    pytest.param("", "", id="empty"),
])
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_normalise_title_drops_publisher_suffix_and_punctuation() -> None:
    assert normalise_title("China curbs gallium, germanium exports - Reuters") == (
        "china curbs gallium germanium exports")
    assert normalise_title("商务部：对镓、锗实施出口管制") == "商务部 对镓 锗实施出口管制"  # noqa: RUF001 (Chinese punctuation)


def test_title_tokens_stem_english_and_bigram_chinese() -> None:
    assert title_tokens("China curbs exports") == title_tokens("China curb export")
    assert {"出口", "管制"} <= title_tokens("镓锗出口管制")


def test_jaccard() -> None:
    assert jaccard(frozenset("ab"), frozenset("bc")) == pytest.approx(1 / 3)
    assert jaccard(frozenset(), frozenset("a")) == 0.0


def index_with(*entries: tuple[str, str, str, datetime]) -> DedupIndex:
    index = DedupIndex(window=timedelta(days=3), threshold=0.6)
    for item_id, url, title, at in entries:
        index.add(item_id, canonical_url(url), title, at)
    return index


REUTERS = ("r1", "https://www.reuters.com/markets/commodities/china-gallium-2023-07-03/",
           "China to restrict exports of chipmaking metals gallium and germanium", T0)


@pytest.mark.parametrize(("url", "title", "at", "expected"), [
    pytest.param("https://reuters.com/markets/commodities/china-gallium-2023-07-03?utm_source=x",
                 "Totally different headline", T0 + timedelta(days=30), "r1",
                 id="same-url-any-time"),
    pytest.param("https://finance.yahoo.com/news/china-gallium",
                 "China to restrict exports of chipmaking metals gallium, germanium - Yahoo",
                 T0 + timedelta(hours=2), "r1", id="syndicated-copy"),
    pytest.param("https://other.example/x",
                 "China restricts exports of chipmaking metals gallium and germanium",
                 T0 + timedelta(days=1), "r1", id="reworded-slightly"),
    pytest.param("https://other.example/y",
                 "China to restrict exports of chipmaking metals gallium and germanium",
                 T0 + timedelta(days=10), None, id="same-title-outside-window"),
    pytest.param("https://other.example/z", "Gallium prices jump in Rotterdam after curbs",
                 T0 + timedelta(hours=5), None, id="different-story"),
    pytest.param("https://other.example/w", "Gallium", T0, None, id="too-short-to-judge"),
])
def test_dedup_index_find(url: str, title: str, at: datetime, expected: str | None) -> None:
    assert index_with(REUTERS).find(canonical_url(url), title, at) == expected


def test_dedup_index_chinese_headlines() -> None:
    index = index_with(("z1", "https://a.cn/1", "刚果（金）暂停钴出口四个月", T0))  # noqa: RUF001 (Chinese punctuation)
    assert index.find("b.cn/2", "刚果金暂停钴出口四个月", T0 + timedelta(hours=3)) == "z1"
    assert index.find("b.cn/3", "刚果（金）公布钴出口配额", T0 + timedelta(hours=3)) is None  # noqa: RUF001 (Chinese punctuation)


def test_dedup_probes_only_rare_tokens_yet_finds_the_match() -> None:
    index = DedupIndex(window=timedelta(days=3), threshold=0.6)
    for n in range(2000):  # many stories sharing common words
        index.add(f"n{n}", f"example.com/{n}", f"China export news roundup number {n}", T0)
    index.add("target", "example.com/t", "Indonesia bans bauxite ore exports from June", T0)
    assert index.find("other.com/t", "Indonesia bans bauxite ore exports from June - AP",
                      T0) == "target"


class InsertionOrderIndex:
    """The similarity search as it was before the postings were kept in time order: every
    posting read in the order of addition, the window checked entry by entry, the last of
    equals winning. The time-ordered index must decide exactly as this one."""

    def __init__(self, window: timedelta, threshold: float) -> None:
        self.window, self.threshold = window, threshold
        self.by_title: dict[str, list[tuple[str, datetime]]] = {}
        self.postings: dict[str, list[tuple[str, datetime, frozenset[str]]]] = {}

    def add(self, item_id: str, title: str, at: datetime) -> None:
        key = normalise_title(title)
        if not key:
            return
        self.by_title.setdefault(key, []).append((item_id, at))
        tokens = title_tokens(title)
        for token in tokens:
            self.postings.setdefault(token, []).append((item_id, at, tokens))

    def find(self, title: str, at: datetime) -> str | None:
        key = normalise_title(title)
        if not key:
            return None
        for item_id, when in self.by_title.get(key, ()):
            if abs(when - at) <= self.window:
                return item_id
        tokens = title_tokens(title)
        if len(tokens) < 3:
            return None
        probes = sorted(tokens, key=lambda t: len(self.postings.get(t, ())))
        probes = probes[: int((1 - self.threshold) * len(tokens)) + 1]
        best_id, best, seen = None, self.threshold, set()
        for token in probes:
            for item_id, when, other in self.postings.get(token, ()):
                if item_id in seen or abs(when - at) > self.window:
                    continue
                seen.add(item_id)
                if jaccard(tokens, other) >= best:
                    best_id, best = item_id, jaccard(tokens, other)
        return best_id


@pytest.mark.parametrize("repeat_ids", [False, True], ids=["unique-ids", "an-id-added-twice"])
@pytest.mark.parametrize("seed", range(6))
def test_time_ordered_postings_decide_exactly_as_insertion_order(seed: int,
                                                                 repeat_ids: bool) -> None:
    """Titles from a tiny vocabulary (many exact ties in score), times added out of order
    and often equal, some at the window's very edge: every decision, including which of
    several equally similar items wins, is the one the insertion-order search makes."""
    import random

    rng = random.Random(seed)
    words = ["china", "gallium", "export", "ban", "curb", "germanium", "indonesia", "nickel",
             "ore", "quota"]
    window = timedelta(days=3)
    ours = DedupIndex(window=window, threshold=0.6)
    reference = InsertionOrderIndex(window, 0.6)
    decisions = 0
    for n in range(600):
        title = " ".join(rng.sample(words, rng.randint(3, 6)))
        at = T0 + rng.choice([timedelta(hours=rng.randint(-200, 200)), timedelta(0), window,
                              -window, window + timedelta(microseconds=1)])
        found = ours.find("", title, at)
        assert found == reference.find(title, at), (n, title, at)
        decisions += found is not None
        if found is None or rng.random() < 0.3:  # originals, and a few more to make ties
            item_id = f"i{rng.randrange(40)}" if repeat_ids and rng.random() < 0.2 else f"i{n}"
            ours.add(item_id, "", title, at)
            reference.add(item_id, title, at)
    assert decisions > 100  # the comparison covered many matches, not only misses


@pytest.mark.parametrize("seed", range(6))
def test_an_index_over_stored_originals_decides_as_one_they_were_added_to(seed: int) -> None:
    """An index over kept originals (``StoredOriginals``, read from ``since`` on, some older
    ones among them) decides every find, ties included, exactly as an index to which the
    originals since ``since`` were added first in ``(at, id)`` order, then the new items."""
    import random

    from monitor.news.dedup import StoredOriginals, micros

    rng = random.Random(seed)
    words = ["china", "gallium", "export", "ban", "curb", "germanium", "indonesia", "nickel"]
    window = timedelta(days=3)
    since = T0 - window
    rows = []
    for n in range(400):
        at = T0 + rng.choice([timedelta(hours=rng.randint(-300, 0)), timedelta(0), -window])
        title = " ".join(rng.sample(words, rng.randint(3, 6)))
        rows.append((f"s{rng.randrange(10**6)}-{n}", f"u.example/{rng.randrange(300)}", title, at))
    stored = StoredOriginals()
    for row in rng.sample(rows, len(rows)):  # kept in any order: they sort themselves
        stored.add(*row)
    layered = DedupIndex(window=window, threshold=0.6, stored=stored, since=micros(since))
    flat = DedupIndex(window=window, threshold=0.6)
    for item_id, url, title, at in sorted(rows, key=lambda row: (row[3], row[0])):
        if at >= since:
            flat.add(item_id, url, title, at)
    found = 0
    for n in range(300):
        title = " ".join(rng.sample(words, rng.randint(3, 6)))
        at = T0 + timedelta(hours=rng.randint(0, 40))
        url = rng.choice(["", f"u.example/{rng.randrange(300)}", f"new.example/{n}"])
        decision = layered.find(url, title, at)
        assert decision == flat.find(url, title, at), (n, title, at)
        found += decision is not None
        if decision is None:
            layered.add(f"n{n}", url, title, at)
            flat.add(f"n{n}", url, title, at)
    assert found > 100
