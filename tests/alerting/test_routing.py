"""Matchers and the route tree: Alertmanager's semantics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from monitor.alerting.routing import (
    GROUP_INTERVAL,
    GROUP_WAIT,
    REPEAT_INTERVAL,
    RouteNode,
    build_route_tree,
    match_routes,
    receivers_for,
)
from monitor.config.alerting import AlertingFile, Route
from monitor.config.load import default_config_dir
from monitor.config.matchers import parse_matcher

GALLIUM_CRITICAL = {"alertname": "supply_risk_level", "mineral": "gallium",
                    "indicator": "supply_risk", "severity": "critical"}


@pytest.mark.parametrize(
    ("matcher", "labels", "expected"),
    [
        pytest.param("mineral=gallium", {"mineral": "gallium"}, True, id="equal"),
        pytest.param("mineral=gallium", {"mineral": "germanium"}, False, id="equal-differs"),
        pytest.param('mineral="gallium"', {"mineral": "gallium"}, True, id="quoted"),
        pytest.param("mineral!=gallium", {"mineral": "cobalt"}, True, id="not-equal"),
        pytest.param("mineral!=gallium", {}, True, id="not-equal-missing-label"),
        pytest.param('severity=~"high|critical"', {"severity": "critical"}, True, id="regex"),
        # Anchored: "high" does not match "highest".
        pytest.param("severity=~high", {"severity": "highest"}, False, id="regex-anchored"),
        pytest.param('severity=~".+"', {}, False, id="regex-missing-label-is-empty"),
        pytest.param('severity=~".*"', {}, True, id="regex-empty-matches-missing"),
        pytest.param("severity!~low|info", {"severity": "high"}, True, id="negative-regex"),
        pytest.param("mineral=", {}, None, id="empty-value-is-an-error"),
    ],
)
def test_matcher(matcher: str, labels: dict[str, str], expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ValueError, match="bad matcher"):
            parse_matcher(matcher)
        return
    assert parse_matcher(matcher).matches(labels) is expected


@pytest.mark.parametrize("text", ["mineral", "=x", "1abc=x", 'severity=~"("'])
def test_bad_matchers_are_rejected_with_the_matcher_named(text: str) -> None:
    with pytest.raises(ValueError, match="matcher"):
        parse_matcher(text)


def tree(yaml_text: str) -> RouteNode:
    return build_route_tree(Route.model_validate(yaml.safe_load(yaml_text)))


TREE = """
receiver: default
group_by: [mineral]
group_wait: 10s
routes:
  - receiver: slack
    matchers: ['severity=~"high|critical"']
    repeat_interval: 1h
    continue: true
    routes:
      - receiver: pager
        matchers: [severity=critical]
        group_interval: 1m
  - receiver: email
    matchers: ['severity=~".+"']
  - receiver: never
    matchers: [mineral=gallium]
"""


def test_first_matching_child_wins_unless_continue() -> None:
    assert receivers_for(tree(TREE), GALLIUM_CRITICAL) == ["pager", "email"]


def test_no_matching_child_means_the_node_itself() -> None:
    assert receivers_for(tree(TREE), {"mineral": "cobalt"}) == ["default"]
    assert receivers_for(tree(TREE), {**GALLIUM_CRITICAL, "severity": "high"}) == [
        "slack", "email"]


def test_children_inherit_unset_options_and_override_set_ones() -> None:
    pager, email = match_routes(tree(TREE), GALLIUM_CRITICAL)
    assert pager.group_wait == timedelta(seconds=10)
    assert pager.group_interval == timedelta(minutes=1)
    assert pager.repeat_interval == timedelta(hours=1)  # from its parent "slack"
    assert pager.group_by == ("mineral",)
    assert (email.group_interval, email.repeat_interval) == (GROUP_INTERVAL, REPEAT_INTERVAL)


def test_defaults_are_alertmanagers() -> None:
    only = match_routes(tree("receiver: r"), {})[0]
    assert (only.group_wait, only.group_interval, only.repeat_interval) == (
        GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL)
    assert (GROUP_WAIT, GROUP_INTERVAL, REPEAT_INTERVAL) == (
        timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=4))


def test_the_root_matches_everything_whatever_its_matchers() -> None:
    root = tree("receiver: r\nmatchers: [mineral=nothing]")
    assert receivers_for(root, {"mineral": "gallium"}) == ["r"]


def test_group_key_depends_on_group_by_labels_only() -> None:
    match = match_routes(tree(TREE), GALLIUM_CRITICAL)[0]
    same_group = {**GALLIUM_CRITICAL, "alertname": "price_jump_3m", "severity": "high"}
    other = {**GALLIUM_CRITICAL, "mineral": "germanium"}
    assert match.group_key(GALLIUM_CRITICAL) == match.group_key(same_group)
    assert match.group_key(GALLIUM_CRITICAL) != match.group_key(other)
    assert match.group_key(GALLIUM_CRITICAL).startswith(f"{match.route_id}:pager:")


def test_group_by_dots_puts_every_alert_in_its_own_group_whatever_its_severity() -> None:
    match = match_routes(tree("receiver: r\ngroup_by: ['...']"), GALLIUM_CRITICAL)[0]
    assert match.group_key(GALLIUM_CRITICAL) != match.group_key(
        {**GALLIUM_CRITICAL, "alertname": "other"})
    assert match.group_key(GALLIUM_CRITICAL) == match.group_key(
        {**GALLIUM_CRITICAL, "severity": "high"})


def test_shipped_routes_send_levelled_alerts_to_the_file_and_the_console() -> None:
    text = (default_config_dir() / "alerting.yaml").read_text("utf-8")
    shipped = AlertingFile.model_validate(yaml.safe_load(text))
    root = build_route_tree(shipped.route)
    assert receivers_for(root, GALLIUM_CRITICAL) == ["jsonl", "console"]


def test_the_documented_example_config_is_valid() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "alerting.md").read_text("utf-8")
    example = doc.split("## Configuration (`alerting.yaml`)")[1].split("```yaml\n")[1]
    parsed = AlertingFile.model_validate(yaml.safe_load(example.split("```")[0]))
    assert [r.name for r in parsed.receivers][:2] == ["console", "jsonl"]
    assert receivers_for(build_route_tree(parsed.route), GALLIUM_CRITICAL) == [
        "jsonl", "analysts_slack", "analysts_email"]
