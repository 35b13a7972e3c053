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

A receiver may ask for its messages in Chinese (``language: zh`` in ``alerting.yaml``): its
notifications carry a :class:`Locale`, and mineral names (``name_zh`` from ``minerals.yaml``),
levels, reasons, indicator and risk-factor names, the fixed wording and the dates are
rendered in that language. Data from outside (headlines, summaries) is shown as it came.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
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
LANGUAGES = ("en", "zh")


@dataclass(frozen=True, slots=True)
class Locale:
    """The reader's language and the mineral names in it (id -> name)."""

    language: str = "en"
    mineral_names: tuple[tuple[str, str], ...] = ()

    def mineral(self, mineral_id: str) -> str:
        """The mineral's name in this language (its id when none is known)."""
        return dict(self.mineral_names).get(mineral_id, mineral_id)

    @classmethod
    def of(cls, language: str, minerals: Iterable[Any] = ()) -> Locale:
        """The locale of ``language`` with the minerals' names in it (``name_zh`` for zh).

        ``minerals`` are the config's minerals (objects with ``id``, ``name``, ``name_zh``).
        """
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r} (one of {', '.join(LANGUAGES)})")
        attribute = "name_zh" if language == "zh" else "name"
        return cls(language, tuple((m.id, getattr(m, attribute) or m.id) for m in minerals))

    def word(self, text: str) -> str:
        """A fixed word or phrase of ours in this language (as is in English)."""
        if self.language == "zh":
            return _ZH_WORDS.get(text, text)
        return text

    def level(self, level: str | None) -> str:
        """A level (critical, high, moderate, low, ...) as a reader of this language reads it."""
        return self.word(level) if level else ""

    def day(self, day: date) -> str:
        """A date: ``2026-01-31`` or ``2026年1月31日``."""
        return _day(day, self)

    def when(self, at: datetime) -> str:
        """A moment: ``2026-01-31 08:00 UTC`` or ``2026年1月31日 08:00 UTC``."""
        return _when(at, self)

    def factor(self, text: str) -> str:
        """What raised an alert, as the backtest names it (``supply_risk: structural``,
        ``price_change_3m``, ``news export_control (China)``), in this language."""
        if self.language != "zh":
            return text
        news = _NEWS_FACTOR.fullmatch(text)
        if news:
            return f"新闻\uff1a{self.word(news.group(1))}\uff08{news.group(2)}\uff09"
        indicator, colon, factor = text.partition(":")
        if colon:
            return f"{self.word(indicator.strip())}\uff1a{factor_text(factor.strip(), self)}"
        return " + ".join(self._factor_word(part.strip()) for part in text.split(","))

    def _factor_word(self, name: str) -> str:
        """An indicator (``price_change_3m``) or a risk factor (``structural``)."""
        return self.word(name) if name in _ZH_WORDS else factor_text(name, self)


EN = Locale()

