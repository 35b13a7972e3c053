"""What a notification says, for each medium: pure functions of a :class:`Notification`.

Every piece of text that came from a feed, a source or a config file is *data*: it is escaped
for Slack mrkdwn (only ``&``, ``<`` and ``>`` are control characters there, so a feed title
containing ``<!channel>`` shows as text and pings nobody), HTML-escaped in the HTML mail part,
and stripped of CR/LF in mail headers. Slack's limits are respected (header 150 characters,
section text 3,000, 50 blocks per message): a long group is summarised, never dropped.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from monitor.alerting.state import level_rank

HEADER_MAX = 150
SECTION_MAX = 3000
MAX_BLOCKS = 50
DETAILED_MAX = 20
SUBJECT_MAX = 200


class Reason(StrEnum):
    """Why a notification is sent (kept with every delivery: "why did I get this?")."""

    FIRST = "first"
    ESCALATED = "escalated"
    REPEAT_DUE = "repeat_due"
    RESOLVED = "resolved"
    DIGEST = "digest"
    TEST = "test"


_REASON_TEXT = {
    Reason.FIRST: "new", Reason.ESCALATED: "escalated", Reason.REPEAT_DUE: "still firing",
    Reason.RESOLVED: "resolved", Reason.DIGEST: "digest", Reason.TEST: "test",
}
_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:",
          "warning": ":large_yellow_circle:", "moderate": ":large_yellow_circle:",
          "low": ":large_blue_circle:", "info": ":large_blue_circle:"}
_COLOUR = {"critical": "#D00000", "high": "#F08000", "warning": "#E0C000", "moderate": "#E0C000",
           "low": "#2080D0", "info": "#2080D0"}
_RESOLVED_COLOUR = "#2EB67D"
_LINK_KEYS = re.compile(r"(^|_)(urls?|links?|sources?)$")
_BREAKDOWN_KEYS = ("breakdown", "risk_breakdown", "risk")
_TEXT_KEYS = ("summary", "description")
_HIDDEN_KEYS = ("name",)  # the mineral's display name: the id is already shown


@dataclass(frozen=True, slots=True)
class AlertView:
    """One alert as a message shows it."""

    fingerprint: str
    alertname: str
    mineral: str
    indicator: str
    status: str  # "firing" or "resolved"
    level: str | None = None
    previous_level: str | None = None
    value: float | None = None
    was_value: float | None = None
    threshold: float | None = None
    as_of: date | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    reason: Reason | None = None  # None: included as context ("also firing")
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    alert_id: int | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a digest's "what changed" list."""

    at: datetime
    kind: str
    mineral: str
    alertname: str
    level: str | None = None
    from_level: str | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class Digest:
    since: datetime | None
    until: datetime
    firing: tuple[AlertView, ...] = ()
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to one receiver: a group's alerts, a digest, or a test."""

    receiver: str
    reason: Reason
    key: str
    created_at: datetime
    alerts: tuple[AlertView, ...] = ()
    group_labels: tuple[tuple[str, str], ...] = ()
    thread_ref: str | None = None  # Message-ID of the first mail about these alerts
    digest: Digest | None = None
    attempt: int = 1
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> AlertView | None:
        """The alert the title is about: the most severe one with a reason to be sent."""
        if not self.alerts:
            return None
        flagged = [a for a in self.alerts if a.reason is not None] or list(self.alerts)
        return max(flagged, key=lambda a: (a.status == "firing", level_rank(a.level)))


# --------------------------------------------------------------------------- text helpers


