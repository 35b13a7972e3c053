"""config/minerals.yaml: the 60 US critical minerals of 2022/2025 plus two groups, consistent."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.sources.bundled import MCS_LONG_FILE, read_bundled
from monitor.sources.usgs import build_commodity_map, build_nir_figure_map, decode_text

MINERALS_YAML = Path(__file__).resolve().parents[2] / "config" / "minerals.yaml"
RAW_LISTS = (Path(__file__).resolve().parents[3] / "shared" / "data" / "raw"
             / "usgs_critical_minerals_lists" / "us_critical_minerals_lists_2018_2022_2025.csv")

# 87 FR 10381 (2022): 50 minerals.
LIST_2022 = {
    "aluminum", "antimony", "arsenic", "barite", "beryllium", "bismuth", "cerium", "cesium",
    "chromium", "cobalt", "dysprosium", "erbium", "europium", "fluorspar", "gadolinium",
    "gallium", "germanium", "graphite", "hafnium", "holmium", "indium", "iridium", "lanthanum",
    "lithium", "lutetium", "magnesium", "manganese", "neodymium", "nickel", "niobium",
    "palladium", "platinum", "praseodymium", "rhodium", "rubidium", "ruthenium", "samarium",
    "scandium", "tantalum", "tellurium", "terbium", "thulium", "tin", "titanium", "tungsten",
    "vanadium", "ytterbium", "yttrium", "zinc", "zirconium",
}
# USGS final list of November 2025: the 50 of 2022 plus ten.
LIST_2025 = LIST_2022 | {
    "boron", "copper", "lead", "metallurgical_coal", "phosphate", "potash", "rhenium",
    "silicon", "silver", "uranium",
}
REES = {"cerium", "dysprosium", "erbium", "europium", "gadolinium", "holmium", "lanthanum",
        "lutetium", "neodymium", "praseodymium", "samarium", "terbium", "thulium", "ytterbium",
        "yttrium"}
PGMS = {"iridium", "palladium", "platinum", "rhodium", "ruthenium"}
# 83 FR 23295 (2018): 35 entries; the groups' members count as listed ("G").
LIST_2018 = {
    "aluminum", "antimony", "arsenic", "barite", "beryllium", "bismuth", "cesium", "chromium",
    "cobalt", "fluorspar", "gallium", "germanium", "graphite", "hafnium", "indium", "lithium",
    "magnesium", "manganese", "niobium", "potash", "rhenium", "rubidium", "scandium",
    "tantalum", "tellurium", "tin", "titanium", "tungsten", "uranium", "vanadium", "zirconium",
} | REES | PGMS | {"rare_earths", "platinum_group_metals"}

ALLOWED_KEYS = {"id", "name", "name_zh", "symbol", "aliases", "aliases_zh", "ambiguous", "lists",
                "unit", "group", "members", "usgs", "hs", "notes", "names_i18n"}
REQUIRED_KEYS = {"id", "name", "name_zh", "aliases", "aliases_zh", "ambiguous", "lists", "unit",
                 "usgs", "notes"}
NO_SYMBOL = {"barite", "fluorspar", "graphite", "metallurgical_coal", "phosphate", "potash",
             "rare_earths", "platinum_group_metals", "iron_ore"}
CHINESE_NAMES = {
    "antimony": "锑", "tungsten": "钨", "germanium": "锗", "beryllium": "铍", "bismuth": "铋",
    "cesium": "铯", "hafnium": "铪", "indium": "铟", "iridium": "铱", "rubidium": "铷",
    "ruthenium": "钌", "rhodium": "铑", "rhenium": "铼", "tantalum": "钽", "tellurium": "碲",
    "thulium": "铥", "ytterbium": "镱", "lutetium": "镥", "holmium": "钬", "erbium": "铒",
    "europium": "铕", "gadolinium": "钆", "samarium": "钐", "terbium": "铽", "dysprosium": "镝",
    "neodymium": "钕", "praseodymium": "镨", "lanthanum": "镧", "cerium": "铈", "yttrium": "钇",
    "scandium": "钪", "fluorspar": "萤石", "barite": "重晶石", "potash": "钾盐",
    "phosphate": "磷矿", "metallurgical_coal": "冶金煤", "platinum_group_metals": "铂族金属",
    "gallium": "镓", "graphite": "石墨", "rare_earths": "稀土", "lithium": "锂", "cobalt": "钴",
    "nickel": "镍", "copper": "铜", "aluminum": "铝", "titanium": "钛", "silicon": "硅",
}
SYMBOLS = {"gallium": "Ga", "tungsten": "W", "antimony": "Sb", "tin": "Sn", "lead": "Pb",
           "silver": "Ag", "yttrium": "Y", "niobium": "Nb", "uranium": "U", "boron": "B"}


@pytest.fixture(scope="module")
def entries() -> list[dict[str, Any]]:
    document = yaml.safe_load(MINERALS_YAML.read_text(encoding="utf-8"))
    assert set(document) == {"version", "minerals"} and document["version"] == 1
    return document["minerals"]


@pytest.fixture(scope="module")
def by_id(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in entries}


@pytest.fixture(scope="module")
def minerals(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries on a US critical list (groups and price-only commodities excluded)."""
    return [entry for entry in entries if "members" not in entry and entry["lists"]]


