"""The Comtrade preview parser on answers shaped as the UN Comtrade API documents them.

Shape: ``{"elements": null, "count": N, "data": [{refYear, refMonth, period, reporterCode,
reporterISO, flowCode, partnerCode, partnerISO, cmdCode, netWgt, primaryValue, customsCode,
motCode, partner2Code, ...}], "error": ""}`` (UN Comtrade API documentation on
comtradeplus.un.org and the ``comtradeapicall`` client's README; the record fields as in the
API's data-item schema).
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from monitor.core.errors import SourceFormatError, SourceUnavailableError
from monitor.core.trade import WORLD
from monitor.sources.comtrade import parse_comtrade, periods_back, plan, query_url
from tests.sources.trade_standin import comtrade_answer, comtrade_record

AUG = date(2023, 8, 1)


def test_records_become_flows_with_iso_codes_kg_and_usd() -> None:
    body = comtrade_answer([
        comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=4800.0,
                        usd=1_440_000.0),
        comtrade_record(period=AUG, reporter="CHN", partner="WLD", hs="811292", kg=20000.0,
                        usd=6_000_000.0),
    ])
    flows, capped = parse_comtrade(body, source="comtrade_exports")
    assert not capped
    assert [(f.period, f.reporter, f.partner, f.flow, f.hs, f.net_weight_kg, f.value_usd)
            for f in flows] == [
        (AUG, "CHN", "USA", "X", "811292", 4800.0, 1_440_000.0),
        (AUG, "CHN", WORLD, "X", "811292", 20000.0, 6_000_000.0)]
    assert {f.source for f in flows} == {"comtrade_exports"}


def test_rows_by_customs_procedure_or_transport_mode_are_not_counted_twice() -> None:
    body = comtrade_answer([
        comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=10.0, usd=1.0),
        comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=4.0, usd=1.0,
                        motCode=1000),
        comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=6.0, usd=1.0,
                        customsCode="C01"),
    ])
    flows, _ = parse_comtrade(body, source="c")
    assert [f.net_weight_kg for f in flows] == [10.0]


def test_a_null_weight_stays_unknown() -> None:
    body = comtrade_answer([comtrade_record(period=AUG, reporter="CHN", partner="USA",
                                            hs="811292", kg=None, usd=5.0)])
    assert parse_comtrade(body, source="c")[0][0].net_weight_kg is None


def test_an_answer_at_the_cap_says_so() -> None:
    records = [comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=1.0,
                               usd=1.0)] * 500
    assert parse_comtrade(comtrade_answer(records), source="c")[1] is True


def test_an_empty_month_is_no_rows_not_an_error() -> None:
    assert parse_comtrade(comtrade_answer([]), source="c") == ([], False)


@pytest.mark.parametrize(("body", "message"), [
    (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "HTML page"),
    (b'{"elements": null, "count": 0, "data": [], "error": "Invalid cmdCode"}',
     "answered with an error: Invalid cmdCode"),
    (b'{"count": 1, "rows": []}', "no 'data' list"),
    (b"[1, 2]", "not an object"),
    (b"not json at all", "not JSON"),
])
def test_bad_answers_name_the_source(body: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message) as caught:
        parse_comtrade(body, source="comtrade_exports")
    assert caught.value.source == "comtrade_exports"
    assert str(caught.value).startswith("comtrade_exports: ")


def test_a_renamed_field_is_named_in_the_error() -> None:
    record = comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=1.0,
                             usd=1.0)
    record["partnerIso"] = record.pop("partnerISO")
    with pytest.raises(SourceFormatError, match=r"data\[0\] lacks partnerISO"):
        parse_comtrade(comtrade_answer([record]), source="c")


@pytest.mark.parametrize("field_value", [{"netWgt": "4800"}, {"netWgt": -5.0},
                                         {"period": "2023-08"}, {"flowCode": "RX"}])
def test_bad_values_are_refused(field_value: dict[str, object]) -> None:
    record = comtrade_record(period=AUG, reporter="CHN", partner="USA", hs="811292", kg=1.0,
                             usd=1.0) | field_value
    with pytest.raises(SourceFormatError, match="data\\[0\\]"):
        parse_comtrade(comtrade_answer([record]), source="c")


@pytest.mark.parametrize("payload", [
    {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 1 seconds."},
    {"statusCode": 403, "message": "Out of call volume quota. Quota will be replenished in "
                                   "02:11:00."},
])
def test_the_gateway_quota_answer_is_retryable(payload: dict[str, object]) -> None:
    with pytest.raises(SourceUnavailableError, match="Comtrade gateway"):
        parse_comtrade(json.dumps(payload).encode(), source="c")


def test_a_quota_error_field_is_retryable() -> None:
    body = comtrade_answer([], error="Quota exceeded for preview calls")
    with pytest.raises(SourceUnavailableError, match="quota"):
        parse_comtrade(body, source="c")


def test_query_url_uses_m49_codes_and_batches_periods() -> None:
    url = query_url("https://comtradeapi.un.org/public/v1/preview/C/M/HS", reporter="CHN",
                    flow="X", periods=[date(2023, 7, 1), AUG], codes=["811292", "282560"],
                    partners=["WLD", "USA"])
    assert url == ("https://comtradeapi.un.org/public/v1/preview/C/M/HS?reporterCode=156"
                   "&period=202307,202308&cmdCode=811292,282560&flowCode=X&partnerCode=0,842")


def test_plan_keeps_each_call_under_the_cap() -> None:
    periods = periods_back(date(2023, 12, 1), 24)
    codes = [f"81{n:04d}" for n in range(22)]
    calls = plan(periods, codes, 7)
    assert all(len(months) * len(chunk) * 7 <= 500 for months, chunk in calls)
    assert sorted((m, c) for months, chunk in calls for m in months for c in chunk) == \
        sorted((m, c) for m in periods for c in codes)
    assert len(calls) == 10
    assert plan(periods[:1], ["811292"], 900) == [([periods[0]], ["811292"])]
