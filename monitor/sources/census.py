"""The US Census Bureau's international trade API: query URLs and a parser (pure).

Endpoint (monthly US imports by HS code and country; up to 500 calls a day without a key, per
the Census "Guide to Using U.S. International Trade Datasets in the Census API")::

    https://api.census.gov/data/timeseries/intltrade/imports/hs
        ?get=CTY_CODE,CTY_NAME,GEN_VAL_MO,GEN_QY1_MO,UNIT_QY1&time=2023-08
        &I_COMMODITY=8112921000&COMM_LVL=HS10

The answer is a JSON array of arrays whose first row names the columns (the Census Data API's
format); the predicate variables (``time``, ``I_COMMODITY``, ``COMM_LVL``) come back as extra
columns::

    [["CTY_CODE","CTY_NAME","GEN_VAL_MO","GEN_QY1_MO","UNIT_QY1","time","I_COMMODITY"],
     ["5700","CHINA","1500000","4800","KG","2023-08","8112921000"], ...]

``GEN_VAL_MO`` is the general-imports customs value in USD; ``GEN_QY1_MO`` the first quantity
in ``UNIT_QY1`` (kg for the metals here: it counts as the net weight only when the unit is
``KG``). An empty month is answered with HTTP 204 and no body, which the fetcher reports as an
empty body. Countries are Census Schedule C codes; the world total is ``-``; grouping codes
(``0003`` European Union, ``1XXX`` North America, ...) are skipped.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from datetime import date

from monitor.core.errors import SourceFormatError
from monitor.core.trade import IMPORT, WORLD, TradeFlow
from monitor.core.untrusted import clean_text
from monitor.sources.comtrade import json_type

FIELDS = ("CTY_CODE", "CTY_NAME", "GEN_VAL_MO", "GEN_QY1_MO", "UNIT_QY1")
_REQUIRED = ("CTY_CODE", "GEN_VAL_MO", "time", "I_COMMODITY")

#: Census Schedule C country code -> ISO alpha-3 (the partners that matter for these minerals).
SCHEDULE_C: dict[str, str] = {
    "-": WORLD, "5700": "CHN", "1220": "CAN", "2010": "MEX", "5880": "JPN", "4280": "DEU",
    "4279": "FRA", "4120": "GBR", "5800": "KOR", "5830": "TWN", "5330": "IND", "3510": "BRA",
    "3370": "CHL", "6021": "AUS", "4621": "RUS", "4231": "BEL", "4210": "NLD", "7910": "ZAF",
    "5600": "IDN", "7660": "COD", "5520": "VNM", "3330": "PER", "3570": "ARG", "3350": "BOL",
    "4634": "KAZ", "4759": "ITA", "4700": "ESP", "4419": "CHE", "5650": "PHL", "5570": "MYS",
    "5490": "THA", "5820": "HKG", "5590": "SGP", "4330": "AUT", "4890": "TUR", "5081": "ISR",
    "4039": "NOR", "4623": "UKR",
}


def query_url(base: str, *, periods: Sequence[date], code: str) -> str:
    """The URL of some months of US imports of one HS code (HS2 to HS10) from every country.

    Several months are one range (``time=from 2023-01 to 2023-08``, the Census timeseries
    syntax), so a poll costs one call per code.
    """
    first, last = min(periods), max(periods)
    when = f"{first:%Y-%m}" if first == last else f"from {first:%Y-%m} to {last:%Y-%m}"
    params = {"get": ",".join(FIELDS), "time": when, "I_COMMODITY": code,
              "COMM_LVL": f"HS{len(code)}"}
    joiner = "&" if "?" in base else "?"  # a url may carry its own key=${ENV_VAR}
    return f"{base}{joiner}{urllib.parse.urlencode(params, safe=',')}"


def parse_census(body: bytes, *, source: str) -> list[TradeFlow]:
    """US import flows from one Census answer; ``SourceFormatError`` naming the source else."""
    rows = _load(body, source)
    header = [str(name) for name in rows[0]]
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise SourceFormatError(f"{source}: Census answer lacks column(s) {', '.join(missing)}"
                                f" (header: {clean_text(', '.join(header), limit=200)})",
                                source=source)
    at = {name: header.index(name) for name in header}
    flows = []
    for number, row in enumerate(rows[1:], start=1):
        if not isinstance(row, list) or len(row) != len(header):
            raise SourceFormatError(f"{source}: row {number} is {json_type(row)} of the wrong "
                                    "length", source=source)
        flow = _flow(row, at, number, source)
        if flow is not None:
            flows.append(flow)
    return flows


def _load(body: bytes, source: str) -> list[list[object]]:
    if body.lstrip()[:1] == b"<":
        raise SourceFormatError(f"{source}: Census sent an HTML page, not JSON (an error page,"
                                " or the API asks for a key)", source=source)
    try:
        rows = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        text = clean_text(body[:120].decode("utf-8", "replace"), limit=120)
        raise SourceFormatError(f"{source}: Census answer is not JSON: {text!r}",
                                source=source) from None
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], list):
        raise SourceFormatError(f"{source}: Census answer is {json_type(rows)}, not a table "
                                "with a header row", source=source)
    return rows


def _flow(row: Sequence[object], at: dict[str, int], number: int, source: str
          ) -> TradeFlow | None:
    code = str(row[at["CTY_CODE"]]).strip()
    partner = SCHEDULE_C.get(code)
    if partner is None:
        if not code.isdigit() or code.startswith("0"):
            return None  # a grouping (EU, OPEC, North America...), not a country
        partner = f"C{code}"  # a country critmon has no ISO code for: kept, not guessed
    period = _month(str(row[at["time"]]), number, source)
    hs = str(row[at["I_COMMODITY"]]).strip()
    if not hs.isdigit():
        raise SourceFormatError(f"{source}: row {number}: I_COMMODITY "
                                f"{clean_text(hs, limit=20)!r} is not an HS code", source=source)
    value = _number(row[at["GEN_VAL_MO"]], "GEN_VAL_MO", number, source)
    weight = None
    if "GEN_QY1_MO" in at and "UNIT_QY1" in at and \
            str(row[at["UNIT_QY1"]]).strip().upper() == "KG":
        weight = _number(row[at["GEN_QY1_MO"]], "GEN_QY1_MO", number, source)
    return TradeFlow(period=period, reporter="USA", partner=partner, flow=IMPORT, hs=hs,
                     value_usd=value, net_weight_kg=weight, source=source)


def _month(text: str, number: int, source: str) -> date:
    try:
        year, month = text.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise SourceFormatError(f"{source}: row {number}: time {clean_text(text, limit=20)!r} "
                                "is not YYYY-MM", source=source) from None


def _number(value: object, field: str, number: int, source: str) -> float | None:
    if value is None or str(value).strip() in ("", "-", "(D)", "(X)", "N/A"):
        return None
    try:
        amount = float(str(value).strip())
    except ValueError:
        raise SourceFormatError(f"{source}: row {number}: {field} "
                                f"{clean_text(str(value), limit=20)!r} is not a number",
                                source=source) from None
    if not 0 <= amount < float("inf"):
        raise SourceFormatError(f"{source}: row {number}: {field} is not a finite amount >= 0",
                                source=source)
    return amount
