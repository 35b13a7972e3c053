"""The Slack notifier against a local Slack stand-in over HTTP (no mocks of slack-sdk)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from monitor.alerting.notifiers.base import RETRY_AFTER_MAX_S
from monitor.alerting.notifiers.slack import DEFAULT_RETRY_AFTER_S, SlackNotifier
from monitor.alerting.render import AlertView, Notification, Reason
from monitor.config.alerting import SlackReceiver
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from tests.slack_standin import SlackStandIn, free_port

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SECRET_TOKEN = "xoxb-DISTINCTIVE-slack-token-7c1f9"
SECRET_HOOK = "/services/T9/B9/DISTINCTIVEhooksecret41"


@pytest.fixture
def standin() -> Iterator[SlackStandIn]:
    with SlackStandIn(token=SECRET_TOKEN, webhook_path=SECRET_HOOK) as server:
        yield server


def bot(standin: SlackStandIn, channel: str = "#minerals") -> SlackNotifier:
    spec = SlackReceiver(kind="slack", channel=channel, token={"env": "T"},
                         api_url=standin.api_url, timeout="60s")
    return SlackNotifier("slack_bot", spec, token=SECRET_TOKEN)


def hook(standin: SlackStandIn, url: str | None = None) -> SlackNotifier:
    spec = SlackReceiver(kind="slack", webhook_url={"env": "W"}, timeout="60s")
    return SlackNotifier("slack_hook", spec, webhook_url=url or standin.webhook_url)


def notification() -> Notification:
    alert = AlertView(fingerprint="0123456789abcdef", alertname="supply_risk_level",
                      mineral="gallium", indicator="supply_risk", status="firing",
                      level="critical", value=81.0, was_value=62.0, threshold=75.0,
                      reason=Reason.FIRST, annotations=(("summary", "ban <!channel>"),))
    return Notification(receiver="slack", reason=Reason.FIRST, key="k" * 32, created_at=T0,
                        alerts=(alert,))


def test_bot_posts_to_the_channel_with_blocks_and_unfurling_off(standin: SlackStandIn) -> None:
    result = bot(standin).send(notification())
    (request,) = standin.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {SECRET_TOKEN}"
    assert request.body["channel"] == "#minerals"
    assert request.body["unfurl_links"] is False and request.body["unfurl_media"] is False
    assert request.body["text"].startswith("[CRITICAL] gallium")
    assert request.body["blocks"][0]["type"] == "header"
    assert "&lt;!channel&gt;" in request.text and "<!channel>" not in request.text
    assert result.ref  # the message ts, for threading later


def test_webhook_posts_the_same_message(standin: SlackStandIn) -> None:
    hook(standin).send(notification())
    (request,) = standin.requests
    assert request.kind == "webhook" and request.body["blocks"][0]["type"] == "header"
    assert request.body["unfurl_links"] is False


@pytest.mark.parametrize("mode", ["bot", "webhook"])
@pytest.mark.parametrize(
    ("answer", "error", "retry_after"),
    [
        pytest.param("429:7", TransientDeliveryError, 7.0, id="429-carries-retry-after"),
        pytest.param("500", TransientDeliveryError, None, id="500-is-transient"),
        pytest.param("invalid_auth", PermanentDeliveryError, None, id="invalid-auth-permanent"),
        pytest.param("channel_not_found", PermanentDeliveryError, None,
                     id="unknown-channel-permanent"),
    ],
)
def test_replies_are_classified(standin: SlackStandIn, mode: str, answer: str,
                                error: type[Exception], retry_after: float | None) -> None:
    notifier = bot(standin) if mode == "bot" else hook(standin)
    standin.script("api" if mode == "bot" else "webhook", answer)
    with pytest.raises(error) as caught:
        notifier.send(notification())
    assert getattr(caught.value, "retry_after_s", None) == retry_after
    assert not standin.delivered()


def test_a_wrong_token_is_refused_by_the_standin_as_invalid_auth(standin: SlackStandIn) -> None:
    spec = SlackReceiver(kind="slack", channel="#x", token={"env": "T"}, api_url=standin.api_url)
    with pytest.raises(PermanentDeliveryError, match="invalid_auth"):
        SlackNotifier("slack_bot", spec, token="xoxb-wrong").send(notification())


@pytest.mark.parametrize("mode", ["bot", "webhook"])
def test_nobody_listening_is_transient(mode: str) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    if mode == "bot":
        spec = SlackReceiver(kind="slack", channel="#x", token={"env": "T"}, api_url=url,
                             timeout="2s")
        notifier = SlackNotifier("s", spec, token=SECRET_TOKEN)
    else:
        spec = SlackReceiver(kind="slack", webhook_url={"env": "W"}, timeout="2s")
        notifier = SlackNotifier("s", spec, webhook_url=url + SECRET_HOOK)
    with pytest.raises(TransientDeliveryError, match="cannot reach"):
        notifier.send(notification())


@pytest.mark.parametrize("answer", ["ok", "429:1", "500", "invalid_auth", "no_service"])
@pytest.mark.parametrize("mode", ["bot", "webhook"])
def test_secrets_never_reach_logs_or_errors(standin: SlackStandIn, caplog: pytest.LogCaptureFixture,
                                            mode: str, answer: str) -> None:
    caplog.set_level(logging.DEBUG)
    standin.script("api" if mode == "bot" else "webhook", answer)
    notifier = bot(standin) if mode == "bot" else hook(standin)
    message = ""
    try:
        notifier.send(notification())
    except (TransientDeliveryError, PermanentDeliveryError) as exc:
        message = f"{exc!s} {exc!r} {exc.__cause__!r} {exc.__context__!r}"
    for secret in (SECRET_TOKEN, "DISTINCTIVEhooksecret41"):
        assert secret not in message
        assert secret not in caplog.text


# --------------------------------------------------------------------------- hostile replies

RELAY_HOOK = "/services/T0RELAY1234/B0RELAY5678/RelaySecretXyZ0123456789ab"


def secret_parts(path: str) -> list[str]:
    """Every piece of a webhook path that would help a reader rebuild it (not 'services')."""
    parts = [p for p in path.split("/") if p and p != "services"]
    return parts + [p[:10] for p in parts]  # a cut-off echo must not leak a prefix either


@pytest.mark.parametrize("mode", ["bot", "webhook"])
@pytest.mark.parametrize(
    ("header", "expected"),
    [("1e300", RETRY_AFTER_MAX_S), ("inf", RETRY_AFTER_MAX_S),
     ("99999999999", RETRY_AFTER_MAX_S), ("nan", DEFAULT_RETRY_AFTER_S),
     ("-5", 0.0), ("soon", DEFAULT_RETRY_AFTER_S), ("7", 7.0)],
)
def test_retry_after_is_a_finite_delay_of_at_most_an_hour(standin: SlackStandIn, mode: str,
                                                          header: str, expected: float) -> None:
    standin.script("api" if mode == "bot" else "webhook", f"429:{header}")
    notifier = bot(standin) if mode == "bot" else hook(standin)
    with pytest.raises(TransientDeliveryError) as caught:
        notifier.send(notification())
    assert caught.value.retry_after_s == expected
    assert RETRY_AFTER_MAX_S == 3600.0


@pytest.mark.parametrize("status", [400, 403, 404, 500, 503])
def test_a_relay_echoing_the_webhook_path_leaks_no_part_of_it(
        status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with SlackStandIn(webhook_path=RELAY_HOOK) as relay:
        relay.script("webhook", f"echo:{status}")
        with pytest.raises(DeliveryError) as caught:
            hook(relay).send(notification())
        assert relay.requests[0].path == RELAY_HOOK
    text = f"{caught.value!s} {caught.value!r}"
    assert f"answered {status}" in text and "[redacted]" in text
    for part in secret_parts(RELAY_HOOK):
        assert part not in text and part not in caplog.text
