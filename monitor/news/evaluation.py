"""Scoring the tagger and the classifier against labelled items (``news eval``, CV report)."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from monitor.core.news_kinds import NEWS_KINDS
from monitor.news.classify import (
    LabelledItem,
    NewsClassifier,
    fit_classifier,
    reading_text,
)
from monitor.news.items import Classification
from monitor.news.tagging import Tagger, Tags

TOP_KINDS_IN_CONFUSION = 8
#: The time split: train on items published before this date, test on the rest.
TIME_SPLIT_CUTOFF = "2024-01-01"


@dataclass(frozen=True, slots=True)
class Scores:
    """Precision, recall and F1 of one class (or of a micro-average)."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int

    @classmethod
    def from_counts(cls, tp: int, fp: int, fn: int) -> Scores:
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return cls(round(precision, 3), round(recall, 3), round(f1, 3), tp + fn, tp + fp)

    def as_dict(self) -> dict[str, float | int]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1,
                "support": self.support, "predicted": self.predicted}


def score_binary(gold: Sequence[bool], predicted: Sequence[bool]) -> Scores:
    """Scores of the positive class."""
    tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g and p)
    fp = sum(1 for g, p in zip(gold, predicted, strict=True) if p and not g)
    fn = sum(1 for g, p in zip(gold, predicted, strict=True) if g and not p)
    return Scores.from_counts(tp, fp, fn)


def score_kinds(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Scores]:
    """Per-kind scores, for every kind that is in the gold labels or was predicted."""
    present = set(gold) | set(predicted)
    ordered = [k for k in NEWS_KINDS if k in present] + sorted(present - set(NEWS_KINDS))
    return {kind: score_binary([g == kind for g in gold], [p == kind for p in predicted])
            for kind in ordered}


def score_sets(gold: Sequence[frozenset[str]], predicted: Sequence[frozenset[str]]) -> Scores:
    """Micro-averaged scores of set-valued labels (minerals per item)."""
    tp = sum(len(g & p) for g, p in zip(gold, predicted, strict=True))
    fp = sum(len(p - g) for g, p in zip(gold, predicted, strict=True))
    fn = sum(len(g - p) for g, p in zip(gold, predicted, strict=True))
    return Scores.from_counts(tp, fp, fn)


def confusion(gold: Sequence[str], predicted: Sequence[str],
              top: int = TOP_KINDS_IN_CONFUSION) -> dict[str, Any]:
    """Confusion matrix of the ``top`` most frequent gold kinds; the rest pooled as "other"."""
    labels = [k for k, _ in Counter(gold).most_common(top)]
    pooled = [*labels, "other"] if len(set(gold) | set(predicted)) > len(labels) else labels

    def bucket(kind: str) -> int:
        return labels.index(kind) if kind in labels else len(labels)

    matrix = np.zeros((len(pooled), len(pooled)), dtype=int)
    for g, p in zip(gold, predicted, strict=True):
        matrix[bucket(g), bucket(p)] += 1
    return {"labels": pooled, "matrix": matrix.tolist()}


def mineral_key(name: str, names: Mapping[str, str]) -> str:
    """Normalise a mineral name ("Rare earths", "rare_earths", "aluminium") to one key."""
    text = " ".join(name.lower().replace("_", " ").replace("-", " ").split())
    return names.get(text, text)


def build_mineral_names(minerals: Sequence[Any]) -> dict[str, str]:
    """Lower-case id, name and aliases -> the id written with spaces ("rare earths")."""
    names: dict[str, str] = {}
    for mineral in minerals:
        key = mineral.id.replace("_", " ")
        for term in (mineral.id, mineral.name, *mineral.aliases):
            names.setdefault(" ".join(term.lower().replace("_", " ").replace("-", " ").split()),
                             key)
    return names


