"""`critmon rules preview DRAFT_DIR`: alerts a draft config gains and loses, and both scores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from monitor.cli.main import cli
from monitor.config.load import default_config_dir

PRICE_JUMP = "thresholds: [0.262, 0.470]"  # +30% high, +60% critical (config/rules.yaml)


def draft(tmp_path: Path, thresholds: str) -> Path:
    """The shipped config with the price-jump thresholds replaced."""
    directory = tmp_path / "draft"
    shutil.copytree(default_config_dir(), directory)
    rules = directory / "rules.yaml"
    text = rules.read_text()
    assert PRICE_JUMP in text
    rules.write_text(text.replace(PRICE_JUMP, f"thresholds: {thresholds}"))
    return directory


def run_preview(tmp_path: Path, draft_dir: Path, *extra: str) -> dict:
    out = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "rules", "preview",
                                   str(draft_dir), "--from", "2021-06-01", "--to", "2022-06-30",
                                   "--mineral", "nickel", "--mineral", "copper", *extra])
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout) if "json" in extra else {"text": out.stdout}


def test_a_lower_threshold_gains_alerts(tmp_path: Path) -> None:
    doc = run_preview(tmp_path, draft(tmp_path, "[0.095, 0.182]"), "--format", "json")
    nickel = {m["mineral"]: m for m in doc["minerals"]}["nickel"]
    assert nickel["gained"] >= 1
    assert {a["rule"] for a in nickel["gained_alerts"]} == {"price_jump_3m"}
    current, lowered = doc["scoring"]["current"], doc["scoring"]["draft"]
    assert lowered["alert_onsets"] > current["alert_onsets"]
    assert doc["gained"] == sum(m["gained"] for m in doc["minerals"])


def test_a_higher_threshold_loses_alerts(tmp_path: Path) -> None:
    doc = run_preview(tmp_path, draft(tmp_path, "[0.9, 1.2]"), "--format", "json")
    nickel = {m["mineral"]: m for m in doc["minerals"]}["nickel"]
    assert nickel["lost"] >= 1 and nickel["gained"] == 0 and doc["gained"] == 0
    assert {a["rule"] for a in nickel["lost_alerts"]} == {"price_jump_3m"}
    assert doc["scoring"]["draft"]["alert_onsets"] < doc["scoring"]["current"]["alert_onsets"]


def test_the_same_config_changes_nothing_and_the_table_says_so(tmp_path: Path) -> None:
    text = run_preview(tmp_path, default_config_dir())["text"]
    assert "no alert gained or lost" in text
    assert "recall" in text and "current" in text and "draft" in text


def test_a_bad_draft_is_refused(tmp_path: Path) -> None:
    broken = draft(tmp_path, "[0.9, 1.2]")
    (broken / "rules.yaml").write_text("rules: [{name: x}]\n")
    out = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "rules", "preview",
                                   str(broken), "--from", "2022-01-01", "--to", "2022-02-01"])
    assert out.exit_code != 0
