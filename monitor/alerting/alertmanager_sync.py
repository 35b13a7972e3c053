"""Alertmanager receivers: a state sync, not a queue of messages.

A Slack or email receiver gets *messages* (one per group, grouped, repeated, muted by
critmon). An Alertmanager receiver gets *the state of every alert routed to it*, the way
Prometheus hands its alerts over, and Alertmanager does the grouping, silencing, inhibition,
repeating and routing to people itself. So this stage does not use the outbox as a message
queue; it compares two durable things on every deliver pass:

    desired   from ``alert_state``: every alert routed to the receiver that is firing; every
              alert Alertmanager last accepted as firing that no longer is (resolved, pending
              again, no longer routed here), as resolved; and resolved alerts for
              ``resolved_retention`` (Prometheus keeps re-sending resolved alerts for 15
              minutes, for members that missed the first post)
    known     from ``notify_log``: what Alertmanager last *accepted* for each alert (episode,
              firing/resolved, level), written only after a successful post

and posts the whole desired set when they differ (a new episode, a resolve, a level change)
or when ``resend_interval`` (1 minute, Prometheus' resend delay) has passed since the last
accepted post. Firing alerts carry ``endsAt`` = now + ``valid_for`` (4 resend intervals by
default), resolved ones ``endsAt`` = when they resolved.

Why this never loses a resolve and never leaves a stale firing alert:

* a resolve is a state (``alert_state`` says resolved, ``notify_log`` says Alertmanager knows
  it firing), written by the evaluation's transaction; it is re-posted on every due pass until
  a post is accepted. A crash before, during or after a POST, a restart, a failed or refused
  POST: the next pass sees the same difference and posts again (posting an alert twice is
  harmless: Alertmanager merges alerts with the same labels);
* a firing alert Alertmanager holds ends by itself ``valid_for`` after the last accepted post,
  so if critmon stops for good, is cut off, or the alert is deleted or re-routed in critmon,
  Alertmanager resolves it within ``valid_for``; an alert no longer routed to the receiver,
  or whose level (a label) changed, is posted resolved under the labels Alertmanager knows;
* outbox rows the evaluation wrote for the receiver are closed only by the accepted post that
  carried their change.

A change (new, escalated, resolved) that was accepted is kept in the delivery log like any
delivery (``notify history``); the plain re-posts are not (one a minute would drown it): the
receiver's last post, failures and error are in the store's ``meta`` table
(``alertmanager_sync.<receiver>``) and in the log.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from monitor.alerting.notifiers.base import RETRY_AFTER_MAX_S, Notifier, SendResult, clean_error
from monitor.alerting.render import AlertView, Notification, Reason, title
from monitor.alerting.routing import RouteNode, build_route_tree, match_routes
from monitor.alerting.state import AlertState, State, level_rank
from monitor.alerting.store import AlertStore, DeliveryItem, LogEntry, OutboxRow, iso, parse_dt
from monitor.config.alerting import AlertmanagerReceiver, Receiver
from monitor.config.load import Config
from monitor.core.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError
from monitor.core.untrusted import bounded_seconds
from monitor.store.database import Store

log = logging.getLogger(__name__)

SYNC_GROUP = "alertmanager"
META_PREFIX = "alertmanager_sync."


# =========================================================================== state


@dataclass
class SyncState:
    """Per receiver, in ``meta``: the last accepted post and the failures since."""

    last_ok_at: datetime | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None

    def to_json(self) -> str:
        return json.dumps({k: iso(v) if isinstance(v, datetime) else v
                           for k, v in asdict(self).items()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> SyncState:
        try:
            raw = json.loads(text) if text else {}
            return cls(last_ok_at=parse_dt(raw.get("last_ok_at")),
                       last_attempt_at=parse_dt(raw.get("last_attempt_at")),
                       next_attempt_at=parse_dt(raw.get("next_attempt_at")),
                       failures=int(raw.get("failures") or 0),
                       last_error=raw.get("last_error"))
        except (ValueError, TypeError, AttributeError):
            return cls()  # unreadable: post now, which is always safe


def sync_state(store: Store, receiver: str) -> SyncState:
    return SyncState.from_json(store.get_meta(META_PREFIX + receiver))


@dataclass(frozen=True, slots=True)
class SyncItem:
    """One alert as Alertmanager should see it, and what changed since it last did."""

    view: AlertView
    alert: AlertState
    change: Reason | None  # None: a re-post of what Alertmanager already has
    record: bool = True  # False: a retraction of old labels (no notify-log entry of its own)


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    receiver: str
    status: str  # sent | retry | failed
    alerts: int
    error: str = ""
    delivery_id: int = 0


# =========================================================================== pure decisions


def _view(alert: AlertState, status: str, *, level: str | None = None,
          ends_at: datetime | None = None) -> AlertView:
    labels = tuple((k, v) for k, v in alert.labels if k not in ("severity", "level"))
    return AlertView(
        fingerprint=alert.fingerprint, alertname=alert.alertname, mineral=alert.mineral,
        indicator=alert.indicator, status=status, level=level or alert.level,
        value=alert.value, was_value=alert.previous_value, threshold=alert.threshold,
        as_of=alert.as_of, starts_at=alert.fired_at or alert.active_since,
        ends_at=ends_at if ends_at is not None else alert.resolved_at, labels=labels,
        annotations=alert.annotations, alert_id=alert.id)


def desired_alerts(receiver: str, spec: AlertmanagerReceiver, tree: RouteNode,
                   states: Mapping[str, AlertState],
                   known: Mapping[tuple[str, str], LogEntry], now: datetime) -> list[SyncItem]:
    """What Alertmanager should hold for ``receiver`` now (see the module doc)."""
    items: list[SyncItem] = []
    for alert in sorted(states.values(), key=lambda a: a.fingerprint):
        entry = known.get((receiver, alert.fingerprint))
        heard_firing = entry is not None and entry.status == "firing"
        if alert.state not in (State.FIRING, State.RESOLVED) and not heard_firing:
            continue
        routed = any(m.receiver == receiver for m in match_routes(tree, alert.all_labels))
        if alert.state == State.FIRING and routed:
            items.append(SyncItem(_view(alert, "firing"), alert, _firing_change(alert, entry)))
        elif heard_firing and entry is not None:
            # Resolved, pending again (resolved and re-started while Alertmanager was not
            # told), or no longer routed here: Alertmanager's copy must end.
            ends = alert.resolved_at if alert.state == State.RESOLVED else now
            view = _view(alert, "resolved", ends_at=ends or now)
            if entry.episode:
                view = replace(view, starts_at=datetime.fromisoformat(entry.episode))
            items.append(SyncItem(view, alert, Reason.RESOLVED))
        elif (alert.state == State.RESOLVED and routed and alert.resolved_at is not None
              and now - alert.resolved_at < spec.resolved_retention):
            items.append(SyncItem(_view(alert, "resolved"), alert, None))
        if heard_firing and entry is not None and entry.level != alert.level:
            # The level is a label: Alertmanager holds the old labels as another alert.
            items.append(SyncItem(_view(alert, "resolved", level=entry.level, ends_at=now),
                                  alert, Reason.RESOLVED, record=False))
    return items


def _firing_change(alert: AlertState, entry: LogEntry | None) -> Reason | None:
    if entry is None or entry.status != "firing" or entry.episode != alert.episode:
        return Reason.FIRST
    if entry.level != alert.level:
        return Reason.ESCALATED if level_rank(alert.level) > level_rank(entry.level) \
            else Reason.FIRST
    return None


def is_due(items: Sequence[SyncItem], state: SyncState, spec: AlertmanagerReceiver,
           now: datetime) -> bool:
    """Post now? Something changed, or ``resend_interval`` passed; never while backing off."""
    if not items:
        return False
    if state.next_attempt_at is not None and now < state.next_attempt_at:
        return False
    if any(item.change is not None for item in items):
        return True
    return state.last_ok_at is None or now - state.last_ok_at >= spec.resend_interval


def retry_delay(failures: int, spec: AlertmanagerReceiver, initial: timedelta,
                retry_after_s: float | None) -> timedelta:
    """After a failed post: the member's ``Retry-After`` (capped at an hour), else
    exponential from ``initial``, never longer than ``resend_interval``."""
    if retry_after_s is not None:
        return timedelta(seconds=bounded_seconds(retry_after_s, maximum=RETRY_AFTER_MAX_S)
                         or 0.0)
    exponent = min(max(failures - 1, 0), 20)
    return min(spec.resend_interval, initial * 2 ** exponent)


def _key(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


# =========================================================================== the stage


def alertmanager_receivers(config: Config) -> list[Receiver]:
    return [r for r in config.alerting.receivers if r.config.kind == "alertmanager"]


@dataclass(frozen=True)
class SyncPlan:
    """One due post: everything read from the store before it, so it can run in a thread."""

    receiver: Receiver
    notifier: Notifier | None
    notification: Notification
    items: tuple[SyncItem, ...]
    rows: tuple[OutboxRow, ...]
    state: SyncState


def plan_syncs(store: Store, config: Config, notifiers: Mapping[str, Notifier],
               now: datetime) -> list[SyncPlan]:
    """The posts due now, one per Alertmanager receiver at most (store access: this thread)."""
    receivers = alertmanager_receivers(config)
    if not receivers:
        return []
    alerts = AlertStore(store)
    states = alerts.load_states()
    known = alerts.notify_log()
    names = {r.name for r in receivers}
    rows = [row for row in alerts.pending_outbox() if row.receiver in names]
    tree = build_route_tree(config.alerting.route)
    plans = []
    for receiver in receivers:
        try:
            plan = _plan_one(alerts, receiver, notifiers.get(receiver.name), tree, states,
                             known, [r for r in rows if r.receiver == receiver.name], now)
        except Exception as exc:  # noqa: BLE001 - one receiver's bug must not stop the pass
            log.error("alertmanager %s: cannot prepare the post (%s); it is tried again "
                      "next pass", receiver.name, type(exc).__name__)
            continue
        if plan is not None:
            plans.append(plan)
    return plans


def _plan_one(alerts: AlertStore, receiver: Receiver, notifier: Notifier | None,
              tree: RouteNode, states: Mapping[str, AlertState],
              known: Mapping[tuple[str, str], LogEntry], rows: Sequence[OutboxRow],
              now: datetime) -> SyncPlan | None:
    spec = receiver.config
    assert isinstance(spec, AlertmanagerReceiver)
    items = desired_alerts(receiver.name, spec, tree, states, known, now)
    if not items:
        if rows:
            with alerts.transaction():
                alerts.close_outbox([r.id for r in rows], now,
                                    note="nothing for Alertmanager to hear")
        return None
    state = sync_state(alerts.store, receiver.name)
    if not is_due(items, state, spec, now):
        return None
    changes = [i for i in items if i.change is not None]
    notification = Notification(
        receiver=receiver.name,
        reason=_overall(changes), key=_key(SYNC_GROUP, receiver.name, iso(now)),
        created_at=now, alerts=tuple(i.view for i in items))
    return SyncPlan(receiver, notifier, notification, tuple(items), tuple(rows), state)


def post_sync(plan: SyncPlan) -> SendResult | DeliveryError:
    """Send one planned post; never raises (no store access: any thread)."""
    name = plan.receiver.name
    try:
        if plan.notifier is None:
            raise PermanentDeliveryError("no notifier for receiver", receiver=name)
        return plan.notifier.send(plan.notification)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - a notifier bug is a failure, not a crash
        log.error("alertmanager %s: the notifier raised %s", name, type(exc).__name__)
        return TransientDeliveryError(f"unexpected {type(exc).__name__}", receiver=name)


def record_sync(store: Store, config: Config, plan: SyncPlan,
                result: SendResult | DeliveryError, now: datetime) -> SyncOutcome:
    """Record one post's outcome (store access: the planning thread)."""
    alerts = AlertStore(store)
    if isinstance(result, DeliveryError):
        return _failed(alerts, config, plan.receiver, plan.state, result, plan.notification,
                       plan.items, now)
    return _accepted(alerts, plan.receiver, plan.notification, plan.items, plan.rows, result,
                     plan.state, now)


