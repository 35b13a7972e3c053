"""Dev tool: rebuild the compact public data shipped in monitor/data/ from ../shared/data/raw.

Not used at run time. Usage::

    .venv/bin/python scripts/build_bundled_data.py [--raw DIR] [--out DIR]

Writes the filtered MCS 2026 release CSV, the four Figure 2 NIR CSVs (MCS 2023-2026), a reduced
WGI CSV, the World Bank Pink Sheet monthly CSV and ATTRIBUTION.md (with the sha256 of every
file as shipped). Running it twice gives byte-identical output.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a plain script from a checkout
    sys.path.insert(0, str(REPO))

from monitor.sources.usgs import (
    MCS_COMMODITIES_COLUMNS,
    decode_text,
    parse_mcs_commodities,
)
from monitor.sources.wgi import WGI_COLUMNS, parse_wgi

DEFAULT_RAW = REPO.parent / "shared" / "data" / "raw"
DEFAULT_OUT = REPO / "monitor" / "data"

MCS_LONG_OUT = "usgs_mcs2026_commodities.csv"
FIG2_OUT = "usgs_mcs{edition}_fig2_net_import_reliance.csv"
WGI_OUT = "wgi_estimates_1996-2023.csv"
PINKSHEET_OUT = "wb_cmo_monthly_metals_minerals_1960-01_2025-11.csv"
FIG2_EDITIONS = (2023, 2024, 2025, 2026)


@dataclass(frozen=True)
class Shipped:
    """One shipped file and what ATTRIBUTION.md says about it."""

    name: str
    publisher: str
    title: str
    link: str
    licence: str
    attribution: str
    processing: str


def keep_mcs_row(row: dict[str, str]) -> bool:
    """NIR, price and world production rows: all the product reads from the release CSV."""
    statistics = row["Statistics"].strip()
    if statistics in ("Net import reliance", "Price"):
        return True
    return statistics == "Production" and row["Section"].strip().startswith("World")


def critical_commodities(rows: list[dict[str, str]]) -> set[str]:
    """Commodities with any row flagged ``Is critical mineral 2025`` = Yes.

    Judged per commodity, not per row: one Yttrium row has its columns shifted by one and
    carries "Yttrium" in that column.
    """
    return {
        row["Commodity"].strip() for row in rows
        if (row.get("Is critical mineral 2025") or "").strip() == "Yes"
    }


def filter_mcs_long(body: bytes) -> bytes:
    """The release CSV reduced to ``keep_mcs_row`` rows of critical-mineral commodities.

    Original columns and values, cp1252 as published, LF line endings.
    """
    reader = csv.DictReader(io.StringIO(decode_text(body), newline=""))
    header = list(reader.fieldnames or [])
    missing = [name for name in MCS_COMMODITIES_COLUMNS if name not in header]
    if missing:
        raise SystemExit(f"MCS release CSV lacks columns {missing}")
    rows = list(reader)
    critical = critical_commodities(rows)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(r for r in rows if r["Commodity"].strip() in critical and keep_mcs_row(r))
    return out.getvalue().encode("cp1252")


def reduce_wgi(body: bytes) -> bytes:
    """WGI with only the governance estimates (no standard errors, source counts or ranks)."""
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WGI_COLUMNS)
    writer.writerows([row[name] for name in WGI_COLUMNS] for row in reader)
    return out.getvalue().encode("utf-8")


def check_mcs(original: bytes, filtered: bytes) -> None:
    """The filtered file must parse to exactly what the original parses to (critical rows)."""
    rows = list(csv.DictReader(io.StringIO(decode_text(original), newline="")))
    identity = {name: name for name in critical_commodities(rows)}

    def parse(body: bytes) -> list:
        return parse_mcs_commodities(body, source="check", commodity_map=identity,
                                     published_at=None)

    if parse(original) != parse(filtered):
        raise SystemExit("filtered MCS CSV does not parse like the original")


def check_wgi(original: bytes, reduced: bytes) -> None:
    if parse_wgi(original) != parse_wgi(reduced):
        raise SystemExit("reduced WGI CSV does not parse like the original")


MCS_LINKS = {
    2023: "https://doi.org/10.5066/P9WCYUI6",
    2024: "https://doi.org/10.5066/P144BA54",
    2025: "https://doi.org/10.5066/P13XCP3R",
    2026: "https://doi.org/10.5066/P1WKQ63T",
}
USGS = "U.S. Geological Survey, National Minerals Information Center"
USGS_LICENCE = "Public domain (U.S. Government work)"
USGS_LICENCE_2026 = "Public domain (U.S. Government work; the release metadata mark it CC0 1.0)"
TEXT_COPY_NOTE = (" The copy is a text copy of the published file: line endings and byte-order "
                  "mark may differ from the original; the text is the same.")
CC_BY = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"


def shipped_files() -> list[tuple[Shipped, str, Callable[[bytes], bytes]]]:
    """(description, raw path relative to --raw, transformation) for every shipped file."""
    files: list[tuple[Shipped, str, Callable[[bytes], bytes]]] = [(
        Shipped(
            MCS_LONG_OUT, USGS, "Mineral Commodity Summaries 2026 Data Release (v1.3), "
            "MCS2026_Commodities_Data.csv", MCS_LINKS[2026], USGS_LICENCE_2026,
            "U.S. Geological Survey, 2026, Mineral Commodity Summaries 2026 Data Release",
            "Rows kept: `Statistics` = \"Net import reliance\" or \"Price\", and `Section` "
            "starting with \"World\" with `Statistics` = \"Production\", of the commodities "
            "USGS flags `Is critical mineral 2025` = Yes. All original columns, values "
            "unchanged, cp1252 as published, LF line endings.",
        ),
        "usgs_mcs2026/MCS2026_Commodities_Data.csv",
        filter_mcs_long,
    )]
    for edition in FIG2_EDITIONS:
        files.append((
            Shipped(
                FIG2_OUT.format(edition=edition), USGS,
                f"Mineral Commodity Summaries {edition} Data Release, "
                f"MCS{edition}_Fig2_Net_Import_Reliance.csv", MCS_LINKS[edition],
                USGS_LICENCE_2026 if edition == 2026 else USGS_LICENCE,
                f"U.S. Geological Survey, {edition}, Mineral Commodity Summaries {edition} "
                "Data Release",
                f"Copied unchanged (net import reliance of {edition - 1}, as published in "
                f"MCS {edition}).{TEXT_COPY_NOTE if edition == 2025 else ''}",
            ),
            f"usgs_mcs{edition}/MCS{edition}_Fig2_Net_Import_Reliance.csv",
            lambda body: body,
        ))
    files.append((
        Shipped(
            WGI_OUT, "World Bank (D. Kaufmann and A. Kraay)",
            "Worldwide Governance Indicators, 2024 update (1996-2023), wgidataset.csv",
            "https://www.govindicators.org", CC_BY,
            "Worldwide Governance Indicators, World Bank (www.govindicators.org)",
            "Columns kept: code, countryname, year, indicator, estimate (the six governance "
            "estimates, all economies and years); dropped: codeindyr, stddev, nsource, pctrank, "
            "pctranklower, pctrankupper. Values unchanged (`..` = missing), UTF-8 without BOM.",
        ),
        "wgi/wgidataset_1996-2023.csv",
        reduce_wgi,
    ))
    files.append((
        Shipped(
            PINKSHEET_OUT, "World Bank, Prospects Group (Commodity Markets)",
            "World Bank Commodity Price Data (The Pink Sheet), CMO Historical Data Monthly, "
            "updated 2025-12-02", "https://www.worldbank.org/en/research/commodity-markets",
            CC_BY, "World Bank Commodity Price Data (The Pink Sheet)",
            "Copied unchanged from the project's re-shape of the \"Monthly Prices\" sheet: "
            "`date` (first day of month) and the 15 metals/minerals columns, 1960-01..2025-11, "
            "nominal US dollars; values not changed.",
        ),
        "prices/worldbank_pinksheet/wb_cmo_monthly_metals_minerals_1960-01_2025-11.csv",
        lambda body: body,
    ))
    return files


def attribution(entries: list[tuple[Shipped, bytes]]) -> str:
    """ATTRIBUTION.md text for the shipped files."""
    lines = [
        "# Attribution of the data shipped in `monitor/data/`",
        "",
        "critmon ships a small, filtered copy of public data so it works offline from the first",
        "run. Generated by `scripts/build_bundled_data.py`; do not edit the data files by hand.",
        "The World Bank data are licensed under CC BY 4.0 and are attributed below; the USGS",
        "data are in the public domain. The World Bank does not endorse critmon.",
        "",
    ]
    for item, body in entries:
        lines += [
            f"## `{item.name}`",
            "",
            f"- Publisher: {item.publisher}",
            f"- Title: {item.title}",
            f"- Link: {item.link}",
            f"- Licence: {item.licence}",
            f"- Attribution: {item.attribution}",
            f"- Processing: {item.processing}",
            f"- Size: {len(body):,} bytes",
            f"- sha256: `{hashlib.sha256(body).hexdigest()}`",
            "",
        ]
    return "\n".join([*lines, *PROJECT_FILES_NOTE, *PERSPECTIVE_FILES_NOTE, *POLLED_DATA_NOTE])


#: Files in monitor/data/ that critmon's authors wrote (not generated by this script).
PROJECT_FILES_NOTE = [
    "## Files written for critmon",
    "",
    "- `news_corpus.jsonl`: the labelled policy-news corpus of the classifier (English and",
    "  Chinese). 116 items are Federal Register documents (U.S. Government works, public domain,",
    "  1 CFR 2.6) labelled for this project; the others were written for this project (many",
    "  paraphrase real, dated events) and carry `example.org` URLs. See",
    "  docs/news-classifier.md.",
    "- `events.csv`: dated supply-shock and policy events 2010 to mid-2024 for the backtest,",
    "  compiled for this project from the public sources linked in each row. See",
    "  docs/backtest.md.",
    "",
]

#: The perspective tables (written by scripts/build_perspective_tables.py, not this script).
PERSPECTIVE_FILES_NOTE = [
    "## Perspective tables",
    "",
    "Built by `scripts/build_perspective_tables.py` from `../shared/data/raw/perspectives/`",
    "and `../shared/data/raw/eu_crm2023/` (see docs/risk-model.md, \"Perspectives\").",
    "",
    "- `perspective_eu.csv`: the EU-27 import reliance of the stage assessed (the bottleneck)",
    "  and the end-of-life recycling input rate, per material, from European Commission,",
    "  *Study on the Critical Raw Materials for the EU 2023 - Final Report*,",
    "  doi:10.2873/725585 (reuse with attribution, Commission Decision 2011/833/EU), as",
    "  transcribed in github.com/meyerdata/CritMAT (MIT) at commit",
    "  0bd897788ddd82bc58752e5460c53b924cbc63bc, `input_data/seeds/eureport_results.csv`.",
    "- `perspective_cn.csv`: published figures of China's import reliance (对外依存度), one row",
    "  per figure with its source title and URL (ministry statements, industry associations,",
    "  journals, news and reposts), a qualifier and a reliability grade assigned by the build",
    "  script; nothing computed. Left out: gold (not monitored), one zirconium figure without a",
    "  year.",
    "- `perspective_cn_partners.csv`, `perspective_eu_partners.csv`: main suppliers' shares of",
    "  China's and the EU's imports, with sources (customs data as reported; European Court of",
    "  Auditors reports 2023 and 2026 as reported). One product series per mineral; rows of",
    "  other series, combined countries or without a share are left out (listed in the script).",
    "",
]


def build(raw: Path, out: Path) -> list[tuple[Shipped, bytes]]:
    """Write every shipped file and ATTRIBUTION.md into ``out``; return what was written."""
    entries: list[tuple[Shipped, bytes]] = []
    for item, relative, transform in shipped_files():
        original = (raw / relative).read_bytes()
        body = transform(original)
        if item.name == MCS_LONG_OUT:
            check_mcs(original, body)
        elif item.name == WGI_OUT:
            check_wgi(original, body)
        (out / item.name).write_bytes(body)
        entries.append((item, body))
    (out / "ATTRIBUTION.md").write_text(attribution(entries), encoding="utf-8")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="shared/data/raw folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    args = parser.parse_args(argv)
    entries = build(args.raw, args.out)
    total = sum(len(body) for _, body in entries)
    for item, body in entries:
        print(f"{len(body):>10,}  {item.name}")
    print(f"{total:>10,}  total")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


#: Data critmon polls or fetches at run time and does not ship.
POLLED_DATA_NOTE = [
    "## Data polled or fetched at run time (not shipped)",
    "",
    "- IMF Primary Commodity Prices (source `imf_pcps`): the IMF's monthly workbook",
    "  `external-data.xls`, found on https://www.imf.org/en/Research/commodity-prices at each",
    "  poll. Attribution: \"IMF Primary Commodity Prices\". The IMF's terms restrict",
    "  redistribution, so no IMF data are shipped; the test sample is synthetic. See",
    "  docs/sources.md.",
    "- USGS Mineral Commodity Summaries editions 2020-2026 (`critmon data fetch usgs-mcs`):",
    "  U.S. Geological Survey data releases on ScienceBase, public domain. Attribution: U.S.",
    "  Geological Survey, Mineral Commodity Summaries <edition> Data Release. See",
    "  docs/sources.md.",
    "",
]
