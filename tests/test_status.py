"""The per-mineral status: which value counts as "latest"."""

from __future__ import annotations

from datetime import date

from monitor.models import Frequency, Measure, Observation
from monitor.status import latest_nir, latest_price, latest_world_production, summarize


def obs(measure: Measure, period: date, value: float | None, *, frequency: Frequency =
        Frequency.ANNUAL, source: str = "s", country: str = "", qualifier: str = "",
        published_at: date | None = None, stage: str = "") -> Observation:
    return Observation(source=source, series="x", mineral="m", measure=measure, period=period,
                       frequency=frequency, value=value, unit="u", country=country,
                       qualifier=qualifier, published_at=published_at, stage=stage)


def test_a_monthly_price_beats_a_later_annual_average() -> None:
    monthly = obs(Measure.PRICE, date(2025, 11, 1), 48_200, frequency=Frequency.MONTHLY)
    annual = obs(Measure.PRICE, date(2025, 1, 1), 15.0)
    assert latest_price([annual, monthly]) == monthly


def test_latest_price_skips_missing_values() -> None:
    good = obs(Measure.PRICE, date(2025, 10, 1), 1.0, frequency=Frequency.MONTHLY)
    missing = obs(Measure.PRICE, date(2025, 11, 1), None, frequency=Frequency.MONTHLY)
    assert latest_price([good, missing]) == good


def test_latest_nir_prefers_the_newest_edition_for_the_same_year() -> None:
    old = obs(Measure.NET_IMPORT_RELIANCE, date(2024, 1, 1), 50, qualifier=">",
              published_at=date(2025, 1, 31))
    new = obs(Measure.NET_IMPORT_RELIANCE, date(2024, 1, 1), 75, qualifier=">",
              published_at=date(2026, 2, 6))
    assert latest_nir([new, old]) == new


def test_withheld_nir_is_reported_with_its_code_not_as_zero() -> None:
    withheld = obs(Measure.NET_IMPORT_RELIANCE, date(2025, 1, 1), None, qualifier="W")
    status = summarize("m", "M", "2025", [withheld])
    assert status.net_import_reliance is None and status.nir_qualifier == "W"


def test_world_production_reads_the_world_total_row_only() -> None:
    china = obs(Measure.PRODUCTION, date(2025, 1, 1), 270_000, country="China", stage="mine")
    world = obs(Measure.PRODUCTION, date(2025, 1, 1), 390_000, country="World total",
                stage="mine")
    assert latest_world_production([china, world]) == world


def test_a_mineral_without_observations_has_no_data() -> None:
    status = summarize("thulium", "Thulium", "2022,2025", [])
    assert not status.has_data and status.price is None
