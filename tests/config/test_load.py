"""Config loading: the shipped files are valid, and every bad edit is named precisely."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.load import (
    CONFIG_FILES,
    default_config_dir,
    format_duration,
    load_config,
    parse_duration,
    parse_size,
    resolve_config_dir,
)
from monitor.core.errors import ConfigError

SLACK_RECEIVER = """
version: 1
receivers:
  - name: console
    kind: console
  - name: team
    kind: slack
    channel: "#minerals"
    token: ${CRITMON_TEST_SLACK_TOKEN}
route:
  receiver: console
"""


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped config to edit."""
    for name in CONFIG_FILES:
        (tmp_path / name).write_text((default_config_dir() / name).read_text(encoding="utf-8"),
                                     encoding="utf-8")
    return tmp_path


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(directory: Path, name: str, needle: str) -> int:
    lines = (directory / name).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_shipped_config_is_valid() -> None:
    config = load_config(default_config_dir(), environ={})
    ids = config.mineral_ids
    assert {"gallium", "germanium", "graphite", "antimony", "tungsten", "cobalt",
            "lithium", "rare_earths"} <= set(ids)
    assert len(config.sources.sources) >= 9
    assert all(s.enabled for s in config.sources.sources)
    assert config.rules.risk.weights.structural > 0


