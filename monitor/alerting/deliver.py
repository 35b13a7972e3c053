"""The deliver stage (every few seconds): Alertmanager's stages, in order::

    route    current route tree -> (receiver, group) for every firing alert and outbox row
    dedup    per alert, against the notify log: first | escalated | repeat_due | resolved | none
    mute     silence, inhibition, ack  -> recorded once as a muted delivery ("why not?")
    group    group_wait before a group's first message, group_interval between messages
    claim    delivery row 'sending' with an idempotency key, committed BEFORE the send
    send     one thread per receiver (a Slack outage never blocks email), no DB access
    record   sent -> notify log + outbox done | retry at T (backoff, Retry-After) | failed once

A restart sends nothing twice: what was sent is in the notify log, and a message's
idempotency key is unique in the delivery log. The one window left is a crash *during* a send
(after the server accepted, before the row says so): that delivery is retried when its lease
ends, with the same key (and the same mail Message-ID), i.e. at-least-once, as Alertmanager.
Each group is prepared, and each outcome recorded, in its own savepoint: one bad message never
holds up the others.

Alertmanager receivers are not messaged: they are kept in sync with the alert state
(:mod:`monitor.alerting.alertmanager_sync`; posted in their own threads while the messages go
out, recorded after), and their routes and outbox rows are left to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from monitor.alerting import crash_points
from monitor.alerting.alertmanager_sync import alertmanager_receivers, alertmanager_syncs
from monitor.alerting.notifiers.base import (
    RETRY_AFTER_MAX_S,
    Notifier,
    SendResult,
    clean_error,
)
from monitor.alerting.render import AlertView, Change, Digest, Notification, Reason, title
from monitor.alerting.routing import RouteMatch, RouteNode, build_route_tree, match_routes
from monitor.alerting.silences import (
    FiringAlert,
    InhibitRule,
    Mute,
    MuteKind,
    acked_by,
    inhibited_by,
    silenced_by,
)
from monitor.alerting.state import (
    AlertState,
    State,
    level_rank,
)
from monitor.alerting.store import AlertStore, DeliveryItem, DeliveryRow, LogEntry, OutboxRow, iso
from monitor.config.alerting import DeliverySettings, Receiver
from monitor.config.load import Config
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.core.untrusted import bounded_seconds
from monitor.store.database import Store

log = logging.getLogger(__name__)


#: How long a claimed ('sending') delivery is left alone before it counts as crashed.
LEASE = timedelta(minutes=2)

DIGEST_GROUP = "digest"


# =========================================================================== pure decisions


def needs_notification(alert: AlertState, entry: LogEntry | None, *, send_resolved: bool,
                       repeat_interval: timedelta, now: datetime) -> Reason | None:
    """Why ``alert`` should be (re)sent to a receiver whose last message was ``entry``.

    Mirrors Alertmanager's ``needsUpdate``, per alert, with a level: severity is not part of the
    identity here, so a higher level than the receiver last heard is an escalation.
    """
    if alert.state == State.FIRING:
        if entry is None or entry.episode != alert.episode or entry.status != "firing":
            return Reason.FIRST  # never told about this episode
        if level_rank(alert.level) > level_rank(entry.level):
            return Reason.ESCALATED
        if now - entry.sent_at >= repeat_interval:
            return Reason.REPEAT_DUE
        return None
    if (alert.state == State.RESOLVED and send_resolved and entry is not None
            and entry.status == "firing" and entry.episode == alert.episode):
        return Reason.RESOLVED  # only alerts the receiver heard of are announced resolved
    return None


def group_ready_at(entries: Iterable[LogEntry | None], dirty_since: datetime | None,
                   match: RouteMatch, now: datetime, *, flush: bool = False) -> datetime:
    """When a group may send: ``group_wait`` after it formed, then ``group_interval`` apart.

    A group is active while its receiver has been told about a member still considered
    firing; otherwise it is new and waits ``group_wait`` (so inhibiting alerts can arrive and
    blips that resolve meanwhile are never sent). ``flush`` (one-shot runs) skips the wait.
    """
    sent = [e.sent_at for e in entries if e is not None and e.status == "firing"]
    if sent:
        return max(sent) + match.group_interval
    if flush:
        return now
    return (dirty_since or now) + match.group_wait


def backoff(attempt: int, settings: DeliverySettings, rng: random.Random,
            retry_after_s: float | None = None) -> timedelta:
    """Delay before retry number ``attempt`` (1-based).

    A Slack ``Retry-After`` is honoured as given plus up to 10% jitter (never earlier), but
    for at most ``RETRY_AFTER_MAX_S`` (an hour: ``inf``, ``nan`` or ``1e300`` from any notifier
    cannot overflow the retry time); otherwise exponential from ``initial_backoff`` with
    "equal jitter" (half fixed, half random), capped at ``max_backoff``.
    """
    if retry_after_s is not None:
        seconds = bounded_seconds(retry_after_s, maximum=RETRY_AFTER_MAX_S) or 0.0
        return timedelta(seconds=seconds * (1 + 0.1 * rng.random()))
    exponent = min(max(attempt - 1, 0), 40)  # no overflow however many attempts
    base = min(settings.max_backoff.total_seconds(),
               settings.initial_backoff.total_seconds() * 2 ** exponent)
    return timedelta(seconds=base / 2 + base / 2 * rng.random())


def idempotency_key(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# =========================================================================== deliver


@dataclass
class DeliveryReport:
    """What one deliver pass did (counts, plus one outcome per attempted message)."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    muted: int = 0
    waiting: int = 0
    outcomes: list[tuple[str, int, str, str]] = field(default_factory=list)

    def count(self, receiver: str, delivery_id: int, status: str, error: str) -> None:
        """Count one outcome (``sent``, ``retry`` or ``failed``) and keep it."""
        if status == "sent":
            self.sent += 1
        elif status == "retry":
            self.retrying += 1
        else:
            self.failed += 1
        self.outcomes.append((receiver, delivery_id, status, error))

    def __str__(self) -> str:
        return (f"{self.sent} sent, {self.retrying} to retry, {self.failed} failed, "
                f"{self.muted} muted, {self.waiting} waiting")


