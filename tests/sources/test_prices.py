"""Price parsers: FRED CSV, the World Bank Pink Sheet (xlsx and CSV) and generic tables."""

from __future__ import annotations

import io
import json
import math
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation
from monitor.sources.prices import (
    MAX_JUMP_FACTOR,
    TableSpec,
    parse_fred_csv,
    parse_pinksheet,
    parse_table,
    screen_prices,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "prices"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fred(text: str, **kwargs: object) -> list[Observation]:
    options = {"source": "fred_nickel", "mineral": "nickel", "unit": "USD/t", **kwargs}
    return parse_fred_csv(text.encode(), **options)  # type: ignore[arg-type]


# --- FRED ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "series", "count", "first", "last"),
    [
        pytest.param("PCOPPUSDM_observation_date_header.csv", "PCOPPUSDM", 301,
                     (date(2000, 1, 1), 1843.85), (date(2025, 1, 1), 8976.680434782609),
                     id="observation_date-header"),
        pytest.param("PNICKUSDM_DATE_header.csv", "PNICKUSDM", 362,
                     (date(1990, 1, 1), 7056.0), (date(2020, 2, 1), 12715.55),
                     id="DATE-header"),
    ],
)
def test_fred_real_files_in_both_header_styles(
    name: str, series: str, count: int, first: tuple[date, float], last: tuple[date, float]
) -> None:
    observations = parse_fred_csv(fixture(name), source="fred", mineral="m", unit="USD/t")

    assert len(observations) == count
    assert (observations[0].period, observations[0].value) == first
    assert (observations[-1].period, observations[-1].value) == last
    assert {o.series for o in observations} == {series}
    assert {o.frequency for o in observations} == {Frequency.MONTHLY}
    assert {(o.source, o.mineral, o.unit, o.measure) for o in observations} == {
        ("fred", "m", "USD/t", Measure.PRICE)
    }
    assert all(o.published_at is None for o in observations)


def test_fred_series_can_be_renamed() -> None:
    observations = fred("DATE,PNICKUSDM\n2020-01-01,1\n", series="imf_nickel")

    assert observations[0].series == "imf_nickel"


@pytest.mark.parametrize("missing", [".", ""], ids=["dot", "empty"])
def test_fred_missing_values_are_skipped(missing: str) -> None:
    observations = fred(f"DATE,X\n2020-01-01,1\n2020-02-01,{missing}\n2020-03-01,3\n")

    assert [(o.period.month, o.value) for o in observations] == [(1, 1.0), (3, 3.0)]
    assert observations[0].frequency is Frequency.MONTHLY  # the gap does not make it bimonthly


def test_fred_duplicate_date_keeps_the_last_row() -> None:
    observations = fred("DATE,X\n2020-01-01,1\n2020-02-01,2\n2020-02-01,2.5\n")

    assert [(o.period, o.value) for o in observations] == [
        (date(2020, 1, 1), 1.0), (date(2020, 2, 1), 2.5)
    ]


@pytest.mark.parametrize(
    ("text", "frequency"),
    [
        pytest.param("DATE,X\n2020-01-01,1\n2021-01-01,2\n2022-01-01,3\n", Frequency.ANNUAL,
                     id="annual"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-01,2\n2020-03-01,3\n", Frequency.MONTHLY,
                     id="monthly"),
        pytest.param("DATE,X\n2020-01-06,1\n2020-01-07,2\n2020-01-08,3\n", Frequency.DAILY,
                     id="daily"),
    ],
)
def test_fred_frequency_follows_the_date_spacing(text: str, frequency: Frequency) -> None:
    assert {o.frequency for o in fred(text)} == {frequency}


def test_fred_accepts_bom_and_crlf() -> None:
    body = b"\xef\xbb\xbfobservation_date,X\r\n2020-01-01,1.5\r\n"

    observations = parse_fred_csv(body, source="s", mineral="m", unit="u")

    assert [(o.series, o.value) for o in observations] == [("X", 1.5)]


