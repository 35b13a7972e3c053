"""The Alertmanager receiver as a state sync: with a fixed clock and a recording notifier (what
is posted when, and what is remembered), then against a real Alertmanager on loopback."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from monitor.alerting.alertmanager_sync import META_PREFIX, SyncState, sync_state
from monitor.alerting.deliver import DeliveryReport, deliver_pending
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.notifiers.alertmanager import AlertmanagerNotifier
from monitor.alerting.notifiers.base import SendResult
from monitor.alerting.receivers import build_notifiers
from monitor.alerting.render import Notification
from monitor.alerting.state import State
from monitor.alerting.store import AlertStore
from monitor.cli.main import cli
from monitor.config.alerting import AlertingFile
from monitor.config.load import Config, load_config
from monitor.core.errors import PermanentDeliveryError, TransientDeliveryError
from monitor.core.models import Signal, SignalState
from monitor.ops.metrics import StoreCollector
from monitor.store.database import Store
from tests.alertmanager_server import Alertmanager, WebhookSink, free_port, wait_for

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SEC, MIN = timedelta(seconds=1), timedelta(minutes=1)


def alerting_yaml(urls: list[str], *, resend: str = "1m", valid_for: str | None = None,
                  extra: str = "") -> str:
    valid = f", valid_for: {valid_for}" if valid_for else ""
    return f"""
version: 1
receivers:
  - {{name: team_am, kind: alertmanager, urls: {urls}, resend_interval: {resend}{valid},
     external_url: "http://127.0.0.1:8765", labels: {{source: critmon}}, timeout: 5s}}
  - {{name: console, kind: console}}
route:
  receiver: console
  group_wait: 0s
  routes:
    - {{receiver: team_am, matchers: ['alertname="supply_risk_level"'], continue: true}}
    - {{receiver: console}}
{extra}"""


@pytest.fixture(scope="module")
def base_config() -> Config:
    return load_config(None)


def configured(base: Config, text: str) -> Config:
    return replace(base, alerting=AlertingFile.model_validate(yaml.safe_load(text)))


def risk(level: str | None = "high", value: float = 62.0, mineral: str = "gallium") -> Signal:
    return Signal(rule="supply_risk_level", mineral=mineral, indicator="supply_risk",
                  firing=level is not None, level=level, value=value,
                  threshold=75.0 if level == "critical" else 50.0, state=SignalState.OK,
                  annotations=(("summary", f"{mineral} supply risk\x1b[31m high"),
                               ("reason", "score above threshold")))


class Recorder:
    """Keeps every notification; ``fail`` queues exceptions to raise first."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[Notification] = []
        self.fail: list[Exception] = []

    def send(self, notification: Notification) -> SendResult:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append(notification)
        return SendResult(ref="ok")

    def posted(self, index: int = -1) -> list[tuple[str, str, str | None]]:
        return sorted((a.mineral, a.status, a.level) for a in self.sent[index].alerts)


