"""How an indicator's value reads: price changes (log changes) as percentages, the rest rounded.

One formatter for every place a value or threshold is shown (messages, ``critmon alerts``,
history, the detectors' summaries), so a reader never sees ``0.47`` in one place and ``+60%``
in another. Pure.
"""

from __future__ import annotations

import math


def format_value(value: float | None, indicator: str = "", *, extra_digits: int = 0) -> str:
    """A value as a reader wants it; price changes (log changes) as a percentage.

    The one formatter for alert values and thresholds: messages, ``critmon alerts``, the
    detectors' summaries. ``extra_digits`` shows more precision (see :func:`format_pair`).
    """
    if value is None:
        return "n/a"
    if indicator.startswith("price_change") and "," not in indicator and abs(value) < 20:
        return f"{100 * math.expm1(value):+.{extra_digits}f}%"
    if abs(value) >= 1000:
        return f"{value:,.{extra_digits}f}"
    if abs(value) < 100:
        return f"{value:.{3 + extra_digits}g}"
    return f"{value:.{extra_digits}f}"


def format_pair(value: float | None, other: float | None, indicator: str = ""
                ) -> tuple[str, str]:
    """Two values (a value and its threshold) with just enough digits to tell them apart:
    never ``+60% above +60%``."""
    for extra in range(4):
        shown = (format_value(value, indicator, extra_digits=extra),
                 format_value(other, indicator, extra_digits=extra))
        if shown[0] != shown[1] or value == other or value is None or other is None:
            break
    return shown
