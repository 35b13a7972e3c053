"""``alerting.yaml``: receivers, the route tree, inhibit rules, digests and delivery settings.

Named after Prometheus Alertmanager's configuration, so operators recognise it.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.config.common import (
    QUOTE_MAX,
    Backoff,
    GiveUpAfter,
    GroupInterval,
    GroupWait,
    Identifier,
    RepeatInterval,
    SecretRef,
    StrictModel,
    Timeout,
    duration_between,
    format_duration,
    listing,
    quote,
)
from monitor.core.untrusted import clean_text

# --------------------------------------------------------------------------- alerting


class ConsoleReceiver(StrictModel):
    kind: Literal["console"]



class FileReceiver(StrictModel):
    kind: Literal["file"]
    path: str = "alerts.jsonl"



class SlackReceiver(StrictModel):
    kind: Literal["slack"]
    channel: str | None = None
    token: SecretRef | None = None
    webhook_url: SecretRef | None = None
    api_url: str | None = None
    timeout: Timeout = timedelta(seconds=10)

    @field_validator("api_url")
    @classmethod
    def _http_api_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"^https?://", url):
            raise ValueError(f"api_url must start with http:// or https://, got {quote(url)}")
        return url

    @model_validator(mode="after")
    def _one_mode(self) -> SlackReceiver:
        if (self.token is None) == (self.webhook_url is None):
            raise ValueError("a slack receiver needs exactly one of token (+channel) or webhook_url")
        if self.token is not None and not self.channel:
            raise ValueError("a slack receiver with a bot token needs a channel")
        return self



class EmailReceiver(StrictModel):
    kind: Literal["email"]
    to: tuple[str, ...] = Field(min_length=1)
    sender: str = Field(alias="from")
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    tls: Literal["starttls", "implicit", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    ca_file: str | None = None
    timeout: Timeout = timedelta(seconds=30)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)



#: Alertmanager's own rule for label (and annotation) names.
LABEL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ResendInterval = Annotated[timedelta, BeforeValidator(duration_between("1s", "10m"))]
ValidFor = Annotated[timedelta, BeforeValidator(duration_between("2s", "1d"))]
ResolvedRetention = Annotated[timedelta, BeforeValidator(duration_between("0s", "1d"))]


def _alertmanager_url(url: str, key: str) -> str:
    """An http(s) base URL with a host, no credentials, query or fragment; no trailing ``/``."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"{key} {quote(url)} is not a URL: "
                         f"{clean_text(exc, limit=QUOTE_MAX)}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"{key} must be an http:// or https:// URL with a host, "
                         f"got {quote(url)}")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{key} must not hold credentials: use username + password "
                         "or bearer_token (from the environment or a file)")
    if parts.query or parts.fragment:
        raise ValueError(f"{key} must not have a query or fragment, got {quote(url)}")
    return url.rstrip("/")


