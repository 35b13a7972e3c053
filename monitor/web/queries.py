"""What each console page shows, read from the state database (no recomputation).

Every value comes from what the daemon stored at its last evaluations (``risk_scores``,
``indicator_values``, ``alert_state``, ``alert_events``, ``news_items``, ``source_state``), so a
page costs a few indexed queries whatever the size of the history.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from monitor.alerting.routing import build_route_tree, match_routes
from monitor.alerting.silences import FiringAlert, InhibitRule, acked_by, inhibited_by, silenced_by
from monitor.alerting.state import AlertState, level_rank
from monitor.alerting.store import AlertStore
from monitor.backtest.events import Event, bundled_events_text, parse_events
from monitor.config.common import format_duration
from monitor.config.load import Config
from monitor.core.values import format_pair
from monitor.ops.health import source_health_rows
from monitor.rules.evaluate import effective_rule_rows, effective_rules
from monitor.store.database import Store

SPARK_MONTHS = 24
PRICE_RULE_INDICATORS = ("price_change_3m", "price_change_1m", "price_change_12m")


# --------------------------------------------------------------------------- overview


def latest_scores(store: Store, perspective: str = "us") -> dict[str, dict[str, Any]]:
    """Each mineral's last stored score row under ``perspective`` (the economy scored)."""
    return {row["mineral"]: row for row in store.db.query(
        "SELECT mineral, as_of, evaluated_at, score, level, confidence, method, factors, missing"
        " FROM risk_scores WHERE id IN (SELECT MAX(id) FROM risk_scores WHERE perspective = ?"
        " GROUP BY mineral)", [perspective])}


def score_histories(store: Store, since: date | None = None, mineral: str | None = None,
                    perspective: str = "us") -> dict[str, list[tuple[date, float]]]:
    """Per mineral, the last stored score of each evaluated date under ``perspective``,
    oldest first."""
    where, params = ["score IS NOT NULL", "perspective = ?"], [perspective]
    if since is not None:
        where.append("as_of >= ?")
        params.append(since.isoformat())
    if mineral is not None:
        where.append("mineral = ?")
        params.append(mineral)
    rows = store.db.execute(
        "SELECT mineral, as_of, score FROM risk_scores WHERE id IN (SELECT MAX(id) FROM "
        f"risk_scores WHERE {' AND '.join(where)} GROUP BY mineral, as_of) "
        "ORDER BY mineral, as_of", params).fetchall()
    found: dict[str, list[tuple[date, float]]] = {}
    for name, as_of, score in rows:
        found.setdefault(name, []).append((date.fromisoformat(as_of), score))
    return found


def monthly(points: Sequence[tuple[date, float]]) -> list[tuple[date, float]]:
    """The last point of each month (a sparkline's resolution)."""
    by_month: dict[tuple[int, int], tuple[date, float]] = {}
    for point in points:
        by_month[(point[0].year, point[0].month)] = point
    return [by_month[k] for k in sorted(by_month)]


def firing_by_mineral(store: Store) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in store.db.query("SELECT id, mineral, alertname, level FROM alert_state "
                              "WHERE state = 'firing' ORDER BY id"):
        found.setdefault(row["mineral"], []).append(row)
    return found


def price_freshness(store: Store) -> dict[str, str]:
    """Each mineral's latest price period (what the market factor was computed to)."""
    return {row[0]: row[1] for row in store.db.execute(
        "SELECT mineral, MAX(period) FROM observations WHERE measure = 'price' "
        "AND value IS NOT NULL GROUP BY mineral").fetchall()}


@dataclass(frozen=True, slots=True)
class OverviewFilter:
    level: str = ""
    list_year: str = ""
    firing_only: bool = False
    sort: str = "score"


SORTS = ("score", "change", "mineral", "freshness", "firing")