@contextmanager
def alertmanager_syncs(store: Store, config: Config, notifiers: Mapping[str, Notifier],
                       now: datetime) -> Iterator[list[SyncOutcome]]:
    """Plan the due posts, send them in threads while the body runs (the other receivers'
    messages: a slow Alertmanager holds up nobody), record them when it ends.

    The yielded list holds the outcomes once the ``with`` block is left.
    """
    outcomes: list[SyncOutcome] = []
    plans = plan_syncs(store, config, notifiers, now)
    if not plans:
        yield outcomes
        return
    with ThreadPoolExecutor(max_workers=len(plans), thread_name_prefix="critmon-am") as pool:
        futures = [(plan, pool.submit(post_sync, plan)) for plan in plans]
        try:
            yield outcomes
        finally:
            for plan, future in futures:
                try:
                    outcomes.append(record_sync(store, config, plan, future.result(), now))
                except Exception as exc:  # noqa: BLE001 - the next pass posts again
                    log.error("alertmanager %s: recording the post failed (%s); the next "
                              "pass posts again", plan.receiver.name, type(exc).__name__)


def sync_alertmanagers(store: Store, config: Config, notifiers: Mapping[str, Notifier],
                       now: datetime) -> list[SyncOutcome]:
    """Post to every Alertmanager receiver that is due and record the outcomes."""
    with alertmanager_syncs(store, config, notifiers, now) as outcomes:
        pass
    return outcomes


