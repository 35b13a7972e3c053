"""Price parsers: a source's bytes in, ``Observation`` rows out (pure: no network, no store).

Three shapes: FRED's ``fredgraph.csv``, the World Bank Pink Sheet ("CMO Historical Data Monthly",
xlsx or its CSV re-shape) and generic CSV/JSON tables described by a ``TableSpec``. Every parser
returns ``measure=PRICE`` and ``published_at=None`` (the caller sets it), skips missing values,
keeps the *last* row when a period appears twice, and raises ``SourceFormatError`` naming the
source and where (line, row or record). An error describes the offending text by its shape
("text of 12 characters", "3 fields"), never quotes it: a payload may be anything, even a
credentials file, and errors are stored, listed and sent in alerts.

An xlsx workbook is bounded before and while openpyxl reads it: the parts' declared sizes and
count, the bytes actually unzipped per part, the rows and columns read, the length of a cell,
and a deadline (see ``_XlsxGuard``).

:func:`screen_prices` then keeps only plausible values (the poller records what it drops).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import re
import struct
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from types import TracebackType
from typing import IO, Any, Literal, Self

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation
from monitor.core.untrusted import clean_text

PINKSHEET_SHEET = "Monthly Prices"

#: Units of the Pink Sheet's metal and mineral codes, used when no units row is present (the CSV
#: re-shape has none). Codes not listed get ``""`` (unknown) rather than a guess.
PINKSHEET_UNITS: Mapping[str, str] = {
    **dict.fromkeys(
        ("PHOSROCK", "DAP", "TSP", "UREA_EE_BULK", "POTASH", "ALUMINUM", "COPPER", "LEAD", "TIN",
         "NICKEL", "ZINC"),
        "$/mt",
    ),
    "IRON_ORE": "$/dmtu",
    **dict.fromkeys(("GOLD", "PLATINUM", "SILVER"), "$/troy oz"),
}

_FRED_DATE_HEADERS = ("observation_date", "date")
# FRED writes "." for a missing value; the Pink Sheet "…" or "..."; other tables any of these.
_MISSING = frozenset({"", ".", "…", "...", "-", "--", "na", "n/a", "nan", "null", "none"})
_PINK_PERIOD = re.compile(r"(\d{4})M(\d{2})")
_XLSX_MAGIC = b"PK\x03\x04"

_MIB = 2**20
# Bounds on an xlsx workbook. The real "CMO Historical Data Monthly" is about 1 MB zipped, about
# 20 parts; its "Monthly Prices" sheet is ~3 MB of XML, ~800 rows by ~72 columns (growing by 12
# rows a year), and its other parts are small. Each bound leaves ample room above that.
#: Parts in the archive (the central directory is refused before it is read in full above this).
XLSX_MAX_PARTS = 1_000
#: All parts together, unzipped, as declared.
XLSX_MAX_TOTAL_BYTES = 128 * _MIB
#: One part read as a stream (a worksheet, the shared strings), unzipped.
XLSX_MAX_STREAMED_BYTES = 32 * _MIB
#: One part openpyxl reads and parses whole (styles, workbook, relationships, theme): parsing
#: 1 MiB of styles takes about a second, so this bounds the time between two deadline checks.
XLSX_MAX_WHOLE_BYTES = 1 * _MIB
#: Rows and columns of the sheet read (a row far down the sheet is refused, not padded to).
XLSX_MAX_ROWS = 5_000
XLSX_MAX_COLUMNS = 256
#: Excel's own limit on the characters of a cell.
XLSX_MAX_CELL_CHARS = 32_767
#: Parsing time when the caller gives no deadline.
DEFAULT_PARSE_BUDGET_S = 60.0


def _fail(source: str, where: str, problem: str) -> SourceFormatError:
    return SourceFormatError(clean_text(f"{source}: {where}: {problem}"), source=source)


def _shape(raw: object) -> str:
    """What a value looks like, without any of its content: ``text of 12 characters``."""
    if isinstance(raw, str):
        return f"text of {len(raw)} characters"
    if isinstance(raw, bool):
        return "a boolean"
    if isinstance(raw, int | float):
        return "a number"
    if isinstance(raw, list | tuple):
        return "a list"
    if isinstance(raw, dict):
        return "an object"
    return "nothing" if raw is None else f"a {type(raw).__name__}"


def _fields_shape(fields: Sequence[str]) -> str:
    """``1 field of 9 characters`` or ``3 fields, the longest 12 characters``."""
    longest = max((len(f) for f in fields), default=0)
    if len(fields) == 1:
        return f"1 field of {longest} characters"
    return f"{len(fields)} fields, the longest {longest} characters"


# --- shared helpers --------------------------------------------------------------------------


def _decode_text(body: bytes, *, source: str, expected: str) -> str:
    """Decode a text payload, refusing the cases a text parser must never see."""
    if not body.strip():
        raise _fail(source, "body", "empty body")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        raise _fail(source, "body", f"expected {expected}, got HTML/XML of {len(body)} bytes")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")  # old exports; never fails


def _parse_number(raw: object) -> float | None:
    """A value cell as float; ``None`` for a missing marker; ``ValueError``/``TypeError`` else.

    ``inf`` and ``1e999`` come back as they are: :func:`screen_prices` drops them and says so,
    rather than one odd cell failing the whole payload.
    """
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise TypeError("boolean is not a number")
    if isinstance(raw, int | float):
        value = float(raw)
    else:
        text = str(raw).strip()
        if text.lower() in _MISSING:
            return None
        value = float(text.replace(",", ""))
    return value


def _infer_frequency(dates: Iterable[date]) -> Frequency:
    """Annual, monthly or daily from the median spacing of the distinct dates.

    A single date gives MONTHLY when it falls on the 1st, else DAILY. Quarterly series (no
    Frequency for them) come out MONTHLY.
    """
    unique = sorted(set(dates))
    if len(unique) < 2:
        return Frequency.MONTHLY if unique and unique[0].day == 1 else Frequency.DAILY
    gaps = sorted((b - a).days for a, b in pairwise(unique))
    median = gaps[len(gaps) // 2]
    if median >= 360:
        return Frequency.ANNUAL
    if median >= 28:
        return Frequency.MONTHLY
    return Frequency.DAILY


def _period(day: date, frequency: Frequency) -> date:
    """The first day of the period ``day`` falls in."""
    if frequency is Frequency.ANNUAL:
        return date(day.year, 1, 1)
    if frequency is Frequency.MONTHLY:
        return day.replace(day=1)
    return day


@dataclass(frozen=True, slots=True)
class _Row:
    """One parsed value before the series-wide frequency is known."""

    mineral: str
    day: date
    value: float | None


def _observations(
    rows: Sequence[_Row], *, source: str, series: Mapping[str, str], unit: Mapping[str, str],
    frequency: Frequency,
) -> list[Observation]:
    """Build observations, last row per (mineral, period) winning, missing values dropped."""
    latest: dict[tuple[str, date], float | None] = {}
    for row in rows:
        latest[(row.mineral, _period(row.day, frequency))] = row.value
    return [
        Observation(
            source=source, series=series[mineral], mineral=mineral, measure=Measure.PRICE,
            period=period, frequency=frequency, value=value, unit=unit[mineral],
        )
        for (mineral, period), value in sorted(latest.items())
        if value is not None
    ]


# --- FRED ------------------------------------------------------------------------------------


def parse_fred_csv(
    body: bytes, *, source: str, mineral: str, unit: str, series: str | None = None,
    frequency: Frequency | None = None,
) -> list[Observation]:
    """Parse FRED's ``fredgraph.csv`` (header ``observation_date,<ID>`` or the older ``DATE,<ID>``).

    ``series`` defaults to the ID in the header; ``frequency`` is inferred from the date spacing
    unless given. Missing values (``.`` or empty) are skipped.
    """
    text = _decode_text(body, source=source, expected="CSV")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
        series_id = _fred_series_id(header, source=source)
        rows = [_fred_row(fields, reader.line_num, mineral=mineral, source=source)
                for fields in reader if any(f.strip() for f in fields)]
    except csv.Error as exc:
        raise _fail(source, f"line {reader.line_num}", f"malformed CSV: {exc}") from exc
    freq = frequency or _infer_frequency(row.day for row in rows)
    return _observations(rows, source=source, series={mineral: series or series_id},
                         unit={mineral: unit}, frequency=freq)


def _fred_series_id(header: list[str], *, source: str) -> str:
    names = [name.strip() for name in header]
    if len(names) != 2 or names[0].lower() not in _FRED_DATE_HEADERS or not names[1]:
        raise _fail(source, "line 1", f"expected header 'observation_date,<SERIES>' or "
                                      f"'DATE,<SERIES>', got {_fields_shape(header)}")
    return names[1]


def _fred_row(fields: list[str], line: int, *, mineral: str, source: str) -> _Row:
    if len(fields) != 2:
        raise _fail(source, f"line {line}", f"expected 2 fields, got {_fields_shape(fields)}")
    raw_date, raw_value = (f.strip() for f in fields)
    try:
        day = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise _fail(source, f"line {line}", f"bad date ({_shape(raw_date)})") from exc
    try:
        value = None if raw_value in ("", ".") else _parse_number(raw_value)
    except ValueError as exc:
        raise _fail(source, f"line {line}", f"bad value ({_shape(raw_value)})") from exc
    return _Row(mineral, day, value)


# --- World Bank Pink Sheet -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A Pink Sheet table reduced to what the parser needs, from either xlsx or CSV."""

    header_rows: list[tuple[Any, ...]]
    data_rows: list[tuple[str, date, tuple[Any, ...]]]  # (where, period, cells)
    what: str  # "sheet 'Monthly Prices'" or "CSV", for messages


