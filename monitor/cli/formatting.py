"""Render listings as an aligned table, JSON or CSV (every listing offers all three).

Whatever is in the database, the output is safe to show and to open (old rows were stored
before text was cleaned at ingest, and a row may come from anywhere):

- in every format, control characters (C0, DEL, C1 such as U+009B CSI) and bidirectional
  overrides are removed from text, so a terminal never receives an escape sequence and no
  text is shown reordered; a table cell is also kept on one line;
- in CSV, a text cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``,
  ``-``, ``@``, tab or carriage return) gets a leading apostrophe, as OWASP recommends; numbers,
  negative ones included, stay numbers.

JSON is cleaned rather than escaped: ``jq -r`` would turn an escaped ``\\u009b`` back into a
raw CSI on the terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.core.tabular import FORMULA_START, csv_cell, csv_text, safe_value, to_json
from monitor.core.untrusted import clean_text, strip_controls

__all__ = ["FORMATS", "FORMULA_START", "csv_cell", "render", "safe_text", "safe_value",
           "to_json"]

FORMATS = ("table", "json", "csv")


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str) -> str:
    """Render ``rows`` restricted to ``columns`` in the named format."""
    if fmt == "json":
        return to_json([{c: row.get(c) for c in columns} for row in rows])
    if fmt == "csv":
        return csv_text(rows, columns)
    if fmt == "table":
        return _table(rows, columns)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def safe_text(value: object) -> str:
    """``value`` as text to print: control and bidi characters removed, line breaks kept."""
    return strip_controls(str(value))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return clean_text(value, limit=None)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    names = [_cell(c) for c in columns]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(names)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(names, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)