@dataclass(frozen=True)
class _Decision:
    alert: AlertState
    reason: Reason | None  # None: included as context ("also firing")
    entry: LogEntry | None


@dataclass
class _Group:
    receiver: str
    key: str
    match: RouteMatch | None
    members: list[AlertState] = field(default_factory=list)
    outbox: list[OutboxRow] = field(default_factory=list)


@dataclass
class _Claim:
    delivery_id: int
    receiver: str
    group_key: str
    notification: Notification
    decisions: list[_Decision]
    outbox_ids: list[int]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class _Outcome:
    status: str  # sent | transient | permanent
    result: SendResult | None = None
    error: str = ""
    retry_after_s: float | None = None


@dataclass
class _Plan:
    """Everything the deliver stages read, loaded once per pass."""

    config: Config
    now: datetime
    tree: RouteNode
    receivers: dict[str, Receiver]
    alerts: dict[str, AlertState]
    log: dict[tuple[str, str], LogEntry]
    in_flight: dict[tuple[str, str], DeliveryRow]
    silences: list
    acks: list
    inhibit: list[InhibitRule]
    firing: list[FiringAlert]
    flush: bool
    receiver_hold: dict[str, datetime]


def deliver_pending(store: Store, config: Config, notifiers: Mapping[str, Notifier],
                    now: datetime, *, flush: bool = False,
                    rng: random.Random | None = None) -> DeliveryReport:
    """Run the deliver stages once. ``flush`` treats ``group_wait`` as elapsed (one-shot runs).

    Never raises for a failed send: every receiver is isolated and every outcome recorded.
    Each receiver's outcomes are recorded as soon as its thread is done (a hanging Slack does
    not keep email's "sent" unrecorded), and a message whose recording fails is recorded by
    :func:`_record_fallback` instead, so one bad message never loses the others' records.
    """
    report = DeliveryReport()
    with alertmanager_syncs(store, config, notifiers, now) as synced:
        _deliver_messages(store, config, notifiers, now, flush, rng, report)
    for outcome in synced:
        report.count(outcome.receiver, outcome.delivery_id, outcome.status, outcome.error)
    return report


def _deliver_messages(store: Store, config: Config, notifiers: Mapping[str, Notifier],
                      now: datetime, flush: bool, rng: random.Random | None,
                      report: DeliveryReport) -> None:
    """Route, dedup, mute, group, claim, send and record the receivers' messages."""
    alerts = AlertStore(store)
    digests = any(r.digest is not None for r in config.alerting.receivers)
    if not digests and not alerts.has_delivery_work():
        return  # the usual idle tick: no write lock taken
    with alerts.transaction():
        _schedule_digests(alerts, config, now)
        plan = _load_plan(alerts, config, now, flush)
        claims = _claim_all(alerts, plan, report)
    if claims:
        crash_points.reached("claimed")
    rng = rng or random.Random()
    for batch in send_all(claims, notifiers):
        with alerts.transaction():
            for claim, outcome in batch:
                _record_isolated(alerts, config, claim, outcome, now, rng, report)


