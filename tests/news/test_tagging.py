"""Tagging minerals (with context rules for words with other meanings) and acting countries."""

from __future__ import annotations

import random
import re

import pytest

from monitor.config.load import load_config
from monitor.news import tagging
from monitor.news.classify import load_corpus
from monitor.news.tagging import Tagger, lowered_twin

MUST_TAG = [
    # (text, mineral) - the word means the material here
    ("Indonesia weighs tin export curbs as smelters struggle", "tin"),
    ("Tin prices hit record on Myanmar supply worries", "tin"),
    ("Lead prices climb as Chinese smelters cut output", "lead"),
    ("Zinc and lead miners in Peru face protests", "lead"),
    ("Refined lead stocks fall on the LME", "lead"),
    ("Indonesia nickel ore export ban takes effect", "nickel"),
    ("Nickel slides as Indonesian supply swells", "nickel"),
    ("DRC suspends cobalt exports for four months", "cobalt"),
    ("China restricts exports of gallium and germanium", "gallium"),
    ("China restricts exports of gallium and germanium", "germanium"),
    ("Gallium prices climb in Rotterdam as stocks dwindle", "gallium"),
    ("Copper hits two-year high on supply worries", "copper"),
    ("Silver prices hit 12-year high", "silver"),
    ("Platinum deficit to widen as mine output falls", "platinum"),
    ("China's silicon metal exports fall", "silicon"),
    ("South Africa ferrochrome smelters shut", "chromium"),
    ("Titanium sponge imports from Japan rise", "titanium"),
    ("Power curbs force Chinese magnesium smelters to shut", "magnesium"),
    ("Graphite anode makers face new export permits", "graphite"),
    ("Unwrought Palladium From Russia: Initiation of Countervailing Duty", "palladium"),
    ("Certain Tungsten Shot From China: Antidumping Duty Orders", "tungsten"),
    ("APT prices rise as China cuts tungsten quotas", "tungsten"),
    ("Rare earth magnets exports plunge", "rare_earths"),
    ("China adds rare-earth processing technology to export ban", "rare_earths"),
    ("NdPr oxide prices drop to two-year low", "rare_earths"),
    ("Hybrid car sales support platinum group metal demand", "platinum_group_metals"),
    ("GaN chargers drive demand growth", "gallium"),
    ("Zimbabwe bans raw lithium ore exports", "lithium"),
    ("Antimony trioxide shortage hits flame retardant makers", "antimony"),
    ("Aluminium prices fall as Chinese demand weakens", "aluminum"),
    ("Guinea bauxite exports halted", "aluminum"),
    ("商务部 海关总署公告 关于对镓、锗相关物项实施出口管制的公告", "gallium"),
    ("商务部 海关总署公告 关于对镓、锗相关物项实施出口管制的公告", "germanium"),
    ("刚果（金）暂停钴出口四个月", "cobalt"),  # noqa: RUF001 (Chinese punctuation)
    ("我国对锑相关物项实施出口管制", "antimony"),
    ("稀土出口管制升级", "rare_earths"),
    ("云南限电 工业硅产量大幅下降", "silicon"),
    ("锡价创新高 缅甸佤邦锡矿停产", "tin"),
    ("白银价格创12年新高", "silver"),
    ("铅精矿加工费下降", "lead"),
    ("美国对中国石墨负极材料征收反倾销税", "graphite"),
]

