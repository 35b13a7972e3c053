"""USGS MCS parsers: value codes, decoding, the long release CSV and the Figure 2 NIR files."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation
from monitor.sources.bundled import read_bundled
from monitor.sources.usgs import (
    MCS_COMMODITIES_COLUMNS,
    build_commodity_map,
    build_nir_figure_map,
    decode_text,
    nir_figure_key,
    parse_mcs_commodities,
    parse_mcs_nir_figure,
    parse_usgs_value,
)

SALIENT = "Salient Statistics\u2014United States"
HEADER = ["MCS chapter", *MCS_COMMODITIES_COLUMNS, "Is critical mineral 2025", "Other notes"]
PUBLISHED = date(2026, 2, 6)


def mcs_csv(rows: list[tuple[str, ...]], *, encoding: str = "cp1252") -> bytes:
    """A long-format release CSV. Row: (Section, Commodity, Country, Statistics, detail, Unit,
    Year, Value, Notes)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([row[1].upper(), *row, "Yes", "(Data in metric tons)"])
    return out.getvalue().encode(encoding)


def parse(rows: list[tuple[str, ...]], commodity_map: dict[str, str] | None = None,
          **kwargs: object) -> list[Observation]:
    return parse_mcs_commodities(
        mcs_csv(rows, **kwargs),  # type: ignore[arg-type]
        source="usgs_mcs2026",
        commodity_map=commodity_map or {"Gallium": "gallium"},
        published_at=PUBLISHED,
    )


def nir(commodity: str, year: str, value: str, detail: str = "Net import reliance as a "
        "percentage of apparent consumption", notes: str = "") -> tuple[str, ...]:
    return (SALIENT, commodity, "United States", "Net import reliance", detail, "percent", year,
            value, notes)


def production(commodity: str, country: str, year: str, value: str,
               section: str = "World Mine Production and Reserves",
               detail: str = "Mine production", unit: str = "metric tons",
               notes: str = "Estimated.") -> tuple[str, ...]:
    return (section, commodity, country, "Production", detail, unit, year, value, notes)


def price(commodity: str, year: str, value: str, detail: str,
          unit: str = "dollars per kilogram") -> tuple[str, ...]:
    return (SALIENT, commodity, "United States", "Price", detail, unit, year, value, "")


# --- parse_usgs_value ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", (42.0, "")),
        ("0.18", (0.18, "")),
        ("1,234.5", (1234.5, "")),
        ("270,000", (270000.0, "")),
        ("68\u00a0", (68.0, "")),  # trailing no-break space, as in the release
        ("W", (None, "W")),  # withheld
        ("NA", (None, "NA")),  # not available
        ("XX", (None, "XX")),  # no world total can be calculated
        ("", (None, "NA")),
        ("   ", (None, "NA")),
        ("E", (0.0, "E")),  # net exporter: NIR 0
        (">50", (50.0, ">")),  # lower bound: the bound
        (">95", (95.0, ">")),
        (">1,200,000", (1200000.0, ">")),
        ("<25", (12.5, "<")),  # upper bound: half the bound
        ("<1", (0.5, "<")),
        ("\u2014", (0.0, "")),  # em dash: zero
        ("\u2013", (0.0, "")),  # en dash: zero
        ("-", (0.0, "")),
        ("s", (0.0, "s")),  # small: less than half a unit
        ("50\u2013300", (175.0, "range")),
        ("890\u20131,000", (945.0, "range")),
        ("10,000 - 15,000", (12500.0, "range")),
    ],
)
def test_parse_usgs_value_reads_every_usgs_notation(text: str, expected: tuple) -> None:
    assert parse_usgs_value(text) == expected


@pytest.mark.parametrize(
    "text", ["Variable, depending on type of product", "Large", "1,23", "12abc", ">x", "e"]
)
def test_parse_usgs_value_rejects_unknown_text_and_names_it(text: str) -> None:
    with pytest.raises(ValueError, match="unrecognised USGS value") as info:
        parse_usgs_value(text)
    assert repr(text) in str(info.value)


# --- decoding -----------------------------------------------------------------------------------


