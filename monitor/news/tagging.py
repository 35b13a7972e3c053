"""Tagging news text with the minerals it is about and the country acting in it.

Minerals come from ``minerals.yaml`` (names and aliases in English and Chinese, and per
language in ``names_i18n``: French, Spanish, Portuguese, German, Indonesian, Japanese). A bare word with
other meanings (tin, lead, nickel, cobalt, gallium, copper, silver, chrome...) counts only in
commodity context, and never inside a phrase known to mean something else ("tin can", "cobalt
blue", "Gallium3D", "Silicon Valley", 银行, 无锡). The acting country is the first country named
as a subject: a mention after "on", "from", "against" (对, 从, 向) is the target, not the actor.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from monitor.core.countries import USGS_TO_WGI

# ----------------------------------------------------------------------------- mineral words

#: English words that are also common words, names or products: they need commodity context.
AMBIGUOUS_WORDS: frozenset[str] = frozenset({
    "tin", "lead", "nickel", "cobalt", "gallium", "copper", "silver", "platinum", "palladium",
    "iridium", "silicon", "chromium", "chrome", "titanium", "magnesium", "arsenic", "cesium",
    "caesium", "zinc", "graphite", "beryl",
})

#: Short acronyms among the aliases that mean other things far more often (APT hackers, ITO
#: the Japanese surname, SOP...): matched case-sensitively and only in commodity context.
WEAK_ACRONYMS: frozenset[str] = frozenset({
    "APT", "ITO", "EMM", "NPI", "MOP", "SOP", "PGE", "PGEs", "PGM", "PGMs", "REO", "PCI coal",
})

#: Phrases that use a mineral word in another sense; an occurrence inside one is ignored.
NEGATIVE_PHRASES: Mapping[str, tuple[str, ...]] = {
    "tin": (r"tin[- ]cans?", r"tin ?foil", (r"tin (roof|roofs|hat|hats|man|whistle|soldiers?|"
            r"ear|pot|star)"), r"rin tin tin", r"tin tin", r"tin pan alley", r"tintin"),
    "lead": (r"lead and copper rule", (r"lead (pipes?|paint|poisoning|exposure|service lines?|"
             r"contamination|levels in|in (drinking )?water|-based paint)"), r"blood lead",
             r"lead-free"),
    "copper": (r"lead and copper rule", r"copper[- ](colou?red|haired|hair|tone|toned)",
               r"copper mountain resort", r"copper (pipes?|tubing) in homes"),
    "nickel": (r"nickel[- ]and[- ]dim\w*", r"nickel (coins?|pieces?)", r"(the )?nickel boys",
               r"nickel creek", r"nickelodeon"),
    "cobalt": (r"cobalt[- ]blue", r"cobalt strike", r"(chevy|chevrolet) cobalt",
               r"cobalt robotics", r"cobalt (ai|labs|software)"),
    "gallium": (r"gallium ?os", r"gallium ?3d", (r"gallium (drivers?|nine|hud|state trackers?|"
                r"graphics)"), r"mesa('s)? gallium"),
    "silver": ((r"silver (medals?|medall?ists?|linings?|screen|bullets?|spring|lake|anniversary|"
               r"jubilee|surfer|economy|alert|fox|line|spoon|tongued?|haired|hair|screens?)"),
               r"silver-(haired|tongued)", r"long john silver", r"silverware"),
    "platinum": ((r"platinum (records?|albums?|certified|certification|status|cards?|members?|"
                 r"membership|jubilee|blonde|edition|tier|sponsors?|equity|partners?)"),
                 r"(went|goes|go|gone|triple|double|multi)[- ]platinum"),
    "silicon": ((r"silicon (valley|slopes|beach|roundabout|alley|labs?|laboratories|motion|box|"
                r"photonics|wafers? for|design)"), r"(apple|custom|own) silicon"),
    "chromium": (r"chromium[- ](based|browser|os|engine|edge|project)",
                 r"(google|open[- ]source) chromium", r"chromium (web )?browser"),
    "chrome": (r"(google|in|on|via|using|for) chrome", (r"chrome (browser|os|extensions?|web store|"
               r"users?|update|tabs?|version|flags|devtools|cast)"), r"chrome-plated",
               r"chrome (wheels?|trim|finish|bumpers?)"),
    "titanium": ((r"titanium (cards?|frame|design|finish|case|casing|edition|black|white|grey|"
                 r"gray|blue|natural)"), r"(iphone|apple watch)[^.]{0,40}titanium"),
    "magnesium": ((r"magnesium (supplements?|deficiency|glycinate|citrate|levels|intake|"
                  r"spray|oil|threonate|for sleep)"),),
    "arsenic": ((r"arsenic (poisoning|in (rice|water|drinking water|groundwater|wells)|levels|"
                r"exposure|contamination)"), r"arsenic and old lace"),
    "palladium": (r"london palladium", r"the palladium (theatre|theater|hotel|stage|ballroom)",
                  r"palladium (books|boots|theatre|theater|hotel)"),
    "phosphate": (r"(lithium )?iron phosphate", r"phosphate (binders?|buffers?)"),
    "iridium": ((r"iridium (communications|satellites?|network|next|go|certus|phones?|"
                r"constellation)"), r"nasdaq: irdm"),
    "cesium": (r"cesium ?js", r"cesium (ion|clocks?|atomic clocks?|astro)", r"cesium-based clock"),
    "zinc": (r"zinc (supplements?|lozenges?|oxide sunscreen|deficiency|for colds?)",),
    "graphite": (r"graphite (pencils?|dashboards?|metrics|web|financial|connect|grey|gray)",),
    "tungsten": (r"tungsten (automation|network|e-invoicing)",),
    "rhodium": (r"rhodium group",),
    "beryl": (r"(hurricane|storm|tropical storm) beryl", (r"beryl (made landfall|strengthen\w*|"
              r"hit|hits|weaken\w*|slams|batter\w*)")),
    "boron": (r"boron (neutron capture|nitride nanotubes?)",),
    "APT": (r"APT ?\d+", r"APT (group|actors?|hackers?|campaigns?|attacks?)",),
}

#: Words next to a mineral word that show it means the material ("lead smelter").
_LOCAL_AFTER = (r"ores?|concentrates?|prices?|smelters?|smelting|refiner(y|ies)|mines?|mining|"
                r"miners?|output|production|ingots?|metal|markets?|futures|stocks|inventor(y|ies)|"
                r"supply|supplies|demand|premiums?|exports?|imports?|producers?|-acid|acid|"
                r"batter(y|ies)|alloys?|deposits?|content|tonnage|cathodes?|sulfate|sulphate|"
                r"hydroxide|scrap|shipments?|reserves|projects?|shortage|sector|industry|"
                r"powder|products|chemicals?|tariffs?|quotas?|controls?|use|usage|consumption|"
                r"intensity|wire|wiring|cables?|loadings?|cargo\w*|royalt(y|ies)")
_LOCAL_BEFORE = (r"refined|primary|secondary|lme|shfe|comex|spot|physical|battery|scrap|"
                 r"recycled|raw|critical|processed|metallic|high-purity|mined|global|world|"
                 r"chinese|china's|indonesian|congolese|russian|exported|imported|unwrought|"
                 r"pure|certain")
_METAL_WORD = (r"zinc|copper|silver|nickel|tin|lead|gold|cobalt|lithium|aluminium|aluminum|"
               r"tungsten|antimony|gallium|germanium|molybdenum|iron ore|manganese|graphite|"
               r"platinum|palladium|rare earths?")
_LOCAL_CONTEXT = re.compile(
    rf"(?:\b(?:{_LOCAL_BEFORE})[- ]+@@\b|@@(?:\s+|-)(?:{_LOCAL_AFTER})\b|"
    rf"\b(?:{_METAL_WORD})(?:,| and|-|/| &) @@\b|@@(?:,| and|-|/| &) (?:{_METAL_WORD})\b)"
)
#: Words anywhere in the text that show it is about commodities.
_COMMODITY_CONTEXT = re.compile(
    r"\b(exports?|imports?|mines?|mining|miners?|smelters?|smelting|metals?|minerals?|ores?|"
    r"prices?|tonnes?|tons|supply|supplies|lme|shfe|refiner(y|ies)|production|output|"
    r"commodit(y|ies)|critical|batter(y|ies)|tariffs?|quotas?|stockpiles?|sanctions?|producers?|"
    r"deposits?|concentrates?|shortages?|licen[cs]es?|curbs?|ban|bans|banned|duty|duties|"
    r"anti-?dumping|countervailing|unwrought|alloys?|royalt(y|ies)|demand|consumption|"
    r"trucks?|convoys?|cargo\w*|shipments?|shipping|freight)\b",
    re.IGNORECASE,
)
#: Words that show an ambiguous word is used in another sense when no local context says so.
_OTHER_SENSE = re.compile(
    r"\b(penny|pennies|cents?|coins?|the mint|us mint|five-cent|browser|malware|hackers?|cyber"
    r"\w*|espionage|olympics?|medal\w*|graphics drivers?|linux|open[- ]source|song|album|"
    r"supplements?|vitamins?|hurricane|storm)\b",
    re.IGNORECASE,
)

#: Chinese compounds that contain a mineral character but mean something else.
ZH_FALSE_COMPOUNDS: tuple[str, ...] = (
    "银行", "银监", "银保监", "银河", "银幕", "收银", "银川", "银联", "银发", "银牌", "银色",
    "银杏", "银耳", "水银", "银屑", "银狐", "银座", "银泰", "金银花", "银票", "银弹", "银针",
    "无锡", "锡林", "锡伯", "锡山", "锡箔", "锡纸", "铅笔", "铅华", "铅字", "铅球", "硅谷",
    "硅胶", "硅藻", "铜牌", "青铜", "铜仁", "铜川", "铜锣", "铜像", "古铜", "铜钱", "铜墙铁壁",
    "钛媒体", "白金汉", "石墨烯", "钴蓝", "镁光", "铱星", "镍币", "铯原子钟", "铂金会员",
    "白金会员", "白金卡", "铂金卡", "钨丝灯", "亚铅",
)
#: Companies whose names contain a mineral's name, and the mineral they stand for. A company
#: name is masked like the compounds above; it tags its own mineral only when the text names no
#: mineral elsewhere ("江西铜业任命新总经理" is copper news; in "华友钴业印尼镍项目投产" 钴 is
#: part of a name and the news is about nickel; 高丽亚铅 is Korea Zinc, not lead). An explicit
#: list rather than a segmenter: jieba's dictionary does not know most of these names either,
#: costs about a second and tens of MB to load, and would still need this mapping.
ZH_COMPANIES: Mapping[str, str] = {
    "华友钴业": "cobalt", "寒锐钴业": "cobalt", "腾远钴业": "cobalt", "洛阳钼业": "cobalt",
    "金钼股份": "molybdenum", "赣锋锂业": "lithium", "天齐锂业": "lithium",
    "雅化锂业": "lithium", "盛新锂能": "lithium", "江西铜业": "copper", "铜陵有色": "copper",
    "云南铜业": "copper", "智利国家铜业": "copper", "中国铝业": "aluminum", "云铝股份": "aluminum",
    "南山铝业": "aluminum", "厦门钨业": "tungsten", "章源钨业": "tungsten",
    "中钨高新": "tungsten", "锡业股份": "tin", "云南锡业": "tin", "华锡集团": "tin",
    "驰宏锌锗": "zinc", "云南锗业": "germanium", "北方稀土": "rare_earths",
    "中国稀土集团": "rare_earths", "中国稀土": "rare_earths", "广晟有色": "rare_earths",
    "宝钛股份": "titanium", "高丽亚铅": "zinc",
}

# --------------------------------------------------------------------------- other languages

#: Languages with names in ``names_i18n``.
I18N_LANGUAGES: tuple[str, ...] = ("fr", "es", "pt", "de", "id", "ja")
#: Commodity context per language (written without accents: text and terms are folded).
I18N_CONTEXT: Mapping[str, str] = {
    "fr": (r"export\w*|import\w*|mines?|minier\w*|minerai\w*|prix|cours|tonnes?|quotas?|"
           r"suspen\w*|interdi\w*|fonderies?|raffin\w*|production|producteur\w*|metaux|metal|"
           r"matieres premieres|approvisionnement|stocks?|gisements?|concessions?|redevances?|"
           r"sanctions?|douanes?|taxes?|embargo|cathodes?|concentres?|lingots?|extraction|usines?"),
    "es": (r"export\w*|import\w*|minas?|miner\w*|precios?|cotizaci\w*|toneladas?|cuotas?|"
           r"suspend\w*|suspensi\w*|prohib\w*|fundici\w*|refin\w*|producci\w*|productor\w*|"
           r"metal\w*|materias primas|suministro|reservas|yacimientos?|regalias|aranceles?|"
           r"sanciones|catodos?|concentrados?|lingotes?|extracci\w*|litio|huelga|plantas?|fabricas?"),
    "pt": (r"export\w*|import\w*|minas?|miner\w*|mineri\w*|precos?|cotac\w*|toneladas?|cotas?|"
           r"suspen\w*|proib\w*|fundic\w*|refin\w*|produc\w*|produtor\w*|metal|metais|"
           r"materias-primas|materias primas|fornecimento|reservas|jazidas?|royalties|tarifas?|"
           r"sancoes|catodos?|concentrados?|lingotes?|extrac\w*|usinas?|fabricas?"),
    "de": (r"export\w*|ausfuhr\w*|import\w*|einfuhr\w*|minen?|bergbau\w*|bergwerk\w*|"
           r"preis\w*|tonnen?|quoten?|verbot\w*|verbiet\w*|hutte\w*|schmelz\w*|raffin\w*|"
           r"produktion|forderung|metall\w*|rohstoff\w*|versorgung|lieferung\w*|lager\w*|"
           r"zolle?|sanktion\w*|vorkommen|erz\w*|barren|kathoden?"),
    "id": (r"ekspor|impor|tambang|pertambangan|penambang\w*|harga|ton|kuota|larang\w*|"
           r"smelter|pemurnian|produksi|produsen|logam|mineral|bijih|pasokan|cadangan|royalti|"
           r"tarif|sanksi|hilirisasi|konsentrat|komoditas|pabrik"),
    "ja": (r"価格|相場|輸出|輸入|鉱山|鉱石|精錬|製錬|生産|供給|トン|備蓄|規制|関税|制裁|資源|地金|"
           r"先物|市場|採掘|鉱物|金属"),
}
#: A word in the text that shows a context-needing term is used in another sense.
I18N_OTHER_SENSE: Mapping[str, str] = {
    "fr": r"medailles?|olympi\w*|banques?|salaires?|blanchiment|pieces de monnaie",
    "es": r"medallas?|olimpi\w*|bancos?|salarios?|lavado de dinero|futbol",
    "pt": r"medalhas?|olimpi\w*|bancos?|salarios?|lavagem de dinheiro|futebol|pichac\w*",
    "de": r"medaillen?|olympi\w*|banken?|hochzeit",
    "id": r"medali|olimpiade|bank|provinsi perak|sultan",
    "ja": r"銀行|メダル|五輪|サプリ",
}

_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
_LATIN_WORD = re.compile(r"[a-z0-9 .'\-]+")


@dataclass(frozen=True, slots=True)
class Tags:
    """What one text is about: mineral ids (sorted) and the acting country (USGS name)."""

    minerals: tuple[str, ...]
    country: str | None


class MineralLike(Protocol):
    """The parts of ``config.Mineral`` the tagger reads."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def name_zh(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...
    @property
    def aliases_zh(self) -> tuple[str, ...]: ...
    # names_i18n (language -> terms) is read with getattr: it is optional here.