def test_entries_on_no_list_say_why_they_are_watched(entries: list[dict[str, Any]]) -> None:
    unlisted = [e for e in entries if not e["lists"] and "members" not in e]
    assert [e["id"] for e in unlisted] == ["iron_ore", "molybdenum"]
    assert all("Not on a US critical-mineral list" in e["notes"] for e in unlisted)


@pytest.fixture(scope="module")
def mcs_commodities() -> set[str]:
    rows = csv.DictReader(io.StringIO(decode_text(read_bundled(MCS_LONG_FILE))))
    return {row["Commodity"] for row in rows}


def test_exactly_the_60_minerals_of_the_2022_and_2025_lists_plus_two_groups(
    entries: list[dict[str, Any]], minerals: list[dict[str, Any]]
) -> None:
    assert len(LIST_2022) == 50 and len(LIST_2025) == 60
    assert {m["id"] for m in minerals} == LIST_2022 | LIST_2025
    assert len(minerals) == 60
    assert [e["id"] for e in entries if "members" in e] == ["rare_earths",
                                                            "platinum_group_metals"]


def test_ids_are_unique_snake_case_and_sorted_with_groups_last(
    entries: list[dict[str, Any]], minerals: list[dict[str, Any]]
) -> None:
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i) for i in ids)
    assert [m["id"] for m in minerals] == sorted(m["id"] for m in minerals)
    # the two groups close the list entries; minerals on no list are appended after them
    assert ids[ids.index("rare_earths"):][:2] == ["rare_earths", "platinum_group_metals"]
    listed = {m["id"] for m in minerals}
    assert all(i not in listed for i in ids[ids.index("platinum_group_metals") + 1:])


