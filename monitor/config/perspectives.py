"""Perspectives: the economy whose supply security is scored (``rules.yaml`` ``perspectives:``).

A perspective supplies, per mineral, the economy's **import reliance** (value, year, qualifier,
stage, source), its **main import partners** where known, and the **member countries** of the
economy (an acting country outside them is external). Shipped:

* ``us``: USGS net import reliance, read from the observations as before (the default);
* ``eu``: the EU-27, from the EU's 2023 criticality study (``monitor/data/perspective_eu.csv``);
* ``cn``: China, from published figures (``monitor/data/perspective_cn.csv``; several per
  mineral, the headline chosen by :func:`choose_headline`).

A user's own economy is a table (CSV or YAML) named in ``rules.yaml``::

    perspectives:
      - us
      - cn
      - {id: jp, name: Japan, members: [Japan], table: jp.yaml, partners: jp_partners.csv}

Tables are read as hostile as the rest of the config: bounded size, every error a
:class:`ConfigError` naming the file, line and field (unknown mineral, a share above 100, a
missing year). Pure apart from reading the named files.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.resources
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import Field, field_validator

from monitor.config.common import Identifier, StrictModel, quote
from monitor.core.countries import normalise_name, wgi_code
from monitor.core.errors import ConfigError
from monitor.core.untrusted import clean_text

DEFAULT_PERSPECTIVE = "us"

#: Qualifiers of an import-reliance figure: exact, lower bound, upper bound, about, net exporter.
QUALIFIERS = ("", ">", "<", "~", "E")

#: A figure older than the newest of its mineral by more than this many years is never the
#: headline (it stays in the spread).
HEADLINE_WINDOW_YEARS = 3

#: The largest perspective table read (the shipped ones are a few kilobytes).
MAX_TABLE_BYTES = 2**20

RELIANCE_COLUMNS = ("mineral", "year", "import_reliance_pct", "qualifier", "stage",
                    "reliability", "recycling_pct", "source", "source_url", "note")
PARTNER_COLUMNS = ("mineral", "year", "partner", "share_pct", "source", "source_url")

EU_MEMBERS = ("Austria", "Belgium", "Bulgaria", "Croatia", "Cyprus", "Czechia", "Denmark",
              "Estonia", "Finland", "France", "Germany", "Greece", "Hungary", "Ireland", "Italy",
              "Latvia", "Lithuania", "Luxembourg", "Malta", "Netherlands", "Poland",
              "Portugal", "Romania", "Slovakia", "Slovenia", "Spain", "Sweden")


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class RelianceFigure:
    """One published import-reliance figure of one mineral (a row of a perspective table)."""

    mineral: str
    value: float
    year: int
    qualifier: str = ""
    stage: str = ""
    reliability: int = 3
    recycling_pct: float | None = None
    source: str = ""
    source_url: str = ""
    note: str = ""

    def shown(self) -> str:
        """``>70% (2022)``, ``E (2023)``."""
        if self.qualifier == "E":
            return f"E ({self.year})"
        return f"{self.qualifier}{self.value:g}% ({self.year})"


@dataclass(frozen=True, slots=True)
class Reliance:
    """The headline figure of a mineral and the other figures (the spread)."""

    headline: RelianceFigure
    others: tuple[RelianceFigure, ...] = ()


@dataclass(frozen=True, slots=True)
class Partners:
    """The economy's main suppliers of a mineral: shares of its imports (fractions), one year."""

    mineral: str
    year: int
    shares: Mapping[str, float]
    source: str = ""

    @property
    def unlisted(self) -> float:
        return max(0.0, 1.0 - sum(self.shares.values()))


@dataclass(frozen=True)
class Perspective:
    """The economy whose supply security is scored, and what it knows about its supply."""

    id: str
    name: str
    members: tuple[str, ...]
    reliance: Mapping[str, Reliance] = field(default_factory=dict)
    partners: Mapping[str, Partners] = field(default_factory=dict)
    #: ``usgs``: net import reliance from the USGS observations (the ``us`` perspective);
    #: ``table``: from the perspective's table.
    method: str = "table"
    origin: str = "shipped"
    digest: str = ""
    #: A user's table files (the daemon reloads when one changes); none for shipped ones.
    files: tuple[str, ...] = ()

    @property
    def member_codes(self) -> frozenset[str]:
        return frozenset(code for m in self.members if (code := wgi_code(m)))

    def is_member(self, country: str | None) -> bool:
        """True when ``country`` belongs to the economy (its actions are internal)."""
        if not country:
            return False
        code = wgi_code(country)
        return code in self.member_codes if code else normalise_name(country) in self.members


US = Perspective("us", "United States", ("United States",), method="usgs",
                 origin="USGS Mineral Commodity Summaries (net import reliance)")


