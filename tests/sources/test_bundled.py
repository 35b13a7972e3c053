"""The data shipped in monitor/data: loaders, publication dates, fingerprint, attribution."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import types
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from monitor.core.errors import SourceFormatError
from monitor.core.models import Frequency, Measure, Observation
from monitor.sources import bundled
from monitor.sources.bundled import (
    DATA_FILES,
    bundled_fingerprint,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
    mcs_published_at,
    pinksheet_published_at,
    read_bundled,
    wgi_published_at,
)
from monitor.sources.wgi import WgiEstimate, parse_wgi

REPO = Path(__file__).resolve().parents[2]
RAW = REPO.parent / "shared" / "data" / "raw"
MINERALS = [("gallium", ["Gallium"]), ("rare_earths", ["Rare Earths", "Rare Earths (Heavy)"])]


@pytest.fixture(scope="module")
def observations() -> list[Observation]:
    return load_bundled_observations(MINERALS)


# --- publication dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edition", "published"),
    [(2023, date(2023, 1, 31)), (2024, date(2024, 1, 31)), (2025, date(2025, 1, 31)),
     (2026, date(2026, 2, 6))],  # MCS 2026 was first posted on 6 February 2026
)
def test_mcs_editions_are_public_end_of_january_except_2026(edition: int, published: date) -> None:
    assert mcs_published_at(edition) == published


def test_wgi_year_is_public_at_the_end_of_september_next_year() -> None:
    assert wgi_published_at(2023) == date(2024, 9, 30)
    assert wgi_published_at(1996) == date(1997, 9, 30)


@pytest.mark.parametrize(
    ("period", "published"),
    [(date(2025, 1, 1), date(2025, 2, 4)), (date(2024, 12, 1), date(2025, 1, 4)),
     (date(2024, 1, 31), date(2024, 2, 4))],
)
def test_pinksheet_month_is_public_on_the_fourth_of_the_next_month(
    period: date, published: date
) -> None:
    assert pinksheet_published_at(period) == published


# --- MCS observations -------------------------------------------------------------------------


def test_only_the_requested_minerals_are_loaded(observations: list[Observation]) -> None:
    assert {o.mineral for o in observations} == {"gallium", "rare_earths"}


def test_long_release_values_carry_the_mcs_2026_publication_date(
    observations: list[Observation],
) -> None:
    release = [o for o in observations if o.source == "usgs_mcs2026"]
    assert {o.measure for o in release} == set(Measure) - {Measure.RESERVES, Measure.TRADE_WEIGHT,
                                                          Measure.TRADE_VALUE}
    assert {o.published_at for o in release} == {date(2026, 2, 6)}
    assert {o.period.year for o in release} == {2021, 2022, 2023, 2024, 2025}


@pytest.mark.parametrize("edition", [2023, 2024, 2025, 2026])
def test_figure2_of_edition_e_holds_nir_of_year_e_minus_1_published_in_e(
    observations: list[Observation], edition: int
) -> None:
    figure = [o for o in observations if o.source == f"usgs_mcs{edition}_fig2"]
    assert {o.series for o in figure} == {"gallium:nir", "rare_earths:nir"}
    assert {o.period for o in figure} == {date(edition - 1, 1, 1)}
    assert {o.published_at for o in figure} == {mcs_published_at(edition)}
    assert {(o.measure, o.frequency, o.unit, o.country) for o in figure} == {
        (Measure.NET_IMPORT_RELIANCE, Frequency.ANNUAL, "percent", "United States")}


def test_natural_keys_are_unique(observations: list[Observation]) -> None:
    keys = [(o.source, o.series, o.country, o.period) for o in observations]
    assert len(keys) == len(set(keys))


def test_a_backtest_as_of_mid_2024_sees_only_the_2023_and_2024_editions(
    observations: list[Observation],
) -> None:
    known = {o.source for o in observations
             if o.published_at is not None and o.published_at <= date(2024, 6, 30)}
    assert known == {"usgs_mcs2023_fig2", "usgs_mcs2024_fig2"}


def test_loading_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_bundled_observations([("cobalt", ["Cobalt"])])


# --- WGI ----------------------------------------------------------------------------------------


def test_wgi_has_six_estimates_per_economy_and_year_with_gaps_as_none() -> None:
    estimates = load_bundled_wgi()
    assert {e.indicator for e in estimates} == {"va", "pv", "ge", "rq", "rl", "cc"}
    assert {e.year for e in estimates} >= {1996, 2010, 2023}
    china_2023 = {e.indicator: e.estimate for e in estimates if (e.code, e.year) == ("CHN", 2023)}
    assert len(china_2023) == 6 and all(v is not None for v in china_2023.values())
    assert any(e.estimate is None for e in estimates)
    assert {"ZAR", "ROM", "KSV", "TMP", "ADO"} <= {e.code for e in estimates}


OFFICIAL_WGI = (
    "\ufeffcodeindyr,code,countryname,year,indicator,estimate,stddev,nsource,pctrank,"
    "pctranklower,pctrankupper\n"
    "ZARcc2023,ZAR,\"Congo, Dem. Rep.\",2023,cc,-1.37,0.14,11,6.1,2.4,10.4\n"
    "TMPva1996,TMP,Timor-Leste,1996,va,..,..,..,..,..,..\n"
).encode("utf-8")
COMPACT_WGI = (
    b"code,countryname,year,indicator,estimate\n"
    b'ZAR,"Congo, Dem. Rep.",2023,cc,-1.37\n'
    b"TMP,Timor-Leste,1996,va,..\n"
)


def test_parse_wgi_reads_the_official_and_the_compact_layout_alike() -> None:
    expected = [WgiEstimate("ZAR", "Congo, Dem. Rep.", 2023, "cc", -1.37),
                WgiEstimate("TMP", "Timor-Leste", 1996, "va", None)]
    assert parse_wgi(OFFICIAL_WGI) == expected
    assert parse_wgi(COMPACT_WGI) == expected


def test_parse_wgi_names_missing_columns_and_rejects_bad_numbers() -> None:
    with pytest.raises(SourceFormatError, match="estimate"):
        parse_wgi(b"code,countryname,year,indicator\nZAR,Congo,2023,cc\n")
    with pytest.raises(SourceFormatError, match="line 2"):
        parse_wgi(b"code,countryname,year,indicator,estimate\nZAR,Congo,2023,cc,high\n")


# --- Pink Sheet -----------------------------------------------------------------------------------


def test_pinksheet_loader_dates_what_parse_pinksheet_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Uses a stand-in parser, so this holds whatever state monitor.sources.prices is in."""
    calls: list[tuple[bytes, str, Mapping[str, str]]] = []

    def parse_pinksheet(body: bytes, *, source: str, columns: Mapping[str, str]) -> list:
        calls.append((body, source, columns))
        return [Observation(source=source, series="COPPER", mineral="copper",
                            measure=Measure.PRICE, period=date(2025, 11, 1),
                            frequency=Frequency.MONTHLY, value=10812.0, unit="$/mt")]

    fake = types.ModuleType("monitor.sources.prices")
    fake.parse_pinksheet = parse_pinksheet  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "monitor.sources.prices", fake)
    [obs] = load_bundled_pinksheet({"COPPER": "copper"})
    assert obs.published_at == date(2025, 12, 4)
    assert obs.value == 10812.0
    [(body, source, columns)] = calls
    assert body.startswith(b"date,") and source == "worldbank_pinksheet"
    assert columns == {"COPPER": "copper"}