def test_shipped_sources_poll_a_few_times_a_day_not_every_minute() -> None:
    config = load_config(default_config_dir(), environ={})
    assert all(timedelta(hours=1) <= s.interval <= timedelta(days=1)
               for s in config.sources.sources)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("4h", timedelta(hours=4)),
     ("7d", timedelta(days=7)), ("1w", timedelta(weeks=1)), ("1.5h", timedelta(minutes=90)),
     (90, timedelta(seconds=90))],
)
def test_parse_duration_accepts_numbers_with_units(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5", "five minutes", "5 min", "-3h", "", "h", True])
def test_parse_duration_rejects_what_it_cannot_read(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("30s", "5m", "4h", "7d", "2w", "90m"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


def test_parse_size_understands_units() -> None:
    assert parse_size("20MB") == 20_000_000
    assert parse_size("512KiB") == 524_288
    assert parse_size(1000) == 1000
    with pytest.raises(ValueError, match="size"):
        parse_size("lots")


def test_unknown_key_names_file_key_path_and_line(config_dir: Path) -> None:
    edit(config_dir, "sources.yaml", "    mineral: nickel\n",
         "    mineral: nickel\n    minerall: nickel\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    error = info.value
    assert error.file == str(config_dir / "sources.yaml")
    assert error.key is not None and error.key.endswith("minerall")
    assert error.key.startswith("sources.2.")
    assert error.line == line_of(config_dir, "sources.yaml", "minerall")
    assert "unknown key 'minerall'" in str(error)


def test_wrong_type_is_named(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "  hysteresis: 3\n", "  hysteresis: lots\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert info.value.key == "risk.hysteresis"
    assert info.value.line == line_of(config_dir, "rules.yaml", "hysteresis: lots")


def test_unknown_mineral_id_is_named_with_a_suggestion(config_dir: Path) -> None:
    edit(config_dir, "sources.yaml", "mineral: nickel", "mineral: nickle")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert info.value.key == "sources.2.mineral"
    assert "unknown mineral 'nickle'" in str(info.value)
    assert "nickel" in str(info.value)
    assert info.value.line == line_of(config_dir, "sources.yaml", "mineral: nickle")


def test_unknown_mineral_in_pinksheet_columns_is_named(config_dir: Path) -> None:
    edit(config_dir, "sources.yaml", "ZINC: zinc", "ZINC: zinq")
    with pytest.raises(ConfigError, match=r"sources\.8\.columns\.ZINC: unknown mineral 'zinq'"):
        load_config(config_dir, environ={})


def test_bad_duration_is_named(config_dir: Path) -> None:
    edit(config_dir, "sources.yaml", "  interval: 8h", "  interval: 8 hours")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert "bad duration '8 hours'" in str(info.value)
    assert info.value.key is not None and info.value.key.endswith("interval")


def test_missing_env_var_for_a_secret_is_named(config_dir: Path) -> None:
    (config_dir / "alerting.yaml").write_text(SLACK_RECEIVER, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert info.value.key == "receivers.1.token"
    assert "CRITMON_TEST_SLACK_TOKEN is not set" in str(info.value)


def test_secret_resolves_from_env_and_never_shows_in_repr(config_dir: Path) -> None:
    (config_dir / "alerting.yaml").write_text(SLACK_RECEIVER, encoding="utf-8")
    config = load_config(config_dir, environ={"CRITMON_TEST_SLACK_TOKEN": "xoxb-very-secret"})
    secret = config.secrets["team.token"]
    assert secret.get_secret_value() == "xoxb-very-secret"
    assert "xoxb-very-secret" not in repr(config)
    assert "xoxb-very-secret" not in str(secret)


def test_secret_file_is_read_relative_to_the_credentials_directory(
        config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    credentials = tmp_path_factory.mktemp("credentials")
    (credentials / "slack_token").write_text("xoxb-from-file\n", encoding="utf-8")
    text = SLACK_RECEIVER.replace("${CRITMON_TEST_SLACK_TOKEN}", "{file: slack_token}")
    (config_dir / "alerting.yaml").write_text(text, encoding="utf-8")
    config = load_config(config_dir, environ={"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.secrets["team.token"].get_secret_value() == "xoxb-from-file"


def test_inline_secret_is_refused(config_dir: Path) -> None:
    text = SLACK_RECEIVER.replace("${CRITMON_TEST_SLACK_TOKEN}", "xoxb-pasted-inline")
    (config_dir / "alerting.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"never inline"):
        load_config(config_dir, environ={})


def test_invalid_yaml_names_the_line(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "  hysteresis: 3\n", "  hysteresis: [3\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert "invalid YAML" in str(info.value)
    assert info.value.line is not None


def test_weights_must_sum_to_one(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "    structural: 0.6", "    structural: 0.7")
    with pytest.raises(ConfigError, match=r"risk\.weights: weights must sum to 1"):
        load_config(config_dir, environ={})


def test_negative_weight_is_refused(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "    market: 0.2", "    market: -0.2")
    with pytest.raises(ConfigError, match=r"risk\.weights\.market"):
        load_config(config_dir, environ={})


def test_route_to_unknown_receiver_is_refused(config_dir: Path) -> None:
    edit(config_dir, "alerting.yaml", "  receiver: console\n", "  receiver: pager\n")
    with pytest.raises(ConfigError, match="unknown receiver 'pager'"):
        load_config(config_dir, environ={})


def test_duplicate_source_ids_are_refused(config_dir: Path) -> None:
    edit(config_dir, "sources.yaml", "id: fred_copper", "id: fred_aluminum")
    with pytest.raises(ConfigError, match="duplicate source ids: fred_aluminum"):
        load_config(config_dir, environ={})


def test_a_missing_file_falls_back_to_the_shipped_default(config_dir: Path) -> None:
    (config_dir / "rules.yaml").unlink()
    config = load_config(config_dir, environ={})
    assert config.origins["rules.yaml"] == str(default_config_dir() / "rules.yaml")
    assert config.origins["sources.yaml"] == str(config_dir / "sources.yaml")


def test_digest_changes_with_content(config_dir: Path) -> None:
    before = load_config(config_dir, environ={}).digest
    edit(config_dir, "rules.yaml", "  hysteresis: 3\n", "  hysteresis: 4\n")
    assert load_config(config_dir, environ={}).digest != before


def test_config_dir_resolution_order(tmp_path: Path) -> None:
    assert resolve_config_dir("/explicit", {"CRITMON_CONFIG": "/env"}) == Path("/explicit")
    assert resolve_config_dir(None, {"CRITMON_CONFIG": "/env"}) == Path("/env")
    assert resolve_config_dir(None, {"CONFIGURATION_DIRECTORY": "/etc/critmon"}) == Path(
        "/etc/critmon")
    assert resolve_config_dir(None, {"XDG_CONFIG_HOME": str(tmp_path)}) == default_config_dir()
    (tmp_path / "critmon").mkdir()
    assert resolve_config_dir(None, {"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "critmon"


def test_unknown_detector_kind_is_a_config_error_with_its_key_path(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "detector: {kind: threshold, thresholds: [50, 75]",
         "detector: {kind: thresold, thresholds: [50, 75]")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert info.value.key == "rules.0.detector"
    assert "unknown detector kind 'thresold'" in str(info.value)
    assert info.value.line == line_of(config_dir, "rules.yaml", "kind: thresold")


def test_unknown_detector_parameter_is_a_config_error(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "thresholds: [50, 75], direction: above",
         "thresholds: [50, 75], direktion: above")
    with pytest.raises(ConfigError, match=r"rules\.0\.detector: .*direktion"):
        load_config(config_dir, environ={})


def test_override_of_an_unknown_rule_is_named(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "overrides: {}", "overrides:\n  gallium:\n    price_jmp: {}")
    with pytest.raises(ConfigError, match=r"overrides\.gallium\.price_jmp: no rule named"):
        load_config(config_dir, environ={})


def test_override_with_a_bad_parameter_is_named(config_dir: Path) -> None:
    edit(config_dir, "rules.yaml", "overrides: {}",
         "overrides:\n  gallium:\n    price_jump_3m: {thresholdz: [0.2]}")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert info.value.key == "overrides.gallium.price_jump_3m"
    assert "thresholdz" in str(info.value)
    assert info.value.line == line_of(config_dir, "rules.yaml", "price_jump_3m: {thresholdz")
