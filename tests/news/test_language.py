"""Language identification and reading of news in the producers' languages (issue 13)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer

from monitor.news.classify import LabelledItem, load_corpus
from monitor.news.evaluation import language_folds
from monitor.news.ingest import NewsPipeline
from monitor.news.language import LanguageIdentifier, script_counts
from monitor.news.store import NewsStore
from monitor.news.tagging import Tagger
from monitor.sources.http import HttpFetcher
from monitor.sources.polling import poll_source
from monitor.store.database import Store

from .test_news_polling import news_source, serve
from .test_parse import item, rss

T0 = datetime(2025, 2, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    return LanguageIdentifier()


@pytest.mark.parametrize(("text", "declared", "lang"), [
    ("La RDC suspend les exportations de cobalt pour quatre mois", "en", "fr"),
    ("Chile anuncia la Estrategia Nacional del Litio", "en", "es"),
    ("Governo brasileiro lança política para terras raras", "en", "pt"),
    ("Pemerintah percepat larangan ekspor bijih nikel", "en", "id"),
    ("China beschränkt Export von Gallium und Germanium", "en", "de"),
    ("中国、ガリウムとゲルマニウムの輸出規制を発表", "en", "ja"),
    ("中国宣布对镓、锗相关物项实施出口管制", "en", "zh"),
    ("中國宣布限制鎵、鍺出口", "zh", "zh-Hant"),
    ("Россия ограничит экспорт никеля", "en", "ru"),
    ("Il governo italiano approva il decreto sulle materie prime critiche", "en", "it"),
    # a short headline: lid.176 says German 0.40, English 0.38; the source's say-so wins
    ("US Army funds tungsten recycling plant", "en", "en"),
    ("2025", "fr", "fr"),
])
def test_read_identifies_the_language(identifier: LanguageIdentifier, text: str, declared: str,
                                      lang: str) -> None:
    assert identifier.read(text, "", declared).lang == lang


def test_every_english_and_chinese_corpus_headline_keeps_its_language(
        identifier: LanguageIdentifier) -> None:
    wrong = [(i.id, i.title) for i in load_corpus() if i.lang in ("en", "zh")
             and identifier.read(i.title, "", i.lang).lang != i.lang]
    assert wrong == []


def test_traditional_chinese_is_read_as_simplified(identifier: LanguageIdentifier) -> None:
    reading = identifier.read("剛果民主共和國暫停鈷出口四個月", "監管機構稱鋰、鋁供應過剩", "zh")
    assert reading.lang == "zh-Hant" and reading.base == "zh" and reading.readable
    assert reading.title == "刚果民主共和国暂停钴出口四个月"
    assert reading.summary == "监管机构称锂、铝供应过剩"


def test_unread_languages_are_not_readable(identifier: LanguageIdentifier) -> None:
    for text in ("Россия ограничит экспорт никеля", "한국, 희토류 비축 확대",
                 "Il governo approva il decreto sulle materie prime critiche"):
        assert not identifier.read(text).readable


def test_models_load_only_when_needed() -> None:
    fresh = LanguageIdentifier()
    fresh.read("中国、レアアースの輸出規制を発表")  # kana: no model needed
    assert fresh.loaded == {"fasttext": False, "opencc": False}
    fresh.read("中国暂停镓出口")
    assert fresh.loaded == {"fasttext": False, "opencc": True}
    fresh.read("La Chine restreint ses exportations de gallium")
    assert fresh.loaded == {"fasttext": True, "opencc": True}


def test_script_counts() -> None:
    assert script_counts("Ab 中国 の й") == {"latin": 2, "han": 2, "kana": 1, "ru": 1}


def test_language_folds_do_not_move_other_languages() -> None:
    def labelled(n: int, lang: str) -> LabelledItem:
        return LabelledItem(id=f"{lang}{n}", title="t", summary="", kind=("tariff", "price_move")[
            n % 2], is_supply_risk_event=n % 2 == 0, minerals=(), country=None, lang=lang)

    english = [labelled(n, "en") for n in range(40)]
    before = [sorted(test) for _, test in language_folds(english)]
    after = [sorted(n for n in test if n < 40)
             for _, test in language_folds([*english, *(labelled(n, "fr") for n in range(20))])]
    assert before == after


# ----------------------------------------------------------------------------- ingest


def test_a_feed_in_several_languages_is_read_in_each(httpserver: HTTPServer, store: Store,
                                                     pipeline: NewsPipeline) -> None:
    body = rss(
        item("La RDC suspend les exportations de cobalt pour quatre mois",
             "https://example.org/a", date="Sat, 22 Feb 2025 10:00:00 GMT"),
        item("El Congo suspende las exportaciones de cobalto durante cuatro meses",
             "https://example.org/b", date="Sat, 22 Feb 2025 11:00:00 GMT"),
        item("剛果民主共和國暫停鈷出口四個月", "https://example.org/c",
             date="Sat, 22 Feb 2025 12:00:00 GMT"),
        item("Россия ограничит экспорт никеля", "https://example.org/d",
             date="Sat, 22 Feb 2025 13:00:00 GMT"),
    )
    serve(httpserver, "/mixed.rss", body, content_type="application/rss+xml; charset=utf-8")
    source = news_source("rss", httpserver.url_for("/mixed.rss"), lang="fr")
    with HttpFetcher(connect_timeout_s=60, read_timeout_s=60, total_timeout_s=60) as fetcher:
        outcome = poll_source(source, fetcher, store, T0, news=pipeline)
    assert outcome.ok and outcome.rows == 4
    rows = {row["url"][-1]: row for row in NewsStore(store).items(include_duplicates=True)}
    for key, lang in (("a", "fr"), ("b", "es"), ("c", "zh-Hant")):
        assert rows[key]["lang"] == lang
        assert rows[key]["minerals"] == ["cobalt"]
        assert rows[key]["kind"] == "export_ban" and rows[key]["is_supply_risk_event"] is True
        assert rows[key]["country"] == "Congo (Kinshasa)"
    unread = rows["d"]
    assert unread["lang"] == "ru" and unread["kind"] == "unread_language"
    assert unread["is_supply_risk_event"] is False and unread["minerals"] == []
    assert unread["title"] == "Россия ограничит экспорт никеля"  # stored as published


def test_tagger_reads_the_language_it_is_given(tagger: Tagger) -> None:
    # the same word is a metal in one language and not in another context
    assert tagger.tag("Precio de la plata sube en el mercado de metales", lang="es").minerals \
        == ("silver",)
    assert tagger.tag("El gobierno no tiene plata para los hospitales", lang="es").minerals \
        == ()
