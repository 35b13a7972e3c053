"""The event classifier: behaviour on held-out headlines, determinism, caching, reports."""

from __future__ import annotations

import json
import random
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from monitor.core.news_kinds import NEWS_KINDS, RESTRICTING_KINDS
from monitor.news import classify, evaluation
from monitor.news.classify import (
    LabelledItem,
    LabelsError,
    NewsClassifier,
    corpus_bytes,
    fit_classifier,
    language_weights,
    load_classifier,
    load_corpus,
    model_key,
    parse_labels,
    tune_threshold,
    word_tokens,
)
from monitor.news.evaluation import cross_validate, language_folds, render_report

NEWS_DOC = Path(__file__).parents[2] / "docs" / "news-classifier.md"

# Written for these tests; none is in the shipped corpus (checked below). Easing, threats and
# resumptions are the confusable negatives: they use the same words as the restrictions.
HELD_OUT = [
    # (title, acceptable kinds, is_supply_risk_event)
    ("Beijing orders licences for exports of lithium battery cathode technology",
     {"export_control", "export_ban"}, True),
    ("Vietnam to require export permits for rare earth concentrates from March",
     {"export_control", "export_quota", "export_ban"}, True),
    ("Kazakhstan halts tungsten concentrate exports to protect local processors",
     {"export_ban"}, True),
    ("Malaysia bans export of raw rare earth ores", {"export_ban"}, True),
    ("Indonesia scraps plan to ban copper concentrate exports", {"export_ban"}, False),
    ("China lifts export licence requirement for some graphite grades",
     {"export_control", "export_ban"}, False),
    ("Congo allows cobalt exports to resume under new quota system",
     {"export_ban", "export_quota"}, False),
    ("Canada imposes 25% surtax on Chinese steel and aluminium", {"tariff"}, True),
    ("US cuts tariffs on Japanese cars and parts under trade deal", {"tariff"}, False),
    ("Washington weighs tariffs on imported polysilicon, no decision yet", {"tariff"}, False),
    ("Treasury sanctions Chinese firms supplying Russian military", {"sanction"}, True),
    ("EU lifts sanctions on Syrian central bank", {"sanction"}, False),
    ("Japan bans imports of Russian nickel matte", {"import_ban"}, True),
    ("Flooding halts operations at Zambian copper mine", {"mine_disruption"}, True),
    ("Workers strike at Chilean lithium operation, halting output", {"mine_disruption"}, True),
    ("Peru copper mine resumes output after protest ends", {"mine_disruption"}, False),
    ("Power outage forces shutdown of Norwegian aluminium smelter", {"smelter_disruption"},
     True),
    ("Cyclone shuts iron ore loading at Western Australian ports", {"logistics_disruption"},
     True),
    ("China's state reserve to auction aluminium to cool prices", {"stockpile_release"}, False),
    ("Bolivia nationalises lithium extraction, ending private contracts",
     {"resource_nationalism"}, True),
    ("Rio Tinto agrees $6.7 billion takeover of Arcadium Lithium", {"investment_or_deal"}, False),
    ("Tin prices surge to two-year high on tight supply", {"price_move"}, False),
    ("Cobalt slumps to lowest since 2016 as supply floods market", {"price_move"}, False),
    ("Solid-state battery breakthrough could cut graphite use", {"demand_or_tech"}, False),
    ("Mining company names new chief financial officer", {"general_industry"}, False),
    ("商务部公告：对部分锂电池正极材料技术实施出口管制", {"export_control", "export_ban"}, True),  # noqa: RUF001 (Chinese punctuation)
    ("越南对稀土精矿出口实施许可管理", {"export_control", "export_quota", "export_ban"}, True),
    ("商务部：恢复部分石墨物项出口许可审批", {"export_control"}, False),  # noqa: RUF001 (Chinese punctuation)
    ("赞比亚铜矿洪水 生产暂停", {"mine_disruption"}, True),
    ("挪威铝厂停电 电解槽停产", {"smelter_disruption"}, True),
    ("钴价跌至2016年以来最低", {"price_move"}, False),
    ("力拓以67亿美元收购Arcadium锂业", {"investment_or_deal"}, False),
    ("美国取消对日本汽车加征的部分关税", {"tariff"}, False),
]