MUST_NOT_TAG = [
    # (text, mineral) - the word means something else here
    ("Campbell's to close tin can plant in Ohio", "tin"),
    ("Tin foil hats and other conspiracy theories", "tin"),
    ("TIN numbers: what taxpayers need to know", "tin"),
    ("Higher interest rates could lead to a slowdown in housing", "lead"),
    ("China's export curbs could lead to shortages of gallium", "lead"),
    ("Exports lead the recovery, officials say", "lead"),
    ("Democrats take the lead in Senate race", "lead"),
    ("EPA proposes rule to replace lead pipes within 10 years", "lead"),
    ("Lead and Copper Rule Improvements published", "copper"),
    ("US Mint asks Congress to cut the cost of the nickel and penny", "nickel"),
    ("Why every nickel coin costs 14 cents to make", "nickel"),
    ("Don't nickel-and-dime your customers", "nickel"),
    ("Cobalt blue makes a comeback in interior design", "cobalt"),
    ("Hackers abuse Cobalt Strike beacons in new campaign", "cobalt"),
    ("Mesa 24.0 brings Gallium driver improvements for AMD GPUs", "gallium"),
    ("GalliumOS users should move to a maintained distribution", "gallium"),
    ("Copper-colored hair trend sweeps social media", "copper"),
    ("Swimmer wins silver medal in 200m freestyle", "silver"),
    ("Every cloud has a silver lining", "silver"),
    ("Singer's album goes triple platinum", "platinum"),
    ("Silicon Valley startups raise record funding", "silicon"),
    ("Apple silicon Macs get faster", "silicon"),
    ("Google Chrome update fixes security flaw", "chromium"),
    ("Chromium-based browsers get new privacy features", "chromium"),
    ("Apple unveils iPhone with titanium design", "titanium"),
    ("Magnesium supplements may help sleep, study finds", "magnesium"),
    ("Arsenic in rice: what parents should know", "arsenic"),
    ("Iridium Communications launches new satellite service", "iridium"),
    ("Rhodium Group says China's economy slowed", "rhodium"),
    ("Tungsten Automation launches new invoicing product", "tungsten"),
    ("Hurricane Beryl makes landfall in Texas", "beryllium"),
    ("Chinese hackers APT41 target Asian governments", "tungsten"),
    ("Graphite pencils sales rise in back-to-school season", "graphite"),
    ("LFP batteries use iron phosphate cathodes", "phosphate"),
    ("无锡银行发布2023年年报", "tin"),
    ("无锡银行发布2023年年报", "silver"),
    ("硅谷初创企业融资额创新高", "silicon"),
    ("中国选手摘得200米自由泳银牌", "silver"),
    ("铅笔厂商推出环保新品", "lead"),
    ("钛媒体发布年度科技榜单", "titanium"),
    ("铜锣湾商铺租金下降", "copper"),
    ("石墨烯研究取得新进展", "graphite"),
    ("银川至西安高铁开通运营", "silver"),
    ("高丽亚铅温山冶炼厂恢复满负荷生产", "lead"),
]


@pytest.mark.parametrize(("text", "mineral"), MUST_TAG)
def test_tagger_finds_the_mineral(tagger: Tagger, text: str, mineral: str) -> None:
    assert mineral in tagger.tag(text).minerals


@pytest.mark.parametrize(("text", "mineral"), MUST_NOT_TAG)
def test_tagger_ignores_other_meanings(tagger: Tagger, text: str, mineral: str) -> None:
    assert mineral not in tagger.tag(text).minerals


def test_summary_counts_too(tagger: Tagger) -> None:
    tags = tagger.tag("Beijing tightens exports", "Licences will be needed for antimony ingots.")
    assert tags.minerals == ("antimony",)


def test_groups_of_members(tagger: Tagger) -> None:
    assert tagger.groups_of(["dysprosium", "terbium"]) == ("rare_earths",)
    assert tagger.groups_of(["rare_earths", "dysprosium"]) == ()
    assert tagger.groups_of(["copper"]) == ()


@pytest.mark.parametrize(("title", "country"), [
    ("China bans exports of gallium to the United States", "China"),
    ("US adds Chinese firms to Entity List", "United States"),
    ("Beijing hits back at Washington with antimony ban", "China"),
    ("China retaliates against US with graphite curbs", "China"),
    ("Tariffs on Chinese graphite anodes take effect", None),
    ("Indonesia's nickel ore export ban takes effect", "Indonesia"),
    ("DRC suspends cobalt exports", "Congo (Kinshasa)"),
    ("Democratic Republic of the Congo extends cobalt ban", "Congo (Kinshasa)"),
    ("Myanmar rebels halt rare earth shipments to China", "Burma"),
    ("South Korea to increase strategic metal reserves", "Korea, Republic of"),
    ("Fire halts production at Japanese zinc smelter", "Japan"),
    ("Strike halts Escondida copper mine", "Chile"),
    ("Yunnan power rationing cuts silicon output", "China"),
    ("LME copper rises as London Metal Exchange stocks fall", None),
    ("EU bans Russian aluminium imports", "European Union"),
    ("Latin American lithium producers meet in Santiago", None),
    ("美国对中国石墨负极材料征收反倾销税", "United States"),
    ("中方宣布禁止镓锗锑对美出口", "China"),
    ("商务部公告2024年第46号 关于加强相关两用物项对美国出口管制的公告", "China"),
    ("刚果（金）暂停钴出口四个月", "Congo (Kinshasa)"),  # noqa: RUF001 (Chinese punctuation)
    ("印尼将于2023年6月起禁止铝土矿出口", "Indonesia"),
    ("江西暴雨致多座钨矿停产", "China"),
])
def test_acting_country(tagger: Tagger, title: str, country: str | None) -> None:
    assert tagger.tag(title).country == country