def escape_mrkdwn(text: object) -> str:
    """Escape Slack's three control characters; nothing else (Slack's own rule)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header_safe(text: str) -> str:
    """One line for a mail header: CR, LF and other control characters become spaces."""
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f]", " ", text)).strip()


def format_value(value: float | None, indicator: str = "") -> str:
    """A value as a reader wants it; price changes (log changes) as a percentage."""
    if value is None:
        return "n/a"
    if indicator.startswith("price_change") and "," not in indicator and abs(value) < 20:
        return f"{100 * math.expm1(value):+.0f}%"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"


def indicator_phrase(indicator: str) -> str:
    return " + ".join(part.strip().replace("_", " ") for part in indicator.split(","))


def tag(notification: Notification) -> str:
    """The bracketed word of a subject: TEST, DIGEST, RESOLVED or the top level."""
    if notification.reason in (Reason.TEST, Reason.DIGEST):
        return notification.reason.upper()
    primary = notification.primary
    if primary is None or primary.status == "resolved":
        return "RESOLVED"
    return (primary.level or "alert").upper()


def headline(alert: AlertView) -> str:
    """``gallium supply risk 81 (was 62)``: what a reader needs in one line."""
    what = f"{alert.mineral} {indicator_phrase(alert.indicator)}"
    if alert.value is None:
        return f"{alert.mineral} {alert.alertname.replace('_', ' ')}"
    was = ""
    if alert.was_value is not None and format_value(alert.was_value, alert.indicator) != format_value(alert.value, alert.indicator):
        was = f" (was {format_value(alert.was_value, alert.indicator)})"
    return f"{what} {format_value(alert.value, alert.indicator)}{was}"


def title(notification: Notification) -> str:
    """The one-line title shared by the mail subject, the Slack header and the console."""
    if notification.reason == Reason.TEST:
        return f"test message from critmon to {notification.receiver}"
    if notification.reason == Reason.DIGEST and notification.digest is not None:
        digest = notification.digest
        since = f" since {_when(digest.since)}" if digest.since else ""
        return (f"{len(digest.firing)} firing, {len(digest.changes)} "
                f"change{'s' * (len(digest.changes) != 1)}{since}")
    primary = notification.primary
    if primary is None:
        return "no alerts"
    more = len(notification.alerts) - 1
    return headline(primary) + (f" (+{more} more)" if more > 0 else "")


def subject(notification: Notification) -> str:
    """``[critmon][CRITICAL] gallium supply risk 81 (was 62)``, one line, capped."""
    text = header_safe(f"[critmon][{tag(notification)}] {title(notification)}")
    return text if len(text) <= SUBJECT_MAX else text[:SUBJECT_MAX - 1] + "…"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def _status_text(alert: AlertView) -> str:
    if alert.status == "resolved":
        return "resolved"
    if alert.reason == Reason.ESCALATED and alert.previous_level:
        return f"escalated from {alert.previous_level}"
    if alert.reason is None:
        return "also firing"
    return _REASON_TEXT[alert.reason]


def _links(alert: AlertView) -> list[str]:
    urls: list[str] = []
    for key, value in alert.annotations:
        if _LINK_KEYS.search(key):
            urls += [token for token in value.split() if _is_web_url(token)]
    return list(dict.fromkeys(urls))


def _is_web_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _other_annotations(alert: AlertView) -> list[tuple[str, str]]:
    """Annotations without a place of their own; the non-URL text of link annotations too."""
    skip = {*_TEXT_KEYS, *_BREAKDOWN_KEYS, *_HIDDEN_KEYS}
    found = []
    for key, value in alert.annotations:
        if key in skip:
            continue
        if _LINK_KEYS.search(key):
            value = " ".join(token for token in value.split() if not _is_web_url(token))
        if value:
            found.append((key, value))
    return found


def _annotation(alert: AlertView, *keys: str) -> str | None:
    found = dict(alert.annotations)
    return next((found[k] for k in keys if found.get(k)), None)


def _measure_line(alert: AlertView) -> str:
    parts = [f"{indicator_phrase(alert.indicator)}: {format_value(alert.value, alert.indicator)}"]
    extra = []
    if alert.threshold is not None:
        extra.append(f"threshold {format_value(alert.threshold, alert.indicator)}")
    if alert.was_value is not None:
        extra.append(f"was {format_value(alert.was_value, alert.indicator)}")
    if extra:
        parts.append(f"({', '.join(extra)})")
    return " ".join(parts)


# --------------------------------------------------------------------------- Slack


def slack_message(notification: Notification) -> dict[str, Any]:
    """``text`` (the notification fallback), top-level ``blocks`` and one coloured attachment."""
    fallback = escape_mrkdwn(f"[{tag(notification)}] {title(notification)}")
    header = {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                         "text": _fit_plain(f"{_emoji(notification)} "
                                                            f"{tag(notification)} · "
                                                            f"{title(notification)}")}}
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(
        escape_mrkdwn(_context_line(notification)))}]}
    budget = MAX_BLOCKS - 2
    if notification.reason == Reason.TEST:
        body = [_section(
            f"This is a *test message* from critmon to receiver "
            f"`{escape_mrkdwn(notification.receiver)}`. No alert is firing because of it.")]
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        body = _digest_blocks(notification.digest, budget)
    else:
        body = _alert_blocks(notification.alerts, budget)
    return {"text": fallback, "blocks": [header, context],
            "attachments": [{"color": _colour(notification), "blocks": body}]}


def _emoji(notification: Notification) -> str:
    if notification.reason == Reason.TEST:
        return ":test_tube:"
    if notification.reason == Reason.DIGEST:
        return ":newspaper:"
    primary = notification.primary
    if primary is None or primary.status == "resolved":
        return ":white_check_mark:"
    return _EMOJI.get(primary.level or "", ":bell:")


def _colour(notification: Notification) -> str:
    primary = notification.primary
    if notification.reason == Reason.TEST or primary is None:
        return "#888888"
    if primary.status == "resolved":
        return _RESOLVED_COLOUR
    return _COLOUR.get(primary.level or "", "#888888")


def _context_line(notification: Notification) -> str:
    if notification.reason == Reason.TEST:
        return f"critmon · test · {_when(notification.created_at)}"
    if notification.reason == Reason.DIGEST:
        return f"critmon · digest for {notification.receiver} · {_when(notification.created_at)}"
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    resolved = len(notification.alerts) - firing
    group = ", ".join(f"{k}={v}" for k, v in notification.group_labels) or "all"
    return (f"critmon · {notification.reason} · {firing} firing, {resolved} resolved · "
            f"group {group} · {_when(notification.created_at)}")


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(mrkdwn)}}


def _alert_blocks(alerts: Sequence[AlertView], budget: int) -> list[dict[str, Any]]:
    ordered = sorted(alerts, key=lambda a: (a.reason is None, a.status != "firing",
                                            -level_rank(a.level), a.mineral, a.alertname))
    detailed = ordered[:DETAILED_MAX]
    rest = ordered[len(detailed):]
    blocks = [_section(_alert_mrkdwn(a)) for a in detailed]
    if rest:
        lines = [_compact_line(a) for a in rest]
        blocks += _packed_sections(f"*{len(rest)} more in this group:*", lines,
                                   budget - len(blocks))
    return blocks


def _alert_mrkdwn(alert: AlertView) -> str:
    level = (alert.level or "alert").upper() if alert.status == "firing" else "RESOLVED"
    emoji = _EMOJI.get(alert.level or "", ":bell:") if alert.status == "firing" \
        else ":white_check_mark:"
    lines = [(f"{emoji} *{escape_mrkdwn(level)} · {escape_mrkdwn(alert.mineral)}* — "
             f"`{escape_mrkdwn(alert.alertname)}` ({escape_mrkdwn(_status_text(alert))})"),
             escape_mrkdwn(_measure_line(alert))]
    summary = _annotation(alert, *_TEXT_KEYS)
    if summary:
        lines.append(escape_mrkdwn(summary))
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        lines.append(f"*Risk breakdown:* {escape_mrkdwn(breakdown)}")
    for key, value in _other_annotations(alert):
        lines.append(f"_{escape_mrkdwn(key)}:_ {escape_mrkdwn(value)}")
    links = [f"<{escape_mrkdwn(url)}|{escape_mrkdwn(urlsplit(url).netloc)}>"
             for url in _links(alert) if "|" not in url]
    tail = []
    if links:
        tail.append("Sources: " + " · ".join(links))
    if alert.as_of:
        tail.append(f"as of {alert.as_of.isoformat()}")
    tail.append(f"fp `{alert.fingerprint[:12]}`")
    lines.append(" · ".join(tail))
    return "\n".join(lines)


def _compact_line(alert: AlertView) -> str:
    level = (alert.level or "alert").upper() if alert.status == "firing" else "RESOLVED"
    return escape_mrkdwn(f"• {level} {alert.mineral} {alert.alertname}: "
                         f"{format_value(alert.value, alert.indicator)} ({_status_text(alert)})")


def _packed_sections(heading: str, lines: Sequence[str], budget: int
                     ) -> list[dict[str, Any]]:
    """Pack lines into as few sections as fit; say how many did not fit in the last one."""
    sections: list[str] = []
    current = heading
    for index, line in enumerate(lines):
        if len(current) + 1 + len(line) <= SECTION_MAX - 80:
            current += "\n" + line
            continue
        if len(sections) + 2 > budget:  # no room for another section: count the rest
            left = len(lines) - index
            current += f"\n…and {left} more not listed here (see `critmon alerts`)"
            break
        sections.append(current)
        current = line
    sections.append(current)
    return [_section(text) for text in sections[:max(budget, 1)]]


def _digest_blocks(digest: Digest, budget: int) -> list[dict[str, Any]]:
    firing = [_compact_line(a) for a in sorted(
        digest.firing, key=lambda a: (-level_rank(a.level), a.mineral, a.alertname))]
    changes = [escape_mrkdwn(_change_text(c)) for c in digest.changes]
    half = max(budget // 2, 1)
    blocks = _packed_sections(f"*Firing now ({len(firing)}):*", firing or ["nothing"], half)
    since = f" since {_when(digest.since)}" if digest.since else ""
    blocks += _packed_sections(f"*Changes{escape_mrkdwn(since)} ({len(changes)}):*",
                               changes or ["none"], budget - len(blocks))
    return blocks


def _change_text(change: Change) -> str:
    level = f" {change.level}" if change.level else ""
    came = f" (from {change.from_level})" if change.from_level and change.kind in (
        "escalated", "deescalated") else ""
    value = f" {format_value(change.value)}" if change.value is not None else ""
    return (f"{_when(change.at)} {change.kind}{level}{came}: {change.mineral} "
            f"{change.alertname}{value}")


def _fit(text: str, limit: int = SECTION_MAX) -> str:
    """Cut mrkdwn to ``limit`` without splitting an escape (``&amp;``) or a link (``<u|l>``)."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    last_open = cut.rfind("<")
    if last_open > cut.rfind(">"):
        cut = cut[:last_open]
    last_amp = cut.rfind("&")
    if last_amp != -1 and ";" not in cut[last_amp:]:
        cut = cut[:last_amp]
    return cut + "…"


