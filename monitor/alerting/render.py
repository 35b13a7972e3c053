"""What a notification says, for each medium: pure functions of a :class:`Notification`.

Every piece of text that came from a feed, a source or a config file is *data*. It first loses
its control and bidi characters (:func:`monitor.untrusted.clean_text`), then gets each medium's
escaping:

- Slack: data goes in ``plain_text`` text objects, which Slack never formats; Slack's three
  control characters (``&``, ``<``, ``>``) are escaped as its docs require for every text
  object, so ``<!channel>`` shows as text and pings nobody. Slack documents no escape for
  ``*``, ``_``, ``~`` or backticks, so the few names that sit inside our own ``mrkdwn`` (the
  mineral and rule of a heading) get a WORD JOINER (U+2060, invisible) on both sides of each
  of these characters outside a word, which then can neither open nor close a span (whether
  Slack takes the joiner for a letter or for a space); every ``mrkdwn`` object
  is ``verbatim`` (no automatic linking of URLs, channels or mentions). Slack clients also
  link URLs, addresses and domain names they find in text, so ``://``, ``@`` and the dot of a
  domain get a WORD JOINER too: ``admin@evil.example`` shows as written, unlinked. Source
  links are built by us, labelled with the URL's host (never its user-info part).
- email: HTML-escaped in the HTML part; CR/LF removed from headers.

Slack's limits are respected (header 150 characters, section text 3,000, 50 blocks per
message): a long group is summarised, never dropped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from monitor.alerting.state import level_rank
from monitor.core.untrusted import clean_text, strip_controls
from monitor.core.values import format_pair, format_value

HEADER_MAX = 150
SECTION_MAX = 3000
MAX_BLOCKS = 50
DETAILED_MAX = 20
SUBJECT_MAX = 200
DATA_MAX = 2000  # the longest piece of outside text shown (an annotation, a label)
BLOCKS_PER_ALERT = 3  # heading (mrkdwn), data (plain_text), context (links, as of, fp)
WORD_JOINER = "\u2060"


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
    indicator: str = ""


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


def data(text: object, limit: int | None = DATA_MAX) -> str:
    """Outside text made fit to show: no control or bidi characters, one line, bounded."""
    return clean_text(text, limit=limit)


_LINKABLE = re.compile(r"(?<=:)(?=//)|(?<=@)|(?<=[A-Za-z0-9]\.)(?=[A-Za-z])")
#: A formatting character that could open or close a span: not inside a word (``snake_case``
#: is left alone, so a rule name copied from a message still works on the command line).
_FORMATTING = re.compile(r"(?<![A-Za-z0-9])[*_~`]|[*_~`](?![A-Za-z0-9])")


def _unlinkable(text: str) -> str:
    """A WORD JOINER after ``:`` of ``://``, after ``@`` and after a domain's dot."""
    return _LINKABLE.sub(WORD_JOINER, text)


def slack_plain(text: object) -> str:
    """Text for a Slack ``plain_text`` object: shown as written, never formatted or linked."""
    return escape_mrkdwn(_unlinkable(data(text)))


def slack_name(text: object) -> str:
    """A name (mineral, rule, receiver) inside our own ``mrkdwn``: it can neither format,
    ping nor link (see the module docstring)."""
    inert = _FORMATTING.sub(lambda m: f"{WORD_JOINER}{m.group()}{WORD_JOINER}", data(text))
    return escape_mrkdwn(_unlinkable(inert))


def header_safe(text: str) -> str:
    """One line for a mail header: CR, LF and other control characters become spaces."""
    return data(re.sub(r"[\x00-\x1f\x7f]", " ", text), None)


def indicator_phrase(indicator: str) -> str:
    return " + ".join(data(part.strip().replace("_", " ")) for part in indicator.split(","))


def tag(notification: Notification) -> str:
    """The bracketed word of a subject: TEST, DIGEST, RESOLVED or the top level."""
    if notification.reason in (Reason.TEST, Reason.DIGEST):
        return notification.reason.upper()
    primary = notification.primary
    if primary is None or primary.status == "resolved":
        return "RESOLVED"
    return data(primary.level or "alert").upper()


