"""Classifying news items: event kind and whether it is a supply-risk event.

Two scikit-learn pipelines share one feature union: character n-gram TF-IDF (works for English
and Chinese without a tokenizer), word n-gram TF-IDF, and a few cue counts (easing words such as
"lifts"/解除, threat words such as "weighs"/拟, restriction and disruption words) that carry the
distinction the corpus is small for. A logistic regression sits on top of each. The model is
fitted deterministically on the labelled corpus shipped in ``monitor/data/news_corpus.jsonl``
at first use and cached in the state directory under a name keyed by the corpus hash, the model
version and the scikit-learn version, so a changed corpus or library refits by itself.

An item is a supply-risk event only when the risk model says so *and* its kind can restrict
supply (``RESTRICTING_KINDS``): a price move is never one, however alarming its wording.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import re
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion

from monitor.core.news_kinds import NEWS_KINDS, RESTRICTING_KINDS
from monitor.news.items import Classification
from monitor.news.language import default_identifier

log = logging.getLogger(__name__)

MODEL_VERSION = "7"
CORPUS_FILE = "news_corpus.jsonl"
#: The risk threshold of a classifier fitted without enough data to tune its own.
RISK_THRESHOLD = 0.5
#: The risk threshold is tuned by an inner cross-validation of the training items (never the
#: items scored): this many stratified folds, thresholds from ``THRESHOLD_GRID``.
THRESHOLD_FOLDS = 3
THRESHOLD_GRID = tuple(round(0.2 + 0.02 * n, 2) for n in range(31))  # 0.20 ... 0.80
#: Weight of the cue counts next to the TF-IDF blocks: chosen by cross-validation (0.1-0.3 all
#: help; at 0.5 and above the counts drown the n-grams and per-kind F1 falls).
CUE_WEIGHT = 0.2
_CACHE_PREFIX = "news-classifier-"

#: Cue families: each becomes one feature (how many of its patterns the text matches).
CUES: dict[str, tuple[str, ...]] = {
    "easing": (
        (r"\b(lift|lifts|lifted|lifting|ease|eases|eased|easing|relax\w*|scrap\w*|end|ends|"
        r"ended|remove\w*|resume\w*|restart\w*|reopen\w*|exempt\w*|exclusions?|waiver|"
        r"rescind\w*|revok\w* (the )?(ban|tariff|sanction)|lower\w*|cut\w* tariffs?|"
        r"approv\w*|grant\w*|allow\w*|returns? to|normal\w*|back online)\b"),
        r"suspend\w* (the |its |a )?(ban|controls?|measures?|tariffs?|restrictions?|expansion)",
        r"解除|取消|放宽|恢复|复产|暂停实施|批准|获批|豁免|下调|降低关税|移出|允许|正常",
    ),
    "threat": (
        (r"\b(consider\w*|weigh\w*|could|may|might|threat\w*|propos\w*|plan\w* to consider|"
        r"probe|investigation|comments?|review|mulls?|warns?|expected)\b"),
        r"考虑|威胁|拟|调查|征求意见|审查|传闻|预计|或将",
    ),
    "restrict": (
        (r"\b(ban|bans|banned|banning|halt\w*|suspend\w*|restrict\w*|curb\w*|controls?|"
        r"licen[cs]\w*|permits?|quota\w*|prohibit\w*|blacklist\w*|entity list|tighten\w*|"
        r"cuts? .{0,20}quota)\b"),
        r"禁止|禁令|管制|暂停|限制|停止|许可|配额|不予许可|实体清单|收紧",
    ),
    "disruption": (
        (r"\b(strike|flood\w*|blockad\w*|collaps\w*|fire|explosion|force majeure|power (cut|"
        r"shortage|rationing)\w*|shut\w*|closure|closes?|protest\w*|landslide|mudslide|"
        r"derail\w*|stranded|congestion|attacks?|rebels?)\b"),
        r"罢工|停产|封锁|事故|限电|关闭|泥石流|爆炸|暴雨|拥堵|武装|抗议",
    ),
    "price": (
        (r"\b(prices?|rall\w*|slump\w*|record|high|low|tumbl\w*|soar\w*|climb\w*|slid\w*|fell|"
        r"rose|jump\w*|per (tonne|kg|ounce))\b"),
        r"价格|价|涨|跌|新高|低点|期货",
    ),
    "trade_remedy": (
        (r"\b(antidumping|anti-dumping|countervailing|duty|duties|tariffs?|section 232|"
        r"less than fair value)\b"),
        r"关税|反倾销|反补贴|232",
    ),
    "deal": (
        (r"\b(invest\w*|acqui\w*|stake|loan|deal|agreement|partnership|merger|offtake|buy\w*|"
        r"fund\w*)\b"),
        r"投资|收购|入股|协议|合作|融资|募资",
    ),
}

#: The same cue families in French, Spanish, Portuguese, Indonesian, German (first) and
#: Japanese (second). They are OR-ed into the English and the Chinese pattern of their family
#: rather than added as patterns of their own, and hold no English or Chinese word, so an
#: English or Chinese text gets exactly the counts it got before they existed. Traditional
#: Chinese needs none: it is read after conversion to simplified.
CUES_I18N: dict[str, tuple[str, str]] = {
    "easing": (
        (r"\b(l[eè]v[ée]e?s?|l[eè]vent|reprend\w*|reprise|relanc\w*|red[ée]marr\w*|assoupli\w*|"
         r"levanta\w*|reanuda\w*|retoma\w*|flexibiliza\w*|volta a|relaksasi|kembali|dibuka|"
         r"wieder\w*|aufgehoben|lockert\w*)\b"),
        r"再開|緩和|見送",
    ),
    "threat": (
        (r"\b(envisag\w*|pourrait|menac\w*|considera\w*|podr[ií]a|amenaza\w*|poder[aá]|"
         r"isyarat\w*|wacana|mengkaji|erw[äa]g\w*|k[öo]nnte|droht)\b"),
        r"検討|方針|見通し",
    ),
    "restrict": (
        (r"\b(suspen[ds]\w*|suspensi[oó]n|interdi\w*|restrei?n\w*|limita\w*|licencias?|"
         r"licen[çc]as?|cuotas?|cotas?|prohibe\w*|pro[íi]be\w*|larang\w*|hentikan|terhenti|"
         r"kuota|izin|verbiet\w*|verbot\w*|stoppt|beschr[äa]nk\w*|exportkontroll\w*|"
         r"kontrol ekspor|controles|contr[ôo]les?|controle)\b"),
        r"輸出規制|規制|許可制",
    ),
    "disruption": (
        (r"\b(gr[eè]ve|huelga|greve|streik|mogok|arr[êe]t|[ée]meutes?|bloqu\w*|paralis\w*|"
         r"paraliz\w*|derrumbe|rompe|rompimento|vazamento|kebakaran|ledakan|longsor\w*|"
         r"for[çc]a maior|h[öo]here gewalt|protestas|protestos|cortes de ruta|"
         r"coup d'[ée]tat|schlammrutsch)\b"),
        r"ストライキ|閉鎖|不可抗力|爆発",
    ),
    "price": (
        (r"\b(prix|cours|precios?|pre[çc]os?|cota[çc][ãa]o|harga|preis\w*|bondit|chut\w*|"
         r"desploma|despenca|anjlok|rekordhoch|recua|f[äa]llt|steigt)\b"),
        r"価格|最高値|急騰|値下がり",
    ),
    "trade_remedy": (
        r"\b(droits de douane|aranceles?|tarifas?|z[öo]lle?|bea masuk|bea keluar)\b",
        r"関税",
    ),
    "deal": (
        (r"\b(acuerdo|accord|acordo|firma\w*|vende\w*|investiss\w*|inversi[oó]n\w*|"
         r"investiment\w*|investasi|kerja sama|[üu]bernahme|beteilig\w*|zusagen|fonds|"
         r"fondos)\b"),
        r"出資|提携|合意",
    ),
}


class CueFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Counts of cue-family matches per text (stateless; ``fit`` learns nothing)."""

    def fit(self, X: Sequence[str], y: Any = None) -> CueFeatures:
        return self

    def transform(self, X: Sequence[str]) -> sparse.csr_matrix:
        cues = _compiled_cues()
        rows = []
        for text in X:
            lowered = text.lower() if text.isascii() else None
            rows.append([float(sum(1 for cue in family if cue.search(text, lowered)))
                         for family in cues])
        return sparse.csr_matrix(np.asarray(rows, dtype=np.float64).reshape(len(X), -1))