def test_fred_header_only_is_no_observations() -> None:
    assert fred("observation_date,X\n") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("<!DOCTYPE html><html><body>Series not found</body></html>",
                     r"fred_nickel: body: expected CSV, got HTML", id="html"),
        pytest.param("   \n", "fred_nickel: body: empty body", id="empty"),
        pytest.param("period,X\n2020-01-01,1\n",
                     "fred_nickel: line 1: expected header .* got 2 fields, the longest 6 characters",
                     id="wrong-header"),
        pytest.param("DATE,X,Y\n2020-01-01,1,2\n", "line 1: expected header", id="extra-column"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-0",
                     r"line 3: expected 2 fields, got 1 field of 9 characters", id="truncated-row"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-0,2\n",
                     r"line 3: bad date \(text of 9 characters\)", id="truncated-date"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-01,12O5\n",
                     r"line 3: bad value \(text of 4 characters\)", id="bad-value"),
        pytest.param("DATE,X\n2020-13-01,1\n", r"line 2: bad date \(text of 10 characters\)",
                     id="bad-month"),
    ],
)
def test_fred_bad_payloads_name_source_line_and_shape(text: str, expected: str) -> None:
    with pytest.raises(SourceFormatError, match=expected) as info:
        fred(text)

    assert info.value.source == "fred_nickel"


def test_fred_empty_bytes() -> None:
    with pytest.raises(SourceFormatError, match="empty body"):
        parse_fred_csv(b"", source="s", mineral="m", unit="u")


# --- World Bank Pink Sheet -------------------------------------------------------------------

PINK_COLUMNS = {"NICKEL": "nickel", "COPPER": "copper", "Tin": "tin", "zinc": "zinc",
                "IRON_ORE": "iron_ore", "GOLD": "gold", "DAP": "dap"}


def by_key(observations: list[Observation]) -> dict[tuple[str, date], Observation]:
    return {(o.mineral, o.period): o for o in observations}


def test_pinksheet_xlsx_fixture() -> None:
    observations = by_key(parse_pinksheet(
        fixture("pinksheet_monthly_small.xlsx"), source="wb", columns=PINK_COLUMNS
    ))

    nickel = observations[("nickel", date(2025, 11, 1))]
    assert (nickel.value, nickel.unit, nickel.series) == (14670.77, "$/mt", "NICKEL")
    assert (nickel.source, nickel.measure, nickel.frequency) == ("wb", Measure.PRICE,
                                                                 Frequency.MONTHLY)
    assert nickel.published_at is None
    assert observations[("tin", date(1960, 1, 1))].series == "TIN"  # the workbook says "Tin"
    assert observations[("copper", date(1960, 1, 1))].value == 715.4
    assert observations[("gold", date(2024, 1, 1))].unit == "$/troy oz"
    assert observations[("iron_ore", date(2024, 2, 1))].unit == "$/dmtu"
    # 12 months of 1960 + 23 months of 2024-2025 per code; DAP is "..." through 1960.
    per_mineral = {m: sum(1 for k in observations if k[0] == m) for m in PINK_COLUMNS.values()}
    assert per_mineral == {**dict.fromkeys(PINK_COLUMNS.values(), 35), "dap": 23}


def test_pinksheet_xlsx_and_csv_give_the_same_observations() -> None:
    from_xlsx = parse_pinksheet(fixture("pinksheet_monthly_small.xlsx"), source="wb",
                                columns=PINK_COLUMNS)
    from_csv = parse_pinksheet(fixture("pinksheet_monthly_small.csv"), source="wb",
                               columns=PINK_COLUMNS)

    assert len(from_xlsx) == len(from_csv) == 6 * 35 + 23
    for x, c in zip(from_xlsx, from_csv, strict=True):
        assert (x.mineral, x.period, x.series, x.unit, x.frequency) == (
            c.mineral, c.period, c.series, c.unit, c.frequency)
        # The CSV re-shape rounds to 6 significant figures (511.47183227539 -> 511.472).
        assert x.value == pytest.approx(c.value, rel=1e-5)