def _fit_plain(text: str, limit: int = HEADER_MAX) -> str:
    text = header_safe(text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


# --------------------------------------------------------------------------- email


@dataclass(frozen=True, slots=True)
class EmailContent:
    subject: str
    text: str
    html: str


def email_content(notification: Notification) -> EmailContent:
    """Subject, plain-text part and HTML part (every data string escaped in HTML)."""
    return EmailContent(subject(notification), _email_text(notification),
                        _email_html(notification))


def _email_text(notification: Notification) -> str:
    lines = [f"critmon: {title(notification)}", ""]
    if notification.reason == Reason.TEST:
        lines.append(f"This is a test message from critmon to receiver {notification.receiver}."
                     " No alert is firing because of it.")
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        lines += _digest_text(notification.digest)
    else:
        for alert in notification.alerts:
            lines += [*_alert_text(alert), ""]
    lines += ["--", f"critmon · {notification.reason} · {_when(notification.created_at)}"]
    return "\n".join(lines) + "\n"


def _alert_text(alert: AlertView) -> list[str]:
    level = (alert.level or "alert").upper() if alert.status == "firing" else "RESOLVED"
    lines = [f"[{level}] {alert.mineral} - {alert.alertname} ({_status_text(alert)})",
             f"  {_measure_line(alert)}"]
    summary = _annotation(alert, *_TEXT_KEYS)
    if summary:
        lines.append(f"  {summary}")
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        lines.append(f"  Risk breakdown: {breakdown}")
    lines += [f"  {k}: {v}" for k, v in _other_annotations(alert)]
    lines += [f"  Source: {url}" for url in _links(alert)]
    facts = [f"as of {alert.as_of.isoformat()}" if alert.as_of else "",
             f"since {_when(alert.starts_at)}" if alert.starts_at else "",
             f"fingerprint {alert.fingerprint}"]
    lines.append("  " + " · ".join(f for f in facts if f))
    return lines


def _digest_text(digest: Digest) -> list[str]:
    lines = [f"Firing now ({len(digest.firing)}):"]
    lines += [f"  {_plain_compact(a)}" for a in digest.firing] or ["  nothing"]
    since = f" since {_when(digest.since)}" if digest.since else ""
    lines += ["", f"Changes{since} ({len(digest.changes)}):"]
    lines += [f"  {_change_text(c)}" for c in digest.changes] or ["  none"]
    return [*lines, ""]


def _plain_compact(alert: AlertView) -> str:
    return (f"{(alert.level or 'alert').upper()} {alert.mineral} {alert.alertname}: "
            f"{format_value(alert.value, alert.indicator)}")


def _email_html(notification: Notification) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html><body style=\"font-family:sans-serif\">",
             f"<h2>{esc(subject(notification))}</h2>"]
    if notification.reason == Reason.TEST:
        parts.append(f"<p>This is a <b>test message</b> from critmon to receiver "
                     f"<code>{esc(notification.receiver)}</code>. No alert is firing because "
                     "of it.</p>")
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        parts += _digest_html(notification.digest)
    else:
        parts += [_alert_html(alert) for alert in notification.alerts]
    parts.append(f"<p style=\"color:#888\">critmon · {esc(str(notification.reason))} · "
                 f"{esc(_when(notification.created_at))}</p></body></html>")
    return "\n".join(parts)