@dataclass(frozen=True, slots=True)
class _Cue:
    """One cue pattern, with faster equivalents of its case-insensitive search.

    Classifying spent more time in these searches than in the TF-IDF (bench/bench_news.py):
    Python's case-insensitive matching of long alternations is slow. Both shortcuts give the
    same answer as ``pattern.search``:

    - ``literals``: the pattern is a plain alternation of words without case (Chinese,
      Japanese, digits), so it matches exactly when one of them is a substring;
    - ``lowered``: the pattern compiled case-sensitively, for an ASCII text lower-cased (the
      pattern has no upper-case letter; an ASCII character matches it ignoring case exactly
      when its lower case matches it, as no letter of the patterns folds to ASCII).
    """

    pattern: re.Pattern[str]
    lowered: re.Pattern[str] | None
    literals: tuple[str, ...] | None

    @classmethod
    def compile(cls, source: str) -> _Cue:
        literals = _plain_alternatives(source)
        if literals is not None and any(w.lower() != w.upper() for w in literals):
            literals = None
        has_upper = any(c.isupper() for c in re.sub(r"\\.", "", source))
        return cls(re.compile(source, re.IGNORECASE),
                   None if has_upper else re.compile(source), literals)

    def search(self, text: str, lowered: str | None) -> bool:
        """Whether the pattern matches ``text`` (``lowered``: its lower case if it is ASCII)."""
        if self.literals is not None:
            return any(word in text for word in self.literals)
        if lowered is not None and self.lowered is not None:
            return self.lowered.search(lowered) is not None
        return self.pattern.search(text) is not None