def _load_plan(alerts: AlertStore, config: Config, now: datetime, flush: bool) -> _Plan:
    states = alerts.load_states()
    firing = [FiringAlert(a.fingerprint, a.all_labels) for a in states.values()
              if a.state == State.FIRING]
    in_flight = alerts.in_flight()
    return _Plan(config=config, now=now, tree=build_route_tree(config.alerting.route),
                 receivers={r.name: r for r in config.alerting.receivers
                            if r.config.kind != "alertmanager"},  # synced, not messaged
                 alerts=states,
                 log=alerts.notify_log(), in_flight=in_flight,
                 silences=alerts.silences(include_expired=False, now=now), acks=alerts.acks(),
                 inhibit=[InhibitRule.from_config(r) for r in config.alerting.inhibit_rules],
                 firing=firing, flush=flush, receiver_hold=receiver_holds(in_flight, now))


def receiver_holds(in_flight: Mapping[tuple[str, str], DeliveryRow], now: datetime
                   ) -> dict[str, datetime]:
    """Receivers backing off, and until when: the latest retry time of their deliveries.

    While a receiver is unavailable or rate limited (a 429's Retry-After), none of its groups
    is sent, not even new ones; when the hold ends, everything queued goes out oldest first,
    so messages arrive in the order they fired.
    """
    holds: dict[str, datetime] = {}
    for (receiver, _), flight in in_flight.items():
        at = flight.next_attempt_at
        if flight.status == "retry" and at is not None and at > now:
            holds[receiver] = max(at, holds.get(receiver, at))
    return holds


def _held(plan: _Plan, receiver: str, report: DeliveryReport) -> bool:
    if plan.receiver_hold.get(receiver, plan.now) > plan.now:
        report.waiting += 1
        return True
    return False


def _claim_all(alerts: AlertStore, plan: _Plan, report: DeliveryReport) -> list[_Claim]:
    synced = {r.name for r in alertmanager_receivers(plan.config)}
    outbox = [row for row in alerts.pending_outbox() if row.receiver not in synced]
    groups, orphans = _build_groups(outbox, plan)
    for row, note in orphans:
        alerts.close_outbox([row.id], plan.now, note=note)
    claims = []
    for group in groups.values():
        claim = _claim_isolated(alerts, plan, group, report)
        if claim is not None:
            claims.append(claim)
    for key, flight in plan.in_flight.items():
        # A retry whose receiver or group is gone (config changed, nothing left to say).
        if key not in groups and _flight_due(flight, plan.now):
            alerts.finish(flight.id, "superseded", plan.now, error="receiver or group gone")
    return claims


def _claim_isolated(alerts: AlertStore, plan: _Plan, group: _Group, report: DeliveryReport
                    ) -> _Claim | None:
    """Claim one group in its own savepoint: a bug preparing one message (rendering hostile
    text, say) leaves that group's work pending and logged, and the other groups go out."""
    try:
        with alerts.savepoint():
            if group.key == DIGEST_GROUP:
                return _claim_digest(alerts, plan, group, report)
            return _claim_group(alerts, plan, group, report)
    except Exception as exc:  # noqa: BLE001 - one group must not stop the pass
        log.error("cannot prepare the message to %s for group %s (%s); it stays queued",
                  group.receiver, clean_error(group.key, (), limit=120),
                  type(exc).__name__)
        report.waiting += 1
        return None