#: Clear-cut cases every model version must get right, kind and risk both.
MUST_GET_RIGHT = [case for case in HELD_OUT if case[0] in {
    "Malaysia bans export of raw rare earth ores",
    "Indonesia scraps plan to ban copper concentrate exports",
    "China lifts export licence requirement for some graphite grades",
    "Canada imposes 25% surtax on Chinese steel and aluminium",
    "US cuts tariffs on Japanese cars and parts under trade deal",
    "Washington weighs tariffs on imported polysilicon, no decision yet",
    "EU lifts sanctions on Syrian central bank",
    "Flooding halts operations at Zambian copper mine",
    "Peru copper mine resumes output after protest ends",
    "Tin prices surge to two-year high on tight supply",
    "商务部：恢复部分石墨物项出口许可审批",  # noqa: RUF001 (Chinese punctuation)
    "美国取消对日本汽车加征的部分关税",
}]


def test_held_out_items_are_not_in_the_corpus() -> None:
    titles = {item.title for item in load_corpus()}
    assert not titles & {title for title, _, _ in HELD_OUT}
    assert len(MUST_GET_RIGHT) == 12


@pytest.mark.parametrize(("title", "kinds", "risk"), MUST_GET_RIGHT,
                         ids=[c[0][:40] for c in MUST_GET_RIGHT])
def test_classifier_on_clear_cut_held_out_items(classifier: NewsClassifier, title: str,
                                                kinds: set[str], risk: bool) -> None:
    result = classifier.classify(title)
    assert result.kind in kinds
    assert result.is_supply_risk_event is risk


def test_classifier_accuracy_on_all_held_out_items(classifier: NewsClassifier) -> None:
    results = classifier.classify_many([(title, "") for title, _, _ in HELD_OUT])
    kind_hits = sum(r.kind in kinds for r, (_, kinds, _) in zip(results, HELD_OUT, strict=True))
    risk_hits = sum(r.is_supply_risk_event is risk
                    for r, (_, _, risk) in zip(results, HELD_OUT, strict=True))
    assert kind_hits / len(HELD_OUT) >= 0.85
    assert risk_hits / len(HELD_OUT) >= 0.85


def test_easing_is_never_a_supply_risk_event(classifier: NewsClassifier) -> None:
    easing = [title for title, _, risk in HELD_OUT if not risk and any(
        w in title for w in ("lifts", "scraps", "resume", "cuts tariffs", "恢复", "取消"))]
    assert len(easing) >= 5
    assert not any(r.is_supply_risk_event for r in classifier.classify_many(
        [(t, "") for t in easing]))


def test_only_restricting_kinds_are_supply_risk_events(classifier: NewsClassifier) -> None:
    texts = [(title, "") for title, _, _ in HELD_OUT] + [(i.title, i.summary)
                                                         for i in load_corpus()[:200]]
    for result in classifier.classify_many(texts):
        assert result.kind in NEWS_KINDS
        if result.is_supply_risk_event:
            assert result.kind in RESTRICTING_KINDS
        assert 0.0 <= result.confidence <= 1.0 and 0.0 <= result.risk_confidence <= 1.0


def test_summary_is_read(classifier: NewsClassifier) -> None:
    bare = classifier.classify("Ministry announcement No. 12")
    informed = classifier.classify("Ministry announcement No. 12",
                                   "Exports of antimony will require licences from 15 September.")
    assert informed.kind == "export_control"
    assert informed.risk_confidence > bare.risk_confidence


def test_classify_many_of_nothing(classifier: NewsClassifier) -> None:
    assert classifier.classify_many([]) == []


def test_fitting_is_deterministic() -> None:
    items = load_corpus()[::6]
    texts = [(i.title, i.summary) for i in load_corpus()[1::7]]
    first = fit_classifier(items).classify_many(texts)
    second = fit_classifier(items).classify_many(texts)
    assert first == second


def test_model_is_cached_in_the_state_dir_under_the_corpus_key(
        classifier: NewsClassifier, classifier_cache: Path) -> None:
    files = list(classifier_cache.glob("news-classifier-*.joblib"))
    assert [f.name for f in files] == [f"news-classifier-{classifier.key[:24]}.joblib"]
    assert classifier.key == model_key(classify.corpus_bytes())
    classify._LOADED.clear()  # a new process: loads the file instead of fitting
    reloaded = load_classifier(classifier_cache)
    assert reloaded is not classifier and reloaded.key == classifier.key
    assert reloaded.risk_threshold == classifier.risk_threshold
    title = "China bans antimony exports"
    assert reloaded.classify(title) == classifier.classify(title)