_METACHARACTERS = frozenset(".^$*+?{}[]\\|()")


def _plain_alternatives(source: str) -> tuple[str, ...] | None:
    """The words of a pattern ``a|b|(?:c|d)`` made of plain words only, else None."""
    words: list[str] = []
    for part in _top_level_split(source):
        if part.startswith("(?:") and part.endswith(")"):
            inner = part[3:-1]
            if "(" in inner or ")" in inner:
                return None
            words += inner.split("|")
        else:
            words.append(part)
    if any(not w or _METACHARACTERS.intersection(w) for w in words):
        return None
    return tuple(words)


def _top_level_split(source: str) -> list[str]:
    """``source`` split at the ``|`` outside parentheses (None-safe: escapes are refused later)."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(source):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(source[start:at])
            start = at + 1
    parts.append(source[start:])
    return parts


_CUE_CACHE: list[tuple[_Cue, ...]] = []


def _compiled_cues() -> list[tuple[_Cue, ...]]:
    if not _CUE_CACHE:
        _CUE_CACHE.extend(tuple(_Cue.compile(p) for p in _with_i18n(name, family))
                          for name, family in CUES.items())
    return _CUE_CACHE


_HAN = re.compile(r"[\u4e00-\u9fff]")


def _with_i18n(name: str, family: tuple[str, ...]) -> list[str]:
    """The family's patterns, its first Latin one and its Chinese one widened by ``CUES_I18N``."""
    latin, cjk = CUES_I18N.get(name, ("", ""))
    patterns = list(family)
    latin_at = next(n for n, p in enumerate(patterns) if not _HAN.search(p))
    cjk_at = next(n for n, p in enumerate(patterns) if _HAN.search(p))
    if latin:
        patterns[latin_at] = f"(?:{patterns[latin_at]})|(?:{latin})"
    if cjk:
        patterns[cjk_at] = f"(?:{patterns[cjk_at]})|(?:{cjk})"
    return patterns


def reading_text(item: LabelledItem) -> tuple[str, str, str]:
    """(title, summary, language) as the models read them: traditional Chinese simplified."""
    if item.lang == "zh-Hant":
        reading = default_identifier().read(item.title, item.summary, "zh")
        return reading.title, reading.summary, reading.base
    return item.title, item.summary, item.lang


def build_text(title: str, summary: str = "") -> str:
    """The text the models read: the title twice (it carries the event), then the summary.

    No language marker: one (a word of its own per language, tried as a per-language
    intercept) cut Chinese recall from 0.77 to 0.59 in cross-validation.
    """
    return f"{title}\n{title}\n{summary}" if summary else f"{title}\n{title}"