def test_decode_text_reads_cp1252_punctuation() -> None:
    assert decode_text(b"Salient Statistics\x97United States") == SALIENT
    assert decode_text(b"C\xf4te d\x92Ivoire") == "C\u00f4te d\u2019Ivoire"


def test_decode_text_prefers_valid_utf8_and_strips_a_bom() -> None:
    utf8 = "C\u00f4te d\u2019Ivoire \u2014".encode()
    assert decode_text(utf8) == "C\u00f4te d\u2019Ivoire \u2014"
    assert decode_text(b"\xef\xbb\xbfSource,Commodity") == "Source,Commodity"


def test_cp1252_and_utf8_copies_of_a_release_parse_the_same() -> None:
    rows = [nir("Gallium", "2025", "100", notes="Estimated.")]
    assert parse(rows, encoding="cp1252") == parse(rows, encoding="utf-8")


# --- long release CSV: what is kept ---------------------------------------------------------------


def test_net_import_reliance_rows_become_annual_us_percent_observations() -> None:
    [obs] = parse([nir("Gallium", "2024", "100")])
    assert obs == Observation(
        source="usgs_mcs2026", series="gallium:nir", mineral="gallium",
        measure=Measure.NET_IMPORT_RELIANCE, period=date(2024, 1, 1),
        frequency=Frequency.ANNUAL, value=100.0, unit="percent", country="United States",
        stage="", qualifier="", published_at=PUBLISHED,
    )


def test_estimated_values_get_qualifier_e_unless_a_stronger_code_applies() -> None:
    rows = [
        nir("Gallium", "2024", "100", notes="Estimated."),
        nir("Gallium", "2025", ">95", notes="Estimated. -- Defined as imports \u2013 exports."),
        price("Gallium", "2025", "580", "Price, average unit value of imports"),
        production("Gallium", "Japan", "2025", "3,000", notes="Estimated .-- Source: X."),
    ]
    qualifiers = {(o.measure, o.period.year): o.qualifier for o in parse(rows)}
    assert qualifiers == {
        (Measure.NET_IMPORT_RELIANCE, 2024): "e",
        (Measure.NET_IMPORT_RELIANCE, 2025): ">",
        (Measure.PRICE, 2025): "",
        (Measure.PRODUCTION, 2025): "e",
    }


def test_rows_of_unmapped_commodities_and_other_statistics_are_skipped() -> None:
    rows = [
        nir("Gold", "2025", "s"),
        (SALIENT, "Gallium", "United States", "Import", "Imports for consumption", "kilograms",
         "2025", "20,000", ""),
        (SALIENT, "Gallium", "United States", "Production", "Production: Primary",
         "kilograms", "2025", "\u2014", ""),  # US salient production is not a world table
        ("Import Sources", "Gallium", "Japan", "Import sources 2021-2024", "All forms",
         "percent", "2021\u201324", "30", ""),
        nir("Gallium", "2025", "100"),
    ]
    [obs] = parse(rows)
    assert (obs.mineral, obs.measure, obs.period) == (
        "gallium", Measure.NET_IMPORT_RELIANCE, date(2025, 1, 1))


def test_each_price_detail_is_its_own_series_without_a_country() -> None:
    rows = [
        price("Cobalt", "2025", "21", "Price, average, dollars per pound: U.S. spot, cathode",
              unit="dollars per pound"),
        price("Cobalt", "2025", "15", "Price, average, dollars per pound: London Metal "
              "Exchange (LME), cash", unit="dollars per pound"),
    ]
    observations = parse(rows, {"Cobalt": "cobalt"})
    assert {(o.series, o.value) for o in observations} == {
        ("cobalt:price:average_dollars_per_pound_u_s_spot_cathode", 21.0),
        ("cobalt:price:average_dollars_per_pound_london_metal_exchange_lme_cash", 15.0),
    }
    assert {(o.measure, o.unit, o.country) for o in observations} == {
        (Measure.PRICE, "dollars per pound", "")}