@pytest.mark.parametrize(("title", "country"), [
    ("LONDON METAL EXCHANGE halts nickel trading", None),
    ("Latin America lithium: Chile and Argentina set quotas", "Chile"),
    ("Prices in US dollars rise as China curbs gallium", "China"),
    ("Turkey dinner prices rise as Indonesia bans nickel exports", "Indonesia"),
    ("SOUTH AMERICAN TIN: Bolivia raises royalties", "Bolivia"),
    ("Indian Ocean route: China\u2019s graphite curbs bite", "China"),
    ("Equatorial Guinea\u2019s port closure: Gabon halts manganese exports", "Gabon"),
    ("AM\u00c9RICA LATINA: Per\u00fa suspende exportaciones de esta\u00f1o", "Peru"),
    ("Am\u00e9rica do Sul: Brasil amplia produ\u00e7\u00e3o de l\u00edtio", "Brazil"),
    ("America Latina lithium output rises", None),
    ("Am\u00e9rica proh\u00edbe importaciones de galio", "United States"),
])
def test_phrases_naming_no_country_are_skipped_in_any_case(tagger: Tagger, title: str,
                                                         country: str | None) -> None:
    """"London Metal Exchange", "Latin America" ("América Latina", "América do Sul"), "US
    dollars" name no actor, however they are written (plain ASCII is searched lower-cased,
    other text case-blind), and the country after them is still found where it stands;
    "América" alone is still the United States."""
    assert tagger.tag(title).country == country


@pytest.mark.parametrize(("lang", "title", "country"), [
    ("es", "Exportaciones de litio a China caen un 20%", None),
    ("es", "China prohíbe exportaciones de galio a Estados Unidos", "China"),
    ("es", "Aranceles al grafito: EE.UU. sanciona a China", "United States"),
    ("pt", "Exportações de nióbio para a China crescem", None),
    ("pt", "A China proíbe exportações de gálio", "China"),
    ("pt", "Brasil suspende exportações de terras raras à China", "Brazil"),
    ("fr", "Droits de douane sur la Chine : le gallium renchérit", None),
    ("fr", "Exportations de cobalt : accord avec l'Indonésie", None),
    ("fr", "Coup d'État au Gabon : Eramet suspend ses activités de manganèse", "Gabon"),
    ("fr", "La Chine interdit les exportations de gallium vers les États-Unis", "China"),
    ("de", "Zölle auf Graphit aus China", None),
    ("de", "China verbietet Galliumexporte in die USA", "China"),
    ("id", "Ekspor nikel dari Indonesia turun", None),
    ("id", "Indonesia larang ekspor bauksit ke China", "Indonesia"),
    ("en", "A China-based miner halts gallium output", "China"),
])
def test_a_country_after_a_target_word_of_the_items_language_is_not_the_actor(
        tagger: Tagger, lang: str, title: str, country: str | None) -> None:
    """"a China" is "to China" in Spanish but "China" in Portuguese ("A China proíbe"):
    the words that make a country the target (with the articles that may follow them) are
    read in the item's own language; "au Gabon" is also "in Gabon", so it is not one."""
    assert tagger.tag(title, "", lang).country == country