_WORD = re.compile(r"(?u)\b\w+\b")
#: Runs of the scripts written without spaces between words: kana, Han (CJK unified
#: ideographs, extension A, compatibility ideographs).
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def word_tokens(text: str) -> list[str]:
    """The word block's tokens: words as written where spaces divide them; a run of Han or
    kana as its overlapping character bigrams (商务部下达 -> 商务 务部 部下 下达).

    Chinese and Japanese put no space between words, so a regex word there is a whole clause
    ("商务部下达2010年下半年稀土出口配额"), a token no other headline shares: it identified
    its training item and nothing else. Overlapping bigrams are how search engines index text
    without a segmenter (Lucene's CJKBigramFilter): most Chinese words are two characters, and
    a bigram across a word boundary costs little. Cross-validation: simplified Chinese event
    F1 0.784 -> 0.851 with these tokens alone (docs/news-classifier.md).
    """
    words = _WORD.findall(text)
    if not _CJK_RUN.search(text):  # most texts: no Han or kana, the words as they are
        return words
    tokens: list[str] = []
    for word in words:
        at = 0
        for run in _CJK_RUN.finditer(word):
            if run.start() > at:
                tokens.append(word[at:run.start()])
            chars = run.group()
            tokens.extend([chars] if len(chars) == 1 else
                          [chars[n:n + 2] for n in range(len(chars) - 1)])
            at = run.end()
        if at < len(word):
            tokens.append(word[at:])
    return tokens


def build_features() -> FeatureUnion:
    """The (unfitted) feature union: char and word n-gram TF-IDF plus weighted cue counts."""
    return FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                  min_df=1, dtype=np.float64)),
        ("words", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True,
                                  tokenizer=word_tokens, token_pattern=None,
                                  dtype=np.float64)),
        ("cues", CueFeatures()),
    ], transformer_weights={"chars": 1.0, "words": 1.0, "cues": CUE_WEIGHT})


def build_model() -> LogisticRegression:
    """The (unfitted) linear model put on the features, for kinds and for risk alike.

    Classes are balanced by :func:`language_weights` (sample weights), not ``class_weight``.
    """
    # newton-cg reaches the same optimum as lbfgs in a handful of iterations: about 4x faster
    # here, and without lbfgs' sensitivity to BLAS threads fighting over a busy machine.
    return LogisticRegression(C=20.0, solver="newton-cg", max_iter=1000)


def language_group(lang: str) -> str:
    """The language as the models read it: traditional Chinese is read as simplified."""
    return "zh" if lang.startswith("zh") else lang


def language_weights(langs: Sequence[str], labels: Sequence[Any]) -> np.ndarray:
    """Sample weights: ``class_weight="balanced"`` within each language.

    Every language keeps its total weight (its number of items), shared equally among the
    classes it has. Balancing over the whole corpus instead let one language's class mix set
    the prior of all: the written items of the newer languages are two-thirds supply-risk
    events, English and Chinese about 40 %, and pooled they pushed English and Chinese
    negatives near the threshold over it.
    """
    groups = [language_group(lang) for lang in langs]
    per_language = Counter(groups)
    cells = Counter(zip(groups, labels, strict=True))
    classes = Counter(group for group, _ in cells)
    weights = np.array([per_language[g] / (classes[g] * cells[(g, y)])
                        for g, y in zip(groups, labels, strict=True)])
    return weights * len(weights) / weights.sum()


