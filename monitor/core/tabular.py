"""Rows as CSV or JSON that are safe to open: shared by the CLI's listings and the web console's
exports (so both neutralise spreadsheet formulas and control characters the same way).

- control characters (C0, DEL, C1 such as U+009B CSI) and bidirectional overrides are removed
  from text, so a terminal never receives an escape sequence and no text is shown reordered;
- in CSV, a text cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``,
  ``-``, ``@``, tab or carriage return) gets a leading apostrophe, as OWASP recommends; numbers,
  negative ones included, stay numbers.

JSON is cleaned rather than escaped: ``jq -r`` would turn an escaped ``\\u009b`` back into a
raw CSI on the terminal.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.core.untrusted import strip_controls

#: First characters that make a spreadsheet treat a cell as a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Text that is just a number (``-0.5``, ``+12``, ``1e-3``, ``-40%``): no formula can hide in it.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")


def csv_cell(value: Any) -> Any:
    """One CSV cell: text cleaned and kept from being run as a formula; numbers unchanged."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = strip_controls(str(value))
    if text.startswith(FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """``rows`` restricted to ``columns`` as CSV text (header first), every cell made safe."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: csv_cell(row.get(c)) for c in columns} for row in rows)
    return buffer.getvalue().rstrip("\n")


def to_json(value: Any) -> str:
    """``value`` as indented JSON, every string in it (keys too) free of control characters."""
    return json.dumps(safe_value(value), ensure_ascii=False, indent=2, default=_json_default)


def safe_value(value: Any) -> Any:
    """``value`` with control and bidi characters removed from every string, recursively."""
    if isinstance(value, str):
        return strip_controls(value)
    if isinstance(value, Mapping):
        return {safe_value(k) if isinstance(k, str) else k: safe_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe_value(v) for v in value]
    return value


def _json_default(value: Any) -> str:
    return strip_controls(str(value))
