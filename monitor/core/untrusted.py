"""Text that came from outside (feeds, HTTP servers, files) made safe to keep and to show.

Pure functions, no I/O. Every edge that takes text in (a source error, a feed title, an HTTP
reason phrase) passes it through :func:`clean_text`; every output format then only has its own
escaping to do (mrkdwn, HTML, CSV formulas). The rules:

- control characters (C0 except tab/newline, DEL, C1 such as U+009B CSI) are removed: a
  terminal must never receive an escape sequence from a feed;
- bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C) are
  removed: they reorder what a reader sees ("txt.exe" shown as "exe.txt");
- text is cut to a bound, so one hostile value cannot grow a log line, a row or an alert.

Errors must describe the *shape* of a payload, never quote it (a quoted first line once leaked
a credentials file): :func:`describe_shape` does that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

#: C0 controls except TAB and LF, DEL, and the C1 block (U+0080-U+009F).
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: Bidirectional formatting characters: embeddings, overrides, isolates and marks.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"\s+")

#: The longest piece of outside text kept in an error, a log line or a stored field.
TEXT_MAX = 300


def clean_text(text: object, *, limit: int | None = TEXT_MAX, one_line: bool = True) -> str:
    """``text`` without control and bidi characters, on one line, at most ``limit`` characters."""
    value = str(text)
    if value.isascii() and value.isprintable():  # no control or bidi character, no \t or \n
        if one_line:
            value = (_WHITESPACE.sub(" ", value) if "  " in value else value).strip()
    else:
        value = _BIDI.sub("", _CONTROLS.sub("", value))
        if one_line:
            value = _WHITESPACE.sub(" ", value).strip()
    if limit is not None and len(value) > limit:
        value = value[: max(0, limit - 1)].rstrip() + "…"
    return value


def strip_controls(text: str) -> str:
    """``text`` without control or bidi characters; line breaks and length are kept."""
    return _BIDI.sub("", _CONTROLS.sub("", text))


def describe_shape(payload: bytes | str) -> str:
    """Say what a payload looks like without quoting any of it.

    >>> describe_shape(b"secret-token-value\\n")
    '1 line of 18 characters'
    """
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    lines = text.splitlines() or [""]
    longest = max(len(line) for line in lines)
    if len(lines) == 1:
        return f"1 line of {longest} characters"
    return f"{len(lines)} lines, the longest {longest} characters"


def redact_secrets(text: str, secrets: Iterable[str], *, min_part: int = 8) -> str:
    """Replace every secret in ``text`` with ``[redacted]``, and every long part of one.

    A server may echo only part of a secret: a relay that quotes the request path of a Slack
    webhook leaks ``/services/T0/B0/XXXX`` without the host. So besides the whole value, each
    path segment, query value and dotted/dashed piece of at least ``min_part`` characters is
    redacted too.
    """
    parts: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        parts.add(secret)
        for piece in re.split(r"[/?&=#@:]+", secret):
            if len(piece) >= min_part and _looks_random(piece):
                parts.add(piece)
    for part in sorted(parts, key=len, reverse=True):
        text = text.replace(part, "[redacted]")
    return text


def _looks_random(piece: str) -> bool:
    """A token-like piece (``T0123ABCD``, ``xoxb-...``), not a word like ``services``."""
    return len(piece) >= 20 or any(c.isdigit() or c.isupper() for c in piece)


def bounded_seconds(value: float | None, *, maximum: float) -> float | None:
    """``value`` as a finite number of seconds in ``[0, maximum]``; None stays None.

    A server's ``Retry-After: 1e300`` (or ``inf``, or ``nan``) must not overflow a datetime or
    park a job for centuries: it becomes ``maximum``.
    """
    if value is None:
        return None
    if math.isnan(value):
        return maximum
    return min(max(0.0, value), maximum)