def workbook(rows: list[list[object]], sheet: str = "Monthly Prices") -> bytes:
    book = openpyxl.Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


CODES = [None, "COPPER", "COBALT_X"]


def test_pinksheet_without_units_row_uses_default_units() -> None:
    body = workbook([["Pink Sheet"], CODES, ["2024M01", 8000, 1], ["2024M02", "…", 2]])

    observations = parse_pinksheet(body, source="wb", columns={"COPPER": "copper",
                                                                "COBALT_X": "cobalt"})

    assert [(o.mineral, o.period.month, o.value, o.unit) for o in observations] == [
        ("cobalt", 1, 1.0, ""), ("cobalt", 2, 2.0, ""), ("copper", 1, 8000.0, "$/mt")
    ]


def test_pinksheet_units_row_wins_over_the_defaults() -> None:
    body = workbook([[None, "Copper", "Cobalt"], [None, "($/kg)", "($/lb)"], CODES,
                     ["2024M01", 8.0, 1]])

    observations = parse_pinksheet(body, source="wb", columns={"COPPER": "copper",
                                                                "COBALT_X": "cobalt"})

    assert {o.mineral: o.unit for o in observations} == {"copper": "$/kg", "cobalt": "$/lb"}


def test_pinksheet_duplicate_month_keeps_the_last_row() -> None:
    body = workbook([CODES, ["2024M01", 1, 0], ["2024M01", 2, 0]])

    observations = parse_pinksheet(body, source="wb", columns={"COPPER": "copper"})

    assert [o.value for o in observations] == [2.0]


COPPER = {"COPPER": "copper"}


@pytest.mark.parametrize("csv", [False, True], ids=["xlsx", "csv"])
def test_pinksheet_a_renamed_code_can_be_reported_while_the_others_are_read(csv: bool) -> None:
    body = (b"date,COPPER,COBALT_X\n2024-01-01,8000,1\n" if csv
            else workbook([CODES, ["2024M01", 8000, 1]]))
    missing: list[str] = []

    observations = parse_pinksheet(body, source="wb", on_missing=missing.append,
                                   columns={"COPPER": "copper", "NICKEL": "nickel"})

    where = "CSV" if csv else "sheet 'Monthly Prices'"
    assert missing == [f"{where}: codes not found: NICKEL (renamed or removed in this release?)"]
    assert [(o.mineral, o.value) for o in observations] == [("copper", 8000.0)]


def test_pinksheet_with_no_mapped_code_left_fails_even_when_missing_ones_are_reported() -> None:
    missing: list[str] = []
    with pytest.raises(SourceFormatError, match="codes not found: NICKEL, TIN"):
        parse_pinksheet(workbook([CODES, ["2024M01", 8000, 1]]), source="wb",
                        columns={"NICKEL": "nickel", "TIN": "tin"}, on_missing=missing.append)
    assert missing == []


@pytest.mark.parametrize(
    ("body", "columns", "expected"),
    [
        pytest.param(workbook([CODES, ["2024M01", 1, 2]], sheet="Monthly Indices"), COPPER,
                     r"wb: workbook: no sheet 'Monthly Prices' \(the workbook has 1 sheet\)",
                     id="no-sheet"),
        pytest.param(workbook([CODES, ["2024M01", 1, 2]]), {**COPPER, "NICKEL": "nickel"},
                     "wb: sheet 'Monthly Prices': codes not found: NICKEL", id="no-code"),
        pytest.param(workbook([CODES]), COPPER, "no data rows", id="no-data"),
        pytest.param(workbook([CODES, ["2024M01", 1, 2], ["2024M02", "n/q", 2]]), COPPER,
                     r"sheet 'Monthly Prices' row 3, column COPPER: bad value "
                     r"\(text of 3 characters\)",
                     id="bad-value"),
        pytest.param(workbook([CODES, ["2024M13", 1, 2]]), COPPER,
                     r"row 2: bad period \(text of 7 characters\)", id="bad-period"),
        pytest.param(b"PK\x03\x04 not really a zip", COPPER, "not a readable xlsx file",
                     id="bad-zip"),
        pytest.param(b"<html><body>Access denied</body></html>", COPPER, "got HTML", id="html"),
        pytest.param(b"month,COPPER\n2024-01-01,1\n", COPPER,
                     "CSV line 1: expected a 'date' column first, got 2 fields", id="csv-header"),
        pytest.param(b"date,COPPER\n2024-01-01,1\n2024-02-01\n", COPPER,
                     "CSV line 3: expected 2 fields, got 1", id="csv-truncated"),
        pytest.param(b"date,NICKEL\n2024-01-01,1\n", COPPER, "CSV: codes not found: COPPER",
                     id="csv-no-code"),
        pytest.param(b"", COPPER, "empty body", id="empty"),
    ],
)
def test_pinksheet_errors_name_what_is_wrong(
    body: bytes, columns: dict[str, str], expected: str
) -> None:
    with pytest.raises(SourceFormatError, match=expected) as info:
        parse_pinksheet(body, source="wb", columns=columns)

    assert info.value.source == "wb"