def test_pinksheet_loader_with_the_real_parser() -> None:
    prices = pytest.importorskip("monitor.sources.prices")
    if not hasattr(prices, "parse_pinksheet"):
        pytest.skip("monitor.sources.prices.parse_pinksheet not written yet")
    observations = load_bundled_pinksheet({"COPPER": "copper"})
    last = max(observations, key=lambda o: o.period)
    assert last.period == date(2025, 11, 1)
    assert last.published_at == date(2025, 12, 4)
    assert all(o.published_at == pinksheet_published_at(o.period) for o in observations)


# --- files, fingerprint, attribution -------------------------------------------------------


def test_fingerprint_is_a_stable_sha256() -> None:
    first = bundled_fingerprint()
    assert len(first) == 64 and int(first, 16) >= 0
    assert bundled_fingerprint() == first


def test_fingerprint_changes_when_any_data_file_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = bundled_fingerprint()
    original = bundled.read_bundled

    def altered(name: str) -> bytes:
        body = original(name)
        return body + b"\n" if name == DATA_FILES[-1] else body

    monkeypatch.setattr(bundled, "read_bundled", altered)
    assert bundled_fingerprint() != before


def test_attribution_names_licence_and_hash_of_every_shipped_file() -> None:
    text = read_bundled("ATTRIBUTION.md").decode("utf-8")
    for name in DATA_FILES:
        assert f"`{name}`" in text
        assert hashlib.sha256(read_bundled(name)).hexdigest() in text
    assert "Worldwide Governance Indicators, World Bank" in text
    assert "World Bank Commodity Price Data (The Pink Sheet)" in text
    assert text.count("CC BY 4.0") >= 2


def test_package_data_is_only_shippable_types_and_stays_small() -> None:
    folder = resources.files("monitor.data")
    names = {entry.name for entry in folder.iterdir() if entry.is_file()}
    shipped = {n for n in names if not n.endswith((".py", ".pyc"))}
    # the extensions pyproject.toml ships as package data: anything else would be lost
    assert all(n.endswith((".csv", ".md", ".jsonl")) for n in shipped)
    assert set(DATA_FILES) <= shipped
    assert sum(len(read_bundled(name)) for name in shipped) < 2_500_000


def _build_script(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_bundled_data", REPO / "scripts" / "build_bundled_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not RAW.is_dir(), reason="raw data folder ../shared/data/raw not present")
def test_build_script_reproduces_the_shipped_files_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build_script(monkeypatch).build(RAW, tmp_path)
    for name in (*DATA_FILES, "ATTRIBUTION.md"):
        assert (tmp_path / name).read_bytes() == read_bundled(name), name