def headline(alert: AlertView) -> str:
    """``gallium supply risk 81 (was 62)``: what a reader needs in one line."""
    if alert.value is None:
        return f"{data(alert.mineral)} {data(alert.alertname).replace('_', ' ')}"
    shown = format_value(alert.value, alert.indicator)
    was = ""
    if alert.was_value is not None and format_value(alert.was_value, alert.indicator) != shown:
        was = f" (was {format_value(alert.was_value, alert.indicator)})"
    return f"{data(alert.mineral)} {indicator_phrase(alert.indicator)} {shown}{was}"


_ALL_RESOLVED = "Resolved: "


def title(notification: Notification) -> str:
    """The one-line title: the mail subject, the Slack header, the console, the history.

    A group that holds resolved alerts says so: ``Resolved: ...`` when all are resolved,
    ``2 firing, 1 resolved: ...`` when mixed (the headline's own state counted first).
    """
    if notification.reason == Reason.TEST:
        return f"test message from critmon to {data(notification.receiver)}"
    if notification.reason == Reason.DIGEST and notification.digest is not None:
        digest = notification.digest
        since = f" since {_when(digest.since)}" if digest.since else ""
        return (f"{len(digest.firing)} firing, {len(digest.changes)} "
                f"change{'s' * (len(digest.changes) != 1)}{since}")
    primary = notification.primary
    if primary is None:
        return "no alerts"
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    resolved = len(notification.alerts) - firing
    more = len(notification.alerts) - 1
    if firing and resolved:
        counts = (f"{resolved} resolved, {firing} firing" if primary.status == "resolved"
                  else f"{firing} firing, {resolved} resolved")
        return f"{counts}: {headline(primary)}"
    prefix = _ALL_RESOLVED if resolved else ""
    return prefix + headline(primary) + (f" (+{more} more)" if more > 0 else "")


def tagged_title(notification: Notification) -> str:
    """``[CRITICAL] ...``: the title after its tag."""
    return f"[{tag(notification)}] {_title_after_tag(notification)}"


def _title_after_tag(notification: Notification) -> str:
    """The title, without saying "resolved" twice after a RESOLVED tag."""
    text = title(notification)
    return text.removeprefix(_ALL_RESOLVED) if tag(notification) == "RESOLVED" else text


def subject(notification: Notification) -> str:
    """``[critmon][CRITICAL] gallium supply risk 81 (was 62)``, one line, capped."""
    text = header_safe(f"[critmon]{tagged_title(notification)}")
    return text if len(text) <= SUBJECT_MAX else text[:SUBJECT_MAX - 1] + "…"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def _status_text(alert: AlertView) -> str:
    if alert.status == "resolved":
        return "resolved"
    if alert.reason == Reason.ESCALATED and alert.previous_level:
        return f"escalated from {data(alert.previous_level)}"
    if alert.reason is None:
        return "also firing"
    return _REASON_TEXT[alert.reason]


def _level_word(alert: AlertView) -> str:
    return data(alert.level or "alert").upper() if alert.status == "firing" else "RESOLVED"


def _links(alert: AlertView) -> list[tuple[str, str]]:
    """(URL, host) of every web URL in a link annotation; the host is the link's label."""
    links: dict[str, str] = {}
    for key, value in alert.annotations:
        if _LINK_KEYS.search(key):
            for token in data(value).split():
                host = _web_host(token)
                if host:
                    links.setdefault(token, host)
    return list(links.items())