# --------------------------------------------------------------------------- rules.yaml


class PerspectiveSpec(StrictModel):
    """A user's own perspective in ``rules.yaml`` (a shipped one is named by its id alone)."""

    id: Identifier
    name: str = Field(min_length=1, max_length=80)
    members: tuple[str, ...] = Field(min_length=1)
    table: str = Field(min_length=1, max_length=400)
    partners: str | None = Field(default=None, min_length=1, max_length=400)

    @field_validator("members")
    @classmethod
    def _known_countries(cls, members: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in members if wgi_code(m) is None]
        if unknown:
            raise ValueError(f"unknown country {quote(unknown[0])}: use the USGS spelling "
                             "(e.g. 'Korea, Republic of', 'Congo (Kinshasa)')")
        return members


PerspectiveEntry = str | PerspectiveSpec


def entry_id(entry: PerspectiveEntry) -> str:
    return entry if isinstance(entry, str) else entry.id


# --------------------------------------------------------------------------- headline rule


def choose_headline(figures: Sequence[RelianceFigure]) -> Reliance:
    """The headline of several figures of one mineral, and the spread.

    Figures of reliability 0 (not comparable: one product only, another measure) are shown,
    never chosen. Of the rest, those within ``HEADLINE_WINDOW_YEARS`` of the newest are the
    candidates; the most reliable wins, then the newest, then the lower value (the cautious
    reading of a disputed figure is not the highest one). With only reliability-0 figures the
    newest of them is used.
    """
    usable = [f for f in figures if f.reliability > 0] or list(figures)
    newest = max(f.year for f in usable)
    candidates = [f for f in usable if f.year >= newest - HEADLINE_WINDOW_YEARS]
    best = max(candidates, key=lambda f: (f.reliability, f.year, -f.value, f.source))
    others = tuple(sorted((f for f in figures if f is not best),
                          key=lambda f: (-f.year, -f.reliability, f.value)))
    return Reliance(best, others)


# --------------------------------------------------------------------------- tables


Row = tuple[int, dict[str, Any]]  # (line, fields)


def _fail(message: str, path: str, line: int | None, key: str | None) -> ConfigError:
    return ConfigError(clean_text(message, limit=400), file=path, line=line, key=key)


def read_table_text(path: Path) -> str:
    """The text of a table file, bounded; ConfigError naming the file otherwise."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TABLE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or type(exc).__name__}",
                          file=str(path)) from None
    if len(raw) > MAX_TABLE_BYTES:
        raise ConfigError(f"the file is larger than {MAX_TABLE_BYTES // 2**20} MiB",
                          file=str(path))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None


def csv_rows(text: str, path: str, columns: Sequence[str], required: Sequence[str]) -> list[Row]:
    """Rows of a CSV table with their line numbers; unknown and missing columns are errors."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise _fail("empty table: expected a header line", path, 1, None)
    unknown = [h for h in header if h not in columns]
    if unknown:
        raise _fail(f"unknown column {quote(unknown[0])}; columns: {', '.join(columns)}",
                    path, 1, unknown[0])
    absent = [c for c in required if c not in header]
    if absent:
        raise _fail(f"required column {quote(absent[0])} is missing", path, 1, absent[0])
    reader.fieldnames = header
    rows: list[Row] = []
    try:
        for record in reader:
            if None in record:
                raise _fail("more fields than columns", path, reader.line_num, None)
            cleaned = {k: (v or "").strip() for k, v in record.items()}
            if any(cleaned.values()):
                rows.append((reader.line_num, cleaned))
    except csv.Error as exc:
        raise _fail(f"invalid CSV: {exc}", path, reader.line_num, None) from None
    return rows


def yaml_rows(text: str, path: str, section: str,
              parse: Callable[[str, str], tuple[yaml.Node | None, dict[str, Any]]]
              ) -> list[Row]:
    """Rows of one section (a list of mappings) of a YAML table, with their line numbers."""
    node, data = parse(text, path)
    items = data.get(section, [])
    if not isinstance(items, list):
        raise _fail(f"{section} must be a list of rows", path, _line(node, [section]), section)
    rows: list[Row] = []
    for index, item in enumerate(items):
        line = _line(node, [section, index])
        if not isinstance(item, dict):
            raise _fail("each row must be a mapping", path, line, f"{section}.{index}")
        rows.append((line or 0, {str(k): "" if v is None else v for k, v in item.items()}))
    return rows