_ZH_WORDS: dict[str, str] = {
    "new": "新告警", "escalated": "升级", "still firing": "仍在告警", "resolved": "已恢复",
    "digest": "摘要", "test": "测试", "also firing": "同时告警", "first": "新告警",
    "repeat_due": "重复提醒", "critical": "严重", "high": "高", "warning": "警告",
    "moderate": "中等", "low": "低", "info": "提示", "unknown": "未知", "alert": "告警", "RESOLVED": "已恢复",
    "TEST": "测试", "DIGEST": "摘要", "threshold": "阈值", "was": "此前", "now": "现为",
    "back below": "回落至阈值以下", "back above": "回升至阈值以上", "back at": "回到阈值",
    "no current value": "暂无当前值", "When it fired": "告警时", "Risk breakdown": "风险构成",
    "Sources": "来源", "Source": "来源", "as of": "数据日期", "since": "始于",
    "fingerprint": "指纹", "Firing now": "当前告警", "Changes": "变更", "nothing": "无",
    "none": "无", "firing": "告警中", "group": "分组", "all": "全部", "no alerts": "无告警",
    "more": "更多", "more in this group": "本组其余告警",
    "supply_risk": "供应风险", "price_change_3m": "3个月价格变化",
    "price_change_1m": "1个月价格变化", "price_change_12m": "12个月价格变化",
    "price_volatility": "价格波动率", "price_age_days": "价格数据滞后天数",
    "policy_pressure": "政策压力", "top_producer_share": "最大生产国份额",
    "top_producer": "最大生产国", "production_hhi": "生产集中度(HHI)", "china_share": "中国份额",
    "governance_weighted_hhi": "治理加权集中度", "net_import_reliance": "净进口依赖度",
    "price": "价格", "policy_event": "政策事件",
    # rules shipped in rules.yaml
    "supply_risk_level": "供应风险等级", "price_jump_3m": "3个月价格跳升",
    "price_stale": "价格数据过期", "trade_collapse": "贸易骤降",
    "trade_collapse_total": "贸易总量骤降", "unit_value_jump": "进口单价跳升",
    # policy-news kinds (monitor.core.news_kinds)
    "export_control": "出口管制", "export_ban": "出口禁令", "export_quota": "出口配额",
    "tariff": "关税", "sanction": "制裁", "import_ban": "进口禁令",
    "mine_disruption": "矿山中断", "smelter_disruption": "冶炼中断",
    "logistics_disruption": "物流中断", "stockpile_release": "储备投放",
    "resource_nationalism": "资源民族主义", "investment_or_deal": "投资或交易",
    "price_move": "价格变动", "demand_or_tech": "需求或技术", "general_industry": "行业综合",
    "unread_language": "未读语言",
    # the HTML report (monitor.backtest.report): headings, columns, chart labels, figures
    "critmon report": "critmon 报告", "Backtest summary": "回测摘要", "Minerals": "矿产",
    "Alert history (replay)": "告警历史\uff08回放\uff09",
    "Alert history (state database)": "告警历史\uff08状态数据库\uff09", "Events": "事件",
    "figure": "指标", "value": "数值", "start": "开始", "end": "结束", "mineral": "矿产",
    "rule": "规则", "level": "等级", "days": "天数", "at": "时间", "type": "类型",
    "event": "事件", "alertname": "告警名称", "reason": "原因", "id": "编号", "kind": "类型",
    "minerals": "矿产", "date_announced": "公布日期", "detected": "已发现",
    "first_alert_date": "首次告警日期", "lead_days_announced": "距公布提前天数",
    "lead_days_effective": "距生效提前天数", "factor": "触发因素",
    "supply-risk score": "供应风险得分", "supply risk": "供应风险",
    "no supply-risk score (too few inputs)": "无供应风险得分\uff08输入不足\uff09",
    "no price series": "无价格序列", "3m log change": "3个月对数变化",
    "yes": "是", "no": "否", "state": "状态", "delivery": "投递",
    # alert history: state changes (monitor.alerting.state.EventKind) and delivery outcomes
    "inactive": "未告警", "pending": "待定", "fired": "触发", "deescalated": "降级", "cleared": "已清除",
    "no_data": "无数据", "data_back": "数据恢复", "sent": "已发送", "failed": "失败",
    "retry": "重试", "sending": "发送中", "muted": "已静默", "interrupted": "中断",
    "min_level": "最低等级", "events_scored": "计分事件数", "recall": "召回率",
    "median_lead_days_announced": "距公布提前天数中位数",
    "median_lead_days_effective": "距生效提前天数中位数",
    "false_alarm_episodes": "误报时段数", "mineral_years": "矿产年数",
    "false_alarms_per_mineral_year": "每矿产年误报数", "alert_onsets": "告警起点数",
    "easing_events": "放宽事件数", "easing_events_alerted": "告警的放宽事件数",
    "events_not_replayed": "未回放事件数", "alertable_mineral_years": "可告警矿产年数",
    "false_alarms_per_alertable_mineral_year": "每可告警矿产年误报数",
    "onsets_followed_by_event": "其后有事件的告警起点数", "onset_precision": "告警起点精确率",
    "detected_related": "原因相关的发现数", "recall_related": "原因相关召回率",
    "first_alert_unrelated": "首次告警原因无关数", "detecting_onsets": "发现事件的告警起点数",
    "shared_onset_detections": "共用告警起点的发现数",
}
#: A backtest factor of a policy-news alert: ``news <kind> (<country>)``.
_NEWS_FACTOR = re.compile(r"news (\w+) \((.*)\)")
#: Words of the risk breakdown annotation ("supply risk 81 (high, confidence 80%): structural
#: 0.90x0.4, market missing") and of the sources annotation ("data to 2026-01-31").
_ZH_FACTOR_TEXT: tuple[tuple[str, str], ...] = (
    ("supply risk unknown", "供应风险未知"), ("supply risk", "供应风险"),
    ("confidence", "置信度"), ("structural", "结构性"), ("market", "市场"), ("policy", "政策"),
    ("missing", "缺失"), ("critical", "严重"), ("moderate", "中等"), ("high", "高"),
    ("low", "低"), ("data to", "数据截至"),
)
_ZH_FACTOR_RE = re.compile(r"\b(" + "|".join(re.escape(a) for a, _ in _ZH_FACTOR_TEXT) + r")\b")


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
    locale: Locale = EN

    @property
    def primary(self) -> AlertView | None:
        """The alert the title is about: the most severe one with a reason to be sent."""
        if not self.alerts:
            return None
        flagged = [a for a in self.alerts if a.reason is not None] or list(self.alerts)
        return max(flagged, key=lambda a: (a.status == "firing", level_rank(a.level)))


