"""Price parsers: a source's bytes in, ``Observation`` rows out (pure: no I/O, no arithmetic).

Three shapes: FRED's ``fredgraph.csv``, the World Bank Pink Sheet ("CMO Historical Data Monthly",
xlsx or its CSV re-shape) and generic CSV/JSON tables described by a ``TableSpec``. Every parser
returns ``measure=PRICE`` and ``published_at=None`` (the caller sets it), skips missing values,
keeps the *last* row when a period appears twice, and raises ``SourceFormatError`` naming the
source, where (line, row or record) and the offending text.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from typing import Any, Literal

import openpyxl

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation

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


def _fail(source: str, where: str, problem: str) -> SourceFormatError:
    return SourceFormatError(f"{source}: {where}: {problem}", source=source)


def _show(text: object, limit: int = 80) -> str:
    """The offending text, quoted and shortened for an error message."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# --- shared helpers --------------------------------------------------------------------------


def _decode_text(body: bytes, *, source: str, expected: str) -> str:
    """Decode a text payload, refusing the cases a text parser must never see."""
    if not body.strip():
        raise _fail(source, "body", "empty body")
    if body.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        head = body.lstrip()[:60].decode("utf-8", errors="replace")
        raise _fail(source, "body", f"expected {expected}, got HTML/XML starting {_show(head)}")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return body.decode("cp1252", errors="replace")  # old exports; never fails


def _parse_number(raw: object) -> float | None:
    """A value cell as float; ``None`` for a missing marker; ``ValueError``/``TypeError`` else."""
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
    if not math.isfinite(value):
        raise ValueError("not a finite number")
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
                                      f"'DATE,<SERIES>', got {_show(','.join(header))}")
    return names[1]


def _fred_row(fields: list[str], line: int, *, mineral: str, source: str) -> _Row:
    if len(fields) != 2:
        raise _fail(source, f"line {line}",
                    f"expected 2 fields, got {len(fields)}: {_show(','.join(fields))}")
    raw_date, raw_value = (f.strip() for f in fields)
    try:
        day = date.fromisoformat(raw_date)
    except ValueError as exc:
        raise _fail(source, f"line {line}", f"bad date {_show(raw_date)}") from exc
    try:
        value = None if raw_value in ("", ".") else _parse_number(raw_value)
    except ValueError as exc:
        raise _fail(source, f"line {line}", f"bad value {_show(raw_value)}") from exc
    return _Row(mineral, day, value)


# --- World Bank Pink Sheet -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sheet:
    """A Pink Sheet table reduced to what the parser needs, from either xlsx or CSV."""

    header_rows: list[tuple[Any, ...]]
    data_rows: list[tuple[str, date, tuple[Any, ...]]]  # (where, period, cells)
    what: str  # "sheet 'Monthly Prices'" or "CSV", for messages


def parse_pinksheet(
    body: bytes, *, source: str, columns: Mapping[str, str]
) -> list[Observation]:
    """Parse the World Bank "CMO Historical Data Monthly" workbook, or its CSV form.

    ``columns`` maps Pink Sheet codes (``NICKEL``, ``COPPER``...; case-insensitive: the workbook
    writes ``Tin`` and ``Zinc``) to mineral ids. The series is the upper-cased code. The unit
    comes from the workbook's units row (``($/mt)`` -> ``$/mt``), else ``PINKSHEET_UNITS``.
    """
    if not columns:
        raise ValueError("columns must map at least one Pink Sheet code to a mineral")
    wanted = {code.strip().upper(): mineral for code, mineral in columns.items()}
    if len(set(wanted.values())) != len(wanted):
        raise ValueError("columns must map each mineral from one Pink Sheet code only")
    if body.startswith(_XLSX_MAGIC):
        sheet = _read_pinksheet_xlsx(body, source=source)
    else:
        sheet = _read_pinksheet_csv(body, source=source)
    positions = _pinksheet_columns(sheet, wanted, source=source)
    units = {wanted[code]: _pinksheet_unit(sheet.header_rows, code, col)
             for code, col in positions.items()}
    rows = [
        _pinksheet_row(cells, col, wanted[code], period, f"{where}, column {code}", source)
        for where, period, cells in sheet.data_rows
        for code, col in positions.items()
    ]
    return _observations(rows, source=source, series={m: c for c, m in wanted.items()},
                         unit=units, frequency=Frequency.MONTHLY)