def parse_pinksheet(
    body: bytes, *, source: str, columns: Mapping[str, str], deadline: float | None = None,
    on_missing: Callable[[str], None] | None = None,
) -> list[Observation]:
    """Parse the World Bank "CMO Historical Data Monthly" workbook, or its CSV form.

    ``columns`` maps Pink Sheet codes (``NICKEL``, ``COPPER``...; case-insensitive: the workbook
    writes ``Tin`` and ``Zinc``) to mineral ids. The series is the upper-cased code. The unit
    comes from the workbook's units row (``($/mt)`` -> ``$/mt``), else ``PINKSHEET_UNITS``.
    ``deadline`` (a ``time.monotonic()`` value; default ``DEFAULT_PARSE_BUDGET_S`` from now)
    bounds the time spent reading a workbook.

    ``on_missing``, when given, gets the message naming the mapped codes the sheet lacks (a
    renamed or dropped column) and the others are read; without it, or when none is found,
    a missing code fails the parse.
    """
    if not columns:
        raise ValueError("columns must map at least one Pink Sheet code to a mineral")
    wanted = {code.strip().upper(): mineral for code, mineral in columns.items()}
    if len(set(wanted.values())) != len(wanted):
        raise ValueError("columns must map each mineral from one Pink Sheet code only")
    if body.startswith(_XLSX_MAGIC):
        if deadline is None:
            deadline = time.monotonic() + DEFAULT_PARSE_BUDGET_S
        sheet = _read_pinksheet_xlsx(body, source=source, deadline=deadline)
    else:
        sheet = _read_pinksheet_csv(body, source=source)
    positions = _pinksheet_columns(sheet, wanted, source=source, on_missing=on_missing)
    units = {wanted[code]: _pinksheet_unit(sheet.header_rows, code, col)
             for code, col in positions.items()}
    rows = [
        _pinksheet_row(cells, col, wanted[code], period, f"{where}, column {code}", source)
        for where, period, cells in sheet.data_rows
        for code, col in positions.items()
    ]
    return _observations(rows, source=source, series={m: c for c, m in wanted.items()},
                         unit=units, frequency=Frequency.MONTHLY)


