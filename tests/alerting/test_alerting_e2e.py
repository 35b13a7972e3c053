"""Alerting end to end: a price spike served by a local HTTP server, the daemon's own cycle
(poll, evaluate with the real rules engine, deliver), the Slack stand-in over HTTP and aiosmtpd;
the CLI on the resulting state; a SIGKILLed process.

The config directory holds one rule (``price_jump_3m`` for gallium, the shipped thresholds) and
one source (a FRED-format CSV on the local server), so exactly one alert can fire.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from monitor.alerting.deliver import LEASE
from monitor.cli.main import cli
from monitor.config.load import Config, load_config
from monitor.core.clock import FixedClock
from monitor.core.models import Signal
from monitor.ops import jobs
from monitor.ops.daemon import Daemon
from monitor.ops.jobs import Runtime, prepare, run_once
from monitor.sources.http import HttpFetcher
from monitor.store.database import DB_NAME, Store
from tests.slack_standin import SlackStandIn, SmtpSink

# The daemon runs on a FixedClock; the CLI (a separate "process") on the wall clock. T0 lies
# ahead of the wall clock so that a CLI silence started before T0 is active at T0, and one the
# CLI expires (its end moved to the wall-clock now) has ended by then.
T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
TOKEN = "xoxb-E2E-DISTINCTIVE-token-55aa01"
WEBHOOK_SECRET = "E2EDISTINCTIVEwebhook77"
PASSWORD = "E2E-DISTINCTIVE-password-3b9c"
SECRETS = (TOKEN, WEBHOOK_SECRET, PASSWORD)

HISTORY = "observation_date,GALLIUM\n2025-06-01,400\n2025-07-01,405\n2025-08-01,400\n" \
          "2025-09-01,400\n2025-10-01,410\n"
NORMAL = HISTORY + "2025-11-01,415\n"  # ln(415/400) = 0.037 over 3 months: quiet
SPIKE = HISTORY + "2025-11-01,600\n"  # ln(600/400) = 0.405 >= 0.262: high

ALERTING = """
version: 1
receivers:
  - name: analysts_slack
    kind: slack
    channel: "#critical-minerals"
    token: ${{CRITMON_E2E_SLACK_TOKEN}}
    api_url: {api_url}
    timeout: 5s
  - name: analysts_email
    kind: email
    to: [analyst@example.org, desk@example.org]
    from: critmon@example.org
    host: 127.0.0.1
    port: {smtp_port}
    tls: none
    timeout: 5s
  - name: jsonl
    kind: file
    path: alerts.jsonl
route:
  receiver: jsonl
  group_by: [mineral]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 24h
  routes:
    - {{receiver: analysts_slack, continue: true}}
    - {{receiver: analysts_email, continue: true}}
    - {{receiver: jsonl}}
"""

RULES = """
version: 1
rules:
  - name: price_jump_3m
    description: The price rose more than 30% (high) or 60% (critical) in three months.
    indicator: price_change_3m
    minerals: [gallium]
    detector: {kind: threshold, thresholds: [0.262, 0.470], direction: above}
    levels: [high, critical]
"""

SOURCES = """
version: 1
sources:
  - id: local_gallium
    kind: fred_csv
    url: {url}
    mineral: gallium
    unit: USD/kg