class World:
    def __init__(self, config: Config, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store.memory()
        self.now = T0
        self.am = Recorder("team_am")
        self.notifiers: dict[str, Any] = {"team_am": self.am, "console": Recorder("console")}

    def evaluate(self, *signals: Signal) -> list[str]:
        return [str(t.kind) for t in enqueue_signals(self.store, self.config, signals,
                                                     self.now)]

    def deliver(self) -> DeliveryReport:
        return deliver_pending(self.store, self.config, self.notifiers, self.now,
                               rng=random.Random(0))

    def at(self, delta: timedelta) -> World:
        self.now = T0 + delta
        return self


def am_error(report: DeliveryReport) -> str:
    [(_, _, _, error)] = [o for o in report.outcomes if o[0] == "team_am"]
    return error


@pytest.fixture
def world(base_config: Config) -> World:
    return World(configured(base_config, alerting_yaml(["http://127.0.0.1:9"])))


# --------------------------------------------------------------------------- fixed clock


def test_a_firing_alert_is_posted_at_once_then_every_resend_interval(world: World) -> None:
    world.evaluate(risk())
    assert world.deliver().sent >= 1
    assert world.am.posted() == [("gallium", "firing", "high")]
    assert len(world.notifiers["console"].sent) == 1, "the console still gets its message"
    for seconds in (10, 30, 59):
        world.at(seconds * SEC).deliver()
    assert len(world.am.sent) == 1, "nothing new before resend_interval"
    world.at(MIN).deliver()
    world.at(MIN + 10 * SEC).deliver()
    world.at(2 * MIN).deliver()
    assert len(world.am.sent) == 3
    outbox = AlertStore(world.store).pending_outbox()
    assert not [r for r in outbox if r.receiver == "team_am"], "the first post closed its rows"


def test_a_resolve_is_posted_at_once_and_kept_for_the_retention(world: World) -> None:
    world.evaluate(risk())
    world.deliver()
    world.at(5 * MIN).evaluate(risk(None))
    world.deliver()
    assert world.am.posted() == [("gallium", "resolved", "high")]
    resolved = world.am.sent[-1].alerts[0]
    assert resolved.ends_at == T0 + 5 * MIN
    world.at(6 * MIN).deliver()
    assert len(world.am.sent) == 3, "resolved alerts are re-posted for resolved_retention"
    world.at(21 * MIN).deliver()
    world.at(30 * MIN).deliver()
    assert len(world.am.sent) == 3, "not after the 15 minutes of resolved_retention"


def test_a_failed_post_keeps_the_resolve_until_one_is_accepted(world: World) -> None:
    world.evaluate(risk())
    world.deliver()
    world.at(5 * MIN).evaluate(risk(None))
    world.am.fail = [TransientDeliveryError("HTTP 503", receiver="team_am")] * 3
    report = world.deliver()
    assert report.retrying == 1 and "503" in am_error(report)
    state = sync_state(world.store, "team_am")
    assert state.failures == 1 and state.next_attempt_at == T0 + 5 * MIN + 10 * SEC
    world.at(5 * MIN + 5 * SEC).deliver()
    assert len(world.am.sent) == 1, "backing off"
    world.at(5 * MIN + 10 * SEC).deliver()
    world.at(5 * MIN + 30 * SEC).deliver()
    world.at(6 * MIN + 30 * SEC).deliver()  # the third failure waited at most resend_interval
    assert world.am.posted() == [("gallium", "resolved", "high")]
    assert sync_state(world.store, "team_am").failures == 0
    log = AlertStore(world.store).notify_log()[("team_am", world.am.sent[0].alerts[0]
                                                .fingerprint)]
    assert log.status == "resolved"


def test_a_refused_post_is_permanent_and_tried_again_only_after_resend_interval(
        world: World) -> None:
    world.evaluate(risk())
    refused = PermanentDeliveryError("HTTP 400: bad label", receiver="team_am")
    world.am.fail = [refused, refused]
    report = world.deliver()
    assert report.failed == 1 and "HTTP 400: bad label" in am_error(report)
    world.at(30 * SEC).deliver()
    assert world.am.sent == []
    assert world.at(MIN).deliver().failed == 1
    [failed] = AlertStore(world.store).failed_deliveries()
    assert failed["receiver"] == "team_am" and "HTTP 400: bad label" in failed["last_error"]
    world.at(2 * MIN).deliver()
    assert world.am.posted() == [("gallium", "firing", "high")]
    assert len(AlertStore(world.store).failed_deliveries()) == 1, "one row per change set"


def test_a_level_change_retracts_the_old_labels(world: World) -> None:
    world.evaluate(risk())
    world.deliver()
    world.at(2 * MIN).evaluate(risk("critical", 81.0))
    world.deliver()
    assert world.am.posted() == [("gallium", "firing", "critical"),
                                 ("gallium", "resolved", "high")]
    history = [r for r in AlertStore(world.store).history() if r["receiver"] == "team_am"]
    assert [r["reason"] for r in history if r["event"] == "sent"] == ["first", "escalated"]
    world.at(3 * MIN).deliver()
    assert world.am.posted() == [("gallium", "firing", "critical")], "retracted once"


def test_a_restart_resumes_from_the_store(base_config: Config, tmp_path: Path) -> None:
    config = configured(base_config, alerting_yaml(["http://127.0.0.1:9"]))
    first = World(config, Store.open(tmp_path / "critmon.db"))
    first.evaluate(risk())
    first.deliver()
    first.at(2 * MIN).evaluate(risk(None))
    first.store.close()  # stopped before the resolve went out
    second = World(config, Store.open(tmp_path / "critmon.db")).at(3 * MIN)
    second.deliver()
    assert second.am.posted() == [("gallium", "resolved", "high")]


def test_an_unreadable_sync_state_posts_at_once(world: World) -> None:
    world.evaluate(risk())
    world.deliver()
    world.store.set_meta(META_PREFIX + "team_am", "{not json")
    assert sync_state(world.store, "team_am") == SyncState()
    world.at(5 * SEC).deliver()
    assert len(world.am.sent) == 2


# --------------------------------------------------------------------------- a real Alertmanager


@pytest.fixture(scope="module")
def sink() -> Iterator[WebhookSink]:
    with WebhookSink() as running:
        yield running


@pytest.fixture(scope="module")
def alertmanager(sink: WebhookSink, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[Alertmanager]:
    with Alertmanager(tmp_path_factory.mktemp("alertmanager"), sink.url) as running:
        yield running


class Live:
    """Real time and real notifiers (built from the config, as the daemon does)."""

    def __init__(self, config: Config, store: Store, state_dir: Path) -> None:
        self.config, self.store = config, store
        self.notifiers = build_notifiers(config, state_dir)

    def evaluate(self, *signals: Signal) -> list[str]:
        return [str(t.kind) for t in enqueue_signals(self.store, self.config, signals,
                                                     datetime.now(UTC))]

    def deliver(self) -> DeliveryReport:
        return deliver_pending(self.store, self.config, self.notifiers, datetime.now(UTC))


def live(base: Config, urls: list[str], tmp_path: Path, **options: str) -> Live:
    store = Store.open(tmp_path / "critmon.db")
    return Live(configured(base, alerting_yaml(urls, **options)), store, tmp_path)


def test_a_firing_alert_shows_in_alertmanager_with_labels_annotations_and_link(
        base_config: Config, alertmanager: Alertmanager, sink: WebhookSink,
        tmp_path: Path) -> None:
    world = live(base_config, [alertmanager.url], tmp_path)
    world.evaluate(risk(mineral="germanium"))
    report = world.deliver()
    assert report.failed == report.retrying == 0, report.outcomes
    [alert] = wait_for(lambda: alertmanager.alerts(mineral="germanium"),
                       what="the alert in Alertmanager")
    assert alert["labels"] == {"alertname": "supply_risk_level", "mineral": "germanium",
                               "indicator": "supply_risk", "severity": "high",
                               "level": "high", "source": "critmon"}
    assert alert["annotations"]["summary"] == "germanium supply risk[31m high"
    assert "value 62, threshold 50" in alert["annotations"]["description"]
    assert alert["annotations"]["reason"] == "score above threshold"
    assert alert["generatorURL"] == "http://127.0.0.1:8765/minerals/germanium"
    assert alert["status"]["state"] == "active"
    wait_for(lambda: sink.statuses(mineral="germanium") == ["firing"],
             what="Alertmanager's webhook to receive the firing alert")


def test_it_stays_active_across_re_sends_then_resolves_with_ends_at(
        base_config: Config, alertmanager: Alertmanager, sink: WebhookSink,
        tmp_path: Path) -> None:
    world = live(base_config, [alertmanager.url], tmp_path, resend="1s", valid_for="15s")
    world.evaluate(risk(mineral="indium"))
    world.deliver()
    [first] = wait_for(lambda: alertmanager.alerts(mineral="indium"), what="the alert")
    first_end = datetime.fromisoformat(first["endsAt"])
    # Keep the deliver pass running (as the daemon does) past the first endsAt.
    while datetime.now(UTC) < first_end + 3 * SEC:
        world.deliver()
        time.sleep(0.5)
    [alert] = alertmanager.alerts(mineral="indium")
    assert alert["status"]["state"] == "active"
    assert datetime.fromisoformat(alert["endsAt"]) > first_end
    assert sink.statuses(mineral="indium") == ["firing"], "never resolved in between"
    world.evaluate(risk(None, mineral="indium"))
    resolved_at = AlertStore(world.store).states(["resolved"])[0].resolved_at
    world.deliver()
    wait_for(lambda: not alertmanager.alerts(mineral="indium"),
             what="Alertmanager to drop the resolved alert from the active ones")
    wait_for(lambda: sink.statuses(mineral="indium") == ["firing", "resolved"],
             what="the webhook to receive the resolve")
    [(_, notified)] = [(s, a) for s, a in sink.notifications()
                       if a["labels"]["mineral"] == "indium" and a["status"] == "resolved"]
    assert resolved_at is not None
    ends = datetime.fromisoformat(notified["endsAt"])
    assert abs(ends - resolved_at) < timedelta(milliseconds=2)


def test_two_members_one_down_still_delivers(base_config: Config, alertmanager: Alertmanager,
                                             tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    world = live(base_config, [down, alertmanager.url], tmp_path)
    world.evaluate(risk(mineral="tungsten"))
    report = world.deliver()
    assert report.sent >= 1 and report.failed == report.retrying == 0
    [(_, _, _, detail)] = [o for o in report.outcomes if o[0] == "team_am"]
    assert down in detail and "cannot connect" in detail
    wait_for(lambda: alertmanager.alerts(mineral="tungsten"), what="the alert via the member up")


def test_a_restart_and_a_failed_post_between_firing_and_resolve_still_resolve(
        base_config: Config, alertmanager: Alertmanager, sink: WebhookSink,
        tmp_path: Path) -> None:
    first = live(base_config, [alertmanager.url], tmp_path, resend="1s", valid_for="1h")
    first.evaluate(risk(mineral="cobalt"))
    first.deliver()
    wait_for(lambda: sink.statuses(mineral="cobalt") == ["firing"], what="the firing alert")
    first.evaluate(risk(None, mineral="cobalt"))
    first.store.close()  # critmon stops before it delivers the resolve
    down = f"http://127.0.0.1:{free_port()}"
    cut_off = live(base_config, [down], tmp_path, resend="1s")
    assert cut_off.deliver().retrying == 1, "Alertmanager unreachable: the resolve waits"
    cut_off.store.close()
    again = live(base_config, [alertmanager.url], tmp_path, resend="1s")
    wait_for(lambda: again.deliver().sent, what="the resolve to be accepted after the backoff")
    wait_for(lambda: not alertmanager.alerts(mineral="cobalt"), what="the alert resolved")
    wait_for(lambda: sink.statuses(mineral="cobalt") == ["firing", "resolved"],
             what="the webhook to receive the resolve")


def test_a_payload_alertmanager_refuses_is_a_permanent_failure_with_its_words(
        base_config: Config, alertmanager: Alertmanager, tmp_path: Path) -> None:
    config = configured(base_config, alerting_yaml([alertmanager.url]))
    [spec] = [r.config for r in config.alerting.receivers if r.name == "team_am"]
    notifier = AlertmanagerNotifier("team_am", spec)  # type: ignore[arg-type]
    with pytest.raises(PermanentDeliveryError) as info:
        notifier.post([{"labels": {}, "startsAt": "2026-03-02T07:00:00Z"}])
    message = str(info.value)
    assert info.value.status == 400
    assert f"{alertmanager.url}: HTTP 400:" in message
    assert "label" in message.lower(), message


def test_failed_posts_show_in_notify_status_and_metrics(base_config: Config,
                                                        tmp_path: Path) -> None:
    config = configured(base_config, alerting_yaml(["http://127.0.0.1:9"]))
    world = World(config, Store.open(tmp_path / "critmon.db"))
    world.evaluate(risk())
    world.deliver()
    world.at(2 * MIN).evaluate(risk(None))
    world.am.fail = [TransientDeliveryError("no Alertmanager member took the post: HTTP 503",
                                            receiver="team_am")]
    world.deliver()
    world.store.close()
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "notify", "status",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    [row] = [r for r in json.loads(result.output) if r["receiver"] == "team_am"]
    assert row["last_sent_at"] == T0.isoformat()
    assert row["waiting"] == 1
    assert row["last_error"].startswith("1 failed posts, next at 2026-03-02T07:02:10+00:00: ")
    assert "HTTP 503" in row["last_error"]
    metrics = {m.name: m for m in StoreCollector(tmp_path / "critmon.db").collect()}
    [failed] = metrics["critmon_alertmanager_failed_posts"].samples
    assert failed.labels == {"receiver": "team_am"} and failed.value == 1
    [accepted] = metrics["critmon_alertmanager_last_accepted_timestamp_seconds"].samples
    assert accepted.value == T0.timestamp()


def test_a_slow_alertmanager_holds_up_no_other_receiver(world: World) -> None:
    """The post runs in its own thread while the console's message goes out: the Alertmanager
    notifier here waits for the console's send, which would never come if it ran first."""
    console_sent = threading.Event()
    waited: list[bool] = []

    class Slow(Recorder):
        def send(self, notification: Notification) -> SendResult:
            waited.append(console_sent.wait(timeout=30))
            return super().send(notification)

    class Console(Recorder):
        def send(self, notification: Notification) -> SendResult:
            console_sent.set()
            return super().send(notification)

    world.notifiers = {"team_am": Slow("team_am"), "console": Console("console")}
    world.evaluate(risk())
    report = world.deliver()
    assert waited == [True]
    assert report.sent == 2 and report.failed == report.retrying == 0


def test_an_alert_pending_again_before_the_resolve_went_out_is_resolved(world: World) -> None:
    """Resolved and re-started (pending: a new episode, not yet firing) while Alertmanager was
    unreachable: the copy Alertmanager holds is ended, with its own start."""
    world.evaluate(risk())
    world.deliver()
    alerts = AlertStore(world.store)
    [alert] = alerts.states(["firing"])
    pending = replace(alert, state=State.PENDING, fired_at=None, resolved_at=None,
                      active_since=T0 + 5 * MIN)
    with alerts.transaction():
        alerts.save_state(pending, T0 + 5 * MIN)
    world.at(6 * MIN).deliver()
    [posted] = world.am.sent[-1].alerts
    assert (posted.status, posted.starts_at, posted.ends_at) == ("resolved", T0, T0 + 6 * MIN)
    world.at(8 * MIN).deliver()
    assert len(world.am.sent) == 2, "pending alerts are not posted"