def _web_host(text: str) -> str | None:
    """The host of an http(s) URL (never its user-info part: ``a.gov@evil.example`` is
    ``evil.example``), or None."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return None
    return host if parts.scheme in ("http", "https") and host else None


def _other_annotations(alert: AlertView) -> list[tuple[str, str]]:
    """Annotations without a place of their own; the non-URL text of link annotations too."""
    skip = {*_TEXT_KEYS, *_BREAKDOWN_KEYS, *_HIDDEN_KEYS}
    found = []
    for key, value in alert.annotations:
        if key in skip:
            continue
        value = data(value)
        if _LINK_KEYS.search(key):
            value = " ".join(token for token in value.split() if not _web_host(token))
        if value:
            found.append((data(key, 100), value))
    return found


def _annotation(alert: AlertView, *keys: str) -> str | None:
    found = dict(alert.annotations)
    text = next((found[k] for k in keys if found.get(k)), None)
    return data(text) if text is not None else None


def summary_text(alert: AlertView) -> str | None:
    """The alert's summary; for a resolved alert it is history, and says so."""
    summary = _annotation(alert, *_TEXT_KEYS)
    if summary and alert.status == "resolved":
        return f"When it fired: {summary}"
    return summary


def measure_line(alert: AlertView) -> str:
    """``price change 3m: +50% (threshold +30%, was +22%)``.

    A resolved alert shows its value at resolution: ``now +12%, back below +60% (was +63%)``.
    """
    value, threshold = format_pair(alert.value, alert.threshold, alert.indicator)
    extra = []
    if alert.status == "resolved":
        shown = _resolution(alert, value, threshold)
    else:
        shown = value
        if alert.threshold is not None:
            extra.append(f"threshold {threshold}")
    if alert.was_value is not None:
        extra.append(f"was {format_value(alert.was_value, alert.indicator)}")
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"{indicator_phrase(alert.indicator)}: {shown}{tail}"


def _resolution(alert: AlertView, value: str, threshold: str) -> str:
    if alert.value is None:
        return "no current value"
    if alert.threshold is None:
        return f"now {value}"
    side = ("back below" if alert.value < alert.threshold
            else "back above" if alert.value > alert.threshold else "back at")
    return f"now {value}, {side} {threshold}"


# --------------------------------------------------------------------------- Slack


def slack_message(notification: Notification) -> dict[str, Any]:
    """``text`` (the notification fallback), top-level ``blocks`` and one coloured attachment.

    Outside text is only ever in ``plain_text`` objects; ``mrkdwn`` objects hold our own markup
    around names made inert (:func:`slack_name`) and are ``verbatim``.
    """
    fallback = slack_name(tagged_title(notification))
    header = {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": _fit(
        slack_plain(f"{_emoji(notification)} {tag(notification)} · "
                    f"{_title_after_tag(notification)}"), HEADER_MAX)}}
    context = {"type": "context", "elements": [_plain(_context_line(notification))]}
    budget = MAX_BLOCKS - 2
    if notification.reason == Reason.TEST:
        body = [_section(
            f"This is a *test message* from critmon to receiver "
            f"`{slack_name(notification.receiver)}`. No alert is firing because of it.")]
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
        return (f"critmon · digest for {data(notification.receiver)} · "
                f"{_when(notification.created_at)}")
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    resolved = len(notification.alerts) - firing
    group = ", ".join(f"{data(k)}={data(v)}" for k, v in notification.group_labels) or "all"
    return (f"critmon · {notification.reason} · {firing} firing, {resolved} resolved · "
            f"group {group} · {_when(notification.created_at)}")


def _section(mrkdwn: str) -> dict[str, Any]:
    """A section of our own markup; names in it went through :func:`slack_name`."""
    return {"type": "section", "text": _mrkdwn(mrkdwn)}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _fit(text), "verbatim": True}


def _plain(text: str) -> dict[str, Any]:
    """A ``plain_text`` object: Slack shows it as written, never formatted."""
    return {"type": "plain_text", "text": _fit(_plain_lines(text)), "emoji": False}


def _plain_lines(text: str) -> str:
    """:func:`slack_plain` for each line of ``text`` (the lines are ours)."""
    return "\n".join(slack_plain(line) for line in text.split("\n"))