def _overall(changes: Sequence[SyncItem]) -> Reason:
    present = {i.change for i in changes}
    for reason in (Reason.ESCALATED, Reason.FIRST, Reason.RESOLVED):
        if reason in present:
            return reason
    return Reason.REPEAT_DUE


def _accepted(alerts: AlertStore, receiver: Receiver, notification: Notification,
              items: Sequence[SyncItem], rows: Sequence[OutboxRow], result: SendResult,
              state: SyncState, now: datetime) -> SyncOutcome:
    """Record what Alertmanager now holds, in one transaction."""
    changes = [i for i in items if i.change is not None]
    delivery_id = 0
    with alerts.transaction():
        if changes:
            delivery_id = _log_delivery(alerts, receiver.name, notification, changes, now,
                                        status="sent", ref=result.ref,
                                        detail=result.detail)
        for item in items:
            if item.record:
                _remember(alerts, receiver.name, item, delivery_id or None, now)
        alerts.close_outbox([r.id for r in rows], now, note="sent",
                            delivery_id=delivery_id or None)
        if state.failures:
            log.info("alertmanager %s: posts accepted again after %d failures",
                     receiver.name, state.failures)
        new = SyncState(last_ok_at=now, last_attempt_at=now)
        alerts.store.set_meta(META_PREFIX + receiver.name, new.to_json())
    if changes:
        log.info("alertmanager %s: posted %d alerts (%d changed): %s", receiver.name,
                 len(items), len(changes), result.ref or "")
    return SyncOutcome(receiver.name, "sent", len(items), result.detail, delivery_id)