def build_report(items: Sequence[LabelledItem], results: Sequence[Classification],
                 tags: Sequence[Tags] | None, *, mineral_names: Mapping[str, str],
                 canonical_country: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """The evaluation report as a plain dict (JSON-ready)."""
    gold_kinds = [i.kind for i in items]
    kinds = [r.kind for r in results]
    report: dict[str, Any] = {
        "items": len(items),
        "is_supply_risk_event": score_binary([i.is_supply_risk_event for i in items],
                                             [r.is_supply_risk_event for r in results]).as_dict(),
        "kind_accuracy": round(sum(1 for g, p in zip(gold_kinds, kinds, strict=True) if g == p)
                               / len(items), 3) if items else 0.0,
        "kinds": {k: s.as_dict() for k, s in score_kinds(gold_kinds, kinds).items()},
        "confusion": confusion(gold_kinds, kinds),
    }
    gold_sets: list[frozenset[str]] = []
    found: list[frozenset[str]] = []
    if tags is not None:
        gold_sets = [frozenset(mineral_key(m, mineral_names) for m in i.minerals) for i in items]
        found = [frozenset(m.replace("_", " ") for m in t.minerals) for t in tags]
        report["minerals"] = score_sets(gold_sets, found).as_dict()
        report["country_accuracy"] = _country_accuracy(items, tags, canonical_country)
    report["by_language"] = _by_language(items, results, gold_sets, found)
    return report


def _by_language(items: Sequence[LabelledItem], results: Sequence[Classification],
                 gold_sets: Sequence[frozenset[str]], found: Sequence[frozenset[str]]
                 ) -> dict[str, dict[str, Any]]:
    """Event scores (and mineral tagging scores when tagged) per language of the items."""
    table: dict[str, dict[str, Any]] = {}
    for lang in sorted({i.lang for i in items}):
        rows = [n for n, i in enumerate(items) if i.lang == lang]
        entry: dict[str, Any] = {"items": len(rows), "event": score_binary(
            [items[n].is_supply_risk_event for n in rows],
            [results[n].is_supply_risk_event for n in rows]).as_dict()}
        if gold_sets:
            entry["minerals"] = score_sets([gold_sets[n] for n in rows],
                                           [found[n] for n in rows]).as_dict()
        table[lang] = entry
    return table


def tag_items(tagger: Tagger, items: Sequence[LabelledItem]) -> list[Tags]:
    """Tag labelled items as ingest does: in their language, traditional Chinese simplified."""
    return [tagger.tag(*reading_text(i)[:2], lang=_base_lang(i.lang)) for i in items]


def _base_lang(lang: str) -> str:
    return "zh" if lang.startswith("zh") else lang


def _country_accuracy(items: Sequence[LabelledItem], tags: Sequence[Tags],
                      canonical: Callable[[str], str | None] | None) -> float | None:
    pairs = [(i.country, t.country) for i, t in zip(items, tags, strict=True) if i.country]
    if not pairs:
        return None
    normalise = canonical or (lambda name: name)
    hits = sum(1 for gold, found in pairs if found and normalise(gold) == found)
    return round(hits / len(pairs), 3)


def evaluate(items: Sequence[LabelledItem], classifier: NewsClassifier,
             tagger: Tagger | None, *, mineral_names: Mapping[str, str]) -> dict[str, Any]:
    """Score the fitted classifier (and the tagger) on labelled items."""
    results = classifier.classify_many([reading_text(i) for i in items])
    tags = tag_items(tagger, items) if tagger else None
    canonical = tagger.countries.canonical if tagger else None
    return build_report(items, results, tags, mineral_names=mineral_names,
                        canonical_country=canonical)


def cross_validate(items: Sequence[LabelledItem], *, folds: int = 5, seed: int = 0,
                   tagger: Tagger | None = None,
                   mineral_names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Stratified k-fold cross-validation of the classifier on ``items`` (deterministic).

    Each fold fits the classifier as shipped (:func:`fit_classifier`: weights, tuned risk
    threshold) on the other folds alone and classifies its own items.
    """
    results: list[Classification | None] = [None] * len(items)
    for train, test in language_folds(items, folds=folds, seed=seed):
        classifier = fit_classifier([items[n] for n in train])
        found = classifier.classify_many([reading_text(items[n]) for n in test])
        for n, result in zip(test, found, strict=True):
            results[n] = result
    done = [r for r in results if r is not None]
    tags = tag_items(tagger, items) if tagger else None
    report = build_report(items, done, tags, mineral_names=mineral_names or {},
                          canonical_country=tagger.countries.canonical if tagger else None)
    report["folds"] = folds
    report["time_split"] = time_split(items)
    return report


def language_folds(items: Sequence[LabelledItem], *, folds: int = 5, seed: int = 0
                   ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays: folds stratified by kind within each language, joined.

    Each language is split on its own, so adding items in one language never moves another
    language's items to other folds: a language's figures change only because the model saw
    more (or other) training data, never because its test folds were reshuffled.
    """
    fold_of = np.zeros(len(items), dtype=int)
    for lang in sorted({i.lang for i in items}):
        rows = np.array([n for n, i in enumerate(items) if i.lang == lang])
        if len(rows) < folds:
            fold_of[rows] = np.arange(len(rows)) % folds
            continue
        for number, test in enumerate(_split(items, rows, folds, seed)):
            fold_of[rows[test]] = number
    everything = np.arange(len(items))
    return [(everything[fold_of != k], everything[fold_of == k]) for k in range(folds)]


def _split(items: Sequence[LabelledItem], rows: np.ndarray, folds: int, seed: int
           ) -> list[np.ndarray]:
    """Test indices (into ``rows``) per fold: stratified by kind; by the risk label when every
    kind of a small language is rarer than the folds; plainly shuffled when even that is."""
    for labels in ([items[n].kind for n in rows], [items[n].is_supply_risk_event for n in rows]):
        try:
            with warnings.catch_warnings():  # a class rarer than the number of folds: fine
                warnings.simplefilter("ignore", UserWarning)
                splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
                return [test for _, test in splitter.split(rows, labels)]
        except ValueError:
            continue
    return [test for _, test in KFold(n_splits=folds, shuffle=True,
                                       random_state=seed).split(rows)]


def time_split(items: Sequence[LabelledItem], cutoff: str = TIME_SPLIT_CUTOFF
               ) -> dict[str, Any]:
    """Train on items dated before ``cutoff``, score the later ones, per language.

    Harder than shuffled folds: later events (new rules, new countries) are not in training.
    """
    train = [i for i in items if i.date and i.date < cutoff]
    later = [i for i in items if not (i.date and i.date < cutoff)]
    if not train or not later or len({i.kind for i in train}) < 2:
        return {"cutoff": cutoff, "train": len(train), "test": len(later)}
    results = fit_classifier(train).classify_many([reading_text(i) for i in later])
    return {"cutoff": cutoff, "train": len(train), "test": len(later),
            "event": score_binary([i.is_supply_risk_event for i in later],
                                  [r.is_supply_risk_event for r in results]).as_dict(),
            "by_language": _by_language(later, results, [], [])}


def _language_lines(table: Mapping[str, Any], heading: str) -> list[str]:
    """One row per language: items, event P/R/F1, mineral tagging P/R/F1 (when tagged)."""
    if not table:
        return []
    lines = [f"{heading}: lang  items  event P   R     F1    (pos) | minerals P   R     F1"]
    for lang, entry in table.items():
        e = entry["event"]
        row = (f"  {lang:<8} {entry['items']:5d}  {e['precision']:.3f} {e['recall']:.3f} "
               f"{e['f1']:.3f} ({e['support']:3d})")
        if "minerals" in entry:
            m = entry["minerals"]
            row += f" | {m['precision']:.3f} {m['recall']:.3f} {m['f1']:.3f}"
        lines.append(row)
    return [*lines, ""]


def render_report(report: Mapping[str, Any]) -> str:
    """The report as aligned plain-text tables."""
    lines = [f"items: {report['items']}"]
    risk = report["is_supply_risk_event"]
    lines.append(f"is_supply_risk_event: precision {risk['precision']:.3f}  recall "
                 f"{risk['recall']:.3f}  F1 {risk['f1']:.3f}  (support {risk['support']})")
    if "minerals" in report:
        m = report["minerals"]
        lines.append(f"mineral tagging (micro): precision {m['precision']:.3f}  recall "
                     f"{m['recall']:.3f}  F1 {m['f1']:.3f}  (gold tags {m['support']})")
    if report.get("country_accuracy") is not None:
        lines.append(f"acting country accuracy: {report['country_accuracy']:.3f}")
    lines.append(f"kind accuracy: {report['kind_accuracy']:.3f}")
    lines.append("")
    lines += _language_lines(report.get("by_language") or {}, "per language")
    split = report.get("time_split")
    if split and "by_language" in split:
        event = split["event"]
        lines.append(f"time split (train before {split['cutoff']}: {split['train']} items, test "
                     f"{split['test']}): event precision {event['precision']:.3f}  recall "
                     f"{event['recall']:.3f}  F1 {event['f1']:.3f}")
        lines += _language_lines(split["by_language"], "time split per language")
    width = max([len(k) for k in report["kinds"]] + [4])
    lines.append(f"{'kind'.ljust(width)}  precision  recall     F1  support")
    for kind, s in report["kinds"].items():
        lines.append(f"{kind.ljust(width)}  {s['precision']:9.3f}  {s['recall']:6.3f}  "
                     f"{s['f1']:5.3f}  {s['support']:7d}")
    lines.append("")
    lines.append("confusion (rows: labelled kind, columns: predicted kind)")
    labels = report["confusion"]["labels"]
    short = [label[:10] for label in labels]
    cell = max(len(s) for s in short) + 1
    lines.append(" " * (width + 1) + "".join(s.rjust(cell) for s in short))
    for label, row in zip(labels, report["confusion"]["matrix"], strict=True):
        lines.append(label.ljust(width + 1) + "".join(str(v).rjust(cell) for v in row))
    return "\n".join(lines)