def _build_groups(outbox: Sequence[OutboxRow], plan: _Plan
                  ) -> tuple[dict[tuple[str, str], _Group], list[tuple[OutboxRow, str]]]:
    """Route every firing alert and every alert with pending outbox rows; attach the rows."""
    with_rows = {row.fingerprint for row in outbox if row.fingerprint}
    groups: dict[tuple[str, str], _Group] = {}
    by_alert: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for alert in plan.alerts.values():
        if alert.state != State.FIRING and alert.fingerprint not in with_rows:
            continue
        if alert.state not in (State.FIRING, State.RESOLVED):
            continue
        labels = alert.all_labels
        for match in match_routes(plan.tree, labels):
            if match.receiver not in plan.receivers:
                continue
            key = (match.receiver, match.group_key(labels))
            group = groups.setdefault(key, _Group(match.receiver, key[1], match))
            group.members.append(alert)
            by_alert[(match.receiver, alert.fingerprint)].append(key)
    orphans = []
    for row in outbox:
        if row.reason == Reason.DIGEST:
            key = (row.receiver, DIGEST_GROUP)
            groups.setdefault(key, _Group(row.receiver, DIGEST_GROUP, None)).outbox.append(row)
            continue
        keys = by_alert.get((row.receiver, row.fingerprint or ""), [])
        if not keys:
            orphans.append((row, "alert no longer routed here or no longer firing"))
        for key in keys:
            groups[key].outbox.append(row)
    return groups, orphans


def _claim_group(alerts: AlertStore, plan: _Plan, group: _Group, report: DeliveryReport
                 ) -> _Claim | None:
    receiver = plan.receivers[group.receiver]
    row_ids = [row.id for row in group.outbox]
    if receiver.digest is not None and not receiver.digest.immediate:
        alerts.close_outbox(row_ids, plan.now, note="digest-only receiver")
        return None
    flight = plan.in_flight.get((group.receiver, group.key))
    if flight is not None and not _flight_due(flight, plan.now):
        report.waiting += 1
        return None
    if _held(plan, group.receiver, report):
        return None
    assert group.match is not None
    decisions, context = _decide(alerts, plan, group, receiver, report)
    if not decisions:
        alerts.close_outbox(row_ids, plan.now, note="nothing to send")
        if flight is not None:
            alerts.finish(flight.id, "superseded", plan.now, error="nothing left to send")
        return None
    entries = [e for a in group.members
               if (e := plan.log.get((group.receiver, a.fingerprint))) is not None
               and e.episode == a.episode]
    dirty = min((row.created_at for row in group.outbox), default=None) or min(
        (d.alert.fired_at or plan.now for d in decisions), default=None)
    if group_ready_at(entries, dirty, group.match, plan.now, flush=plan.flush) > plan.now:
        report.waiting += 1
        return None
    key = idempotency_key(group.receiver, group.key, sorted(
        (d.alert.fingerprint, d.alert.episode, str(d.alert.state), d.alert.level or "",
         str(d.reason), iso(d.entry.sent_at) if d.entry else "") for d in decisions))
    done = alerts.delivery_by_key(key)
    if done is not None and (flight is None or done.id != flight.id):
        # Already sent (or failed for good) by an earlier pass or another process.
        alerts.close_outbox(row_ids, plan.now, note=f"already {done.status}",
                            delivery_id=done.id)
        if flight is not None:
            alerts.finish(flight.id, "superseded", plan.now, error=f"same as #{done.id}")
        return None
    notification = _notification(plan, group, decisions + context, key,
                                 attempt=(flight.attempts + 1) if flight else 1)
    items = [DeliveryItem(d.alert.fingerprint, d.alert.alertname, d.alert.mineral,
                          d.alert.level, "firing" if d.alert.state == State.FIRING
                          else "resolved", str(d.reason) if d.reason else "context",
                          d.alert.episode) for d in decisions + context]
    delivery_id = alerts.claim(key=key, receiver=group.receiver, group_key=group.key,
                               kind="alert", reason=str(_overall_reason(decisions)),
                               now=plan.now, lease_until=plan.now + LEASE,
                               title=title(notification), items=items, existing=flight)
    return _Claim(delivery_id, group.receiver, group.key, notification, decisions + context,
                  row_ids, (flight.attempts + 1) if flight else 1,
                  flight.created_at if flight else plan.now)


def _flight_due(flight: DeliveryRow, now: datetime) -> bool:
    if flight.status == "retry":
        return flight.next_attempt_at is None or flight.next_attempt_at <= now
    return flight.lease_until is None or flight.lease_until <= now  # 'sending' that crashed