def _alert_html(alert: AlertView) -> str:
    esc = html.escape
    level = (alert.level or "alert").upper() if alert.status == "firing" else "RESOLVED"
    colour = _COLOUR.get(alert.level or "", "#888") if alert.status == "firing" \
        else _RESOLVED_COLOUR
    rows = [f"<div style=\"border-left:6px solid {colour};padding-left:8px;margin:12px 0\">",
            (f"<b>[{esc(level)}] {esc(alert.mineral)}</b> — <code>{esc(alert.alertname)}</code> "
            f"({esc(_status_text(alert))})<br>"),
            f"{esc(_measure_line(alert))}<br>"]
    summary = _annotation(alert, *_TEXT_KEYS)
    if summary:
        rows.append(f"{esc(summary)}<br>")
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        rows.append(f"<b>Risk breakdown:</b> {esc(breakdown)}<br>")
    rows += [f"<i>{esc(k)}:</i> {esc(v)}<br>" for k, v in _other_annotations(alert)]
    links = [f"<a href=\"{esc(url, quote=True)}\">{esc(urlsplit(url).netloc)}</a>"
             for url in _links(alert)]
    if links:
        rows.append("Sources: " + " · ".join(links) + "<br>")
    facts = [f"as of {alert.as_of.isoformat()}" if alert.as_of else "",
             f"fingerprint {alert.fingerprint}"]
    rows.append(f"<small>{esc(' · '.join(f for f in facts if f))}</small></div>")
    return "\n".join(rows)


