"""Price parsers: FRED CSV, the World Bank Pink Sheet (xlsx and CSV) and generic tables."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation
from monitor.sources.prices import TableSpec, parse_fred_csv, parse_pinksheet, parse_table

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
        pytest.param("period,X\n2020-01-01,1\n", "fred_nickel: line 1: expected header .*'period,X'",
                     id="wrong-header"),
        pytest.param("DATE,X,Y\n2020-01-01,1,2\n", "line 1: expected header", id="extra-column"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-0", r"line 3: expected 2 fields, got 1: '2020-02-0'",
                     id="truncated-row"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-0,2\n", r"line 3: bad date '2020-02-0'",
                     id="truncated-date"),
        pytest.param("DATE,X\n2020-01-01,1\n2020-02-01,12O5\n", r"line 3: bad value '12O5'",
                     id="bad-value"),
        pytest.param("DATE,X\n2020-13-01,1\n", r"line 2: bad date '2020-13-01'", id="bad-month"),
    ],
)
def test_fred_bad_payloads_name_source_line_and_text(text: str, expected: str) -> None:
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


@pytest.mark.parametrize(
    ("body", "columns", "expected"),
    [
        pytest.param(workbook([CODES, ["2024M01", 1, 2]], sheet="Monthly Indices"), COPPER,
                     "wb: workbook: no sheet 'Monthly Prices' .*Monthly Indices", id="no-sheet"),
        pytest.param(workbook([CODES, ["2024M01", 1, 2]]), {**COPPER, "NICKEL": "nickel"},
                     "wb: sheet 'Monthly Prices': codes not found: NICKEL", id="no-code"),
        pytest.param(workbook([CODES]), COPPER, "no data rows", id="no-data"),
        pytest.param(workbook([CODES, ["2024M01", 1, 2], ["2024M02", "n/q", 2]]), COPPER,
                     r"sheet 'Monthly Prices' row 3, column COPPER: bad value 'n/q'",
                     id="bad-value"),
        pytest.param(workbook([CODES, ["2024M13", 1, 2]]), COPPER,
                     r"row 2: bad period '2024M13'", id="bad-period"),
        pytest.param(b"PK\x03\x04 not really a zip", COPPER, "not a readable xlsx file",
                     id="bad-zip"),
        pytest.param(b"<html><body>Access denied</body></html>", COPPER, "got HTML", id="html"),
        pytest.param(b"month,COPPER\n2024-01-01,1\n", COPPER,
                     "CSV line 1: expected a 'date' column", id="csv-header"),
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
                     r"src: line 1: no column 'date' \(columns: day, price\)", id="csv-no-column"),
        pytest.param(b"date,price\n2024-01-01,1\n2024-02-01,abc\n", CSV_SPEC,
                     r"src: line 3: field 'price': bad value 'abc'", id="csv-bad-value"),
        pytest.param(b"date,price\n01/02/2024,1\n", CSV_SPEC,
                     r"line 2: field 'date': bad date '01/02/2024'", id="csv-bad-date"),
        pytest.param(b"date,price\n2024-01-01,1\n2024-02-01\n", CSV_SPEC,
                     r"line 3: expected 2 fields, got 1: '2024-02-01'", id="csv-truncated"),
        pytest.param(b'{"rows": [{"date": "2024-01-01", "price": 1}, {"date": "2024-02-01"}]}',
                     JSON_SPEC, r"src: record rows\[1\]: field 'price' is missing",
                     id="json-missing-field"),
        pytest.param(b'{"rows": [{"date": "2024-01-01", "price": true}]}', JSON_SPEC,
                     r"record rows\[0\]: field 'price': bad value True", id="json-bool-value"),
        pytest.param(b'{"rows": [["2024-01-01", 1]]}', JSON_SPEC,
                     r"record rows\[0\]: expected an object", id="json-not-object"),
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