def tune_threshold(X: Any, risks: np.ndarray, langs: Sequence[str],
                   folds: int = THRESHOLD_FOLDS) -> float:
    """The risk threshold with the best F1 over an inner cross-validation of these items.

    Out-of-fold probabilities of the risk model (stratified folds, seed 0) are scored at each
    threshold of ``THRESHOLD_GRID``; the middle of the best plateau wins. Only the training
    items are used, so cross-validation of the whole classifier stays honest. Falls back to
    ``RISK_THRESHOLD`` when a class has fewer items than folds.
    """
    positives = int(risks.sum())
    if min(positives, len(risks) - positives) < folds:
        return RISK_THRESHOLD
    proba = np.zeros(len(risks))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    for train, test in splitter.split(np.zeros(len(risks)), risks):
        weights = language_weights([langs[n] for n in train], risks[train].tolist())
        model = build_model().fit(X[train], risks[train], sample_weight=weights)
        proba[test] = model.predict_proba(X[test])[:, list(model.classes_).index(True)]
    scores = np.array([_f1(risks, proba >= t) for t in THRESHOLD_GRID])
    best = np.flatnonzero(scores >= scores.max() - 1e-12)
    return THRESHOLD_GRID[int(best[len(best) // 2])]


def _f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    tp = int((gold & predicted).sum())
    wrong = int((gold != predicted).sum())
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


# --------------------------------------------------------------------------- labelled data


@dataclass(frozen=True, slots=True)
class LabelledItem:
    """One line of a labelled file (the ``news eval`` format, also the training corpus)."""

    id: str
    title: str
    summary: str
    kind: str
    is_supply_risk_event: bool
    minerals: tuple[str, ...]
    country: str | None
    lang: str = "en"
    date: str = ""
    url: str = ""


class LabelsError(ValueError):
    """A labelled file is malformed; the message names the line."""


def parse_labels(text: str, *, origin: str = "labels") -> list[LabelledItem]:
    """Parse JSON lines of ``{id, date, title, summary, url, lang, minerals, kind,
    is_supply_risk_event, country}``; blank lines and ``#`` comments are skipped."""
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            items.append(_labelled(json.loads(line)))
        except (ValueError, TypeError, KeyError) as exc:
            raise LabelsError(f"{origin}:{number}: {exc}") from None
    return items


def _labelled(row: dict[str, Any]) -> LabelledItem:
    if not isinstance(row, dict):
        raise TypeError("each line must be a JSON object")
    missing = [k for k in ("title", "kind", "is_supply_risk_event") if k not in row]
    if missing:
        raise KeyError(f"missing field(s): {', '.join(missing)}")
    if not isinstance(row["is_supply_risk_event"], bool):
        raise TypeError("is_supply_risk_event must be true or false")
    minerals = row.get("minerals") or []
    if isinstance(minerals, str):
        minerals = [m for m in re.split(r"[;,]", minerals) if m.strip()]
    return LabelledItem(
        id=str(row.get("id", "")), title=str(row["title"]), summary=str(row.get("summary") or ""),
        kind=str(row["kind"]), is_supply_risk_event=row["is_supply_risk_event"],
        minerals=tuple(str(m).strip().lower() for m in minerals),
        country=row.get("country") or None, lang=str(row.get("lang") or "en"),
        date=str(row.get("date") or ""), url=str(row.get("url") or ""))


def corpus_bytes() -> bytes:
    """The shipped labelled corpus, as bytes (hashed for the model cache key)."""
    return (resources.files("monitor.data") / CORPUS_FILE).read_bytes()


def load_corpus() -> list[LabelledItem]:
    """The shipped labelled corpus."""
    return parse_labels(corpus_bytes().decode("utf-8"), origin=CORPUS_FILE)


def model_key(corpus: bytes) -> str:
    """Cache key: corpus hash, model version and scikit-learn version."""
    sha = hashlib.sha256(corpus)
    sha.update(f"\0{MODEL_VERSION}\0{sklearn.__version__}".encode())
    return sha.hexdigest()


# --------------------------------------------------------------------------- the classifier


class NewsClassifier:
    """The fitted features and the kind and risk models on top of them.

    Both models read the same features (fitted once on the same texts), so a batch is
    vectorised once, not twice.
    """

    def __init__(self, features: FeatureUnion, kind_model: LogisticRegression,
                 risk_model: LogisticRegression, key: str,
                 risk_threshold: float = RISK_THRESHOLD) -> None:
        self.features = features
        self.kind_model = kind_model
        self.risk_model = risk_model
        self.key = key
        self.risk_threshold = risk_threshold

    def classify(self, title: str, summary: str = "", lang: str | None = None
                 ) -> Classification:
        """Classify one item (its language identified when not given)."""
        return self.classify_many([(title, summary) if lang is None else (title, summary, lang)])[0]

    def classify_many(self, texts: Sequence[tuple[str, ...]]) -> list[Classification]:
        """Classify many (title, summary[, language]) tuples at once (much faster than one by
        one). A text without its language has it identified (traditional Chinese simplified).
        """
        if not texts:
            return []
        X = self.features.transform([build_text(*_with_language(t)[:2]) for t in texts])
        kind_proba = self.kind_model.predict_proba(X)
        risk_proba = self.risk_model.predict_proba(X)
        kinds = self.kind_model.classes_
        risk_column = list(self.risk_model.classes_).index(True)
        results = []
        for row, risk_row in zip(kind_proba, risk_proba, strict=True):
            best = int(np.argmax(row))
            kind = str(kinds[best])
            p_risk = float(risk_row[risk_column])
            results.append(Classification(
                kind=kind, confidence=round(float(row[best]), 4),
                is_supply_risk_event=(p_risk >= self.risk_threshold
                                      and kind in RESTRICTING_KINDS),
                risk_confidence=round(p_risk, 4)))
        return results


def _with_language(text: tuple[str, ...]) -> tuple[str, str, str]:
    title, summary = text[0], text[1] if len(text) > 1 else ""
    if len(text) > 2:
        return title, summary, text[2]
    reading = default_identifier().read(title, summary)
    return reading.title, reading.summary, reading.base


def fit_classifier(items: Sequence[LabelledItem], key: str = "") -> NewsClassifier:
    """Fit both models on labelled items (deterministic: same items, same model), classes
    balanced within each language, and tune the risk threshold on these items alone."""
    docs = [build_text(*reading_text(i)[:2]) for i in items]
    unknown = sorted({i.kind for i in items} - set(NEWS_KINDS))
    if unknown:
        raise LabelsError(f"unknown kind(s) in training data: {', '.join(unknown)}")
    features = build_features().fit(docs)
    X = features.transform(docs).tocsr()
    langs = [i.lang for i in items]
    kinds = [i.kind for i in items]
    risks = np.array([i.is_supply_risk_event for i in items], dtype=bool)
    kind_model = build_model().fit(X, kinds, sample_weight=language_weights(langs, kinds))
    risk_model = build_model().fit(X, risks, sample_weight=language_weights(langs, risks.tolist()))
    threshold = tune_threshold(X, risks, langs)
    return NewsClassifier(features, kind_model, risk_model, key, threshold)


_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], NewsClassifier] = {}


def load_classifier(cache_dir: Path | None = None) -> NewsClassifier:
    """The classifier for the shipped corpus: from memory, the cache file, or fitted now.

    With ``cache_dir`` the fitted model is saved there (atomically) as
    ``news-classifier-<key>.joblib`` and stale files of other keys are removed. The cache is
    a pickle: keep the state directory private (critmon creates it 0700).
    """
    corpus = corpus_bytes()
    key = model_key(corpus)
    memo = (str(cache_dir or ""), key)
    with _LOCK:
        if memo in _LOADED:
            return _LOADED[memo]
        # The fit is deterministic: a classifier of the same key loaded for another directory
        # is this one (deferred classification reads the store's directory, not the poll's).
        same = next((c for (_, k), c in _LOADED.items() if k == key), None)
        if same is not None:
            if cache_dir and not _cache_path(cache_dir, key).exists():
                _save_cached(cache_dir, key, same)
            _LOADED[memo] = same
            return same
        classifier = _load_cached(cache_dir, key) if cache_dir else None
        if classifier is None:
            items = parse_labels(corpus.decode("utf-8"), origin=CORPUS_FILE)
            classifier = fit_classifier(items, key)
            log.info("fitted the news classifier on %d labelled items", len(items))
            if cache_dir:
                _save_cached(cache_dir, key, classifier)
        _LOADED[memo] = classifier
        return classifier


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{_CACHE_PREFIX}{key[:24]}.joblib"


def _load_cached(cache_dir: Path, key: str) -> NewsClassifier | None:
    path = _cache_path(cache_dir, key)
    if not path.exists():
        return None
    try:
        features, kind_model, risk_model, stored_key, threshold = joblib.load(path)
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as exc:  # a torn or foreign file: refit
        log.warning("ignoring unreadable classifier cache %s: %s", path, exc)
        return None
    if stored_key != key:
        return None
    return NewsClassifier(features, kind_model, risk_model, key, float(threshold))


def _save_cached(cache_dir: Path, key: str, classifier: NewsClassifier) -> None:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".news-classifier-", suffix=".tmp")
        os.close(fd)
        joblib.dump((classifier.features, classifier.kind_model, classifier.risk_model, key,
                     classifier.risk_threshold), tmp)
        os.replace(tmp, _cache_path(cache_dir, key))
        for stale in cache_dir.glob(f"{_CACHE_PREFIX}*.joblib"):
            if stale != _cache_path(cache_dir, key):
                stale.unlink(missing_ok=True)
    except OSError as exc:  # a read-only state dir costs a refit per process, nothing more
        log.warning("cannot cache the news classifier in %s: %s", cache_dir, exc)