# --- generic tables --------------------------------------------------------------------------


def test_table_csv_single_mineral() -> None:
    body = b"month,usd\n2024-01,10.5\n2024-02,NA\n2024-03,\"1,200\"\n"
    spec = TableSpec(format="csv", date_field="month", value_field="usd", mineral="cobalt",
                     unit="USD/lb")

    observations = parse_table(body, source="lme", spec=spec)

    assert [(o.period, o.value) for o in observations] == [
        (date(2024, 1, 1), 10.5), (date(2024, 3, 1), 1200.0)
    ]
    assert {(o.series, o.mineral, o.unit, o.frequency, o.measure) for o in observations} == {
        ("usd", "cobalt", "USD/lb", Frequency.MONTHLY, Measure.PRICE)
    }


def test_table_csv_mineral_column_keeps_series_distinct() -> None:
    body = b"date,metal,price\n2024-01-01,gallium,300\n2024-01-01,germanium,1500\n"
    spec = TableSpec(format="csv", date_field="date", value_field="price", mineral_field="metal",
                     series="asian_metal", frequency="monthly")

    observations = parse_table(body, source="am", spec=spec)

    assert [(o.mineral, o.series, o.value) for o in observations] == [
        ("gallium", "asian_metal:gallium", 300.0), ("germanium", "asian_metal:germanium", 1500.0)
    ]


def test_table_json_with_records_path_and_date_format() -> None:
    body = json.dumps({"data": {"observations": [
        {"d": "15/01/2024", "v": 1.5},
        {"d": "16/01/2024", "v": None},
        {"d": "17/01/2024", "v": "2.5"},
    ]}}).encode()
    spec = TableSpec(format="json", date_field="d", value_field="v", mineral="lithium",
                     date_format="%d/%m/%Y", records_path="data.observations")

    observations = parse_table(body, source="s", spec=spec)

    assert [(o.period, o.value, o.frequency) for o in observations] == [
        (date(2024, 1, 15), 1.5, Frequency.DAILY), (date(2024, 1, 17), 2.5, Frequency.DAILY)
    ]


def test_table_json_list_with_year_dates_is_annual() -> None:
    body = b'[{"year": 2023, "price": 12.0}, {"year": 2024, "price": 14.0}]'
    spec = TableSpec(format="json", date_field="year", value_field="price", mineral="bismuth")

    observations = parse_table(body, source="usgs", spec=spec)

    assert [(o.period, o.frequency) for o in observations] == [
        (date(2023, 1, 1), Frequency.ANNUAL), (date(2024, 1, 1), Frequency.ANNUAL)
    ]


CSV_SPEC = TableSpec(format="csv", date_field="date", value_field="price", mineral="tin")
JSON_SPEC = TableSpec(format="json", date_field="date", value_field="price", mineral="tin",
                      records_path="rows")


