"""The Census trade parser on answers shaped as the Census Data API documents them.

Shape: a JSON array of arrays whose first row is the header; the ``get`` variables then the
predicate variables (``time``, ``I_COMMODITY``, ``COMM_LVL``) (Census "Guide to Using U.S.
International Trade Datasets in the Census API", sections "Output Format" and "Available
Variables by Endpoint": CTY_CODE, CTY_NAME, GEN_VAL_MO, GEN_QY1_MO, UNIT_QY1).
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from monitor.core.errors import SourceFormatError
from monitor.core.trade import WORLD
from monitor.sources.census import parse_census, query_url
from tests.sources.trade_standin import census_answer

AUG = date(2023, 8, 1)


def test_rows_become_us_import_flows_by_iso_partner() -> None:
    body = census_answer([
        ("5700", "CHINA", 1_440_000, 4800, "KG", "2023-08", "8112921000"),
        ("4280", "GERMANY", 300_000, 1000, "KG", "2023-08", "8112921000"),
        ("-", "TOTAL FOR ALL COUNTRIES", 1_740_000, 5800, "KG", "2023-08", "8112921000"),
        ("0003", "EUROPEAN UNION", 300_000, 1000, "KG", "2023-08", "8112921000"),
        ("9999", "ATLANTIS", 5, 1, "KG", "2023-08", "8112921000"),
    ])
    flows = parse_census(body, source="census_us_imports")
    assert [(f.partner, f.reporter, f.flow, f.period, f.hs, f.value_usd, f.net_weight_kg)
            for f in flows] == [
        ("CHN", "USA", "M", AUG, "8112921000", 1_440_000.0, 4800.0),
        ("DEU", "USA", "M", AUG, "8112921000", 300_000.0, 1000.0),
        (WORLD, "USA", "M", AUG, "8112921000", 1_740_000.0, 5800.0),
        ("C9999", "USA", "M", AUG, "8112921000", 5.0, 1.0)]


def test_a_quantity_not_in_kg_is_no_weight() -> None:
    body = census_answer([("5700", "CHINA", 100, 7, "NO", "2023-08", "2504100000")])
    assert parse_census(body, source="c")[0].net_weight_kg is None


def test_a_renamed_column_is_named() -> None:
    rows = json.loads(census_answer([("5700", "CHINA", 1, 1, "KG", "2023-08", "8112921000")]))
    rows[0][2] = "GEN_VAL_MONTH"
    with pytest.raises(SourceFormatError, match=r"census_us_imports: .*lacks column.*GEN_VAL_MO"):
        parse_census(json.dumps(rows).encode(), source="census_us_imports")


@pytest.mark.parametrize(("body", "message"), [
    (b"<html><body>Invalid Key</body></html>", "HTML page"),
    (b"error: unknown variable 'GEN_VAL'", "not JSON"),
    (b'{"error": "x"}', "not a table"),
    (b'[["CTY_CODE","GEN_VAL_MO","time","I_COMMODITY"],["5700","abc","2023-08","81"]]',
     "GEN_VAL_MO 'abc' is not a number"),
    (b'[["CTY_CODE","GEN_VAL_MO","time","I_COMMODITY"],["5700","1","Aug 2023","81"]]',
     "time 'Aug 2023' is not YYYY-MM"),
    (b'[["CTY_CODE","GEN_VAL_MO","time","I_COMMODITY"],["5700","1"]]', "wrong length"),
])
def test_bad_answers_name_the_source(body: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message) as caught:
        parse_census(body, source="census_us_imports")
    assert caught.value.source == "census_us_imports"


def test_query_url_asks_a_month_range_in_one_call() -> None:
    url = query_url("https://api.census.gov/data/timeseries/intltrade/imports/hs",
                    periods=[date(2023, 6, 1), date(2023, 7, 1), AUG], code="8112921000")
    assert url == ("https://api.census.gov/data/timeseries/intltrade/imports/hs?get=CTY_CODE,"
                   "CTY_NAME,GEN_VAL_MO,GEN_QY1_MO,UNIT_QY1&time=from+2023-06+to+2023-08"
                   "&I_COMMODITY=8112921000&COMM_LVL=HS10")


def test_a_key_in_the_configured_url_is_kept() -> None:
    url = query_url("https://api.census.gov/data/timeseries/intltrade/imports/hs?key=K",
                    periods=[AUG], code="811292")
    assert url.startswith("https://api.census.gov/data/timeseries/intltrade/imports/hs?key=K"
                          "&get=CTY_CODE,")
    assert "&time=2023-08&" in url and url.endswith("COMM_LVL=HS6")