def test_a_changed_corpus_refits_and_replaces_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = "\n".join(line for n, line in enumerate(
        classify.corpus_bytes().decode().splitlines()) if n % 8 == 0)
    monkeypatch.setattr(classify, "corpus_bytes", lambda: small.encode())
    (tmp_path / "news-classifier-stale.joblib").write_bytes(b"old")
    fitted = load_classifier(tmp_path)
    assert fitted.key == model_key(small.encode())
    assert [f.name for f in tmp_path.glob("news-classifier-*.joblib")] == [
        f"news-classifier-{fitted.key[:24]}.joblib"]


def test_a_torn_cache_file_is_refitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    small = "\n".join(classify.corpus_bytes().decode().splitlines()[::10])
    monkeypatch.setattr(classify, "corpus_bytes", lambda: small.encode())
    key = model_key(small.encode())
    (tmp_path / f"news-classifier-{key[:24]}.joblib").write_bytes(b"not a pickle")
    assert load_classifier(tmp_path).key == key
    assert "ignoring unreadable classifier cache" in caplog.text


# ----------------------------------------------------------------------------- labels, reports


def test_corpus_is_several_hundred_items_in_nine_languages_and_every_kind() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 800
    assert {i.lang for i in corpus} == {"en", "zh", "zh-Hant", "fr", "es", "pt", "id", "ja",
                                        "de"}
    assert {i.kind for i in corpus} == set(NEWS_KINDS) - {"unread_language"}
    assert sum(i.lang == "zh" for i in corpus) >= 150
    for lang in ("zh-Hant", "fr", "es", "pt", "id", "ja", "de"):
        risks = [i.is_supply_risk_event for i in corpus if i.lang == lang]
        assert len(risks) >= 20 and 5 <= risks.count(False) < len(risks) - 5, lang
    assert not any(i.is_supply_risk_event and i.kind not in RESTRICTING_KINDS for i in corpus)
    assert len({i.id for i in corpus}) == len(corpus)


def test_written_paraphrases_name_the_dated_report_they_paraphrase() -> None:
    rows = [json.loads(line) for line in corpus_bytes().decode().splitlines()]
    written = [r for r in rows if r["id"].startswith("i18n-")]
    assert len(written) >= 150
    for row in written:
        assert row["source"].startswith("paraphrase of: ") and len(row["source"]) > 30, row["id"]
        assert re.fullmatch(r"20[0-2]\d-\d\d-\d\d", row["date"]), row["id"]
        assert row["url"] == f"https://example.org/critmon-corpus/{row['id']}"


def test_parse_labels_accepts_the_eval_format() -> None:
    items = parse_labels(
        '{"id": "a", "date": "2024-01-01", "title": "T", "summary": "S", "url": "u",'
        ' "lang": "en", "minerals": ["Rare earths"], "kind": "export_ban",'
        ' "is_supply_risk_event": true, "country": "China"}\n\n# comment\n'
        '{"title": "U", "kind": "price_move", "is_supply_risk_event": false,'
        ' "minerals": "copper;zinc"}\n')
    assert items == [
        LabelledItem("a", "T", "S", "export_ban", True, ("rare earths",), "China", "en",
                     "2024-01-01", "u"),
        LabelledItem("", "U", "", "price_move", False, ("copper", "zinc"), None)]


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("{not json", "labels:1", id="bad-json"),
    pytest.param('{"title": "x", "kind": "tariff"}', "missing field", id="missing-field"),
    pytest.param('{"title": "x", "kind": "tariff", "is_supply_risk_event": "yes"}',
                 "true or false", id="risk-not-bool"),
    pytest.param("[1]", "JSON object", id="not-an-object"),
])
def test_parse_labels_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(LabelsError, match=message):
        parse_labels(text)