def _digest_html(digest: Digest) -> list[str]:
    esc = html.escape
    firing = "".join(f"<li>{esc(_plain_compact(a))}</li>" for a in digest.firing) \
        or "<li>nothing</li>"
    changes = "".join(f"<li>{esc(_change_text(c))}</li>" for c in digest.changes) \
        or "<li>none</li>"
    since = f" since {_when(digest.since)}" if digest.since else ""
    return [f"<h3>Firing now ({len(digest.firing)})</h3><ul>{firing}</ul>",
            f"<h3>Changes{esc(since)} ({len(digest.changes)})</h3><ul>{changes}</ul>"]


# --------------------------------------------------------------------------- console, JSON


def console_line(notification: Notification) -> str:
    return f"critmon [{tag(notification)}] {title(notification)} " \
           f"({notification.reason} -> {notification.receiver})"


def as_json(notification: Notification) -> dict[str, Any]:
    """The machine-readable form written by the file receiver (one JSON object per line)."""
    return {
        "at": notification.created_at.isoformat(),
        "receiver": notification.receiver,
        "reason": str(notification.reason),
        "key": notification.key,
        "title": title(notification),
        "group": dict(notification.group_labels),
        "alerts": [_alert_json(a) for a in notification.alerts],
        **({"digest": _digest_json(notification.digest)} if notification.digest else {}),
    }


def _alert_json(alert: AlertView) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint, "status": alert.status, "level": alert.level,
        "reason": str(alert.reason) if alert.reason else None,
        "previous_level": alert.previous_level, "value": alert.value, "was": alert.was_value,
        "threshold": alert.threshold, "as_of": alert.as_of.isoformat() if alert.as_of else None,
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "labels": dict(alert.labels), "annotations": dict(alert.annotations),
    }


def _digest_json(digest: Digest) -> dict[str, Any]:
    return {"since": digest.since.isoformat() if digest.since else None,
            "until": digest.until.isoformat(),
            "firing": [_alert_json(a) for a in digest.firing],
            "changes": [{"at": c.at.isoformat(), "kind": c.kind, "mineral": c.mineral,
                         "alertname": c.alertname, "level": c.level} for c in digest.changes]}
