"""What messages say: escaping, limits, subjects."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from monitor.alerting.render import (
    HEADER_MAX,
    MAX_BLOCKS,
    SECTION_MAX,
    AlertView,
    Change,
    Digest,
    Notification,
    Reason,
    as_json,
    console_line,
    email_content,
    escape_mrkdwn,
    format_value,
    header_safe,
    slack_message,
    subject,
)

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
