"""Outside text is kept and shown without controls, bidi tricks, secrets or unbounded size."""

import math

import pytest

from monitor.core.untrusted import (
    bounded_seconds,
    clean_text,
    describe_shape,
    redact_secrets,
    strip_controls,
)


def test_clean_text_removes_c0_c1_and_bidi_controls():
    text = "a\x1b[31mred\x07 \u202eevil\x9b]0;title\x9d\u2066x\u2069"
    assert clean_text(text) == "a[31mred evil]0;titlex"


def test_clean_text_joins_lines_and_bounds_length():
    assert clean_text("one\ntwo\r\n three") == "one two three"
    cut = clean_text("x" * 10_000, limit=50)
    assert len(cut) == 50 and cut.endswith("…")


@pytest.mark.parametrize("text", [
    "  two  spaces  and ends  ", "tab\tand\nline", "plain headline", "", " ", "a\x7fb",
    "caf\u00e9  au\u00a0lait", "x\u200ey",
])
def test_clean_text_reads_plain_ascii_and_any_other_text_alike(text: str) -> None:
    """Printable ASCII takes a shortcut (no control or bidi character can be in it): the
    result is the one the general path gives, spaces collapsed and trimmed, any limit."""
    general = " ".join(strip_controls(text).split())
    assert clean_text(text, limit=None) == general
    assert clean_text(text, limit=None, one_line=False) == strip_controls(text)
    assert clean_text(text, limit=4) == (general if len(general) <= 4
                                        else general[:3].rstrip() + "…")


def test_strip_controls_keeps_line_breaks():
    assert strip_controls("a\nb\x1b") == "a\nb"


def test_describe_shape_never_quotes_the_payload():
    shape = describe_shape(b"xoxb-secret-token\n")
    assert "xoxb" not in shape and shape == "1 line of 17 characters"
    assert describe_shape("a\nbbb") == "2 lines, the longest 3 characters"


def test_redact_secrets_hides_the_whole_value_and_its_token_parts():
    url = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx"
    echoed = "404 no route for /services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx"
    out = redact_secrets(f"{url} | {echoed}", [url])
    assert "T0123ABCD" not in out and "abcdefghijklmnopqrstuvwx" not in out
    assert "/services/" in out  # plain words of the URL are kept, so the error stays readable


def test_bounded_seconds_caps_absurd_and_non_finite_values():
    assert bounded_seconds(1e300, maximum=3600) == 3600
    assert bounded_seconds(math.inf, maximum=3600) == 3600
    assert bounded_seconds(math.nan, maximum=3600) == 3600
    assert bounded_seconds(-5, maximum=3600) == 0
    assert bounded_seconds(None, maximum=3600) is None
    assert bounded_seconds(12.5, maximum=3600) == 12.5
