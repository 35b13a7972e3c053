"""The Alertmanager notifier against local HTTP servers (hostile answers) and a real
Alertmanager (``critmon notify test``); its config, with errors naming file, key and line."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor.alerting.notifiers.alertmanager import (
    AlertmanagerNotifier,
    label_name,
    postable_alert,
    retry_after,
)
from monitor.alerting.render import AlertView
from monitor.cli.main import cli
from monitor.config.alerting import AlertmanagerReceiver
from monitor.config.load import CONFIG_FILES, default_config_dir, load_config
from monitor.core.errors import ConfigError, PermanentDeliveryError, TransientDeliveryError
from tests.alertmanager_server import Alertmanager, WebhookSink, free_port, wait_for

SECRET = "am-bearer-s3cr3t-token-value"
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def spec(*urls: str, **options: object) -> AlertmanagerReceiver:
    return AlertmanagerReceiver.model_validate({"kind": "alertmanager", "urls": list(urls),
                                                "timeout": "2s", **options})


def view(**changes: object) -> AlertView:
    fields: dict[str, object] = {
        "fingerprint": "f1", "alertname": "supply_risk_level", "mineral": "gallium",
        "indicator": "supply_risk", "status": "firing", "level": "high", "value": 62.0, "threshold": 50.0,
        "starts_at": NOW, "labels": (("9bad-name", "x"), ("__reserved", "y"), ("ok", ""))}
    fields.update(changes)
    return AlertView(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the payload


def test_the_payload_has_valid_labels_clean_annotations_and_times() -> None:
    hostile = view(annotations=(("summary", "gallium\u202e <b>x</b>\r\nInjected: 1"),
                                ("runbook url", "http://wiki/x")))
    alert = postable_alert(hostile, spec("http://am:9093", labels={"team": "supply"}), NOW)
    assert alert["labels"] == {"alertname": "supply_risk_level", "mineral": "gallium",
                               "indicator": "supply_risk", "severity": "high", "level": "high",
                               "_9bad_name": "x", "team": "supply"}
    annotations = alert["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["summary"] == "gallium <b>x</b> Injected: 1"
    assert annotations["runbook_url"] == "http://wiki/x"
    assert alert["startsAt"] == "2026-03-02T07:00:00.000Z"
    assert alert["endsAt"] == "2026-03-02T07:04:00.000Z", "4 x resend_interval ahead"
    assert alert["generatorURL"] == "http://127.0.0.1:8765/minerals/gallium"
    resolved = postable_alert(view(status="resolved", ends_at=NOW), spec("http://am"), NOW)
    assert resolved["endsAt"] == "2026-03-02T07:00:00.000Z"


def test_label_names_are_made_valid_or_dropped() -> None:
    assert label_name("a-b.c") == "a_b_c"
    assert label_name("1x") == "_1x"
    assert label_name("__name__") is None
    assert label_name("") is None


# --------------------------------------------------------------------------- hostile servers


def test_bearer_token_is_sent_and_never_quoted_back(httpserver: HTTPServer) -> None:
    seen: list[str] = []

    def echo(request: Request) -> Response:
        seen.append(request.headers.get("Authorization", ""))
        return Response(f"unauthorized: {request.headers.get('Authorization')}", status=401)

    httpserver.expect_request("/api/v2/alerts", method="POST").respond_with_handler(echo)
    notifier = AlertmanagerNotifier("am", spec(httpserver.url_for("")), bearer_token=SECRET)
    with pytest.raises(PermanentDeliveryError) as info:
        notifier.post([{"labels": {"alertname": "x"}}])
    assert seen == [f"Bearer {SECRET}"]
    assert SECRET not in str(info.value) and "HTTP 401" in str(info.value)


def test_basic_auth_comes_from_username_and_the_secret(httpserver: HTTPServer) -> None:
    expected = "Basic " + base64.b64encode(f"critmon:{SECRET}".encode()).decode()
    httpserver.expect_request("/prefix/api/v2/alerts", method="POST",
                              headers={"Authorization": expected}).respond_with_data("")
    target = spec(httpserver.url_for("/prefix/"), username="critmon",
                  password={"env": "AM_PASSWORD"})
    result = AlertmanagerNotifier("am", target, password=SECRET).post(
        [{"labels": {"alertname": "x"}}])
    assert result.ref == "1 alerts to 1/1 members"


@pytest.mark.parametrize(("header", "seconds"), [("1e300", 3600.0), ("inf", 3600.0),
                                                  ("nan", 60.0), ("soon", 60.0), ("7", 7.0),
                                                  ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_is_bounded(header: str, seconds: float) -> None:
    assert retry_after(header) == seconds


def test_429_is_transient_with_its_capped_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v2/alerts").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1e300"})
    with pytest.raises(TransientDeliveryError) as info:
        AlertmanagerNotifier("am", spec(httpserver.url_for(""))).post([{"labels": {"a": "b"}}])
    assert info.value.retry_after_s == 3600.0 and "HTTP 429: slow down" in str(info.value)


def test_5xx_is_transient_and_a_redirect_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a/api/v2/alerts").respond_with_data("boom", status=503)
    httpserver.expect_request("/b/api/v2/alerts").respond_with_data(
        "", status=302, headers={"Location": "http://elsewhere/"})
    with pytest.raises(TransientDeliveryError, match="HTTP 503: boom"):
        AlertmanagerNotifier("am", spec(httpserver.url_for("/a"))).post([])
    with pytest.raises(PermanentDeliveryError, match="redirect to http://elsewhere/"):
        AlertmanagerNotifier("am", spec(httpserver.url_for("/b"))).post([])


def test_a_huge_hostile_reply_is_cut_and_cleaned(httpserver: HTTPServer) -> None:
    body = "\x1b[2J" + "A" * 1_000_000
    httpserver.expect_request("/api/v2/alerts").respond_with_data(body, status=400)
    with pytest.raises(PermanentDeliveryError) as info:
        AlertmanagerNotifier("am", spec(httpserver.url_for(""))).post([])
    assert len(str(info.value)) <= 600 and "\x1b" not in str(info.value)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


def test_a_silent_member_times_out_and_the_other_takes_the_post(
        httpserver: HTTPServer, silent_server: str) -> None:
    httpserver.expect_request("/api/v2/alerts").respond_with_data("")
    notifier = AlertmanagerNotifier("am", spec(silent_server, httpserver.url_for("")))
    started = time.monotonic()
    result = notifier.post([{"labels": {"alertname": "x"}}])
    assert time.monotonic() - started < 30, "bounded by the timeout (2s), with slack for load"
    assert result.ref == "1 alerts to 1/2 members"
    assert f"{silent_server}: no answer within 2s" in result.detail


def test_all_members_failing_one_transiently_is_transient(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a/api/v2/alerts").respond_with_data("bad", status=400)
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientDeliveryError) as info:
        AlertmanagerNotifier("am", spec(httpserver.url_for("/a"), down)).post([])
    assert "HTTP 400: bad" in str(info.value) and f"{down}: cannot connect" in str(info.value)


# --------------------------------------------------------------------------- config


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    for name in CONFIG_FILES:
        (tmp_path / name).write_text((default_config_dir() / name).read_text(encoding="utf-8"),
                                     encoding="utf-8")
    return tmp_path


def write_alerting(directory: Path, receiver: str) -> None:
    (directory / "alerting.yaml").write_text(f"""version: 1
