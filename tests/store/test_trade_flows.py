"""The trade_flows table: natural key, idempotent upserts, first publication date kept
(on SQLite and on PostgreSQL: the ``store_url`` fixture)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from monitor.core.trade import TradeFlow
from monitor.store.database import Store

T0 = datetime(2024, 1, 15, tzinfo=UTC)
T1 = datetime(2024, 2, 15, tzinfo=UTC)
FLOW = TradeFlow(period=date(2023, 8, 1), reporter="CHN", partner="USA", flow="X", hs="811292",
                 value_usd=1_440_000.0, net_weight_kg=4800.0, source="comtrade_exports",
                 published_at=date(2023, 10, 30))


def test_saving_twice_changes_nothing_and_a_revision_keeps_the_publication_date(
        store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.save_trade_flows([FLOW], fetched_at=T0) == 1
        assert store.save_trade_flows([FLOW], fetched_at=T1) == 0
        revised = replace(FLOW, net_weight_kg=5000.0, published_at=date(2024, 2, 15))
        assert store.save_trade_flows([revised], fetched_at=T1) == 1
        [stored] = store.trade_flows()
        assert stored.net_weight_kg == 5000.0
        assert stored.published_at == date(2023, 10, 30)
        assert store.count_trade_flows("comtrade_exports") == 1


def test_known_at_and_code_filters(store_url: str) -> None:
    other = replace(FLOW, hs="282560", published_at=date(2023, 12, 1))
    with Store.open(store_url) as store:
        store.save_trade_flows([FLOW, other], fetched_at=T0)
        assert [f.hs for f in store.trade_flows(known_at=date(2023, 11, 1))] == ["811292"]
        assert [f.hs for f in store.trade_flows(hs=["282560"])] == ["282560"]
        assert len(store.trade_flows(known_at=date(2023, 12, 1))) == 2


def test_the_table_survives_a_reopen(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.save_trade_flows([FLOW], fetched_at=T0)
    with Store.open(store_url) as store:
        assert store.trade_flows() == [FLOW]
