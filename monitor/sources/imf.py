"""The IMF Primary Commodity Prices workbook (``external-data.xls``): bytes in, prices out.

Pure: no network, no store. The IMF publishes its Primary Commodity Price System (PCPS) once a
month as a legacy Excel workbook (BIFF8), read here with ``xlrd`` (openpyxl reads only xlsx).
Layout (one sheet, ``External``): column A labels the header rows - ``Commodity`` (the series
code, empty for the newer series), ``Commodity.Description`` (grade, market, unit), ``Data
Type`` (``USD`` or ``Index``), ``Frequency`` - then one row per month, ``1990M1``, ``1990M2``...
(no zero padding), a value or an empty cell per series.

What this parser does about the workbook's traps:

* Series are keyed by code, or, for the series that have none (chromium, lithium, manganese,
  rare earth carbonate, silicon, vanadium pentoxide), by the start of their description, never
  by position: columns move between releases.
* A code may appear twice (``POILAPSP`` as an index and in USD): only non-index columns are
  prices, and a key matching two price columns is refused as ambiguous.
* Empty cells (before a series starts, and the odd gap) are skipped; a release whose newest
  month is empty in every mapped series is refused as incomplete.
* Publication dates: a month is public about two weeks after it ends (the release of
  15 October 2025 ran to September 2025), see :func:`imf_published_at`.

A workbook is bounded before and while it is read: bytes, rows, columns, the length of a text
cell, and a deadline checked after xlrd has opened the file and on every row (xlrd parses the
workbook in one call, so the byte cap bounds that call). Errors name the source and the place
(row, column, key) and describe offending text by its shape, never quote it.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import xlrd

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation
from monitor.core.untrusted import clean_text

__all__ = [
    "IMF_MAX_BYTES",
    "IMF_MAX_COLUMNS",
    "IMF_MAX_ROWS",
    "IMF_PUBLICATION_LAG",
    "IMF_SHEET",
    "ImfSeries",
    "imf_published_at",
    "parse_imf_pcps",
]

IMF_SHEET = "External"
#: The real workbook is about 1 MB, ~430 rows (1990M1 onwards, 12 more a year) by ~70 columns.
IMF_MAX_BYTES = 64 * 2**20
IMF_MAX_ROWS = 5_000
IMF_MAX_COLUMNS = 1_000
IMF_MAX_CELL_CHARS = 32_767
#: Days after a month's end at which its value is taken to be public (about two weeks).
IMF_PUBLICATION_LAG = timedelta(days=15)
DEFAULT_PARSE_BUDGET_S = 60.0

_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_PERIOD = re.compile(r"(\d{4})M(\d{1,2})")
_MISSING = frozenset({"", ".", "…", "...", "-", "--", "na", "n/a", "nan", "#n/a"})
_LABELS = {"commodity": "code", "commodity.description": "description",
           "data type": "data_type", "frequency": "frequency"}
# Unit phrases of the descriptions, most specific first.
_UNITS = (
    (re.compile(r"(US\$|USD)\s*(per|/)\s*dry metric ton", re.IGNORECASE), "USD/dmt"),
    (re.compile(r"(US\$|USD)\s*(per|/)\s*(metric ton|ton|mt)\b", re.IGNORECASE), "USD/t"),
    (re.compile(r"(US\$|USD)\s*(per|/)\s*troy ounce", re.IGNORECASE), "USD/troy oz"),
    (re.compile(r"(US\$|USD)\s*(per|/)\s*(pound|lb)\b", re.IGNORECASE), "USD/lb"),
    (re.compile(r"(US\$|USD)\s*(per|/)\s*(kilogram|kg)\b", re.IGNORECASE), "USD/kg"),
    (re.compile(r"(US\$|USD)\s*(per|/)\s*barrel", re.IGNORECASE), "USD/bbl"),
)


@dataclass(frozen=True, slots=True)
class ImfSeries:
    """One series to read: by ``code`` or by the start of its ``description``; its mineral.

    ``unit`` overrides the unit read from the description (some descriptions state none).
    """

    mineral: str
    code: str | None = None
    description: str | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        if (self.code is None) == (self.description is None):
            raise ValueError("an IMF series is keyed by exactly one of code and description")

    @property
    def key(self) -> str:
        """How the series is named in messages: ``code PCOBA`` or ``description 'Lithium'``."""
        return f"code {self.code}" if self.code else f"description {self.description!r}"

    @property
    def series(self) -> str:
        """The stored series name: the code, or a slug of the description key."""
        if self.code:
            return self.code.strip().upper()
        return "imf:" + re.sub(r"[^a-z0-9]+", "_", (self.description or "").lower()).strip("_")


def imf_published_at(period: date) -> date:
    """When the value of the month starting ``period`` became public: month end + 15 days."""
    first_of_next = (period.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_of_next - timedelta(days=1) + IMF_PUBLICATION_LAG


def _fail(source: str, where: str, problem: str) -> SourceFormatError:
    return SourceFormatError(clean_text(f"{source}: {where}: {problem}"), source=source)


def _shape(raw: object) -> str:
    if isinstance(raw, str):
        return f"text of {len(raw)} characters"
    return "nothing" if raw is None else f"a {type(raw).__name__}"


def _norm(text: object) -> str:
    return " ".join(str(text).split()).casefold() if isinstance(text, str) else ""


@dataclass(frozen=True, slots=True)
class _Header:
    """The header cells of every column, by label."""

    code: list[str]
    description: list[str]
    data_type: list[str]
    first_data_row: int


def parse_imf_pcps(
    body: bytes, *, source: str, series: Sequence[ImfSeries], deadline: float | None = None,
    on_missing: Callable[[str], None] | None = None,
) -> list[Observation]:
    """Parse the IMF PCPS workbook into monthly prices for ``series``.

    Each observation has ``published_at`` = :func:`imf_published_at` of its month (the poller
    caps it at the day it fetched the workbook). Raises ``SourceFormatError`` naming the
    source and the place: not an .xls (an HTML error page, a zip), unreadable, over a bound,
    no ``Commodity.Description`` header, a mapped series missing (a renamed column), ambiguous
    or an index, a bad value cell, no months, or a newest month empty in every mapped series.

    ``on_missing``, when given, gets the message for each mapped series the header does not
    offer (missing, ambiguous or an index) and the others are read: a release that renames
    one series then still updates the rest, and the rename is reported, not fatal. Only when
    no mapped series is left does the parse fail.
    """
    if not series:
        raise ValueError("series must name at least one IMF series")
    if deadline is None:
        deadline = time.monotonic() + DEFAULT_PARSE_BUDGET_S
    sheet = _open_sheet(body, source, deadline)
    header = _header(sheet, source)
    columns = _columns(header, series, source, on_missing)
    units = {item: item.unit if item.unit is not None else _unit(header.description[col])
             for item, col in columns.items()}
    rows = _data_rows(sheet, header.first_data_row, source, deadline)
    if not rows:
        raise _fail(source, f"sheet {sheet.name!r}", "no monthly rows (periods like 1990M1)")
    names = {item: item.series for item in columns}
    observations: list[Observation] = []
    for number, period, cells in rows:
        published = imf_published_at(period)
        for item, col in columns.items():
            try:
                value = _value(cells[col] if col < len(cells) else None)
            except ValueError as exc:
                raise _fail(source, f"row {number}, {item.key}", str(exc)) from None
            if value is not None:
                observations.append(Observation(
                    source=source, series=names[item], mineral=item.mineral,
                    measure=Measure.PRICE, period=period, frequency=Frequency.MONTHLY,
                    value=value, unit=units[item], published_at=published))
    _check_newest_month(rows[-1], observations, len(columns), source)
    return _last_per_period(observations)


def _open_sheet(body: bytes, source: str, deadline: float) -> Any:
    """The ``External`` sheet (or the only sheet) of an .xls workbook, within the bounds."""
    if not body.strip():
        raise _fail(source, "body", "empty body")
    if len(body) > IMF_MAX_BYTES:
        raise _fail(source, "body", f"{len(body)} bytes, more than {IMF_MAX_BYTES}")
    if not body.startswith(_OLE2_MAGIC):
        head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
        if head.startswith(b"<"):
            got = f"HTML/XML of {len(body)} bytes"
        elif head.startswith(b"PK"):
            got = f"a zip (xlsx?) of {len(body)} bytes"
        else:
            got = f"{len(body)} bytes without the .xls signature"
        raise _fail(source, "body", f"expected an .xls workbook, got {got}")
    try:
        # ragged rows: a lone cell at row 65535, column 255 must not pad every row to 256 cells
        book = xlrd.open_workbook(file_contents=body, on_demand=True, ragged_rows=True,
                                  logfile=io.StringIO())
    except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct and index errors
        raise _fail(source, "workbook", f"not a readable .xls file ({type(exc).__name__})"
                    ) from exc
    names = book.sheet_names()
    if IMF_SHEET in names:
        name = IMF_SHEET
    elif len(names) == 1:
        name = names[0]
    else:
        raise _fail(source, "workbook", f"no sheet {IMF_SHEET!r} (the workbook has "
                                        f"{len(names)} sheets)")
    try:
        sheet = book.sheet_by_name(name)
    except Exception as exc:
        raise _fail(source, f"sheet {IMF_SHEET!r}", f"unreadable ({type(exc).__name__})"
                    ) from exc
    if sheet.nrows > IMF_MAX_ROWS:
        raise _fail(source, f"sheet {IMF_SHEET!r}", f"more than {IMF_MAX_ROWS} rows")
    if sheet.ncols > IMF_MAX_COLUMNS:
        raise _fail(source, f"sheet {IMF_SHEET!r}", f"more than {IMF_MAX_COLUMNS} columns")
    if time.monotonic() > deadline:
        raise _fail(source, "workbook", "parse deadline passed while opening the workbook")
    return sheet


def _text_row(sheet: Any, row: int) -> list[str]:
    return [cell if isinstance(cell, str) else "" for cell in sheet.row_values(row)]


def _header(sheet: Any, source: str) -> _Header:
    """Find the labelled header rows (by the label in column A, not by position)."""
    found: dict[str, list[str]] = {}
    first_data = None
    for row in range(min(sheet.nrows, 50)):
        first = sheet.row_values(row, 0, 1)
        text = first[0].strip() if first and isinstance(first[0], str) else ""
        label = _norm(text)
        if label in _LABELS and _LABELS[label] not in found:
            found[_LABELS[label]] = _text_row(sheet, row)
        elif _PERIOD.fullmatch(text):
            first_data = row
            break
    for needed in ("description", "data_type"):
        if needed not in found:
            label = next(k for k, v in _LABELS.items() if v == needed)
            raise _fail(source, f"sheet {sheet.name!r}",
                        f"no header row labelled {label!r} in column A")
    width = sheet.ncols
    pad = [""] * width
    return _Header(
        code=(found.get("code", pad) + pad)[:width],
        description=(found["description"] + pad)[:width],
        data_type=(found["data_type"] + pad)[:width],
        first_data_row=first_data if first_data is not None else sheet.nrows,
    )


def _columns(header: _Header, series: Sequence[ImfSeries], source: str,
             on_missing: Callable[[str], None] | None) -> dict[ImfSeries, int]:
    """Each mapped series' column; the problem of one not found goes to ``on_missing``.

    Without ``on_missing`` the first problem fails the parse, as it does when no mapped series
    is found at all.
    """
    where = "workbook header"
    columns: dict[ImfSeries, int] = {}
    problems: list[str] = []
    for item in series:
        found = _column(header, item)
        if isinstance(found, int):
            columns[item] = found
        elif on_missing is None:
            raise _fail(source, where, found)
        else:
            problems.append(found)
    if not columns:
        raise _fail(source, where, problems[0] if len(problems) == 1 else
                    f"none of the {len(problems)} mapped series found: {'; '.join(problems)}")
    if on_missing is not None:
        for problem in problems:
            on_missing(f"{where}: {problem}")
    return columns


def _column(header: _Header, item: ImfSeries) -> int | str:
    """The one price column of ``item``, or why there is none: missing, an index, several."""
    if item.code:
        wanted = item.code.strip().upper()
        matches = [c for c in range(1, len(header.code))
                   if header.code[c].strip().upper() == wanted]
    else:
        prefix = _norm(item.description)
        matches = [c for c in range(1, len(header.description))
                   if _norm(header.description[c]).startswith(prefix)]
    prices = [c for c in matches if _norm(header.data_type[c]) != "index"]
    if not matches:
        return f"series {item.key} ({item.mineral}) not found: renamed or removed in this release?"
    if not prices:
        return f"series {item.key} ({item.mineral}) is an index, not a price"
    if len(prices) > 1:
        return (f"series {item.key} ({item.mineral}) matches {len(prices)} price columns: "
                "make the key more specific")
    return prices[0]


def _unit(description: str) -> str:
    for pattern, unit in _UNITS:
        if pattern.search(description):
            return unit
    return ""


def _data_rows(sheet: Any, first: int, source: str, deadline: float
               ) -> list[tuple[int, date, list[Any]]]:
    """``(row number, month, cells)`` of every period row; rows after them are ignored."""
    rows: list[tuple[int, date, list[Any]]] = []
    for row in range(first, sheet.nrows):
        if time.monotonic() > deadline:
            raise _fail(source, f"sheet {sheet.name!r}", "parse deadline passed")
        cells = sheet.row_values(row)
        label = cells[0] if cells else ""
        text = label.strip() if isinstance(label, str) else ""
        match = _PERIOD.fullmatch(text)
        if match is None:
            continue  # blank rows, notes or footers below the data
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12 or year < 1900:
            raise _fail(source, f"row {row + 1}", f"bad period ({_shape(text)})")
        rows.append((row + 1, date(year, month, 1), cells))
    return rows


def _value(cell: object) -> float | None:
    """A value cell as float; None for an empty or missing marker; ValueError for the rest."""
    if isinstance(cell, float):
        return cell
    if cell is None:
        return None
    if type(cell) is int:  # xlrd reads every number as a float: an int is a boolean cell
        raise ValueError("bad value (a boolean)")
    text = str(cell)
    if len(text) > IMF_MAX_CELL_CHARS:
        raise ValueError(f"a cell longer than {IMF_MAX_CELL_CHARS} characters")
    text = text.strip()
    if text.lower() in _MISSING:
        return None
    try:
        return float(text.replace(",", ""))
    except ValueError:
        raise ValueError(f"bad value ({_shape(text)})") from None


def _check_newest_month(newest: tuple[int, date, list[Any]], observations: list[Observation],
                        mapped: int, source: str) -> None:
    """A release whose last month has no value in any mapped series is incomplete."""
    number, period, _ = newest
    if not any(o.period == period for o in observations):
        raise _fail(source, f"row {number}", f"the newest month {period:%Y}M{period.month} is "
                                             f"empty in all {mapped} mapped series: an "
                                             f"incomplete release")


def _last_per_period(observations: list[Observation]) -> list[Observation]:
    """One observation per (series, period): a month written twice keeps its last row."""
    kept: dict[tuple[str, date], Observation] = {}
    for obs in observations:
        kept[(obs.series, obs.period)] = obs
    return sorted(kept.values(), key=lambda o: (o.series, o.period))