class AlertmanagerReceiver(StrictModel):
    """Hand alerts to a Prometheus Alertmanager cluster (``POST /api/v2/alerts``).

    ``urls`` are the cluster's members (base URLs, as Prometheus' ``alertmanagers``); every
    member gets every post. Firing alerts are re-posted every ``resend_interval`` with
    ``endsAt`` ``valid_for`` ahead, resolved ones with ``endsAt`` = when they resolved, for
    ``resolved_retention`` after that.
    """

    kind: Literal["alertmanager"]
    urls: tuple[str, ...] = Field(min_length=1, max_length=16)
    external_url: str = "http://127.0.0.1:8765"
    timeout: Timeout = timedelta(seconds=10)
    resend_interval: ResendInterval = timedelta(minutes=1)
    valid_for: ValidFor | None = None
    resolved_retention: ResolvedRetention = timedelta(minutes=15)
    labels: dict[str, str] = Field(default_factory=dict, max_length=32)
    username: str | None = None
    password: SecretRef | None = None
    bearer_token: SecretRef | None = None
    ca_file: str | None = None

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        clean = tuple(_alertmanager_url(url, "urls") for url in urls)
        duplicates = sorted({u for u in clean if clean.count(u) > 1})
        if duplicates:
            raise ValueError(f"duplicate urls: {listing(duplicates)}")
        return clean

    @field_validator("external_url")
    @classmethod
    def _http_external_url(cls, url: str) -> str:
        return _alertmanager_url(url, "external_url")

    @field_validator("labels")
    @classmethod
    def _label_names(cls, labels: dict[str, str]) -> dict[str, str]:
        for name, value in labels.items():
            if not LABEL_NAME_RE.match(name) or name.startswith("__"):
                raise ValueError(f"label name {quote(name)} is not valid in Alertmanager "
                                 "(letters, digits and _, not starting with a digit or __)")
            if not value.strip():
                raise ValueError(f"label {quote(name)} has an empty value")
        return labels

    @model_validator(mode="after")
    def _consistent(self) -> AlertmanagerReceiver:
        if self.password is not None and not self.username:
            raise ValueError("an alertmanager receiver with a password needs a username")
        if self.username and self.password is None:
            raise ValueError("an alertmanager receiver with a username needs a password")
        if self.password is not None and self.bearer_token is not None:
            raise ValueError("use either username + password or bearer_token, not both")
        if self.valid_for is not None and self.valid_for < 2 * self.resend_interval:
            raise ValueError(f"valid_for must be at least twice resend_interval "
                             f"({format_duration(2 * self.resend_interval)}), or Alertmanager "
                             "resolves alerts between two posts")
        return self

    @property
    def alert_validity(self) -> timedelta:
        """How far ahead a firing alert's ``endsAt`` is: ``valid_for`` or 4 resend intervals
        (Prometheus: 4 x max(evaluation interval, resend delay))."""
        return self.valid_for if self.valid_for is not None else 4 * self.resend_interval


ReceiverKind = Annotated[
    ConsoleReceiver | FileReceiver | SlackReceiver | EmailReceiver | AlertmanagerReceiver,
    Field(discriminator="kind"),
]



_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")



def digest_crontab(schedule: str) -> str:
    """Turn ``hourly``, ``daily 08:00``, ``weekdays 08:00``, ``weekly mon 08:00`` or a
    five-field cron expression into a cron expression."""
    words = schedule.strip().lower().split()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", words[-1]) if words else None
    at = f"{int(clock.group(2))} {int(clock.group(1))}" if clock else ""
    if words == ["hourly"]:
        return "0 * * * *"
    if len(words) == 2 and clock and words[0] in ("daily", "weekdays"):
        return f"{at} * * " + ("*" if words[0] == "daily" else "mon-fri")
    if len(words) == 3 and clock and words[0] == "weekly" and words[1][:3] in _WEEKDAYS:
        return f"{at} * * {words[1][:3]}"
    if len(words) == 5:
        return " ".join(words)
    raise ValueError(f"bad digest schedule {quote(schedule)}: use hourly, daily HH:MM, "
                     "weekdays HH:MM, weekly DAY HH:MM or a cron expression")



class DigestSpec(StrictModel):
    """A scheduled summary (what is firing, what changed since the last one) for a receiver."""

    schedule: str
    timezone: str = "UTC"
    immediate: bool = True  # false: this receiver gets only digests, no immediate messages
    send_empty: bool = False

    @model_validator(mode="after")
    def _valid_schedule(self) -> DigestSpec:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from apscheduler.triggers.cron import CronTrigger

        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {quote(self.timezone)}") from None
        crontab = digest_crontab(self.schedule)
        try:
            CronTrigger.from_crontab(crontab, timezone=zone)
        except ValueError as exc:
            raise ValueError(f"bad digest schedule {quote(self.schedule)}: "
                             f"{clean_text(exc, limit=QUOTE_MAX)}") from None
        return self

    @property
    def crontab(self) -> str:
        return digest_crontab(self.schedule)



