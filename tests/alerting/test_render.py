"""What messages say: escaping, limits, subjects."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerting.render import (
    HEADER_MAX,
    MAX_BLOCKS,
    SECTION_MAX,
    AlertView,
    Change,
    Digest,
    Locale,
    Notification,
    Reason,
    as_json,
    console_line,
    email_content,
    escape_mrkdwn,
    factor_text,
    header_safe,
    localized,
    slack_message,
    subject,
)
from monitor.core.values import format_value

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
FEED_TITLE = "Export ban <!channel> on gallium & germanium <@U123> <https://evil.example|click>"


def view(mineral: str = "gallium", level: str = "critical", value: float = 81.0,
         was: float | None = 62.0, status: str = "firing", reason: Reason | None = Reason.FIRST,
         summary: str = FEED_TITLE, **extra: str) -> AlertView:
    return AlertView(
        fingerprint="0123456789abcdef", alertname="supply_risk_level", mineral=mineral,
        indicator="supply_risk", status=status, level=level, value=value, was_value=was,
        threshold=75.0, as_of=date(2025, 11, 1), starts_at=T0, reason=reason,
        annotations=(("summary", summary), ("breakdown", "structural 0.71 (NIR 100%, HHI 0.98)"),
                     ("source_url", "https://pubs.usgs.gov/mcs/2026?x=1&y=<2>"), *extra.items()))


def note(*alerts: AlertView, reason: Reason = Reason.FIRST) -> Notification:
    return Notification(receiver="analysts", reason=reason, key="k" * 32, created_at=T0,
                        alerts=alerts, group_labels=(("mineral", "gallium"),))


def slack_text(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


def all_blocks(message: dict) -> list[dict]:
    return message["blocks"] + [b for a in message["attachments"] for b in a["blocks"]]


def mrkdwn_texts(message: dict) -> list[str]:
    texts = []
    for block in all_blocks(message):
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        for element in block.get("elements", []):
            texts.append(element["text"])
    return [*texts, message["text"]]


def test_subject_sorts_well_in_an_inbox() -> None:
    assert subject(note(view())) == "[critmon][CRITICAL] gallium supply risk 81 (was 62)"
    assert subject(note(view(status="resolved", value=48, was=81, reason=Reason.RESOLVED),
                        reason=Reason.RESOLVED)) == \
        "[critmon][RESOLVED] gallium supply risk 48 (was 81)"
    assert subject(note(view(), view(mineral="germanium", level="high", value=60))) == \
        "[critmon][CRITICAL] gallium supply risk 81 (was 62) (+1 more)"


def test_subject_names_the_most_severe_alert_with_news() -> None:
    quiet = view(mineral="cobalt", level="critical", value=90, reason=None)
    news = view(mineral="tin", level="high", value=55, reason=Reason.FIRST)
    assert subject(note(quiet, news)).startswith("[critmon][HIGH] tin supply risk 55")


def test_subject_strips_cr_lf_from_data() -> None:
    evil = view(mineral="gallium\r\nBcc: victim@example.org")
    text = subject(note(evil))
    assert "\r" not in text and "\n" not in text
    assert header_safe("a\r\nb\tc\x00d") == "a b c d"


def test_slack_escapes_control_characters_so_nobody_is_pinged() -> None:
    message = slack_message(note(view(mineral="<!here>")))
    for text in mrkdwn_texts(message):
        assert "<!channel>" not in text and "<!here>" not in text and "<@U123>" not in text
        assert "<https://evil.example|click>" not in text
    assert "&lt;!channel&gt;" in slack_text(message)
    assert "gallium &amp; germanium" in slack_text(message)


def test_escape_mrkdwn_touches_only_three_characters() -> None:
    assert escape_mrkdwn("a & b < c > d * _ ~ `") == "a &amp; b &lt; c &gt; d * _ ~ `"


def test_source_links_are_built_by_us_with_escaped_url_and_label() -> None:
    text = slack_text(slack_message(note(view())))
    assert "<https://pubs.usgs.gov/mcs/2026?x=1&amp;y=&lt;2&gt;|pubs.usgs.gov>" in text


def test_slack_message_shows_level_value_threshold_breakdown_and_as_of() -> None:
    message = slack_message(note(view()))
    text = slack_text(message)
    assert message["attachments"][0]["color"] == "#D00000"
    assert ":red_circle:" in message["blocks"][0]["text"]["text"]
    for expected in ("CRITICAL", "gallium", "supply risk: 81 (threshold 75, was 62)",
                     "Risk breakdown", "structural 0.71", "as of 2025-11-01"):
        assert expected in text


def test_resolved_message_is_green() -> None:
    message = slack_message(note(view(status="resolved", reason=Reason.RESOLVED),
                                 reason=Reason.RESOLVED))
    assert message["attachments"][0]["color"] == "#2EB67D"
    assert message["text"].startswith("[RESOLVED]")


def test_header_is_at_most_150_characters() -> None:
    message = slack_message(note(view(mineral="x" * 400)))
    header = message["blocks"][0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= HEADER_MAX


def test_long_text_is_cut_to_3000_without_breaking_an_escape() -> None:
    message = slack_message(note(view(summary="&" * 5000)))
    for block in all_blocks(message):
        if block["type"] == "section":
            text = block["text"]["text"]
            assert len(text) <= SECTION_MAX
            body = text.rstrip("…")
            assert not body.endswith(("&", "&a", "&am", "&amp"))


@pytest.mark.parametrize("count", [1, 20, 21, 60, 2000])
def test_long_groups_are_summarised_within_50_blocks_never_dropped(count: int) -> None:
    alerts = [view(mineral=f"mineral{i:04d}", summary="s" * 500) for i in range(count)]
    message = slack_message(note(*alerts))
    blocks = all_blocks(message)
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(b["text"]["text"]) <= SECTION_MAX for b in blocks if b["type"] == "section")
    text = slack_text(message)
    listed = sum(f"mineral{i:04d}" in text for i in range(count))
    not_listed = 0
    if listed < count:  # the ones that did not fit are counted, not dropped silently
        assert "more not listed here" in text
        not_listed = int(text.split("…and ")[1].split(" more")[0])
    assert listed + not_listed == count


def test_email_has_text_and_escaped_html_parts() -> None:
    content = email_content(note(view()))
    assert FEED_TITLE in content.text
    assert "<!channel>" not in content.html and "&lt;!channel&gt;" in content.html
    assert '<a href="https://pubs.usgs.gov/mcs/2026?x=1&amp;y=&lt;2&gt;">' in content.html
    assert "Risk breakdown: structural 0.71" in content.text


def test_test_messages_are_clearly_marked() -> None:
    test = Notification(receiver="ops", reason=Reason.TEST, key="t" * 32, created_at=T0)
    assert subject(test) == "[critmon][TEST] test message from critmon to ops"
    assert "test message" in slack_text(slack_message(test))
    assert "No alert is firing because of it" in email_content(test).text


def test_digest_lists_what_is_firing_and_what_changed() -> None:
    digest = Digest(since=T0 - timedelta(days=1), until=T0,
                    firing=(view(), view(mineral="tin", level="high", value=55)),
                    changes=(Change(T0 - timedelta(hours=3), "escalated", "gallium",
                                    "supply_risk_level", "critical", "high", 81.0),
                             Change(T0 - timedelta(hours=2), "resolved", "cobalt",
                                    "price_jump_3m", "high")))
    digest_note = Notification(receiver="daily", reason=Reason.DIGEST, key="d" * 32,
                               created_at=T0, digest=digest)
    assert subject(digest_note) == \
        "[critmon][DIGEST] 2 firing, 2 changes since 2026-02-28 08:00 UTC"
    text = email_content(digest_note).text
    assert "CRITICAL gallium supply_risk_level: 81" in text
    assert "escalated critical (from high): gallium supply_risk_level 81" in text
    assert "resolved high: cobalt price_jump_3m" in text
    assert "escalated critical" in slack_text(slack_message(digest_note))


def test_console_and_json_forms() -> None:
    notification = note(view())
    assert console_line(notification) == (
        "critmon [CRITICAL] gallium supply risk 81 (was 62) (first -> analysts)")
    data = as_json(notification)
    assert data["alerts"][0]["annotations"]["summary"] == FEED_TITLE
    assert data["reason"] == "first" and data["group"] == {"mineral": "gallium"}
    json.dumps(data)


def test_source_names_without_urls_are_shown_as_text() -> None:
    alert = view(sources="usgs_mcs2026 (data to 2025-12-31); wgi (data to 2023-12-31)",
                 name="Gallium")
    text = email_content(note(alert)).text
    assert "sources: usgs_mcs2026 (data to 2025-12-31); wgi (data to 2023-12-31)" in text
    assert "name: Gallium" not in text
    assert "Source: https://pubs.usgs.gov/mcs/2026" in text


def test_price_changes_read_as_percentages_not_log_values() -> None:
    assert format_value(0.2776, "price_change_3m") == "+32%"
    assert format_value(-0.105, "price_change_12m") == "-10%"
    assert format_value(0.2776, "supply_risk") == "0.278"


# --------------------------------------------------------------------------- hostile feed text

WJ = "\u2060"
HOSTILE = ("*URGENT* _ban_ ~lifted~ `rm` > quote mail admin@evil.example or visit "
           "http://evil.example/x \u202egnp.exe\u202c \x1b[31mred\x1b[0m <!channel>")
SHOWN = ("*URGENT* _ban_ ~lifted~ `rm` > quote mail admin@evil.example or visit "
         "http://evil.example/x gnp.exe [31mred[0m <!channel>")
BIDI_AND_CONTROLS = ("\u202e", "\u202c", "\u2066", "\x1b", "\x9b", "\r")


def text_objects(message: dict) -> list[dict]:
    """Every Slack text object of a message (header, sections, context elements)."""
    found = []
    for block in all_blocks(message):
        if "text" in block:
            found.append(block["text"])
        found += [e for e in block.get("elements", []) if "text" in e]
    return found


def slack_unescaped(text: str) -> str:
    """What Slack shows for a text object: its three escapes decoded, invisible joiners gone."""
    return text.replace(WJ, "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def hostile_view(**extra: str) -> AlertView:
    return view(summary=HOSTILE, reason_text=HOSTILE, **extra)


def test_feed_text_reaches_slack_only_as_plain_text_shown_as_written() -> None:
    message = slack_message(note(hostile_view()))
    plain = [t["text"] for t in text_objects(message) if t["type"] == "plain_text"]
    assert any(SHOWN in slack_unescaped(text) for text in plain), plain
    for obj in text_objects(message):
        if obj["type"] == "mrkdwn":
            assert obj.get("verbatim") is True, "no auto-linking of names, URLs or mentions"
            for word in ("URGENT", "lifted", "admin@", "evil.example", "gnp.exe"):
                assert word not in obj["text"], f"feed text in mrkdwn: {obj['text']!r}"


def test_feed_text_in_slack_has_no_bidi_or_control_characters_and_pings_nobody() -> None:
    message = slack_message(note(hostile_view(), view(mineral="tin", summary=HOSTILE)))
    raw = slack_text(message)
    for char in BIDI_AND_CONTROLS:
        assert char not in raw
    assert "<!channel>" not in raw and "&lt;!channel&gt;" in raw


def test_urls_and_addresses_in_feed_text_are_not_auto_linked() -> None:
    message = slack_message(note(hostile_view()))
    for obj in text_objects(message):
        assert "http://" not in obj["text"] and "admin@evil" not in obj["text"]
        assert "evil.example" not in obj["text"], "a bare domain is linked by the client"


def test_formatting_characters_in_names_cannot_format_in_mrkdwn() -> None:
    message = slack_message(note(view(mineral="*gallium*_x_")))
    mrkdwn = [o["text"] for o in text_objects(message) if o["type"] == "mrkdwn"]
    defused = f"{WJ}*{WJ}gallium{WJ}*{WJ}{WJ}_{WJ}x{WJ}_{WJ}"
    assert any(defused in text for text in mrkdwn), mrkdwn
    assert not any("*gallium*" in text for text in mrkdwn)


def test_source_link_label_is_the_host_never_user_info() -> None:
    alert = view(source_url="https://pubs.usgs.gov@evil.example/report")
    text = slack_text(slack_message(note(alert)))
    assert "<https://pubs.usgs.gov@evil.example/report|evil.example>" in text
    html_part = email_content(note(alert)).html
    assert ">evil.example</a>" in html_part and ">pubs.usgs.gov@evil.example<" not in html_part


def test_email_parts_and_subject_carry_no_bidi_or_control_characters() -> None:
    content = email_content(note(hostile_view(mineral="gallium\u202e")))
    for part in (content.subject, content.text, content.html):
        for char in BIDI_AND_CONTROLS:
            assert char not in part
    assert SHOWN in content.text
    assert "&lt;!channel&gt;" in content.html and "<!channel>" not in content.html


def test_console_and_json_forms_strip_bidi_and_controls() -> None:
    notification = note(hostile_view(mineral="gallium\u202e\x1b[2J"))
    line = console_line(notification)
    data = json.dumps(as_json(notification), ensure_ascii=False)
    for char in BIDI_AND_CONTROLS:
        assert char not in line and char not in data


# --------------------------------------------------------------------------- resolutions

PRICE = "price_change_3m"


def price_view(mineral: str = "gallium", *, status: str = "firing", value: float = 0.47,
               was: float | None = None, threshold: float = 0.47,
               reason: Reason | None = Reason.FIRST) -> AlertView:
    return AlertView(
        fingerprint=f"{mineral:0<16}"[:16], alertname="price_jump_3m", mineral=mineral,
        indicator=PRICE, status=status, level="critical", value=value, was_value=was,
        threshold=threshold, as_of=date(2025, 11, 1), starts_at=T0, reason=reason,
        annotations=(("summary", f"{mineral} critical: price jump value 0.47 above 0.47"),))


def test_an_all_resolved_group_says_resolved_in_every_title() -> None:
    resolved = price_view(status="resolved", value=0.113, was=0.49, reason=Reason.RESOLVED)
    other = price_view("germanium", status="resolved", value=0.01, was=0.5,
                       reason=Reason.RESOLVED)
    notification = note(resolved, other, reason=Reason.RESOLVED)
    assert as_json(notification)["title"].startswith("Resolved: ")
    assert subject(notification).startswith("[critmon][RESOLVED] ")
    assert console_line(notification).startswith("critmon [RESOLVED] gallium price change 3m")
    assert slack_message(notification)["text"].startswith("[RESOLVED] gallium")


def test_a_mixed_group_counts_firing_and_resolved_in_its_title() -> None:
    firing = price_view("germanium", value=0.5, reason=Reason.FIRST)
    resolved = price_view(status="resolved", value=0.113, was=0.49, reason=Reason.RESOLVED)
    notification = note(firing, resolved)
    assert subject(notification) == \
        "[critmon][CRITICAL] 1 firing, 1 resolved: germanium price change 3m +65%"
    assert slack_message(notification)["text"].startswith("[CRITICAL] 1 firing, 1 resolved: ")
    only_context = note(price_view("germanium", value=0.5, reason=None), resolved,
                        reason=Reason.RESOLVED)
    assert "1 resolved, 1 firing: gallium price change 3m +12% (was +63%)" in \
        subject(only_context)


def test_a_resolved_alert_shows_its_value_at_resolution_not_its_firing_annotation() -> None:
    resolved = price_view(status="resolved", value=0.113, was=0.49, reason=Reason.RESOLVED)
    notification = note(price_view("germanium", value=0.5), resolved)
    line = "price change 3m: now +12%, back below +60% (was +63%)"
    assert line in slack_text(slack_message(notification))
    content = email_content(notification)
    assert line in content.text and line in content.html
    assert "\n  gallium critical: price jump" not in content.text, "not shown as current"
    assert "\n  When it fired: gallium critical: price jump" in content.text


def test_a_resolved_alert_without_a_current_value_says_so() -> None:
    gone = AlertView(fingerprint="f" * 16, alertname="policy_event", mineral="gallium",
                     indicator="policy_event", status="resolved", level="high", value=None,
                     was_value=0.98, threshold=0.5, reason=Reason.RESOLVED)
    text = email_content(note(gone, reason=Reason.RESOLVED)).text
    assert "policy event: no current value (was 0.98)" in text
    assert "back below" not in text


# --------------------------------------------------------------------------- percentages


def test_price_changes_are_percentages_in_every_form() -> None:
    alert = price_view(value=0.405, threshold=0.262, was=0.2)
    notification = note(alert)
    measure = "price change 3m: +50% (threshold +30%, was +22%)"
    assert measure in slack_text(slack_message(notification))
    assert measure in email_content(notification).text
    assert "gallium price change 3m +50% (was +22%)" in console_line(notification)
    shown = as_json(notification)["alerts"][0]
    assert shown["value"] == 0.405 and shown["threshold"] == 0.262, "raw numbers kept"
    assert shown["shown"] == measure


def test_digest_changes_show_price_changes_as_percentages() -> None:
    change = Change(T0, "fired", "gallium", "price_jump_3m", "high", None, 0.405,
                    indicator=PRICE)
    digest = Notification(receiver="daily", reason=Reason.DIGEST, key="d" * 32, created_at=T0,
                          digest=Digest(since=None, until=T0, changes=(change,)))
    assert "fired high: gallium price_jump_3m +50%" in email_content(digest).text


# ----------------------------------------------------------------------------- language: zh

ZH = Locale("zh", (("gallium", "镓"), ("germanium", "锗")))


def zh_note(*alerts: AlertView, reason: Reason = Reason.FIRST) -> Notification:
    return localized(note(*alerts, reason=reason), ZH)


def test_a_chinese_receiver_gets_mineral_level_and_dates_in_chinese() -> None:
    message = zh_note(view())
    assert subject(message) == "[critmon][严重] 镓 供应风险 81\uff08此前 62\uff09"
    text = email_content(message).text
    assert "[严重] 镓 - supply_risk_level (新告警)" in text
    assert "供应风险\uff1a81\uff08阈值 75\uff0c此前 62\uff09" in text
    assert "数据日期 2025年11月1日" in text and "始于 2026年3月1日 08:00 UTC" in text
    assert "风险构成\uff1a结构性 0.71 (NIR 100%, HHI 0.98)" in text
    assert FEED_TITLE in text  # feed text is shown as published
    assert "CRITICAL" not in text and "as of" not in text


def test_chinese_slack_message_keeps_the_escaping_rules() -> None:
    message = slack_message(zh_note(view()))
    shown = slack_text(message)
    assert "严重 · 镓" in shown and "数据日期 2025年11月1日" in shown
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    assert message["text"].startswith("[严重] 镓")


def test_chinese_console_digest_and_test_message() -> None:
    assert console_line(zh_note(view())) == \
        "critmon [严重] 镓 供应风险 81\uff08此前 62\uff09 (新告警 -> analysts)"
    digest = Digest(since=T0 - timedelta(days=1), until=T0, firing=(view(),), changes=(
        Change(at=T0, kind="escalated", mineral="germanium", alertname="supply_risk_level",
               level="critical", from_level="high", value=80.0, indicator="supply_risk"),))
    text = email_content(localized(Notification(
        receiver="analysts", reason=Reason.DIGEST, key="d" * 32, created_at=T0, digest=digest),
        ZH)).text
    assert "当前告警\uff081\uff09\uff1a" in text
    assert "2026年3月1日 08:00 UTC 升级 严重\uff08原为高\uff09\uff1a锗 supply_risk_level 80" in text
    test = email_content(localized(Notification(receiver="analysts", reason=Reason.TEST,
                                                key="t" * 32, created_at=T0), ZH))
    assert test.subject == "[critmon][测试] critmon 发给 analysts 的测试消息"
    assert "并无告警因此触发" in test.text


def test_risk_factor_descriptions_are_translated_word_by_word() -> None:
    assert factor_text("supply risk 81 (critical, confidence 80%): structural 0.90x0.4, "
                       "market missing, policy 0.20x0.3", ZH) == (
        "供应风险 81 (严重, 置信度 80%): 结构性 0.90x0.4, 市场 缺失, 政策 0.20x0.3")
    assert factor_text("USGS MCS (data to 2025-12-31)", ZH) == "USGS MCS (数据截至 2025-12-31)"


def test_english_stays_the_default() -> None:
    assert note(view()).locale == Locale()
    assert subject(note(view())) == "[critmon][CRITICAL] gallium supply risk 81 (was 62)"
    assert Locale("zh").mineral("cobalt") == "cobalt"  # an unknown name falls back to the id


def test_a_receiver_with_language_zh_gets_chinese_on_the_console(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from monitor.alerting.receivers import build_notifiers
    from monitor.config.alerting import AlertingFile
    from monitor.config.load import load_config

    config = load_config()
    alerting = AlertingFile.model_validate({
        "receivers": [{"name": "ops_zh", "kind": "console", "language": "zh"},
                      {"name": "ops_en", "kind": "console"}],
        "route": {"receiver": "ops_zh"}})
    notifiers = build_notifiers(dataclasses.replace(config, alerting=alerting), tmp_path)
    notifiers["ops_zh"].send(note(view()))
    notifiers["ops_en"].send(note(view()))
    zh, en = capsys.readouterr().out.splitlines()
    assert zh == "critmon [严重] 镓 供应风险 81\uff08此前 62\uff09 (新告警 -> analysts)"
    assert en == "critmon [CRITICAL] gallium supply risk 81 (was 62) (first -> analysts)"


def test_an_unknown_receiver_language_is_refused_naming_the_field() -> None:
    from pydantic import ValidationError

    from monitor.config.alerting import AlertingFile

    with pytest.raises(ValidationError, match="language"):
        AlertingFile.model_validate({
            "receivers": [{"name": "ops", "kind": "console", "language": "fr"}],
            "route": {"receiver": "ops"}})