def test_text_cells_in_kept_rows_are_skipped_not_fatal() -> None:
    rows = [
        price("Gallium", "2024", "Variable, depending on type of product", "Price"),
        price("Gallium", "2025", "580", "Price"),
    ]
    assert [o.value for o in parse(rows)] == [580.0]


def test_world_production_keeps_countries_other_countries_and_world_total() -> None:
    rows = [
        production("Cobalt", "Congo (Kinshasa)", "2025", "230,000"),
        production("Cobalt", "Indonesia", "2025", "44,000"),
        production("Cobalt", "Other countries", "2025", "9,100"),
        production("Cobalt", "World total", "2025", "310,000", detail="Mine production: rounded"),
    ]
    observations = parse(rows, {"Cobalt": "cobalt"})
    assert {(o.country, o.value) for o in observations} == {
        ("Congo (Kinshasa)", 230000.0), ("Indonesia", 44000.0), ("Other countries", 9100.0),
        ("World total", 310000.0)}
    assert {(o.series, o.stage, o.measure, o.unit) for o in observations} == {
        ("cobalt:production:mine", "mine", Measure.PRODUCTION, "metric tons")}


@pytest.mark.parametrize(
    ("section", "detail", "stage"),
    [
        ("World Mine Production and Reserves", "Mine production", "mine"),
        ("World Mine and Refinery Production and Reserves", "Mine production", "mine"),
        ("World Mine and Refinery Production and Reserves", "Refinery production", "refinery"),
        ("World Smelter Production and Capacity", "Smelter production", "refinery"),
        ("World Low-Purity Production and Production Capacity", "Primary production",
         "refinery"),
        ("World Refinery Production and Capacity", "Refinery production", "refinery"),
        ("World Alumina Refinery and Bauxite Mine Production and Bauxite Reserves",
         "Bauxite, mine production", "mine"),
        ("World Alumina Refinery and Bauxite Mine Production and Bauxite Reserves",
         "Alumina, refinery production", "refinery"),
        ("World Sponge Metal Production and Sponge and Pigment Capacity",
         "Titanium sponge metal production", "refinery"),
        ("World Production", "Silicon metal", "refinery"),
        ("World Production and Capacity", "Production (arsenic trioxide, gross weight)",
         "refinery"),
        ("World Production and Reserves", "Production\u2014refined borates", "mine"),
        ("World Mine Production and Reserves", "global production", "mine"),
    ],
)
def test_production_stage_follows_the_table(section: str, detail: str, stage: str) -> None:
    [obs] = parse([production("Gallium", "China", "2025", "1", section=section, detail=detail)])
    assert obs.stage == stage
    assert obs.series == f"gallium:production:{stage}"


def test_mine_and_refinery_tables_of_one_commodity_stay_apart() -> None:
    section = "World Mine and Refinery Production and Reserves"
    rows = [
        production("Copper", "Chile", "2025", "5,300", section=section),
        production("Copper", "Chile", "2025", "1,700", section=section,
                   detail="Refinery production"),
    ]
    observations = parse(rows, {"Copper": "copper"})
    assert {(o.series, o.value) for o in observations} == {
        ("copper:production:mine", 5300.0), ("copper:production:refinery", 1700.0)}


def test_a_product_suffix_is_added_only_where_a_country_year_repeats() -> None:
    rows = [
        production("Titanium Mineral Concentrates", "Australia", "2025", "780",
                   detail="Mine production: Ilmenite"),
        production("Titanium Mineral Concentrates", "Australia", "2025", "200",
                   detail="Mine production: Rutile"),
        production("Titanium Mineral Concentrates", "World total", "2025", "9,400",
                   detail="Mine production: ilmenite, rounded"),
        production("Boron", "Turkey", "2025", "1,500", section="World Production and Reserves",
                   detail="Production\u2014refined borates"),
        production("Boron", "Chile", "2025", "300", section="World Production and Reserves",
                   detail="Production\u2014ulexite"),
    ]
    commodity_map = {"Titanium Mineral Concentrates": "titanium", "Boron": "boron"}
    series = {(o.country, o.series) for o in parse(rows, commodity_map)}
    assert series == {
        ("Australia", "titanium_mineral_concentrates:production:mine:ilmenite"),
        ("Australia", "titanium_mineral_concentrates:production:mine:rutile"),
        ("World total", "titanium_mineral_concentrates:production:mine:ilmenite"),
        ("Turkey", "boron:production:mine"),  # one table, forms differ by country
        ("Chile", "boron:production:mine"),
    }


