"""Delivery throughput and latency against local stand-ins (Slack Web API, Slack webhook, SMTP).

Two figures, both through the real pipeline (``enqueue_signals`` -> SQLite outbox ->
``deliver_pending`` -> slack-sdk / smtplib -> local server over TCP):

- **throughput**: N new alerts, each in its own group (``group_by: [mineral]``), enqueued in one
  evaluation and delivered in one pass to three receivers at once (bot token, webhook, email);
  alerts per second per receiver, and messages per second overall.
- **latency**: one new alert at a time, ``group_wait: 0``: time from the start of
  ``enqueue_signals`` (the detector has fired) to the message's arrival at the stand-in,
  measured in this process with ``time.perf_counter``; median and 95th percentile.

The clock handed to the pipeline is fixed (time is an argument), so only real work is timed.

- **alertmanager**: a real Alertmanager (Debian's ``prometheus-alertmanager``, clustering off, on
  loopback): N new alerts posted in one sync pass (one ``POST /api/v2/alerts`` holding all of
  them) until Alertmanager lists all N (``GET /api/v2/alerts``); a re-post of the N firing
  alerts (the once-a-minute resend); and one alert per pass (each its own post). Real time
  here: Alertmanager judges ``endsAt`` by its own clock.

Usage: .venv/bin/python bench/bench_delivery.py [--alerts 300] [--latency-runs 40]
       [--only standins|alertmanager]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from monitor.alerting.deliver import deliver_pending
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.receivers import build_notifiers
from monitor.config.alerting import AlertingFile
from monitor.config.load import Config, load_config
from monitor.core.models import Signal
from monitor.store.database import Store
from tests.alertmanager_server import Alertmanager, WebhookSink, wait_for
from tests.slack_standin import SlackStandIn, SmtpSink

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ALERTING = """
version: 1
receivers:
  - {{name: bot, kind: slack, channel: "#bench", token: "${{BENCH_TOKEN}}", api_url: "{api}"}}
  - {{name: hook, kind: slack, webhook_url: "${{BENCH_HOOK}}"}}
  - {{name: mail, kind: email, to: [a@example.org], from: critmon@example.org,
     host: 127.0.0.1, port: {port}, tls: none}}
route:
  receiver: bot
  group_by: [mineral]
  group_wait: 0s
  group_interval: 0s
  routes:
    - {{receiver: bot, continue: true}}
    - {{receiver: hook, continue: true}}
    - {{receiver: mail}}
"""


def bench_config(base: Config, slack: SlackStandIn, smtp: SmtpSink) -> Config:
    alerting = AlertingFile.model_validate(yaml.safe_load(
        ALERTING.format(api=slack.api_url, port=smtp.port)))
    secrets = {"bot.token": SecretStr(slack.token), "hook.webhook_url": SecretStr(
        slack.webhook_url)}
    return replace(base, alerting=alerting, secrets=secrets)


def signal(mineral: str) -> Signal:
    return Signal(rule="supply_risk_level", mineral=mineral, indicator="supply_risk",
                  firing=True, level="critical", value=81.0, threshold=75.0,
                  annotations=(("summary", f"{mineral}: supply risk 81 <!channel>"),))


def throughput(base: Config, alerts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn() as slack, SmtpSink() as smtp:
        config = bench_config(base, slack, smtp)
        notifiers = build_notifiers(config, Path(tmp))
        with Store.open(Path(tmp) / "critmon.db") as store:
            started = time.perf_counter()
            enqueue_signals(store, config, [signal(f"m{i:04d}") for i in range(alerts)], T0)
            enqueued = time.perf_counter()
            report = deliver_pending(store, config, notifiers, T0 + timedelta(seconds=1))
            done = time.perf_counter()
        arrived = len(slack.delivered("api")), len(slack.delivered("webhook")), len(
            smtp.received)
    send_s = done - enqueued
    print(f"throughput: {alerts} new alerts, 3 receivers, one group per alert")
    print(f"  enqueue (state + events + {3 * alerts} outbox rows, one transaction): "
          f"{enqueued - started:.3f} s = {alerts / (enqueued - started):,.0f} alerts/s")
    print(f"  deliver pass: {send_s:.2f} s, {report}")
    print(f"  arrived: bot {arrived[0]}, webhook {arrived[1]}, email {arrived[2]}")
    print(f"  per receiver (in parallel): {alerts / send_s:,.0f} alerts/s; "
          f"all messages: {sum(arrived) / send_s:,.0f} msg/s")


def latency(base: Config, runs: int) -> None:
    samples: dict[str, list[float]] = {"bot": [], "hook": [], "mail": []}
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn() as slack, SmtpSink() as smtp:
        config = bench_config(base, slack, smtp)
        notifiers = build_notifiers(config, Path(tmp))
        with Store.open(Path(tmp) / "critmon.db") as store:
            for run in range(runs):
                now = T0 + timedelta(minutes=run)
                started = time.perf_counter()
                enqueue_signals(store, config, [signal(f"lat{run:04d}")], now)
                deliver_pending(store, config, notifiers, now)
                api = slack.wait_for(2 * (run + 1))
                mail = smtp.wait_for(run + 1)
                samples["bot"].append([r for r in api if r.kind == "api"][-1].at - started)
                samples["hook"].append([r for r in api if r.kind == "webhook"][-1].at - started)
                samples["mail"].append(mail[-1].at - started)
    print(f"latency: detector fired -> message at the stand-in, group_wait 0, {runs} runs")
    for name, label in (("bot", "slack chat.postMessage"), ("hook", "slack webhook"),
                        ("mail", "email (SMTP)")):
        values = sorted(samples[name])
        p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
        print(f"  {label:<24} median {statistics.median(values) * 1000:6.1f} ms   "
              f"p95 {p95 * 1000:6.1f} ms")


AM_ALERTING = """
version: 1
receivers:
  - {{name: am, kind: alertmanager, urls: ["{url}"], resend_interval: 1s, valid_for: 1h}}