def _decide(alerts: AlertStore, plan: _Plan, group: _Group, receiver: Receiver,
            report: DeliveryReport) -> tuple[list[_Decision], list[_Decision]]:
    """Dedup and mute each member; return (to send with a reason, firing context)."""
    assert group.match is not None
    decisions, quiet = [], []
    reasons = []
    for alert in group.members:
        entry = plan.log.get((group.receiver, alert.fingerprint))
        reasons.append((alert, entry, needs_notification(
            alert, entry, send_resolved=receiver.send_resolved,
            repeat_interval=group.match.repeat_interval, now=plan.now)))
    if all(reason is None for _, _, reason in reasons):
        return [], []  # the usual idle pass: no silence or inhibition to look up
    for alert, entry, reason in reasons:
        mute = _mute(plan, alert, reason)
        if reason is not None and mute is not None:
            if _record_mute(alerts, plan, group, alert, reason, entry, mute):
                report.muted += 1
            continue
        if reason is not None:
            decisions.append(_Decision(alert, reason, entry))
        elif alert.state == State.FIRING and mute is None:
            quiet.append(_Decision(alert, None, entry))
    return decisions, quiet if decisions else []


def _mute(plan: _Plan, alert: AlertState, reason: Reason | None) -> Mute | None:
    labels = alert.all_labels
    silence = silenced_by(labels, plan.silences, plan.now)
    if silence is not None:
        return Mute(MuteKind.SILENCE, str(silence.id))
    if alert.state == State.FIRING:
        source = inhibited_by(FiringAlert(alert.fingerprint, labels), plan.firing,
                              plan.inhibit)
        if source is not None:
            return Mute(MuteKind.INHIBIT, source.fingerprint)
        if reason != Reason.RESOLVED:
            ack = acked_by(alert.fingerprint, alert.episode, alert.level, plan.acks, plan.now)
            if ack is not None:
                return Mute(MuteKind.ACK, str(ack.id))
    return None


def _record_mute(alerts: AlertStore, plan: _Plan, group: _Group, alert: AlertState,
                 reason: Reason, entry: LogEntry | None, mute: Mute) -> bool:
    """One muted row per (alert, reason, slot, cause): the history answers "why not?"."""
    key = idempotency_key("mute", group.receiver, alert.fingerprint, alert.episode,
                          alert.level, str(reason), iso(entry.sent_at) if entry else "",
                          str(mute))
    status = "firing" if alert.state == State.FIRING else "resolved"
    item = DeliveryItem(alert.fingerprint, alert.alertname, alert.mineral, alert.level, status,
                        str(reason), alert.episode)
    recorded = alerts.record_mute(key=key, receiver=group.receiver, group_key=group.key,
                                  reason=str(reason), mute=mute, item=item, now=plan.now)
    if recorded:
        log.info("notification to %s muted by %s: %s %s (%s)", group.receiver, mute,
                 alert.alertname, alert.mineral, reason)
    return recorded


def _overall_reason(decisions: Sequence[_Decision]) -> Reason:
    order = (Reason.ESCALATED, Reason.FIRST, Reason.RESOLVED, Reason.REPEAT_DUE)
    present = {d.reason for d in decisions}
    return next(r for r in order if r in present)


def _notification(plan: _Plan, group: _Group, decisions: Sequence[_Decision], key: str, *,
                  attempt: int) -> Notification:
    assert group.match is not None
    views = tuple(_view(d) for d in decisions)
    labels = group.match.group_labels(decisions[0].alert.all_labels) if decisions else {}
    threads = [d.entry.thread_ref for d in decisions
               if d.entry is not None and d.entry.thread_ref
               and d.entry.episode == d.alert.episode]
    return Notification(receiver=group.receiver, reason=_overall_reason(
        [d for d in decisions if d.reason is not None]), key=key, created_at=plan.now,
        alerts=views, group_labels=tuple(sorted(labels.items())),
        thread_ref=threads[0] if threads else None, attempt=attempt)


def _view(decision: _Decision) -> AlertView:
    alert, entry = decision.alert, decision.entry
    heard = entry is not None and entry.episode == alert.episode
    was = entry.value if heard and entry is not None else alert.previous_value
    return AlertView(
        fingerprint=alert.fingerprint, alertname=alert.alertname, mineral=alert.mineral,
        indicator=alert.indicator,
        status="firing" if alert.state == State.FIRING else "resolved", level=alert.level,
        previous_level=entry.level if heard and entry is not None else None,
        value=alert.value, was_value=was, threshold=alert.threshold, as_of=alert.as_of,
        starts_at=alert.fired_at, ends_at=alert.resolved_at, reason=decision.reason,
        labels=tuple(sorted(alert.all_labels.items())), annotations=alert.annotations,
        alert_id=alert.id)


# --------------------------------------------------------------------------- digests


