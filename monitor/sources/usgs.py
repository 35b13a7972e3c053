"""Pure parsers for USGS Mineral Commodity Summaries (MCS) data: bytes in, Observations out.

Two formats are read:

* the long-format release CSV (``MCS2026_Commodities_Data.csv``: one value per row, cp1252), of
  which net import reliance, prices and world production by country are kept;
* the Figure 2 net-import-reliance CSVs of MCS 2023..2026 (one row per commodity, the data year
  in the column name ``Net_Import_Reliance_pct_YYYY``).

Series names (the ``series`` of an Observation; stable across editions, so a later edition's
value for the same year is a revision of the same series under another ``source``):

* ``{commodity}:nir`` - net import reliance, e.g. ``gallium:nir``;
* ``{commodity}:price:{detail}`` - one series per ``Statistics_detail``, e.g.
  ``cobalt:price:average_dollars_per_pound_u_s_spot_cathode``;
* ``{commodity}:production:{stage}`` - world production by country, stage ``mine`` or
  ``refinery`` (smelter, refinery and other processing stages), e.g. ``cobalt:production:mine``.

``{commodity}`` is the slug of the MCS commodity name (``graphite_natural``, ``rare_earths``,
``bauxite``), so the several tables of one mineral (bauxite, alumina and aluminum for aluminum)
stay apart. Where one table holds several series for the same country and year (rare-earth NIR
for compounds and metals *and* for mineral concentrates; ilmenite and rutile; ferrosilicon and
silicon metal) a slug of the detail is appended: ``rare_earths:nir:compounds_and_metals``,
``titanium_mineral_concentrates:production:mine:ilmenite``. Figure 2 series are named by the
normalised label: ``{key}:nir`` (``rare_earths:nir``, ``titanium:nir`` for titanium sponge).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation

__all__ = [
    "MCS_COMMODITIES_COLUMNS",
    "build_commodity_map",
    "build_nir_figure_map",
    "decode_text",
    "nir_figure_key",
    "parse_mcs_commodities",
    "parse_mcs_nir_figure",
    "parse_usgs_value",
    "slug",
]

log = logging.getLogger(__name__)

#: Columns of the long-format release CSV that the parser needs.
MCS_COMMODITIES_COLUMNS = (
    "Section", "Commodity", "Country", "Statistics", "Statistics_detail",
    "Unit", "Year", "Value", "Notes",
)

_UTF8_BOM = b"\xef\xbb\xbf"
#: Codes USGS uses for "no number": withheld, not available, no world total possible.
_MISSING_CODES = frozenset({"W", "NA", "XX"})
#: Dashes USGS prints for zero.
_ZERO_DASHES = frozenset({"\u2014", "\u2013", "-"})
_NUMBER = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_NUMBER_RE = re.compile(rf"^{_NUMBER}$")
_BOUND_RE = re.compile(rf"^([<>])\s*({_NUMBER})$")
_RANGE_RE = re.compile(rf"^({_NUMBER})\s*[\u2013\u2014-]\s*({_NUMBER})$")
_YEAR_RE = re.compile(r"^\d{4}$")
_FIG2_VALUE_COLUMN_RE = re.compile(r"^Net_Import_Reliance_pct_(\d{4})$")

#: MCS commodity names whose Figure 2 label normalises to a different key than the name does
#: ("Titanium Sponge Metal" is labelled "TITANIUM, sponge metal" in Figure 2).
_NIR_FIGURE_EXTRA_KEYS: Mapping[str, tuple[str, ...]] = {
    "titanium sponge metal": ("titanium",),
}

# Stage phrases in a world-table detail or section, and products that are processed by nature.
_MINE_STAGE_RE = re.compile(r"\bmine production\b", re.IGNORECASE)
_REFINERY_STAGE_RE = re.compile(r"\b(refinery|smelter|primary|plant) production\b", re.IGNORECASE)
_REFINERY_SECTION_RE = re.compile(r"refinery|smelter|sponge|low-purity|primary", re.IGNORECASE)
_PROCESSED_PRODUCT_RE = re.compile(
    r"metal|ferrosilicon|trioxide|pig iron|raw steel", re.IGNORECASE
)


# --- text and values ---------------------------------------------------------------------------


def decode_text(body: bytes) -> str:
    """Decode a USGS file: strip a UTF-8 BOM, read valid UTF-8 as UTF-8, else cp1252.

    The MCS release CSV is cp1252 (an em dash is byte 0x97), the figure CSVs are UTF-8, some
    with a BOM. cp1252 accepts almost any byte sequence, so trying it first would silently turn
    UTF-8 text into mojibake; strict UTF-8 rejects cp1252 punctuation, so it is tried first and
    cp1252 is the fallback. Raises ``UnicodeDecodeError`` when neither fits.
    """
    if body.startswith(_UTF8_BOM):
        return body[len(_UTF8_BOM):].decode("utf-8")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1252")


def _clean(text: str) -> str:
    return text.replace("\u00a0", " ").strip()


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def parse_usgs_value(text: str) -> tuple[float | None, str]:
    """Parse one USGS value cell into ``(value, qualifier)``.

    ======================  ==================  ==============================================
    text                    result              meaning
    ======================  ==================  ==============================================
    ``1,234.5``             (1234.5, "")        thousands separators are dropped
    ``W`` ``NA`` ``XX``     (None, code)        withheld / not available / no world total
    blank                   (None, "NA")
    ``E``                   (0.0, "E")          net exporter: net import reliance is 0
    ``>50``                 (50.0, ">")         lower bound: the bound is used
    ``<25``                 (12.5, "<")         upper bound: half the bound is used
    em/en dash, ``-``       (0.0, "")           zero
    ``s``                   (0.0, "s")          "small": less than half the unit; counted as 0
    ``50-300`` (any dash)   (175.0, "range")    a range: its midpoint
    ======================  ==================  ==============================================

    Anything else raises ``ValueError`` naming the text.
    """
    cleaned = _clean(text)
    if not cleaned:
        return None, "NA"
    if cleaned in _MISSING_CODES:
        return None, cleaned
    if cleaned == "E":
        return 0.0, "E"
    if cleaned in _ZERO_DASHES:
        return 0.0, ""
    if cleaned == "s":
        return 0.0, "s"
    if _NUMBER_RE.match(cleaned):
        return _number(cleaned), ""
    if bound := _BOUND_RE.match(cleaned):
        sign, number = bound.groups()
        value = _number(number)
        return (value, ">") if sign == ">" else (value / 2, "<")
    if span := _RANGE_RE.match(cleaned):
        low, high = (_number(part) for part in span.groups())
        return (low + high) / 2, "range"
    raise ValueError(f"unrecognised USGS value: {text!r}")


def slug(text: str) -> str:
    """Lowercase ASCII snake_case: ``"Graphite (Natural)"`` -> ``"graphite_natural"``."""
    ascii_text = _clean(text).lower().encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")


def nir_figure_key(label: str) -> str:
    """Join key of a Figure 2 commodity label: lowercase text before the first comma/parenthesis.

    Labels differ between editions ("GALLIUM" vs "GALLIUM, metal"; "RARE EARTHS, compounds and
    metals, including lanthanides" vs "RARE EARTHS, compounds and metals"), the key does not.
    """
    head = re.split(r"[,(]", _clean(label), maxsplit=1)[0]
    return " ".join(head.lower().split())


# --- commodity maps from minerals.yaml ---------------------------------------------------------


def _pairs(
    minerals: Mapping[str, Sequence[str]] | Iterable[tuple[str, Sequence[str]]],
) -> Iterable[tuple[str, Sequence[str]]]:
    return minerals.items() if isinstance(minerals, Mapping) else minerals


def _claim(table: dict[str, str], key: str, mineral: str, what: str) -> None:
    owner = table.setdefault(key, mineral)
    if owner != mineral:
        raise ValueError(f"{what} {key!r} is claimed by both {owner!r} and {mineral!r}")


def build_commodity_map(
    minerals: Mapping[str, Sequence[str]] | Iterable[tuple[str, Sequence[str]]],
) -> dict[str, str]:
    """MCS ``Commodity`` name -> mineral id, from ``[(mineral id, usgs names), ...]``.

    Raises ``ValueError`` when two minerals claim the same commodity name.
    """
    table: dict[str, str] = {}
    for mineral, names in _pairs(minerals):
        for name in names:
            _claim(table, name.strip(), mineral, "MCS commodity")
    return table


def build_nir_figure_map(
    minerals: Mapping[str, Sequence[str]] | Iterable[tuple[str, Sequence[str]]],
) -> dict[str, str]:
    """Figure 2 join key (see ``nir_figure_key``) -> mineral id, from the same input.

    Raises ``ValueError`` when two minerals' names normalise to the same key.
    """
    table: dict[str, str] = {}
    for mineral, names in _pairs(minerals):
        for name in names:
            key = nir_figure_key(name)
            for alias in (key, *_NIR_FIGURE_EXTRA_KEYS.get(key, ())):
                _claim(table, alias, mineral, "Figure 2 key")
    return table


# --- CSV plumbing ------------------------------------------------------------------------------


def _read_csv(
    body: bytes, required: Sequence[str], source: str
) -> tuple[list[str], list[dict[str, str]]]:
    """Decode and split a CSV; ``SourceFormatError`` on bad bytes or missing columns."""
    try:
        text = decode_text(body)
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{source}: not UTF-8 or cp1252 text: {exc}",
                                source=source) from exc
    if not text.strip():
        raise SourceFormatError(f"{source}: empty body", source=source)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [_clean(name) for name in reader.fieldnames or []]
    reader.fieldnames = header
    missing = [name for name in required if name not in header]
    if missing:
        raise SourceFormatError(
            f"{source}: missing column(s) {', '.join(missing)}; header is {header}", source=source
        )
    # Short rows give None for missing cells, long rows an extra None key: make both harmless.
    rows = [{key: value or "" for key, value in row.items() if key is not None} for row in reader]
    return header, rows


# --- long-format release CSV -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A row chosen for output, before its series name is final."""

    line: int
    mineral: str
    measure: Measure
    base: str
    variant: str
    country: str
    year: int
    unit: str
    value: float | None
    qualifier: str
    stage: str


def _is_estimated(notes: str) -> bool:
    """True if one of the " -- "-separated notes is "Estimated." (also the typo "Estimated .")."""
    return any(part.replace(" ", "").rstrip(".") == "Estimated" for part in notes.split("--"))


def _stage(section: str, detail: str) -> str:
    """Production stage of a world-table row: "mine" or "refinery" ("" if it cannot be told).

    Decided per table, not per product: the boron table mixes "crude ore", "refined borates"
    and "compounds" by country and is still one mine-stage table. In order: a stage phrase in
    the detail ("Mine production", "Refinery/Smelter/Primary/Plant production"; needed where a
    section holds both stages), a stage word in the section, a processed product (metal,
    ferrosilicon, arsenic trioxide, steel), then reserves -> mine and capacity -> refinery.
    Smelter, sponge, low-purity primary and other processing stages all count as "refinery".
    """
    if _MINE_STAGE_RE.search(detail):
        return "mine"
    if _REFINERY_STAGE_RE.search(detail):
        return "refinery"
    if re.search(r"\bmine\b", section, flags=re.IGNORECASE):
        return "mine"
    if _REFINERY_SECTION_RE.search(section) or _PROCESSED_PRODUCT_RE.search(detail):
        return "refinery"
    if "reserves" in section.lower():
        return "mine"
    if "capacity" in section.lower():
        return "refinery"
    return ""


def _without_rounded(detail: str) -> str:
    return re.sub(r"[:,]?\s*rounded\s*$", "", _clean(detail), flags=re.IGNORECASE)


def _production_variant(detail: str) -> str:
    """The product part of a production detail: "Mine production: Ilmenite" -> "ilmenite"."""
    text = _without_rounded(detail)
    text = re.sub(r"\b(mine|refinery|smelter|primary)?\s*production\b", "", text,
                  flags=re.IGNORECASE)
    return slug(text)


def _nir_variant(detail: str) -> str:
    """What follows "...consumption" in a NIR detail: ", refined tin" -> "refined_tin"."""
    match = re.search(r"consumption(.*)$", _clean(detail), flags=re.IGNORECASE)
    return slug(match.group(1)) if match else ""


def _price_variant(detail: str) -> str:
    return slug(re.sub(r"^\s*price\b", "", _clean(detail), flags=re.IGNORECASE))


def _kind(row: Mapping[str, str]) -> Measure | None:
    statistics = _clean(row["Statistics"])
    if statistics == "Net import reliance":
        return Measure.NET_IMPORT_RELIANCE
    if statistics == "Price":
        return Measure.PRICE
    if statistics == "Production" and _clean(row["Section"]).startswith("World"):
        return Measure.PRODUCTION
    return None


def _candidate(row: Mapping[str, str], line: int, mineral: str, measure: Measure,
               source: str) -> _Candidate | None:
    commodity, detail = _clean(row["Commodity"]), _clean(row["Statistics_detail"])
    year_text = _clean(row["Year"])
    if not _YEAR_RE.match(year_text):
        raise SourceFormatError(
            f"{source}: line {line}: year {year_text!r} is not a four-digit year", source=source
        )
    try:
        value, qualifier = parse_usgs_value(row["Value"])
    except ValueError:
        log.debug("%s: line %d: skipped non-numeric value %r", source, line, row["Value"])
        return None
    if not qualifier and _is_estimated(row["Notes"]):
        qualifier = "e"
    base, country, stage, unit = slug(commodity), _clean(row["Country"]), "", _clean(row["Unit"])
    if measure is Measure.NET_IMPORT_RELIANCE:
        base, variant, unit = f"{base}:nir", _nir_variant(detail), "percent"
    elif measure is Measure.PRICE:
        price = _price_variant(detail)
        base, variant, country = (f"{base}:price:{price}" if price else f"{base}:price"), "", ""
    else:
        stage = _stage(_clean(row["Section"]), detail)
        base = f"{base}:production:{stage}" if stage else f"{base}:production"
        variant = _production_variant(detail)
    return _Candidate(line, mineral, measure, base, variant, country, int(year_text), unit,
                      value, qualifier, stage)


def _series_names(candidates: Sequence[_Candidate]) -> list[str]:
    """Append the variant to a base series only where the base alone would repeat a key."""
    seen: dict[str, set[tuple[str, int]]] = defaultdict(set)
    needs_variant: set[str] = set()
    for item in candidates:
        key = (item.country, item.year)
        if key in seen[item.base]:
            needs_variant.add(item.base)
        seen[item.base].add(key)
    return [
        f"{item.base}:{item.variant}" if item.base in needs_variant and item.variant else item.base
        for item in candidates
    ]


def _unique(observations: Iterable[Observation], source: str) -> list[Observation]:
    """Drop repeats of a natural key (source, series, country, period), keeping the first."""
    kept: dict[tuple[str, str, str, date], Observation] = {}
    for obs in observations:
        key = (obs.source, obs.series, obs.country, obs.period)
        if key in kept:
            log.warning("%s: duplicate %s %s %s ignored", source, obs.series, obs.country,
                        obs.period.year)
            continue
        kept[key] = obs
    return list(kept.values())


def parse_mcs_commodities(
    body: bytes,
    *,
    source: str,
    commodity_map: Mapping[str, str],
    published_at: date | None,
) -> list[Observation]:
    """Parse the long-format MCS release CSV into NIR, price and world-production observations.

    ``commodity_map`` maps MCS ``Commodity`` names to mineral ids (``build_commodity_map``);
    rows of other commodities are skipped. Kept rows:

    * ``Statistics == "Net import reliance"``: measure NET_IMPORT_RELIANCE, unit ``percent``,
      country ``United States``;
    * ``Statistics == "Price"``: measure PRICE, unit as published, country ``""`` (a market
      price is not a country's), one series per ``Statistics_detail``;
    * ``Section`` starting with "World" and ``Statistics == "Production"``: measure
      PRODUCTION by ``Country``, unit as published, ``stage`` "mine" or "refinery";
      "Other countries" and "World total" rows are kept under those names.

    Year "2025" becomes period 2025-01-01. Values parse with ``parse_usgs_value``; a plain value
    whose notes say "Estimated." gets qualifier ``e``. Cells that are text, not values
    ("Variable, depending on ...") are skipped. Raises ``SourceFormatError`` naming missing
    columns, on undecodable bytes, and on a kept row whose year is not a year.
    """
    _, rows = _read_csv(body, MCS_COMMODITIES_COLUMNS, source)
    candidates: list[_Candidate] = []
    for line, row in enumerate(rows, start=2):
        mineral = commodity_map.get(_clean(row["Commodity"]))
        measure = _kind(row) if mineral is not None else None
        if mineral is None or measure is None:
            continue
        candidate = _candidate(row, line, mineral, measure, source)
        if candidate is not None:
            candidates.append(candidate)
    observations = (
        Observation(
            source=source,
            series=series,
            mineral=item.mineral,
            measure=item.measure,
            period=date(item.year, 1, 1),
            frequency=Frequency.ANNUAL,
            value=item.value,
            unit=item.unit,
            country=item.country,
            stage=item.stage,
            qualifier=item.qualifier,
            published_at=published_at,
        )
        for item, series in zip(candidates, _series_names(candidates), strict=True)
    )
    return _unique(observations, source)


# --- Figure 2 net import reliance --------------------------------------------------------------


def _figure_value_column(header: Sequence[str], source: str) -> tuple[str, int]:
    for name in header:
        if match := _FIG2_VALUE_COLUMN_RE.match(name):
            return name, int(match.group(1))
    raise SourceFormatError(
        f"{source}: missing column Net_Import_Reliance_pct_YYYY; header is {list(header)}",
        source=source,
    )


def parse_mcs_nir_figure(
    body: bytes,
    *,
    source: str,
    commodity_map: Mapping[str, str],
    published_at: date | None,
) -> list[Observation]:
    """Parse a Figure 2 net-import-reliance CSV (MCS 2023..2026 layouts).

    The data year comes from the ``Net_Import_Reliance_pct_YYYY`` column name; rows are joined
    to minerals on ``nir_figure_key(Commodity)`` through ``commodity_map`` (keyed by that key,
    see ``build_nir_figure_map``). Series ``{key}:nir``; a key that occurs twice in one file
    ("MICA (NATURAL), sheet" and "..., scrap and flake") gets the rest of the label appended.
    """
    header, rows = _read_csv(body, ("Commodity",), source)
    column, year = _figure_value_column(header, source)
    candidates: list[_Candidate] = []
    for line, row in enumerate(rows, start=2):
        label = _clean(row["Commodity"])
        key = nir_figure_key(label)
        mineral = commodity_map.get(key)
        if mineral is None:
            continue
        try:
            value, qualifier = parse_usgs_value(row[column])
        except ValueError:
            log.warning("%s: line %d: skipped unparseable NIR %r", source, line, row[column])
            continue
        rest = label.split(",", 1)[1] if "," in label else ""
        candidates.append(_Candidate(
            line, mineral, Measure.NET_IMPORT_RELIANCE, f"{slug(key)}:nir", slug(rest),
            "United States", year, "percent", value, qualifier, "",
        ))
    observations = (
        Observation(
            source=source, series=series, mineral=item.mineral, measure=item.measure,
            period=date(item.year, 1, 1), frequency=Frequency.ANNUAL, value=item.value,
            unit=item.unit, country=item.country, qualifier=item.qualifier,
            published_at=published_at,
        )
        for item, series in zip(candidates, _series_names(candidates), strict=True)
    )
    return _unique(observations, source)