def lowered_twin(pattern: re.Pattern[str]) -> re.Pattern[str] | None:
    """``pattern`` (case-insensitive) compiled case-sensitively, for lower-cased ASCII text.

    Python's case-insensitive matching of a long alternation is several times slower than a
    case-sensitive one (bench/bench_news.py). On an ASCII text lower-cased, the twin finds the
    same matches at the same places, provided the pattern has no upper-case letter and no
    letter that matches an ASCII one ignoring case (the Kelvin sign, the long s): None if it
    has one.
    """
    source = re.sub(r"\\.", "", pattern.pattern)  # escapes (\b, \w, an escaped space) aside
    for char in set(source):
        if char != char.lower():
            return None
        if not char.isascii() and any(re.fullmatch(re.escape(char), chr(code), re.IGNORECASE)
                                      for code in range(128)):
            return None
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


def _alternation(terms: Iterable[str]) -> str:
    """A regex matching any of ``terms``, the longest first where several match at a place.

    Written as a trie (``ab|ac|a`` as ``a(?:b|c)?``): the same matches as the alternation of
    the terms sorted longest first (the trie tries the longer continuations first and
    backtracks to the shorter exactly as the alternation would move to its next term), but the
    engine follows one path instead of trying each of hundreds of terms at every position:
    tagging ran mostly in these searches (bench/bench_news.py).
    """
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for term in set(terms):
        node = trie
        for char in term:
            node = node.setdefault(char, {})
        node[""] = {}  # a term ends here
    return _trie_pattern(trie)


