"""A long trade-flow CSV (``critmon backtest --trade``): one flow per row (pure).

Columns (header names, any order, case-insensitive; extra columns ignored)::

    period,reporter,partner,flow,hs,mineral,value_usd,net_weight_kg[,published_at]

``period`` is ``YYYY-MM``, ``YYYYMM`` or a date in the month; ``reporter``/``partner`` ISO alpha-3
(``WLD`` the world); ``flow`` ``X`` or ``M`` (``export``/``import`` accepted); ``mineral`` may
be empty (the HS code decides, from minerals.yaml); amounts may be empty (unknown).
Without ``published_at`` a month is dated by the caller (month end + the publication lag).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from datetime import date

from monitor.core.trade import EXPORT, IMPORT, TradeFlow
from monitor.core.untrusted import clean_text

COLUMNS = ("period", "reporter", "partner", "flow", "hs", "mineral", "value_usd",
           "net_weight_kg")
_FLOWS = {"x": EXPORT, "export": EXPORT, "exports": EXPORT, "m": IMPORT, "import": IMPORT,
          "imports": IMPORT}


class TradeFileError(ValueError):
    """A trade CSV that cannot be read; the message names the file, line and column."""


def parse_trade_csv(body: bytes, *, name: str, source: str = "") -> list[TradeFlow]:
    """Every row of a trade CSV as a :class:`TradeFlow` (``published_at`` from the file or
    None); ``TradeFileError`` naming ``name``, the line and the column on a bad row."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TradeFileError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TradeFileError(f"{name}: missing column(s) {', '.join(missing)}; a trade CSV has "
                             f"{','.join(COLUMNS)} (header: "
                             f"{clean_text(','.join(header), limit=200)})")
    at = {column: header.index(column) for column in header}
    return list(_rows(reader, at, name, source or f"file:{name}"))


def _rows(reader: Iterator[list[str]], at: dict[str, int], name: str, source: str
          ) -> Iterator[TradeFlow]:
    width = max(at.values()) + 1
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            raise TradeFileError(f"{name}: line {line}: {len(row)} fields, expected {width}")

        def cell(column: str, row: list[str] = row) -> str:
            return row[at[column]].strip()

        yield TradeFlow(
            period=_period(cell("period"), name, line),
            reporter=_country(cell("reporter"), "reporter", name, line),
            partner=_country(cell("partner"), "partner", name, line),
            flow=_flow(cell("flow"), name, line), hs=_hs(cell("hs"), name, line),
            value_usd=_amount(cell("value_usd"), "value_usd", name, line),
            net_weight_kg=_amount(cell("net_weight_kg"), "net_weight_kg", name, line),
            mineral=cell("mineral"), source=source,
            published_at=_date(cell("published_at"), name, line) if "published_at" in at
            and cell("published_at") else None)


def _bad(name: str, line: int, column: str, value: str, what: str) -> TradeFileError:
    return TradeFileError(f"{name}: line {line}: {column} {clean_text(value, limit=40)!r} "
                          f"is not {what}")


def _period(value: str, name: str, line: int) -> date:
    digits = value.replace("-", "")
    try:
        if len(digits) >= 6 and digits[:6].isdigit():
            return date(int(digits[:4]), int(digits[4:6]), 1)
    except ValueError:
        pass
    raise _bad(name, line, "period", value, "a month (YYYY-MM)")


def _date(value: str, name: str, line: int) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(name, line, "published_at", value, "a date (YYYY-MM-DD)") from None


def _country(value: str, column: str, name: str, line: int) -> str:
    code = value.upper()
    if not code.isalnum() or not 1 <= len(code) <= 8:
        raise _bad(name, line, column, value, "a country code (ISO alpha-3, WLD)")
    return code


def _flow(value: str, name: str, line: int) -> str:
    found = _FLOWS.get(value.lower())
    if found is None:
        raise _bad(name, line, "flow", value, "X or M")
    return found


def _hs(value: str, name: str, line: int) -> str:
    code = value.replace(".", "")
    if not code.isdigit() or not 2 <= len(code) <= 10:
        raise _bad(name, line, "hs", value, "an HS code")
    return code


def _amount(value: str, column: str, name: str, line: int) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise _bad(name, line, column, value, "a number") from None
    if not math.isfinite(number) or number < 0:
        raise _bad(name, line, column, value, "a finite amount >= 0")
    return number
