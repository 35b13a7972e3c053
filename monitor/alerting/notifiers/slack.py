"""Slack: a bot token posting with ``chat.postMessage``, or an incoming-webhook URL.

Both go through slack-sdk with a configurable API base URL (tests, staging and air-gapped
relays point it elsewhere). No retry handler is installed: slack-sdk's
``RateLimitErrorRetryHandler`` would ``time.sleep`` in the deliver job. A 429 becomes a
:class:`TransientDeliveryError` carrying ``Retry-After``, and the pipeline schedules the retry.
``WebhookClient`` *returns* 4xx/5xx responses instead of raising, so status and body are checked.
``Retry-After`` is honoured up to an hour (``RETRY_AFTER_MAX_S``): ``1e300`` or ``inf`` waits an
hour, an unreadable value (``nan``, a date, a word) a minute.

What the server says back (an error code, a webhook reply body) is quoted only after every
secret and every token-like part of one is redacted: a relay that echoes the request path would
otherwise leak the webhook's secret segments.

The SDK's own logger is silenced: its debug line for a webhook contains the webhook URL, which
is the secret.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError, SlackClientError

from monitor.alerting.notifiers.base import RETRY_AFTER_MAX_S, SendResult, clean_error
from monitor.alerting.render import Notification, slack_message
from monitor.config.alerting import SlackReceiver
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.core.untrusted import bounded_seconds

DEFAULT_API_URL = "https://slack.com/api/"
DEFAULT_RETRY_AFTER_S = 60.0
#: Slack error codes that a later attempt may not see again.
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                              "service_unavailable", "request_timeout", "timeout"})

_sdk_log = logging.getLogger("monitor.alerting.notifiers.slack.sdk")
_sdk_log.setLevel(logging.CRITICAL + 1)
_sdk_log.propagate = False
_sdk_log.addHandler(logging.NullHandler())


class SlackNotifier:
    """One Slack receiver (bot token + channel, or webhook URL)."""

    def __init__(self, name: str, spec: SlackReceiver, *, token: str | None = None,
                 webhook_url: str | None = None) -> None:
        self.name = name
        self.channel = spec.channel
        self._secrets = [s for s in (token, webhook_url) if s]
        timeout = max(1, round(spec.timeout.total_seconds()))
        self._client: WebClient | None = None
        self._webhook: WebhookClient | None = None
        if token:
            base = spec.api_url or DEFAULT_API_URL
            self._client = WebClient(token=token, base_url=base.rstrip("/") + "/",
                                     timeout=timeout, logger=_sdk_log, retry_handlers=[])
        elif webhook_url:
            self._webhook = WebhookClient(url=webhook_url, timeout=timeout, logger=_sdk_log,
                                          retry_handlers=[])
        else:
            raise PermanentDeliveryError("slack receiver has neither a token nor a webhook URL",
                                         receiver=name)

    @property
    def mode(self) -> str:
        return "bot" if self._client is not None else "webhook"

    def send(self, notification: Notification) -> SendResult:
        message = slack_message(notification)
        try:
            if self._client is not None:
                return self._post(message)
            return self._hook(message)
        except DeliveryError as exc:
            # Server text in it was redacted where it was quoted; once more as a backstop.
            exc.args = (clean_error(exc, self._secrets),)
            raise

    def _post(self, message: dict[str, Any]) -> SendResult:
        assert self._client is not None
        try:
            response = self._client.chat_postMessage(
                channel=self.channel or "", text=message["text"], blocks=message["blocks"],
                attachments=message["attachments"], unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            raise _api_error(self.name, exc.response.status_code,
                             _get(exc.response, "error"), exc.response.headers,
                             secrets=self._secrets) from None
        except OSError as exc:  # connection refused, timeout, DNS, TLS
            raise TransientDeliveryError(f"cannot reach the Slack API: {type(exc).__name__}",
                                         receiver=self.name) from None
        except SlackClientError as exc:
            raise PermanentDeliveryError(f"slack client error: {type(exc).__name__}",
                                         receiver=self.name) from None
        return SendResult(ref=_get(response, "ts"))

    def _hook(self, message: dict[str, Any]) -> SendResult:
        assert self._webhook is not None
        try:
            response = self._webhook.send(text=message["text"], blocks=message["blocks"],
                                          attachments=message["attachments"],
                                          unfurl_links=False, unfurl_media=False)
        except OSError as exc:
            raise TransientDeliveryError(
                f"cannot reach the Slack webhook: {type(exc).__name__}",
                receiver=self.name) from None
        if response.status_code == 200 and response.body.strip() == "ok":
            return SendResult()
        raise _api_error(self.name, response.status_code, response.body, response.headers,
                         secrets=self._secrets, webhook=True)


def _get(response: Any, key: str) -> str | None:
    try:
        value = response.get(key)
    except (AttributeError, TypeError):
        return None
    return str(value) if value is not None else None


def _api_error(receiver: str, status: int, error: str | None, headers: Any, *,
               secrets: Sequence[str], webhook: bool = False) -> DeliveryError:
    """Classify a Slack reply the way Alertmanager's Retrier does: 429/5xx retry, rest fail.

    The server's words are redacted *before* they are cut short, so no prefix of a secret
    survives the cut.
    """
    what = "webhook" if webhook else "chat.postMessage"
    code = clean_error(error or "", secrets, limit=120) or "no error code"
    message = f"slack {what} answered {status}: {code}"
    if status == 429 or code in ("ratelimited", "rate_limited"):
        return TransientDeliveryError(message, receiver=receiver, status=status,
                                      retry_after_s=retry_after(headers))
    if status >= 500 or code in TRANSIENT_ERRORS:
        return TransientDeliveryError(message, receiver=receiver, status=status)
    return PermanentDeliveryError(message, receiver=receiver, status=status)


def retry_after(headers: Any) -> float:
    """Seconds from a ``Retry-After`` header (any case), at most ``RETRY_AFTER_MAX_S``.

    A minute when absent or unreadable (``nan`` included); ``inf`` or ``1e300`` is the cap, so
    a hostile or broken server can neither overflow the retry time nor park a receiver for
    years.
    """
    try:
        items = dict(headers or {}).items()
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    for key, value in items:
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) and value else value
            try:
                seconds = float(str(raw).strip())
            except ValueError:
                return DEFAULT_RETRY_AFTER_S
            if math.isnan(seconds):
                return DEFAULT_RETRY_AFTER_S
            return bounded_seconds(seconds, maximum=RETRY_AFTER_MAX_S) or 0.0
    return DEFAULT_RETRY_AFTER_S
