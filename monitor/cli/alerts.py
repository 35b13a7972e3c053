"""CLI commands for alerting: ``alerts``, ``ack``, ``silence add|list|expire``, ``history``,
``notify test|status``. Registered on the ``critmon`` group by :mod:`monitor.cli.main`."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import click

from monitor.alerting.alertmanager_sync import SyncState, sync_states
from monitor.alerting.receivers import build_notifiers, send_test
from monitor.alerting.render import AlertView, data, measure_line
from monitor.alerting.silences import acked_by, silenced_by
from monitor.alerting.state import AlertState
from monitor.alerting.store import AlertStore
from monitor.cli.formatting import FORMATS, render, safe_text
from monitor.config.common import format_duration, parse_duration
from monitor.config.load import Config
from monitor.config.matchers import parse_matcher
from monitor.core.clock import SystemClock
from monitor.core.values import format_pair, format_value
from monitor.store.database import DB_NAME, Store


class _Obj(Protocol):
    """What the ``critmon`` group passes down (monitor.cli.main.Context)."""

    state_dir: Any

    def load_config(self) -> Config: ...

    def open_store(self) -> Store: ...


format_option = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                             show_default=True, help="Output format.")


def _now() -> datetime:
    return SystemClock().now()


def _default_author() -> str | None:
    try:
        return os.environ.get("CRITMON_AUTHOR") or getpass.getuser()
    except (KeyError, OSError):
        return None


def _duration(value: str, what: str) -> timedelta:
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None
    if delta <= timedelta(0):
        raise click.BadParameter("must be positive", param_hint=what)
    return delta


def _short(fp: str | None) -> str:
    return (fp or "")[:12]


# --------------------------------------------------------------------------- alerts


@click.command("alerts")
@click.option("--state", type=click.Choice(["active", "firing", "pending", "resolved", "all"]),
              default="active", show_default=True,
              help="active = firing and pending.")
@format_option
@click.pass_obj
def alerts_command(obj: _Obj, state: str, fmt: str) -> None:
    """List alerts with their state, level, value and whether an ack or silence mutes them.

    The table shows values as messages do (price changes in percent); JSON and CSV keep the
    raw numbers and add ``shown`` and ``summary``, the same text in words.
    """
    now = _now()
    wanted = {"active": ["firing", "pending"], "all": None}.get(state, [state])
    with obj.open_store() as store:
        alerts = AlertStore(store)
        states = alerts.states(wanted)
        acks, silences = alerts.acks(), alerts.silences(include_expired=False, now=now)
    rows = []
    for a in states:
        ack = acked_by(a.fingerprint, a.episode, a.level, acks, now)
        silence = silenced_by(a.all_labels, silences, now)
        rows.append({
            "id": a.id, "fingerprint": _short(a.fingerprint), "state": str(a.state),
            "level": a.level, "alertname": a.alertname, "mineral": a.mineral,
            "indicator": a.indicator, **_values(a, raw=fmt != "table"),
            "since": (a.fired_at or a.active_since).isoformat(timespec="seconds")
            if (a.fired_at or a.active_since) else None,
            "resolved_at": a.resolved_at.isoformat(timespec="seconds") if a.resolved_at
            else None,
            "as_of": a.as_of.isoformat() if a.as_of else None,
            "data": a.data_state,
            "muted": f"ack {ack.id}" if ack else (f"silence {silence.id}" if silence else ""),
            "shown": measure_line(_view(a)),
            "summary": data(dict(a.annotations).get("summary") or "") or None,
        })
    columns = ["id", "fingerprint", "state", "level", "alertname", "mineral", "value",
               "threshold", "since", "as_of", "muted"]
    if state in ("resolved", "all"):
        columns.insert(9, "resolved_at")
    if fmt != "table":
        columns += ["indicator", "data", "shown", "summary"]
    click.echo(render(rows, columns, fmt))


def _values(alert: AlertState, *, raw: bool) -> dict[str, Any]:
    """``value`` and ``threshold``: numbers for JSON/CSV, as messages show them for a table."""
    if raw:
        return {"value": alert.value, "threshold": alert.threshold}
    value, threshold = format_pair(alert.value, alert.threshold, alert.indicator)
    return {"value": value if alert.value is not None else None,
            "threshold": threshold if alert.threshold is not None else None}


def _view(alert: AlertState) -> AlertView:
    """The alert as a message shows it (a pending alert reads like a firing one)."""
    return AlertView(fingerprint=alert.fingerprint, alertname=alert.alertname,
                     mineral=alert.mineral, indicator=alert.indicator,
                     status="resolved" if alert.state == "resolved" else "firing",
                     level=alert.level, value=alert.value, threshold=alert.threshold,
                     as_of=alert.as_of, annotations=alert.annotations)


# --------------------------------------------------------------------------- ack


@click.command("ack")
@click.argument("alert", metavar="FINGERPRINT|ID")
@click.option("--comment", "-c", required=True, help="Why (required, kept in the history).")
@click.option("--author", default=_default_author, show_default="$CRITMON_AUTHOR or $USER",
              help="Who acknowledges.")
@click.option("--expires", metavar="DURATION",
              help="End the ack after e.g. 24h (default: when the alert resolves or escalates).")
@click.pass_obj
def ack_command(obj: _Obj, alert: str, comment: str, author: str | None,
                expires: str | None) -> None:
    """Acknowledge a firing alert: its repeats stop until it escalates or resolves."""
    if not author:
        raise click.UsageError("say who acknowledges: --author NAME")
    if not comment.strip():
        raise click.UsageError("--comment must not be empty")
    now = _now()
    until = now + _duration(expires, "--expires") if expires else None
    with obj.open_store() as store:
        alerts = AlertStore(store)
        try:
            target = alerts.find_alert(alert)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if target.state not in ("firing", "pending"):
            raise click.ClickException(
                f"alert {target.id} ({target.mineral} {target.alertname}) is {target.state}; "
                "only firing or pending alerts can be acknowledged")
        with alerts.transaction():
            ack = alerts.add_ack(alert=target, author=author, comment=comment, now=now,
                                 expires_at=until)
            alerts.append_note(target, "acked", now,
                               f"ack {ack.id} by {author}: {comment}")
    click.echo(safe_text(
        f"acknowledged alert {target.id} ({target.mineral} {target.alertname}, "
        f"{target.level}) as ack {ack.id}: repeats stop until it escalates above "
        f"{target.level} or resolves" + (f", or until {until.isoformat()}" if until else "")))


# --------------------------------------------------------------------------- silences


@click.group("silence")
def silence_group() -> None:
    """Mute notifications for alerts matching labels, for a while."""


@silence_group.command("add")
@click.option("--match", "-m", "matchers", multiple=True, required=True,
              metavar="LABEL=VALUE", help="Matcher (=, !=, =~, !~); repeat to AND several.")
@click.option("--duration", "-d", default="2h", show_default=True, help="e.g. 4h, 7d.")
@click.option("--start", type=click.DateTime(), help="Start later (UTC); default now.")
@click.option("--comment", "-c", required=True, help="Why (required).")
@click.option("--author", default=_default_author, show_default="$CRITMON_AUTHOR or $USER")
@click.pass_obj
def silence_add(obj: _Obj, matchers: tuple[str, ...], duration: str, start: datetime | None,
                comment: str, author: str | None) -> None:
    """Add a silence; prints its id and the alerts it mutes now."""
    if not author:
        raise click.UsageError("say who silences: --author NAME")
    if not comment.strip():
        raise click.UsageError("--comment must not be empty")
    for text in matchers:
        try:
            parse_matcher(text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--match") from None
    now = _now()
    starts = start.replace(tzinfo=UTC) if start else now
    ends = starts + _duration(duration, "--duration")
    with obj.open_store() as store:
        alerts = AlertStore(store)
        with alerts.transaction():
            silence = alerts.add_silence(matchers=matchers, starts_at=starts, ends_at=ends,
                                         created_by=author, comment=comment, now=now)
        muted = [a for a in alerts.states(["firing", "pending"]) if silence.matches(a.all_labels)]
    click.echo(f"silence {silence.id} added: {' '.join(matchers)} until "
               f"{ends.isoformat(timespec='seconds')} ({len(muted)} active alert"
               f"{'s' * (len(muted) != 1)} match now)")
    for a in muted:
        click.echo(safe_text(
            f"  {a.id} {_short(a.fingerprint)} {a.mineral} {a.alertname} {a.level}"))


@silence_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@format_option
@click.pass_obj
def silence_list(obj: _Obj, show_all: bool, fmt: str) -> None:
    """List silences (active and pending; --all adds expired ones)."""
    now = _now()
    with obj.open_store() as store:
        alerts = AlertStore(store)
        silences = alerts.silences(include_expired=show_all, now=now)
        active = alerts.states(["firing", "pending"])
    rows = [{
        "id": s.id, "status": s.status(now), "matchers": " ".join(s.matchers),
        "starts_at": s.starts_at.isoformat(timespec="seconds"),
        "ends_at": s.ends_at.isoformat(timespec="seconds"),
        "left": format_duration(timedelta(seconds=int((s.ends_at - now).total_seconds())))
        if s.status(now) != "expired" else "",
        "created_by": s.created_by, "comment": s.comment,
        "matching": sum(1 for a in active if s.matches(a.all_labels)),
    } for s in silences]
    click.echo(render(rows, ["id", "status", "matchers", "starts_at", "ends_at", "left",
                             "matching", "created_by", "comment"], fmt))


@silence_group.command("expire")
@click.argument("silence_id", type=int, metavar="ID")
@click.pass_obj
def silence_expire(obj: _Obj, silence_id: int) -> None:
    """End a silence now."""
    with obj.open_store() as store:
        alerts = AlertStore(store)
        with alerts.transaction():
            ended = alerts.expire_silence(silence_id, _now())
    if not ended:
        raise click.ClickException(f"no active or pending silence with id {silence_id}")
    click.echo(f"silence {silence_id} expired")


# --------------------------------------------------------------------------- history


def _since(value: str) -> datetime:
    try:
        return _now() - _duration(value, "--since")
    except click.BadParameter:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise click.BadParameter("use a duration (30d) or a date (2026-01-31)",
                                     param_hint="--since") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command("history")
@click.option("--since", default="30d", show_default=True, help="Duration back or a date.")
@click.option("--mineral", help="Only this mineral.")
@click.option("--level", help="Only this level (e.g. high, critical).")
@click.option("--alert", "alertname", help="Only this rule (alertname).")
@click.option("--fingerprint", help="Only this alert (fingerprint prefix).")
@format_option
@click.pass_obj
def history_command(obj: _Obj, since: str, mineral: str | None, level: str | None,
                    alertname: str | None, fingerprint: str | None, fmt: str) -> None:
    """Every state change and every delivery, with its reason (first, repeat_due, escalated,
    resolved, digest; muted by silence, ack or inhibition; retries and failures)."""
    with obj.open_store() as store:
        alerts = AlertStore(store)
        rows = alerts.history(since=_since(since), mineral=mineral, level=level,
                              alertname=alertname, fingerprint=fingerprint)
        indicators = {a.fingerprint: a.indicator for a in alerts.states()}
    for row in rows:
        if fmt == "table" and row["value"] is not None:
            row["value"] = format_value(row["value"], indicators.get(row["fingerprint"], ""))
        row["fingerprint"] = _short(row["fingerprint"])
        row["at"] = row["at"][:19] if fmt == "table" and row["at"] else row["at"]
    columns = ["at", "type", "event", "receiver", "reason", "level", "mineral", "alertname",
               "fingerprint", "value", "detail"]
    click.echo(render(rows, columns, fmt))


# --------------------------------------------------------------------------- notify


@click.group("notify")
def notify_group() -> None:
    """Check the receivers."""


@notify_group.command("test")
@click.argument("receiver")
@click.pass_obj
def notify_test(obj: _Obj, receiver: str) -> None:
    """Send a clearly marked test message to RECEIVER; exit 1 if it fails."""
    config = obj.load_config()
    notifiers = build_notifiers(config, obj.state_dir)
    if receiver not in notifiers:
        raise click.ClickException(f"no receiver {receiver!r}; configured: "
                                   f"{', '.join(notifiers) or 'none'}")
    secrets = [s.get_secret_value() for s in config.secrets.values()]
    path = obj.state_dir / DB_NAME
    url = getattr(obj, "store_url", None)
    store = Store.open(url) if url else Store.open(path) if path.exists() else None
    try:
        ok, detail = send_test(notifiers[receiver], _now(), store=store, secrets=secrets)
    finally:
        if store is not None:
            store.close()
    if not ok:
        click.echo(safe_text(f"test message to {receiver} FAILED: {detail}"), err=True)
        raise SystemExit(1)
    click.echo(safe_text(f"test message to {receiver}: {detail}"))


def with_sync_states(rows: list[dict[str, Any]], states: dict[str, SyncState]
                     ) -> list[dict[str, Any]]:
    """Alertmanager receivers' re-posts and failures, which the delivery log does not keep."""
    by_name = {row["receiver"]: dict(row) for row in rows}
    for receiver, state in states.items():
        row = by_name.setdefault(receiver, {"receiver": receiver, "last_sent_at": None,
                                            "waiting": 0, "failed": 0, "last_failed_at": None,
                                            "last_error": None})
        if state.last_ok_at is not None:
            row["last_sent_at"] = max(filter(None, [row["last_sent_at"],
                                                    state.last_ok_at.isoformat()]))
        if state.failures:
            at = state.next_attempt_at
            row["waiting"] = (row["waiting"] or 0) + 1
            row["last_error"] = (f"{state.failures} failed posts, next at "
                                 f"{at.isoformat(timespec='seconds') if at else '?'}: "
                                 f"{state.last_error}")
    return sorted(by_name.values(), key=lambda row: row["receiver"])


@notify_group.command("status")
@format_option
@click.pass_obj
def notify_status(obj: _Obj, fmt: str) -> None:
    """Per receiver: last message sent, failures, messages waiting for a retry."""
    with obj.open_store() as store:
        rows = with_sync_states(AlertStore(store).receiver_health(), sync_states(store))
    click.echo(render(rows, ["receiver", "last_sent_at", "waiting", "failed",
                             "last_failed_at", "last_error"], fmt))


ALERT_COMMANDS = (alerts_command, ack_command, silence_group, history_command, notify_group)