def test_cross_validation_report_on_a_small_sample() -> None:
    corpus = load_corpus()
    sample = [i for i in corpus if i.kind in {"tariff", "price_move", "mine_disruption"}][:45]
    report = cross_validate(sample, folds=3)
    assert report["items"] == 45 and report["folds"] == 3
    assert set(report["kinds"]) <= {"tariff", "price_move", "mine_disruption"}
    assert report["is_supply_risk_event"]["support"] == sum(i.is_supply_risk_event
                                                            for i in sample)
    assert "kind accuracy" in render_report(report)


# The shipped classifier scores supply-risk F1 0.857 and kind accuracy 0.844 by 5-fold
# cross-validation on the corpus (docs/news-classifier.md). The floors leave about 0.1 of
# margin, and labels shuffled among the items (seed 0) score 0.29 and 0.11: a floor that
# a model learning nothing also met would prove nothing.
RISK_F1_FLOOR = 0.75
KIND_ACCURACY_FLOOR = 0.70


def shuffled_labels(items: list[LabelledItem], seed: int) -> list[LabelledItem]:
    """The same texts with their (kind, risk) labels dealt out at random among them."""
    labels = [(i.kind, i.is_supply_risk_event) for i in items]
    random.Random(seed).shuffle(labels)
    return [replace(i, kind=kind, is_supply_risk_event=risk)
            for i, (kind, risk) in zip(items, labels, strict=True)]


@pytest.fixture(scope="module")
def corpus_cv() -> dict:
    return cross_validate(load_corpus(), folds=5)


def test_cross_validation_on_the_corpus_clears_the_floors(corpus_cv: dict) -> None:
    assert corpus_cv["items"] == len(load_corpus())
    assert corpus_cv["is_supply_risk_event"]["f1"] >= RISK_F1_FLOOR
    assert corpus_cv["kind_accuracy"] >= KIND_ACCURACY_FLOOR


#: Issue 13's target is event F1 0.80 per language; the floor leaves one or two items of margin
#: (a language has 20-31 items: one item moves its F1 by 0.03-0.05).
LANGUAGE_F1_FLOOR = 0.75


def test_every_language_clears_the_event_floor(corpus_cv: dict) -> None:
    table = corpus_cv["by_language"]
    assert set(table) == {"en", "zh", "zh-Hant", "fr", "es", "pt", "id", "ja", "de"}
    low = {lang: e["event"]["f1"] for lang, e in table.items()
           if e["event"]["f1"] < LANGUAGE_F1_FLOOR}
    assert low == {}
    assert corpus_cv["time_split"]["test"] > 300  # and the time split was computed


def test_the_documented_cross_validation_figures_are_the_computed_ones(corpus_cv: dict) -> None:
    risk, docs = corpus_cv["is_supply_risk_event"], NEWS_DOC.read_text(encoding="utf-8")
    assert (f"precision {risk['precision']:.2f}, recall {risk['recall']:.2f}, "
            f"F1 {risk['f1']:.2f}** ({risk['support']} positives of {corpus_cv['items']})"
            ) in docs
    assert f"Kind accuracy {corpus_cv['kind_accuracy']:.2f}" in docs


def test_the_floors_fail_a_classifier_trained_on_shuffled_labels() -> None:
    report = cross_validate(shuffled_labels(load_corpus(), seed=0), folds=5)
    assert report["is_supply_risk_event"]["f1"] < RISK_F1_FLOOR
    assert report["kind_accuracy"] < KIND_ACCURACY_FLOOR


def test_the_fast_cue_searches_answer_as_the_patterns_do() -> None:
    """The cue features' shortcuts (substring tests, lower-cased ASCII) change no count."""
    texts = [classify.build_text(i.title, i.summary) for i in classify.load_corpus()]
    texts += [t.upper() for t in texts] + [t.title() for t in texts]
    texts += ["Kelvin \u212a sign, long \u017f s, dotted \u0130 I: BAN ON EXPORTS",
              "\uff33\uff34\uff32\uff29\uff2b\uff25 halts mine", "Section 232 TARIFFS", "关于232条款的关税", "LIFTS BAN"]
    families = classify._compiled_cues()
    assert any(cue.literals for family in families for cue in family)
    assert any(cue.lowered for family in families for cue in family)
    for text in texts:
        lowered = text.lower() if text.isascii() else None
        for family in families:
            for cue in family:
                assert cue.search(text, lowered) == bool(cue.pattern.search(text)), \
                    (cue.pattern.pattern[:40], text)


