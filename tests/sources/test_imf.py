"""The IMF PCPS workbook: parsed from the synthetic sample, polled from a local HTTP server.

The sample (``tests/fixtures/prices/imf_external_data_SYNTHETIC.xls``, a copy of the project's
``data/raw/prices/imf_pcps_format`` sample) has the real workbook's layout with invented
numbers; variants (a renamed column, an empty month) are written with xlwt from it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import xlrd
import xlwt
from pytest_httpserver import HTTPServer

from monitor.config.sources import ImfPcpsSource, SourcesFile
from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure
from monitor.sources.http import HttpFetcher
from monitor.sources.imf import ImfSeries, imf_published_at, parse_imf_pcps
from monitor.sources.polling import poll_source
from monitor.store.database import Store

SAMPLE = (Path(__file__).resolve().parents[1] / "fixtures" / "prices"
          / "imf_external_data_SYNTHETIC.xls")
SERIES = [
    ImfSeries("cobalt", code="PCOBA"), ImfSeries("molybdenum", code="PLMMODY"),
    ImfSeries("palladium", code="PPALLA"), ImfSeries("lithium", description="Lithium Metal"),
    ImfSeries("rare_earths", description="Rare Earth Carbonate"),
    ImfSeries("manganese", description="Manganese Electro"),
    ImfSeries("vanadium", description="Vanadium Pentoxide"),
]
T0 = datetime(2025, 11, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def sample() -> bytes:
    assert SAMPLE.is_file(), f"the synthetic IMF workbook is missing: {SAMPLE}"
    return SAMPLE.read_bytes()


def rewrite(body: bytes, edit: Callable[[list[list[object]]], None]) -> bytes:
    """The sample's sheet as a grid, changed by ``edit``, written back as an .xls (BIFF8)."""
    sheet = xlrd.open_workbook(file_contents=body).sheet_by_index(0)
    grid = [sheet.row_values(r) for r in range(sheet.nrows)]
    edit(grid)
    book = xlwt.Workbook()
    out = book.add_sheet(sheet.name)
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            if value != "":
                out.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def column_of(grid: list[list[object]], row: int, text: str) -> int:
    return next(c for c, v in enumerate(grid[row]) if isinstance(v, str) and v.startswith(text))


# ------------------------------------------------------------------------------- parsing


def test_series_are_found_by_code_and_by_description(sample: bytes) -> None:
    observations = parse_imf_pcps(sample, source="imf_pcps", series=SERIES)

    by_series: dict[str, list] = {}
    for obs in observations:
        by_series.setdefault(obs.series, []).append(obs)
    assert set(by_series) == {"PCOBA", "PLMMODY", "PPALLA", "imf:lithium_metal",
                              "imf:rare_earth_carbonate", "imf:manganese_electro",
                              "imf:vanadium_pentoxide"}
    cobalt = by_series["PCOBA"]
    assert cobalt[0].period == date(1990, 1, 1) and cobalt[-1].period == date(2025, 9, 1)
    assert {o.mineral for o in cobalt} == {"cobalt"}
    assert all(o.measure is Measure.PRICE and o.frequency is Frequency.MONTHLY
               for o in observations)
    # the uncoded series start in 2012, molybdenum later than 1990: empty cells are skipped
    assert by_series["imf:lithium_metal"][0].period.year >= 2010
    assert by_series["PLMMODY"][0].period > date(1990, 1, 1)
    # units from the descriptions; none where the description gives none
    assert {o.unit for o in cobalt} == {"USD/t"}
    assert {o.unit for o in by_series["PPALLA"]} == {"USD/troy oz"}
    assert {o.unit for o in by_series["imf:manganese_electro"]} == {"USD/t"}
    assert {o.unit for o in by_series["imf:lithium_metal"]} == {""}


def test_values_match_the_workbook_cell_for_cell(sample: bytes) -> None:
    sheet = xlrd.open_workbook(file_contents=sample).sheet_by_index(0)
    col = sheet.row_values(0).index("PCOBA")
    expected = {sheet.cell_value(r, 0): sheet.cell_value(r, col) for r in range(4, sheet.nrows)
                if sheet.cell_value(r, col) != ""}
    got = {f"{o.period.year}M{o.period.month}": o.value
           for o in parse_imf_pcps(sample, source="imf", series=[ImfSeries("cobalt",
                                                                           code="PCOBA")])}
    assert got == expected


def test_a_month_is_public_two_weeks_after_it_ends(sample: bytes) -> None:
    assert imf_published_at(date(2025, 9, 1)) == date(2025, 10, 15)
    assert imf_published_at(date(2024, 2, 1)) == date(2024, 3, 15)
    [last] = [o for o in parse_imf_pcps(sample, source="imf", series=SERIES[:1])
              if o.period == date(2025, 9, 1)]
    assert last.published_at == date(2025, 10, 15)


