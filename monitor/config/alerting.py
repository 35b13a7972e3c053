"""``alerting.yaml``: receivers, the route tree, inhibit rules, digests and delivery settings.

Named after Prometheus Alertmanager's configuration, so operators recognise it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import (
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



ReceiverKind = Annotated[
    ConsoleReceiver | FileReceiver | SlackReceiver | EmailReceiver, Field(discriminator="kind")
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