def _read_pinksheet_xlsx(body: bytes, *, source: str) -> _Sheet:
    what = f"sheet {PINKSHEET_SHEET!r}"
    try:
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, XML and value errors alike
        raise _fail(source, "workbook", f"not a readable xlsx file: {exc}") from exc
    try:
        if PINKSHEET_SHEET not in book.sheetnames:
            raise _fail(source, "workbook", f"no sheet {PINKSHEET_SHEET!r} "
                                            f"(sheets: {', '.join(book.sheetnames)})")
        try:
            cells = list(book[PINKSHEET_SHEET].iter_rows(values_only=True))
        except Exception as exc:  # a corrupt sheet part fails only when read
            raise _fail(source, what, f"unreadable: {exc}") from exc
    finally:
        book.close()
    header, data = [], []
    for number, row in enumerate(cells, start=1):
        period = _pinksheet_period(row[0] if row else None, f"{what} row {number}", source)
        if period is not None:
            data.append((f"{what} row {number}", period, row))
        elif not data:
            header.append(row)
        # rows after the data that are not periods (notes, blanks) are ignored
    return _Sheet(header, data, what)


def _read_pinksheet_csv(body: bytes, *, source: str) -> _Sheet:
    text = _decode_text(body, source=source, expected="Pink Sheet xlsx or CSV")
    reader = csv.reader(io.StringIO(text))
    try:
        header = tuple(next(reader))
        if not header or header[0].strip().lower() != "date":
            raise _fail(source, "CSV line 1", f"expected a 'date' column first, "
                                              f"got {_show(','.join(header))}")
        data = []
        for row in reader:
            where = f"CSV line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            period = _pinksheet_period(row[0], where, source)
            if period is None:
                raise _fail(source, where, f"bad date {_show(row[0])}")
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
        raise _fail(source, where, f"bad period {_show(text)}") from exc
    return None


def _pinksheet_columns(sheet: _Sheet, wanted: Mapping[str, str], *, source: str) -> dict[str, int]:
    """Find the codes row (the header row holding most wanted codes) and each code's column."""
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
        raise _fail(source, sheet.what, f"codes not found: {', '.join(missing)}")
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
        raise _fail(source, where, f"bad value {_show(raw)}") from exc


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
    Invalid combinations raise ``ValueError``.
    """

    format: Literal["csv", "json"]
    date_field: str
    value_field: str
    mineral: str | None = None
    mineral_field: str | None = None
    unit: str = ""
    date_format: str | None = None
    records_path: str | None = None
    series: str | None = None
    frequency: str | None = None

    def __post_init__(self) -> None:
        if self.format not in ("csv", "json"):
            raise ValueError(f"format must be 'csv' or 'json', not {self.format!r}")
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


def parse_table(body: bytes, *, source: str, spec: TableSpec) -> list[Observation]:
    """Parse a generic CSV or JSON price table described by ``spec``."""
    records = _csv_records(body, source, spec) if spec.format == "csv" else _json_records(
        body, source, spec)
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
                            f"no column {field!r} (columns: {', '.join(header)})")
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            where = f"line {reader.line_num}"
            if len(row) != len(header):
                raise _fail(source, where, f"expected {len(header)} fields, got {len(row)}: "
                                           f"{_show(','.join(row))}")
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
            raise _fail(source, where, f"expected an object, got {_show(record)}")
        yield where, record


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
        raise _fail(source, where, f"field {spec.date_field!r}: bad date {_show(raw_date)}"
                    ) from exc
    try:
        value = _parse_number(raw_value)
    except (TypeError, ValueError) as exc:
        raise _fail(source, where, f"field {spec.value_field!r}: bad value {_show(raw_value)}"
                    ) from exc
    return _Row(_table_mineral(record, where, source, spec), day, value), precision


def _table_mineral(record: Mapping[str, Any], where: str, source: str, spec: TableSpec) -> str:
    if spec.mineral is not None:
        return spec.mineral
    assert spec.mineral_field is not None  # TableSpec guarantees one of the two
    raw = record[spec.mineral_field]
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(source, where, f"field {spec.mineral_field!r}: bad mineral {_show(raw)}")
    return raw.strip()


def _parse_table_date(raw: object, date_format: str | None) -> tuple[date, Frequency | None]:
    """A date and, for ``YYYY`` / ``YYYY-MM``, the frequency its precision implies."""
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
