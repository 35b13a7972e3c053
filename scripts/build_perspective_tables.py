"""Dev tool: build the shipped perspective tables (monitor/data/perspective_*.csv) from ../shared.

Not used at run time. Usage::

    .venv/bin/python scripts/build_perspective_tables.py [--raw DIR] [--out DIR]

Reads ``perspectives/import_reliance.csv``, ``perspectives/import_sources.csv`` and
``eu_crm2023/eureport_results.csv`` and writes, in the user-table format of
``monitor/config/perspectives.py``:

* ``perspective_cn.csv``: every China figure of a monitored mineral, with a reliability grade
  (PROVENANCE.md's ladder: 5 ministry statements and official reports, 4 industry
  associations and international agencies, 3 peer-reviewed journals and geological-survey
  research, 2 broker research, think tanks and news, 1 reposts and content farms, 0 not
  comparable: one product only or another measure). The headline is chosen at load time.
* ``perspective_cn_partners.csv``, ``perspective_eu_partners.csv``: supplier shares, one
  product series per mineral (the one closest to the reliance figure's stage).
* ``perspective_eu.csv``: the EU-27 import reliance of the stage the study assessed as the
  bottleneck, with the end-of-life recycling input rate.

Running it twice gives byte-identical output. What was left out, and why, is in the
``LEFT_OUT`` lists below and in ATTRIBUTION.md.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO.parent / "shared" / "data" / "raw"
DEFAULT_OUT = REPO / "monitor" / "data"

RELIANCE_COLUMNS = ("mineral", "year", "import_reliance_pct", "qualifier", "stage",
                    "reliability", "recycling_pct", "source", "source_url", "note")
PARTNER_COLUMNS = ("mineral", "year", "partner", "share_pct", "source", "source_url")

# ----------------------------------------------------------------------- China

CN_MINERALS = {
    "cobalt": "cobalt", "nickel": "nickel", "lithium": "lithium", "chromium": "chromium",
    "manganese": "manganese", "platinum group metals": "platinum_group_metals",
    "copper": "copper", "iron ore": "iron_ore",
    "bauxite": "aluminum",  # the precursor, as USGS uses bauxite for aluminum's NIR
    "zirconium": "zirconium", "potash": "potash", "uranium": "uranium", "lead": "lead",
    "zinc": "zinc", "titanium": "titanium",
}
LEFT_OUT_CN = ("gold: not a monitored mineral; zirconium row without a year (journal, "
               "publication year not shown): a figure needs its year")

#: (substring of the source title or qualifier, grade); the first match wins.
RELIABILITY_RULES = (
    ("lithium carbonate only", 0),  # one product, not total lithium
    ("repost", 1), ("Repost", 1), ("content-farm", 1), ("Content-farm", 1),
    ("MNR press conference", 5), ("Land and Resources Communique", 5),
    ("CNIA", 4), ("China Nonferrous Metals Industry Association", 4),
    ("China Iron and Steel Association", 4), ("China Gold Association", 4),
    ("CNREE", 3), ("中国国土资源经济", 3), ("南华大学学报", 3), ("矿产勘查", 3),
    ("中国矿业 (", 3), ("CAGS", 3), ("CGS", 3),
)


def reliability(title: str, qualifier: str) -> int:
    text = f"{title} {qualifier}"
    for needle, grade in RELIABILITY_RULES:
        if needle in text:
            return grade
    return 2  # news, think tanks, broker research


def qualifier_of(text: str) -> str:
    lowered = text.lower()
    if "lower bound" in lowered:
        return ">"
    if "upper bound" in lowered:
        return "<"
    if "approx" in lowered or "close to" in lowered:
        return "~"
    return ""


def cn_reliance(raw: Path) -> list[dict[str, str]]:
    rows = []
    with (raw / "perspectives" / "import_reliance.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mineral = CN_MINERALS.get(row["mineral"])
            if row["economy"] != "CN" or mineral is None or not row["year"]:
                continue
            note = row["qualifier"]
            if row["mineral"] == "bauxite":
                note = f"bauxite (aluminum's ore); {note}"
            rows.append({
                "mineral": mineral, "year": str(int(float(row["year"]))),
                "import_reliance_pct": f"{float(row['import_reliance_pct']):g}",
                "qualifier": qualifier_of(row["qualifier"]), "stage": row["stage"],
                "reliability": str(reliability(row["source_title"], row["qualifier"])),
                "recycling_pct": "", "source": row["source_title"],
                "source_url": row["source_url"], "note": note,
            })
    return sorted(rows, key=lambda r: (r["mineral"], r["year"], r["source"]))


#: (economy, mineral as written in import_sources.csv) -> mineral id. Rows of other product
#: series of the same mineral are left out (LEFT_OUT_PARTNERS): mixing products in one year
#: would add shares of different bases.
PARTNER_MINERALS = {
    ("CN", "cobalt (raw materials: ore + intermediates)"): "cobalt",
    ("CN", "nickel"): "nickel", ("CN", "tin"): "tin", ("CN", "lithium"): "lithium",
    ("CN", "chromium ore"): "chromium", ("CN", "manganese ore"): "manganese",
    ("CN", "copper"): "copper", ("CN", "zinc"): "zinc", ("CN", "platinum"): "platinum",
    ("CN", "palladium"): "palladium", ("CN", "iron ore"): "iron_ore",
    ("CN", "bauxite"): "aluminum",
    ("EU", "lithium"): "lithium", ("EU", "boron"): "boron", ("EU", "magnesium"): "magnesium",
    ("EU", "bauxite/aluminium"): "aluminum", ("EU", "nickel"): "nickel",
    ("EU", "natural graphite"): "graphite", ("EU", "cobalt"): "cobalt",
}
LEFT_OUT_PARTNERS = (
    "CN cobalt (unprocessed) 2022: no share given",
    ("CN nickel ore 2021, nickel ore (laterite) 2017 (Indonesia + Philippines combined), "
     "nickel sulphate 2024: other product series than the 2022 nickel row"),
    "CN lithium carbonate 2022: a refined product (the 2022 lithium row is raw material)",
    "CN copper concentrate 2016: Chile + Peru combined",
    "CN tin concentrate 2020: older than the 2022 tin row",
    "CN manganese ore 2020: one month (June) only",
    "EU lithium (raw) 2023: older than the 2026 lithium row",
)


def partners(raw: Path, economy: str) -> list[dict[str, str]]:
    rows = []
    with (raw / "perspectives" / "import_sources.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mineral = PARTNER_MINERALS.get((row["economy"], row["mineral"]))
            if row["economy"] != economy or mineral is None or not row["share_pct"]:
                continue
            if economy == "CN" and row["mineral"] == "manganese ore" and row["year"] == "2020":
                continue
            rows.append({"mineral": mineral, "year": row["year"], "partner": row["partner"],
                         "share_pct": f"{float(row['share_pct']):g}",
                         "source": row["source_title"], "source_url": row["source_url"]})
    return sorted(rows, key=lambda r: (r["mineral"], r["year"], r["partner"]))


# ----------------------------------------------------------------------- EU

EU_MINERALS = {
    "Aluminium": "aluminum", "Antimony": "antimony", "Arsenic": "arsenic", "Baryte": "barite",
    "Beryllium": "beryllium", "Bismuth": "bismuth", "Boron": "boron", "Cobalt": "cobalt",
    "Chromium": "chromium", "Coking coal": "metallurgical_coal", "Copper": "copper",
    "Fluorspar": "fluorspar", "Gallium": "gallium", "Germanium": "germanium",
    "Hafnium": "hafnium", "Dysprosium": "dysprosium", "Erbium": "erbium",
    "Europium": "europium", "Gadolinium": "gadolinium", "Holmium": "holmium",
    "Lutetium": "lutetium", "Terbium": "terbium", "Thulium": "thulium",
    "Ytterbium": "ytterbium", "Yttrium": "yttrium", "Indium": "indium",
    "Iron ore": "iron_ore", "Lead": "lead", "Lithium": "lithium", "LREE": "rare_earths",
    "Cerium": "cerium", "Lanthanum": "lanthanum", "Neodymium": "neodymium",
    "Praseodymium": "praseodymium", "Samarium": "samarium", "Magnesium": "magnesium",
    "Manganese": "manganese", "Natural graphite": "graphite", "Nickel": "nickel",
    "Niobium": "niobium", "PGM": "platinum_group_metals", "Iridium": "iridium",
    "Palladium": "palladium", "Platinum": "platinum", "Rhodium": "rhodium",
    "Ruthenium": "ruthenium", "Phosphate rock": "phosphate", "Potash": "potash",
    "Rhenium": "rhenium", "Scandium": "scandium", "Silicon metal": "silicon",
    "Silver": "silver", "Tantalum": "tantalum", "Tellurium": "tellurium", "Tin": "tin",
    "Titanium": "titanium", "Tungsten": "tungsten", "Vanadium": "vanadium", "Zinc": "zinc",
    "Zirconium": "zirconium",
}
LEFT_OUT_EU = ("materials critmon does not monitor (aggregates, gold, helium, molybdenum, "
               "wood, ...); HREE (the members are listed; rare_earths takes LREE, the bulk of "
               "rare-earth tonnage); Titanium metal (titanium takes the Titanium row); the "
               "study's duplicated Tungsten row appears once")
EU_SOURCE = ("European Commission, Study on the Critical Raw Materials for the EU 2023 - "
             "Final Report (doi:10.2873/725585), as transcribed in meyerdata/CritMAT")
EU_URL = "https://doi.org/10.2873/725585"


def eu_reliance(raw: Path) -> list[dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    with (raw / "eu_crm2023" / "eureport_results.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            mineral = EU_MINERALS.get(row["material_name"])
            if mineral is None or mineral in rows:
                continue
            primary, refined = row["import_reliance_primary"], row["import_reliance_refined"]
            used = primary if row["eu_used_stage"] == "Extraction" else refined
            stage = "mine" if row["eu_used_stage"] == "Extraction" else "refined"
            note = f"assessed stage {row['eu_used_stage']} (bottleneck)"
            if not used:  # the study gives the other stage only
                used, stage = (refined, "refined") if refined else (primary, "mine")
                note += f"; no figure for that stage, {stage} used"
            other = refined if stage == "mine" else primary
            if other:
                note += f"; other stage {other}%"
            rows[mineral] = {
                "mineral": mineral, "year": "2023", "import_reliance_pct": used,
                "qualifier": "", "stage": stage, "reliability": "4",
                "recycling_pct": row["end_of_life"], "source": EU_SOURCE,
                "source_url": EU_URL, "note": note,
            }
    return [rows[m] for m in sorted(rows)]


def write(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    print(f"wrote {path} ({len(rows)} rows)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    write(args.out / "perspective_cn.csv", RELIANCE_COLUMNS, cn_reliance(args.raw))
    write(args.out / "perspective_cn_partners.csv", PARTNER_COLUMNS, partners(args.raw, "CN"))
    write(args.out / "perspective_eu.csv", RELIANCE_COLUMNS, eu_reliance(args.raw))
    write(args.out / "perspective_eu_partners.csv", PARTNER_COLUMNS, partners(args.raw, "EU"))


if __name__ == "__main__":
    main()