class Receiver(StrictModel):
    name: Identifier
    send_resolved: bool = True
    digest: DigestSpec | None = None
    #: The language of this receiver's messages: mineral names, levels, factor names, fixed
    #: wording and dates ("en" or "zh"); headlines from feeds are shown as published.
    language: Literal["en", "zh"] = "en"
    config: ReceiverKind

    @model_validator(mode="after")
    def _alertmanager_is_a_sync(self) -> Receiver:
        """Alertmanager gets the state of every alert; its own receivers decide the rest."""
        if self.config.kind == "alertmanager":
            if not self.send_resolved:
                raise ValueError("send_resolved: false does not apply to an alertmanager "
                                 "receiver (Alertmanager must hear resolves; set "
                                 "send_resolved on Alertmanager's own receivers)")
            if self.digest is not None:
                raise ValueError("an alertmanager receiver takes no digest (Alertmanager "
                                 "groups and repeats notifications itself)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, data: object) -> object:
        """Accept ``{name, send_resolved, digest, language, kind, ...kind options}`` as written
        in YAML."""
        outer_keys = ("name", "send_resolved", "digest", "language")
        if isinstance(data, dict) and "config" not in data:
            outer = {k: data[k] for k in outer_keys if k in data}
            inner = {k: v for k, v in data.items() if k not in outer_keys}
            return {**outer, "config": inner}
        return data



class Route(StrictModel):
    receiver: str | None = None
    matchers: tuple[str, ...] = ()
    group_by: tuple[str, ...] | None = None
    group_wait: GroupWait | None = None
    group_interval: GroupInterval | None = None
    repeat_interval: RepeatInterval | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: tuple[Route, ...] = ()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("matchers")
    @classmethod
    def _matcher_syntax(cls, matchers: tuple[str, ...]) -> tuple[str, ...]:
        return _valid_matchers(matchers)



def _valid_matchers(matchers: tuple[str, ...]) -> tuple[str, ...]:
    from monitor.config.matchers import parse_matcher

    for matcher in matchers:
        parse_matcher(matcher)  # ValueError names the matcher
    return matchers



class InhibitRule(StrictModel):
    source_matchers: tuple[str, ...]
    target_matchers: tuple[str, ...]
    equal: tuple[str, ...] = ()

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matcher_syntax(cls, matchers: tuple[str, ...]) -> tuple[str, ...]:
        return _valid_matchers(matchers)



class DeliverySettings(StrictModel):
    """Retries: exponential backoff with jitter from ``initial_backoff`` up to ``max_backoff``
    (a Slack ``Retry-After`` wins when longer); give up after ``give_up_after``."""

    initial_backoff: Backoff = timedelta(seconds=10)
    max_backoff: Backoff = timedelta(minutes=30)
    give_up_after: GiveUpAfter = timedelta(days=2)

    @field_validator("max_backoff")
    @classmethod
    def _not_below_initial(cls, max_backoff: timedelta, info: ValidationInfo) -> timedelta:
        initial = info.data.get("initial_backoff")
        if initial is not None and max_backoff < initial:
            raise ValueError(f"must be at least initial_backoff ({format_duration(initial)})")
        return max_backoff



class AlertingFile(StrictModel):
    version: Literal[1] = 1
    receivers: tuple[Receiver, ...]
    route: Route
    inhibit_rules: tuple[InhibitRule, ...] = ()
    delivery: DeliverySettings = DeliverySettings()

    @model_validator(mode="after")
    def _receivers_known(self) -> AlertingFile:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate receiver names: {listing(duplicates)}")
        if self.route.receiver is None:
            raise ValueError("the top-level route needs a receiver")
        for receiver in _route_receivers(self.route):
            if receiver not in names:
                raise ValueError(f"route refers to unknown receiver {quote(receiver)}")
        return self



def _route_receivers(route: Route) -> Iterator[str]:
    if route.receiver:
        yield route.receiver
    for child in route.routes:
        yield from _route_receivers(child)