def next_slots(crontab: str, timezone: str, after: datetime, now: datetime,
               limit: int = 10_000) -> datetime | None:
    """The latest schedule slot in ``(after, now]`` (missed slots coalesce), or None."""
    trigger = CronTrigger.from_crontab(crontab, timezone=ZoneInfo(timezone))
    slot, latest = after, None
    for _ in range(limit):
        candidate = trigger.get_next_fire_time(None, slot + timedelta(seconds=1))
        if candidate is None or candidate > now:
            break
        latest = slot = candidate
    return latest.astimezone(UTC) if latest else None


def _schedule_digests(alerts: AlertStore, config: Config, now: datetime) -> None:
    """At each receiver's digest slot, put a digest row in the outbox (once per slot)."""
    for receiver in config.alerting.receivers:
        if receiver.digest is None:
            continue
        last = alerts.digest_slot(receiver.name)
        if last is None:  # first sight of this receiver: the first digest is the next slot
            alerts.set_digest_slot(receiver.name, now)
            continue
        slot = next_slots(receiver.digest.crontab, receiver.digest.timezone, last, now)
        if slot is None:
            continue
        alerts.set_digest_slot(receiver.name, slot)
        alerts.add_outbox(created_at=now, receiver=receiver.name, group_key=DIGEST_GROUP,
                          reason=str(Reason.DIGEST),
                          payload={"since": iso(last), "until": iso(slot)})


def _claim_digest(alerts: AlertStore, plan: _Plan, group: _Group, report: DeliveryReport
                  ) -> _Claim | None:
    receiver = plan.receivers.get(group.receiver)
    flight = plan.in_flight.get((group.receiver, DIGEST_GROUP))
    if receiver is None or receiver.digest is None:
        alerts.close_outbox([r.id for r in group.outbox], plan.now, note="no digest configured")
        return None
    if flight is not None and not _flight_due(flight, plan.now):
        report.waiting += 1
        return None
    if _held(plan, group.receiver, report):
        return None
    row = group.outbox[0]
    window = (flight.payload if flight is not None and flight.payload else row.payload) or {}
    digest = _digest(alerts, plan, group.receiver,
                     datetime.fromisoformat(window["since"]) if window.get("since") else None,
                     datetime.fromisoformat(window["until"]))
    if not digest.firing and not digest.changes and not receiver.digest.send_empty:
        alerts.close_outbox([row.id], plan.now, note="empty digest not sent")
        return None
    key = idempotency_key("digest", group.receiver, window.get("since"), window["until"])
    notification = Notification(receiver=group.receiver, reason=Reason.DIGEST, key=key,
                                created_at=plan.now, digest=digest,
                                attempt=(flight.attempts + 1) if flight else 1)
    delivery_id = alerts.claim(key=key, receiver=group.receiver, group_key=DIGEST_GROUP,
                               kind="digest", reason=str(Reason.DIGEST), now=plan.now,
                               lease_until=plan.now + LEASE, title=title(notification),
                               items=[], existing=flight, payload=window)
    return _Claim(delivery_id, group.receiver, DIGEST_GROUP, notification, [], [row.id],
                  (flight.attempts + 1) if flight else 1,
                  flight.created_at if flight else plan.now)


def _digest(alerts: AlertStore, plan: _Plan, receiver: str, since: datetime | None,
            until: datetime) -> Digest:
    """What is firing for this receiver now, and what changed in (since, until]."""

    def routed(alert: AlertState) -> bool:
        return any(m.receiver == receiver for m in match_routes(plan.tree, alert.all_labels))

    firing = tuple(_view(_Decision(a, None, None)) for a in plan.alerts.values()
                   if a.state == State.FIRING and routed(a)
                   and silenced_by(a.all_labels, plan.silences, plan.now) is None)
    kinds = {"fired", "escalated", "deescalated", "resolved"}
    changes = tuple(
        Change(at=datetime.fromisoformat(e["at"]), kind=e["kind"], mineral=e["mineral"],
               alertname=e["alertname"], level=e["level"], from_level=e["from_level"],
               value=e["value"], indicator=e["indicator"] or "")
        for e in alerts.events_since(since, until)
        if e["kind"] in kinds and e["fingerprint"] in plan.alerts
        and routed(plan.alerts[e["fingerprint"]]))
    return Digest(since=since, until=until, firing=firing, changes=changes)


# --------------------------------------------------------------------------- send


