"""The enqueue stage routes each perspective's alerts by their ``perspective`` label."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.store import AlertStore
from monitor.config.load import Config, load_config
from monitor.core.models import Signal
from monitor.store.database import Store

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
ALERTING = """version: 1
receivers:
  - {name: us_desk, kind: console}
  - {name: china_team, kind: console}
  - {name: eu_team, kind: console}
route:
  receiver: us_desk
  group_by: [perspective, mineral]
  routes:
    - {receiver: china_team, matchers: [perspective=cn]}
    - {receiver: eu_team, matchers: [perspective=eu]}
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "alerting.yaml").write_text(ALERTING, encoding="utf-8")
    (tmp_path / "rules.yaml").write_text("version: 1\nperspectives: [us, cn, eu]\n",
                                         encoding="utf-8")
    return load_config(tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def risk_signal(perspective: str) -> Signal:
    return Signal(rule="supply_risk_level", mineral="cobalt", indicator="supply_risk",
                  firing=True, level="high", value=56.0, threshold=50.0, as_of=date(2026, 3, 1),
                  labels=(("perspective", perspective),))


def test_each_perspective_is_its_own_alert_routed_to_its_own_team(config: Config,
                                                                  store: Store) -> None:
    transitions = enqueue_signals(store, config, [risk_signal(p) for p in ("us", "cn", "eu")],
                                  NOW)
    assert len({t.fingerprint for t in transitions}) == 3
    outbox = AlertStore(store).pending_outbox()
    by_receiver = {row.receiver: row for row in outbox}
    assert set(by_receiver) == {"us_desk", "china_team", "eu_team"}
    assert len({row.group_key for row in outbox}) == 3
    states = AlertStore(store).load_states()
    assert sorted(dict(s.labels)["perspective"] for s in states.values()) == ["cn", "eu", "us"]
