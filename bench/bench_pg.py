"""PostgreSQL against SQLite: delivery and evaluation throughput, and the lease takeover time.

A throw-away PostgreSQL cluster (tests/pg_server.py: initdb in a temporary directory, a free
port, ``fsync=off`` as in the tests, so the figures compare the code paths, not the disks) and
an SQLite file in a temporary directory (WAL, ``synchronous=NORMAL``, as in production).

- **delivery**: N new alerts enqueued in one evaluation (alert state, events, outbox, one
  transaction), then one deliver pass to the Slack stand-in (bench/bench_delivery.py's setup,
  bot receiver only); alerts per second for each step, PostgreSQL / SQLite ratio.
- **evaluation**: one full evaluation (``jobs.evaluate_cycle``: every mineral's indicators,
  score and detectors over the bundled data, written in one transaction) on each store, the
  median of ``--runs``; PostgreSQL / SQLite ratio.
- **takeover**: two :class:`monitor.ops.leader.Leadership` keepers ticking every
  ``LEASE_POLL_S`` as the daemon does; the leader stops renewing (as if SIGKILLed) and the time
  until the other holds the lease is measured, ``--takeovers`` times. The end-to-end figure
  with two real daemons (kill -> the other one leads) is printed by
  ``pytest -s tests/ops/test_failover.py``.

Usage: .venv/bin/python bench/bench_pg.py [--alerts 300] [--runs 3] [--takeovers 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_delivery import T0, signal  # the same alerts as the SQLite delivery bench
from pydantic import SecretStr

from monitor.alerting.deliver import deliver_pending
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.receivers import build_notifiers
from monitor.config.alerting import AlertingFile
from monitor.config.load import Config, load_config
from monitor.core.clock import FixedClock
from monitor.ops import jobs
from monitor.ops.leader import Leadership
from monitor.store.database import Store
from monitor.store.lease import LEASE_POLL_S, LEASE_TTL_S
from tests.pg_server import PostgresCluster
from tests.slack_standin import SlackStandIn

ALERTING = """
version: 1
receivers:
  - {{name: bot, kind: slack, channel: "#bench", token: "${{BENCH_TOKEN}}", api_url: "{api}"}}
route: {{receiver: bot, group_by: [mineral], group_wait: 0s, group_interval: 0s}}
"""


def slack_config(base: Config, slack: SlackStandIn) -> Config:
    alerting = AlertingFile.model_validate(yaml.safe_load(ALERTING.format(api=slack.api_url)))
    return replace(base, alerting=alerting, secrets={"bot.token": SecretStr(slack.token)})


def delivery(base: Config, target: str, alerts: int) -> tuple[float, float]:
    """(enqueue alerts/s, deliver alerts/s) on one store."""
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn() as slack:
        config = slack_config(base, slack)
        notifiers = build_notifiers(config, Path(tmp))
        with Store.open(target) as store:
            started = time.perf_counter()
            enqueue_signals(store, config, [signal(f"m{i:04d}") for i in range(alerts)], T0)
            enqueued = time.perf_counter()
            deliver_pending(store, config, notifiers, T0 + timedelta(seconds=1))
            done = time.perf_counter()
        assert len(slack.delivered("api")) == alerts, len(slack.delivered("api"))
    return alerts / (enqueued - started), alerts / (done - enqueued)


def evaluation(config: Config, target: str, state_dir: Path, runs: int) -> float:
    """Median seconds of one full evaluation (the first, which also seeds, not counted)."""
    runtime = jobs.prepare(config, None, state_dir, T0,
                           store_url=target if target.startswith("postgresql") else None)
    jobs.evaluate_cycle(runtime, FixedClock(T0))
    samples = []
    for run in range(runs):
        started = time.perf_counter()
        jobs.evaluate_cycle(runtime, FixedClock(T0 + timedelta(hours=run + 1)))
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def takeover(url: str, trials: int) -> list[float]:
    """Seconds from the leader's last renewal to the follower holding the lease."""
    times = []
    for trial in range(trials):
        leader = Leadership(url, holder=f"bench-leader-{trial}")
        follower = Leadership(url, holder=f"bench-follower-{trial}")
        while not leader.tick() and not leader.is_leader:
            time.sleep(LEASE_POLL_S)  # the previous trial's lease must expire first
        stop = threading.Event()
        took: list[float] = []

        def follow(keeper: Leadership = follower, stop: threading.Event = stop,
                   took: list[float] = took) -> None:
            while not stop.is_set():
                if keeper.tick() and keeper.lease.is_leader:
                    took.append(time.perf_counter())
                    return
                stop.wait(LEASE_POLL_S)

        thread = threading.Thread(target=follow)
        thread.start()
        time.sleep(LEASE_POLL_S * 1.5)
        leader.tick()  # the last renewal; then it "dies"
        died = time.perf_counter()
        leader.close()
        thread.join(4 * LEASE_TTL_S)
        stop.set()
        assert took, "the follower never took the lease"
        times.append(took[0] - died)
        follower.release()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--takeovers", type=int, default=5)
    parser.add_argument("--only", choices=["delivery", "evaluation", "takeover"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    base = load_config()
    os.environ["BENCH_TOKEN"] = "xoxb-bench"
    with PostgresCluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(cluster.env())
        print(f"PostgreSQL {cluster.bindir.parent.name} (fsync off) vs SQLite (WAL)")
        if args.only in (None, "delivery"):
            bench_delivery(base, cluster, Path(tmp), args.alerts)
        if args.only in (None, "evaluation"):
            bench_evaluation(base, cluster, Path(tmp), args.runs)
        if args.only in (None, "takeover"):
            bench_takeover(cluster, args.takeovers)


def bench_delivery(base: Config, cluster: PostgresCluster, tmp: Path, alerts: int) -> None:
    sqlite_rates = delivery(base, str(tmp / "delivery.db"), alerts)
    pg_rates = delivery(base, cluster.create_database("delivery"), alerts)
    print(f"delivery, {alerts} alerts to the Slack stand-in:")
    for label, index in (("enqueue", 0), ("deliver pass", 1)):
        print(f"  {label:13s} SQLite {sqlite_rates[index]:8,.0f} alerts/s   PostgreSQL "
              f"{pg_rates[index]:8,.0f} alerts/s   ratio PG/SQLite "
              f"{pg_rates[index] / sqlite_rates[index]:.2f}")


def bench_evaluation(base: Config, cluster: PostgresCluster, tmp: Path, runs: int) -> None:
    sqlite_eval = evaluation(base, str(tmp / "state" / "critmon.db"), tmp / "state", runs)
    pg_eval = evaluation(base, cluster.create_database("evaluation"), tmp / "pgstate", runs)
    print(f"evaluation (every mineral, bundled data), median of {runs}:")
    print(f"  SQLite {sqlite_eval:.2f} s   PostgreSQL {pg_eval:.2f} s   "
          f"ratio PG/SQLite {pg_eval / sqlite_eval:.2f}")


def bench_takeover(cluster: PostgresCluster, trials: int) -> None:
    url = cluster.create_database("lease")
    Store.open(url).close()
    times = takeover(url, trials)
    print(f"lease takeover (TTL {LEASE_TTL_S:g} s, polled every {LEASE_POLL_S:g} s), "
          f"{trials} trials: min {min(times):.1f} s, median "
          f"{statistics.median(times):.1f} s, max {max(times):.1f} s")


if __name__ == "__main__":
    main()