# ----------------------------------------------------------------------------- across languages


@pytest.mark.parametrize(("text", "tokens"), [
    ("商务部下达稀土配额", ["商务", "务部", "部下", "下达", "达稀", "稀土", "土配", "配额"]),
    ("China bans exports", ["China", "bans", "exports"]),
    ("2024年第一批", ["2024", "年第", "第一", "一批"]),
    ("镍 nickel", ["镍", "nickel"]),
    ("中国、レアアース輸出規制", ["中国", "レア", "アア", "アー", "ース", "ス輸", "輸出", "出規", "規制"]),
    ("Kobaltexporte für", ["Kobaltexporte", "für"]),
])
def test_word_tokens_split_unspaced_scripts_into_bigrams(text: str, tokens: list[str]) -> None:
    assert word_tokens(text) == tokens


def test_language_weights_balance_classes_within_each_language() -> None:
    langs = ["en"] * 10 + ["fr"] * 4 + ["zh"] * 3 + ["zh-Hant"] * 3
    labels = [True] * 4 + [False] * 6 + [True] * 3 + [False] + [True, False, False] + [True] * 3
    weights = language_weights(langs, labels)
    assert weights.sum() == pytest.approx(len(langs))
    for group in (["en"], ["fr"], ["zh", "zh-Hant"]):  # traditional Chinese is read as zh
        rows = [n for n, lang in enumerate(langs) if lang in group]
        positive = sum(weights[n] for n in rows if labels[n])
        negative = sum(weights[n] for n in rows if not labels[n])
        assert positive == pytest.approx(negative)  # each language: classes weigh the same
        assert positive + negative == pytest.approx(len(rows))  # and keeps its own weight


def test_the_risk_threshold_is_tuned_on_the_training_items() -> None:
    items = load_corpus()[::3]
    fitted = fit_classifier(items)
    assert fitted.risk_threshold in classify.THRESHOLD_GRID
    # too few of a class for the inner folds: the default threshold
    few = [i for i in items if not i.is_supply_risk_event][:30] + \
        [i for i in items if i.is_supply_risk_event][:2]
    features = classify.build_features().fit([i.title for i in few])
    X = features.transform([i.title for i in few]).tocsr()
    risks = np.array([i.is_supply_risk_event for i in few])
    assert tune_threshold(X, risks, [i.lang for i in few]) == classify.RISK_THRESHOLD


def test_the_threshold_decides_what_is_a_supply_risk_event(classifier: NewsClassifier) -> None:
    title = "China bans antimony exports to the United States"
    p = classifier.classify(title).risk_confidence
    strict = NewsClassifier(classifier.features, classifier.kind_model, classifier.risk_model,
                            classifier.key, risk_threshold=min(1.0, p + 0.01))
    assert classifier.classify(title).is_supply_risk_event
    assert not strict.classify(title).is_supply_risk_event


def test_cross_validation_never_trains_on_the_items_it_scores(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sample = load_corpus()[::4]
    folds = language_folds(sample, folds=3)
    trained_on: list[set[str]] = []
    real_fit = evaluation.fit_classifier

    def recording_fit(items: list[LabelledItem], key: str = "") -> NewsClassifier:
        trained_on.append({i.id for i in items})
        return real_fit(items, key)

    monkeypatch.setattr(evaluation, "fit_classifier", recording_fit)
    cross_validate(sample, folds=3)
    assert len(trained_on) == 3 + 1  # the folds, then the time split
    for (_, test), seen in zip(folds, trained_on, strict=False):
        assert not seen & {sample[n].id for n in test}
    cutoff = evaluation.TIME_SPLIT_CUTOFF
    assert all(i.date < cutoff for i in sample if i.id in trained_on[-1])


#: Issue 13's target: by cross-validation, English and simplified Chinese no worse than before
#: the multilingual corpus (0.869 and 0.798 on the same folds) and every language at 0.80.
def test_english_and_chinese_are_no_worse_than_before_the_multilingual_corpus(
        corpus_cv: dict) -> None:
    table = corpus_cv["by_language"]
    assert table["en"]["event"]["f1"] >= 0.869
    assert table["zh"]["event"]["f1"] >= 0.80