def test_several_nir_series_of_one_commodity_are_named_by_their_detail() -> None:
    base = "Net import reliance as a percentage of apparent consumption: "
    rows = [
        nir("Rare Earths", "2025", "67", detail=base + "Compounds and metals"),
        nir("Rare Earths", "2025", "E", detail=base + "Mineral concentrates"),
    ]
    observations = parse(rows, {"Rare Earths": "rare_earths"})
    assert {(o.series, o.value, o.qualifier) for o in observations} == {
        ("rare_earths:nir:compounds_and_metals", 67.0, ""),
        ("rare_earths:nir:mineral_concentrates", 0.0, "E"),
    }


def test_withheld_and_zero_production_are_kept_with_their_codes() -> None:
    rows = [
        production("Gallium", "United States", "2025", "\u2014", notes=""),
        production("Gallium", "Kazakhstan", "2025", "W", notes=""),
    ]
    assert {(o.country, o.value, o.qualifier) for o in parse(rows)} == {
        ("United States", 0.0, ""), ("Kazakhstan", None, "W")}


def test_ragged_rows_are_read_as_blank_cells() -> None:
    short_row = f"GALLIUM,{SALIENT},Gallium,United States,Net import reliance,NIR,percent,2025\n"
    body = mcs_csv([]) + short_row.encode("cp1252")  # no Value, Notes or later cells
    [obs] = parse_mcs_commodities(body, source="s", commodity_map={"Gallium": "gallium"},
                                  published_at=None)
    assert (obs.value, obs.qualifier) == (None, "NA")


def test_missing_columns_are_named_in_the_error() -> None:
    body = "MCS chapter,Section,Commodity,Country,Statistics,Year,Value\n".encode("cp1252")
    with pytest.raises(SourceFormatError) as info:
        parse_mcs_commodities(body, source="usgs_mcs2026", commodity_map={},
                              published_at=None)
    message = str(info.value)
    assert "Statistics_detail" in message and "Unit" in message and "Notes" in message
    assert info.value.source == "usgs_mcs2026"


def test_a_kept_row_without_a_four_digit_year_is_a_format_error() -> None:
    with pytest.raises(SourceFormatError, match="line 2"):
        parse([nir("Gallium", "FY2025", "100")])


def test_empty_and_undecodable_bodies_are_format_errors() -> None:
    for body in (b"", b"\x81\x8d\xff"):
        with pytest.raises(SourceFormatError):
            parse_mcs_commodities(body, source="s", commodity_map={}, published_at=None)


# --- Figure 2 NIR files ---------------------------------------------------------------------------

FIG2_2023 = (
    b"Source,Import_Share_Rank,Commodity,Net_Import_Reliance_pct_2022,"
    b"Major_Import_Sources_2018_2021\n"
    b'MCS2023,5,GALLIUM,100,"China, Germany, Japan, Ukraine"\n'
    b'MCS2023,19,"RARE EARTHS, compounds and metals, including lanthanides",>95,"China"\n'
    b'MCS2023,20,"TITANIUM, sponge",>95,"Japan, Kazakhstan, Ukraine"\n'
    b'MCS2023,31,COBALT,76,"Norway, Canada, Finland, Japan"\n'
    b'MCS2023,65,VERMICULITE,20,"South Africa, Brazil"\n'
)
FIG2_2026 = (
    "\ufeffSource,Import_Share_Order,Commodity,Net_Import_Reliance_pct_2025,"
    "Major_Import_Sources_2021_24,Notes\n"
    'MCS2026,5,"GALLIUM, metal",100,"Canada, Japan, China, Germany",Descending order.\n'
    'MCS2026,9,"MICA (NATURAL), sheet",100,"China, Vietnam",Descending order.\n'
    'MCS2026,58,"MICA (NATURAL), scrap and flake",34,"China, Canada",Descending order.\n'
    'MCS2026,63,BROMINE,<25,"Israel, Jordan, China",Descending order.\n'
).encode("utf-8")
FIG2_MAP = build_nir_figure_map([
    ("gallium", ["Gallium"]), ("rare_earths", ["Rare Earths"]), ("cobalt", ["Cobalt"]),
    ("titanium", ["Titanium Sponge Metal"]), ("mica", ["Mica (Natural)"]),
    ("bromine", ["Bromine"]),
])