def _log_delivery(alerts: AlertStore, receiver: str, notification: Notification,
                  changes: Sequence[SyncItem], now: datetime, *, status: str,
                  ref: str | None = None, detail: str = "") -> int:
    """A change Alertmanager accepted (``sent``) or refused for good (``failed``), once, in
    the delivery log: ``notify history``, ``notify status``, ``critmon health`` and the
    failed-deliveries self-alert see it like any other delivery."""
    key = _key(SYNC_GROUP if status == "sent" else "alertmanager-refused", receiver, sorted(
        (i.alert.fingerprint, i.alert.episode, i.view.status, i.view.level or "")
        for i in changes))
    done = alerts.delivery_by_key(key)
    if done is not None:
        return done.id
    items = [DeliveryItem(i.alert.fingerprint, i.alert.alertname, i.alert.mineral,
                          i.view.level, i.view.status, str(i.change), i.alert.episode)
             for i in changes if i.record]
    delivery_id = alerts.claim(key=key, receiver=receiver, group_key=SYNC_GROUP, kind="alert",
                               reason=str(notification.reason), now=now, lease_until=now,
                               title=title(replace(notification, alerts=tuple(
                                   i.view for i in changes))), items=items)
    alerts.finish(delivery_id, status, now, message_ref=ref, error=detail or None)
    alerts.record_attempt(delivery_id, attempt=1, at=now, outcome=status,
                          error=detail or None)
    return delivery_id


