"""status and explain: what an analyst reads, built from assessments of the bundled data."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.config.load import load_config
from monitor.core.models import Observation, Signal
from monitor.risk.assess import Assessment, assess
from monitor.risk.indicators import IndicatorValue
from monitor.risk.status import STATUS_COLUMNS, explain_rows, format_nir, status_rows
from monitor.sources.bundled import (
    PINKSHEET_COLUMNS,
    load_bundled_observations,
    load_bundled_pinksheet,
    load_bundled_wgi,
)

AS_OF = date(2026, 3, 1)


@pytest.fixture(scope="module")
def assessments() -> list[Assessment]:
    config = load_config(environ={})
    observations: list[Observation] = [
        *load_bundled_observations([(m.id, m.usgs) for m in config.minerals.minerals]),
        *load_bundled_pinksheet(PINKSHEET_COLUMNS),
    ]
    by_mineral: dict[str, list[Observation]] = {}
    for o in observations:
        if o.published_at is None or o.published_at <= AS_OF:
            by_mineral.setdefault(o.mineral, []).append(o)
    wgi = [e for e in load_bundled_wgi() if e.year <= 2024]
    return assess(config, by_mineral, wgi, as_of=AS_OF)


def test_status_has_every_mineral_sorted_riskiest_first(assessments: list[Assessment]) -> None:
    rows = status_rows(assessments)
    assert len(rows) == len(assessments)
    scores = [r["score"] for r in rows if r["score"] is not None]
    assert scores == sorted(scores, reverse=True)
    assert all(r["score"] is None for r in rows[len(scores):])
    assert set(rows[0]) == set(STATUS_COLUMNS)


def test_status_row_for_gallium_reads_like_the_usgs_tables(
        assessments: list[Assessment]) -> None:
    row = next(r for r in status_rows(assessments) if r["mineral"] == "gallium")
    assert row["nir"] == "100"
    assert row["top_producer"] == "China" and row["china_share"] > 0.95
    assert row["level"] in ("high", "critical")


def test_firing_signals_are_listed_on_their_mineral(assessments: list[Assessment]) -> None:
    signals = [Signal(rule="price_jump_3m", mineral="nickel", indicator="price_change_3m",
                      firing=True, level="critical"),
               Signal(rule="price_stale", mineral="nickel", indicator="price_age_days",
                      firing=False)]
    row = next(r for r in status_rows(assessments, signals) if r["mineral"] == "nickel")
    assert row["signals"] == "price_jump_3m:critical"


@pytest.mark.parametrize(
    ("value", "qualifier", "shown"),
    [(100.0, "", "100"), (50.0, ">", ">50"), (12.5, "<", "<25"), (0.0, "E", "E"),
     (None, "W", "W"), (None, "", None)],
)
def test_nir_is_shown_as_usgs_publishes_it(value: float | None, qualifier: str,
                                           shown: str | None) -> None:
    iv = IndicatorValue("m", "net_import_reliance", value, qualifier=qualifier)
    assert format_nir(iv) == shown


def test_explain_lists_factors_and_the_missing_with_reasons(
        assessments: list[Assessment]) -> None:
    germanium = next(a for a in assessments if a.mineral == "germanium")
    factors, indicators = explain_rows(germanium)
    assert [f["factor"] for f in factors] == ["structural", "market", "policy"]
    hhi = next(i for i in indicators if i["indicator"] == "production_hhi")
    assert hhi["value"] is None and "production" in hhi["missing"]
    assert germanium.risk.confidence < 1
