"""What a draft configuration would have changed: replay the running config and the draft.

:func:`preview` is pure (no I/O): both configurations are replayed over the same data and
dates, their onsets compared per mineral (an onset is identified by its date, mineral, rule and
level) and each scored against the same events. ``critmon rules preview`` and the console's
preview both call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from monitor.backtest.events import Event
from monitor.backtest.inputs import ReplayData
from monitor.backtest.replay import Onset, replay_configs
from monitor.backtest.scoring import DEFAULT_EXCLUDED_RULES, onsets, score_replay
from monitor.config.load import Config


@dataclass(frozen=True, slots=True)
class MineralChange:
    """The alerts one mineral gains and loses under the draft."""

    mineral: str
    gained: tuple[Onset, ...]
    lost: tuple[Onset, ...]

    def row(self) -> dict[str, Any]:
        return {"mineral": self.mineral, "gained": len(self.gained), "lost": len(self.lost),
                "gained_alerts": [_onset_row(o) for o in self.gained],
                "lost_alerts": [_onset_row(o) for o in self.lost]}


@dataclass(frozen=True, slots=True)
class Preview:
    """Per-mineral changes (minerals with any) and the scoring summary of each config."""

    start: date
    end: date
    changes: tuple[MineralChange, ...]
    current: dict[str, Any]
    draft: dict[str, Any]

    @property
    def gained(self) -> int:
        return sum(len(c.gained) for c in self.changes)

    @property
    def lost(self) -> int:
        return sum(len(c.lost) for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "gained": self.gained, "lost": self.lost,
                "minerals": [c.row() for c in self.changes],
                "scoring": {"current": self.current, "draft": self.draft}}


def preview(current: Config, draft: Config, data: ReplayData, events: Sequence[Event], *,
            start: date, end: date, minerals: Sequence[str] | None = None,
            min_level: str = "high",
            excluded_rules: Iterable[str] = DEFAULT_EXCLUDED_RULES,
            progress: Callable[[int, int], None] | None = None) -> Preview:
    """Replay both configs over [start, end] and compare the alerts each would have raised.

    One pass (:func:`~monitor.backtest.replay.replay_configs`): when the draft assesses like
    the running config (it changes rules, not the risk model, news settings or minerals),
    the inputs and every mineral's assessment are computed once and shared, and only the rules
    and alerts run twice. ``progress`` gets ``(steps_done, steps_total)`` over both replays
    together.
    """
    excluded = tuple(excluded_rules)
    found = []
    summaries = []
    results = replay_configs((current, draft), data, start, end, minerals=minerals,
                             progress=progress)
    for config, result in zip((current, draft), results, strict=True):
        scored = score_replay(config, data, events, result, min_level=min_level,
                              excluded_rules=excluded)
        found.append({_key(o): o for o in onsets(result, min_level=min_level,
                                                 excluded_rules=excluded)})
        summaries.append(scored.summary())
    before, after = found
    changed = sorted({k[1] for k in before.keys() ^ after.keys()})
    changes = tuple(MineralChange(
        mineral,
        tuple(after[k] for k in sorted(after.keys() - before.keys()) if k[1] == mineral),
        tuple(before[k] for k in sorted(before.keys() - after.keys()) if k[1] == mineral))
        for mineral in changed)
    return Preview(start, end, changes, summaries[0], summaries[1])


def _key(onset: Onset) -> tuple[date, str, str, str]:
    return (onset.at, onset.mineral, onset.rule, onset.level or "")


def _onset_row(onset: Onset) -> dict[str, Any]:
    return {"at": onset.at.isoformat(), "rule": onset.rule, "level": onset.level,
            "value": onset.value, "summary": onset.summary}
