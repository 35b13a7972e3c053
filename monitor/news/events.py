"""Immediate ``policy_event`` signals for new supply-restricting news on watched minerals.

Each evaluation looks at supply-risk items first fetched since the previous one (a watermark in
the store's meta table), keeps those of an alerting kind, confident enough, recent enough (the
first poll of a feed returns weeks of back catalogue), original (not a duplicate) and tagged
with a watched mineral. The chosen (item, mineral) pairs are grouped by mineral and source, and
each group becomes one firing ``Signal``: a single item keeps its id as the ``event`` label, a
burst of several becomes one alert that says how many items it stands for, lists the top few
titles and counts the rest. Its ``event`` label is a digest of the item ids, so the alert
keeps one identity from firing through ``keep_firing_for`` to resolved. At most
``MAX_ALERTS_PER_EVALUATION`` signals come out of one evaluation; the rest are logged (their
items stay in the store, in ``critmon news`` and in the policy pressure). Annotations carry the
raw text of the items: escaping for Slack or email belongs to the render layer.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from monitor.config.load import Config
from monitor.config.perspectives import Perspective
from monitor.config.rules import NewsSettings
from monitor.core.models import Signal
from monitor.news.pressure import OUTBOUND_KINDS, load_production_shares
from monitor.news.store import NewsStore
from monitor.store.database import Store

log = logging.getLogger(__name__)

RULE = "policy_event"
WATERMARK_KEY = "news_events_evaluated_at"
#: Titles a grouped alert lists; the others are counted ("and 97 more").
TOP_TITLES = 3
#: The most policy_event alerts one evaluation raises; the least severe beyond it are logged.
MAX_ALERTS_PER_EVALUATION = 20

#: The producer share of (mineral, acting country): None when unknown.
ShareOf = Callable[[str, str | None], float | None]

_EFFECTIVE_EN = re.compile(
    r"\b(?:effective|from|starting|beginning|as of|takes? effect(?: on)?|in force from)\s+"
    r"(?:on\s+)?(\d{4}-\d{2}-\d{2}|\d{1,2}\s+[A-Z][a-z]{2,8}\.?(?:\s+\d{4})?|"
    r"[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?)")
_EFFECTIVE_ZH = re.compile(r"自?(\d{4}年\d{1,2}月\d{1,2}日)起")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def find_effective_date(text: str) -> str | None:
    """The effective date as written ("Sept. 15", "1 August 2023", "2023年8月1日"), if any."""
    zh = _EFFECTIVE_ZH.search(text)
    if zh:
        return zh.group(1)
    for match in _EFFECTIVE_EN.finditer(text):
        found = match.group(1)
        if (found[0].isdigit() and "-" in found) or any(m in found for m in _MONTHS):
            return found
    return None


def build_summary(item: Mapping[str, Any]) -> str:
    """One line: "China: <headline>, effective <date>; source <url>" (raw text, not escaped)."""
    title = item["title"]
    country = item.get("country")
    prefix = f"{country}: " if country and country.lower() not in title.lower()[:60] else ""
    effective = find_effective_date(f"{title}\n{item.get('summary') or ''}")
    when = f", effective {effective}" if effective and effective not in title else ""
    source = f"; source {item['url']}" if item.get("url") else ""
    return f"{prefix}{title}{when}{source}"


def select_alerts(items: Iterable[Mapping[str, Any]], settings: NewsSettings,
                  watched: set[str], now: datetime) -> list[tuple[Mapping[str, Any], str]]:
    """(item, mineral) pairs that deserve an alert (pure)."""
    chosen = []
    for item in items:
        if item["kind"] not in settings.alert_kinds:
            continue
        if (item.get("risk_confidence") or 0.0) < settings.min_confidence:
            continue
        if now - datetime.fromisoformat(item["at"]) > settings.alert_max_age:
            continue
        chosen.extend((item, mineral) for mineral in item["minerals"] if mineral in watched)
    return chosen


def build_signal(item: Mapping[str, Any], mineral: str, share: float | None,
                 settings: NewsSettings) -> Signal:
    """The firing Signal of one event for one mineral."""
    level = "critical" if share is not None and share >= settings.critical_share else "high"
    at = datetime.fromisoformat(item["at"])
    annotations = [
        ("summary", build_summary(item)),
        ("items", "1"),
        ("title", item["title"]),
        ("url", item.get("url") or ""),
        ("source", item["source"]),
        ("kind", item["kind"]),
        ("country", item.get("country") or ""),
        ("published_at", at.isoformat()),
        ("confidence", f"{item.get('risk_confidence') or 0.0:.2f}"),
    ]
    if share is not None:
        annotations.append(("producer_share", f"{share:.2f}"))
    labels = (("alertname", RULE), ("mineral", mineral), ("indicator", RULE),
              ("kind", item["kind"]), ("country", item.get("country") or ""),
              ("event", item["id"]))
    return Signal(rule=RULE, mineral=mineral, indicator=RULE, firing=True, level=level,
                  value=share, threshold=settings.critical_share, as_of=at.date(),
                  reason=f"new {item['kind']} event", labels=labels,
                  annotations=tuple(annotations))


def build_group_signal(items: Sequence[Mapping[str, Any]], mineral: str, source: str,
                       share_of: ShareOf, settings: NewsSettings) -> Signal:
    """One firing Signal standing for several items of one source on one mineral.

    ``items`` come most relevant first. The labels depend only on the items (their ids'
    digest), so evaluating the same burst again yields the same alert, never a second one.
    """
    shares = [s for s in (share_of(mineral, i.get("country")) for i in items) if s is not None]
    share = max(shares) if shares else None
    level = "critical" if share is not None and share >= settings.critical_share else "high"
    kinds = ",".join(sorted({i["kind"] for i in items}))
    countries = ",".join(sorted({i.get("country") or "" for i in items} - {""}))
    digest = hashlib.sha256("\n".join(sorted(i["id"] for i in items)).encode()).hexdigest()
    top, rest = items[:TOP_TITLES], len(items) - TOP_TITLES
    latest = max(datetime.fromisoformat(i["at"]) for i in items)
    more = f"; and {rest} more" if rest > 0 else ""
    summary = (f"{len(items)} new items from {source} on {mineral}: "
               + "; ".join(i["title"] for i in top) + more)
    annotations = [
        ("summary", summary),
        ("items", str(len(items))),
        ("title", top[0]["title"]),
        ("titles", "\n".join(i["title"] for i in top)),
        ("url", top[0].get("url") or ""),
        ("source", source),
        ("kind", kinds),
        ("country", countries),
        ("published_at", latest.isoformat()),
        ("confidence", f"{max(i.get('risk_confidence') or 0.0 for i in items):.2f}"),
    ]
    if share is not None:
        annotations.append(("producer_share", f"{share:.2f}"))
    labels = (("alertname", RULE), ("mineral", mineral), ("indicator", RULE), ("kind", kinds),
              ("country", countries), ("source", source), ("event", f"{source}:{digest[:16]}"))
    return Signal(rule=RULE, mineral=mineral, indicator=RULE, firing=True, level=level,
                  value=share, threshold=settings.critical_share, as_of=latest.date(),
                  reason=f"{len(items)} new policy events", labels=labels,
                  annotations=tuple(annotations))


def event_signals(chosen: Iterable[tuple[Mapping[str, Any], str]], share_of: ShareOf,
                  settings: NewsSettings, *,
                  max_alerts: int = MAX_ALERTS_PER_EVALUATION) -> list[Signal]:
    """Signals for chosen (item, mineral) pairs: one per (mineral, source), at most ``max_alerts``.

    Pure apart from one log line when the cap leaves groups out.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item, mineral in chosen:
        groups.setdefault((mineral, item["source"]), []).append(item)
    signals = []
    for (mineral, source), items in sorted(groups.items()):
        if len(items) == 1:
            item = items[0]
            signals.append(build_signal(item, mineral, share_of(mineral, item.get("country")),
                                        settings))
            continue
        ranked = sorted(items, key=lambda i: (i.get("risk_confidence") or 0.0, i["at"], i["id"]),
                        reverse=True)  # most confident first, then newest
        signals.append(build_group_signal(ranked, mineral, source, share_of, settings))
    return _capped(signals, max_alerts)


