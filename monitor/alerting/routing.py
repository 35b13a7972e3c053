"""The route tree (Alertmanager's ``route``): pure; matchers are in ``monitor.config.matchers``.

The route tree is searched depth first: a matching child ends the search unless it sets
``continue``; when no child matches, the node itself is the match. Unset options (receiver,
``group_by`` and the three timers) are inherited from the parent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from monitor.config.matchers import Matcher, matches_all, parse_matchers

if TYPE_CHECKING:
    from monitor.config.alerting import Route

GROUP_WAIT = timedelta(seconds=30)
GROUP_INTERVAL = timedelta(minutes=5)
REPEAT_INTERVAL = timedelta(hours=4)

# --------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class RouteNode:
    """A route with every option resolved (inherited from its parents where unset)."""

    id: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...] | None  # None: ``...``, every alert its own group
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    continue_: bool = False
    children: tuple[RouteNode, ...] = ()


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where one alert goes: a receiver, its grouping and timers."""

    route_id: str
    receiver: str
    group_by: tuple[str, ...] | None
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by is None:
            return {k: v for k, v in labels.items() if k != "severity"}
        return {name: labels.get(name, "") for name in self.group_by}

    def group_key(self, labels: Mapping[str, str]) -> str:
        """A stable key for the alert's group under this route (route + receiver + labels)."""
        grouped = json.dumps(sorted(self.group_labels(labels).items()), ensure_ascii=False)
        digest = hashlib.sha256(grouped.encode("utf-8")).hexdigest()[:12]
        return f"{self.route_id}:{self.receiver}:{digest}"


def build_route_tree(route: Route) -> RouteNode:
    """Resolve a config route (the root) into a tree of :class:`RouteNode`."""
    root = RouteNode(id="0", receiver=route.receiver or "", matchers=(), group_by=(),
                     group_wait=GROUP_WAIT, group_interval=GROUP_INTERVAL,
                     repeat_interval=REPEAT_INTERVAL)
    return _resolve(route, root, "0", is_root=True)


def _resolve(route: Route, parent: RouteNode, node_id: str, *, is_root: bool = False
             ) -> RouteNode:
    group_by = parent.group_by if route.group_by is None else _group_by(route.group_by)
    node = RouteNode(
        id=node_id,
        receiver=route.receiver or parent.receiver,
        # The root matches everything, whatever it says (Alertmanager enforces the same).
        matchers=() if is_root else parse_matchers(route.matchers),
        group_by=group_by,
        group_wait=_pick(route.group_wait, parent.group_wait),
        group_interval=_pick(route.group_interval, parent.group_interval),
        repeat_interval=_pick(route.repeat_interval, parent.repeat_interval),
        continue_=route.continue_,
    )
    children = tuple(_resolve(child, node, f"{node_id}.{index}")
                     for index, child in enumerate(route.routes))
    return replace(node, children=children)


def _group_by(names: tuple[str, ...]) -> tuple[str, ...] | None:
    return None if "..." in names else tuple(names)


def _pick(value: timedelta | None, inherited: timedelta) -> timedelta:
    return inherited if value is None else value


def match_routes(node: RouteNode, labels: Mapping[str, str]) -> list[RouteMatch]:
    """Every route (receiver + grouping) an alert with ``labels`` goes to, in tree order."""
    if not matches_all(node.matchers, labels):
        return []
    found: list[RouteMatch] = []
    for child in node.children:
        matched = match_routes(child, labels)
        if matched:
            found.extend(matched)
            if not child.continue_:
                break
    if found:
        return found
    return [RouteMatch(node.id, node.receiver, node.group_by, node.group_wait,
                       node.group_interval, node.repeat_interval)]


def receivers_for(node: RouteNode, labels: Mapping[str, str]) -> list[str]:
    """The receiver names an alert reaches (each once, in tree order)."""
    return list(dict.fromkeys(m.receiver for m in match_routes(node, labels)))