def overview(store: Store, config: Config, today: date, wanted: OverviewFilter,
             perspective: str = "us") -> list[dict[str, Any]]:
    """One row per mineral: score, level, change over a month, 24 months of scores, alerts."""
    scores = latest_scores(store, perspective)
    since = date(today.year - 2, today.month, 1) - timedelta(days=40)
    histories = score_histories(store, since, perspective=perspective)
    firing = firing_by_mineral(store)
    fresh = price_freshness(store)
    rows = []
    for mineral in config.minerals.minerals:
        latest = scores.get(mineral.id, {})
        history = histories.get(mineral.id, [])
        rows.append({
            "mineral": mineral.id, "name": mineral.name, "lists": mineral.lists,
            "score": latest.get("score"), "level": latest.get("level") or "",
            "as_of": latest.get("as_of"), "confidence": latest.get("confidence"),
            "change": month_change(history, latest.get("score")),
            "spark": monthly(history)[-SPARK_MONTHS:],
            "firing": firing.get(mineral.id, []),
            "price_period": fresh.get(mineral.id),
            "price_age_days": _age_days(fresh.get(mineral.id), today),
        })
    return sort_rows(filter_rows(rows, wanted), wanted.sort)


def month_change(history: Sequence[tuple[date, float]], score: float | None) -> float | None:
    """The score now minus the last score at least 28 days before the newest point."""
    if score is None or not history:
        return None
    cutoff = history[-1][0] - timedelta(days=28)
    before = [s for d, s in history if d <= cutoff]
    return round(score - before[-1], 1) if before else None


def filter_rows(rows: list[dict[str, Any]], wanted: OverviewFilter) -> list[dict[str, Any]]:
    if wanted.level:
        rows = [r for r in rows if r["level"] == wanted.level]
    if wanted.list_year.isdigit():
        rows = [r for r in rows if int(wanted.list_year) in r["lists"]]
    if wanted.firing_only:
        rows = [r for r in rows if r["firing"]]
    return rows