route:
  receiver: am
"""


def alertmanager(base: Config, alerts: int, singles: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, WebhookSink() as sink, \
            Alertmanager(Path(tmp) / "am", sink.url) as server:
        config = replace(base, alerting=AlertingFile.model_validate(yaml.safe_load(
            AM_ALERTING.format(url=server.url))))
        notifiers = build_notifiers(config, Path(tmp))
        with Store.open(Path(tmp) / "critmon.db") as store:
            enqueue_signals(store, config, [signal(f"m{i:04d}") for i in range(alerts)],
                            datetime.now(UTC))
            started = time.perf_counter()
            report = deliver_pending(store, config, notifiers, datetime.now(UTC))
            posted = time.perf_counter()
            wait_for(lambda: len(server.alerts()) >= alerts, timeout=120,
                     what=f"{alerts} alerts in Alertmanager")
            listed = time.perf_counter()
            time.sleep(1.1)  # resend_interval: the next pass re-posts all of them
            again = time.perf_counter()
            deliver_pending(store, config, notifiers, datetime.now(UTC))
            reposted = time.perf_counter()
            single_s = []
            for run in range(singles):
                enqueue_signals(store, config, [signal(f"m{i:04d}") for i in range(alerts)]
                                + [signal(f"single{run:04d}")], datetime.now(UTC))
                begin = time.perf_counter()
                deliver_pending(store, config, notifiers, datetime.now(UTC))
                single_s.append(time.perf_counter() - begin)
        print(f"alertmanager (real, {server.url}): {alerts} new alerts, one sync pass ({report})")
        print(f"  pass (render + one POST + record): {posted - started:.3f} s = "
              f"{alerts / (posted - started):,.0f} alerts/s; listed by Alertmanager after "
              f"{listed - started:.3f} s")
        print(f"  re-post of {alerts} firing alerts: {reposted - again:.3f} s = "
              f"{alerts / (reposted - again):,.0f} alerts/s")
        print(f"  one new alert per pass ({alerts} others firing, all re-posted with it): "
              f"median {statistics.median(single_s) * 1000:.1f} ms per pass")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--latency-runs", type=int, default=40)
    parser.add_argument("--only", choices=("standins", "alertmanager"), default=None)
    args = parser.parse_args()
    logging.getLogger("monitor").setLevel(logging.ERROR)  # no "alert fired" line per alert
    base = load_config(None)
    if args.only != "alertmanager":
        throughput(base, args.alerts)
        latency(base, args.latency_runs)
    if args.only != "standins":
        alertmanager(base, args.alerts, args.latency_runs)


if __name__ == "__main__":
    main()
