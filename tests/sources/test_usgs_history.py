"""Earlier MCS editions fetched from a local HTTP server, stored with their edition dates.

The served files are shaped like the bundled MCS 2026 release CSV: its own rows with every year
moved back by four, so they read as the MCS 2022 edition (data years 2017-2021).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from monitor.backtest.inputs import bundled_data
from monitor.backtest.scoring import run_backtest
from monitor.cli.backtest import with_fetched_history
from monitor.cli.main import cli
from monitor.config.load import Config
from monitor.core.errors import SourceFormatError
from monitor.core.models import Measure
from monitor.sources.bundled import MCS_LONG_FILE, read_bundled
from monitor.sources.usgs import decode_text
from monitor.sources.usgs_history import (
    parse_editions,
    parse_release,
    sciencebase_file_url,
)
from monitor.store.database import DB_NAME, Store


def edition_csv(shift: int = -4, *, rename: dict[str, str] | None = None) -> bytes:
    """The bundled MCS 2026 release with its years moved by ``shift`` (cp1252, like USGS)."""
    rows = list(csv.reader(io.StringIO(decode_text(read_bundled(MCS_LONG_FILE)))))
    header = [(rename or {}).get(name, name) for name in rows[0]]
    year = rows[0].index("Year")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows[1:]:
        if row[year].isdigit():
            row[year] = str(int(row[year]) + shift)
        writer.writerow(row)
    return out.getvalue().encode("cp1252")


def critmon(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path / "state"), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def fetch(tmp_path: Path, *args: str) -> tuple[int, list[dict], str]:
    code, out, err = critmon(tmp_path, "data", "fetch", "usgs-mcs", "--format", "json", *args)
    return code, json.loads(out), err


def gallium_score(tmp_path: Path, as_of: str) -> float | None:
    code, out, err = critmon(tmp_path, "status", "--as-of", as_of, "--format", "json")
    assert code == 0, err
    return next(row for row in json.loads(out) if row["mineral"] == "gallium")["score"]


def stored(tmp_path: Path, source: str) -> list:
    with Store.open(tmp_path / "state" / DB_NAME) as store:
        return store.observations(source=source)


# ----------------------------------------------------------------------------- pure parts


def test_editions_are_years_ranges_or_lists() -> None:
    assert parse_editions("2020-2026", last=2026) == list(range(2020, 2027))
    assert parse_editions("2022, 2024-2025", last=2026) == [2022, 2024, 2025]
    for bad in ("2019-2022", "2022-2027", "2025-2023", "twenty", "2022-"):
        with pytest.raises(ValueError):
            parse_editions(bad, last=2026)


def test_a_release_is_dated_by_its_edition_and_parsed_with_the_mcs_2026_rules(
        config: Config) -> None:
    minerals = {name: m.id for m in config.minerals.minerals for name in m.usgs}
    observations = parse_release(edition_csv(), edition=2022, commodity_map=minerals)

    assert {o.source for o in observations} == {"usgs_mcs2022"}
    assert {o.published_at for o in observations} == {date(2022, 1, 31)}
    gallium = [o for o in observations if o.mineral == "gallium"
               and o.measure is Measure.PRODUCTION]
    assert {o.period.year for o in gallium} == {2020, 2021}
    china = next(o for o in gallium if o.country == "China" and o.period.year == 2020)
    assert china.value == 839_000 and china.stage == "refinery"
    # the same qualifiers as the bundled edition: W withheld, estimates marked "e"
    assert {o.qualifier for o in observations} >= {"", "e", "W"}


def test_a_zip_holding_the_release_table_is_read(config: Config) -> None:
    minerals = {name: m.id for m in config.minerals.minerals for name in m.usgs}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MCS2022_Commodities_Data.csv", edition_csv())
        archive.writestr("MCS2022_metadata.xml", "<metadata/>")
    from_zip = parse_release(buffer.getvalue(), edition=2022, commodity_map=minerals)
    assert from_zip == parse_release(edition_csv(), edition=2022, commodity_map=minerals)


@pytest.mark.parametrize(("body", "message"), [
    (b"<!DOCTYPE html><html><body>Item not found</body></html>", "got HTML/XML of"),
    (edition_csv(rename={"Value": "Amount"}), "missing column(s) Value"),
    (b"PK\x03\x04 truncated", "not a readable zip"),
])
def test_bad_release_files_are_named_errors(config: Config, body: bytes, message: str) -> None:
    minerals = {name: m.id for m in config.minerals.minerals for name in m.usgs}
    with pytest.raises(SourceFormatError) as caught:
        parse_release(body, edition=2023, commodity_map=minerals)
    assert str(caught.value).startswith("usgs_mcs2023: ") and message in str(caught.value)


def test_the_release_table_is_found_in_a_sciencebase_item() -> None:
    item = {"title": "Mineral Commodity Summaries 2026 Data Release", "files": [
        {"name": "MCS2026_metadata.xml", "downloadUri": "https://sb.example/get/1?f=meta"},
        {"name": "MCS2026_Commodities_Data.csv", "downloadUri": "https://sb.example/get/1?f=csv"},
    ]}
    url = sciencebase_file_url(json.dumps(item).encode(), pattern=r"Commodities_Data.*\.csv$",
                               item_url="https://sb.example/item/1", source="usgs_mcs2026")
    assert url == "https://sb.example/get/1?f=csv"
    per_commodity = {"files": [{"name": "world.zip", "downloadUri": "https://sb.example/w"}]}
    with pytest.raises(SourceFormatError, match="published per commodity only"):
        sciencebase_file_url(json.dumps(per_commodity).encode(), pattern=r"Commodities_Data",
                             item_url="https://sb.example/item/1", source="usgs_mcs2022")


# ----------------------------------------------------------------------------- end to end


def test_fetching_the_2022_edition_gives_gallium_a_score_in_2022(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/mcs2022.csv").respond_with_data(edition_csv(),
                                                                content_type="text/csv")
    code, _, err = critmon(tmp_path, "once")  # creates the store with the bundled data only
    assert code == 0, err
    assert gallium_score(tmp_path, "2022-06-30") is None  # no structural data before 2026

    code, rows, err = fetch(tmp_path, "--editions", "2022",
                            "--url", f"2022={httpserver.url_for('/mcs2022.csv')}")

    assert code == 0, err
    [row] = rows
    assert row["status"] == "ok" and row["published"] == "2022-01-31"
    assert row["production_rows"] > 100 and row["changed"] == row["rows"]
    assert gallium_score(tmp_path, "2022-06-30") is not None
    assert gallium_score(tmp_path, "2022-01-15") is None  # not public before 31 January 2022


def test_the_replay_uses_the_fetched_history(tmp_path: Path, httpserver: HTTPServer,
                                             config: Config) -> None:
    httpserver.expect_request("/mcs2022.csv").respond_with_data(edition_csv())
    assert fetch(tmp_path, "--editions", "2022",
                 "--url", f"2022={httpserver.url_for('/mcs2022.csv')}")[0] == 0
    window = {"start": date(2022, 3, 1), "end": date(2022, 5, 31), "minerals": ["gallium"]}

    without, _ = run_backtest(config, bundled_data(config), [], **window)
    data = with_fetched_history(bundled_data(config), config, tmp_path / "state")
    replayed, _ = run_backtest(config, data, [], **window)

    assert not without.scores.get("gallium")
    scores = replayed.scores["gallium"]
    assert any(date(2022, 3, 1) <= at <= date(2022, 5, 31) for at, _, _ in scores)
    assert min(at for at, _, _ in scores) == date(2022, 1, 31)  # the edition's date, not before


def test_a_bad_edition_fails_alone_and_keeps_what_was_stored(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/mcs2022.csv").respond_with_data(edition_csv())
    httpserver.expect_request("/mcs2023.csv").respond_with_data(edition_csv(-3))
    urls = ["--url", f"2022={httpserver.url_for('/mcs2022.csv')}",
            "--url", f"2023={httpserver.url_for('/mcs2023.csv')}"]
    assert fetch(tmp_path, "--editions", "2022-2023", *urls)[0] == 0
    before = stored(tmp_path, "usgs_mcs2023")

    httpserver.clear()
    httpserver.expect_request("/mcs2022.csv").respond_with_data(edition_csv())
    httpserver.expect_request("/mcs2023.csv").respond_with_data(
        "<html><body>ScienceBase is down for maintenance</body></html>", status=200,
        content_type="text/html")
    code, rows, err = fetch(tmp_path, "--editions", "2022-2023", *urls)

    assert code == 1
    assert [(r["edition"], r["status"]) for r in rows] == [(2022, "ok"), (2023, "failed")]
    assert "usgs_mcs2023: expected the release CSV, got HTML/XML" in rows[1]["error"]
    assert "maintenance" not in err + rows[1]["error"]
    assert "MCS 2023" in err
    assert stored(tmp_path, "usgs_mcs2023") == before


def test_an_edition_without_an_address_says_how_to_give_one(tmp_path: Path) -> None:
    code, rows, _err = fetch(tmp_path, "--editions", "2020")
    assert code == 1
    assert "no default address for MCS 2020: give --url 2020=URL" in rows[0]["error"]


def test_the_item_of_an_edition_is_read_from_a_sciencebase_mirror(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    item = {"files": [
        {"name": "world.zip", "downloadUri": httpserver.url_for("/get/world.zip")},
        {"name": "MCS2024_Commodities_Data.csv", "downloadUri": httpserver.url_for("/get/t")},
    ]}
    httpserver.expect_request("/catalog/item/65a6e45fd34e5af967a46749").respond_with_json(item)
    httpserver.expect_request("/get/t").respond_with_data(edition_csv(-2))

    code, rows, err = fetch(tmp_path, "--editions", "2024", "--item-url",
                            httpserver.url_for("/catalog/item/{item}"))

    assert code == 0, err
    assert rows[0]["url"] == httpserver.url_for("/get/t")
    assert {o.published_at for o in stored(tmp_path, "usgs_mcs2024")} == {date(2024, 1, 31)}