def sort_rows(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    keys = {
        "mineral": lambda r: (r["mineral"],),
        "change": lambda r: (r["change"] is None, -(r["change"] or 0), r["mineral"]),
        "freshness": lambda r: (r["price_age_days"] is None, r["price_age_days"] or 0,
                                r["mineral"]),
        "firing": lambda r: (-len(r["firing"]), -(r["score"] or 0), r["mineral"]),
    }
    default = lambda r: (r["score"] is None, -(r["score"] or 0), r["mineral"])
    return sorted(rows, key=keys.get(sort, default))


def _age_days(period: str | None, today: date) -> int | None:
    if not period:
        return None
    try:
        return (today - date.fromisoformat(period[:10])).days
    except ValueError:
        return None


# --------------------------------------------------------------------------- one mineral


def latest_indicators(store: Store, mineral: str) -> list[dict[str, Any]]:
    rows = list(store.db.query(
        "SELECT indicator, as_of, value, unit, period, published_at, source, qualifier, reason"
        " FROM indicator_values WHERE id IN (SELECT MAX(id) FROM indicator_values"
        " WHERE mineral = ? GROUP BY indicator) ORDER BY indicator", [mineral]))
    return rows


def factors_of(score_row: dict[str, Any]) -> list[dict[str, Any]]:
    """The stored factor breakdown (what ``critmon explain`` prints), contributions in points."""
    try:
        factors = json.loads(score_row.get("factors") or "[]")
    except ValueError:
        return []
    return [{**f, "points": None if f.get("contribution") is None
             else round(100 * f["contribution"], 1)} for f in factors]


def episodes(store: Store, mineral: str) -> list[dict[str, Any]]:
    """Alert episodes of one mineral (fired until resolved, or still firing), oldest first."""
    found: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    for row in store.db.query(
            "SELECT at, fingerprint, alertname, kind, level, value, threshold FROM alert_events"
            " WHERE mineral = ? AND kind IN ('fired', 'escalated', 'resolved')"
            " ORDER BY at, id", [mineral]):
        at = datetime.fromisoformat(row["at"]).date()
        if row["kind"] == "fired":
            open_[row["fingerprint"]] = {"start": at, "end": None, "alertname": row["alertname"],
                                         "level": row["level"]}
            found.append(open_[row["fingerprint"]])
        elif row["kind"] == "escalated" and row["fingerprint"] in open_:
            open_[row["fingerprint"]]["level"] = row["level"]
        elif row["kind"] == "resolved" and row["fingerprint"] in open_:
            open_.pop(row["fingerprint"])["end"] = at
    return found


def price_series(store: Store, mineral: str) -> tuple[list[tuple[date, float]], str, str]:
    """The mineral's most recent price series (the one with the newest period), its unit and
    source."""
    best = list(store.db.query(
        "SELECT source, series, unit FROM observations WHERE mineral = ? AND measure = 'price'"
        " AND value IS NOT NULL ORDER BY period DESC LIMIT 1", [mineral]))
    if not best:
        return [], "", ""
    source, series, unit = best[0]["source"], best[0]["series"], best[0]["unit"] or ""
    rows = store.db.execute(
        "SELECT period, AVG(value) FROM observations WHERE source = ? AND series = ? AND"
        " measure = 'price' AND value IS NOT NULL GROUP BY period ORDER BY period",
        [source, series]).fetchall()
    points = []
    for period, value in rows:
        try:
            points.append((date.fromisoformat(period[:10]), float(value)))
        except ValueError:
            continue
    return points, unit, source


def change_series(prices: Sequence[tuple[date, float]], months: int = 3
                  ) -> list[tuple[date, float]]:
    """Log price change over ``months`` (the ``price_change_3m`` indicator's definition)."""
    by_month = {(d.year, d.month): v for d, v in prices}
    out = []
    for d, v in prices:
        year, month = divmod(d.year * 12 + d.month - 1 - months, 12)
        before = by_month.get((year, month + 1))
        if before and before > 0 and v > 0:
            out.append((d, math.log(v / before)))
    return out


def price_thresholds(config: Config, mineral: str, indicator: str = "price_change_3m"
                     ) -> list[tuple[float, str, str]]:
    """The effective detector thresholds on a price indicator, with their levels."""
    found = []
    for rule in effective_rules(config.rules, [mineral]):
        if rule.rule.indicator != indicator or not rule.enabled:
            continue
        thresholds = rule.params.get("thresholds")
        if thresholds is None:
            continue
        values = thresholds if isinstance(thresholds, list | tuple) else [thresholds]
        for index, value in enumerate(values):
            level = rule.levels[index] if index < len(rule.levels) else ""
            found.append((float(value), f"threshold-{level or 'other'}",
                          f"{rule.rule.name} {level} {100 * math.expm1(float(value)):+.0f}%"))
    return found


def mineral_news(store: Store, mineral: str, limit: int = 60) -> list[dict[str, Any]]:
    from monitor.news.store import EVENT_TIME_SQL
    return list(store.db.query(
        f"SELECT i.id, i.source, i.url, i.title, i.kind, i.is_supply_risk_event, i.confidence,"
        f" i.risk_confidence, i.country, i.dedup_of, {EVENT_TIME_SQL} AS at FROM news_items i"
        " WHERE i.id IN (SELECT item_id FROM news_tags WHERE mineral = ?)"
        f" ORDER BY at DESC LIMIT {int(limit)}", [mineral]))


_EVENTS: dict[str, list[Event]] = {}


def mineral_events(config: Config, mineral: str) -> list[Event]:
    """The bundled supply events (backtest ground truth) that name this mineral."""
    if config.digest not in _EVENTS:
        _EVENTS.clear()
        _EVENTS[config.digest] = parse_events(bundled_events_text(), config.minerals.minerals)[0]
    return [e for e in _EVENTS[config.digest] if mineral in e.minerals]


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert: AlertState
    shown_value: str
    shown_threshold: str
    acked: str
    silenced: str
    inhibited: str
    matchers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AlertGroup:
    receiver: str
    route: str
    labels: tuple[tuple[str, str], ...]
    alerts: tuple[AlertRow, ...]


def alert_groups(store: Store, config: Config, now: datetime) -> list[AlertGroup]:
    """Firing and pending alerts grouped as the routes group them (receiver + group labels).

    An alert routed to two receivers appears in both groups, as it would in each message.
    """
    alerts = AlertStore(store)
    active = alerts.states(["firing", "pending"])
    acks, silences = alerts.acks(), alerts.silences(include_expired=False, now=now)
    rules = [InhibitRule.from_config(r) for r in config.alerting.inhibit_rules]
    firing = [FiringAlert(a.fingerprint, a.all_labels) for a in active if a.state == "firing"]
    by_fp = {a.fingerprint: a for a in active}
    tree = build_route_tree(config.alerting.route)
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[AlertRow]] = {}
    for alert in active:
        row = _alert_row(alert, acks, silences, rules, firing, by_fp, now)
        for match in match_routes(tree, alert.all_labels):
            labels = tuple(sorted(match.group_labels(alert.all_labels).items()))
            groups.setdefault((match.receiver, match.route_id, labels), []).append(row)
    return [AlertGroup(receiver, route, labels, tuple(rows))
            for (receiver, route, labels), rows in sorted(
                groups.items(), key=lambda kv: (-max(level_rank(r.alert.level) for r in kv[1]),
                                                kv[0][0], kv[0][2]))]