def _open_workbook(body: bytes, source: str, guard: _XlsxGuard) -> Any:
    """openpyxl's workbook of ``body``, read within ``guard``'s bounds; a clear error else."""
    try:
        _check_archive(body)
        return _guarded_excel_reader()(body, guard).read_book()
    except _XlsxLimit as exc:
        raise _fail(source, "workbook", str(exc)) from exc
    except Exception as exc:  # openpyxl raises zipfile, KeyError, XML and value errors alike
        raise _fail(source, "workbook", f"not a readable xlsx file ({type(exc).__name__})"
                    ) from exc


def _read_pinksheet_xlsx(body: bytes, *, source: str, deadline: float) -> _Sheet:
    what = f"sheet {PINKSHEET_SHEET!r}"
    guard = _XlsxGuard(deadline)
    book = _open_workbook(body, source, guard)
    try:
        if PINKSHEET_SHEET not in book.sheetnames:
            count = len(book.sheetnames)
            raise _fail(source, "workbook", f"no sheet {PINKSHEET_SHEET!r} (the workbook has "
                                            f"{count} sheet{'' if count == 1 else 's'})")
        try:
            header, data = _pinksheet_xlsx_rows(book[PINKSHEET_SHEET], what, source, guard)
        except _XlsxLimit as exc:
            raise _fail(source, what, str(exc)) from exc
        except SourceFormatError:
            raise
        except Exception as exc:  # a corrupt sheet part fails only when read
            raise _fail(source, what, f"unreadable ({type(exc).__name__})") from exc
    finally:
        book.close()
    return _Sheet(header, data, what)


def _pinksheet_xlsx_rows(
    worksheet: Any, what: str, source: str, guard: _XlsxGuard
) -> tuple[list[tuple[Any, ...]], list[tuple[str, date, tuple[Any, ...]]]]:
    """The header rows and the data rows of the sheet, within the row, column and cell bounds."""
    header: list[tuple[Any, ...]] = []
    data: list[tuple[str, date, tuple[Any, ...]]] = []
    rows = worksheet.iter_rows(max_col=XLSX_MAX_COLUMNS, values_only=True)
    for number, row in enumerate(rows, start=1):
        guard.check()
        if number > XLSX_MAX_ROWS:
            raise _XlsxLimit(f"more than {XLSX_MAX_ROWS} rows")
        if any(isinstance(cell, str) and len(cell) > XLSX_MAX_CELL_CHARS for cell in row):
            raise _XlsxLimit(f"row {number}: a cell longer than {XLSX_MAX_CELL_CHARS} characters")
        period = _pinksheet_period(row[0] if row else None, f"{what} row {number}", source)
        if period is not None:
            data.append((f"{what} row {number}", period, row))
        elif not data:
            header.append(row)
        # rows after the data that are not periods (notes, blanks) are ignored
    return header, data