def localized(notification: Notification, locale: Locale) -> Notification:
    """The notification to be rendered in ``locale``'s language."""
    return replace(notification, locale=locale)


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


def indicator_phrase(indicator: str, loc: Locale = EN) -> str:
    parts = [part.strip() for part in indicator.split(",")]
    if loc.language != "en":
        return " + ".join(data(loc.word(part)).replace("_", " ") for part in parts)
    return " + ".join(data(part.replace("_", " ")) for part in parts)


def factor_text(text: str, loc: Locale = EN) -> str:
    """The risk breakdown or sources annotation in the reader's language."""
    if loc.language != "zh":
        return text
    words = dict(_ZH_FACTOR_TEXT)
    return _ZH_FACTOR_RE.sub(lambda m: words[m.group(1)], text)


def tag(notification: Notification) -> str:
    """The bracketed word of a subject: TEST, DIGEST, RESOLVED or the top level."""
    loc = notification.locale
    if notification.reason in (Reason.TEST, Reason.DIGEST):
        return loc.word(notification.reason.upper())
    primary = notification.primary
    if primary is None or primary.status == "resolved":
        return loc.word("RESOLVED")
    level = data(primary.level or "alert")
    return loc.word(level) if loc.language != "en" else level.upper()


def headline(alert: AlertView, loc: Locale = EN) -> str:
    """``gallium supply risk 81 (was 62)``: what a reader needs in one line."""
    mineral = data(loc.mineral(alert.mineral))
    if alert.value is None:
        return f"{mineral} {data(loc.word(alert.alertname)).replace('_', ' ')}"
    shown = format_value(alert.value, alert.indicator)
    was = ""
    if alert.was_value is not None and format_value(alert.was_value, alert.indicator) != shown:
        before = format_value(alert.was_value, alert.indicator)
        was = (f"\uff08此前 {before}\uff09" if loc.language == "zh"
               else f" (was {before})")
    return f"{mineral} {indicator_phrase(alert.indicator, loc)} {shown}{was}"


