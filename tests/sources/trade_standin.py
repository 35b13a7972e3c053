"""Local stand-ins for UN Comtrade's preview API and the Census trade API (for pytest-httpserver).

The answers have the shapes the APIs document: Comtrade's ``{"elements", "count", "data",
"error"}`` object with one record per reporter, partner, code and month (UN Comtrade API
documentation, comtradeplus.un.org; the ``comtradeapicall`` README), and Census's JSON array of
arrays with a header row (Census "Guide to Using U.S. International Trade Datasets in the
Census API").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from werkzeug import Request, Response

ISO = {156: "CHN", 842: "USA", 0: "W00", 392: "JPN", 180: "COD"}
CODE = {iso: code for code, iso in ISO.items()} | {"WLD": 0}


def comtrade_record(*, period: date, reporter: str, partner: str, hs: str, kg: float | None,
                    usd: float | None, flow: str = "X", **extra: object) -> dict[str, object]:
    """One record as the preview API returns it (the fields critmon reads, and some others)."""
    return {
        "typeCode": "C", "freqCode": "M", "refPeriodId": int(f"{period:%Y%m}01"),
        "refYear": period.year, "refMonth": period.month, "period": f"{period:%Y%m}",
        "reporterCode": CODE[reporter], "reporterISO": reporter, "reporterDesc": None,
        "flowCode": flow, "flowDesc": None,
        "partnerCode": CODE[partner] if partner in CODE else 1000 + int(partner[1:]),
        "partnerISO": "W00" if partner == "WLD" else partner, "partnerDesc": None,
        "partner2Code": 0, "partner2ISO": "W00", "classificationCode": "H6",
        "isOriginalClassification": True, "cmdCode": hs, "cmdDesc": None,
        "aggrLevel": len(hs), "isLeaf": True, "customsCode": "C00", "customsDesc": None,
        "mosCode": "0", "motCode": 0, "motDesc": None, "qtyUnitCode": 8, "qtyUnitAbbr": "kg",
        "qty": kg, "isQtyEstimated": False, "altQtyUnitCode": 8, "altQtyUnitAbbr": "kg",
        "altQty": kg, "isAltQtyEstimated": False, "netWgt": kg, "isNetWgtEstimated": False,
        "grossWgt": kg, "isGrossWgtEstimated": False, "cifvalue": None, "fobvalue": usd,
        "primaryValue": usd, "legacyEstimationFlag": 0, "isReported": True,
        "isAggregate": False, **extra,
    }


def comtrade_answer(records: list[dict[str, object]], error: str = "") -> bytes:
    return json.dumps({"elements": None, "count": len(records), "data": records,
                       "error": error}).encode()


@dataclass
class ComtradeStandIn:
    """Serves records filtered by the query's reporter, periods, codes, flow and partners,
    at most ``cap`` a call, like the preview; logs every query."""

    records: list[dict[str, object]]
    cap: int = 500
    queries: list[dict[str, str]] = field(default_factory=list)
    override: Callable[[Request], Response | None] | None = None

    def __call__(self, request: Request) -> Response:
        args = {k: request.args[k] for k in request.args}
        self.queries.append(args)
        if self.override is not None and (answer := self.override(request)) is not None:
            return answer
        periods = set(args.get("period", "").split(","))
        codes = set(args.get("cmdCode", "").split(","))
        partners = set(args["partnerCode"].split(",")) if "partnerCode" in args else None
        rows = [r for r in self.records
                if str(r["reporterCode"]) == args.get("reporterCode")
                and r["period"] in periods and r["cmdCode"] in codes
                and r["flowCode"] == args.get("flowCode")
                and (partners is None or str(r["partnerCode"]) in partners)]
        return Response(comtrade_answer(rows[:self.cap]), content_type="application/json")


def monthly(first: date, count: int) -> list[date]:
    out, year, month = [], first.year, first.month
    for _ in range(count):
        out.append(date(year, month, 1))
        year, month = (year + (month == 12), month % 12 + 1)
    return out


def census_answer(rows: Iterable[tuple[str, str, float, float, str, str, str]]) -> bytes:
    header = ["CTY_CODE", "CTY_NAME", "GEN_VAL_MO", "GEN_QY1_MO", "UNIT_QY1", "time",
              "I_COMMODITY", "COMM_LVL"]
    body = [header] + [[c, n, str(v), str(q), u, t, hs, f"HS{len(hs)}"]
                       for c, n, v, q, u, t, hs in rows]
    return json.dumps(body).encode()