@pytest.mark.parametrize(
    ("body", "spec", "expected"),
    [
        pytest.param(b"day,price\n2024-01-01,1\n", CSV_SPEC,
                     r"src: line 1: no column 'date' \(the header has 2 columns\)",
                     id="csv-no-column"),
        pytest.param(b"date,price\n2024-01-01,1\n2024-02-01,abc\n", CSV_SPEC,
                     r"src: line 3: field 'price': bad value \(text of 3 characters\)",
                     id="csv-bad-value"),
        pytest.param(b"date,price\n01/02/2024,1\n", CSV_SPEC,
                     r"line 2: field 'date': bad date \(text of 10 characters\)",
                     id="csv-bad-date"),
        pytest.param(b"date,price\n2024-01-01,1\n2024-02-01\n", CSV_SPEC,
                     r"line 3: expected 2 fields, got 1 field of 10 characters",
                     id="csv-truncated"),
        pytest.param(b'{"rows": [{"date": "2024-01-01", "price": 1}, {"date": "2024-02-01"}]}',
                     JSON_SPEC, r"src: record rows\[1\]: field 'price' is missing",
                     id="json-missing-field"),
        pytest.param(b'{"rows": [{"date": "2024-01-01", "price": true}]}', JSON_SPEC,
                     r"record rows\[0\]: field 'price': bad value \(a boolean\)",
                     id="json-bool-value"),
        pytest.param(b'{"rows": [["2024-01-01", 1]]}', JSON_SPEC,
                     r"record rows\[0\]: expected an object, got a list", id="json-not-object"),
        pytest.param(b'{"data": []}', JSON_SPEC, "records_path: 'rows' not found",
                     id="json-bad-path"),
        pytest.param(b'{"rows": {"date": "2024-01-01"}}', JSON_SPEC, "'rows' is not a list",
                     id="json-path-not-list"),
        pytest.param(b'{"rows": [', JSON_SPEC, "line 1 column 11: invalid JSON", id="json-broken"),
        pytest.param(b"<html>rate limited</html>", JSON_SPEC, "expected JSON, got HTML",
                     id="json-html"),
    ],
)
def test_table_errors_name_the_field_and_record(
    body: bytes, spec: TableSpec, expected: str
) -> None:
    with pytest.raises(SourceFormatError, match=expected) as info:
        parse_table(body, source="src", spec=spec)

    assert info.value.source == "src"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"mineral": "tin", "mineral_field": "metal"}, id="both-minerals"),
        pytest.param({}, id="no-mineral"),
        pytest.param({"mineral": "tin", "format": "xml"}, id="bad-format"),
        pytest.param({"mineral": "tin", "frequency": "weekly"}, id="bad-frequency"),
        pytest.param({"mineral": "tin", "records_path": "a.b"}, id="records-path-on-csv"),
    ],
)
def test_table_spec_rejects_invalid_combinations(kwargs: dict[str, str]) -> None:
    options = {"format": "csv", "date_field": "d", "value_field": "v", **kwargs}
    with pytest.raises(ValueError):
        TableSpec(**options)  # type: ignore[arg-type]


# --- errors describe a payload, never quote it -----------------------------------------------

SECRET = "xoxb-0000-SECRET-TOKEN"
MINERAL_FIELD = TableSpec(format="json", date_field="date", value_field="price",
                          mineral_field="metal")