_ALL_RESOLVED = "Resolved: "
_ALL_RESOLVED_ZH = "已恢复\uff1a"


def title(notification: Notification) -> str:
    """The one-line title: the mail subject, the Slack header, the console, the history.

    A group that holds resolved alerts says so: ``Resolved: ...`` when all are resolved,
    ``2 firing, 1 resolved: ...`` when mixed (the headline's own state counted first).
    """
    loc = notification.locale
    if loc.language == "zh":
        return _title_zh(notification)
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


def _title_zh(notification: Notification) -> str:
    loc = notification.locale
    if notification.reason == Reason.TEST:
        return f"critmon 发给 {data(notification.receiver)} 的测试消息"
    if notification.reason == Reason.DIGEST and notification.digest is not None:
        digest = notification.digest
        since = f"\uff08自 {_when(digest.since, loc)} 起\uff09" if digest.since else ""
        return f"{len(digest.firing)} 条告警中\uff0c{len(digest.changes)} 项变更{since}"
    primary = notification.primary
    if primary is None:
        return "无告警"
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    resolved = len(notification.alerts) - firing
    more = len(notification.alerts) - 1
    if firing and resolved:
        return f"{firing} 条告警中\uff0c{resolved} 条已恢复\uff1a{headline(primary, loc)}"
    prefix = _ALL_RESOLVED_ZH if resolved else ""
    return prefix + headline(primary, loc) + (f"\uff08另有 {more} 条\uff09" if more > 0 else "")


def tagged_title(notification: Notification) -> str:
    """``[CRITICAL] ...``: the title after its tag."""
    return f"[{tag(notification)}] {_title_after_tag(notification)}"


def _title_after_tag(notification: Notification) -> str:
    """The title, without saying "resolved" twice after a RESOLVED tag."""
    text = title(notification)
    if notification.locale.language == "zh":
        return text.removeprefix(_ALL_RESOLVED_ZH) if tag(notification) == "已恢复" else text
    return text.removeprefix(_ALL_RESOLVED) if tag(notification) == "RESOLVED" else text


def subject(notification: Notification) -> str:
    """``[critmon][CRITICAL] gallium supply risk 81 (was 62)``, one line, capped."""
    text = header_safe(f"[critmon]{tagged_title(notification)}")
    return text if len(text) <= SUBJECT_MAX else text[:SUBJECT_MAX - 1] + "…"


def _when(at: datetime | None, loc: Locale = EN) -> str:
    if at is None:
        return "-"
    if loc.language == "zh":
        return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M} UTC"
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _day(day: date, loc: Locale = EN) -> str:
    return f"{day.year}年{day.month}月{day.day}日" if loc.language == "zh" else day.isoformat()


def _status_text(alert: AlertView, loc: Locale = EN) -> str:
    if alert.status == "resolved":
        return loc.word("resolved")
    if alert.reason == Reason.ESCALATED and alert.previous_level:
        if loc.language == "zh":
            return f"由{loc.word(data(alert.previous_level))}升级"
        return f"escalated from {data(alert.previous_level)}"
    if alert.reason is None:
        return loc.word("also firing")
    return loc.word(_REASON_TEXT[alert.reason])


def _level_word(alert: AlertView, loc: Locale = EN) -> str:
    if alert.status != "firing":
        return loc.word("RESOLVED")
    level = data(alert.level or "alert")
    return loc.word(level) if loc.language != "en" else level.upper()


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


def summary_text(alert: AlertView, loc: Locale = EN) -> str | None:
    """The alert's summary; for a resolved alert it is history, and says so."""
    summary = _annotation(alert, *_TEXT_KEYS)
    if summary and alert.status == "resolved":
        return f"{loc.word('When it fired')}{_colon(loc)}{summary}"
    return summary


def _colon(loc: Locale) -> str:
    return "\uff1a" if loc.language == "zh" else ": "


