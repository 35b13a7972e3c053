"""Value types and helpers of the news pipeline (``monitor.news.items``)."""

from __future__ import annotations

import pytest

from monitor.news.items import _CJK, detect_lang


def letters_rule(text: str, default: str) -> str:
    """detect_lang's rule read a character at a time: zh when a fifth of the letters are
    CJK ideographs, else the default (en for a Chinese default)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return default
    if sum(1 for c in letters if _CJK.match(c)) * 5 >= len(letters):
        return "zh"
    return "en" if default.startswith("zh") else default


@pytest.mark.parametrize("default", ["en", "zh", "zh-Hant", "fr"])
def test_detect_lang_of_ascii_text_follows_the_letters_rule(default: str) -> None:
    """ASCII text takes a shortcut (no letter-by-letter count): every ASCII character, alone
    and among others, gives what the rule gives."""
    for code in range(128):
        for text in (chr(code), f"x{chr(code)}", f"123 {chr(code)}", chr(code) * 3, ""):
            assert detect_lang(text, default) == letters_rule(text, default), (code, default)


@pytest.mark.parametrize(("text", "expected"), [
    ("China bans gallium exports", "en"), ("中国限制镓出口", "zh"),
    ("Gallium 镓 export ban 2025 news", "en"), ("镓锗 export", "zh"), ("2025-07-03", "en"),
])
def test_detect_lang_mixed_text(text: str, expected: str) -> None:
    assert detect_lang(text) == letters_rule(text, "en") == expected