def _alert_blocks(alerts: Sequence[AlertView], budget: int) -> list[dict[str, Any]]:
    ordered = sorted(alerts, key=lambda a: (a.reason is None, a.status != "firing",
                                            -level_rank(a.level), a.mineral, a.alertname))
    room = budget if len(ordered) * BLOCKS_PER_ALERT <= budget else budget - 1
    detailed = ordered[:min(DETAILED_MAX, room // BLOCKS_PER_ALERT)]
    rest = ordered[len(detailed):]
    blocks = [block for a in detailed for block in _alert_detail(a)]
    if rest:
        lines = [_compact_line(a) for a in rest]
        blocks += _packed_sections(f"*{len(rest)} more in this group:*", lines,
                                   budget - len(blocks))
    return blocks


def _alert_detail(alert: AlertView) -> list[dict[str, Any]]:
    """Three blocks: a heading (our markup), the data (plain text), links and facts."""
    emoji = _EMOJI.get(alert.level or "", ":bell:") if alert.status == "firing" \
        else ":white_check_mark:"
    heading = (f"{emoji} *{slack_name(_level_word(alert))} · {slack_name(alert.mineral)}* — "
               f"`{slack_name(alert.alertname)}` ({slack_name(_status_text(alert))})")
    lines = [measure_line(alert)]
    summary = summary_text(alert)
    if summary:
        lines.append(summary)
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        lines.append(f"Risk breakdown: {breakdown}")
    lines += [f"{key}: {value}" for key, value in _other_annotations(alert)]
    links = [_slack_link(url, host) for url, host in _links(alert) if "|" not in url]
    facts = []
    if links:
        facts.append("Sources: " + " · ".join(links))
    if alert.as_of:
        facts.append(f"as of {alert.as_of.isoformat()}")
    facts.append(f"fp `{slack_name(alert.fingerprint[:12])}`")
    return [_section(heading), {"type": "section", "text": _plain("\n".join(lines))},
            {"type": "context", "elements": [_mrkdwn(" · ".join(facts))]}]


def _slack_link(url: str, host: str) -> str:
    """``<url|host>``: the label is the URL's real host, inert like any name."""
    label = _FORMATTING.sub(lambda m: f"{WORD_JOINER}{m.group()}{WORD_JOINER}", host)
    return f"<{escape_mrkdwn(url)}|{escape_mrkdwn(label)}>"


def _compact_line(alert: AlertView) -> str:
    return slack_name(f"• {_plain_compact(alert)} ({_status_text(alert)})")


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
    changes = [slack_name(_change_text(c)) for c in digest.changes]
    half = max(budget // 2, 1)
    blocks = _packed_sections(f"*Firing now ({len(firing)}):*", firing or ["nothing"], half)
    since = f" since {_when(digest.since)}" if digest.since else ""
    blocks += _packed_sections(f"*Changes{since} ({len(changes)}):*",
                               changes or ["none"], budget - len(blocks))
    return blocks


def _change_text(change: Change) -> str:
    level = f" {data(change.level)}" if change.level else ""
    came = f" (from {data(change.from_level)})" if change.from_level and change.kind in (
        "escalated", "deescalated") else ""
    value = f" {format_value(change.value, change.indicator)}" if change.value is not None \
        else ""
    return (f"{_when(change.at)} {data(change.kind)}{level}{came}: {data(change.mineral)} "
            f"{data(change.alertname)}{value}")


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
        lines.append(f"This is a test message from critmon to receiver "
                     f"{data(notification.receiver)}. No alert is firing because of it.")
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        lines += _digest_text(notification.digest)
    else:
        for alert in notification.alerts:
            lines += [*_alert_text(alert), ""]
    lines += ["--", f"critmon · {notification.reason} · {_when(notification.created_at)}"]
    return "\n".join(lines) + "\n"


def _alert_text(alert: AlertView) -> list[str]:
    head = (f"[{_level_word(alert)}] {data(alert.mineral)} - {data(alert.alertname)} "
            f"({_status_text(alert)})")
    lines = [head, f"  {measure_line(alert)}"]
    summary = summary_text(alert)
    if summary:
        lines.append(f"  {summary}")
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        lines.append(f"  Risk breakdown: {breakdown}")
    lines += [f"  {k}: {v}" for k, v in _other_annotations(alert)]
    lines += [f"  Source: {url}" for url, _ in _links(alert)]
    facts = [f"as of {alert.as_of.isoformat()}" if alert.as_of else "",
             f"since {_when(alert.starts_at)}" if alert.starts_at else "",
             f"fingerprint {data(alert.fingerprint)}"]
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
    return (f"{_level_word(alert)} {data(alert.mineral)} {data(alert.alertname)}: "
            f"{format_value(alert.value, alert.indicator)}")


def _email_html(notification: Notification) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html><body style=\"font-family:sans-serif\">",
             f"<h2>{esc(subject(notification))}</h2>"]
    if notification.reason == Reason.TEST:
        parts.append(f"<p>This is a <b>test message</b> from critmon to receiver "
                     f"<code>{esc(data(notification.receiver))}</code>. No alert is firing "
                     "because of it.</p>")
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        parts += _digest_html(notification.digest)
    else:
        parts += [_alert_html(alert) for alert in notification.alerts]
    parts.append(f"<p style=\"color:#888\">critmon · {esc(str(notification.reason))} · "
                 f"{esc(_when(notification.created_at))}</p></body></html>")
    return "\n".join(parts)


def _alert_html(alert: AlertView) -> str:
    esc = html.escape
    colour = _COLOUR.get(alert.level or "", "#888") if alert.status == "firing" \
        else _RESOLVED_COLOUR
    rows = [f"<div style=\"border-left:6px solid {colour};padding-left:8px;margin:12px 0\">",
            (f"<b>[{esc(_level_word(alert))}] {esc(data(alert.mineral))}</b> — "
             f"<code>{esc(data(alert.alertname))}</code> ({esc(_status_text(alert))})<br>"),
            f"{esc(measure_line(alert))}<br>"]
    summary = summary_text(alert)
    if summary:
        rows.append(f"{esc(summary)}<br>")
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        rows.append(f"<b>Risk breakdown:</b> {esc(breakdown)}<br>")
    rows += [f"<i>{esc(k)}:</i> {esc(v)}<br>" for k, v in _other_annotations(alert)]
    links = [f"<a href=\"{esc(url, quote=True)}\">{esc(host)}</a>" for url, host in _links(alert)]
    if links:
        rows.append("Sources: " + " · ".join(links) + "<br>")
    facts = [f"as of {alert.as_of.isoformat()}" if alert.as_of else "",
             f"fingerprint {data(alert.fingerprint)}"]
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
    return (f"critmon {tagged_title(notification)} "
            f"({notification.reason} -> {data(notification.receiver)})")


def as_json(notification: Notification) -> dict[str, Any]:
    """The machine-readable form written by the file receiver (one JSON object per line).

    Values stay raw numbers; ``shown`` is how a message shows them (price changes in percent).
    Strings lose their control and bidi characters.
    """
    return {
        "at": notification.created_at.isoformat(),
        "receiver": notification.receiver,
        "reason": str(notification.reason),
        "key": notification.key,
        "title": title(notification),
        "group": _clean_pairs(notification.group_labels),
        "alerts": [_alert_json(a) for a in notification.alerts],
        **({"digest": _digest_json(notification.digest)} if notification.digest else {}),
    }


def _clean_pairs(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    return {strip_controls(k): strip_controls(v) for k, v in pairs}


def _alert_json(alert: AlertView) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint, "status": alert.status, "level": alert.level,
        "reason": str(alert.reason) if alert.reason else None,
        "previous_level": alert.previous_level, "value": alert.value, "was": alert.was_value,
        "threshold": alert.threshold, "shown": measure_line(alert),
        "as_of": alert.as_of.isoformat() if alert.as_of else None,
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "labels": _clean_pairs(alert.labels), "annotations": _clean_pairs(alert.annotations),
    }


def _digest_json(digest: Digest) -> dict[str, Any]:
    return {"since": digest.since.isoformat() if digest.since else None,
            "until": digest.until.isoformat(),
            "firing": [_alert_json(a) for a in digest.firing],
            "changes": [{"at": c.at.isoformat(), "kind": c.kind, "mineral": c.mineral,
                         "alertname": c.alertname, "level": c.level, "value": c.value,
                         "shown": format_value(c.value, c.indicator)}
                        for c in digest.changes]}