def _breakdown(alert: AlertView, loc: Locale = EN) -> str | None:
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    return f"{loc.word('Risk breakdown')}{_colon(loc)}{factor_text(breakdown, loc)}" \
        if breakdown else None


def measure_line(alert: AlertView, loc: Locale = EN) -> str:
    """``price change 3m: +50% (threshold +30%, was +22%)``.

    A resolved alert shows its value at resolution: ``now +12%, back below +60% (was +63%)``.
    """
    value, threshold = format_pair(alert.value, alert.threshold, alert.indicator)
    extra = []
    if alert.status == "resolved":
        shown = _resolution(alert, value, threshold, loc)
    else:
        shown = value
        if alert.threshold is not None:
            extra.append(f"{loc.word('threshold')} {threshold}")
    if alert.was_value is not None:
        extra.append(f"{loc.word('was')} {format_value(alert.was_value, alert.indicator)}")
    if loc.language == "zh":
        tail = "\uff08" + "\uff0c".join(extra) + "\uff09" if extra else ""
        return f"{indicator_phrase(alert.indicator, loc)}\uff1a{shown}{tail}"
    tail = f" ({', '.join(extra)})" if extra else ""
    return f"{indicator_phrase(alert.indicator)}: {shown}{tail}"


def _resolution(alert: AlertView, value: str, threshold: str, loc: Locale = EN) -> str:
    if alert.value is None:
        return loc.word("no current value")
    if alert.threshold is None:
        return f"{loc.word('now')} {value}"
    side = ("back below" if alert.value < alert.threshold
            else "back above" if alert.value > alert.threshold else "back at")
    if loc.language == "zh":
        return f"现为 {value}\uff0c{loc.word(side)} {threshold}"
    return f"now {value}, {side} {threshold}"


# --------------------------------------------------------------------------- Slack


def slack_message(notification: Notification) -> dict[str, Any]:
    """``text`` (the notification fallback), top-level ``blocks`` and one coloured attachment.

    Outside text is only ever in ``plain_text`` objects; ``mrkdwn`` objects hold our own markup
    around names made inert (:func:`slack_name`) and are ``verbatim``.
    """
    loc = notification.locale
    fallback = slack_name(tagged_title(notification))
    header = {"type": "header", "text": {"type": "plain_text", "emoji": True, "text": _fit(
        slack_plain(f"{_emoji(notification)} {tag(notification)} · "
                    f"{_title_after_tag(notification)}"), HEADER_MAX)}}
    context = {"type": "context", "elements": [_plain(_context_line(notification))]}
    budget = MAX_BLOCKS - 2
    if notification.reason == Reason.TEST:
        body = [_section(
            f"这是 critmon 发给接收者 `{slack_name(notification.receiver)}` 的*测试消息*\uff0c"
            "并无告警因此触发。" if loc.language == "zh" else
            f"This is a *test message* from critmon to receiver "
            f"`{slack_name(notification.receiver)}`. No alert is firing because of it.")]
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        body = _digest_blocks(notification.digest, budget, loc)
    else:
        body = _alert_blocks(notification.alerts, budget, loc)
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
    loc = notification.locale
    when = _when(notification.created_at, loc)
    if notification.reason == Reason.TEST:
        return f"critmon · {loc.word('test')} · {when}"
    if notification.reason == Reason.DIGEST:
        if loc.language == "zh":
            return f"critmon · {data(notification.receiver)} 的摘要 · {when}"
        return f"critmon · digest for {data(notification.receiver)} · {when}"
    firing = sum(1 for a in notification.alerts if a.status == "firing")
    resolved = len(notification.alerts) - firing
    group = ", ".join(f"{data(k)}={data(v)}" for k, v in notification.group_labels) or \
        loc.word("all")
    if loc.language == "zh":
        return (f"critmon · {loc.word(str(notification.reason))} · {firing} 条告警中\uff0c"
                f"{resolved} 条已恢复 · 分组 {group} · {when}")
    return (f"critmon · {notification.reason} · {firing} firing, {resolved} resolved · "
            f"group {group} · {when}")


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


