"""Per-mineral indicators: concentration, governance, net import reliance and prices."""

from __future__ import annotations

import itertools
import math
from datetime import date

import pytest

from monitor.core.models import Frequency, Measure, Observation
from monitor.risk.indicators import (
    INDICATORS,
    build_governance,
    compute_all_indicators,
    compute_indicators,
    governance_weight,
)
from monitor.risk.prices import (
    infer_frequency,
    price_change_series,
    price_history,
    volatility,
    volatility_series,
    window_returns,
)
from monitor.sources.wgi import WGI_INDICATORS, WgiEstimate

AS_OF = date(2026, 3, 1)
Y2025 = date(2025, 1, 1)


def prod(country: str, value: float | None, *, series: str = "x:production:mine",
         stage: str = "mine", period: date = Y2025, qualifier: str = "",
         mineral: str = "x") -> Observation:
    return Observation(source="usgs_mcs2026", series=series, mineral=mineral,
                       measure=Measure.PRODUCTION, period=period, frequency=Frequency.ANNUAL,
                       value=value, unit="t", country=country, stage=stage, qualifier=qualifier,
                       published_at=date(2026, 2, 6))


def nir(value: float | None, *, series: str = "x:nir", qualifier: str = "",
        period: date = Y2025, source: str = "usgs_mcs2026", mineral: str = "x",
        published_at: date = date(2026, 2, 6)) -> Observation:
    return Observation(source=source, series=series, mineral=mineral,
                       measure=Measure.NET_IMPORT_RELIANCE, period=period,
                       frequency=Frequency.ANNUAL, value=value, unit="percent",
                       country="United States", qualifier=qualifier, published_at=published_at)


def price(period: date, value: float | None, *, series: str = "x:price",
          frequency: Frequency = Frequency.MONTHLY, published_at: date | None = None,
          source: str = "s") -> Observation:
    return Observation(source=source, series=series, mineral="x", measure=Measure.PRICE,
                       period=period, frequency=frequency, value=value, unit="$/t",
                       published_at=published_at)


def wgi_for(code: str, mean: float, year: int = 2023) -> list[WgiEstimate]:
    return [WgiEstimate(code, code, year, indicator, mean) for indicator in WGI_INDICATORS]


# China g = (2.5 - 0)/5 = 0.5, Canada g = (2.5 - 1.5)/5 = 0.2, Congo g = (2.5 + 1.5)/5 = 0.8
GOVERNANCE = build_governance(wgi_for("CHN", 0.0) + wgi_for("CAN", 1.5) + wgi_for("ZAR", -1.5))


def indicators(*observations: Observation, **kwargs: object) -> dict[str, object]:
    return compute_indicators("x", list(observations), GOVERNANCE, as_of=AS_OF,
                              **kwargs)  # type: ignore[arg-type]