def figure(body: bytes, source: str = "usgs_mcs2023_fig2") -> dict[str, Observation]:
    observations = parse_mcs_nir_figure(body, source=source, commodity_map=FIG2_MAP,
                                        published_at=date(2023, 1, 31))
    return {o.series: o for o in observations}


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("GALLIUM", "gallium"),
        ("GALLIUM, metal", "gallium"),
        ("RARE EARTHS, compounds and metals, including lanthanides", "rare earths"),
        ("GRAPHITE (NATURAL)", "graphite"),
        ("NIOBIUM (COLUMBIUM)", "niobium"),
        ("CHROMIUM, all forms ", "chromium"),
        ("TITANIUM MINERAL CONCENTRATES", "titanium mineral concentrates"),
        ("Graphite (Natural)", "graphite"),
    ],
)
def test_figure_labels_join_on_the_text_before_the_first_comma_or_parenthesis(
    label: str, key: str
) -> None:
    assert nir_figure_key(label) == key


def test_figure_year_comes_from_the_column_name() -> None:
    observations = figure(FIG2_2023)
    assert {o.period for o in observations.values()} == {date(2022, 1, 1)}
    assert figure(FIG2_2026)["gallium:nir"].period == date(2025, 1, 1)


def test_figure_rows_become_us_nir_observations_of_the_mapped_minerals() -> None:
    observations = figure(FIG2_2023)
    assert set(observations) == {"gallium:nir", "rare_earths:nir", "titanium:nir", "cobalt:nir"}
    assert observations["cobalt:nir"] == Observation(
        source="usgs_mcs2023_fig2", series="cobalt:nir", mineral="cobalt",
        measure=Measure.NET_IMPORT_RELIANCE, period=date(2022, 1, 1),
        frequency=Frequency.ANNUAL, value=76.0, unit="percent", country="United States",
        published_at=date(2023, 1, 31),
    )
    rare_earths = observations["rare_earths:nir"]
    assert (rare_earths.mineral, rare_earths.value, rare_earths.qualifier) == (
        "rare_earths", 95.0, ">")
    assert observations["titanium:nir"].mineral == "titanium"  # "TITANIUM, sponge"


def test_figure_labels_that_share_a_key_in_one_file_stay_apart() -> None:
    observations = figure(FIG2_2026, source="usgs_mcs2026_fig2")
    assert observations["mica:nir:sheet"].value == 100.0
    assert observations["mica:nir:scrap_and_flake"].value == 34.0
    assert observations["bromine:nir"].value == 12.5  # "<25"


def test_figure_without_a_year_column_is_a_format_error() -> None:
    body = b"Source,Commodity,Net_Import_Reliance\nMCS2026,GALLIUM,100\n"
    with pytest.raises(SourceFormatError, match="Net_Import_Reliance_pct_YYYY"):
        parse_mcs_nir_figure(body, source="f", commodity_map=FIG2_MAP, published_at=None)


# --- commodity maps -------------------------------------------------------------------------------


def test_commodity_map_comes_from_mineral_usgs_names() -> None:
    minerals = [("aluminum", ["Aluminum", "Alumina", "Bauxite"]), ("gallium", ["Gallium"])]
    assert build_commodity_map(minerals) == {
        "Aluminum": "aluminum", "Alumina": "aluminum", "Bauxite": "aluminum",
        "Gallium": "gallium"}
    assert build_commodity_map({"gallium": ["Gallium"]}) == {"Gallium": "gallium"}