def test_country_from_summary_when_title_names_none(tagger: Tagger) -> None:
    tags = tagger.tag("Licences required for antimony exports",
                      "China's commerce ministry said the rules apply from 15 September.")
    assert tags.country == "China"


@pytest.mark.parametrize(("name", "canonical"), [
    ("US", "United States"), ("China", "China"), ("DRC", "Congo (Kinshasa)"),
    ("Congo (Kinshasa)", "Congo (Kinshasa)"), ("中国", "China"), ("Atlantis", None),
])
def test_canonical_country(tagger: Tagger, name: str, canonical: str | None) -> None:
    assert tagger.countries.canonical(name) == canonical


# ----------------------------------------------------------------------------- other languages
# Names from names_i18n in minerals.yaml; "?" names need commodity context in their language.

MUST_TAG_I18N = [
    ("fr", "La RDC suspend les exportations de cobalt pour quatre mois", "cobalt"),
    ("fr", "Le Gabon interdira l'exportation de manganèse brut", "manganese"),
    ("fr", "Le cours du cuivre bondit à Londres", "copper"),
    ("fr", "La Guinée retire des permis de bauxite", "aluminum"),
    ("es", "Boric anuncia la Estrategia Nacional del Litio", "lithium"),
    ("es", "Huelga en la mina de cobre Escondida", "copper"),
    ("es", "El precio de la plata sube en el mercado de metales", "silver"),
    ("es", "China prohíbe exportar galio y germanio", "gallium"),
    ("pt", "Preço do minério de ferro recua em Dalian", "iron_ore"),
    ("pt", "Serra Verde inicia produção de terras raras em Goiás", "rare_earths"),
    ("pt", "China restringe exportações de gálio", "gallium"),
    ("de", "Kongo setzt Kobaltexporte für vier Monate aus", "cobalt"),
    ("de", "China stellt sieben Seltene Erden unter Exportkontrolle", "rare_earths"),
    ("de", "Kupferpreis steigt auf Rekordhoch", "copper"),
    ("id", "Larangan ekspor bijih nikel berlaku hari ini", "nickel"),
    ("id", "Ekspor timah terhenti karena RKAB belum disetujui", "tin"),
    ("id", "Jokowi umumkan larangan ekspor bauksit", "aluminum"),
    ("ja", "中国、レアアース7種の輸出規制を発表", "rare_earths"),
    ("ja", "銅価格が最高値を更新", "copper"),
    ("ja", "亜鉛の精錬所が停止", "zinc"),
    ("ja", "コンゴ民主共和国、コバルトの輸出を停止", "cobalt"),
    ("zh", "华友钴业：刚果(金)钴出口暂停", "cobalt"),  # noqa: RUF001 (Chinese punctuation)
    ("zh", "江西铜业任命新总经理", "copper"),  # a company of one mineral, nothing else named
]
MUST_NOT_TAG_I18N = [
    ("fr", "Le gouvernement débloque de l'argent pour les hôpitaux", "silver"),
    ("fr", "Une exposition consacrée au bleu de cobalt", "cobalt"),
    ("es", "El gobierno no tiene plata para pagar los salarios", "silver"),
    ("es", "Turistas llegan a Mar del Plata por el fin de semana largo", "silver"),
    ("es", "Que el gobierno cobre impuestos a los bancos", "copper"),
    ("pt", "Atleta conquista medalha de prata na natação", "silver"),
    ("de", "Der Leitzins bleibt unverändert", "lead"),
    ("de", "Aluminiumfolie im Test", "aluminum"),
    ("de", "Ein neuer Bleistift für Schüler", "lead"),
    ("id", "Bantuan atap seng untuk warga korban banjir", "zinc"),
    ("ja", "日銀がマイナス金利を解除", "silver"),
    ("ja", "東京五輪、卓球男子団体で日本が銅メダル", "copper"),
    ("ja", "鉛筆の生産が減少", "lead"),
    ("ja", "アルミホイルの価格が上昇", "aluminum"),
    ("zh", "华友钴业印尼镍项目投产", "cobalt"),  # the company's name, the news is nickel
    ("zh", "锡纸烤鱼走红", "tin"),
    ("zh", "中国银行公布业绩", "silver"),
]


