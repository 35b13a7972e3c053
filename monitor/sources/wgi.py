"""Pure parser of the World Bank Worldwide Governance Indicators (WGI) CSV."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

from monitor.core.errors import SourceFormatError

__all__ = ["WGI_COLUMNS", "WGI_INDICATORS", "WgiEstimate", "parse_wgi"]

#: The six indicators: voice and accountability, political stability and absence of violence,
#: government effectiveness, regulatory quality, rule of law, control of corruption.
WGI_INDICATORS = ("va", "pv", "ge", "rq", "rl", "cc")

#: Columns ``parse_wgi`` needs; the official file has more (codeindyr, stddev, nsource,
#: pctrank, pctranklower, pctrankupper), which are ignored.
WGI_COLUMNS = ("code", "countryname", "year", "indicator", "estimate")

_MISSING = frozenset({"..", ""})


@dataclass(frozen=True, slots=True)
class WgiEstimate:
    """One WGI governance estimate (about -2.5 .. +2.5); ``None`` where WGI has no value."""

    code: str
    country: str
    year: int
    indicator: str
    estimate: float | None


def _estimate(text: str, line: int, source: str) -> float | None:
    text = text.strip()
    if text in _MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SourceFormatError(f"{source}: line {line}: estimate {text!r} is not a number",
                                source=source) from None
    if not math.isfinite(value):
        raise SourceFormatError(f"{source}: line {line}: estimate {text!r} is not finite",
                                source=source)
    return value


def _year(text: str, line: int, source: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SourceFormatError(f"{source}: line {line}: year {text!r} is not a year",
                                source=source) from None


def parse_wgi(body: bytes, *, source: str = "wgi") -> list[WgiEstimate]:
    """Parse the WGI long CSV (the official ``wgidataset.csv`` or critmon's compact copy).

    Reads UTF-8 with or without a BOM. ``..`` and blank estimates become ``None``. Raises
    ``SourceFormatError`` on undecodable bytes, missing columns (named), or a bad year/estimate.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{source}: not UTF-8: {exc}", source=source) from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [name for name in WGI_COLUMNS if name not in header]
    if missing:
        raise SourceFormatError(
            f"{source}: missing column(s) {', '.join(missing)}; header is {header}", source=source
        )
    return [
        WgiEstimate(
            code=row["code"].strip(),
            country=row["countryname"].strip(),
            year=_year(row["year"], line, source),
            indicator=row["indicator"].strip(),
            estimate=_estimate(row["estimate"], line, source),
        )
        for line, row in enumerate(reader, start=2)
    ]
