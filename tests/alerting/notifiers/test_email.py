"""The email notifier against aiosmtpd on 127.0.0.1 (no mocks of smtplib)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting.notifiers.email import EmailNotifier, message_id
from monitor.alerting.render import AlertView, Notification, Reason
from monitor.config.alerting import EmailReceiver
from monitor.core.errors import PermanentDeliveryError, TransientDeliveryError
from tests.slack_standin import DrippingSmtp, SmtpSink, free_port, make_certificate, server_context

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PASSWORD = "DISTINCTIVE-smtp-password-93e2"
TO = ("analyst@example.org", "desk@example.org")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = make_certificate(tmp_path_factory.mktemp("tls"))
    if made is None:
        pytest.skip("neither the cryptography package nor the openssl CLI is available")
    return made


@pytest.fixture
def plain() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def receiver(port: int, **options: Any) -> EmailReceiver:
    base: dict[str, Any] = {"kind": "email", "to": TO, "from": "critmon@example.org",
                            "host": "127.0.0.1", "port": port, "tls": "none", "timeout": "5s"}
    return EmailReceiver.model_validate({**base, **options})


def notification(thread: str | None = None, reason: Reason = Reason.FIRST) -> Notification:
    alert = AlertView(fingerprint="0123456789abcdef", alertname="supply_risk_level",
                      mineral="gallium", indicator="supply_risk", status="firing",
                      level="critical", value=81.0, was_value=62.0, threshold=75.0,
                      reason=reason, annotations=(("summary", "ban <b>on</b> gallium"),))
    return Notification(receiver="mail", reason=reason, key="a1b2" * 8, created_at=T0,
                        alerts=(alert,), thread_ref=thread)


def test_a_message_reaches_every_recipient_with_text_and_html(plain: SmtpSink) -> None:
    result = EmailNotifier("mail", receiver(plain.port)).send(notification())
    (received,) = plain.wait_for(1)
    message = received.message
    assert sorted(received.rcpt_tos) == sorted(TO)
    assert message["Subject"] == "[critmon][CRITICAL] gallium supply risk 81 (was 62)"
    assert message["From"] == "critmon@example.org"
    assert message["Message-ID"] == result.ref == message_id("a1b2" * 8, "critmon@example.org")
    assert message["Date"] and message["In-Reply-To"] is None
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "ban <b>on</b> gallium" in text
    assert "ban &lt;b&gt;on&lt;/b&gt; gallium" in html


def test_follow_ups_thread_to_the_first_message(plain: SmtpSink) -> None:
    first = "<critmon.first@example.org>"
    EmailNotifier("mail", receiver(plain.port)).send(notification(first, Reason.RESOLVED))
    message = plain.wait_for(1)[0].message
    assert message["In-Reply-To"] == first and message["References"] == first


def test_the_same_delivery_always_gets_the_same_message_id() -> None:
    assert message_id("k" * 32, "a@b.org") == message_id("k" * 32, "a@b.org")
    assert message_id("k" * 32, "a@b.org") != message_id("j" * 32, "a@b.org")
    assert message_id("k", "Critmon <a@b.org>").endswith("@b.org>")


def test_starttls_verifies_the_certificate_by_default(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with SmtpSink(starttls=server_context(cert, key)) as sink:
        untrusted = EmailNotifier("mail", receiver(sink.port, tls="starttls"))
        with pytest.raises(PermanentDeliveryError, match="did not verify"):
            untrusted.send(notification())
        assert sink.received == []
        trusted = EmailNotifier("mail", receiver(sink.port, tls="starttls", ca_file=str(cert)))
        trusted.send(notification())
        assert len(sink.wait_for(1)) == 1


def test_implicit_tls_with_a_private_ca(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with SmtpSink(implicit=server_context(cert, key)) as sink:
        notifier = EmailNotifier("mail", receiver(sink.port, tls="implicit", ca_file=str(cert)))
        notifier.send(notification())
        assert len(sink.wait_for(1)) == 1


def test_a_server_requiring_starttls_refuses_plain_text(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    with (SmtpSink(starttls=server_context(cert, key)) as sink,
          pytest.raises(PermanentDeliveryError, match="530")):
        EmailNotifier("mail", receiver(sink.port)).send(notification())


def test_login_over_starttls(certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
                             ) -> None:
    caplog.set_level(logging.DEBUG)
    cert, key = certificate
    with SmtpSink(starttls=server_context(cert, key), login=("critmon", PASSWORD)) as sink:
        options = {"tls": "starttls", "ca_file": str(cert), "username": "critmon"}
        EmailNotifier("mail", receiver(sink.port, **options), password=PASSWORD).send(
            notification())
        assert sink.logins == [("critmon", PASSWORD)] and len(sink.wait_for(1)) == 1
        wrong = EmailNotifier("mail", receiver(sink.port, **options), password="nope-" + PASSWORD)
        with pytest.raises(PermanentDeliveryError, match="login") as caught:
            wrong.send(notification())
    assert PASSWORD not in f"{caught.value!s} {caught.value!r} {caught.value.__context__!r}"
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("reply", "error"),
    [("451 4.3.0 try again later", TransientDeliveryError),
     ("554 5.7.1 message rejected", PermanentDeliveryError)],
    ids=["4xx-transient", "5xx-permanent"],
)
def test_smtp_replies_are_classified(plain: SmtpSink, reply: str, error: type[Exception]
                                     ) -> None:
    plain.script(reply)
    with pytest.raises(error, match=reply[:3]):
        EmailNotifier("mail", receiver(plain.port)).send(notification())


def test_partial_refusal_is_logged_and_the_rest_delivered(caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    with SmtpSink(refuse={"desk@example.org"}) as sink:
        result = EmailNotifier("mail", receiver(sink.port)).send(notification())
        assert sink.wait_for(1)[0].rcpt_tos == ["analyst@example.org"]
    assert "1 recipients refused" in result.detail
    assert "desk@example.org (550)" in caplog.text


def test_all_recipients_refused_is_permanent() -> None:
    with (SmtpSink(refuse=set(TO)) as sink,
          pytest.raises(PermanentDeliveryError, match="all recipients refused")):
        EmailNotifier("mail", receiver(sink.port)).send(notification())


def test_nobody_listening_is_transient() -> None:
    with pytest.raises(TransientDeliveryError):
        EmailNotifier("mail", receiver(free_port())).send(notification())


def test_implicit_tls_against_plain_smtp_is_a_configuration_error_that_says_why(
        plain: SmtpSink) -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        EmailNotifier("mail", receiver(plain.port, tls="implicit")).send(notification())
    message = str(caught.value)
    assert message.startswith(f"TLS handshake with 127.0.0.1:{plain.port} failed: the server "
                              "did not speak TLS")
    assert "is `tls: implicit` right for this port? (try `starttls`)" in message
    assert plain.received == []


def test_a_server_that_never_finishes_its_greeting_is_cut_off_by_a_deadline() -> None:
    with DrippingSmtp(every_s=0.2) as server:
        notifier = EmailNotifier("mail", receiver(server.port, timeout="1s"))
        started = time.monotonic()
        outcome: list[BaseException] = []
        worker = threading.Thread(target=lambda: _capture(outcome, notifier))
        worker.start()
        worker.join(60)
        elapsed = time.monotonic() - started
        assert not worker.is_alive(), "the send never returned"
    (error,) = outcome
    assert isinstance(error, TransientDeliveryError)
    assert "did not finish within" in str(error)
    assert elapsed < 30


def _capture(outcome: list[BaseException], notifier: EmailNotifier) -> None:
    try:
        notifier.send(notification())
    except BaseException as exc:  # noqa: BLE001 - handed to the test thread
        outcome.append(exc)