@pytest.mark.parametrize(
    "parse",
    [
        pytest.param(lambda: fred(f"{SECRET}\n"), id="fred-credentials-file"),
        pytest.param(lambda: fred(f"<html>{SECRET}</html>"), id="fred-html"),
        pytest.param(lambda: fred(f"DATE,X\n2020-01-01,1,{SECRET}\n"), id="fred-fields"),
        pytest.param(lambda: fred(f"DATE,X\n{SECRET},1\n"), id="fred-date"),
        pytest.param(lambda: fred(f"DATE,X\n2020-01-01,{SECRET}\n"), id="fred-value"),
        pytest.param(lambda: parse_pinksheet(f"{SECRET}\n".encode(), source="wb",
                                             columns=COPPER), id="pink-credentials-file"),
        pytest.param(lambda: parse_pinksheet(f"date,COPPER\n{SECRET},1\n".encode(),
                                             source="wb", columns=COPPER), id="pink-csv-date"),
        pytest.param(lambda: parse_pinksheet(f"date,COPPER\n2024-01-01,{SECRET}\n".encode(),
                                             source="wb", columns=COPPER), id="pink-csv-value"),
        pytest.param(lambda: parse_pinksheet(workbook([CODES, ["2024M01", SECRET, 2]]),
                                             source="wb", columns=COPPER), id="pink-xlsx-value"),
        pytest.param(lambda: parse_pinksheet(workbook([CODES], sheet=SECRET[:30]),
                                             source="wb", columns=COPPER), id="pink-sheet-name"),
        pytest.param(lambda: parse_table(f"{SECRET},price\n".encode(), source="src",
                                         spec=CSV_SPEC), id="table-header"),
        pytest.param(lambda: parse_table(f"date,price\n{SECRET}\n".encode(), source="src",
                                         spec=CSV_SPEC), id="table-fields"),
        pytest.param(lambda: parse_table(json.dumps({"rows": [SECRET]}).encode(),
                                         source="src", spec=JSON_SPEC), id="table-record"),
        pytest.param(lambda: parse_table(json.dumps(
            [{"date": "2024-01-01", "price": 1, "metal": {"x": SECRET}}]).encode(),
            source="src", spec=MINERAL_FIELD), id="table-mineral"),
        pytest.param(lambda: parse_table(json.dumps(
            {"rows": [{"date": SECRET, "price": 1}]}).encode(), source="src", spec=JSON_SPEC),
            id="table-date"),
        pytest.param(lambda: parse_table(json.dumps(
            {"rows": [{"date": "2024-01-01", "price": [SECRET]}]}).encode(), source="src",
            spec=JSON_SPEC), id="table-value"),
    ],
)
def test_errors_describe_the_payload_and_never_quote_it(parse: Callable[[], object]) -> None:
    with pytest.raises(SourceFormatError) as info:
        parse()

    assert "SECRET" not in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) <= 300


def test_control_characters_in_a_payload_never_reach_an_error() -> None:
    with pytest.raises(SourceFormatError) as info:
        parse_table(b"date,pri\x1b[31mce\n2024-01-01,1\n", source="src", spec=CSV_SPEC)

    assert "\x1b" not in str(info.value)


# --- xlsx bombs: bounded size, rows, cells and time --------------------------------------------