"""


@dataclass
class Setup:
    config_dir: Path
    state_dir: Path
    slack: SlackStandIn
    smtp: SmtpSink
    prices: HTTPServer
    clock: FixedClock
    _runtime: Runtime | None = None

    def serve(self, csv: str) -> None:
        self.prices.clear()
        self.prices.expect_request("/gallium.csv").respond_with_data(csv)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = prepare(load_config(self.config_dir), self.config_dir,
                                    self.state_dir, self.clock.now())
        return self._runtime

    def once(self) -> None:
        """What ``critmon once`` does: poll, evaluate, deliver (group_wait treated as over)."""
        with HttpFetcher() as fetcher:
            run_once(self.runtime(), fetcher, self.clock)

    def emails(self) -> list[Any]:
        return list(self.smtp.received)

    def cli(self, *args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--config", str(self.config_dir), "--state-dir",
                                          str(self.state_dir), *args], catch_exceptions=False)
        return result.exit_code, result.output


@contextmanager
def live_setup(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch,
               rules: str = RULES) -> Iterator[Setup]:
    """A config with the Slack stand-in, an SMTP sink and a local price feed; ``rules`` given."""
    monkeypatch.setenv("CRITMON_E2E_SLACK_TOKEN", TOKEN)
    with SlackStandIn(token=TOKEN) as slack, SmtpSink() as smtp:
        config_dir = tmp_path / "config"
        config_dir.mkdir()
        (config_dir / "alerting.yaml").write_text(
            ALERTING.format(api_url=slack.api_url, smtp_port=smtp.port), "utf-8")
        (config_dir / "rules.yaml").write_text(rules, "utf-8")
        (config_dir / "sources.yaml").write_text(
            SOURCES.format(url=httpserver.url_for("/gallium.csv")), "utf-8")
        yield Setup(config_dir, tmp_path / "state", slack, smtp, httpserver, FixedClock(T0))


@pytest.fixture
def setup(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Setup]:
    with live_setup(tmp_path, httpserver, monkeypatch) as ready:
        yield ready


def test_a_price_spike_alerts_once_repeats_never_early_and_resolves_once(setup: Setup) -> None:
    setup.serve(NORMAL)
    setup.once()
    assert setup.slack.requests == [] and setup.emails() == []

    setup.serve(SPIKE)
    setup.clock.advance(timedelta(hours=1))
    setup.once()
    (message,) = setup.slack.wait_for(1)
    assert message.body["channel"] == "#critical-minerals"
    assert "[HIGH] gallium price change 3m +50%" in message.body["text"]
    for shown in ("price change 3m: +50% (threshold +30%)", "Risk breakdown:",
                  "local_gallium (data to 2025-11-01)", "as of 2025-11-01"):
        assert shown in message.text
    (mail,) = setup.smtp.wait_for(1)
    assert mail.message["Subject"] == "[critmon][HIGH] gallium price change 3m +50%"
    assert sorted(mail.rcpt_tos) == ["analyst@example.org", "desk@example.org"]

    for _ in range(3):  # still spiking, polled and evaluated again within repeat_interval
        setup.clock.advance(timedelta(hours=6))
        setup.once()
    assert len(setup.slack.requests) == 1 and len(setup.emails()) == 1

    setup.serve(NORMAL)  # the November value is revised: the jump is gone
    setup.clock.advance(timedelta(hours=1))
    setup.once()
    setup.clock.advance(timedelta(hours=1))
    setup.once()
    assert len(setup.slack.wait_for(2)) == 2 and len(setup.smtp.wait_for(2)) == 2
    assert setup.slack.requests[1].body["text"].startswith("[RESOLVED] gallium")
    resolved = setup.emails()[1].message
    assert resolved["Subject"].startswith("[critmon][RESOLVED] gallium")
    assert resolved["In-Reply-To"] == mail.message["Message-ID"], "resolved threads to fired"
    lines = (setup.state_dir / "alerts.jsonl").read_text("utf-8").splitlines()
    assert len(lines) == 2

    code, history = setup.cli("history", "--since", "2031-03-01", "--mineral", "gallium",
                              "--format", "csv")
    assert code == 0
    events = [line.split(",")[1:5] for line in history.splitlines()[1:]]
    assert ["state", "fired", "", "inactive->firing"] in events
    assert ["delivery", "sent", "analysts_slack", "first"] in events
    assert ["delivery", "sent", "analysts_email", "resolved"] in events


def test_the_daemon_jobs_deliver_with_group_wait_and_the_cli_mutes(setup: Setup) -> None:
    setup.serve(SPIKE)
    runtime = setup.runtime()
    with HttpFetcher() as fetcher:
        jobs.poll_all(runtime, fetcher, setup.clock)
    worker = Daemon(runtime, clock=setup.clock)
    try:
        code, _ = setup.cli("silence", "add", "--match", "mineral=gallium", "--duration", "7d",
                            "--start", "2031-03-01", "--comment", "known: export ban",
                            "--author", "ana")
        assert code == 0
        worker._evaluate_job()
        worker._deliver_job()
        assert setup.slack.requests == [] and setup.emails() == []
        code, history = setup.cli("history", "--since", "2031-03-01")
        assert "muted by silence:1" in history

        code, silences = setup.cli("silence", "list")
        assert code == 0 and "mineral=gallium" in silences and "ana" in silences
        assert setup.cli("silence", "expire", "1")[0] == 0
        setup.clock.advance(timedelta(minutes=1))
        worker._deliver_job()
        assert len(setup.slack.wait_for(1)) == 1 and len(setup.smtp.wait_for(1)) == 1

        code, alerts = setup.cli("alerts", "--format", "json")
        assert code == 0 and '"mineral": "gallium"' in alerts and '"state": "firing"' in alerts
        code, out = setup.cli("ack", "1", "--comment", "on it", "--author", "ben")
        assert code == 0 and "acknowledged alert 1" in out
        setup.clock.advance(timedelta(hours=25))  # past repeat_interval: acked, so quiet
        worker._evaluate_job()
        worker._deliver_job()
        assert len(setup.slack.requests) == 1
        code, alerts = setup.cli("alerts")
        assert "ack 1" in alerts
    finally:
        worker.fetcher_close()


def test_a_slack_outage_never_blocks_email_and_429_is_honoured(setup: Setup) -> None:
    setup.serve(SPIKE)
    setup.slack.script("api", "500", "429:30")
    setup.once()
    assert len(setup.smtp.wait_for(1)) == 1 and setup.slack.delivered() == []
    runtime = setup.runtime()
    setup.clock.advance(timedelta(seconds=60))  # past the first backoff (10 s, jittered)
    jobs.deliver_once(runtime, setup.clock)
    assert [r.answered for r in setup.slack.requests] == ["500", "429:30"]
    setup.clock.advance(timedelta(seconds=29))
    jobs.deliver_once(runtime, setup.clock)
    assert len(setup.slack.requests) == 2, "Retry-After: 30 not yet over"
    setup.clock.advance(timedelta(seconds=5))
    jobs.deliver_once(runtime, setup.clock)
    assert [r.answered for r in setup.slack.requests] == ["500", "429:30", "ok"]
    assert len(setup.emails()) == 1


def test_invalid_auth_is_failed_once_and_secrets_stay_out_of_db_logs_and_errors(
        setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    setup.slack.always("api", "invalid_auth")
    setup.serve(SPIKE)
    setup.once()
    runtime = setup.runtime()
    for _ in range(10):
        setup.clock.advance(timedelta(minutes=7))
        jobs.deliver_once(runtime, setup.clock)
    assert len(setup.slack.requests) == 1
    code, status = setup.cli("notify", "status")
    assert code == 0 and "invalid_auth" in status
    code, history = setup.cli("history", "--since", "2031-03-01")
    assert "failed" in history and "invalid_auth" in history

    code, out = setup.cli("notify", "test", "analysts_slack")
    assert code == 1 and "FAILED" in out and "invalid_auth" in out
    for path in setup.state_dir.iterdir():
        if path.is_file():
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, f"{secret} in {path.name}"
    for secret in SECRETS:
        assert secret not in caplog.text and secret not in out


def test_notify_test_sends_a_clearly_marked_message(setup: Setup) -> None:
    code, out = setup.cli("notify", "test", "analysts_email")
    assert code == 0 and "test message to analysts_email: sent" in out
    (mail,) = setup.smtp.wait_for(1)
    assert mail.message["Subject"] == "[critmon][TEST] test message from critmon to " \
                                      "analysts_email"
    code, out = setup.cli("notify", "test", "nobody")
    assert code == 1 and "no receiver 'nobody'" in out


# --------------------------------------------------------------------------- crash safety

CRASHER = """
import os, signal, sys
from datetime import datetime
from pathlib import Path

