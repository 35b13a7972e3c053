"""Label matchers, as Alertmanager writes them: pure, shared by config validation and alerting.

A matcher is ``label=value``, ``label!=value``, ``label=~regex`` or ``label!~regex``; the value
may be double-quoted (``severity=~"high|critical"``). Regular expressions are anchored, and a
missing label matches like an empty one, as in Alertmanager.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_MATCHER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label condition."""

    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f"{self.name}{self.op}{json.dumps(self.value, ensure_ascii=False)}"


def parse_matcher(text: str) -> Matcher:
    """Parse ``name<op>value``; raise ValueError naming the problem."""
    match = _MATCHER_RE.match(text)
    if not match or not match.group(3):
        raise ValueError(f"bad matcher {text!r}: use label=value, !=, =~ or !~")
    name, op, value = match.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = value[1:-1]
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression in matcher {text!r}: {exc}") from None
    return Matcher(name, op, value)


def parse_matchers(texts: Iterable[str]) -> tuple[Matcher, ...]:
    return tuple(parse_matcher(t) for t in texts)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