def _alert_blocks(alerts: Sequence[AlertView], budget: int, loc: Locale = EN
                  ) -> list[dict[str, Any]]:
    ordered = sorted(alerts, key=lambda a: (a.reason is None, a.status != "firing",
                                            -level_rank(a.level), a.mineral, a.alertname))
    room = budget if len(ordered) * BLOCKS_PER_ALERT <= budget else budget - 1
    detailed = ordered[:min(DETAILED_MAX, room // BLOCKS_PER_ALERT)]
    rest = ordered[len(detailed):]
    blocks = [block for a in detailed for block in _alert_detail(a, loc)]
    if rest:
        lines = [_compact_line(a, loc) for a in rest]
        heading = (f"*{loc.word('more in this group')}\uff08{len(rest)}\uff09\uff1a*" if loc.language == "zh"
                   else f"*{len(rest)} more in this group:*")
        blocks += _packed_sections(heading, lines, budget - len(blocks))
    return blocks


def _alert_detail(alert: AlertView, loc: Locale = EN) -> list[dict[str, Any]]:
    """Three blocks: a heading (our markup), the data (plain text), links and facts."""
    emoji = _EMOJI.get(alert.level or "", ":bell:") if alert.status == "firing" \
        else ":white_check_mark:"
    heading = (f"{emoji} *{slack_name(_level_word(alert, loc))} · "
               f"{slack_name(loc.mineral(alert.mineral))}* — "
               f"`{slack_name(alert.alertname)}` ({slack_name(_status_text(alert, loc))})")
    lines = [measure_line(alert, loc)]
    summary = summary_text(alert, loc)
    if summary:
        lines.append(summary)
    breakdown = _breakdown(alert, loc)
    if breakdown:
        lines.append(breakdown)
    lines += [f"{key}: {factor_text(value, loc)}" for key, value in _other_annotations(alert)]
    links = [_slack_link(url, host) for url, host in _links(alert) if "|" not in url]
    facts = []
    if links:
        facts.append(f"{loc.word('Sources')}{_colon(loc)}" + " · ".join(links))
    if alert.as_of:
        facts.append(f"{loc.word('as of')} {_day(alert.as_of, loc)}")
    facts.append(f"fp `{slack_name(alert.fingerprint[:12])}`")
    return [_section(heading), {"type": "section", "text": _plain("\n".join(lines))},
            {"type": "context", "elements": [_mrkdwn(" · ".join(facts))]}]


def _slack_link(url: str, host: str) -> str:
    """``<url|host>``: the label is the URL's real host, inert like any name."""
    label = _FORMATTING.sub(lambda m: f"{WORD_JOINER}{m.group()}{WORD_JOINER}", host)
    return f"<{escape_mrkdwn(url)}|{escape_mrkdwn(label)}>"


def _compact_line(alert: AlertView, loc: Locale = EN) -> str:
    return slack_name(f"• {_plain_compact(alert, loc)} ({_status_text(alert, loc)})")


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


def _digest_blocks(digest: Digest, budget: int, loc: Locale = EN) -> list[dict[str, Any]]:
    firing = [_compact_line(a, loc) for a in sorted(
        digest.firing, key=lambda a: (-level_rank(a.level), a.mineral, a.alertname))]
    changes = [slack_name(_change_text(c, loc)) for c in digest.changes]
    half = max(budget // 2, 1)
    firing_head, changes_head = _digest_headings(digest, len(firing), len(changes), loc)
    blocks = _packed_sections(f"*{firing_head}*", firing or [loc.word("nothing")], half)
    blocks += _packed_sections(f"*{changes_head}*", changes or [loc.word("none")],
                               budget - len(blocks))
    return blocks


def _digest_headings(digest: Digest, firing: int, changes: int, loc: Locale = EN
                     ) -> tuple[str, str]:
    if loc.language == "zh":
        since = f"\uff08自 {_when(digest.since, loc)} 起\uff09" if digest.since else ""
        return f"当前告警\uff08{firing}\uff09\uff1a", f"变更{since}\uff08{changes}\uff09\uff1a"
    since = f" since {_when(digest.since)}" if digest.since else ""
    return f"Firing now ({firing}):", f"Changes{since} ({changes}):"


def _change_text(change: Change, loc: Locale = EN) -> str:
    level = f" {data(loc.word(change.level))}" if change.level else ""
    came = ""
    if change.from_level and change.kind in ("escalated", "deescalated"):
        came = (f"\uff08原为{loc.word(data(change.from_level))}\uff09" if loc.language == "zh"
                else f" (from {data(change.from_level)})")
    value = f" {format_value(change.value, change.indicator)}" if change.value is not None \
        else ""
    kind = loc.word(data(change.kind))
    return (f"{_when(change.at, loc)} {kind}{level}{came}{_colon(loc)}"
            f"{data(loc.mineral(change.mineral))} {data(change.alertname)}{value}")


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


def _test_text(notification: Notification) -> str:
    if notification.locale.language == "zh":
        return (f"这是 critmon 发给接收者 {data(notification.receiver)} 的测试消息\uff0c"
                "并无告警因此触发。")
    return (f"This is a test message from critmon to receiver "
            f"{data(notification.receiver)}. No alert is firing because of it.")


def _email_text(notification: Notification) -> str:
    loc = notification.locale
    lines = [f"critmon: {title(notification)}", ""]
    if notification.reason == Reason.TEST:
        lines.append(_test_text(notification))
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        lines += _digest_text(notification.digest, loc)
    else:
        for alert in notification.alerts:
            lines += [*_alert_text(alert, loc), ""]
    lines += ["--", (f"critmon · {loc.word(str(notification.reason))} · "
                     f"{_when(notification.created_at, loc)}")]
    return "\n".join(lines) + "\n"


def _alert_facts(alert: AlertView, loc: Locale, *, since: bool) -> list[str]:
    facts = [f"{loc.word('as of')} {_day(alert.as_of, loc)}" if alert.as_of else "",
             f"{loc.word('since')} {_when(alert.starts_at, loc)}" if since and alert.starts_at
             else "",
             f"{loc.word('fingerprint')} {data(alert.fingerprint)}"]
    return [f for f in facts if f]


def _alert_text(alert: AlertView, loc: Locale = EN) -> list[str]:
    head = (f"[{_level_word(alert, loc)}] {data(loc.mineral(alert.mineral))} - "
            f"{data(alert.alertname)} ({_status_text(alert, loc)})")
    lines = [head, f"  {measure_line(alert, loc)}"]
    summary = summary_text(alert, loc)
    if summary:
        lines.append(f"  {summary}")
    breakdown = _breakdown(alert, loc)
    if breakdown:
        lines.append(f"  {breakdown}")
    lines += [f"  {k}: {factor_text(v, loc)}" for k, v in _other_annotations(alert)]
    lines += [f"  {loc.word('Source')}{_colon(loc)}{url}" for url, _ in _links(alert)]
    lines.append("  " + " · ".join(_alert_facts(alert, loc, since=True)))
    return lines


def _digest_text(digest: Digest, loc: Locale = EN) -> list[str]:
    firing_head, changes_head = _digest_headings(digest, len(digest.firing),
                                                 len(digest.changes), loc)
    lines = [firing_head]
    lines += [f"  {_plain_compact(a, loc)}" for a in digest.firing] or \
        [f"  {loc.word('nothing')}"]
    lines += ["", changes_head]
    lines += [f"  {_change_text(c, loc)}" for c in digest.changes] or [f"  {loc.word('none')}"]
    return [*lines, ""]


def _plain_compact(alert: AlertView, loc: Locale = EN) -> str:
    return (f"{_level_word(alert, loc)} {data(loc.mineral(alert.mineral))} "
            f"{data(alert.alertname)}{_colon(loc)}{format_value(alert.value, alert.indicator)}")


def _email_html(notification: Notification) -> str:
    esc = html.escape
    parts = ["<!DOCTYPE html><html><body style=\"font-family:sans-serif\">",
             f"<h2>{esc(subject(notification))}</h2>"]
    loc = notification.locale
    if notification.reason == Reason.TEST:
        parts.append(f"<p>{esc(_test_text(notification))}</p>")
    elif notification.reason == Reason.DIGEST and notification.digest is not None:
        parts += _digest_html(notification.digest, loc)
    else:
        parts += [_alert_html(alert, loc) for alert in notification.alerts]
    parts.append(f"<p style=\"color:#888\">critmon · {esc(loc.word(str(notification.reason)))} · "
                 f"{esc(_when(notification.created_at, loc))}</p></body></html>")
    return "\n".join(parts)


def _alert_html(alert: AlertView, loc: Locale = EN) -> str:
    esc = html.escape
    colour = _COLOUR.get(alert.level or "", "#888") if alert.status == "firing" \
        else _RESOLVED_COLOUR
    rows = [f"<div style=\"border-left:6px solid {colour};padding-left:8px;margin:12px 0\">",
            (f"<b>[{esc(_level_word(alert, loc))}] {esc(data(loc.mineral(alert.mineral)))}</b> — "
             f"<code>{esc(data(alert.alertname))}</code> ({esc(_status_text(alert, loc))})<br>"),
            f"{esc(measure_line(alert, loc))}<br>"]
    summary = summary_text(alert, loc)
    if summary:
        rows.append(f"{esc(summary)}<br>")
    breakdown = _annotation(alert, *_BREAKDOWN_KEYS)
    if breakdown:
        rows.append(f"<b>{esc(loc.word('Risk breakdown'))}{_colon(loc).strip()}</b> "
                    f"{esc(factor_text(breakdown, loc))}<br>")
    rows += [f"<i>{esc(k)}:</i> {esc(factor_text(v, loc))}<br>"
             for k, v in _other_annotations(alert)]
    links = [f"<a href=\"{esc(url, quote=True)}\">{esc(host)}</a>" for url, host in _links(alert)]
    if links:
        rows.append(f"{esc(loc.word('Sources'))}{_colon(loc)}" + " · ".join(links) + "<br>")
    facts = _alert_facts(alert, loc, since=False)
    rows.append(f"<small>{esc(' · '.join(facts))}</small></div>")
    return "\n".join(rows)


def _digest_html(digest: Digest, loc: Locale = EN) -> list[str]:
    esc = html.escape
    firing = "".join(f"<li>{esc(_plain_compact(a, loc))}</li>" for a in digest.firing) \
        or f"<li>{esc(loc.word('nothing'))}</li>"
    changes = "".join(f"<li>{esc(_change_text(c, loc))}</li>" for c in digest.changes) \
        or f"<li>{esc(loc.word('none'))}</li>"
    firing_head, changes_head = _digest_headings(digest, len(digest.firing),
                                                 len(digest.changes), loc)
    return [f"<h3>{esc(firing_head.rstrip(_COLONS))}</h3><ul>{firing}</ul>",
            f"<h3>{esc(changes_head.rstrip(_COLONS))}</h3><ul>{changes}</ul>"]


_COLONS = ":\uff1a"


# --------------------------------------------------------------------------- console, JSON


def console_line(notification: Notification) -> str:
    reason = notification.locale.word(str(notification.reason))
    return (f"critmon {tagged_title(notification)} "
            f"({reason} -> {data(notification.receiver)})")


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