class _XlsxLimit(Exception):
    """A workbook went past one of the XLSX_* bounds or the parse deadline."""


class _XlsxGuard:
    """The deadline of one workbook parse, checked on every read openpyxl makes and every row."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.budget_s = max(0.0, deadline - time.monotonic())

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _XlsxLimit(f"parsing took longer than {self.budget_s:.3g}s")


def _part_role(name: str) -> str:
    """A part named by its role, for messages (a part's name is the payload's, not quoted)."""
    if name == "xl/sharedStrings.xml":
        return "the shared strings part"
    if name == "xl/styles.xml":
        return "the styles part"
    if name.startswith("xl/worksheets/"):
        return "a worksheet"
    return "a part"


def _mib(size: int) -> str:
    return f"{size / _MIB:.3g} MiB"


def _check_archive(body: bytes) -> None:
    """Refuse a zip whose part count or declared unzipped sizes are over the bounds.

    The count is read from the end-of-central-directory record first, so a directory of a
    million entries is refused before ``zipfile`` builds an object for each.
    """
    end = body.rfind(b"PK\x05\x06", max(0, len(body) - 22 - 0xFFFF))
    if end >= 0 and end + 22 <= len(body):
        declared = struct.unpack_from("<H", body, end + 10)[0]
        if declared > XLSX_MAX_PARTS:  # 0xFFFF: a zip64 directory, larger still
            raise _XlsxLimit(f"{declared} parts, over the limit of {XLSX_MAX_PARTS}")
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        parts = archive.infolist()
    if len(parts) > XLSX_MAX_PARTS:
        raise _XlsxLimit(f"{len(parts)} parts, over the limit of {XLSX_MAX_PARTS}")
    for part in parts:
        if part.file_size > XLSX_MAX_STREAMED_BYTES:
            raise _XlsxLimit(f"{_part_role(part.filename)} unzips to {_mib(part.file_size)}, "
                             f"over the limit of {_mib(XLSX_MAX_STREAMED_BYTES)}")
    total = sum(part.file_size for part in parts)
    if total > XLSX_MAX_TOTAL_BYTES:
        raise _XlsxLimit(f"the parts unzip to {_mib(total)}, over the limit of "
                         f"{_mib(XLSX_MAX_TOTAL_BYTES)}")


class _GuardedPart:
    """One part as openpyxl reads it: unzipped bytes counted against a cap, deadline checked.

    A part read whole (``read()``: styles, workbook, relationships) may unzip to at most
    ``XLSX_MAX_WHOLE_BYTES``, as it is parsed in one go; one read in chunks (worksheets, shared
    strings, by ``iterparse``) to ``XLSX_MAX_STREAMED_BYTES``. ``zipfile`` itself stops at the
    declared size and checks the CRC, so a part cannot unzip to more than it declared either.
    """

    def __init__(self, inner: IO[bytes], name: str, guard: _XlsxGuard) -> None:
        self._inner = inner
        self._name = name
        self._guard = guard
        self._read = 0

    def read(self, size: int | None = -1) -> bytes:
        self._guard.check()
        whole = size is None or size < 0
        cap = XLSX_MAX_WHOLE_BYTES if whole else XLSX_MAX_STREAMED_BYTES
        want = cap + 1 - self._read if whole else min(size or 0, cap + 1 - self._read)
        data = self._inner.read(max(0, want))
        self._read += len(data)
        if self._read > cap:
            how = "read whole" if whole else "read"
            raise _XlsxLimit(f"{_part_role(self._name)} unzips to more than {_mib(cap)}, "
                             f"over the limit for a part {how}")
        return data

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class _GuardedZipFile(zipfile.ZipFile):
    """The archive openpyxl reads from: every part it opens goes through a ``_GuardedPart``."""

    def __init__(self, body: bytes, guard: _XlsxGuard) -> None:
        super().__init__(io.BytesIO(body))
        self._guard = guard

    def open(self, name: str | zipfile.ZipInfo, mode: Literal["r", "w"] = "r",
             pwd: bytes | None = None, *, force_zip64: bool = False) -> Any:
        self._guard.check()
        inner = super().open(name, mode, pwd, force_zip64=force_zip64)
        part = name.filename if isinstance(name, zipfile.ZipInfo) else name
        return _GuardedPart(inner, part, self._guard) if mode == "r" else inner


@functools.cache
def _guarded_excel_reader() -> type:
    """The reader class, defined at first use: openpyxl is imported only to read a workbook
    (the daemon polls CSV sources far more often, and keeps its memory small)."""
    from openpyxl.reader.excel import ExcelReader

    class _GuardedExcelReader(ExcelReader):  # type: ignore[misc]
        """openpyxl's reader (read-only, values only, no external links) on a guarded archive."""

        def __init__(self, body: bytes, guard: _XlsxGuard) -> None:
            super().__init__(io.BytesIO(body), read_only=True, data_only=True, keep_links=False)
            self.archive.close()
            self.archive = _GuardedZipFile(body, guard)

        def read_book(self) -> Any:
            self.read()
            return self.wb

    return _GuardedExcelReader