def xlsx_with(parts: dict[str, Iterable[bytes]], base: bytes | None = None) -> bytes:
    """A workbook whose parts are replaced or added, each written in chunks (never held whole).

    An added ``xl/sharedStrings.xml`` is registered in ``[Content_Types].xml``, so it is read.
    """
    source = zipfile.ZipFile(io.BytesIO(base or workbook([CODES, ["2024M01", 1, 2]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "[Content_Types].xml" and "xl/sharedStrings.xml" in parts:
                data = data.replace(b"</Types>", SHARED_STRINGS_TYPE + b"</Types>")
            if name not in parts:
                target.writestr(name, data)
        for name, chunks in parts.items():
            with target.open(name, "w") as member:
                for chunk in chunks:
                    member.write(chunk)
    return out.getvalue()


SHARED_STRINGS_TYPE = (b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                       b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')


def shared_string_bomb(size: int) -> Iterable[bytes]:
    yield b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
    for _ in range(size // 2**20):
        yield b"A" * 2**20
    yield b"</t></si></sst>"


def sheet_xml(rows: Iterable[bytes], dimension: str = "A1:C2") -> Iterable[bytes]:
    yield (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
           b'<dimension ref="' + dimension.encode() + b'"/><sheetData>')
    yield from rows
    yield b"</sheetData></worksheet>"


def codes_row() -> bytes:
    return (b'<row r="1"><c r="B1" t="inlineStr"><is><t>COPPER</t></is></c>'
            b'<c r="C1" t="inlineStr"><is><t>COBALT_X</t></is></c></row>')


LETTERS = [openpyxl.utils.get_column_letter(col).encode() for col in range(2, 260)]


def data_row(number: int, columns: int = 2) -> bytes:
    """Row ``number``: a period (1960M01 for row 2, then month by month) and ``columns`` values."""
    cells = b"".join(b'<c r="%s%d"><v>%d</v></c>' % (LETTERS[col], number, col + 1)
                     for col in range(columns))
    year, month = divmod(number - 2, 12)
    period = b"%04dM%02d" % (1960 + year, month + 1)
    return (b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>%s</t></is></c>%s</row>'
            % (number, number, period, cells))


def parse_bounded(body: bytes, *, deadline_s: float | None = None) -> tuple[str, float, float]:
    """Parse ``body`` expecting a SourceFormatError; its message, seconds and peak MB."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SourceFormatError) as info:
            parse_pinksheet(body, source="wb", columns=COPPER,
                            deadline=None if deadline_s is None else started + deadline_s)
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert info.value.source == "wb" and str(info.value).startswith("wb: ")
    return str(info.value), elapsed, peak


def test_a_huge_shared_string_is_refused_before_it_is_unzipped() -> None:
    body = xlsx_with({"xl/sharedStrings.xml": shared_string_bomb(64 * 2**20)})
    assert len(body) < 200_000

    message, elapsed, peak_mb = parse_bounded(body)

    assert "shared strings" in message and "over the limit" in message
    assert elapsed < 5 and peak_mb < 20


def test_a_part_that_unzips_to_more_than_it_declares_is_refused() -> None:
    body = bytearray(xlsx_with({"xl/sharedStrings.xml": shared_string_bomb(64 * 2**20)}))
    entry = body.rfind(b"PK\x01\x02", 0, body.rfind(b"xl/sharedStrings.xml"))
    assert struct.unpack_from("<I", body, entry + 24)[0] > 64 * 2**20  # the declared size...
    struct.pack_into("<I", body, entry + 24, 1000)  # ...now a lie: 1000 bytes

    message, elapsed, peak_mb = parse_bounded(bytes(body))

    assert "not a readable xlsx file" in message
    assert elapsed < 5 and peak_mb < 20


def test_a_styles_bomb_is_refused_by_its_size() -> None:
    xf = b'<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    head = (b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<cellXfs count="200000">')
    styles = [head, xf * 200_000, b"</cellXfs></styleSheet>"]

    message, elapsed, peak_mb = parse_bounded(xlsx_with({"xl/styles.xml": styles}))

    assert "over the limit" in message
    assert elapsed < 5 and peak_mb < 30


def test_a_row_far_down_the_sheet_is_refused_quickly() -> None:
    rows = [codes_row(), data_row(2),
            b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>']
    body = xlsx_with({"xl/worksheets/sheet1.xml": sheet_xml(rows, "A1:XFD1048576")})
    assert len(body) < 10_000

    message, elapsed, peak_mb = parse_bounded(body)

    assert "more than 5000 rows" in message
    assert elapsed < 5 and peak_mb < 50


def test_too_many_parts_are_refused_before_reading_any() -> None:
    parts = {f"xl/media/image{n}.png": [b""] for n in range(1_500)}

    message, elapsed, _ = parse_bounded(xlsx_with(parts))

    assert "1509 parts" in message and "over the limit" in message
    assert elapsed < 5


def test_parsing_stops_at_the_deadline() -> None:
    rows = [codes_row(), *(data_row(n, columns=100) for n in range(2, 4_000))]
    body = xlsx_with({"xl/worksheets/sheet1.xml": sheet_xml(rows, "A1:CW4000")})

    message, elapsed, _ = parse_bounded(body, deadline_s=0.5)

    assert "parsing took longer than" in message
    assert elapsed < 3


def test_the_real_sized_pink_sheet_parses_within_the_bounds() -> None:
    rows = [codes_row(), *(data_row(n, columns=72) for n in range(2, 800))]
    body = xlsx_with({"xl/worksheets/sheet1.xml": sheet_xml(rows, "A1:BV800")})

    observations = parse_pinksheet(body, source="wb", columns=COPPER)

    assert len(observations) == 798


# --- plausibility: what a poll keeps ---------------------------------------------------------

TODAY = date(2026, 3, 2)


def price(period: date, value: float, series: str = "PCOBAUSDM") -> Observation:
    return Observation(source="fred_cobalt", series=series, mineral="cobalt",
                       measure=Measure.PRICE, period=period, frequency=Frequency.MONTHLY,
                       value=value, unit="USD/t")


def test_good_prices_are_all_kept() -> None:
    rows = [price(date(2025, m, 1), 30_000 + m) for m in range(1, 13)]

    screened = screen_prices(rows, today=TODAY)

    assert screened.kept == rows and screened.problems == []


@pytest.mark.parametrize(
    ("row", "why"),
    [
        pytest.param(price(date(2099, 1, 1), 33_000), "2099-01-01 is after today", id="future"),
        pytest.param(price(date(2026, 2, 1), -500), "2026-02-01 is not positive", id="negative"),
        pytest.param(price(date(2026, 2, 1), 0), "2026-02-01 is not positive", id="zero"),
        pytest.param(price(date(2026, 2, 1), math.inf), "2026-02-01 is not a finite number",
                     id="infinite"),
        pytest.param(price(date(2026, 2, 1), math.nan), "2026-02-01 is not a finite number",
                     id="nan"),
        pytest.param(price(date(2026, 2, 1), 1e308), "2026-02-01 jumps", id="huge"),
        pytest.param(price(date(2026, 2, 1), 33_000 * 25), "2026-02-01 jumps x25",
                     id="25-times-up"),
        pytest.param(price(date(2026, 2, 1), 33_000 / 25), "2026-02-01 jumps x0.04",
                     id="25-times-down"),
    ],
)
def test_an_implausible_price_is_dropped_with_the_reason(row: Observation, why: str) -> None:
    good = [price(date(2025, m, 1), 33_000) for m in range(10, 13)]

    screened = screen_prices([*good, row], today=TODAY)

    assert screened.kept == good
    [problem] = screened.problems
    assert problem.startswith(f"PCOBAUSDM {why}")


def test_the_jump_bound_is_far_above_the_largest_real_monthly_move() -> None:
    # Urea went x4.41 from Dec 1973 to Jan 1974, phosphate rock x4.00 from Dec 1976 to Jan 1977:
    # the largest month-on-month moves of any Pink Sheet series in 1960-2025.
    urea = [price(date(1973, 12, 1), 60.0), price(date(1974, 1, 1), 264.8)]
    assert screen_prices(urea, today=TODAY).kept == urea
    assert MAX_JUMP_FACTOR >= 4 * 4.41


def test_after_a_dropped_spike_the_next_value_is_compared_with_the_last_good_one() -> None:
    rows = [price(date(2025, 11, 1), 33_000), price(date(2025, 12, 1), 1e308),
            price(date(2026, 1, 1), 34_000)]

    screened = screen_prices(rows, today=TODAY)

    assert [o.value for o in screened.kept] == [33_000, 34_000]


def test_a_single_new_value_is_compared_with_the_stored_history() -> None:
    history = {"PCOBAUSDM": [(date(2025, 12, 1), 33_000.0)]}

    screened = screen_prices([price(date(2026, 1, 1), 1e9)], today=TODAY, history=history)

    assert screened.kept == [] and screened.problems[0].startswith("PCOBAUSDM 2026-01-01 jumps")


def test_each_series_is_screened_on_its_own() -> None:
    rows = [price(date(2025, 12, 1), 300, "gallium"), price(date(2026, 1, 1), 310, "gallium"),
            price(date(2025, 12, 1), 30_000, "cobalt"), price(date(2026, 1, 1), 31_000, "cobalt")]

    assert screen_prices(rows, today=TODAY).problems == []