def _remember(alerts: AlertStore, receiver: str, item: SyncItem, delivery_id: int | None,
              now: datetime) -> None:
    alert = item.alert
    alerts.save_log_entry(LogEntry(
        receiver=receiver, fingerprint=alert.fingerprint, group_key=SYNC_GROUP,
        episode=alert.episode, status=item.view.status, level=item.view.level,
        value=alert.value, sent_at=now, reason=str(item.change or Reason.REPEAT_DUE),
        delivery_id=delivery_id))


def _failed(alerts: AlertStore, config: Config, receiver: Receiver, state: SyncState,
            exc: DeliveryError, notification: Notification, items: Sequence[SyncItem],
            now: datetime) -> SyncOutcome:
    """Nothing is marked known: the same difference is posted again when the wait is over.

    A refusal (permanent) is also kept once per change set as a failed delivery, so it shows
    where failed deliveries show; the sync still tries again every ``resend_interval``.
    """
    spec = receiver.config
    assert isinstance(spec, AlertmanagerReceiver)
    secrets = [s.get_secret_value() for s in config.secrets.values()]
    error = clean_error(exc, secrets, limit=600)
    failures = state.failures + 1
    permanent = isinstance(exc, PermanentDeliveryError)
    if permanent:
        wait = spec.resend_interval
    else:
        wait = retry_delay(failures, spec, config.alerting.delivery.initial_backoff,
                           getattr(exc, "retry_after_s", None))
    at = now + wait
    new = SyncState(last_ok_at=state.last_ok_at, last_attempt_at=now, next_attempt_at=at,
                    failures=failures, last_error=error)
    changes = [i for i in items if i.change is not None]
    delivery_id = 0
    with alerts.transaction():
        alerts.store.set_meta(META_PREFIX + receiver.name, new.to_json())
        if permanent and changes:
            delivery_id = _log_delivery(alerts, receiver.name, notification, changes, now,
                                        status="failed", detail=error)
    kind = "refused for good" if permanent else "failed"
    if permanent or error != state.last_error or failures in (1, 10, 100):
        (log.error if permanent else log.warning)(
            "alertmanager %s: post of %d alerts %s (failure %d), next try at %s: %s",
            receiver.name, len(items), kind, failures, at.isoformat(timespec="seconds"),
            error)
    return SyncOutcome(receiver.name, "failed" if permanent else "retry", len(items), error,
                       delivery_id)


def sync_states(store: Store) -> dict[str, SyncState]:
    """Every Alertmanager receiver's sync state, by receiver name (``notify status``,
    ``/metrics``)."""
    rows = store.db.query("SELECT key, value FROM meta WHERE key LIKE ?", [META_PREFIX + "%"])
    return {row["key"][len(META_PREFIX):]: SyncState.from_json(row["value"]) for row in rows}
