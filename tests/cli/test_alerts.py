"""``critmon alerts`` and ``critmon history`` on a state the daemon's own cycle produced."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer

from monitor.core.clock import FixedClock
from tests.alerting.test_alerting_e2e import ALERTING, RULES, SOURCES, SPIKE, T0, TOKEN, Setup
from tests.slack_standin import SlackStandIn, SmtpSink


@pytest.fixture(scope="module")
def spiked(tmp_path_factory: pytest.TempPathFactory, make_httpserver: HTTPServer
           ) -> Iterator[Setup]:
    """Gallium's 3-month price change at ln(600/400) = 0.405 (+50%), over the 0.262 (+30%)
    threshold of ``price_jump_3m``: one alert firing ``high``. Built once: the tests only read."""
    tmp_path = tmp_path_factory.mktemp("spiked")
    with pytest.MonkeyPatch.context() as monkeypatch, SlackStandIn(token=TOKEN) as slack, \
            SmtpSink() as smtp:
        monkeypatch.setenv("CRITMON_E2E_SLACK_TOKEN", TOKEN)
        config_dir = tmp_path / "config"
        config_dir.mkdir()
        (config_dir / "alerting.yaml").write_text(
            ALERTING.format(api_url=slack.api_url, smtp_port=smtp.port), "utf-8")
        (config_dir / "rules.yaml").write_text(RULES, "utf-8")
        (config_dir / "sources.yaml").write_text(
            SOURCES.format(url=make_httpserver.url_for("/gallium.csv")), "utf-8")
        setup = Setup(config_dir, tmp_path / "state", slack, smtp, make_httpserver,
                      FixedClock(T0))
        setup.serve(SPIKE)
        setup.once()
        make_httpserver.clear()
        yield setup


def test_alerts_table_shows_price_changes_as_percentages(spiked: Setup) -> None:
    code, out = spiked.cli("alerts")
    assert code == 0
    header, _, row = out.splitlines()[:3]
    cells = dict(zip(header.split(), row.split(), strict=False))
    assert (cells["alertname"], cells["value"], cells["threshold"]) == \
        ("price_jump_3m", "+50%", "+30%")
    assert "0.405" not in out and "0.262" not in out


def test_alerts_json_keeps_raw_numbers_and_a_summary_in_percent(spiked: Setup) -> None:
    code, out = spiked.cli("alerts", "--format", "json")
    assert code == 0
    (alert,) = json.loads(out)
    assert alert["value"] == pytest.approx(0.4055, abs=1e-4)
    assert alert["threshold"] == pytest.approx(0.262)
    assert alert["shown"] == "price change 3m: +50% (threshold +30%)"
    assert alert["summary"].endswith("value +50% above +30%")


def test_alerts_csv_has_the_same_fields_as_json(spiked: Setup) -> None:
    code, out = spiked.cli("alerts", "--format", "csv")
    assert code == 0
    (row,) = csv.DictReader(io.StringIO(out))
    assert float(row["value"]) == pytest.approx(0.4055, abs=1e-4)
    assert row["shown"] == "price change 3m: +50% (threshold +30%)"


def test_history_table_shows_price_changes_as_percentages(spiked: Setup) -> None:
    code, out = spiked.cli("history", "--since", "2031-03-01")
    assert code == 0
    fired = next(line for line in out.splitlines() if " fired " in line)
    assert "+50%" in fired and "0.405" not in fired
    code, out = spiked.cli("history", "--since", "2031-03-01", "--format", "json")
    assert any(e["value"] == pytest.approx(0.4055, abs=1e-4) for e in json.loads(out))