def test_entries_use_only_the_schema_keys(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        assert set(entry) <= ALLOWED_KEYS, entry["id"]
        assert REQUIRED_KEYS <= set(entry), entry["id"]
        assert isinstance(entry["ambiguous"], bool)
        assert entry["unit"] and entry["notes"]
        assert all(isinstance(alias, str) and alias for alias in
                   (*entry["aliases"], *entry["aliases_zh"]))


def test_every_mineral_has_names_in_the_six_other_languages(
        entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        names = entry["names_i18n"]
        assert set(names) == {"fr", "es", "pt", "de", "id", "ja"}, entry["id"]
        for terms in names.values():
            plain = [t for t in terms if not t.startswith("!")]
            assert plain and all(isinstance(t, str) and t.strip("?!") for t in terms), entry["id"]


def test_lists_record_the_2018_2022_and_2025_lists(by_id: dict[str, dict[str, Any]]) -> None:
    for mineral_id, entry in by_id.items():
        expected = [year for year, members in ((2018, LIST_2018), (2022, LIST_2022 | {
            "rare_earths", "platinum_group_metals"}), (2025, LIST_2025 | {
            "rare_earths", "platinum_group_metals"})) if mineral_id in members]
        assert entry["lists"] == expected, mineral_id


@pytest.mark.skipif(not RAW_LISTS.exists(), reason="raw list CSV not present")
def test_lists_agree_with_the_compiled_list_file(by_id: dict[str, dict[str, Any]]) -> None:
    for row in csv.DictReader(io.StringIO(RAW_LISTS.read_text(encoding="utf-8"))):
        mineral_id = row["commodity"].lower().replace(" ", "_")
        if mineral_id not in by_id:
            assert row["list_2022"] == "0" and row["list_2025_final"] == "0", mineral_id
            continue
        years = [y for y, col in ((2018, "list_2018"), (2022, "list_2022"),
                                  (2025, "list_2025_final")) if row[col] in ("1", "G")]
        assert by_id[mineral_id]["lists"] == years, mineral_id


def test_chinese_names_are_the_standard_ones(by_id: dict[str, dict[str, Any]]) -> None:
    assert {i: by_id[i]["name_zh"] for i in CHINESE_NAMES} == CHINESE_NAMES
    cjk = re.compile(r"^[\u4e00-\u9fff]+$")
    for entry in by_id.values():
        assert cjk.match(entry["name_zh"]), entry["id"]
        assert all(cjk.match(alias) for alias in entry["aliases_zh"]), entry["id"]


def test_symbols_are_element_symbols_and_absent_for_non_elements(
    by_id: dict[str, dict[str, Any]],
) -> None:
    assert {i: by_id[i].get("symbol") for i in SYMBOLS} == SYMBOLS
    for mineral_id, entry in by_id.items():
        if mineral_id in NO_SYMBOL:
            assert "symbol" not in entry, mineral_id
        else:
            assert re.fullmatch(r"[A-Z][a-z]?", entry["symbol"]), mineral_id


def test_aliases_point_to_one_mineral_and_never_repeat_a_name(
    entries: list[dict[str, Any]],
) -> None:
    owner: dict[str, str] = {}
    for entry in entries:
        for word in (entry["name"], entry["name_zh"], *entry["aliases"], *entry["aliases_zh"]):
            key = word.casefold()
            assert owner.setdefault(key, entry["id"]) == entry["id"], (word, owner[key])


def test_words_with_everyday_meanings_are_flagged_ambiguous(
    by_id: dict[str, dict[str, Any]],
) -> None:
    for mineral_id in ("tin", "lead", "nickel", "cobalt", "gallium", "silver", "platinum",
                       "copper", "silicon", "chromium"):
        assert by_id[mineral_id]["ambiguous"] is True, mineral_id
    for mineral_id in ("antimony", "germanium", "tungsten", "rare_earths", "neodymium"):
        assert by_id[mineral_id]["ambiguous"] is False, mineral_id


def test_groups_and_members_point_at_each_other(by_id: dict[str, dict[str, Any]]) -> None:
    assert set(by_id["rare_earths"]["members"]) == REES
    assert set(by_id["platinum_group_metals"]["members"]) == PGMS
    for group in ("rare_earths", "platinum_group_metals"):
        for member in by_id[group]["members"]:
            assert by_id[member].get("group") == group, member
    grouped = {i for i, e in by_id.items() if "group" in e}
    assert grouped == REES | PGMS
    assert "group" not in by_id["scandium"]  # listed and published separately


def test_every_usgs_name_exists_in_the_shipped_mcs_release(
    entries: list[dict[str, Any]], mcs_commodities: set[str]
) -> None:
    for entry in entries:
        # Molybdenum is in the MCS 2026 release but not in its bundled subset (data fetch).
        assert set(entry["usgs"]) <= mcs_commodities | {"Molybdenum"}, entry["id"]


def test_usgs_names_build_conflict_free_commodity_maps(entries: list[dict[str, Any]]) -> None:
    pairs = [(entry["id"], entry["usgs"]) for entry in entries]
    commodity_map = build_commodity_map(pairs)
    assert commodity_map["Graphite (Natural)"] == "graphite"
    assert commodity_map["Niobium (Columbium)"] == "niobium"
    assert commodity_map["Bauxite"] == "aluminum"
    assert build_nir_figure_map(pairs)["titanium"] == "titanium"


def test_minerals_without_usgs_data_say_so(by_id: dict[str, dict[str, Any]]) -> None:
    empty = {i for i, e in by_id.items() if not e["usgs"]}
    assert empty == {"metallurgical_coal", "uranium", "thulium", "platinum_group_metals",
                     "iron_ore"}
    for mineral_id in empty:
        assert re.search(r"MCS|Mineral Commodity Summaries", by_id[mineral_id]["notes"]), mineral_id