def _read_pinksheet_csv(body: bytes, *, source: str) -> _Sheet:
    text = _decode_text(body, source=source, expected="Pink Sheet xlsx or CSV")
    reader = csv.reader(io.StringIO(text))
    try:
        header = tuple(next(reader))
        if not header or header[0].strip().lower() != "date":
            raise _fail(source, "CSV line 1", f"expected a 'date' column first, "
                                              f"got {_fields_shape(header)}")
        data = []
        for row in reader:
            where = f"CSV line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            period = _pinksheet_period(row[0], where, source)
            if period is None:
                raise _fail(source, where, f"bad date ({_shape(row[0])})")
            if len(row) != len(header):
                raise _fail(source, where, f"expected {len(header)} fields, got {len(row)}")
            data.append((where, period, tuple(row)))
    except csv.Error as exc:
        raise _fail(source, f"CSV line {reader.line_num}", f"malformed CSV: {exc}") from exc
    return _Sheet([header], data, "CSV")


def _pinksheet_period(cell: object, where: str, source: str) -> date | None:
    """``1960M01`` (workbook) or ``1960-01-01`` (CSV) as the month's first day; None if neither."""
    if isinstance(cell, datetime | date):
        return date(cell.year, cell.month, 1)
    if not isinstance(cell, str):
        return None
    text = cell.strip()
    try:
        if match := _PINK_PERIOD.fullmatch(text):
            return date(int(match[1]), int(match[2]), 1)
        if len(text) == 10 and text[4] == "-":
            return date.fromisoformat(text).replace(day=1)
    except ValueError as exc:
        raise _fail(source, where, f"bad period ({_shape(text)})") from exc
    return None


def _pinksheet_columns(sheet: _Sheet, wanted: Mapping[str, str], *, source: str,
                       on_missing: Callable[[str], None] | None = None) -> dict[str, int]:
    """Find the codes row (the header row holding most wanted codes) and each code's column.

    Codes not found fail the parse, unless ``on_missing`` takes the message and some are found.
    """
    best: dict[str, int] = {}
    for row in sheet.header_rows:
        found: dict[str, int] = {}
        for col, cell in enumerate(row):
            code = str(cell).strip().upper() if isinstance(cell, str) else ""
            if code in wanted and code not in found:
                found[code] = col
        if len(found) > len(best):
            best = found
    if not sheet.data_rows:
        raise _fail(source, sheet.what, "no data rows (periods like 1960M01)")
    missing = sorted(set(wanted) - set(best))
    if missing:
        problem = f"codes not found: {', '.join(missing)}"
        if on_missing is None or not best:
            raise _fail(source, sheet.what, problem)
        on_missing(f"{sheet.what}: {problem} (renamed or removed in this release?)")
    return best


def _pinksheet_unit(header_rows: Sequence[tuple[Any, ...]], code: str, col: int) -> str:
    for row in header_rows:
        cell = row[col] if col < len(row) else None
        if isinstance(cell, str) and (match := re.fullmatch(r"\s*\((.+)\)\s*", cell)):
            return match[1].strip()
    return PINKSHEET_UNITS.get(code, "")


def _pinksheet_row(
    cells: tuple[Any, ...], col: int, mineral: str, period: date, where: str, source: str
) -> _Row:
    raw = cells[col] if col < len(cells) else None
    try:
        return _Row(mineral, period, _parse_number(raw))
    except (TypeError, ValueError) as exc:
        raise _fail(source, where, f"bad value ({_shape(raw)})") from exc


# --- generic CSV / JSON tables ---------------------------------------------------------------

_FREQUENCY_NAMES = {"annual": Frequency.ANNUAL, "monthly": Frequency.MONTHLY,
                    "daily": Frequency.DAILY}


