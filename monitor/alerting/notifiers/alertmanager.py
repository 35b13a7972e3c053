"""Alertmanager: critmon's alerts posted to a Prometheus Alertmanager cluster, API v2.

``POST <url>/api/v2/alerts`` with a JSON list of ``postableAlert`` objects (``labels``
required; ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL`` optional), as specified by
Alertmanager's OpenAPI document (prometheus/alertmanager ``api/v2/openapi.yaml``: ``postAlerts``
answers 200, ``400 BadRequest`` with a string body, or ``500``).

Every member of the cluster gets every post, concurrently, and the post succeeds when at least
one member accepted it, as Prometheus' notifier does (``sendAll``: "true if the alerts could be
sent successfully to at least one Alertmanager"). Alertmanager members do not gossip alerts,
only silences and the notification log; a member that missed a post catches up at the next
re-post (see :mod:`monitor.alerting.alertmanager_sync`), and the failures are logged.

Per member: 2xx is accepted; 429 (with ``Retry-After``, capped at an hour), 408, 5xx, a timeout
or a refused connection may pass (transient); any other 4xx (a payload Alertmanager rejects, a
wrong path, a refused credential) and a redirect will not (permanent). The member's reply is
quoted only after secrets are redacted, on one line, at most 200 characters, read at most 4 KiB
and for at most ``timeout``.

Credentials (basic auth or a bearer token) come from the environment or a credentials file
(``Config.secrets``) and are sent only in the ``Authorization`` header, never logged.
"""

from __future__ import annotations

import json
import logging
import math
import re
import ssl
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import httpx

from monitor.alerting.notifiers.base import RETRY_AFTER_MAX_S, SendResult, clean_error
from monitor.alerting.render import AlertView, Notification, Reason, data, headline
from monitor.config.alerting import LABEL_NAME_RE, AlertmanagerReceiver
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.core.untrusted import bounded_seconds, clean_text

log = logging.getLogger(__name__)

API_PATH = "/api/v2/alerts"
DEFAULT_RETRY_AFTER_S = 60.0
#: How much of a member's reply is read (an error text is short; a hostile one is cut off).
BODY_MAX = 4096
LABEL_VALUE_MAX = 200
SUMMARY_MAX = 300
DESCRIPTION_MAX = 2000
TEST_ALERTNAME = "CritmonTest"


@dataclass(frozen=True, slots=True)
class _Reply:
    url: str
    ok: bool
    transient: bool = False
    status: int | None = None
    error: str = ""
    retry_after_s: float | None = None