def months(start: date, values: list[float | None]) -> list[tuple[date, float]]:
    """A monthly history from ``start``; None leaves a gap (the month is absent)."""
    result = []
    for offset, value in enumerate(values):
        index = start.year * 12 + start.month - 1 + offset
        if value is not None:
            result.append((date(index // 12, index % 12 + 1, 1), value))
    return result


# --------------------------------------------------------------------------- concentration


def test_shares_are_taken_against_the_world_total_of_the_same_table_and_year() -> None:
    values = indicators(prod("China", 60), prod("Canada", 20), prod("Other countries", 20),
                        prod("World total", 100),
                        prod("China", 10, period=date(2024, 1, 1)),
                        prod("World total", 1000, period=date(2024, 1, 1)))
    assert values["top_producer_share"].value == pytest.approx(0.60)
    assert values["top_producer"].detail_dict()["country"] == "China"
    assert values["china_share"].value == pytest.approx(0.60)
    # "Other countries" is not a producer: HHI = 60^2 + 20^2
    assert values["production_hhi"].value == pytest.approx(3600 + 400)
    assert values["production_hhi"].detail_dict()["unlisted_share"] == "0.2000"


def test_a_single_producer_has_the_maximum_hhi_of_10000() -> None:
    values = indicators(prod("China", 5), prod("World total", 5))
    assert values["production_hhi"].value == pytest.approx(10_000)


def test_a_missing_world_total_falls_back_to_the_sum_of_countries_and_says_so() -> None:
    values = indicators(prod("Turkey", 150), prod("Chile", 50), prod("United States", None,
                        qualifier="W"), prod("World total", None, qualifier="XX"))
    assert values["top_producer_share"].value == pytest.approx(0.75)
    detail = values["production_hhi"].detail_dict()
    assert detail["denominator"] == "sum of countries (no world total)"
    assert detail["withheld"] == "United States"


def test_countries_summing_above_a_rounded_world_total_use_their_sum() -> None:
    # MCS 2026 gallium 2025: China 900,000 + Russia 6,000 + Japan 3,000 > world 900,000
    values = indicators(prod("China", 900_000), prod("Russia", 6_000), prod("Japan", 3_000),
                        prod("World total", 900_000))
    assert values["top_producer_share"].value == pytest.approx(900 / 909)
    assert values["production_hhi"].value <= 10_000
    assert "exceeds" in values["production_hhi"].detail_dict()["denominator"]


def test_the_more_concentrated_stage_is_used_in_the_latest_year_both_tables_have() -> None:
    mine = "x:production:mine"
    refinery = "x:production:refinery"
    values = indicators(
        prod("Chile", 50, series=mine), prod("Peru", 50, series=mine),
        prod("World total", 100, series=mine),
        prod("China", 90, series=refinery, stage="refinery"),
        prod("World total", 100, series=refinery, stage="refinery"),
        # a later mine year without a refinery table does not decide the year
        prod("Chile", 100, series=mine, period=date(2026, 1, 1)),
        prod("World total", 100, series=mine, period=date(2026, 1, 1)),
    )
    detail = values["production_hhi"].detail_dict()
    assert (detail["stage"], detail["year"]) == ("refinery", "2025")
    assert values["production_hhi"].value == pytest.approx(8100)
    assert values["china_share"].value == pytest.approx(0.9)


def test_a_world_total_without_a_country_split_has_no_concentration() -> None:
    values = indicators(prod("World total", 80))
    assert values["production_hhi"].value is None
    assert "no country split" in values["production_hhi"].reason


def test_china_absent_from_a_table_is_flagged_not_unknown() -> None:
    values = indicators(prod("Canada", 70), prod("World total", 100))
    assert values["china_share"].value == 0.0
    assert values["china_share"].detail_dict()["china_listed"] == "no"


# --------------------------------------------------------------------------- governance


@pytest.mark.parametrize(
    ("mean", "g"),
    [
        pytest.param(2.5, 0.0, id="best-governed"),
        pytest.param(-2.5, 1.0, id="worst-governed"),
        pytest.param(0.0, 0.5, id="middle"),
        pytest.param(3.1, 0.0, id="clipped-above"),
        pytest.param(-2.9, 1.0, id="clipped-below"),
    ],
)
def test_governance_weight_rescales_the_wgi_mean_to_0_1(mean: float, g: float) -> None:
    assert governance_weight(mean) == pytest.approx(g)


def test_governance_uses_each_countrys_latest_year_and_the_mean_of_six() -> None:
    old = wgi_for("CHN", -2.5, year=2020)
    new = [WgiEstimate("CHN", "China", 2023, ind, est)
           for ind, est in zip(WGI_INDICATORS, (-1, -0.5, 0, 0.5, 1, None), strict=True)]
    table = build_governance(old + new)
    assert table.get("China").year == 2023
    assert table.get("China").g == pytest.approx((2.5 - 0.0) / 5)
    assert table.get("China").n_estimates == 5


def test_governance_weighted_hhi_is_the_sum_of_squared_shares_times_g() -> None:
    values = indicators(prod("China", 60), prod("Canada", 30), prod("Congo (Kinshasa)", 10),
                        prod("World total", 100))
    expected = 0.6**2 * 0.5 + 0.3**2 * 0.2 + 0.1**2 * 0.8
    assert values["governance_weighted_hhi"].value == pytest.approx(expected)


def test_a_producer_without_wgi_gets_the_median_g_of_the_others_and_is_flagged() -> None:
    values = indicators(prod("China", 50), prod("Canada", 30), prod("New Caledonia", 20),
                        prod("World total", 100))
    median_g = (0.5 + 0.2) / 2
    expected = 0.5**2 * 0.5 + 0.3**2 * 0.2 + 0.2**2 * median_g
    gw = values["governance_weighted_hhi"]
    assert gw.value == pytest.approx(expected)
    assert gw.detail_dict()["no_wgi"] == "New Caledonia (median g 0.350 used)"


# --------------------------------------------------------------------------- net import reliance


@pytest.mark.parametrize(
    ("value", "qualifier", "expected"),
    [
        pytest.param(0.0, "E", 0.0, id="net-exporter-is-0"),
        pytest.param(50.0, ">", 50.0, id="lower-bound-uses-the-bound"),
        pytest.param(12.5, "<", 12.5, id="upper-bound-uses-half-as-parsed"),
        pytest.param(79.0, "e", 79.0, id="estimate"),
    ],
)
def test_net_import_reliance_keeps_the_usgs_qualifier(value: float, qualifier: str,
                                                      expected: float) -> None:
    result = indicators(nir(value, qualifier=qualifier))["net_import_reliance"]
    assert (result.value, result.qualifier) == (expected, qualifier)


def test_withheld_net_import_reliance_is_unknown_not_zero() -> None:
    result = indicators(nir(None, qualifier="W"))["net_import_reliance"]
    assert result.value is None and result.qualifier == "W"
    assert "withheld" in result.reason


def test_a_later_edition_revises_the_same_year() -> None:
    old = nir(67, source="usgs_mcs2025_fig2", published_at=date(2025, 1, 31))
    new = nir(73, source="usgs_mcs2026", published_at=date(2026, 2, 6))
    assert indicators(old, new)["net_import_reliance"].value == 73


def test_the_latest_year_is_the_headline() -> None:
    result = indicators(nir(90, period=date(2024, 1, 1)), nir(60))["net_import_reliance"]
    assert (result.value, result.as_of) == (60, Y2025)


def test_the_headline_is_the_most_import_reliant_form_of_the_minerals_own_commodity() -> None:
    # aluminum: bauxite and alumina are precursors, listed but not the headline
    rows = [nir(60, series="aluminum:nir", mineral="aluminum"),
            nir(75, series="bauxite:nir", qualifier=">", mineral="aluminum"),
            nir(0, series="zinc:nir:ores", qualifier="E", mineral="zinc"),
            nir(73, series="zinc:nir:refined_zinc", mineral="zinc")]
    aluminum = compute_indicators("aluminum", rows[:2], GOVERNANCE, as_of=AS_OF)
    zinc = compute_indicators("zinc", rows[2:], GOVERNANCE, as_of=AS_OF)
    assert aluminum["net_import_reliance"].value == 60
    assert "bauxite:nir=>75" in aluminum["net_import_reliance"].detail_dict()["other_series"]
    assert zinc["net_import_reliance"].value == 73


# --------------------------------------------------------------------------- groups and no data


def test_a_member_without_its_own_table_inherits_the_groups_and_says_so() -> None:
    group = compute_indicators("rare_earths", [
        prod("China", 70, mineral="rare_earths", series="rare_earths:production:mine"),
        prod("World total", 100, mineral="rare_earths", series="rare_earths:production:mine"),
        nir(100, series="rare_earths:nir", mineral="rare_earths"),
    ], GOVERNANCE, as_of=AS_OF, members=("neodymium",))
    member = compute_indicators("neodymium", [price(date(2025, 1, 1), 73.0)], GOVERNANCE,
                                as_of=AS_OF, group="rare_earths", group_values=group)
    for name in ("production_hhi", "governance_weighted_hhi", "china_share",
                 "net_import_reliance"):
        assert member[name].value == group[name].value
        assert member[name].mineral == "neodymium"
        assert member[name].detail_dict()["inherited_from"] == "rare_earths"
    assert "inherited_from" not in member["price"].detail_dict()


def test_a_member_with_its_own_values_keeps_them() -> None:
    group = indicators(prod("China", 70), prod("World total", 100), nir(100))
    member = compute_indicators("m", [nir(40, mineral="m", series="m:nir")], GOVERNANCE,
                                as_of=AS_OF, group="x", group_values=group)
    assert member["net_import_reliance"].value == 40
    assert member["production_hhi"].detail_dict()["inherited_from"] == "x"


def test_groups_are_computed_before_their_members() -> None:
    observations = {"g": [prod("China", 1, mineral="g"), prod("World total", 1, mineral="g")]}
    result = compute_all_indicators([("m", "g", ()), ("g", None, ("m",))], observations,
                                    GOVERNANCE, as_of=AS_OF)
    assert list(result) == ["m", "g"]
    assert result["m"]["production_hhi"].value == pytest.approx(10_000)


def test_a_mineral_without_data_gives_a_reason_for_every_indicator() -> None:
    values = compute_indicators("uranium", [], GOVERNANCE, as_of=AS_OF)
    assert set(values) == set(INDICATORS)
    for name, value in values.items():
        if name != "policy_pressure":
            assert value.value is None and "no data" in value.reason


def test_no_production_table_names_the_edition_that_lacks_it() -> None:
    values = indicators(nir(50, qualifier=">"))
    assert values["production_hhi"].value is None
    assert values["production_hhi"].reason == "no world production table in MCS 2026"


def test_unknown_policy_pressure_is_missing_not_zero() -> None:
    assert indicators(nir(10), policy_pressure=None)["policy_pressure"].value is None
    assert indicators(nir(10))["policy_pressure"].value == 0.0


# --------------------------------------------------------------------------- price history


def test_a_monthly_series_is_the_headline_over_a_more_recent_annual_one() -> None:
    monthly = [price(date(2025, m, 1), 10.0 + m) for m in range(1, 12)]
    annual = [price(date(2025, 1, 1), 99.0, series="x:price:annual",
                    frequency=Frequency.ANNUAL)]
    assert price_history(annual + monthly)[-1] == (date(2025, 11, 1), 21.0)


def test_a_revised_period_keeps_the_later_publication() -> None:
    first = price(date(2025, 1, 1), 10.0, published_at=date(2025, 2, 4))
    revised = price(date(2025, 1, 1), 11.0, published_at=date(2025, 3, 4))
    assert price_history([revised, first]) == [(date(2025, 1, 1), 11.0)]


def test_price_history_leaves_gaps_unfilled() -> None:
    rows = [price(date(2025, 1, 1), 1.0), price(date(2025, 2, 1), None),
            price(date(2025, 3, 1), 3.0)]
    assert price_history(rows) == [(date(2025, 1, 1), 1.0), (date(2025, 3, 1), 3.0)]


def test_the_benchmark_preference_breaks_ties_between_equal_series() -> None:
    rows = [price(date(2025, 1, 1), 5.6, series="rare_earths:price:mischmetal",
                  frequency=Frequency.ANNUAL),
            price(date(2025, 1, 1), 69.0, series="rare_earths:price:neodymium_praseodymium",
                  frequency=Frequency.ANNUAL)]
    assert price_history(rows) == [(date(2025, 1, 1), 69.0)]


@pytest.mark.parametrize(
    ("dates", "expected"),
    [
        pytest.param([date(2021, 1, 1), date(2022, 1, 1)], Frequency.ANNUAL, id="annual"),
        pytest.param([date(2021, 1, 1), date(2021, 2, 1)], Frequency.MONTHLY, id="monthly"),
        pytest.param([date(2021, 1, 4), date(2021, 1, 5)], Frequency.DAILY, id="daily"),
    ],
)
def test_frequency_is_inferred_from_the_dates(dates: list[date], expected: Frequency) -> None:
    assert infer_frequency([(d, 1.0) for d in dates]) == expected


# --------------------------------------------------------------------------- returns


def test_price_changes_are_log_returns_between_periods_exactly_the_window_apart() -> None:
    history = months(date(2025, 1, 1), [100.0, 110.0, 121.0, 133.1])
    changes = price_change_series(history, 3)
    assert changes == [(date(2025, 4, 1), pytest.approx(math.log(1.331)))]


def test_a_gap_gives_no_return_rather_than_one_over_the_wrong_span() -> None:
    history = months(date(2025, 1, 1), [100.0, None, 150.0, 160.0])
    changes = dict(price_change_series(history, 1))
    assert date(2025, 3, 1) not in changes  # Feb missing: no Jan->Mar "monthly" return
    assert changes[date(2025, 4, 1)] == pytest.approx(math.log(160 / 150))


def test_a_duplicate_date_with_two_values_gives_no_return_at_all() -> None:
    history = [(date(2025, 1, 1), 100.0), (date(2025, 2, 1), 100.0), (date(2025, 2, 1), 200.0),
               (date(2025, 3, 1), 110.0)]
    assert price_change_series(history, 1) == []


def test_an_exact_duplicate_is_one_point() -> None:
    history = [(date(2025, 1, 1), 100.0), (date(2025, 2, 1), 110.0), (date(2025, 2, 1), 110.0)]
    assert price_change_series(history, 1) == [(date(2025, 2, 1), pytest.approx(math.log(1.1)))]


def test_annual_series_change_over_whole_years_only() -> None:
    history = [(date(2024, 1, 1), 10.24), (date(2025, 1, 1), 25.0)]
    assert price_change_series(history, 3) == []
    assert price_change_series(history, 12) == [(date(2025, 1, 1),
                                                 pytest.approx(math.log(25 / 10.24)))]


def test_non_positive_prices_have_no_log_return() -> None:
    history = months(date(2025, 1, 1), [0.0, 10.0, 11.0])
    assert [d for d, _ in price_change_series(history, 1)] == [date(2025, 3, 1)]


def test_daily_prices_use_the_last_value_of_each_month() -> None:
    history = [(date(2025, 1, 30), 90.0), (date(2025, 1, 31), 100.0), (date(2025, 2, 27), 110.0)]
    assert price_change_series(history, 1) == [(date(2025, 2, 27),
                                                pytest.approx(math.log(1.1)))]


# --------------------------------------------------------------------------- volatility


def test_volatility_is_the_annualised_stdev_of_monthly_log_returns() -> None:
    # returns alternate +r, -r: stdev of 12 returns = r * sqrt(12/11)
    r = math.log(1.1)
    history = months(date(2024, 1, 1), [100.0 * 1.1 ** (i % 2) for i in range(13)])
    assert volatility(history) == pytest.approx(r * math.sqrt(12 / 11) * math.sqrt(12))
    assert len(window_returns(history)) == 12


def test_volatility_needs_three_quarters_of_its_window() -> None:
    full = [100.0 * 1.1 ** (i % 2) for i in range(13)]
    gappy = [v if i % 3 else None for i, v in enumerate(full)]  # 4 of 12 returns survive
    assert volatility(months(date(2024, 1, 1), full)) is not None
    assert volatility(months(date(2024, 1, 1), gappy)) is None


def test_annual_volatility_uses_five_years() -> None:
    prices = [5.31, 6.18, 5.49, 10.24, 25.0]  # antimony, MCS 2026, 2021-2025
    history = [(date(2021 + i, 1, 1), v) for i, v in enumerate(prices)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    mean = sum(returns) / 4
    expected = math.sqrt(sum((x - mean) ** 2 for x in returns) / 3)
    assert volatility(history) == pytest.approx(expected)


def test_volatility_series_has_a_value_where_the_window_is_full_enough() -> None:
    history = months(date(2024, 1, 1), [100.0 + i for i in range(24)])
    series = volatility_series(history)
    assert series[0][0] == date(2024, 10, 1)  # 9 returns = 75 % of 12
    assert len(series) == 24 - 9


# --------------------------------------------------------------------------- price indicators


def test_price_indicators_of_a_monthly_series() -> None:
    rows = [price(date(2024 + m // 12, m % 12 + 1, 1), 100.0 + m)
            for m in range(23)]  # Jan 2024 .. Nov 2025
    values = indicators(*rows)
    assert values["price"].value == 122.0 and values["price"].as_of == date(2025, 11, 1)
    assert values["price_change_3m"].value == pytest.approx(math.log(122 / 119))
    assert values["price_change_12m"].value == pytest.approx(math.log(122 / 110))
    assert values["price_age_days"].value == (AS_OF - date(2025, 11, 30)).days
    assert values["price_volatility_36m"].value is None  # 22 returns < 27 needed


def test_an_annual_series_has_no_monthly_changes_and_says_why() -> None:
    rows = [price(date(y, 1, 1), float(y - 2000), frequency=Frequency.ANNUAL)
            for y in range(2021, 2026)]
    values = indicators(*rows)
    assert values["price_change_3m"].value is None
    assert values["price_change_3m"].reason == "annual series: no 3-month change"
    assert values["price_change_12m"].value == pytest.approx(math.log(25 / 24))
    assert values["price_age_days"].value == (AS_OF - date(2025, 12, 31)).days


def test_a_gap_before_the_latest_price_leaves_the_change_unknown() -> None:
    rows = [price(date(2025, 8, 1), 1.0), price(date(2025, 11, 1), 2.0)]
    values = indicators(*rows)
    assert values["price_change_1m"].value is None
    assert values["price_change_1m"].reason == "no price 1 month before 2025-11-01"
    assert values["price_change_3m"].value == pytest.approx(math.log(2))