def _alert_row(alert: AlertState, acks: Iterable[Any], silences: Iterable[Any],
               rules: Sequence[InhibitRule], firing: Sequence[FiringAlert],
               by_fp: dict[str, AlertState], now: datetime) -> AlertRow:
    ack = acked_by(alert.fingerprint, alert.episode, alert.level, acks, now)
    silence = silenced_by(alert.all_labels, silences, now)
    source = inhibited_by(FiringAlert(alert.fingerprint, alert.all_labels), firing, rules) \
        if alert.state == "firing" else None
    inhibitor = by_fp.get(source.fingerprint) if source else None
    value, threshold = format_pair(alert.value, alert.threshold, alert.indicator)
    return AlertRow(
        alert=alert,
        shown_value=value if alert.value is not None else "-",
        shown_threshold=threshold if alert.threshold is not None else "-",
        acked=f"ack {ack.id} by {ack.author}: {ack.comment}" if ack else "",
        silenced=f"silence {silence.id} by {silence.created_by}: {silence.comment}"
        if silence else "",
        inhibited=(f"{inhibitor.mineral} {inhibitor.alertname} {inhibitor.level} "
                   f"(alert {inhibitor.id})") if inhibitor else "",
        matchers=(f"alertname={alert.alertname}", f"mineral={alert.mineral}"),
    )


def silence_rows(store: Store, now: datetime, *, include_expired: bool) -> list[dict[str, Any]]:
    alerts = AlertStore(store)
    active = alerts.states(["firing", "pending"])
    rows = []
    for s in alerts.silences(include_expired=include_expired, now=now):
        status = s.status(now)
        rows.append({
            "id": s.id, "status": status, "matchers": " ".join(s.matchers),
            "starts_at": s.starts_at, "ends_at": s.ends_at, "created_by": s.created_by,
            "comment": s.comment,
            "left": format_duration(timedelta(seconds=int((s.ends_at - now).total_seconds())))
            if status != "expired" else "",
            "matching": sum(1 for a in active if s.matches(a.all_labels)),
        })
    return sorted(rows, key=lambda r: (r["status"] == "expired", -r["id"]))


# --------------------------------------------------------------------------- history

HISTORY_COLUMNS = ["at", "type", "event", "receiver", "reason", "level", "mineral", "alertname",
                   "fingerprint", "value", "detail"]


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    mineral: str = ""
    level: str = ""
    alertname: str = ""
    receiver: str = ""
    since: datetime | None = None
    until: datetime | None = None


def history(store: Store, wanted: HistoryFilter, limit: int = 2000) -> list[dict[str, Any]]:
    """State changes and deliveries, newest first, filtered (``critmon history``'s rows)."""
    rows = AlertStore(store).history(since=wanted.since, mineral=wanted.mineral or None,
                                     level=wanted.level or None,
                                     alertname=wanted.alertname or None, limit=50_000)
    if wanted.until is not None:
        stamp = wanted.until.isoformat()
        rows = [r for r in rows if (r["at"] or "") <= stamp]
    if wanted.receiver:
        rows = [r for r in rows if r["receiver"] == wanted.receiver]
    rows.reverse()
    return rows[:limit]


# --------------------------------------------------------------------------- sources, rules


def source_rows(store: Store, config: Config) -> list[dict[str, Any]]:
    return source_health_rows(config, {s.source: s for s in store.source_states()})


def rule_rows(config: Config, minerals: Sequence[str]) -> list[dict[str, Any]]:
    return effective_rule_rows(config.rules, list(minerals))