class AlertmanagerNotifier:
    """One alertmanager receiver: a cluster of one or more members."""

    def __init__(self, name: str, spec: AlertmanagerReceiver, *, password: str | None = None,
                 bearer_token: str | None = None) -> None:
        self.name = name
        self.spec = spec
        self._secrets = [s for s in (password, bearer_token) if s]
        self._headers = {"Content-Type": "application/json", "User-Agent": "critmon"}
        self._auth: httpx.BasicAuth | None = None
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        elif spec.username and password:
            self._auth = httpx.BasicAuth(spec.username, password)

    # ------------------------------------------------------------------ the Notifier contract

    def send(self, notification: Notification) -> SendResult:
        """Post the notification's alerts (a test: one marked test alert) to every member."""
        now = notification.created_at
        if notification.reason == Reason.TEST:
            alerts = [test_alert(self.name, self.spec, now)]
        else:
            alerts = [postable_alert(view, self.spec, now) for view in notification.alerts]
        return self.post(alerts)

    def post(self, alerts: Sequence[dict[str, object]]) -> SendResult:
        """Post ``alerts`` (``postableAlert`` objects) to all members; see the module doc."""
        body = json.dumps(list(alerts), ensure_ascii=False, separators=(",", ":")).encode()
        urls = self.spec.urls
        if len(urls) == 1:
            replies = [self._post_one(urls[0], body)]
        else:
            with ThreadPoolExecutor(max_workers=len(urls),
                                    thread_name_prefix="critmon-am") as pool:
                replies = list(pool.map(lambda url: self._post_one(url, body), urls))
        return self._outcome(replies, len(alerts))

    def _outcome(self, replies: Sequence[_Reply], count: int) -> SendResult:
        accepted = [r for r in replies if r.ok]
        failed = [r for r in replies if not r.ok]
        summary = "; ".join(f"{r.url}: {r.error}" for r in failed)
        if accepted:
            if failed:
                log.warning("alertmanager %s: %d of %d members did not take the post: %s",
                            self.name, len(failed), len(replies), summary)
            return SendResult(
                ref=f"{count} alerts to {len(accepted)}/{len(replies)} members",
                detail=f"{len(failed)} members failed: {summary}" if failed else "")
        message = clean_error(f"no Alertmanager member took the post: {summary}",
                              self._secrets, limit=600)
        status = failed[0].status if failed else None
        transient = [r for r in failed if r.transient]
        if transient:
            # The earliest moment a member may take the post: a member without a Retry-After
            # (down, 5xx) may be back any time, so then the usual backoff applies.
            waits = [r.retry_after_s for r in transient]
            wait = None if None in waits else min(w for w in waits if w is not None)
            raise TransientDeliveryError(message, receiver=self.name, status=status,
                                         retry_after_s=wait)
        raise PermanentDeliveryError(message, receiver=self.name, status=status)

    # ------------------------------------------------------------------ one member

    def _post_one(self, url: str, body: bytes) -> _Reply:
        timeout = self.spec.timeout.total_seconds()
        target = url + API_PATH
        try:
            with httpx.Client(timeout=httpx.Timeout(timeout), verify=self._verify(),
                              follow_redirects=False, auth=self._auth,
                              headers=self._headers, trust_env=False) as client, \
                    client.stream("POST", target, content=body) as response:
                text = _read_bounded(response, timeout)
                return self._classify(url, response, text)
        except DeliveryError as exc:
            return _Reply(url, ok=False, transient=False, error=str(exc))
        except httpx.TimeoutException:
            return _Reply(url, ok=False, transient=True,
                          error=f"no answer within {timeout:g}s")
        except (httpx.HTTPError, OSError) as exc:
            return _Reply(url, ok=False, transient=True, error=_network_error(exc))

    def _verify(self) -> ssl.SSLContext | bool:
        if not self.spec.ca_file:
            return True
        try:
            return ssl.create_default_context(cafile=self.spec.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise PermanentDeliveryError(f"cannot load ca_file {self.spec.ca_file}: "
                                         f"{clean_text(exc, limit=120)}",
                                         receiver=self.name) from None

    def _classify(self, url: str, response: httpx.Response, text: str) -> _Reply:
        status = response.status_code
        if 200 <= status < 300:
            return _Reply(url, ok=True, status=status)
        said = clean_error(text, self._secrets, limit=200) or "no reply text"
        error = f"HTTP {status}: {said}"
        if 300 <= status < 400:
            where = clean_error(response.headers.get("location", "?"), self._secrets,
                                limit=120)
            return _Reply(url, ok=False, status=status,
                          error=f"HTTP {status} redirect to {where}: point urls at "
                                "the Alertmanager itself")
        if status == 429:
            return _Reply(url, ok=False, transient=True, status=status, error=error,
                          retry_after_s=retry_after(response.headers.get("retry-after")))
        if status == 408 or status >= 500:
            return _Reply(url, ok=False, transient=True, status=status, error=error)
        return _Reply(url, ok=False, transient=False, status=status, error=error)


def _read_bounded(response: httpx.Response, timeout: float) -> str:
    """At most ``BODY_MAX`` bytes of the reply, read for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= BODY_MAX or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:BODY_MAX].decode("utf-8", "replace")


def _network_error(exc: Exception) -> str:
    """Our words for a failed connection (a library message could quote the request)."""
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (refused, unreachable or TLS failed)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection broke off (not an HTTP reply)"
    return f"request failed ({type(exc).__name__})"


def retry_after(value: str | None) -> float:
    """Seconds from a ``Retry-After`` value (seconds or an HTTP date), at most an hour.

    Absent or unreadable: a minute. ``inf``/``1e300``: the cap; a date in the past: 0.
    """
    if not value:
        return DEFAULT_RETRY_AFTER_S
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER_S
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return DEFAULT_RETRY_AFTER_S
    return bounded_seconds(seconds, maximum=RETRY_AFTER_MAX_S) or 0.0


# =========================================================================== the payload


def label_name(name: str) -> str | None:
    """``name`` as a valid Alertmanager label name (invalid characters become ``_``);
    None for a name that cannot be one (empty, or reserved ``__``)."""
    fixed = re.sub(r"[^A-Za-z0-9_]", "_", name.strip())
    if fixed and fixed[0].isdigit():
        fixed = "_" + fixed
    if not fixed or fixed.startswith("__") or not LABEL_NAME_RE.match(fixed):
        return None
    return fixed


def _label_set(pairs: Sequence[tuple[str, str]], limit: int) -> dict[str, str]:
    """Valid names, cleaned non-empty values; the first of two names that clash wins."""
    labels: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name = label_name(str(raw_name))
        value = clean_text(raw_value, limit=limit)
        if name is not None and value and name not in labels:
            labels[name] = value
    return labels


def alert_labels(view: AlertView, spec: AlertmanagerReceiver) -> dict[str, str]:
    """The identity Alertmanager sees: the alert's labels (``alertname`` = the rule,
    ``mineral``, ``indicator``, ``severity`` = the level, the rule's own), ``level`` (the same
    value under critmon's name) and the receiver's static ``labels`` (which never override)."""
    own = [("alertname", view.alertname), ("mineral", view.mineral),
           ("indicator", view.indicator)]
    if view.level:  # before view.labels: the level of *this* view is what counts
        own += [("severity", view.level), ("level", view.level)]
    return _label_set([*own, *view.labels, *spec.labels.items()], LABEL_VALUE_MAX)


def generator_url(view: AlertView, spec: AlertmanagerReceiver) -> str:
    """The console page of the alert's mineral."""
    return f"{spec.external_url}/minerals/{quote(view.mineral, safe='')}"


def alert_annotations(view: AlertView) -> dict[str, str]:
    """``summary`` (one line) and ``description``, plus the rule's other annotations; all
    untrusted text cleaned (controls and bidi characters out, bounded)."""
    own = dict(view.annotations)
    level = f" ({data(view.level)})" if view.level else ""
    summary = own.pop("summary", "") or headline(view) + level
    parts = [own.pop("description", "")]
    if view.value is not None and view.threshold is not None:
        parts.append(f"value {view.value:g}, threshold {view.threshold:g}")
    if view.as_of is not None:
        parts.append(f"data as of {view.as_of.isoformat()}")
    description = "; ".join(p for p in parts if p)
    annotations = {"summary": clean_text(summary, limit=SUMMARY_MAX)}
    if description:
        annotations["description"] = clean_text(description, limit=DESCRIPTION_MAX)
    for name, value in _label_set(sorted(own.items()), DESCRIPTION_MAX).items():
        annotations.setdefault(name, value)
    return annotations


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def postable_alert(view: AlertView, spec: AlertmanagerReceiver, now: datetime
                   ) -> dict[str, object]:
    """One ``postableAlert``: a firing alert ends ``alert_validity`` from now (re-posted
    before that), a resolved one at the time it resolved (now, if unknown)."""
    if view.status == "resolved":
        ends = view.ends_at or now
    else:
        ends = now + spec.alert_validity
    starts = view.starts_at or now
    return {"labels": alert_labels(view, spec), "annotations": alert_annotations(view),
            "startsAt": rfc3339(min(starts, ends)), "endsAt": rfc3339(ends),
            "generatorURL": generator_url(view, spec)}


def test_alert(receiver: str, spec: AlertmanagerReceiver, now: datetime,
               lasts: timedelta = timedelta(minutes=5)) -> dict[str, object]:
    """``critmon notify test``: one clearly marked alert that ends by itself."""
    labels = _label_set([("alertname", TEST_ALERTNAME), ("receiver", receiver),
                         ("severity", "none"), *spec.labels.items()], LABEL_VALUE_MAX)
    return {"labels": labels,
            "annotations": {"summary": f"test alert from critmon to {clean_text(receiver)}",
                            "description": "sent by `critmon notify test`; it resolves by "
                                           "itself"},
            "startsAt": rfc3339(now), "endsAt": rfc3339(now + lasts),
            "generatorURL": spec.external_url + "/"}
