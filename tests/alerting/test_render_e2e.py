"""Messages end to end: prices served over local HTTP, the daemon's cycle with the real rules
engine, the Slack stand-in, aiosmtpd and the JSONL file receiver (what a reader receives)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.alerting.test_alerting_e2e import (
    HISTORY,
    SPIKE,
    Setup,
    live_setup,
)

#: Two rules on gallium's 3-month price change: a big jump and a smaller move.
RULES = """
version: 1
rules:
  - name: price_jump_3m
    description: The price rose more than 30% in three months.
    indicator: price_change_3m
    minerals: [gallium]
    detector: {kind: threshold, thresholds: [0.262, 0.470], direction: above}
    levels: [high, critical]
  - name: price_move_3m
    description: The price rose more than 10% in three months.
    indicator: price_change_3m
    minerals: [gallium]
    detector: {kind: threshold, thresholds: [0.1], direction: above}
    levels: [warning]
"""
MILD = HISTORY + "2025-11-01,460\n"  # ln(460/400) = 0.140: the move fires, the jump does not
CALM = HISTORY + "2025-11-01,415\n"  # ln(415/400) = 0.037: neither


@pytest.fixture
def setup(tmp_path: Path, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[Setup]:
    with live_setup(tmp_path, httpserver, monkeypatch, rules=RULES) as ready:
        yield ready


def step(setup: Setup, csv: str) -> None:
    setup.serve(csv)
    setup.clock.advance(timedelta(hours=1))
    setup.once()


def test_a_resolution_is_named_in_the_title_and_shows_its_resolving_value(setup: Setup
                                                                         ) -> None:
    step(setup, SPIKE)
    (fired,) = setup.slack.wait_for(1)
    assert fired.body["text"] == "[HIGH] gallium price change 3m +50% (+1 more)"
    assert "price change 3m: +50% (threshold +30%)" in fired.text
    assert "value 0.405" not in fired.text, "no log values"

    step(setup, MILD)  # the jump resolves while the move keeps firing: one mixed message
    mixed = setup.slack.wait_for(2)[1]
    assert mixed.body["text"] == \
        "[RESOLVED] 1 resolved, 1 firing: gallium price change 3m +15% (was +50%)"
    assert "price change 3m: now +15%, back below +30% (was +50%)" in mixed.text
    assert "When it fired: gallium high: The price rose more than 30% in three months. " \
           "value +50% above +30%" in mixed.text
    mail = setup.smtp.wait_for(2)[1].message
    assert mail["Subject"] == \
        "[critmon][RESOLVED] 1 resolved, 1 firing: gallium price change 3m +15% (was +50%)"

    step(setup, CALM)  # the move resolves too
    calm = setup.slack.wait_for(3)[2]
    assert calm.body["text"] == "[RESOLVED] gallium price change 3m +4% (was +15%)"
    lines = (setup.state_dir / "alerts.jsonl").read_text("utf-8").splitlines()
    last = json.loads(lines[-1])
    assert last["title"] == "Resolved: gallium price change 3m +4% (was +15%)"
    assert last["alerts"][0]["shown"] == \
        "price change 3m: now +4%, back below +11% (was +15%)"
    assert last["alerts"][0]["value"] == pytest.approx(0.0368, abs=1e-3), "raw value kept"
