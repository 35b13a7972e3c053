"""Trade indicators (risk/trade.py): codes, zeros, the top producer, the median, the share."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.core.trade import TradeFlow, flows_to_observations
from monitor.risk.trade import (
    EXPORTS,
    EXPORTS_TO,
    EXPORTS_TO_VS,
    EXPORTS_VS,
    IMPORT_SHARE,
    UNIT_VALUE,
    TradeView,
    describe_trade,
    trade_view,
)
from tests.sources.trade_standin import monthly

MONTHS = monthly(date(2022, 9, 1), 13)


def flow(period: date, reporter: str, partner: str, kg: float | None, usd: float | None = None,
         *, hs: str = "811292", direction: str = "X") -> TradeFlow:
    return TradeFlow(period=period, reporter=reporter, partner=partner, flow=direction, hs=hs,
                     value_usd=usd if usd is not None else (kg or 0) * 300,
                     net_weight_kg=kg, mineral="gallium", source="comtrade_exports")


def view(flows: list[TradeFlow]) -> TradeView:
    return trade_view("gallium", "Gallium", flows_to_observations(flows))


def test_a_month_without_a_row_for_the_partner_is_zero_not_unknown() -> None:
    flows = [flow(m, "CHN", "WLD", 20_000.0) for m in MONTHS]
    flows += [flow(m, "CHN", "USA", 4800.0) for m in MONTHS[:-1]]
    result = view(flows)
    assert result.series[EXPORTS_TO][-1] == (MONTHS[-1], 0.0)
    assert result.indicators[EXPORTS_TO].value == 0.0
    assert result.indicators[EXPORTS_TO_VS].value == -1.0
    assert result.indicators[EXPORTS_VS].value == 0.0
    assert result.indicators[UNIT_VALUE].value == 300.0
    text = describe_trade(result.indicators[EXPORTS_TO])
    assert text == ("China's gallium exports to the United States: 0 kg in September 2023 "
                    "against a 12-month median of 4,800 kg")


def test_a_month_with_no_rows_at_all_is_unknown() -> None:
    flows = [flow(m, "CHN", "WLD", 20_000.0) for m in MONTHS[:-1]]
    flows += [flow(m, "CHN", "USA", 4800.0) for m in MONTHS[:-1]]
    result = view(flows)
    assert result.series[EXPORTS_TO][-1][0] == MONTHS[-2]  # September 2023 is not "0 kg"


def test_the_world_total_is_the_partners_sum_when_not_reported() -> None:
    flows = [flow(MONTHS[0], "CHN", "USA", 100.0), flow(MONTHS[0], "CHN", "JPN", 50.0)]
    assert view(flows).indicators[EXPORTS].value == 150.0


def test_the_top_producer_is_the_largest_exporter() -> None:
    flows = [flow(m, "CHN", "WLD", 20_000.0) for m in MONTHS]
    flows += [flow(m, "JPN", "WLD", 900.0) for m in MONTHS]
    assert view(flows).indicators[EXPORTS].detail_dict()["reporter"] == "CHN"


def test_the_median_needs_six_earlier_months() -> None:
    flows = [flow(m, "CHN", "WLD", 20_000.0) for m in MONTHS[:6]]
    change = view(flows).indicators[EXPORTS_VS]
    assert change.value is None and "fewer than 6" in change.reason


def test_the_most_specific_codes_win_for_one_reporter_and_flow() -> None:
    # US imports: Census's HS10 line and Comtrade's HS6 code describe the same shipments
    flows = [flow(MONTHS[0], "USA", "CHN", 4800.0, 1_440_000.0, hs="8112921000",
                  direction="M"),
             flow(MONTHS[0], "USA", "DEU", 1200.0, 360_000.0, hs="8112921000", direction="M"),
             flow(MONTHS[0], "USA", "CHN", 9000.0, 9_000_000.0, hs="811292", direction="M")]
    share = view(flows).indicators[IMPORT_SHARE]
    assert share.value == pytest.approx(0.8)
    assert share.detail_dict()["supplier"] == "CHN"


def test_no_trade_data_gives_no_trade_indicators() -> None:
    assert view([]).indicators == {} and view([]).series == {}
