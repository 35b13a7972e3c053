"""Muting: silences, acknowledgements and inhibition. Pure; time is an argument.

- A **silence** (Alertmanager) mutes every notification of the alerts its matchers select,
  between ``starts_at`` and ``ends_at``; it needs an author and a comment, and expiring it early
  just moves ``ends_at`` to now.
- An **ack** (Zabbix) is scoped to one alert's current episode and level: it stops *repeats*
  (and a first message not yet sent) until the alert escalates above the acknowledged level,
  resolves, or the ack expires. Escalations and resolutions are still sent.
- An **inhibit rule** mutes a firing *target* alert while a firing *source* alert with the same
  ``equal`` labels exists (a critical supply-risk alert for gallium inhibits gallium's lower
  ones). An alert never inhibits itself; a missing label equals an empty one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from monitor.alerting.state import level_rank
from monitor.config.matchers import Matcher, matches_all, parse_matchers


class MuteKind(StrEnum):
    SILENCE = "silence"
    ACK = "ack"
    INHIBIT = "inhibit"


@dataclass(frozen=True, slots=True)
class Mute:
    """Why a notification was not sent: which silence, ack or inhibiting alert."""

    kind: MuteKind
    ref: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}"


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: tuple[str, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime | None = None

    def status(self, now: datetime) -> str:
        """``pending`` (not started), ``active`` or ``expired``."""
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def is_active(self, now: datetime) -> bool:
        return self.status(now) == "active"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return matches_all(parse_matchers(self.matchers), labels)


@dataclass(frozen=True, slots=True)
class Ack:
    id: int
    fingerprint: str
    level: str | None
    episode: str
    author: str
    comment: str
    created_at: datetime
    expires_at: datetime | None = None

    def covers(self, fingerprint: str, episode: str, level: str | None, now: datetime) -> bool:
        """True while the ack applies to this alert's episode at this (or a lower) level."""
        if self.fingerprint != fingerprint or self.episode != episode:
            return False
        if self.expires_at is not None and now >= self.expires_at:
            return False
        return level_rank(level) <= level_rank(self.level)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, rule: object) -> InhibitRule:
        return cls(parse_matchers(rule.source_matchers),  # type: ignore[attr-defined]
                   parse_matchers(rule.target_matchers),  # type: ignore[attr-defined]
                   tuple(rule.equal))  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class FiringAlert:
    """What inhibition needs to know about a firing alert."""

    fingerprint: str
    labels: Mapping[str, str]


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime
                ) -> Silence | None:
    """The first active silence matching ``labels``, if any."""
    for silence in silences:
        if silence.is_active(now) and silence.matches(labels):
            return silence
    return None


def acked_by(fingerprint: str, episode: str, level: str | None, acks: Iterable[Ack],
             now: datetime) -> Ack | None:
    for ack in acks:
        if ack.covers(fingerprint, episode, level, now):
            return ack
    return None


def inhibited_by(target: FiringAlert, firing: Sequence[FiringAlert],
                 rules: Iterable[InhibitRule]) -> FiringAlert | None:
    """A firing alert that inhibits ``target`` under one of ``rules``, if any."""
    for rule in rules:
        if not matches_all(rule.target, target.labels):
            continue
        # Two alerts that both match both sides would mute each other: neither inhibits.
        target_is_source = matches_all(rule.source, target.labels)
        for source in firing:
            if source.fingerprint == target.fingerprint:
                continue
            if not matches_all(rule.source, source.labels):
                continue
            if target_is_source and matches_all(rule.target, source.labels):
                continue
            if all(source.labels.get(n, "") == target.labels.get(n, "") for n in rule.equal):
                return source
    return None