def test_a_code_listed_as_index_and_in_usd_gives_the_usd_column(sample: bytes) -> None:
    rows = parse_imf_pcps(sample, source="imf", series=[ImfSeries("copper", code="POILAPSP")])
    assert {o.unit for o in rows} == {"USD/bbl"}


def test_an_index_is_not_a_price(sample: bytes) -> None:
    with pytest.raises(SourceFormatError, match=r"imf: .*code PMETA \(copper\) is an index"):
        parse_imf_pcps(sample, source="imf", series=[ImfSeries("copper", code="PMETA")])


def test_a_description_matching_two_price_columns_is_refused(sample: bytes) -> None:
    body = rewrite(sample, lambda g: g[1].__setitem__(column_of(g, 1, "Silicon"),
                                                      "Lithium Metal, second listing"))
    with pytest.raises(SourceFormatError, match="matches 2 price columns"):
        parse_imf_pcps(body, source="imf", series=[ImfSeries("lithium",
                                                             description="Lithium Metal")])


def test_a_renamed_column_names_the_source_and_the_series(sample: bytes) -> None:
    body = rewrite(sample, lambda g: g[0].__setitem__(g[0].index("PCOBA"), "PCOBALT"))
    with pytest.raises(SourceFormatError) as caught:
        parse_imf_pcps(body, source="imf_pcps", series=SERIES)
    assert str(caught.value).startswith("imf_pcps: workbook header: series code PCOBA (cobalt) "
                                        "not found")
    assert caught.value.source == "imf_pcps"


def test_a_renamed_column_can_be_reported_while_the_other_series_are_read(
        sample: bytes) -> None:
    body = rewrite(sample, lambda g: g[0].__setitem__(g[0].index("PCOBA"), "PCOBALT"))
    missing: list[str] = []

    observations = parse_imf_pcps(body, source="imf_pcps", series=SERIES,
                                  on_missing=missing.append)

    assert missing == [("workbook header: series code PCOBA (cobalt) not found: renamed or "
                       "removed in this release?")]
    assert {o.mineral for o in observations} == {s.mineral for s in SERIES} - {"cobalt"}
    complete = parse_imf_pcps(sample, source="imf_pcps", series=SERIES)
    assert observations == [o for o in complete if o.mineral != "cobalt"]


def test_an_ambiguous_description_is_reported_like_a_missing_one(sample: bytes) -> None:
    body = rewrite(sample, lambda g: g[1].__setitem__(column_of(g, 1, "Silicon"),
                                                      "Lithium Metal, second listing"))
    missing: list[str] = []

    observations = parse_imf_pcps(body, source="imf", series=SERIES, on_missing=missing.append)

    assert missing == [("workbook header: series description 'Lithium Metal' (lithium) matches "
                       "2 price columns: make the key more specific")]
    assert "lithium" not in {o.mineral for o in observations}


def test_an_html_error_page_is_described_not_quoted(sample: bytes) -> None:
    page = b"<!DOCTYPE html><html><title>Error 503 secret-internal-host</title></html>"
    with pytest.raises(SourceFormatError) as caught:
        parse_imf_pcps(page, source="imf_pcps", series=SERIES)
    assert "expected an .xls workbook, got HTML/XML of" in str(caught.value)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(("body", "expected"), [
    (b"PK\x03\x04" + b"\0" * 100, "a zip"),
    (b"\0" * 64, "without the .xls signature"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600, "not a readable .xls file"),
    (b"  \n", "empty body"),
])
def test_what_is_not_an_xls_workbook_is_refused(body: bytes, expected: str) -> None:
    with pytest.raises(SourceFormatError, match=expected):
        parse_imf_pcps(body, source="imf_pcps", series=SERIES)


def test_an_empty_newest_month_is_an_incomplete_release(sample: bytes) -> None:
    def blank_last_row(grid: list[list[object]]) -> None:
        grid[-1][1:] = [""] * (len(grid[-1]) - 1)

    body = rewrite(sample, blank_last_row)
    with pytest.raises(SourceFormatError, match=r"imf_pcps: row 433: the newest month 2025M9 "
                                                r"is empty in all 7 mapped series"):
        parse_imf_pcps(body, source="imf_pcps", series=SERIES)


def test_a_text_value_is_an_error_naming_row_and_series(sample: bytes) -> None:
    def garble(grid: list[list[object]]) -> None:
        grid[100][grid[0].index("PCOBA")] = "call +1 555 0100"

    with pytest.raises(SourceFormatError, match=r"row 101, code PCOBA: bad value \(text of 16"):
        parse_imf_pcps(rewrite(sample, garble), source="imf", series=SERIES)