def test_a_commodity_claimed_by_two_minerals_is_rejected() -> None:
    with pytest.raises(ValueError, match="Zirconium And Hafnium"):
        build_commodity_map([("zirconium", ["Zirconium And Hafnium"]),
                             ("hafnium", ["Zirconium And Hafnium"])])
    with pytest.raises(ValueError, match="rare earths"):
        build_nir_figure_map([("rare_earths", ["Rare Earths"]),
                              ("neodymium", ["Rare Earths (Heavy)"])])


def test_figure_map_knows_the_titanium_sponge_label() -> None:
    table = build_nir_figure_map([("titanium", ["Titanium Sponge Metal",
                                                "Titanium Mineral Concentrates"])])
    assert table == {"titanium sponge metal": "titanium", "titanium": "titanium",
                     "titanium mineral concentrates": "titanium"}


# --- the real MCS files shipped with the package --------------------------------------------------

REAL_MAP = {"Gallium": "gallium", "Cobalt": "cobalt", "Rare Earths": "rare_earths"}


@pytest.fixture(scope="module")
def mcs2026() -> list[Observation]:
    return parse_mcs_commodities(read_bundled("usgs_mcs2026_commodities.csv"),
                                 source="usgs_mcs2026", commodity_map=REAL_MAP,
                                 published_at=PUBLISHED)


def _production(observations: list[Observation], mineral: str, year: int) -> dict[str, float]:
    return {o.country: o.value for o in observations
            if o.mineral == mineral and o.measure is Measure.PRODUCTION
            and o.period.year == year and o.value is not None}


def test_real_release_gallium_nir_2021_to_2025_is_100(mcs2026: list[Observation]) -> None:
    nir_by_year = {o.period.year: o.value for o in mcs2026
                   if o.series == "gallium:nir"}
    assert nir_by_year == {2021: 100.0, 2022: 100.0, 2023: 100.0, 2024: 100.0, 2025: 100.0}


def test_real_release_congo_kinshasa_is_the_largest_cobalt_miner_2025(
    mcs2026: list[Observation],
) -> None:
    producers = _production(mcs2026, "cobalt", 2025)
    countries = {c: v for c, v in producers.items() if c not in ("Other countries", "World total")}
    assert max(countries, key=countries.__getitem__) == "Congo (Kinshasa)"
    assert countries["Congo (Kinshasa)"] == 230000.0


def test_real_release_china_mines_about_69_percent_of_rare_earths_2025(
    mcs2026: list[Observation],
) -> None:
    producers = _production(mcs2026, "rare_earths", 2025)
    assert producers["China"] == 270000.0
    assert producers["China"] / producers["World total"] == pytest.approx(0.692, abs=0.001)


def test_real_release_keeps_the_gallium_world_table_as_refinery_stage(
    mcs2026: list[Observation],
) -> None:
    gallium = [o for o in mcs2026 if o.mineral == "gallium" and o.measure is Measure.PRODUCTION]
    assert {o.stage for o in gallium} == {"refinery"}
    assert {o.unit for o in gallium} == {"kilograms"}
    assert _production(mcs2026, "gallium", 2025)["China"] == 900000.0


@pytest.mark.parametrize(
    ("edition", "mineral", "expected"),
    [
        (2023, "cobalt", (76.0, "")),
        (2023, "rare_earths", (95.0, ">")),
        (2024, "gallium", (100.0, "")),
        (2026, "rare_earths", (67.0, "")),
        (2026, "cobalt", (79.0, "")),
    ],
)
def test_real_figure2_files_give_the_published_nir_of_the_previous_year(
    edition: int, mineral: str, expected: tuple[float, str]
) -> None:
    body = read_bundled(f"usgs_mcs{edition}_fig2_net_import_reliance.csv")
    table = build_nir_figure_map([("cobalt", ["Cobalt"]), ("gallium", ["Gallium"]),
                                  ("rare_earths", ["Rare Earths"])])
    observations = parse_mcs_nir_figure(body, source=f"usgs_mcs{edition}_fig2",
                                        commodity_map=table, published_at=None)
    [obs] = [o for o in observations if o.mineral == mineral]
    assert (obs.value, obs.qualifier) == expected
    assert obs.period == date(edition - 1, 1, 1)