def send_all(claims: Sequence[_Claim], notifiers: Mapping[str, Notifier]
             ) -> Iterator[list[tuple[_Claim, _Outcome]]]:
    """Send every claim; each receiver in its own thread, its messages oldest first.

    Yields each receiver's outcomes as soon as that receiver is done, in the caller's thread
    (which owns the database connection).
    """
    by_receiver: dict[str, list[_Claim]] = defaultdict(list)
    for claim in sorted(claims, key=lambda c: (c.created_at, c.delivery_id)):
        by_receiver[claim.receiver].append(claim)
    if len(by_receiver) <= 1:
        for name, batch in by_receiver.items():
            yield _send_safely(notifiers.get(name), batch)
        return
    with ThreadPoolExecutor(max_workers=len(by_receiver),
                            thread_name_prefix="critmon-send") as pool:
        futures = [pool.submit(_send_safely, notifiers.get(name), batch)
                   for name, batch in by_receiver.items()]
        for future in as_completed(futures):
            yield future.result()


def _send_safely(notifier: Notifier | None, claims: Sequence[_Claim]
                 ) -> list[tuple[_Claim, _Outcome]]:
    """:func:`_send_receiver`, with any bug in it a transient failure of its claims only."""
    try:
        return _send_receiver(notifier, claims)
    except Exception as exc:  # noqa: BLE001 - never let one receiver end the pass
        log.error("sending to %s raised %s", getattr(notifier, "name", "?"),
                  type(exc).__name__)
        failure = _Outcome("transient", error=f"unexpected {type(exc).__name__}")
        return [(claim, failure) for claim in claims]


def _send_receiver(notifier: Notifier | None, claims: Sequence[_Claim]
                   ) -> list[tuple[_Claim, _Outcome]]:
    results: list[tuple[_Claim, _Outcome]] = []
    unavailable: _Outcome | None = None
    for claim in claims:
        if notifier is None:
            results.append((claim, _Outcome("permanent", error="no notifier for receiver")))
            continue
        if unavailable is not None:
            # The receiver failed transiently (or said 429): later messages wait with it, so
            # nothing overtakes the message that failed and the receiver is not hammered.
            results.append((claim, _Outcome("transient", error="not attempted: receiver "
                                            f"unavailable ({unavailable.error})",
                                            retry_after_s=unavailable.retry_after_s)))
            continue
        results.append((claim, send_one(notifier, claim.notification)))
        if results[-1][1].status == "transient":
            unavailable = results[-1][1]
    return results


