"""/metrics and /healthz served over real HTTP from what the store records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from monitor.ops.metrics import parse_address, start_metrics_server
from monitor.store.database import DB_NAME, SourceState, Store


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / DB_NAME
    with Store.open(path) as store:
        store.save_source_state(SourceState("fred_tin", status="ok", polls=5, failures=1,
                                            last_latency_s=0.25))
        store.save_source_state(SourceState("fred_zinc", status="failing", polls=3,
                                            failures=3))
        now = datetime.now(UTC).isoformat()
        store.set_meta("heartbeat_at", now)
        store.set_meta("last_cycle_at", now)
    server = start_metrics_server(path, "127.0.0.1:0")
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


def test_metrics_report_source_polls_failures_and_health(server_url: str) -> None:
    response = httpx.get(f"{server_url}/metrics")
    assert response.status_code == 200
    text = response.text
    assert 'critmon_source_polls_total{source="fred_tin"} 5.0' in text
    assert 'critmon_source_failures_total{source="fred_zinc"} 3.0' in text
    assert 'critmon_source_up{source="fred_zinc"} 0.0' in text
    assert "critmon_heartbeat_timestamp_seconds" in text


def test_healthz_is_200_when_healthy_and_503_with_reasons_when_not(
        server_url: str, tmp_path: Path) -> None:
    response = httpx.get(f"{server_url}/healthz")
    assert response.status_code == 200 and json.loads(response.text)["healthy"] is True
    with Store.open(tmp_path / DB_NAME) as store:
        store.set_meta("heartbeat_at", "2020-01-01T00:00:00+00:00")
    response = httpx.get(f"{server_url}/healthz")
    body = json.loads(response.text)
    assert response.status_code == 503 and body["healthy"] is False
    failed = {c["check"]: c["detail"] for c in body["checks"] if not c["ok"]}
    assert list(failed) == ["scheduler alive"]


def test_unknown_paths_are_404(server_url: str) -> None:
    assert httpx.get(f"{server_url}/admin").status_code == 404


def test_a_bare_port_binds_to_loopback_only() -> None:
    assert parse_address("9464") == ("127.0.0.1", 9464)
    assert parse_address("0.0.0.0:9464") == ("0.0.0.0", 9464)
    assert parse_address("[::1]:9464") == ("::1", 9464)


def test_on_postgresql_metrics_and_health_show_the_role_and_the_lease(
        pg_url: str, tmp_path: Path) -> None:
    import socket

    from click.testing import CliRunner

    from monitor.cli.main import cli
    from monitor.store.lease import acquire

    with Store.open(pg_url) as store:
        now = datetime.now(UTC).isoformat()
        store.set_meta("heartbeat_at", now)
        store.set_meta("last_cycle_at", now)
        token = acquire(store.db, f"{socket.gethostname()}:4242:abcdef", ttl_s=60)
    server = start_metrics_server(pg_url, "127.0.0.1:0", role=lambda: "follower")
    host, port = server.server_address[:2]
    try:
        text = httpx.get(f"http://{host}:{port}/metrics").text
    finally:
        server.shutdown()
        server.server_close()
    assert 'critmon_role{role="follower"} 1.0' in text
    assert 'critmon_role{role="leader"} 0.0' in text
    assert f"critmon_leader_lease_token {float(token or 0)}" in text
    assert f'critmon_leader_lease_holder{{holder="{socket.gethostname()}:4242:abcdef"}} 1.0' \
        in text
    result = CliRunner().invoke(cli, ["--store", pg_url, "--state-dir", str(tmp_path / "s"),
                                      "health"])
    assert "leader lease" in result.output and f"token {token}" in result.output
    assert "this host leads" in result.output