receivers:
  - name: console
    kind: console
  - name: team_am
    kind: alertmanager
{receiver}
route:
  receiver: console
  routes:
    - receiver: team_am
""", encoding="utf-8")


@pytest.mark.parametrize(("options", "key", "needle", "words"), [
    ("    urls: [ftp://am:9093]", "receivers.1.urls", "urls:", "http:// or https://"),
    ("    urls: ['http://u:p@am:9093']", "receivers.1.urls", "urls:",
     "must not hold credentials"),
    ("    urls: [http://am:9093]\n    timeout: 2h", "receivers.1.timeout",
     "timeout:", "between 1s and 10m"),
    ("    urls: [http://am:9093]\n    external_url: console", "receivers.1.external_url",
     "external_url:", "http:// or https://"),
    ("    urls: [http://am:9093]\n    resend_interval: 1m\n    valid_for: 90s",
     "receivers.1", "name: team_am", "at least twice resend_interval"),
    ("    urls: [http://am:9093]\n    labels: {'bad-name': x}", "receivers.1.labels",
     "labels:", "not valid in Alertmanager"),
    ("    urls: [http://am:9093]\n    send_resolved: false", "receivers.1", "name: team_am",
     "send_resolved: false does not apply"),
])
def test_bad_alertmanager_config_names_file_key_and_line(config_dir: Path, options: str,
                                                         key: str, needle: str,
                                                         words: str) -> None:
    write_alerting(config_dir, options)
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    error = info.value
    assert error.file == str(config_dir / "alerting.yaml")
    assert error.key is not None and error.key.startswith(key), error.key
    lines = (config_dir / "alerting.yaml").read_text(encoding="utf-8").splitlines()
    assert error.line is not None and needle in lines[error.line - 1], (error.line, lines)
    assert words in str(error)


def test_a_missing_bearer_token_is_named(config_dir: Path) -> None:
    write_alerting(config_dir, "    urls: [http://am:9093]\n    bearer_token: ${AM_TOKEN}")
    with pytest.raises(ConfigError, match="AM_TOKEN is not set") as info:
        load_config(config_dir, environ={})
    assert info.value.key == "receivers.1.bearer_token"
    config = load_config(config_dir, environ={"AM_TOKEN": SECRET})
    assert config.secrets["team_am.bearer_token"].get_secret_value() == SECRET
    assert SECRET not in repr(config)


# --------------------------------------------------------------------------- notify test


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    with WebhookSink() as sink, \
            Alertmanager(tmp_path_factory.mktemp("am"), sink.url) as running:
        yield running


def test_notify_test_posts_a_marked_alert_to_a_real_alertmanager(
        config_dir: Path, tmp_path: Path, alertmanager: Alertmanager) -> None:
    write_alerting(config_dir, f"    urls: [{alertmanager.url}]")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    result = CliRunner().invoke(cli, ["--config", str(config_dir), "--state-dir", str(state),
                                      "notify", "test", "team_am"])
    assert result.exit_code == 0, result.output
    assert "test message to team_am: sent (ref 1 alerts to 1/1 members)" in result.output
    [alert] = wait_for(lambda: alertmanager.alerts(alertname="CritmonTest"),
                       what="the test alert in Alertmanager")
    assert alert["labels"]["receiver"] == "team_am"
    assert alert["annotations"]["summary"] == "test alert from critmon to team_am"


def test_notify_test_fails_clearly_when_no_member_answers(config_dir: Path,
                                                          tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    write_alerting(config_dir, f"    urls: [{down}]")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    result = CliRunner().invoke(cli, ["--config", str(config_dir), "--state-dir", str(state),
                                      "notify", "test", "team_am"])
    assert result.exit_code == 1
    assert f"FAILED: no Alertmanager member took the post: {down}: cannot connect" \
        in result.output


def test_the_retry_waits_for_the_earliest_member(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a/api/v2/alerts").respond_with_data(
        "", status=429, headers={"Retry-After": "120"})
    httpserver.expect_request("/b/api/v2/alerts").respond_with_data(
        "", status=429, headers={"Retry-After": "30"})
    a, b = httpserver.url_for("/a"), httpserver.url_for("/b")
    with pytest.raises(TransientDeliveryError) as both:
        AlertmanagerNotifier("am", spec(a, b)).post([])
    assert both.value.retry_after_s == 30.0
    down = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TransientDeliveryError) as one_down:
        AlertmanagerNotifier("am", spec(a, down)).post([])
    assert one_down.value.retry_after_s is None, "the member that is down may be back any time"