def _capped(signals: list[Signal], max_alerts: int) -> list[Signal]:
    """The ``max_alerts`` most severe signals (critical first, then the biggest groups)."""
    if len(signals) <= max_alerts:
        return signals
    ranked = sorted(signals, key=lambda s: (s.level != "critical", -_item_count(s), s.mineral))
    kept, dropped = ranked[:max_alerts], ranked[max_alerts:]
    left_out = sorted({s.mineral for s in dropped})
    log.warning("policy events: %d alerts in one evaluation, over the cap of %d; raising the %d "
                "most severe and leaving out %d (%d items; minerals %s): see `critmon news`",
                len(signals), max_alerts, max_alerts, len(dropped),
                sum(_item_count(s) for s in dropped), ", ".join(left_out))
    return kept


def _item_count(signal: Signal) -> int:
    return int(dict(signal.annotations).get("items", "1"))


def policy_event_signals(store: Store, config: Config, now: datetime) -> list[Signal]:
    """Signals for supply-restricting items first seen since the last evaluation.

    Moves the watermark to ``now``: the next call returns only newer items.
    """
    settings = config.rules.news
    watched = set(config.mineral_ids) if settings.watch == "all" else set(settings.watch)
    last = store.get_meta(WATERMARK_KEY)
    items = NewsStore(store).first_seen_between(datetime.fromisoformat(last) if last else None,
                                                now)
    shares: dict[tuple[str, str | None], float | None] = {}

    def share_of(mineral: str, country: str | None) -> float | None:
        if (mineral, country) not in shares:
            shares[mineral, country] = _producer_share(store, mineral, country, now)
        return shares[mineral, country]

    signals = perspective_event_signals(select_alerts(items, settings, watched, now),
                                        config.perspectives, share_of, settings)
    store.set_meta(WATERMARK_KEY, now.isoformat())
    return signals


def perspective_event_signals(chosen: Sequence[tuple[Mapping[str, Any], str]],
                              perspectives: Sequence[Perspective], share_of: ShareOf,
                              settings: NewsSettings) -> list[Signal]:
    """:func:`event_signals` once per perspective, each signal labelled with it.

    An export restriction by a member of a perspective's economy is no supply threat to it:
    that perspective gets no alert for it (the others do).
    """
    signals: list[Signal] = []
    for perspective in perspectives:
        mine = [(item, mineral) for item, mineral in chosen
                if not (item["kind"] in OUTBOUND_KINDS
                        and perspective.is_member(item.get("country")))]
        signals += [replace(s, labels=(*s.labels, ("perspective", perspective.id)))
                    for s in event_signals(mine, share_of, settings)]
    return signals


def _producer_share(store: Store, mineral: str, country: str | None,
                    now: datetime) -> float | None:
    if not country:
        return None
    shares = load_production_shares(store, mineral, now.date())
    return shares.get(country, 0.0) if shares else None
