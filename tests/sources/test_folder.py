"""A licensed price feed through the ``table`` kind: the examples of docs/sources.md, run.

The YAML examples are read from the page itself, so the documented configuration is the one
tested: a folder of xlsx exports, and a CSV export polled from a URL with its key in the
environment.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import Workbook
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.cli.main import cli
from monitor.config.load import default_config_dir
from monitor.config.sources import SourcesFile, TableSource
from monitor.core.errors import SourceFormatError, SourceUnavailableError
from monitor.sources.folder import read_folder
from monitor.sources.http import HttpFetcher
from monitor.sources.polling import poll_source
from monitor.store.database import DB_NAME, Store

DOC = Path(__file__).resolve().parents[2] / "docs" / "sources.md"
T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)


def doc_examples() -> list[dict]:
    """The source entries in the YAML blocks of the licensed-feed section of the page."""
    section = DOC.read_text("utf-8").split("## Your own licensed price feed", 1)[1]
    blocks = section.split("```yaml\n")[1:]
    return [yaml.safe_load(block.split("```", 1)[0])[0] for block in blocks]


def folder_source(folder: Path, **extra: object) -> TableSource:
    spec = {**doc_examples()[0], "url": folder.as_uri() + "/", "jitter": "0s", **extra}
    return SourcesFile.model_validate({"sources": [spec]}).sources[0]  # type: ignore[return-value]


def export(path: Path, rows: list[tuple[date, float]]) -> None:
    """An agency-style workbook: title rows, then the header, then one row per day."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Prices"
    sheet.append(["Cobalt standard grade, in-whs Rotterdam"])
    sheet.append(["Licensed data - do not redistribute"])
    sheet.append([])
    sheet.append(["Date", "Low", "High", "Mid", "Unit"])
    for day, mid in rows:
        sheet.append([datetime(day.year, day.month, day.day), mid - 0.2, mid + 0.2, mid,
                      "USD/lb"])
    book.save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "exports"
    path.mkdir()
    export(path / "cobalt_2026-02-27.xlsx", [(date(2026, 2, 25), 15.1), (date(2026, 2, 26), 15.3),
                                             (date(2026, 2, 27), 15.4)])
    export(path / "cobalt_2026-03-02.xlsx", [(date(2026, 2, 27), 15.5), (date(2026, 3, 2), 15.9)])
    (path / ".cobalt_2026-03-03.xlsx.part").write_bytes(b"PK\x03\x04 half a download")
    (path / "readme.txt").write_text("not an export", encoding="utf-8")
    return path


def test_the_documented_examples_are_valid_sources() -> None:
    examples = doc_examples()
    assert [e["id"] for e in examples] == ["pra_cobalt", "pra_minor_metals"]
    parsed = SourcesFile.model_validate({"sources": examples}).sources
    assert [s.kind for s in parsed] == ["table", "table"]


def test_a_folder_of_xlsx_exports_is_read_later_file_winning(
        folder: Path, store: Store, fetcher: HttpFetcher) -> None:
    outcome = poll_source(folder_source(folder), fetcher, store, T0)

    assert outcome.ok, outcome.error
    prices = {o.period: o for o in store.observations(source="pra_cobalt")}
    assert sorted(prices) == [date(2026, 2, 25), date(2026, 2, 26), date(2026, 2, 27),
                              date(2026, 3, 2)]
    assert prices[date(2026, 2, 27)].value == 15.5  # the later export's assessment
    assert {(o.mineral, o.unit, o.series, o.frequency) for o in prices.values()} == {
        ("cobalt", "USD/lb", "Mid", "D")}


def test_an_unchanged_folder_reads_nothing_and_a_new_export_is_picked_up(
        folder: Path, store: Store, fetcher: HttpFetcher) -> None:
    source = folder_source(folder)
    assert poll_source(source, fetcher, store, T0).ok
    second = poll_source(source, fetcher, store, T0.replace(hour=19))
    assert second.ok and second.not_modified and second.rows == 0

    export(folder / "cobalt_2026-03-03.xlsx", [(date(2026, 3, 3), 16.2)])
    third = poll_source(source, fetcher, store, datetime(2026, 3, 3, 18, 0, tzinfo=UTC))

    assert third.ok and not third.not_modified and third.changed == 1
    assert max(o.period for o in store.observations(source="pra_cobalt")) == date(2026, 3, 3)