def test_a_boolean_cell_is_not_taken_for_a_price(sample: bytes) -> None:
    def tick(grid: list[list[object]]) -> None:
        grid[200][grid[0].index("PCOBA")] = True

    with pytest.raises(SourceFormatError, match=r"row 201, code PCOBA: bad value \(a boolean"):
        parse_imf_pcps(rewrite(sample, tick), source="imf", series=SERIES)


def test_a_far_away_cell_is_refused_without_padding_the_sheet(sample: bytes) -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet("External")
    sheet.write(0, 0, "Commodity")
    sheet.write(65_535, 255, 1.0)  # the last cell an .xls can hold
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(SourceFormatError, match="imf: sheet 'External': more than 5000 rows"):
        parse_imf_pcps(buffer.getvalue(), source="imf", series=SERIES)


def test_a_workbook_past_the_deadline_is_refused(sample: bytes) -> None:
    with pytest.raises(SourceFormatError, match="deadline"):
        parse_imf_pcps(sample, source="imf", series=SERIES, deadline=0.0)


def test_missing_header_rows_are_named(sample: bytes) -> None:
    body = rewrite(sample, lambda g: g[1].__setitem__(0, "Description"))
    with pytest.raises(SourceFormatError, match=r"no header row labelled 'commodity\.description'"):
        parse_imf_pcps(body, source="imf", series=SERIES)


# ------------------------------------------------------------------------------- polling


LANDING = """<html><body><h1>IMF Primary Commodity Prices</h1>
<a href="/about">About</a>
<a href="/-/media/Files/Research/CommodityPrices/Monthly/external-data.xls">Monthly data</a>
</body></html>"""


def imf_source(server: HTTPServer, **extra: object) -> ImfPcpsSource:
    spec = {"id": "imf_pcps", "kind": "imf_pcps", "url": server.url_for("/fallback.xls"),
            "discover": {"page": server.url_for("/research/commodity-prices"),
                         "pattern": r"external-data\.xls$"},
            "interval": "12h", "jitter": "0s", "timeout": "60s",
            "series": [{"code": s.code, "mineral": s.mineral} if s.code else
                       {"description": s.description, "mineral": s.mineral} for s in SERIES],
            **extra}
    return SourcesFile.model_validate({"sources": [spec]}).sources[0]  # type: ignore[return-value]


def serve(server: HTTPServer, workbook: bytes, content_type: str = "application/vnd.ms-excel"
          ) -> None:
    server.clear()
    server.expect_request("/research/commodity-prices").respond_with_data(
        LANDING, content_type="text/html")
    server.expect_request("/-/media/Files/Research/CommodityPrices/Monthly/external-data.xls"
                          ).respond_with_data(workbook, content_type=content_type)


def test_a_poll_finds_the_link_and_stores_honestly_dated_prices(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, sample: bytes) -> None:
    serve(httpserver, sample)
    outcome = poll_source(imf_source(httpserver), fetcher, store, T0)

    assert outcome.ok, outcome.error
    stored = store.observations(source="imf_pcps")
    assert outcome.rows == len(stored) > 1500
    assert {o.mineral for o in stored} == {s.mineral for s in SERIES}
    by_period = {(o.series, o.period): o for o in stored}
    assert by_period[("PCOBA", date(2025, 9, 1))].published_at == date(2025, 10, 15)
    assert by_period[("PCOBA", date(2012, 3, 1))].published_at == date(2012, 4, 15)
    # as of 2025-10-01 the September value was not yet public
    known = store.observations(source="imf_pcps", mineral="cobalt", known_at=date(2025, 10, 1))
    assert max(o.period for o in known) == date(2025, 8, 1)


def test_a_date_guessed_after_the_fetch_is_capped_at_the_fetch_day(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, sample: bytes) -> None:
    serve(httpserver, sample)
    early = datetime(2025, 10, 9, 8, 0, tzinfo=UTC)  # the release came out before the 15th
    assert poll_source(imf_source(httpserver), fetcher, store, early).ok
    [september] = [o for o in store.observations(source="imf_pcps", mineral="cobalt")
                   if o.period == date(2025, 9, 1)]
    assert september.published_at == date(2025, 10, 9)


