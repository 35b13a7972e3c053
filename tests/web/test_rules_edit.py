"""Drafts of rules.yaml from the form: validated as `config check` does, written atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.config.load import default_config_dir, load_config
from monitor.core.errors import ConfigError
from monitor.web.rules_edit import (
    Draft,
    build_draft,
    check_draft,
    form_fields,
    writable_dir,
    write_atomically,
)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(default_config_dir(), tmp_path / "config"))


def draft_of(config_dir: Path, **changes: str) -> Draft:
    config = load_config(config_dir)
    fields = {**form_fields(config), **changes}
    return check_draft(config, build_draft(config, fields), config_dir)


def test_the_unchanged_form_gives_the_same_config(config_dir: Path) -> None:
    draft = draft_of(config_dir)
    assert draft.error == ""
    assert draft.config is not None
    before = load_config(config_dir)
    assert draft.config.rules == before.rules  # same model, comments aside


def test_weights_levels_thresholds_and_an_override_change(config_dir: Path) -> None:
    draft = draft_of(config_dir, weight_structural="0.5", weight_market="0.3",
                     level_2_min="55", rule_price_jump_3m_thresholds="0.2, 0.4",
                     override_0_mineral="gallium", override_0_rule="price_stale",
                     override_0_params="{enabled: false}")
    assert draft.error == "", draft.error
    rules = draft.config.rules
    assert (rules.risk.weights.structural, rules.risk.weights.market) == (0.5, 0.3)
    assert [level.min for level in rules.risk.levels] == [0, 25, 55, 75]
    jump = next(r for r in rules.rules if r.name == "price_jump_3m")
    assert jump.detector.params()["thresholds"] == [0.2, 0.4]
    assert rules.overrides == {"gallium": {"price_stale": {"enabled": False}}}
    assert draft.changed == ["rules.yaml"]


@pytest.mark.parametrize(("changes", "key", "words"), [
    ({"weight_market": "0.5"}, "risk.weights", "sum to 1"),
    ({"rule_price_jump_3m_thresholds": "0.4, 0.2"}, "rules.1.detector", "increasing"),
    ({"rule_price_jump_3m_thresholds": "high"}, "rules.1.detector", ""),
    ({"level_1_min": "0"}, "risk.levels", "strictly increase"),
    ({"override_0_mineral": "gallium", "override_0_rule": "no_such_rule",
      "override_0_params": "{thresholds: [1]}"}, "overrides.gallium.no_such_rule",
     "no rule named"),
])
def test_a_bad_draft_names_the_real_file_the_key_and_the_line(
        config_dir: Path, changes: dict[str, str], key: str, words: str) -> None:
    draft = draft_of(config_dir, **changes)
    assert draft.config is None
    assert draft.error.startswith(f"{config_dir / 'rules.yaml'}:"), draft.error
    assert key in draft.error and words in draft.error
    assert draft.error_line and 0 < draft.error_line <= len(draft.text.splitlines())
    assert "critmon-draft-" not in draft.error  # the private copy's path never shows


def test_an_override_that_is_not_yaml_is_refused(config_dir: Path) -> None:
    draft = draft_of(config_dir, override_0_mineral="gallium", override_0_rule="price_stale",
                     override_0_params="{enabled: [")
    assert "overrides: gallium.price_stale" in draft.error


def test_the_shipped_config_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config init"):
        writable_dir(default_config_dir())
    assert writable_dir(tmp_path) == tmp_path


def test_a_write_replaces_the_file_whole_and_keeps_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "rules.yaml"
    target.write_text("old\n")
    target.chmod(0o640)
    write_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]  # no temporary file left