def _trie_pattern(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
    branches = [re.escape(char) + _trie_pattern(child)
                for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body


class MineralMatcher:
    """Finds minerals in English and Chinese text, with the context rules above."""

    def __init__(self, minerals: Sequence[MineralLike]) -> None:
        folded: dict[str, str] = {}
        exact: dict[str, str] = {}
        chinese: dict[str, str] = {}
        for mineral in minerals:
            for term in _with_singulars((mineral.name, *mineral.aliases)):
                if _is_acronym(term):
                    exact[term] = mineral.id
                else:
                    folded.setdefault(term.lower(), mineral.id)
            for term in (mineral.name_zh, *mineral.aliases_zh):
                chinese.setdefault(term, mineral.id)
        self._folded = folded
        self._exact = exact
        self._chinese = chinese
        self._folded_re = re.compile(rf"\b({_alternation(folded)})(s|es)?\b", re.IGNORECASE)
        self._folded_ascii_re = lowered_twin(self._folded_re)
        self._exact_re = re.compile(rf"\b({_alternation(exact)})\b") if exact else None
        self._chinese_re = re.compile(_alternation(chinese)) if chinese else None
        self._zh_false_re = re.compile(_alternation(ZH_FALSE_COMPOUNDS))
        self._companies = {name: mineral for name, mineral in ZH_COMPANIES.items()
                           if mineral in {m.id for m in minerals}}
        self._company_re = re.compile(_alternation(self._companies)) if self._companies else None
        self._i18n = {lang: _LanguageTerms(lang, minerals) for lang in I18N_LANGUAGES}
        self._negatives = {word: re.compile("|".join(patterns), re.IGNORECASE if word.islower()
                                            else 0)
                           for word, patterns in NEGATIVE_PHRASES.items()}
        self._local = {word: re.compile(_LOCAL_CONTEXT.pattern.replace("@@", re.escape(word)),
                                        re.IGNORECASE)
                       for word in (*AMBIGUOUS_WORDS, *(a.lower() for a in WEAK_ACRONYMS))}

    def find(self, text: str, lang: str = "en") -> tuple[str, ...]:
        """Sorted ids of the minerals ``text`` (in language ``lang``) is about.

        English names count in every language (LME, NdFeB, lithium in a French headline);
        Chinese ones in any non-Japanese text with Han characters; the ``names_i18n`` of the
        text's language on top.
        """
        text = unicodedata.normalize("NFKC", text)
        found: set[str] = set()
        if _ASCII_ALNUM.search(text):
            found.update(self._english(text))
        companies: set[str] = set()
        if self._chinese_re is not None and not text.isascii() and lang != "ja":
            masked = text
            if self._company_re is not None:
                companies = {self._companies[m.group(0)]
                             for m in self._company_re.finditer(text)}
                masked = self._company_re.sub(lambda m: "\u3000" * len(m.group(0)), masked)
            masked = self._zh_false_re.sub(lambda m: "\u3000" * len(m.group(0)), masked)
            found.update(self._chinese[m.group(0)] for m in self._chinese_re.finditer(masked))
        terms = self._i18n.get(lang)
        if terms is not None:
            found.update(terms.find(text, english_context=bool(_COMMODITY_CONTEXT.search(text))))
        return tuple(sorted(found or companies))

    def _english(self, text: str) -> set[str]:
        found: set[str] = set()
        if text.isascii() and self._folded_ascii_re is not None:
            matches = self._folded_ascii_re.finditer(text.lower())  # same matches, faster
        else:
            matches = self._folded_re.finditer(text)
        for match in matches:
            word = match.group(1).lower()
            mineral = self._folded[word]
            if mineral in found:
                continue
            if word in AMBIGUOUS_WORDS:
                if match.group(2) or not self._ambiguous_ok(word, match, text):
                    continue
            elif self._in_other_sense(word, match, text):
                continue
            found.add(mineral)
        if self._exact_re is not None:
            for match in self._exact_re.finditer(text):
                term = match.group(1)
                if term in WEAK_ACRONYMS and not self._ambiguous_ok(term, match, text):
                    continue
                found.add(self._exact[term])
        return found

    def _in_other_sense(self, word: str, match: re.Match[str], text: str) -> bool:
        """Is this occurrence inside a phrase that means something else ("Rhodium Group")?"""
        negative = self._negatives.get(word)
        return negative is not None and any(n.start() <= match.start() < n.end()
                                            for n in negative.finditer(text))

    def _ambiguous_ok(self, word: str, match: re.Match[str], text: str) -> bool:
        """Does this occurrence of an ambiguous word mean the material?"""
        if self._in_other_sense(word, match, text):
            return False
        if text[match.start():match.end()].isupper() and not text.isupper() \
                and word.islower():
            return False  # "TIN" (tax id) or "LEAD" as a heading, not the metal
        local = self._local.get(word.lower())
        window = text[max(0, match.start() - 40): match.end() + 40]
        if local is not None and local.search(window):
            return True
        if word == "lead":  # "lead to", "take the lead": only local context will do
            return False
        return bool(_COMMODITY_CONTEXT.search(text)) and not _OTHER_SENSE.search(text)


def fold(text: str) -> str:
    """Lower case without accents, one character for one (positions stay valid)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(c) for c in text)


_FOLDED: dict[str, str] = {}


def _fold_char(char: str) -> str:
    if char.isascii():
        return char.lower()
    folded = _FOLDED.get(char)
    if folded is None:
        base = unicodedata.normalize("NFD", char)[0].lower()[:1] or char
        folded = _FOLDED[char] = base if base.isalnum() or not char.isalnum() else char
    return folded


class _LanguageTerms:
    """One language's mineral names from ``names_i18n`` and its context rules.

    ``?`` terms need commodity context in the text (the language's or English), and none of
    the other-sense words; ``!`` phrases are masked before matching. Latin-script terms are
    word-bounded with an optional plural ``s``/``es`` (German: any ending, for compounds);
    Japanese terms match anywhere, longest first.
    """

    def __init__(self, lang: str, minerals: Sequence[MineralLike]) -> None:
        self.lang = lang
        self.terms: dict[str, str] = {}
        self.needs_context: set[str] = set()
        negatives: list[str] = []
        for mineral in minerals:
            for raw in (getattr(mineral, "names_i18n", None) or {}).get(lang, ()):
                term = fold(raw.strip())
                if term.startswith("!"):
                    negatives.append(term[1:])
                    continue
                if term.endswith("?"):
                    term = term[:-1]
                    self.needs_context.add(term)
                self.terms.setdefault(term, mineral.id)
        cjk = lang == "ja"
        names = _alternation(self.terms) or "(?!)"
        if cjk:
            self._re = re.compile(f"({names})")
        elif lang == "de":
            self._re = re.compile(rf"(?<!\w)({names})\w*")
        else:
            self._re = re.compile(rf"(?<!\w)({names})(?:s|es)?(?!\w)")
        bound = ("", "") if cjk else (r"(?<!\w)", r"(?!\w)")
        self._negative = (re.compile(f"{bound[0]}(?:{_alternation(negatives)}){bound[1]}")
                          if negatives else None)
        self._context = re.compile(bound[0] + f"(?:{fold(I18N_CONTEXT[lang])})" + bound[1])
        self._other = re.compile(bound[0] + f"(?:{fold(I18N_OTHER_SENSE[lang])})" + bound[1])
        #: The head of a German compound whose tail is a context word ("Kupferpreis").
        self._compound = re.compile(f"(?:{fold(I18N_CONTEXT[lang])})") if lang == "de" else None

    def find(self, text: str, *, english_context: bool = False) -> set[str]:
        folded = fold(text)
        if self._negative is not None:
            folded = self._negative.sub(lambda m: " " * len(m.group(0)), folded)
        found: set[str] = set()
        context: bool | None = None
        for match in self._re.finditer(folded):
            term = match.group(1)
            if term in self.needs_context and not self._compound_tail(match):
                if context is None:
                    context = ((english_context or bool(self._context.search(folded)))
                               and not self._other.search(folded))
                if not context:
                    continue
            found.add(self.terms[term])
        return found


    def _compound_tail(self, match: re.Match[str]) -> bool:
        tail = match.group(0)[len(match.group(1)):]
        return self._compound is not None and bool(tail) and bool(self._compound.match(tail))


def _with_singulars(terms: Iterable[str]) -> list[str]:
    """Terms plus the singular of plural phrases ("platinum group metals" -> "... metal")."""
    extra = [t[:-1] for t in terms if " " in t and t.endswith("s") and not t.endswith("ss")]
    return [*terms, *extra]


def _is_acronym(term: str) -> bool:
    """Acronyms and formulae (GaN, NdFeB, V2O5, APT) are matched case-sensitively."""
    return term in WEAK_ACRONYMS or sum(1 for c in term if c.isupper()) >= 2 or any(
        c.isdigit() for c in term)


# ----------------------------------------------------------------------------- countries

_EN_COUNTRY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "China": ("China", "Chinese", "Beijing", "PRC", "People's Republic of China", "MOFCOM",
              "Xi Jinping", "General Administration of Customs", "China's Ministry of Commerce"),
    "United States": ("United States", "U.S.", "US", "USA", "America", "American", "Americans",
                      "Washington", "White House", "Biden", "Trump", "Commerce Department",
                      "Department of Commerce", "Bureau of Industry and Security", "BIS",
                      "USTR", "OFAC", "Pentagon", "Treasury Department", "Congress"),
    "Congo (Kinshasa)": ("Democratic Republic of Congo", "Democratic Republic of the Congo", "DRC",
                         "DR Congo", "Congo", "Congolese", "Kinshasa"),
    "Congo (Brazzaville)": ("Republic of Congo", "Congo-Brazzaville", "Brazzaville"),
    "Indonesia": ("Indonesian", "Jakarta"),
    "Russia": ("Russian", "Moscow", "Kremlin"),
    "Australia": ("Australian", "Canberra"),
    "Chile": ("Chilean",),
    "Peru": ("Peruvian",),
    "Japan": ("Japanese", "Tokyo"),
    "Korea, Republic of": ("South Korea", "South Korean", "Korea", "Seoul"),
    "Korea, North": ("North Korea", "North Korean", "Pyongyang"),
    "Burma": ("Myanmar", "Burmese"),
    "Canada": ("Canadian", "Ottawa"),
    "Mexico": ("Mexican",),
    "Brazil": ("Brazilian",),
    "Argentina": ("Argentine", "Argentinian"),
    "Bolivia": ("Bolivian",),
    "Zimbabwe": ("Zimbabwean", "Harare"),
    "Zambia": ("Zambian", "Lusaka"),
    "South Africa": ("South African", "Pretoria"),
    "Philippines": ("Philippine", "Filipino", "Manila"),
    "Vietnam": ("Vietnamese", "Hanoi", "Viet Nam"),
    "India": ("Indian", "New Delhi"),
    "Turkey": ("Turkish", "Türkiye", "Ankara"),
    "Ukraine": ("Ukrainian", "Kyiv"),
    "Germany": ("German", "Berlin"),
    "France": ("French",),
    "United Kingdom": ("UK", "U.K.", "Britain", "British"),
    "Malaysia": ("Malaysian",),
    "Kazakhstan": ("Kazakh",),
    "Mongolia": ("Mongolian",),
    "Guinea": ("Guinean", "Conakry"),
    "Gabon": ("Gabonese",),
    "Mali": ("Malian",),
    "Niger": ("Nigerien", "Niamey"),
    "Saudi Arabia": ("Saudi",),
    "Iran": ("Iranian",),
    "Panama": ("Panamanian",),
    "Taiwan": ("Taiwanese", "Taipei"),
    "Thailand": ("Thai",),
    "Morocco": ("Moroccan",),
    "Norway": ("Norwegian",),
    "Rwanda": ("Rwandan",),
    "Madagascar": ("Malagasy",),
    "Namibia": ("Namibian",),
    "Tanzania": ("Tanzanian",),
    "Ghana": ("Ghanaian",),
    "European Union": ("European Union", "EU", "European Commission", "Brussels"),
}
#: Places, firms and mines that name the country where an event happens ("Escondida strike").
_EN_PLACES: Mapping[str, tuple[str, ...]] = {
    "China": ("Yunnan", "Sichuan", "Jiangxi", "Hunan", "Xinjiang", "Shaanxi", "Yulin",
              "Inner Mongolia", "Baotou", "Ganzhou", "Guangxi", "Guizhou", "Qinghai", "Yichun",
              "Heilongjiang", "Shanghai", "Shandong", "Henan", "Fujian"),
    "Chile": ("Escondida", "Codelco", "Atacama", "Antofagasta", "El Teniente", "Chuquicamata"),
    "Peru": ("Las Bambas", "Antamina"),
    "Indonesia": ("Grasberg", "Sulawesi", "Morowali", "Weda Bay", "Halmahera"),
    "Panama": ("Cobre Panama",),
    "Congo (Kinshasa)": ("Kolwezi", "Katanga", "Lualaba", "Gecamines", "ARECOMS", "Kivu",
                         "Kasumbalesa"),
    "Australia": ("Western Australia", "Port Hedland", "Pilbara", "Queensland"),
    "South Africa": ("Transnet", "Eskom", "Durban", "Bushveld"),
    "Russia": ("Nornickel", "Norilsk", "Rusal"),
    "Canada": ("Sudbury", "Quebec", "Ontario"),
    "Burma": ("Kachin",),
}
_ZH_PLACES: Mapping[str, tuple[str, ...]] = {
    "China": ("云南", "四川", "江西", "湖南", "新疆", "陕西", "榆林", "内蒙古", "包头",
              "赣州", "广西", "贵州", "青海", "宜春", "黑龙江", "上海", "山东", "河南",
              "福建", "国家物资储备局", "国家粮食和物资储备局", "国储", "自然资源部",
              "生态环境部", "环保督察", "国内", "外交部"),
    "Chile": ("埃斯孔迪达", "智利国家铜业", "阿塔卡马"),
    "Peru": ("邦巴斯",),
    "Indonesia": ("格拉斯伯格", "苏拉威西", "莫罗瓦利"),
    "Congo (Kinshasa)": ("科卢韦齐", "加丹加", "卢阿拉巴", "卡孙巴莱萨"),
    "Australia": ("西澳", "黑德兰港"),
    "South Africa": ("德班",),
    "Canada": ("萨德伯里",),
    "Burma": ("克钦",),
}
_EN_NOT_COUNTRIES = re.compile(
    r"\b(latin|south|north|central) americ\w*|"
    r"\bam[eé]rica (latina|do sul|del sur|do norte|del norte|central)\b|"  # es, pt
    r"london metal exchange|indian ocean|"
    r"washington state|new guinea|guinea-bissau|equatorial guinea|french polynesia|"
    r"turkey (sandwich|dinner)|\bus (dollars?|\$)", re.IGNORECASE)
_ZH_COUNTRY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "China": ("中国", "我国", "中方", "商务部", "海关总署", "国务院", "北京", "工信部",
              "国家发改委", "中华人民共和国"),
    "United States": ("美国", "美方", "白宫", "美国商务部", "美商务部", "拜登", "特朗普",
                      "美国政府", "华盛顿", "美国财政部", "美国贸易代表"),
    "Indonesia": ("印尼", "印度尼西亚"),
    "Congo (Kinshasa)": ("刚果(金)", "刚果金", "民主刚果", "刚果民主共和国", "刚果"),
    "Australia": ("澳大利亚", "澳洲"),
    "Chile": ("智利",), "Peru": ("秘鲁",), "Japan": ("日本",),
    "Korea, Republic of": ("韩国",), "Burma": ("缅甸",), "Russia": ("俄罗斯", "俄方"),
    "European Union": ("欧盟", "欧洲委员会"), "Canada": ("加拿大",), "Mexico": ("墨西哥",),
    "Brazil": ("巴西",), "Argentina": ("阿根廷",), "Bolivia": ("玻利维亚",),
    "Zimbabwe": ("津巴布韦",), "Zambia": ("赞比亚",), "South Africa": ("南非",),
    "Guinea": ("几内亚",), "Philippines": ("菲律宾",), "Vietnam": ("越南",), "India": ("印度",),
    "Kazakhstan": ("哈萨克斯坦",), "Tajikistan": ("塔吉克斯坦",), "Turkey": ("土耳其",),
    "Gabon": ("加蓬",), "Mali": ("马里",), "Niger": ("尼日尔",), "Namibia": ("纳米比亚",),
    "Mozambique": ("莫桑比克",), "Madagascar": ("马达加斯加",), "Malaysia": ("马来西亚",),
    "Thailand": ("泰国",), "Laos": ("老挝",), "Ukraine": ("乌克兰",), "Germany": ("德国",),
    "France": ("法国",), "United Kingdom": ("英国",), "Saudi Arabia": ("沙特",),
    "Iran": ("伊朗",), "Morocco": ("摩洛哥",), "Norway": ("挪威",), "Panama": ("巴拿马",),
    "Mongolia": ("蒙古",), "Rwanda": ("卢旺达",), "Kyrgyzstan": ("吉尔吉斯斯坦",),
}
#: Country names in the other languages critmon reads (folded: matched without case or accents).
_I18N_COUNTRY_ALIASES: Mapping[str, tuple[str, ...]] = {
    "China": ("Chine", "Pekin", "Tiongkok", "Cina", "China's", "中国政府", "中国商务省"),
    "United States": ("Etats-Unis", "Estados Unidos", "EEUU", "EE.UU.", "EUA", "Vereinigte Staaten",
                      "Amerika Serikat", "米国", "アメリカ", "米政府"),
    "Congo (Kinshasa)": ("RDC", "RD Congo", "Republique democratique du Congo",
                         "Republica Democratica del Congo", "Kongo", "コンゴ", "コンゴ民主共和国"),
    "Indonesia": ("Indonesie", "Indonesien", "Indonésia", "インドネシア"),
    "Chile": ("Chili", "チリ"), "Peru": ("Perou", "ペルー"),
    "Mexico": ("Mexique", "Mexiko", "メキシコ"), "Brazil": ("Bresil", "Brasil", "Brasilien", "ブラジル"),
    "Bolivia": ("Bolivie", "Bolivien", "ボリビア"), "Argentina": ("Argentine", "Argentinien", "アルゼンチン"),
    "Guinea": ("Guinee",), "Japan": ("Japon", "Japao", "Jepang", "日本", "日本政府", "経済産業省",
                                     "経産省", "JOGMEC"),
    "Germany": ("Allemagne", "Alemania", "Alemanha", "Deutschland", "Jerman", "ドイツ",
                "Bundesregierung"),
    "Panama": ("パナマ",), "Gabon": ("ガボン",), "Niger": ("ニジェール",),
    "Australia": ("Australie", "Australien", "オーストラリア", "豪州"),
    "European Union": ("UE", "Union europeenne", "Union Europea", "Uniao Europeia", "Europaische Union",
                       "EU-Kommission", "Uni Eropa", "欧州連合", "欧州委員会"),
    "Russia": ("Russie", "Rusia", "Russland", "ロシア"),
    "Philippines": ("Filipinas", "Filipina", "フィリピン"),
    "Taiwan": ("台湾",), "Korea, Republic of": ("Coree du Sud", "Corea del Sur", "Sudkorea", "韓国"),
}
#: Words right before a country that make it the target, not the actor ("bans exports to
#: China"). These count in text of any language: an English feed quotes "contre" or "hacia".
_TARGET_WORDS = (r"on|from|to|against|with|into|toward|towards|for|over|targeting|versus|"
                 r"vs\.?|including|than|of|vers|contre|envers|hacia|contra|gegen|nach|"
                 r"terhadap|ke")
#: More such words in the other languages critmon reads in Latin script, with the articles
#: that may stand between them and the country, counted only in text of that language:
#: "a" is "to" in Spanish ("aranceles a China") but "the" in Portuguese ("A China proíbe").
#: "de", "von" ("of" and "from" at once) are left out: "el Gobierno de China" is the actor.
_TARGET_WORDS_I18N: Mapping[str, tuple[str, str]] = {
    "es": ("a|al|para|desde|sobre|con", "el|la|los|las"),
    "pt": ("para|à|ao|aos|às|desde|sobre|com", "a|o|os|as"),
    "fr": ("sur|depuis|avec|pour", "la|le|les"),  # not "au": "au Gabon" is also "in Gabon"
    "de": ("auf|aus|mit|für|über", "die|den|dem|der"),
    "id": ("dari|untuk|atas|dengan", ""),
}


def _target_before(words: str, articles: str) -> re.Pattern[str]:
    article = rf"(?:(?:{articles})\s+|l['\u2019])?" if articles else ""
    return re.compile(rf"\b(?:{words})\s+(?:the\s+)?{article}$", re.IGNORECASE)


_EN_TARGET_BEFORE = _target_before(_TARGET_WORDS, "")
_TARGET_BEFORE: Mapping[str, re.Pattern[str]] = {
    lang: _target_before(f"{_TARGET_WORDS}|{words}", articles)
    for lang, (words, articles) in _TARGET_WORDS_I18N.items()}
_ZH_TARGET_BEFORE = ("对", "向", "从", "自", "与", "和", "同", "针对", "来自", "对于", "赴")
_CASE_SENSITIVE_COUNTRY = frozenset({"US", "PRC", "DRC", "UK", "EU", "BIS", "USTR", "OFAC",
                                     "MOFCOM", "USA", "ARECOMS"})


class CountryFinder:
    """Finds the acting country of a headline (and, failing that, of its summary)."""

    def __init__(self) -> None:
        folded: dict[str, str] = {}
        exact: dict[str, str] = {}
        for country in USGS_TO_WGI:
            if "," not in country and "(" not in country:
                folded.setdefault(country.lower(), country)
        for country, aliases in (*_EN_COUNTRY_ALIASES.items(), *_EN_PLACES.items()):
            for alias in aliases:
                if alias in _CASE_SENSITIVE_COUNTRY:
                    exact[alias] = country
                else:
                    folded[alias.lower()] = country
        folded = {fold(alias): country for alias, country in folded.items()}
        cjk_aliases: dict[str, str] = {}
        for country, aliases in _I18N_COUNTRY_ALIASES.items():
            for alias in aliases:
                if not _LATIN_WORD.fullmatch(fold(alias)):
                    cjk_aliases.setdefault(alias, country)
                else:
                    folded.setdefault(fold(alias), country)
        self._folded = folded
        self._exact = exact
        self._folded_re = re.compile(rf"(?<![\w.])({_alternation(folded)})(?:'s)?(?![\w])",
                                     re.IGNORECASE)
        self._folded_ascii_re = lowered_twin(self._folded_re)
        self._exact_re = re.compile(rf"(?<![\w.])({_alternation(exact)})(?![\w])")
        self._zh = {alias: country
                    for country, aliases in (*_ZH_COUNTRY_ALIASES.items(), *_ZH_PLACES.items())
                    for alias in aliases}
        for alias, country in cjk_aliases.items():
            self._zh.setdefault(alias, country)
        self._known = frozenset({*USGS_TO_WGI, *_EN_COUNTRY_ALIASES})
        self._zh_re = re.compile(_alternation(self._zh))

    def find(self, title: str, summary: str = "", lang: str = "en") -> str | None:
        """The acting country: the first one named as a subject in the title, then summary
        (text in language ``lang``)."""
        for text in (title, summary):
            mentions = self.mentions(text, lang)
            for _, country, is_target in mentions:
                if not is_target:
                    return country
        return None

    def canonical(self, name: str) -> str | None:
        """The USGS name of a country name or alias ("US", "DRC", "中国"); None if unknown."""
        text = unicodedata.normalize("NFKC", name).strip()
        if text in self._known:
            return text
        return self._exact.get(text) or self._folded.get(fold(text)) or self._zh.get(text)

    def mentions(self, text: str, lang: str = "en") -> list[tuple[int, str, bool]]:
        """(position, country, named as a target) for every country mention, in order."""
        text = unicodedata.normalize("NFKC", text)
        target_before = _TARGET_BEFORE.get(lang, _EN_TARGET_BEFORE)
        masked = _blank_not_countries(text)
        found: list[tuple[int, str, bool]] = []
        folded_re = self._folded_re
        if masked.isascii() and self._folded_ascii_re is not None:
            folded_re = self._folded_ascii_re  # fold() lower-cased it: same matches, faster
        for match in folded_re.finditer(fold(masked)):
            country = self._folded[match.group(1)]
            found.append((match.start(), country, _is_target(target_before, masked,
                                                             match.start())))
        for match in self._exact_re.finditer(masked):
            found.append((match.start(), self._exact[match.group(1)],
                          _is_target(target_before, masked, match.start())))
        if not masked.isascii():
            for match in self._zh_re.finditer(masked):
                before = masked[max(0, match.start() - 2): match.start()]
                found.append((match.start(), self._zh[match.group(0)],
                              before.endswith(_ZH_TARGET_BEFORE)))
        return sorted(found)


def _blank_not_countries(text: str) -> str:
    """``text`` with the phrases that name no country ("Latin America", "US dollars") blanked,
    every other character where it was.

    ASCII text is searched lower-cased with the case-sensitive twin of the pattern: the same
    spans, in half the time of the case-blind search (bench/bench_news.py).
    """
    pattern, searched = _EN_NOT_COUNTRIES, text
    if text.isascii() and _EN_NOT_COUNTRIES_LOWER is not None:
        pattern, searched = _EN_NOT_COUNTRIES_LOWER, text.lower()
    parts, end = [], 0
    for match in pattern.finditer(searched):
        start, stop = match.span()
        parts += (text[end:start], " " * (stop - start))
        end = stop
    return "".join(parts) + text[end:] if parts else text


_EN_NOT_COUNTRIES_LOWER = lowered_twin(_EN_NOT_COUNTRIES)


def _is_target(target_before: re.Pattern[str], text: str, start: int) -> bool:
    return bool(target_before.search(text[max(0, start - 25): start]))


class Tagger:
    """Minerals and acting country of a news item."""

    def __init__(self, minerals: Sequence[MineralLike]) -> None:
        self.minerals = MineralMatcher(minerals)
        self.countries = CountryFinder()
        self._groups = {m.id: getattr(m, "group", None) for m in minerals}

    def tag(self, title: str, summary: str = "", lang: str = "en") -> Tags:
        """Tag one item in language ``lang`` (``zh`` text already simplified): minerals in
        title or summary; the acting country."""
        text = f"{title}\n{summary}" if summary else title
        return Tags(self.minerals.find(text, lang), self.countries.find(title, summary, lang))

    def groups_of(self, minerals: Iterable[str]) -> tuple[str, ...]:
        """The groups (rare_earths, platinum_group_metals) the given members belong to."""
        return tuple(sorted({g for m in minerals if (g := self._groups.get(m))} - set(minerals)))