def test_a_revision_updates_the_value_and_keeps_the_first_publication_date(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, sample: bytes) -> None:
    serve(httpserver, sample)
    source = imf_source(httpserver)
    assert poll_source(source, fetcher, store, T0).ok

    def revise(grid: list[list[object]]) -> None:
        col = grid[0].index("PCOBA")
        grid[-1][col] = float(grid[-1][col]) * 1.05  # type: ignore[arg-type]

    serve(httpserver, rewrite(sample, revise))
    outcome = poll_source(source, fetcher, store, datetime(2025, 12, 3, tzinfo=UTC))

    assert outcome.ok and outcome.changed == 1
    [september] = [o for o in store.observations(source="imf_pcps", mineral="cobalt")
                   if o.period == date(2025, 9, 1)]
    sheet = xlrd.open_workbook(file_contents=sample).sheet_by_index(0)
    original = sheet.cell_value(sheet.nrows - 1, sheet.row_values(0).index("PCOBA"))
    assert september.value == pytest.approx(original * 1.05)
    assert september.published_at == date(2025, 10, 15)


def rename_every_series(grid: list[list[object]]) -> None:
    """A release in which no code and no description is what the config maps."""
    for c in range(1, len(grid[0])):
        grid[0][c] = f"{grid[0][c]}_NEW" if grid[0][c] else ""
        grid[1][c] = f"New {grid[1][c]}" if grid[1][c] else ""


@pytest.mark.parametrize(("name", "bad", "message"), [
    ("every mapped series renamed", lambda s: rewrite(s, rename_every_series),
     "none of the 7 mapped series found: series code PCOBA (cobalt) not found"),
    ("html error page", lambda s: b"<html><body>Service unavailable</body></html>",
     "expected an .xls workbook, got HTML/XML"),
    ("empty month", lambda s: rewrite(s, lambda g: g[-1].__setitem__(
        slice(1, None), [""] * (len(g[-1]) - 1))), "is empty in all 7 mapped series"),
])
def test_bad_input_fails_the_poll_by_name_and_keeps_the_stored_data(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, sample: bytes,
        name: str, bad: Callable[[bytes], bytes], message: str) -> None:
    serve(httpserver, sample)
    source = imf_source(httpserver)
    assert poll_source(source, fetcher, store, T0).ok
    before = store.observations(source="imf_pcps")

    serve(httpserver, bad(sample), content_type="text/html")
    outcome = poll_source(source, fetcher, store, datetime(2025, 12, 3, tzinfo=UTC))

    assert not outcome.ok, name
    assert outcome.error is not None and "imf_pcps" in outcome.error and message in outcome.error
    state = store.source_state("imf_pcps")
    assert state.status == "failing" and message in (state.last_error or "")
    assert store.observations(source="imf_pcps") == before


def test_a_release_that_renames_one_series_updates_the_others_and_says_so(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, sample: bytes,
        caplog: pytest.LogCaptureFixture) -> None:
    serve(httpserver, sample)
    source = imf_source(httpserver)
    assert poll_source(source, fetcher, store, T0).ok
    cobalt_before = store.observations(source="imf_pcps", mineral="cobalt")

    def rename_cobalt_and_revise_lithium(grid: list[list[object]]) -> None:
        grid[0][grid[0].index("PCOBA")] = "PCOBALT"
        col = column_of(grid, 1, "Lithium Metal")
        grid[-1][col] = float(grid[-1][col]) * 1.1  # type: ignore[arg-type]

    serve(httpserver, rewrite(sample, rename_cobalt_and_revise_lithium))
    with caplog.at_level("WARNING", logger="monitor.sources.polling"):
        outcome = poll_source(source, fetcher, store, datetime(2025, 12, 3, tzinfo=UTC))

    assert outcome.ok and outcome.changed == 1  # the lithium revision
    assert outcome.data_problem is not None
    assert "series code PCOBA (cobalt) not found" in outcome.data_problem
    state = store.source_state("imf_pcps")
    assert state.status == "ok" and state.consecutive_failures == 0
    assert "PCOBA (cobalt) not found" in (state.last_error or "")
    assert store.observations(source="imf_pcps", mineral="cobalt") == cobalt_before
    assert any("PCOBA (cobalt) not found" in r.getMessage() for r in caplog.records)


def test_a_landing_page_link_to_a_local_file_is_not_followed(
        httpserver: HTTPServer, store: Store, fetcher: HttpFetcher, sample: bytes,
        tmp_path: Path) -> None:
    secret = tmp_path / "external-data.xls"
    secret.write_bytes(b"not for a web page to read")
    httpserver.expect_request("/research/commodity-prices").respond_with_data(
        f'<a href="{secret.as_uri()}">external-data.xls</a>', content_type="text/html")
    httpserver.expect_request("/fallback.xls").respond_with_data(sample)

    outcome = poll_source(imf_source(httpserver), fetcher, store, T0)

    assert outcome.ok  # the configured URL was used instead of the file
    assert store.source_state("imf_pcps").url == httpserver.url_for("/fallback.xls")
