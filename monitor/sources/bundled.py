"""Load the public data shipped inside the package (monitor/data, see ATTRIBUTION.md).

Every observation gets the date its value became public (``published_at``), so a backtest as of
a past date sees only what was known then:

* MCS edition E is published at the end of January of year E (``date(E, 1, 31)``); MCS 2026
  was first posted on 2026-02-06. The Figure 2 NIR of edition E is the NIR of year E-1.
* WGI values for year Y appear in the update of about September Y+1 (``date(Y+1, 9, 30)``).
* The Pink Sheet for month M is released early in month M+1 (4th day of M+1 used).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from importlib import resources

from monitor.core.models import Observation
from monitor.sources.usgs import (
    build_commodity_map,
    build_nir_figure_map,
    parse_mcs_commodities,
    parse_mcs_nir_figure,
)
from monitor.sources.wgi import WgiEstimate, parse_wgi

__all__ = [
    "DATA_FILES",
    "MCS_LONG_EDITION",
    "NIR_FIGURE_EDITIONS",
    "bundled_fingerprint",
    "load_bundled_observations",
    "load_bundled_pinksheet",
    "load_bundled_wgi",
    "mcs_published_at",
    "mcs_source",
    "nir_figure_source",
    "pinksheet_published_at",
    "read_bundled",
    "wgi_published_at",
]

_PACKAGE = "monitor.data"

MCS_LONG_EDITION = 2026
MCS_LONG_FILE = "usgs_mcs2026_commodities.csv"
NIR_FIGURE_EDITIONS = (2023, 2024, 2025, 2026)
NIR_FIGURE_FILE = "usgs_mcs{edition}_fig2_net_import_reliance.csv"
WGI_FILE = "wgi_estimates_1996-2023.csv"
PINKSHEET_FILE = "wb_cmo_monthly_metals_minerals_1960-01_2025-11.csv"
PINKSHEET_SOURCE = "worldbank_pinksheet"
# Pink Sheet column code -> mineral id, for the bundled snapshot (the live source maps its own).
PINKSHEET_COLUMNS = {
    "ALUMINUM": "aluminum", "COPPER": "copper", "LEAD": "lead", "TIN": "tin",
    "NICKEL": "nickel", "ZINC": "zinc", "IRON_ORE": "iron_ore", "PLATINUM": "platinum",
    "SILVER": "silver", "POTASH": "potash", "PHOSROCK": "phosphate",
}
WGI_SOURCE = "wgi"

#: Every shipped data file; ``bundled_fingerprint`` hashes exactly these.
DATA_FILES = (
    MCS_LONG_FILE,
    *(NIR_FIGURE_FILE.format(edition=edition) for edition in NIR_FIGURE_EDITIONS),
    WGI_FILE,
    PINKSHEET_FILE,
)

#: First-posted dates where they differ from the end-of-January rule.
_MCS_FIRST_POSTED = {2026: date(2026, 2, 6)}


def mcs_published_at(edition: int) -> date:
    """When MCS edition ``edition`` became public: 31 January of that year unless known."""
    return _MCS_FIRST_POSTED.get(edition, date(edition, 1, 31))


def wgi_published_at(year: int) -> date:
    """When WGI estimates for ``year`` became public: the update of about September next year."""
    return date(year + 1, 9, 30)


def pinksheet_published_at(period: date) -> date:
    """When the Pink Sheet value for the month starting ``period`` became public.

    The monthly update comes out in the first days of the following month; day 4 is used.
    """
    first_of_next = (period.replace(day=1) + timedelta(days=32)).replace(day=1)
    return first_of_next + timedelta(days=3)


def mcs_source(edition: int) -> str:
    """Source name of the long-format release CSV of an edition, e.g. ``usgs_mcs2026``."""
    return f"usgs_mcs{edition}"


def nir_figure_source(edition: int) -> str:
    """Source name of an edition's Figure 2 NIR CSV, e.g. ``usgs_mcs2023_fig2``."""
    return f"usgs_mcs{edition}_fig2"


def read_bundled(name: str) -> bytes:
    """Bytes of one shipped data file (``importlib.resources``: works from a wheel too)."""
    return resources.files(_PACKAGE).joinpath(name).read_bytes()


def load_bundled_observations(
    minerals: Sequence[tuple[str, Sequence[str]]],
) -> list[Observation]:
    """NIR, price and world-production observations from the shipped MCS files.

    ``minerals`` is ``[(mineral id, usgs commodity names), ...]`` as in minerals.yaml. Returns
    the MCS 2026 release rows and the Figure 2 NIR of MCS 2023..2026, each with its edition's
    publication date.
    """
    pairs = [(mineral, list(names)) for mineral, names in minerals]
    observations = parse_mcs_commodities(
        read_bundled(MCS_LONG_FILE),
        source=mcs_source(MCS_LONG_EDITION),
        commodity_map=build_commodity_map(pairs),
        published_at=mcs_published_at(MCS_LONG_EDITION),
    )
    figure_map = build_nir_figure_map(pairs)
    for edition in NIR_FIGURE_EDITIONS:
        observations += parse_mcs_nir_figure(
            read_bundled(NIR_FIGURE_FILE.format(edition=edition)),
            source=nir_figure_source(edition),
            commodity_map=figure_map,
            published_at=mcs_published_at(edition),
        )
    return observations


def load_bundled_wgi() -> list[WgiEstimate]:
    """All shipped WGI estimates (1996-2023); see ``wgi_published_at`` for their as-of dates."""
    return parse_wgi(read_bundled(WGI_FILE), source=WGI_SOURCE)


def load_bundled_pinksheet(columns: Mapping[str, str]) -> list[Observation]:
    """Monthly Pink Sheet prices for ``columns`` (Pink Sheet column code -> mineral id).

    Parsed by ``monitor.sources.prices.parse_pinksheet`` (imported here, on use), then dated
    with ``pinksheet_published_at``.
    """
    from monitor.sources.prices import parse_pinksheet

    observations = parse_pinksheet(
        read_bundled(PINKSHEET_FILE), source=PINKSHEET_SOURCE, columns=columns
    )
    return [replace(obs, published_at=pinksheet_published_at(obs.period)) for obs in observations]


def bundled_fingerprint() -> str:
    """sha256 over the names and bytes of every shipped data file (changes when any does).

    Lets a loader skip re-importing the bundle when nothing changed since the last import.
    """
    digest = hashlib.sha256()
    for name in sorted(DATA_FILES):
        body = read_bundled(name)
        digest.update(name.encode("utf-8") + b"\0" + str(len(body)).encode("ascii") + b"\0")
        digest.update(body)
    return digest.hexdigest()