@dataclass(frozen=True)
class TableSpec:
    """How to read a generic CSV or JSON price table.

    Exactly one of ``mineral`` (the whole table is one mineral) or ``mineral_field`` (a column
    names the mineral) must be set. ``date_format`` is a ``strptime`` format; without it dates
    are ISO (``2024-03-15``, ``2024-03-15T00:00:00Z``), ``2024-03`` or ``2024``.
    ``records_path`` is the dotted path to the list of records in a JSON document
    (``data.observations``; digits index lists); without it the document must be a list.
    ``series`` defaults to ``value_field``; with ``mineral_field`` it becomes
    ``<series>:<mineral>`` so each mineral's rows keep a distinct natural key.
    ``frequency`` is ``A``/``M``/``D`` (or annual/monthly/daily); inferred when ``None``.
    An ``xlsx`` table is read from ``sheet`` (default: the first sheet); its header is the
    first of the top 20 rows that names every field used; date cells may be Excel dates.
    Invalid combinations raise ``ValueError``.
    """

    format: Literal["csv", "json", "xlsx"]
    date_field: str
    value_field: str
    mineral: str | None = None
    mineral_field: str | None = None
    unit: str = ""
    date_format: str | None = None
    records_path: str | None = None
    series: str | None = None
    frequency: str | None = None
    sheet: str | None = None

    def __post_init__(self) -> None:
        if self.format not in ("csv", "json", "xlsx"):
            raise ValueError(f"format must be 'csv', 'json' or 'xlsx', not {self.format!r}")
        if self.sheet is not None and self.format != "xlsx":
            raise ValueError("sheet applies to xlsx tables only")
        if (self.mineral is None) == (self.mineral_field is None):
            raise ValueError("set exactly one of mineral and mineral_field")
        if self.records_path is not None and self.format != "json":
            raise ValueError("records_path applies to JSON tables only")
        if self.frequency is not None:
            self.parsed_frequency()  # raises on an unknown name

    def parsed_frequency(self) -> Frequency | None:
        """``frequency`` as a ``Frequency`` (None when it is to be inferred)."""
        if self.frequency is None:
            return None
        name = self.frequency.strip()
        if name.lower() in _FREQUENCY_NAMES:
            return _FREQUENCY_NAMES[name.lower()]
        try:
            return Frequency(name.upper())
        except ValueError:
            raise ValueError(f"unknown frequency {self.frequency!r}; use A, M or D") from None


def parse_table(body: bytes, *, source: str, spec: TableSpec, deadline: float | None = None
                ) -> list[Observation]:
    """Parse a generic CSV, JSON or xlsx price table described by ``spec``.

    ``deadline`` (``time.monotonic()``) bounds the read of a workbook.
    """
    records: Iterable[tuple[str, dict]]
    if spec.format == "csv":
        records = _csv_records(body, source, spec)
    elif spec.format == "json":
        records = _json_records(body, source, spec)
    else:
        records = _xlsx_records(body, source, spec, deadline)
    rows: list[_Row] = []
    precisions: set[Frequency | None] = set()
    for where, record in records:
        row, precision = _table_row(record, where, source, spec)
        rows.append(row)
        precisions.add(precision)
    frequency = spec.parsed_frequency()
    if frequency is None:
        # Dates written as YYYY or YYYY-MM say their frequency; full dates need the spacing.
        only = precisions.pop() if len(precisions) == 1 else None
        frequency = only or _infer_frequency(row.day for row in rows)
    base = spec.series or spec.value_field
    minerals = {row.mineral for row in rows}
    series = {m: base if spec.mineral else f"{base}:{m}" for m in minerals}
    return _observations(rows, source=source, series=series,
                         unit=dict.fromkeys(minerals, spec.unit), frequency=frequency)


def _csv_records(body: bytes, source: str, spec: TableSpec) -> Iterator[tuple[str, dict]]:
    text = _decode_text(body, source=source, expected="CSV")
    reader = csv.reader(io.StringIO(text))
    try:
        header = [name.strip() for name in next(reader)]
        for field in _required_fields(spec):
            if field not in header:
                raise _fail(source, "line 1",
                            f"no column {field!r} (the header has {len(header)} columns)")
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            where = f"line {reader.line_num}"
            if len(row) != len(header):
                raise _fail(source, where,
                            f"expected {len(header)} fields, got {_fields_shape(row)}")
            yield where, dict(zip(header, row, strict=True))
    except csv.Error as exc:
        raise _fail(source, f"line {reader.line_num}", f"malformed CSV: {exc}") from exc


def _json_records(body: bytes, source: str, spec: TableSpec) -> Iterator[tuple[str, dict]]:
    text = _decode_text(body, source=source, expected="JSON")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(source, f"line {exc.lineno} column {exc.colno}",
                    f"invalid JSON: {exc.msg}") from exc
    path = spec.records_path or ""
    records = _follow(document, path, source)
    for index, record in enumerate(records):
        where = f"record {path}[{index}]"
        if not isinstance(record, dict):
            raise _fail(source, where, f"expected an object, got {_shape(record)}")
        yield where, record


