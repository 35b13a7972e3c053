"""An optional HTTP endpoint: ``/metrics`` (Prometheus text format) and ``/healthz``.

Metrics are read from the store at scrape time by a custom collector, so nothing in the polling
or delivery paths keeps counters in memory and the figures survive restarts. The server binds
to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.alerting.alertmanager_sync import sync_states
from monitor.alerting.store import AlertStore
from monitor.ops.health import check_health, load_running_jobs
from monitor.store.database import Store
from monitor.store.lease import lease_info
from monitor.store.urls import StoreTarget

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StoreCollector(Collector):
    """Turns what the store records into Prometheus metrics on each scrape."""

    def __init__(self, db_path: StoreTarget, role: Callable[[], str] | None = None) -> None:
        self.db_path = db_path
        self.role = role

    def collect(self) -> Iterator[Metric]:
        if self.role is not None:
            yield _role_metric(self.role())
        with Store.open(self.db_path, migrate=False) as store:
            yield from _lease_metrics(store)
            yield from _source_metrics(store)
            for name, documentation, table, labels, value in _COUNTS:
                yield _count_metric(store, name, documentation, table, labels, value)
            yield from _meta_metrics(store)
            yield from _alertmanager_metrics(store)


def _role_metric(role: str) -> Metric:
    metric = GaugeMetricFamily("critmon_role", "This instance's role: 1 for the one it has "
                               "(leader or follower).", labels=["role"])
    for name in ("leader", "follower"):
        metric.add_metric([name], 1.0 if role == name else 0.0)
    return metric


def _lease_metrics(store: Store) -> Iterator[Metric]:
    """PostgreSQL: the leader lease as stored (the same on every instance)."""
    info = lease_info(store.db)
    if info is None:
        return
    yield GaugeMetricFamily("critmon_leader_lease_token", "Fencing token of the current "
                            "leader lease (grows by one at each takeover).", value=info.token)
    yield GaugeMetricFamily("critmon_leader_lease_expires_in_seconds", "Seconds until the "
                            "leader lease expires (negative: expired).",
                            value=info.expires_in_s)
    holder = GaugeMetricFamily("critmon_leader_lease_holder", "1 for the instance holding "
                               "the leader lease.", labels=["holder"])
    holder.add_metric([info.holder], 1.0)
    yield holder


def _source_metrics(store: Store) -> Iterator[Metric]:
    polls = CounterMetricFamily("critmon_source_polls", "Polls per source.", labels=["source"])
    failures = CounterMetricFamily("critmon_source_failures", "Failed polls per source.",
                                   labels=["source"])
    up = GaugeMetricFamily("critmon_source_up", "1 when the last poll succeeded.",
                           labels=["source"])
    latency = GaugeMetricFamily("critmon_source_latency_seconds", "Duration of the last poll.",
                                labels=["source"])
    for state in store.source_states():
        polls.add_metric([state.source], state.polls)
        failures.add_metric([state.source], state.failures)
        up.add_metric([state.source], 1.0 if state.status == "ok" else 0.0)
        latency.add_metric([state.source], state.last_latency_s or 0.0)
    yield from (polls, failures, up, latency)


# (metric, help, table, label columns, value expression): one GROUP BY query each.
_COUNTS = (
    ("critmon_observations", "Observations stored.", "observations", ("source",), "COUNT(*)"),
    ("critmon_signals_firing", "Detector signals currently firing, by rule.", "signals",
     ("rule",), "SUM(firing)"),
    ("critmon_alerts", "Alert instances by state.", "alert_state", ("state",), "COUNT(*)"),
    ("critmon_deliveries", "Notifications by receiver and result.", "deliveries",
     ("receiver", "status"), "COUNT(*)"),
)


def _count_metric(store: Store, name: str, documentation: str, table: str,
                  labels: tuple[str, ...], value: str) -> Metric:
    metric = GaugeMetricFamily(name, documentation, labels=list(labels))
    columns = ", ".join(labels)
    sql = f"SELECT {columns}, {value} FROM {table} GROUP BY {columns}"
    for row in store.db.execute(sql).fetchall():
        metric.add_metric([str(v) for v in row[:-1]], float(row[-1] or 0))
    return metric


def _meta_metrics(store: Store) -> Iterator[Metric]:
    for key, name, documentation in (
            ("last_cycle_at", "critmon_last_cycle_timestamp_seconds", "End of the last cycle."),
            ("heartbeat_at", "critmon_heartbeat_timestamp_seconds", "Last scheduler heartbeat.")):
        value = store.get_meta(key)
        if value:
            yield GaugeMetricFamily(name, documentation,
                                    value=datetime.fromisoformat(value).timestamp())
    duration = store.get_meta("last_evaluation_duration_s")
    if duration:
        yield GaugeMetricFamily("critmon_evaluation_duration_seconds",
                                "Duration of the last evaluation.", value=float(duration))


def _alertmanager_metrics(store: Store) -> Iterator[Metric]:
    """Per Alertmanager receiver: when a post was last accepted, failed posts since."""
    states = sync_states(store)
    if not states:
        return
    accepted = GaugeMetricFamily("critmon_alertmanager_last_accepted_timestamp_seconds",
                                 "When an Alertmanager receiver last accepted a post.",
                                 labels=["receiver"])
    failures = GaugeMetricFamily("critmon_alertmanager_failed_posts",
                                 "Failed posts to an Alertmanager receiver since the last "
                                 "accepted one.", labels=["receiver"])
    for receiver, state in sorted(states.items()):
        if state.last_ok_at is not None:
            accepted.add_metric([receiver], state.last_ok_at.timestamp())
        failures.add_metric([receiver], state.failures)
    yield from (accepted, failures)


def make_handler(db_path: StoreTarget, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    """A request handler serving /metrics and /healthz for one database."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE)
            elif self.path.split("?")[0] == "/healthz":
                self._send(*_healthz(db_path))
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics endpoint: %s", format % args)

    return Handler


def _healthz(db_path: StoreTarget) -> tuple[int, bytes, str]:
    with Store.open(db_path, migrate=False) as store:
        now = datetime.now(UTC)
        checks = check_health(now=now, heartbeat_at=store.get_meta("heartbeat_at"),
                              last_cycle_at=store.get_meta("last_cycle_at"),
                              sources=store.source_states(), db_error=store.check_writable(),
                              stuck_deliveries=AlertStore(store).stuck_deliveries(now),
                              running_jobs=load_running_jobs(store))
    healthy = all(c.ok for c in checks)
    body = json.dumps({"healthy": healthy, "checks": [
        {"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks]}).encode()
    return (200 if healthy else 503), body, "application/json"


def parse_address(text: str) -> tuple[str, int]:
    """``9464`` or ``HOST:PORT``; a bare port binds to loopback only."""
    host, _, port = text.rpartition(":")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def start_metrics_server(db_path: StoreTarget, address: str,
                         role: Callable[[], str] | None = None) -> ThreadingHTTPServer:
    """Serve /metrics and /healthz in a daemon thread; return the server (``.shutdown()``).

    ``role`` tells this instance's role (``leader``/``follower``) at each scrape.
    """
    registry = CollectorRegistry()
    registry.register(StoreCollector(db_path, role))
    server = ThreadingHTTPServer(parse_address(address), make_handler(db_path, registry))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", *server.server_address[:2])
    return server
