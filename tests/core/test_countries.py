"""USGS country names -> WGI economy codes; aggregates are not countries."""

from __future__ import annotations

import csv
import io

import pytest

from monitor.core.countries import NO_WGI, NOT_COUNTRIES, USGS_TO_WGI, is_country, wgi_code
from monitor.sources.bundled import MCS_LONG_FILE, load_bundled_wgi, read_bundled
from monitor.sources.usgs import decode_text


@pytest.fixture(scope="module")
def wgi_codes() -> set[str]:
    return {estimate.code for estimate in load_bundled_wgi()}


@pytest.fixture(scope="module")
def production_countries() -> set[str]:
    """Every Country of the world production rows in the shipped MCS 2026 release."""
    rows = csv.DictReader(io.StringIO(decode_text(read_bundled(MCS_LONG_FILE))))
    return {row["Country"] for row in rows
            if row["Section"].startswith("World") and row["Statistics"] == "Production"}


@pytest.mark.parametrize(
    ("usgs", "code"),
    [
        ("Congo (Kinshasa)", "ZAR"),  # WGI's legacy code for DR Congo
        ("Congo (Brazzaville)", "COG"),
        ("Burma", "MMR"),
        ("Russia", "RUS"),
        ("Korea, North", "PRK"),
        ("Korea, Republic of", "KOR"),
        ("Republic of Korea", "KOR"),
        ("Romania", "ROM"),
        ("Kosovo", "KSV"),
        ("Timor-Leste", "TMP"),
        ("Andorra", "ADO"),
        ("Turkey", "TUR"),
        ("Vietnam", "VNM"),
        ("Laos", "LAO"),
        ("Iran", "IRN"),
        ("Czechia", "CZE"),
        ("United States", "USA"),
        ("C\u00f4te d\u2019Ivoire", "CIV"),  # curly apostrophe as in the cp1252 release
        ("C\u00f4te d'Ivoire", "CIV"),
        ("  China\u00a0", "CHN"),
    ],
)
def test_usgs_names_map_to_wgi_codes(usgs: str, code: str) -> None:
    assert wgi_code(usgs) == code


@pytest.mark.parametrize(
    "name",
    ["Other countries", "World total", "World total (rounded)", "World total (may be rounded)",
     "Other", "European Union", "world total"],
)
def test_aggregates_are_not_countries_and_have_no_code(name: str) -> None:
    assert not is_country(name)
    assert wgi_code(name) is None


def test_real_countries_and_territories_are_countries() -> None:
    assert is_country("China")
    assert is_country("Congo (Kinshasa)")
    assert is_country("New Caledonia")


def test_territories_without_wgi_scores_have_no_code() -> None:
    assert wgi_code("New Caledonia") is None
    assert "New Caledonia" in NO_WGI
    assert not (NO_WGI & set(USGS_TO_WGI)) and not (NOT_COUNTRIES & set(USGS_TO_WGI))


def test_every_code_in_the_table_exists_in_the_shipped_wgi(wgi_codes: set[str]) -> None:
    assert set(USGS_TO_WGI.values()) - wgi_codes == set()


def test_no_production_country_falls_through_silently(
    production_countries: set[str], wgi_codes: set[str]
) -> None:
    """Each name is a scored country, an aggregate, or a territory WGI does not cover."""
    unaccounted = {
        name for name in production_countries
        if not (wgi_code(name) in wgi_codes or not is_country(name) or name in NO_WGI)
    }
    assert unaccounted == set()
    assert {"Other countries", "World total", "New Caledonia"} <= production_countries