#: The header of an xlsx table must be within this many rows of the top (titles come first).
XLSX_HEADER_SEARCH_ROWS = 20


def _xlsx_records(body: bytes, source: str, spec: TableSpec, deadline: float | None
                  ) -> list[tuple[str, dict]]:
    """The rows under the header of an xlsx sheet, read within the XLSX_* bounds."""
    if not body.startswith(_XLSX_MAGIC):
        head = body.lstrip(b"\xef\xbb\xbf \t\r\n")
        got = (f"HTML/XML of {len(body)} bytes" if head.startswith(b"<")
               else f"{len(body)} bytes that are not a zip")
        raise _fail(source, "body", f"expected an xlsx workbook, got {got}")
    guard = _XlsxGuard(deadline if deadline is not None
                       else time.monotonic() + DEFAULT_PARSE_BUDGET_S)
    book = _open_workbook(body, source, guard)
    try:
        name = spec.sheet if spec.sheet is not None else book.sheetnames[0]
        if name not in book.sheetnames:
            raise _fail(source, "workbook", f"no sheet {name!r} (the workbook has "
                                            f"{len(book.sheetnames)} sheets)")
        try:
            return _xlsx_table_rows(book[name], f"sheet {name!r}", source, spec, guard)
        except _XlsxLimit as exc:
            raise _fail(source, f"sheet {name!r}", str(exc)) from exc
        except SourceFormatError:
            raise
        except Exception as exc:  # a corrupt sheet part fails only when read
            raise _fail(source, f"sheet {name!r}", f"unreadable ({type(exc).__name__})"
                        ) from exc
    finally:
        book.close()


def _xlsx_table_rows(worksheet: Any, what: str, source: str, spec: TableSpec,
                     guard: _XlsxGuard) -> list[tuple[str, dict]]:
    required = _required_fields(spec)
    header: list[str] | None = None
    records: list[tuple[str, dict]] = []
    for number, row in enumerate(worksheet.iter_rows(max_col=XLSX_MAX_COLUMNS,
                                                     values_only=True), start=1):
        guard.check()
        if number > XLSX_MAX_ROWS:
            raise _XlsxLimit(f"more than {XLSX_MAX_ROWS} rows")
        if any(isinstance(cell, str) and len(cell) > XLSX_MAX_CELL_CHARS for cell in row):
            raise _XlsxLimit(f"row {number}: a cell longer than {XLSX_MAX_CELL_CHARS} characters")
        if header is None:
            names = [str(cell).strip() if cell is not None else "" for cell in row]
            if all(field in names for field in required):
                header = names
            elif number >= XLSX_HEADER_SEARCH_ROWS:
                break
            continue
        if all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in row):
            continue
        records.append((f"{what} row {number}",
                        {name: cell for name, cell in zip(header, row, strict=False) if name}))
    if header is None:
        raise _fail(source, what, f"no header row naming {', '.join(map(repr, required))} in "
                                  f"the first {XLSX_HEADER_SEARCH_ROWS} rows")
    return records


def _follow(document: object, path: str, source: str) -> list[Any]:
    node = document
    walked: list[str] = []
    for key in path.split(".") if path else []:
        walked.append(key)
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            raise _fail(source, "records_path", f"{'.'.join(walked)!r} not found")
    if not isinstance(node, list):
        raise _fail(source, "records_path", f"{path or '<document>'!r} is not a list "
                                            f"but {type(node).__name__}")
    return node


def _required_fields(spec: TableSpec) -> list[str]:
    fields = [spec.date_field, spec.value_field]
    return [*fields, spec.mineral_field] if spec.mineral_field else fields


def _table_row(
    record: Mapping[str, Any], where: str, source: str, spec: TableSpec
) -> tuple[_Row, Frequency | None]:
    for field in _required_fields(spec):
        if field not in record:
            raise _fail(source, where, f"field {field!r} is missing")
    raw_date, raw_value = record[spec.date_field], record[spec.value_field]
    try:
        day, precision = _parse_table_date(raw_date, spec.date_format)
    except (TypeError, ValueError) as exc:
        raise _fail(source, where, f"field {spec.date_field!r}: bad date ({_shape(raw_date)})"
                    ) from exc
    try:
        value = _parse_number(raw_value)
    except (TypeError, ValueError) as exc:
        raise _fail(source, where,
                    f"field {spec.value_field!r}: bad value ({_shape(raw_value)})") from exc
    return _Row(_table_mineral(record, where, source, spec), day, value), precision


def _table_mineral(record: Mapping[str, Any], where: str, source: str, spec: TableSpec) -> str:
    if spec.mineral is not None:
        return spec.mineral
    assert spec.mineral_field is not None  # TableSpec guarantees one of the two
    raw = record[spec.mineral_field]
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(source, where, f"field {spec.mineral_field!r}: bad mineral ({_shape(raw)})")
    return raw.strip()