def send_one(notifier: Notifier, notification: Notification) -> _Outcome:
    """Send one message and classify the result; never raises."""
    try:
        return _Outcome("sent", result=notifier.send(notification))
    except TransientDeliveryError as exc:
        return _Outcome("transient", error=str(exc), retry_after_s=exc.retry_after_s)
    except PermanentDeliveryError as exc:
        return _Outcome("permanent", error=str(exc))
    except DeliveryError as exc:
        return _Outcome("transient", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a notifier bug must not stop the other receivers
        log.error("notifier %s raised %s", getattr(notifier, "name", "?"), type(exc).__name__)
        return _Outcome("transient", error=f"unexpected {type(exc).__name__}")


# --------------------------------------------------------------------------- record


def _record_isolated(alerts: AlertStore, config: Config, claim: _Claim, outcome: _Outcome,
                     now: datetime, rng: random.Random, report: DeliveryReport) -> None:
    """Record one outcome in its own savepoint; if that fails, record the fallback instead."""
    try:
        with alerts.savepoint():
            _record(alerts, config, claim, outcome, now, rng, report)
        return
    except Exception as exc:  # noqa: BLE001 - one message's bug must not lose the others
        problem = f"{type(exc).__name__}: {clean_error(exc, _secrets(config), limit=120)}"
    log.error("delivery #%d to %s: recording the outcome failed (%s)", claim.delivery_id,
              claim.receiver, problem)
    try:
        with alerts.savepoint():
            _record_fallback(alerts, config, claim, outcome, now, problem, report)
    except Exception as exc:  # noqa: BLE001 - the lease ends and the message is retried
        log.error("delivery #%d to %s: cannot record anything (%s); it is retried when its "
                  "lease ends", claim.delivery_id, claim.receiver, type(exc).__name__)


def _record_fallback(alerts: AlertStore, config: Config, claim: _Claim, outcome: _Outcome,
                     now: datetime, problem: str, report: DeliveryReport) -> None:
    """The least that keeps the outbox's promises when :func:`_record` failed.

    Sent stays sent (a resend would be a duplicate); a transient failure is retried after
    ``max_backoff``; a permanent one is failed. The error says what went wrong in recording.
    """
    what = f"recording failed: {problem}"
    error = clean_error(f"{outcome.error} ({what})" if outcome.error else what, _secrets(config))
    if outcome.status == "sent":
        alerts.finish(claim.delivery_id, "sent", now, error=error)
        alerts.close_outbox(claim.outbox_ids, now, note="sent", delivery_id=claim.delivery_id)
        with contextlib.suppress(Exception), alerts.savepoint():  # repeats keep their schedule
            for decision in claim.decisions:
                _remember(alerts, claim, decision, None, now)
        _tally(alerts, claim, report, "sent", error, now)
    elif outcome.status == "transient":
        at = now + config.alerting.delivery.max_backoff
        alerts.finish(claim.delivery_id, "retry", now, error=error, next_attempt_at=at)
        _tally(alerts, claim, report, "retry", error, now, at)
    else:
        alerts.finish(claim.delivery_id, "failed", now, error=error)
        alerts.close_outbox(claim.outbox_ids, now, note="failed", delivery_id=claim.delivery_id)
        _tally(alerts, claim, report, "failed", error, now)


def _secrets(config: Config) -> list[str]:
    return [s.get_secret_value() for s in config.secrets.values()]


def _tally(alerts: AlertStore, claim: _Claim, report: DeliveryReport, status: str, error: str,
           now: datetime, next_attempt_at: datetime | None = None) -> None:
    """Keep the attempt in the delivery's history and count it in the pass's report."""
    alerts.record_attempt(claim.delivery_id, attempt=claim.attempts, at=now, outcome=status,
                          error=error or None, next_attempt_at=next_attempt_at)
    report.count(claim.receiver, claim.delivery_id, status, error)


def _record(alerts: AlertStore, config: Config, claim: _Claim, outcome: _Outcome,
            now: datetime, rng: random.Random, report: DeliveryReport) -> None:
    error = clean_error(outcome.error, _secrets(config))
    if outcome.status == "sent":
        ref = outcome.result.ref if outcome.result else None
        alerts.finish(claim.delivery_id, "sent", now, message_ref=ref)
        for decision in claim.decisions:
            _remember(alerts, claim, decision, ref, now)
        alerts.close_outbox(claim.outbox_ids, now, note="sent", delivery_id=claim.delivery_id)
        _tally(alerts, claim, report, "sent", "", now)
        return
    settings = config.alerting.delivery
    if outcome.status == "transient" and now - claim.created_at < settings.give_up_after:
        at = now + backoff(claim.attempts, settings, rng, outcome.retry_after_s)
        alerts.finish(claim.delivery_id, "retry", now, error=error, next_attempt_at=at)
        log.warning("delivery #%d to %s failed (attempt %d), retrying at %s: %s",
                    claim.delivery_id, claim.receiver, claim.attempts, at.isoformat(), error)
        _tally(alerts, claim, report, "retry", error, now, at)
        return
    if outcome.status == "transient":
        error = f"gave up after {claim.attempts} attempts: {error}"
    alerts.finish(claim.delivery_id, "failed", now, error=error)
    alerts.close_outbox(claim.outbox_ids, now, note="failed", delivery_id=claim.delivery_id)
    log.error("delivery #%d to %s failed for good: %s", claim.delivery_id, claim.receiver,
              error)
    _tally(alerts, claim, report, "failed", error, now)


def _remember(alerts: AlertStore, claim: _Claim, decision: _Decision, ref: str | None,
              now: datetime) -> None:
    """Write the notify-log entry: what this receiver now knows about the alert."""
    alert, entry = decision.alert, decision.entry
    same_episode = entry is not None and entry.episode == alert.episode
    thread = entry.thread_ref if same_episode and entry is not None and entry.thread_ref \
        else ref
    alerts.save_log_entry(LogEntry(
        receiver=claim.receiver, fingerprint=alert.fingerprint, group_key=claim.group_key,
        episode=alert.episode, status="firing" if alert.state == State.FIRING else "resolved",
        level=alert.level, value=alert.value, sent_at=now,
        reason=str(decision.reason) if decision.reason else "context",
        delivery_id=claim.delivery_id, thread_ref=thread))