def _line(node: yaml.Node | None, loc: list[Any]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


class _Fields:
    """Typed access to one row's fields; every error names the file, line and field."""

    def __init__(self, row: Row, path: str, known_minerals: Mapping[str, str]) -> None:
        self.line, self.data = row
        self.path = path
        self.known = known_minerals

    def fail(self, key: str, message: str) -> ConfigError:
        return _fail(message, self.path, self.line, key)

    def text(self, key: str, limit: int = 400) -> str:
        value = self.data.get(key, "")
        return clean_text(str(value), limit=limit) if value not in (None, "") else ""

    def mineral(self) -> str:
        raw = self.text("mineral", 80)
        if not raw:
            raise self.fail("mineral", "required field is empty")
        key = raw.lower().replace(" ", "_").replace("-", "_")
        mineral = self.known.get(key)
        if mineral is None:
            close = sorted(k for k in set(self.known.values()) if k.startswith(key[:3]))[:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise self.fail("mineral", f"unknown mineral {quote(raw)}{hint}")
        return mineral

    def year(self) -> int:
        value = self.data.get("year", "")
        if value in ("", None):
            raise self.fail("year", "missing year: every figure needs the year it describes")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail("year", f"not a year: {quote(value)}") from None
        if number != int(number) or not 1900 <= number <= 2100:
            raise self.fail("year", f"not a year: {quote(value)}")
        return int(number)

    def percent(self, key: str, *, required: bool) -> float | None:
        value = self.data.get(key, "")
        if value in ("", None):
            if required:
                raise self.fail(key, "required field is empty")
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(key, f"not a number: {quote(value)}") from None
        if math.isnan(number) or number < 0:
            raise self.fail(key, f"{number:g} is not a share: use 0 to 100")
        if number > 100:
            raise self.fail(key, f"share above 100: {number:g}")
        return number

    def choice(self, key: str, choices: Sequence[str], default: str = "") -> str:
        value = self.text(key, 20) or default
        if value not in choices:
            raise self.fail(key, f"{quote(value)} is not one of {', '.join(map(repr, choices))}")
        return value

    def reliability(self) -> int:
        value = self.data.get("reliability", "")
        if value in ("", None):
            return 3
        try:
            number = int(str(value))
        except ValueError:
            raise self.fail("reliability", f"not a whole number 0-5: {quote(value)}") from None
        if not 0 <= number <= 5:
            raise self.fail("reliability", f"not a whole number 0-5: {number}")
        return number


def parse_reliance(rows: Iterable[Row], path: str,
                   known_minerals: Mapping[str, str]) -> dict[str, Reliance]:
    """Reliance figures per mineral from table rows; the headline per :func:`choose_headline`."""
    figures: dict[str, list[RelianceFigure]] = {}
    for row in rows:
        f = _Fields(row, path, known_minerals)
        mineral, year = f.mineral(), f.year()
        qualifier = f.choice("qualifier", QUALIFIERS)
        value = f.percent("import_reliance_pct", required=qualifier != "E")
        figures.setdefault(mineral, []).append(RelianceFigure(
            mineral=mineral, value=0.0 if qualifier == "E" else float(value or 0.0),
            year=year, qualifier=qualifier,
            stage=f.choice("stage", ("", "mine", "refined", "unspecified")),
            reliability=f.reliability(), recycling_pct=f.percent("recycling_pct",
                                                                 required=False),
            source=f.text("source"), source_url=f.text("source_url"), note=f.text("note")))
    return {mineral: choose_headline(rows) for mineral, rows in figures.items()}


def parse_partners(rows: Iterable[Row], path: str,
                   known_minerals: Mapping[str, str]) -> dict[str, Partners]:
    """The latest year's partner shares per mineral; shares of one year may not exceed 100."""
    by_year: dict[tuple[str, int], dict[str, float]] = {}
    sources: dict[tuple[str, int], str] = {}
    lines: dict[tuple[str, int], int] = {}
    for row in rows:
        f = _Fields(row, path, known_minerals)
        mineral, year = f.mineral(), f.year()
        partner = f.text("partner", 80)
        if not partner or wgi_code(partner) is None:
            raise f.fail("partner", f"unknown country {quote(partner)}: use the USGS spelling")
        share = f.percent("share_pct", required=True) or 0.0
        shares = by_year.setdefault((mineral, year), {})
        shares[normalise_name(partner)] = shares.get(normalise_name(partner), 0.0) + share
        if sum(shares.values()) > 100.0 + 1e-9:
            raise f.fail("share_pct", f"shares of {mineral} {year} add up to "
                                      f"{sum(shares.values()):g}: share above 100")
        sources.setdefault((mineral, year), f.text("source"))
        lines[(mineral, year)] = f.line
    latest: dict[str, int] = {}
    for mineral, year in by_year:
        latest[mineral] = max(year, latest.get(mineral, year))
    return {mineral: Partners(mineral, year,
                              MappingProxyType({c: s / 100 for c, s in
                                                by_year[(mineral, year)].items()}),
                              sources[(mineral, year)])
            for mineral, year in latest.items()}


def mineral_names(minerals: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Accepted spellings -> mineral id: the id and the English name (``iron ore``)."""
    names: dict[str, str] = {}
    for mineral_id, name in minerals:
        names[mineral_id] = mineral_id
        names[name.lower().replace(" ", "_").replace("-", "_")] = mineral_id
    return names


# --------------------------------------------------------------------------- building


YamlParser = Callable[[str, str], tuple[yaml.Node | None, dict[str, Any]]]


def table_perspective(pid: str, name: str, members: Sequence[str], table: Path,
                      partners: Path | None, known: Mapping[str, str], parse: YamlParser,
                      origin: str, *, shipped: bool = False) -> Perspective:
    """A perspective from a reliance table (CSV or YAML) and an optional partners table."""
    text = read_table_text(table)
    path = str(table)
    if table.suffix.lower() in (".yaml", ".yml"):
        reliance_rows = yaml_rows(text, path, "reliance", parse)
        partner_rows = yaml_rows(text, path, "partners", parse)
    else:
        reliance_rows = csv_rows(text, path, RELIANCE_COLUMNS,
                                 ("mineral", "year", "import_reliance_pct"))
        partner_rows = []
    if not reliance_rows:
        raise ConfigError("no import-reliance rows", file=path)
    reliance = parse_reliance(reliance_rows, path, known)
    partner_text = ""
    partner_path = path
    if partners is not None:
        partner_text = read_table_text(partners)
        partner_path = str(partners)
        partner_rows = csv_rows(partner_text, partner_path, PARTNER_COLUMNS,
                                ("mineral", "year", "partner", "share_pct"))
    digest = hashlib.sha256(
        "\0".join([pid, name, *members, text, partner_text]).encode()).hexdigest()[:12]
    files = (path, *([partner_path] if partners is not None else []))
    return Perspective(pid, name, tuple(members), MappingProxyType(reliance),
                       MappingProxyType(parse_partners(partner_rows, partner_path, known)),
                       method="table", origin=origin, digest=digest,
                       files=files if origin != "shipped" and not shipped else ())


def data_dir() -> Path:
    return Path(str(importlib.resources.files("monitor") / "data"))


SHIPPED = {
    "us": ("United States", ("United States",), None, None),
    "cn": ("China", ("China",), "perspective_cn.csv", "perspective_cn_partners.csv"),
    "eu": ("European Union (EU-27)", EU_MEMBERS, "perspective_eu.csv",
           "perspective_eu_partners.csv"),
}


def shipped_perspective(pid: str, known: Mapping[str, str], parse: YamlParser) -> Perspective:
    """One of the perspectives shipped with critmon (``us``, ``cn``, ``eu``)."""
    if pid == "us":
        return US
    name, members, table, partners = SHIPPED[pid]
    assert table is not None and partners is not None
    base = data_dir()
    return table_perspective(pid, name, members, base / table, base / partners, known, parse,
                             origin=f"monitor/data/{table}", shipped=True)


def build_perspectives(entries: Sequence[PerspectiveEntry], config_dir: Path,
                       known: Mapping[str, str], parse: YamlParser,
                       where: Callable[[int], tuple[str, int | None]]) -> tuple[Perspective, ...]:
    """Every perspective ``rules.yaml`` lists, built and validated.

    ``where(index)`` gives (rules.yaml path, line) of an entry, for errors about the entry
    itself; errors inside a table name the table's own file and line.
    """
    built: list[Perspective] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        pid = entry_id(entry)
        path, line = where(index)
        if pid in seen:
            raise ConfigError(f"perspective {quote(pid)} listed twice", file=path, line=line,
                              key=f"perspectives.{index}")
        seen.add(pid)
        if isinstance(entry, str):
            if entry not in SHIPPED:
                raise ConfigError(f"unknown perspective {quote(entry)}: shipped are "
                                  f"{', '.join(SHIPPED)}; define your own with id, name, "
                                  "members and table", file=path, line=line,
                                  key=f"perspectives.{index}")
            built.append(shipped_perspective(entry, known, parse))
            continue
        if entry.id in SHIPPED:
            raise ConfigError(f"{quote(entry.id)} is a shipped perspective: choose another id",
                              file=path, line=line, key=f"perspectives.{index}.id")
        table = _resolve(config_dir, entry.table)
        partners = _resolve(config_dir, entry.partners) if entry.partners else None
        built.append(table_perspective(entry.id, entry.name, entry.members, table, partners,
                                       known, parse, origin=str(table)))
    return tuple(built) or (US,)


def _resolve(base: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path