def test_a_bad_file_fails_the_poll_by_name_and_keeps_the_stored_prices(
        folder: Path, store: Store, fetcher: HttpFetcher) -> None:
    source = folder_source(folder)
    assert poll_source(source, fetcher, store, T0).ok
    before = store.observations(source="pra_cobalt")
    (folder / "cobalt_2026-03-03.xlsx").write_bytes(
        b"<html><body>Session expired, please log in again</body></html>")

    outcome = poll_source(source, fetcher, store, T0.replace(hour=19))

    assert not outcome.ok and outcome.error is not None
    assert "pra_cobalt: file cobalt_2026-03-03.xlsx: body: expected an xlsx workbook, got " \
           "HTML/XML" in outcome.error
    assert "Session" not in outcome.error
    assert store.observations(source="pra_cobalt") == before


def test_a_sheet_without_the_named_columns_says_which(
        folder: Path, store: Store, fetcher: HttpFetcher) -> None:
    outcome = poll_source(folder_source(folder, value_field="Settlement"), fetcher, store, T0)
    assert not outcome.ok and outcome.error is not None
    assert "file cobalt_2026-02-27.xlsx" in outcome.error
    assert "no header row naming 'Date', 'Settlement' in the first 20 rows" in outcome.error


def test_an_empty_or_missing_folder_is_a_retryable_failure(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (empty, tmp_path / "absent"):
        with pytest.raises(SourceUnavailableError):
            read_folder(path.as_uri(), pattern="*.xlsx", source="pra", etag=None,
                        max_bytes=1_000_000)


def test_the_folder_is_bounded_by_max_bytes_in_all(folder: Path) -> None:
    with pytest.raises(SourceFormatError, match="exceed 1000 bytes"):
        read_folder(folder.as_uri(), pattern="*.xlsx", source="pra", etag=None, max_bytes=1000)


@pytest.mark.parametrize(("extra", "message"), [
    ({"url": "https://exports.pra.example/daily/"}, "needs a file:// url of the folder"),
    ({"files": "../*.xlsx"}, "must be a file-name pattern"),
    ({"format": "csv"}, "sheet applies to format: xlsx only"),
])
def test_folder_settings_are_checked_when_the_config_loads(extra: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SourcesFile.model_validate({"sources": [{**doc_examples()[0], **extra}]})


def test_a_csv_export_polled_from_a_url_keeps_its_key_secret(
        tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "pra-key-7f3a9c"
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.args.get("api_key", ""))
        return Response("assessment_date,mineral,price_mid,basis\n"
                        "2026-02-20,germanium,2810.5,Rotterdam\n"
                        "2026-02-27,germanium,2875.0,Rotterdam\n"
                        "2026-02-27,antimony,58.2,Rotterdam\n", content_type="text/csv")

    httpserver.expect_request("/v1/minor-metals.csv").respond_with_handler(handler)
    example = doc_examples()[1]
    example["url"] = example["url"].replace("https://exports.pra.example",
                                            httpserver.url_for("").rstrip("/"))
    config = tmp_path / "config"
    shutil.copytree(default_config_dir(), config)
    (config / "sources.yaml").write_text(yaml.safe_dump({"version": 1, "sources": [example]}),
                                         encoding="utf-8")
    monkeypatch.setenv("PRA_API_KEY", key)
    runner = CliRunner()
    base = ["--config", str(config), "--state-dir", str(tmp_path / "state")]

    once = runner.invoke(cli, [*base, "once"], env={**os.environ})
    listed = runner.invoke(cli, [*base, "sources", "list", "--format", "json"])

    assert once.exit_code == 0, once.output
    assert seen == [key]
    [state] = json.loads(listed.stdout)
    assert state["status"] == "ok" and key not in listed.stdout + once.output
    with Store.open(tmp_path / "state" / DB_NAME) as store:
        rows = store.observations(source="pra_minor_metals")
        dump = io.StringIO()
        for line in store.db.conn.iterdump():
            dump.write(line)
    assert {(o.mineral, o.period, o.value) for o in rows} == {
        ("germanium", date(2026, 2, 20), 2810.5), ("germanium", date(2026, 2, 27), 2875.0),
        ("antimony", date(2026, 2, 27), 58.2)}
    assert key not in dump.getvalue()
