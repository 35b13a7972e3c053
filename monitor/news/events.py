"""Immediate ``policy_event`` signals for new supply-restricting news on watched minerals.

Each evaluation looks at supply-risk items first fetched since the previous one (a watermark in
the store's meta table), keeps those of an alerting kind, confident enough, recent enough (the
first poll of a feed returns weeks of back catalogue), original (not a duplicate) and tagged
with a watched mineral, and turns each (item, mineral) into a firing ``Signal``. The item id is
a label, so every event is its own alert. Annotations carry the raw text of the item: escaping
for Slack or email belongs to the render layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from monitor.config.load import Config
from monitor.config.rules import NewsSettings
from monitor.core.models import Signal
from monitor.news.pressure import load_production_shares
from monitor.news.store import NewsStore
from monitor.store.database import Store

RULE = "policy_event"
WATERMARK_KEY = "news_events_evaluated_at"

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


def policy_event_signals(store: Store, config: Config, now: datetime) -> list[Signal]:
    """Signals for supply-restricting items first seen since the last evaluation.

    Moves the watermark to ``now``: the next call returns only newer items.
    """
    settings = config.rules.news
    watched = set(config.mineral_ids) if settings.watch == "all" else set(settings.watch)
    last = store.get_meta(WATERMARK_KEY)
    items = NewsStore(store).first_seen_between(datetime.fromisoformat(last) if last else None,
                                                now)
    signals = []
    for item, mineral in select_alerts(items, settings, watched, now):
        share = _producer_share(store, mineral, item.get("country"), now)
        signals.append(build_signal(item, mineral, share, settings))
    store.set_meta(WATERMARK_KEY, now.isoformat())
    return signals


def _producer_share(store: Store, mineral: str, country: str | None,
                    now: datetime) -> float | None:
    if not country:
        return None
    shares = load_production_shares(store, mineral, now.date())
    return shares.get(country, 0.0) if shares else None