from monitor.alerting import crash_points
from monitor.config.load import load_config
from monitor.core.models import Signal
from monitor.alerting.deliver import deliver_pending
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.receivers import build_notifiers
from monitor.store.database import Store

config_dir, state_dir, stage, level, now = sys.argv[1:6]
now = datetime.fromisoformat(now)


def die(at):
    if at == os.environ.get("CRASH_AT"):
        os.kill(os.getpid(), signal.SIGKILL)


crash_points.after_commit = die
config = load_config(config_dir)
Path(state_dir).mkdir(exist_ok=True)
with Store.open(Path(state_dir) / "critmon.db") as store:
    if stage == "evaluate":
        signal_ = Signal(rule="price_jump_3m", mineral="gallium", indicator="price_change_3m",
                         firing=True, level=level, value=0.45)
        enqueue_signals(store, config, [signal_], now)
    deliver_pending(store, config, build_notifiers(config, Path(state_dir)), now, flush=True)
"""


def test_sigkill_between_enqueue_and_send_then_restart_delivers_exactly_once(
        setup: Setup, tmp_path: Path) -> None:
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER, "utf-8")

    def run(stage: str, level: str, at: datetime, crash_at: str = "") -> int:
        env = {**os.environ, "CRASH_AT": crash_at, "CRITMON_E2E_SLACK_TOKEN": TOKEN}
        done = subprocess.run(
            [sys.executable, str(script), str(setup.config_dir), str(setup.state_dir), stage,
             level, at.isoformat()], env=env, capture_output=True, text=True, timeout=60,
            check=False)
        assert done.returncode in (0, -signal.SIGKILL), done.stderr
        return done.returncode

    assert run("evaluate", "high", T0, crash_at="enqueued") == -signal.SIGKILL
    assert setup.slack.requests == [] and setup.emails() == []
    assert run("deliver", "-", T0 + timedelta(seconds=5)) == 0
    assert len(setup.slack.wait_for(1)) == 1 and len(setup.smtp.wait_for(1)) == 1

    # Killed after the delivery was claimed, before the send: resent once, after the lease.
    later = T0 + timedelta(hours=1)
    assert run("evaluate", "critical", later, crash_at="claimed") == -signal.SIGKILL
    assert run("deliver", "-", later + LEASE / 2) == 0
    assert len(setup.slack.requests) == 1
    assert run("deliver", "-", later + LEASE + timedelta(seconds=1)) == 0
    assert run("deliver", "-", later + 2 * LEASE) == 0
    assert len(setup.slack.wait_for(2)) == 2 and len(setup.smtp.wait_for(2)) == 2
    assert setup.slack.requests[1].body["text"].startswith("[CRITICAL] gallium")
    with Store.open(setup.state_dir / DB_NAME) as store:
        statuses = [r["status"] for r in store.db.query(
            "SELECT status FROM deliveries WHERE kind = 'alert' ORDER BY id")]
    assert statuses == ["sent"] * 6  # 2 messages x (slack, email, jsonl)


# --------------------------------------------------------------------------- the CLI on a state


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """A state directory with gallium firing critical, tin resolved and cobalt pending."""
    from monitor.alerting.enqueue import enqueue_signals

    state_dir = tmp_path / "state"
    state_dir.mkdir()
    config = load_config(None)
    held = config.rules.model_copy(update={"rules": (
        *config.rules.rules,
        config.rules.rules[0].model_copy(update={"name": "held", "hold": timedelta(days=1)}))})
    config = Config(config.minerals, config.sources, held, config.alerting, config.origins,
                    config.texts)

    def sig(rule: str, mineral: str, level: str | None) -> Signal:
        return Signal(rule=rule, mineral=mineral, indicator="supply_risk",
                      firing=level is not None, level=level, value=80.0 if level else 20.0)

    with Store.open(state_dir / DB_NAME) as store:
        enqueue_signals(store, config, [sig("supply_risk_level", "gallium", "critical"),
                                        sig("supply_risk_level", "tin", "high")], T0)
        enqueue_signals(store, config, [sig("supply_risk_level", "gallium", "critical"),
                                        sig("supply_risk_level", "tin", None),
                                        sig("held", "cobalt", "high")], T0 + timedelta(hours=1))
    yield state_dir


def cli_on(state: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--state-dir", str(state), *args])
    return result.exit_code, result.output


def test_alerts_lists_by_state(state: Path) -> None:
    code, active = cli_on(state, "alerts")
    assert code == 0 and "gallium" in active and "cobalt" in active and "tin" not in active
    code, resolved = cli_on(state, "alerts", "--state", "resolved", "--format", "csv")
    rows = resolved.splitlines()
    assert code == 0 and len(rows) == 2 and "tin" in rows[1] and "resolved" in rows[1]
    assert cli_on(state, "alerts", "--state", "bogus")[0] == 2


def test_ack_takes_an_id_or_a_fingerprint_prefix_and_refuses_resolved_alerts(state: Path
                                                                            ) -> None:
    with Store.open(state / DB_NAME) as store:
        rows = {r["mineral"]: r for r in store.db.query(
            "SELECT id, fingerprint, mineral FROM alert_state")}
    code, out = cli_on(state, "ack", rows["gallium"]["fingerprint"][:6], "-c", "seen",
                       "--author", "ana")
    assert code == 0 and f"acknowledged alert {rows['gallium']['id']}" in out
    code, out = cli_on(state, "ack", str(rows["tin"]["id"]), "-c", "x", "--author", "ana")
    assert code == 1 and "is resolved" in out
    code, out = cli_on(state, "ack", "ffffffffff", "-c", "x", "--author", "ana")
    assert code == 1 and "no alert" in out
    assert cli_on(state, "ack", "1", "--author", "ana")[0] == 2, "--comment is required"
    # The ack is stamped with the wall clock, the alerts with the (later) fixed T0.
    code, history = cli_on(state, "history", "--since", "2026-01-01", "--mineral", "gallium")
    assert "acked" in history and "ack 1 by ana: seen" in history


def test_silences_are_added_listed_and_expired(state: Path) -> None:
    code, out = cli_on(state, "silence", "add", "--match", 'severity=~"high|critical"',
                       "--duration", "2h", "-c", "drill", "--author", "ana")
    assert code == 0 and "silence 1 added" in out and "2 active alerts match now" in out
    code, listing = cli_on(state, "silence", "list", "--format", "json")
    assert code == 0 and '"matching": 2' in listing and '"status": "active"' in listing
    assert cli_on(state, "silence", "expire", "1")[0] == 0
    code, out = cli_on(state, "silence", "expire", "1")
    assert code == 1 and "no active or pending silence" in out
    assert "drill" not in cli_on(state, "silence", "list")[1]
    assert "drill" in cli_on(state, "silence", "list", "--all")[1]


@pytest.mark.parametrize(("args", "problem"), [
    (["--match", "mineral"], "bad matcher"),
    (["--match", "mineral=gallium", "--duration", "soon"], "bad duration"),
    (["--match", "mineral=gallium", "-c", " "], "--comment must not be empty"),
])
def test_silence_add_rejects_bad_input(state: Path, args: list[str], problem: str) -> None:
    code, out = cli_on(state, "silence", "add", "-c", "x", "--author", "ana", *args)
    assert code == 2 and problem in out


def test_history_filters_and_formats(state: Path) -> None:
    code, out = cli_on(state, "history", "--since", "2031-01-01", "--format", "json")
    assert code == 0
    import json

    events = json.loads(out)
    assert [(e["event"], e["mineral"]) for e in events] == [
        ("fired", "gallium"), ("fired", "tin"), ("resolved", "tin"), ("pending", "cobalt")]
    code, out = cli_on(state, "history", "--since", "2031-01-01", "--level", "critical",
                       "--format", "csv")
    assert code == 0 and out.count("gallium") == 1 and "tin" not in out
    assert cli_on(state, "history", "--since", "2040-01-01", "--format", "csv")[1].strip() \
        .count("\n") == 0


# --------------------------------------------------------------------------- hostile receivers


def configure(setup: Setup, old: str, new: str) -> None:
    """Edit the alerting config before the runtime first loads it."""
    path = setup.config_dir / "alerting.yaml"
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def deliveries(setup: Setup) -> dict[str, dict[str, Any]]:
    """The newest alert delivery row per receiver."""
    with Store.open(setup.state_dir / DB_NAME) as store:
        rows = list(store.db.query("SELECT * FROM deliveries WHERE kind = 'alert' ORDER BY id"))
    return {row["receiver"]: row for row in rows}


@pytest.mark.parametrize("retry_after", ["1e300", "inf", "99999999999", "nan"])
def test_an_absurd_retry_after_holds_only_its_receiver_and_at_most_an_hour(
        setup: Setup, retry_after: str) -> None:
    setup.serve(SPIKE)
    setup.slack.script("api", f"429:{retry_after}")
    setup.once()
    assert len(setup.smtp.wait_for(1)) == 1 and setup.slack.delivered() == []
    rows = deliveries(setup)
    assert rows["analysts_email"]["status"] == rows["jsonl"]["status"] == "sent"
    assert rows["analysts_slack"]["status"] == "retry"
    retry_at = datetime.fromisoformat(rows["analysts_slack"]["next_attempt_at"])
    assert T0 < retry_at <= T0 + timedelta(hours=1.1)

    runtime = setup.runtime()
    setup.clock.advance(LEASE + timedelta(seconds=1))  # a lost record would resend here
    jobs.deliver_once(runtime, setup.clock)
    assert len(setup.emails()) == 1
    setup.clock.advance(timedelta(hours=1.1))
    jobs.deliver_once(runtime, setup.clock)
    assert len(setup.slack.wait_for(1)) == 1 and len(setup.emails()) == 1
    assert len((setup.state_dir / "alerts.jsonl").read_text("utf-8").splitlines()) == 1


RELAY_PATH = "/services/T0RELAY1234/B0RELAY5678/RelaySecretXyZ0123456789ab"


def test_a_relay_echoing_the_webhook_path_leaks_it_nowhere(
        setup: Setup, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    with SlackStandIn(webhook_path=RELAY_PATH) as relay:
        monkeypatch.setenv("CRITMON_E2E_SLACK_WEBHOOK", relay.webhook_url)
        configure(setup, "    channel: \"#critical-minerals\"\n"
                         "    token: ${CRITMON_E2E_SLACK_TOKEN}\n",
                  "    webhook_url: ${CRITMON_E2E_SLACK_WEBHOOK}\n")
        relay.script("webhook", "echo:500", "echo:503", "echo:404")
        relay.always("webhook", "echo:403")
        setup.serve(SPIKE)
        setup.once()
        runtime = setup.runtime()
        for _ in range(3):
            setup.clock.advance(timedelta(minutes=5))
            jobs.deliver_once(runtime, setup.clock)
        assert [r.answered for r in relay.requests] == ["echo:500", "echo:503", "echo:404"]
        assert all(r.path == RELAY_PATH for r in relay.requests)
        test_code, test_out = setup.cli("notify", "test", "analysts_slack")
    assert test_code == 1 and "answered 403" in test_out

    outputs = {"notify test": test_out, "log": caplog.text}
    for fmt in ("table", "json", "csv"):
        code, outputs[f"history {fmt}"] = setup.cli("history", "--since", "2031-03-01",
                                                    "--format", fmt)
        assert code == 0
        code, outputs[f"notify status {fmt}"] = setup.cli("notify", "status", "--format", fmt)
        assert code == 0
    assert "relay error 500" in outputs["history csv"] and "[redacted]" in outputs["history csv"]
    assert "answered 403" in outputs["notify status table"]  # the test message, last
    backup = tmp_path / "backup.db"
    assert setup.cli("db", "backup", str(backup))[0] == 0
    import sqlite3

    for name, path in (("database", setup.state_dir / DB_NAME), ("backup", backup)):
        connection = sqlite3.connect(path)
        outputs[name] = "\n".join(connection.iterdump())
        connection.close()
    for path in setup.state_dir.iterdir():  # the WAL, the JSONL file, anything else
        if path.is_file():
            outputs[path.name] = path.read_bytes().decode("utf-8", "replace")
    parts = [p for p in RELAY_PATH.split("/") if p and p != "services"]
    for where, text in outputs.items():
        for part in parts + [p[:10] for p in parts]:
            assert part not in text, f"{part!r} leaked into {where}"


def test_every_attempt_stays_in_the_history_after_the_message_goes_out(setup: Setup) -> None:
    setup.serve(SPIKE)
    setup.slack.script("api", "429:1", "500")
    setup.once()
    runtime = setup.runtime()
    for _ in range(2):
        setup.clock.advance(timedelta(minutes=1))
        jobs.deliver_once(runtime, setup.clock)
    assert [r.answered for r in setup.slack.requests] == ["429:1", "500", "ok"]

    code, out = setup.cli("history", "--since", "2031-03-01", "--format", "json")
    assert code == 0
    import json

    attempts = [(e["event"], e["detail"]) for e in json.loads(out)
                if e["type"] == "delivery" and e["receiver"] == "analysts_slack"]
    assert [event for event, _ in attempts] == ["retry", "retry", "sent"]
    assert attempts[0][1].startswith("attempt 1: slack chat.postMessage answered 429: "
                                     "ratelimited; next attempt at 2031-03-03T09:00:01")
    assert attempts[1][1].startswith("attempt 2: slack chat.postMessage answered 500")
    assert "next attempt at" in attempts[1][1]
    assert attempts[2][1] == "attempt 3"
    for fmt in ("table", "csv"):
        code, out = setup.cli("history", "--since", "2031-03-01", "--format", fmt)
        assert code == 0 and "answered 429: ratelimited" in out and "answered 500" in out


def test_implicit_tls_against_plain_smtp_fails_once_and_says_why(
        setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    configure(setup, "    tls: none\n", "    tls: implicit\n")
    setup.serve(SPIKE)
    setup.once()
    runtime = setup.runtime()
    for _ in range(6):
        setup.clock.advance(timedelta(minutes=30))
        jobs.deliver_once(runtime, setup.clock)
    row = deliveries(setup)["analysts_email"]
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert setup.emails() == [] and len(setup.slack.wait_for(1)) == 1
    assert caplog.text.count("failed for good") == 1
    code, status = setup.cli("notify", "status")
    assert code == 0 and "did not speak TLS" in status and "(try `starttls`)" in status
    code, history = setup.cli("history", "--since", "2031-03-01", "--format", "csv")
    assert code == 0 and history.count("did not speak TLS") == 1