@pytest.mark.parametrize(("lang", "text", "mineral"), MUST_TAG_I18N)
def test_tagger_finds_the_mineral_in_other_languages(tagger: Tagger, lang: str, text: str,
                                                     mineral: str) -> None:
    assert mineral in tagger.tag(text, lang=lang).minerals


@pytest.mark.parametrize(("lang", "text", "mineral"), MUST_NOT_TAG_I18N)
def test_tagger_ignores_other_meanings_in_other_languages(tagger: Tagger, lang: str, text: str,
                                                          mineral: str) -> None:
    assert mineral not in tagger.tag(text, lang=lang).minerals


@pytest.mark.parametrize(("lang", "title", "country"), [
    ("fr", "La RDC suspend les exportations de cobalt", "Congo (Kinshasa)"),
    ("es", "México aprueba la nacionalización del litio", "Mexico"),
    ("de", "Indonesien stoppt die Ausfuhr von Nickelerz", "Indonesia"),
    ("ja", "インドネシア、ニッケル鉱石の輸出禁止を前倒し", "Indonesia"),
    ("fr", "Pékin interdit les exportations de gallium vers les États-Unis", "China"),
])
def test_acting_country_in_other_languages(tagger: Tagger, lang: str, title: str,
                                           country: str) -> None:
    assert tagger.tag(title, lang=lang).country == country


def test_the_lower_cased_ascii_search_tags_as_the_case_insensitive_one() -> None:
    """The tagger's fast path for ASCII text (issue 17) changes no tag."""
    minerals = load_config().minerals.minerals
    fast, slow = Tagger(minerals), Tagger(minerals)
    assert fast.minerals._folded_ascii_re is not None
    assert fast.countries._folded_ascii_re is not None
    slow.minerals._folded_ascii_re = slow.countries._folded_ascii_re = None
    items = [(i.title, i.summary, "zh" if i.lang == "zh-Hant" else i.lang)
             for i in load_corpus()]
    items += [(t.upper(), s.upper(), lang) for t, s, lang in items] \
        + [(t.title(), s.title(), lang) for t, s, lang in items]
    for title, summary, lang in items:
        assert fast.tag(title, summary, lang) == slow.tag(title, summary, lang), title


def test_no_lowered_twin_for_a_pattern_a_letter_could_fold_into() -> None:
    assert lowered_twin(re.compile(r"\bgallium\b", re.IGNORECASE)) is not None
    assert lowered_twin(re.compile(r"\bGallium\b", re.IGNORECASE)) is None
    assert lowered_twin(re.compile("\u212aelvin", re.IGNORECASE)) is None  # the Kelvin sign


def test_the_trie_alternation_matches_as_the_longest_first_alternation(
        tagger: Tagger) -> None:
    """``_alternation`` writes the terms as a trie for speed; the matches must be those of the
    plain alternation of the terms sorted longest first, wherever it is used."""
    def plain(terms: object) -> str:
        return "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))  # type: ignore[call-overload]

    minerals, countries = tagger.minerals, tagger.countries
    cases = [(minerals._folded, r"\b(@@)(s|es)?\b", re.IGNORECASE),
             (countries._folded, r"(?<![\w.])(@@)(?:'s)?(?![\w])", re.IGNORECASE),
             (minerals._exact, r"\b(@@)\b", 0), (countries._zh, "(@@)", 0),
             (["ab", "abc", "abcd", "b", "bc", "a"], "(@@)(c)?", 0)]
    rnd = random.Random(0)
    for terms, wrap, flags in cases:
        words = sorted(terms)
        texts = [" ".join(rnd.choice(words) + rnd.choice(["", "s", "es", "'s", "x", "-", "."])
                          for _ in range(6)) for _ in range(400)]
        texts += [t.upper() for t in texts[:50]] + ["abcd abc ab a bc b abcc"]
        old = re.compile(wrap.replace("@@", plain(terms)), flags)
        new = re.compile(wrap.replace("@@", tagging._alternation(terms)), flags)
        for text in texts:
            assert [(m.span(), m.groups()) for m in new.finditer(text)] == \
                   [(m.span(), m.groups()) for m in old.finditer(text)], (wrap, text)