def _parse_table_date(raw: object, date_format: str | None) -> tuple[date, Frequency | None]:
    """A date and, for ``YYYY`` / ``YYYY-MM``, the frequency its precision implies."""
    if isinstance(raw, datetime):  # an Excel date cell
        return raw.date(), None
    if isinstance(raw, date):
        return raw, None
    if isinstance(raw, float) and raw.is_integer():  # a year typed as a number in a sheet
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise TypeError(f"expected text, got {type(raw).__name__}")
    text = str(raw).strip()
    if date_format:
        return datetime.strptime(text, date_format).date(), None
    if re.fullmatch(r"\d{4}", text):
        return date(int(text), 1, 1), Frequency.ANNUAL
    if re.fullmatch(r"\d{4}-\d{2}", text):
        return date(int(text[:4]), int(text[5:]), 1), Frequency.MONTHLY
    if len(text) == 10:
        return date.fromisoformat(text), None
    return datetime.fromisoformat(text).date(), None


# --- plausibility ----------------------------------------------------------------------------

#: A value more than this factor above or below the previous value of its series is refused.
#: The largest month-on-month moves of any series in the bundled Pink Sheet history 1960-2025
#: are urea x4.41 (Dec 1973 -> Jan 1974) and phosphate rock x4.00 (Dec 1976 -> Jan 1977); for
#: the metals x1.79 (nickel, Feb -> Mar 1988); the largest 12-month move is x6.6 (phosphate rock
#: 2007-08). 20 is well above all of them, and far below a unit slip (x1000, x2204.6) or 1e308.
MAX_JUMP_FACTOR = 20.0
#: No mineral price in any unit comes near this (rhodium is about 5e8 USD/t).
MAX_PRICE = 1e12


@dataclass(frozen=True, slots=True)
class Screened:
    """The plausible observations of a payload, and one line per value dropped."""

    kept: list[Observation]
    problems: list[str]


def screen_prices(
    observations: Iterable[Observation], *, today: date,
    history: Mapping[str, Sequence[tuple[date, float]]] | None = None,
) -> Screened:
    """Drop the values no real price can have, saying why for each.

    Refused: a period starting after ``today`` (a row dated 2099 would become the current
    price and hide staleness), a value that is not finite, not positive or over ``MAX_PRICE``,
    and a jump by more than ``MAX_JUMP_FACTOR`` from the previous kept value of the same
    series. ``history`` gives each series' stored ``(period, value)`` pairs, so a payload of
    one new row is compared with what came before it; the payload wins where both have a
    period. A dropped value is never the reference for the next one.
    """
    by_series: dict[str, list[Observation]] = {}
    for observation in observations:
        by_series.setdefault(observation.series, []).append(observation)
    kept: list[Observation] = []
    problems: list[str] = []
    for series, rows in by_series.items():
        stored = (history or {}).get(series, ())
        _screen_series(series, rows, stored, today, kept, problems)
    return Screened(kept, problems)


def _screen_series(
    series: str, rows: Sequence[Observation], stored: Iterable[tuple[date, float]],
    today: date, kept: list[Observation], problems: list[str],
) -> None:
    timeline: dict[date, Observation | float] = {period: value for period, value in stored}
    timeline.update((row.period, row) for row in rows)
    previous: float | None = None
    for period in sorted(timeline):
        entry = timeline[period]
        if not isinstance(entry, Observation):
            previous = entry
            continue
        problem = _implausible(entry, previous, today)
        if problem:
            problems.append(f"{series} {period.isoformat()} {problem}")
            continue
        kept.append(entry)
        previous = entry.value


def _implausible(row: Observation, previous: float | None, today: date) -> str | None:
    """Why ``row`` cannot be a real price, or None."""
    value = row.value
    if row.period > today:
        return "is after today"
    if value is None or not math.isfinite(value):
        return "is not a finite number"
    if value <= 0:
        return "is not positive"
    if value > MAX_PRICE:
        return f"jumps over {MAX_PRICE:.0e}, more than any price"
    if previous is not None and previous > 0:
        ratio = value / previous
        if not 1 / MAX_JUMP_FACTOR <= ratio <= MAX_JUMP_FACTOR:
            return f"jumps x{ratio:.2g} from the previous value (the limit is x{MAX_JUMP_FACTOR:g})"
    return None


def describe_problems(problems: Sequence[str], *, shown: int = 3) -> str:
    """``3 implausible rows dropped: A; B; C`` (the first ``shown``, then how many more)."""
    head = "; ".join(problems[:shown])
    more = f"; and {len(problems) - shown} more" if len(problems) > shown else ""
    noun = "row" if len(problems) == 1 else "rows"
    return f"{len(problems)} implausible {noun} dropped: {head}{more}"
