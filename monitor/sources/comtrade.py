"""UN Comtrade's public preview API: query URLs and a parser of its JSON answer (pure).

Endpoint (keyless; at most 500 records a call)::

    https://comtradeapi.un.org/public/v1/preview/C/M/HS?reporterCode=156&period=202308,202309
        &cmdCode=811292,282560&flowCode=X

(``C`` goods, ``M`` monthly, ``HS`` as reported; ``partnerCode`` omitted = every partner,
the world total included as partner ``0``). The answer, per the UN Comtrade API documentation
(comtradeplus.un.org, "UN Comtrade API" and the ``comtradeapicall`` client's README) is::

    {"elements": null, "count": 2, "data": [{"typeCode": "C", "freqCode": "M",
      "refPeriodId": 20230801, "refYear": 2023, "refMonth": 8, "period": "202308",
      "reporterCode": 156, "reporterISO": "CHN", "flowCode": "X", "partnerCode": 842,
      "partnerISO": "USA", "cmdCode": "811292", "netWgt": 4800.0, "primaryValue": 1.5e6,
      "customsCode": "C00", "motCode": 0, "partner2Code": 0, ...}], "error": ""}

Rows for a customs procedure or transport mode other than the total (``customsCode`` C00,
``motCode`` 0, ``partner2Code`` 0) are skipped, so a month is never counted twice. ``netWgt``
is in kg; ``primaryValue`` in USD (FOB for exports, CIF for imports); ``null`` stays unknown.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from monitor.core.errors import SourceFormatError, SourceUnavailableError
from monitor.core.trade import M49, WORLD, TradeFlow
from monitor.core.untrusted import clean_text

#: The preview API's cap on records per call: an answer this long may be cut short.
RECORD_CAP = 500
#: Periods per call the preview accepts (it serves at most 12).
MAX_PERIODS = 12
_TOTAL_CODES = {"customsCode": ("C00", ""), "motCode": (0, "0", None),
                "partner2Code": (0, "0", None)}
_REQUIRED = ("period", "reporterISO", "partnerISO", "flowCode", "cmdCode")

def query_url(base: str, *, reporter: str, flow: str, periods: Sequence[date],
              codes: Sequence[str], partners: Sequence[str] | None = None) -> str:
    """The preview URL for one reporter, flow, up to 12 months, some HS codes and partners."""
    if reporter not in M49:
        raise ValueError(f"no UN M49 code known for reporter {reporter!r}")
    params: dict[str, str] = {
        "reporterCode": str(M49[reporter]),
        "period": ",".join(f"{p.year:04d}{p.month:02d}" for p in periods[:MAX_PERIODS]),
        "cmdCode": ",".join(codes), "flowCode": flow,
    }
    if partners:
        params["partnerCode"] = ",".join("0" if p == WORLD else str(M49[p]) for p in partners)
    joiner = "&" if "?" in base else "?"  # a url may carry its own key=${ENV_VAR}
    return f"{base}{joiner}{urllib.parse.urlencode(params, safe=',')}"


def plan(periods: Sequence[date], codes: Sequence[str], partners: int
         ) -> list[tuple[list[date], list[str]]]:
    """Split a query into calls expected to stay under the 500-record cap.

    A call returns at most months x codes x partners records; ``partners`` is the number asked
    for, or an estimate when every partner is asked. Months are grouped first (up to 12 a
    call), then codes.
    """
    per_month = max(1, partners)
    months = max(1, min(MAX_PERIODS, RECORD_CAP // per_month))
    calls = []
    for start in range(0, len(periods), months):
        chunk = list(periods[start:start + months])
        width = max(1, RECORD_CAP // (len(chunk) * per_month))
        for first in range(0, len(codes), width):
            calls.append((chunk, list(codes[first:first + width])))
    return calls


def parse_comtrade(body: bytes, *, source: str) -> tuple[list[TradeFlow], bool]:
    """The flows of one preview answer, and whether it hit the 500-record cap.

    Raises ``SourceFormatError`` naming the source for anything that is not the documented
    JSON shape (an HTML error page, a renamed field, ``error`` set), and
    ``SourceUnavailableError`` for the API's quota answer served with status 200.
    """
    payload = _load(body, source)
    error = payload.get("error")
    if error:
        text = clean_text(str(error), limit=200)
        if _is_quota(text):
            raise SourceUnavailableError(f"{source}: Comtrade quota reached: {text}",
                                         source=source)
        raise SourceFormatError(f"{source}: Comtrade answered with an error: {text}",
                                source=source)
    data = payload.get("data")
    if not isinstance(data, list):
        raise SourceFormatError(f"{source}: Comtrade answer has no 'data' list "
                                f"({json_type(data)})", source=source)
    flows = [flow for index, row in enumerate(data)
             if (flow := _flow(row, index, source)) is not None]
    return flows, len(data) >= RECORD_CAP


def _load(body: bytes, source: str) -> dict[str, Any]:
    head = body.lstrip()[:1]
    if head == b"<":
        raise SourceFormatError(f"{source}: Comtrade sent an HTML page, not JSON (an error "
                                "page or a portal in the way)", source=source)
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceFormatError(f"{source}: Comtrade answer is not JSON: "
                                f"{clean_text(str(exc), limit=120)}", source=source) from None
    if not isinstance(payload, dict):
        raise SourceFormatError(f"{source}: Comtrade answer is {json_type(payload)}, "
                                "not an object", source=source)
    if "statusCode" in payload and "data" not in payload:
        # The API gateway's own answer (quota, rate limit) with a 200 in front of it.
        message = clean_text(str(payload.get("message", "")), limit=200)
        raise SourceUnavailableError(f"{source}: Comtrade gateway: {message}", source=source)
    return payload


def _is_quota(text: str) -> bool:
    lowered = text.lower()
    return "quota" in lowered or "rate limit" in lowered


def _flow(row: object, index: int, source: str) -> TradeFlow | None:
    if not isinstance(row, dict):
        raise SourceFormatError(f"{source}: data[{index}] is {json_type(row)}, not a "
                                "record", source=source)
    missing = [name for name in _REQUIRED if name not in row]
    if missing:
        raise SourceFormatError(f"{source}: data[{index}] lacks {', '.join(missing)} (has "
                                f"{clean_text(', '.join(sorted(map(str, row)))[:200])})",
                                source=source)
    if not _is_total(row):
        return None
    period = _period(row["period"], index, source)
    partner = str(row["partnerISO"] or "")
    if str(row.get("partnerCode")) == "0" or partner in ("W00", "WLD"):
        partner = WORLD
    return TradeFlow(period=period, reporter=_code(row["reporterISO"], "reporterISO", index,
                                                   source),
                     partner=_code(partner, "partnerISO", index, source),
                     flow=_flow_code(row["flowCode"], index, source),
                     hs=_hs(row["cmdCode"], index, source),
                     value_usd=_number(row.get("primaryValue"), "primaryValue", index, source),
                     net_weight_kg=_number(row.get("netWgt"), "netWgt", index, source),
                     source=source)


def _is_total(row: dict[str, Any]) -> bool:
    return all(row.get(name, allowed[0]) in allowed for name, allowed in _TOTAL_CODES.items())


def _period(value: object, index: int, source: str) -> date:
    text = str(value)
    if len(text) != 6 or not text.isdigit() or not 1 <= int(text[4:]) <= 12:
        raise SourceFormatError(f"{source}: data[{index}].period {clean_text(text, limit=20)!r}"
                                " is not a month (YYYYMM)", source=source)
    return date(int(text[:4]), int(text[4:]), 1)


def _code(value: object, field: str, index: int, source: str) -> str:
    text = str(value or "").strip().upper()
    if not text.isalnum() or len(text) > 8:
        raise SourceFormatError(f"{source}: data[{index}].{field} "
                                f"{clean_text(text, limit=20)!r} is not a country code",
                                source=source)
    return text


def _flow_code(value: object, index: int, source: str) -> str:
    text = str(value)
    if text not in ("X", "M"):
        raise SourceFormatError(f"{source}: data[{index}].flowCode "
                                f"{clean_text(text, limit=10)!r} is not X or M", source=source)
    return text


def _hs(value: object, index: int, source: str) -> str:
    text = str(value).strip()
    if not text.isdigit() or not 2 <= len(text) <= 10:
        raise SourceFormatError(f"{source}: data[{index}].cmdCode "
                                f"{clean_text(text, limit=20)!r} is not an HS code",
                                source=source)
    return text


def _number(value: object, field: str, index: int, source: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SourceFormatError(f"{source}: data[{index}].{field} is {json_type(value)},"
                                " not a number", source=source)
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise SourceFormatError(f"{source}: data[{index}].{field} is not a finite amount >= 0",
                                source=source)
    return number


def periods_back(latest: date, months: int) -> list[date]:
    """``months`` months ending at ``latest``, oldest first."""
    out = []
    year, month = latest.year, latest.month
    for _ in range(months):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    """``items`` in runs of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def json_type(value: object) -> str:
    """What a JSON value is, without quoting it: ``an object``, ``a list``, ``a string``."""
    if value is None:
        return "null"
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)
