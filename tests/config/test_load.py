"""Config loading: the shipped files are valid, and every bad edit is named precisely."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.common import format_duration, parse_duration, parse_size
from monitor.config.load import CONFIG_FILES, default_config_dir, load_config, resolve_config_dir
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


# --------------------------------------------------------------------------- hostile YAML

ONE_SOURCE = """version: 1
sources:
  - id: local_cobalt
    kind: fred_csv
    url: {url}
    mineral: cobalt
    unit: USD/t
{extra}"""


def billion_laughs(levels: int, width: int = 10) -> str:
    """A YAML flow sequence whose aliases expand to ``width ** levels`` strings."""
    anchors = [f'&l0 [{", ".join(["lol"] * width)}]']
    anchors += [f'&l{n} [{", ".join([f"*l{n - 1}"] * width)}]' for n in range(1, levels + 1)]
    return "[" + ", ".join(anchors) + "]"


def write_sources(directory: Path, extra: str = "",
                  url: str = "https://example.org/cobalt.csv") -> Path:
    path = directory / "sources.yaml"
    path.write_text(ONE_SOURCE.format(url=url, extra=extra), encoding="utf-8")
    return path


def test_yaml_aliases_are_refused_before_they_expand(tmp_path: Path) -> None:
    path = write_sources(tmp_path, f"    interval: {billion_laughs(levels=5)}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path)
    assert info.value.line == 8
    assert "alias" in str(info.value)
    assert len(str(info.value)) < 300


def test_a_billion_laughs_costs_neither_time_nor_memory(tmp_path: Path) -> None:
    write_sources(tmp_path, f"    interval: {billion_laughs(levels=30)}\n")  # 10**30 strings
    started = time.monotonic()
    with pytest.raises(ConfigError, match="alias"):
        load_config(tmp_path, environ={})
    assert time.monotonic() - started < 10


def test_an_oversized_config_file_is_refused_unread(tmp_path: Path) -> None:
    path = write_sources(tmp_path, "# " + "x" * (2 * 2**20) + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path)
    assert "larger than 1 MiB" in str(info.value)


def test_deeply_nested_yaml_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = write_sources(tmp_path, "    interval: " + "[" * 50_000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path) and info.value.line == 8
    assert "nested" in str(info.value)


def test_duplicate_keys_name_file_line_and_key(tmp_path: Path) -> None:
    path = write_sources(tmp_path, "    interval: 8h\n    jitter: 1m\n    interval: 1h\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path)
    assert info.value.line == 10
    assert "duplicate key 'interval'" in str(info.value)
    assert "line 8" in str(info.value)


@pytest.mark.parametrize(("extra", "what"), [
    ("    url2: x\n", "unknown key"),
    ("    interval: " + "9" * 5000 + "x\n", "bad duration"),
    ("    max_bytes: " + "lots" * 2000 + "\n", "bad size"),
    ("    mineral: " + "z" * 5000 + "\n", "unknown mineral"),
], ids=["short", "duration", "size", "mineral"])
def test_errors_quote_at_most_80_characters_of_a_value(tmp_path: Path, extra: str,
                                                       what: str) -> None:
    text = ONE_SOURCE.format(url="https://example.org/cobalt.csv", extra=extra)
    if "mineral: z" in extra:
        text = text.replace("    mineral: cobalt\n", "")
    (tmp_path / "sources.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=what) as info:
        load_config(tmp_path, environ={})
    assert len(info.value.detail) < 200


def test_an_unknown_kind_is_quoted_short(tmp_path: Path) -> None:
    write_sources(tmp_path)
    text = (tmp_path / "sources.yaml").read_text(encoding="utf-8")
    (tmp_path / "sources.yaml").write_text(
        text.replace("kind: fred_csv", "kind: " + "k" * 10_000), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.key == "sources.0.kind"
    assert info.value.line == 4
    assert "unknown kind 'kkkk" in str(info.value) and "fred_csv" in str(info.value)
    assert len(str(info.value)) < 500


# --------------------------------------------------------------------------- bounds


@pytest.mark.parametrize(("extra", "key", "expected"), [
    ("    interval: 999999999d\n", "sources.0.interval", "between 1s and 90d"),
    ("    jitter: 99999999999999w\n", "sources.0.jitter", "between 0s and 90d"),
    ("    timeout: 0s\n", "sources.0.timeout", "between 1s and 10m"),
    ("    timeout: 1.0e+400\n", "sources.0.timeout", "between 1s and 10m"),
    ("    timeout: .nan\n", "sources.0.timeout", "between 1s and 10m"),
    ("    interval: -5\n", "sources.0.interval", "between 1s and 90d"),
    ("    max_bytes: 0\n", "sources.0.max_bytes", "between 1KiB and 1GiB"),
    ("    max_bytes: " + "9" * 400 + "\n", "sources.0.max_bytes", "between 1KiB and 1GiB"),
    ("    max_bytes: " + "9" * 400 + "GB\n", "sources.0.max_bytes", "between 1KiB and 1GiB"),
    ("    interval: 1h\n    jitter: 2h\n", "sources.0.jitter", "at most the interval (1h)"),
    ("    stale_after: 0s\n", "sources.0.stale_after", "between 1m and 3650d"),
    ("    publication_lag: 99999d\n", "sources.0.publication_lag", "between 0s and 730d"),
])
def test_source_durations_and_sizes_are_bounded(tmp_path: Path, extra: str, key: str,
                                                expected: str) -> None:
    path = write_sources(tmp_path, extra)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path)
    assert info.value.key == key
    assert info.value.line == line_of(tmp_path, "sources.yaml", key.rsplit(".", 1)[1] + ":")
    assert expected in str(info.value)


@pytest.mark.parametrize(("name", "old", "new", "key", "expected"), [
    ("sources.yaml", "  news_items: 730d", "  news_items: 0s", "retention.news_items",
     "between 1d and 36500d"),
    ("sources.yaml", "  timeout: 60s", "  timeout: 11m", "defaults.timeout",
     "between 1s and 10m"),
    ("rules.yaml", "  half_life: 60d", "  half_life: 99999999999w", "news.half_life",
     "between 1h and 3650d"),
    ("rules.yaml", "  dedup_window: 3d", "  dedup_window: 9999d", "news.dedup_window",
     "between 0s and 365d"),
    ("alerting.yaml", "  group_wait: 30s", "  group_wait: 2d", "route.group_wait",
     "between 0s and 1d"),
    ("alerting.yaml", "  repeat_interval: 24h", "  repeat_interval: 0s",
     "route.repeat_interval", "between 1m and 365d"),
])
def test_durations_in_every_file_are_bounded(config_dir: Path, name: str, old: str, new: str,
                                             key: str, expected: str) -> None:
    edit(config_dir, name, old, new)
    with pytest.raises(ConfigError) as info:
        load_config(config_dir, environ={})
    assert info.value.key == key
    assert info.value.line == line_of(config_dir, name, new.strip())
    assert expected in str(info.value)


@pytest.mark.parametrize("key", ["for", "keep_firing_for"])
def test_rule_hold_and_keep_firing_for_are_bounded(config_dir: Path, key: str) -> None:
    edit(config_dir, "rules.yaml", "    levels: [warning]\n",
         f"    levels: [warning]\n    {key}: 999999999d\n")
    with pytest.raises(ConfigError, match=rf"rules\.2\.{key}: must be between 0s and 365d"):
        load_config(config_dir, environ={})


def test_delivery_backoff_is_bounded_and_ordered(tmp_path: Path) -> None:
    alerting = ("version: 1\nreceivers: [{name: console, kind: console}]\n"
                "route: {receiver: console}\ndelivery:\n  initial_backoff: 1h\n"
                "  max_backoff: 1m\n")
    (tmp_path / "alerting.yaml").write_text(alerting, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"delivery\.max_backoff: .*initial_backoff"):
        load_config(tmp_path, environ={})


def test_the_largest_allowed_values_load(tmp_path: Path) -> None:
    write_sources(tmp_path, "    interval: 90d\n    jitter: 90d\n    timeout: 10m\n"
                            "    max_bytes: 1GiB\n")
    source = load_config(tmp_path, environ={}).sources.sources[0]
    assert source.interval == timedelta(days=90) == source.jitter
    assert source.max_bytes == 2**30


@pytest.mark.parametrize("text", ["99999999999999w", "1e400", "9" * 400 + "d"])
def test_parse_duration_refuses_overflow_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


# --------------------------------------------------------------------------- secrets in URLs

SECRET_URL = "https://example.org/fred.csv?id=PCOBAUSDM&api_key=${CRITMON_TEST_FRED_KEY}"


def test_a_source_url_may_refer_to_a_secret(tmp_path: Path) -> None:
    write_sources(tmp_path, url=SECRET_URL)
    config = load_config(tmp_path, environ={"CRITMON_TEST_FRED_KEY": "k3y-VALUE-0123456789"})
    source = config.sources.sources[0]
    assert source.url == SECRET_URL  # what config show, history and the DB see
    assert source.fetch_url == "https://example.org/fred.csv?id=PCOBAUSDM&api_key=k3y-VALUE-0123456789"
    assert "k3y-VALUE-0123456789" in [s.get_secret_value() for s in config.secrets.values()]
    assert "k3y-VALUE-0123456789" not in repr(config) + repr(source) + str(source.model_dump())


def test_a_secret_in_a_url_is_percent_encoded(tmp_path: Path) -> None:
    write_sources(tmp_path, url=SECRET_URL)
    config = load_config(tmp_path, environ={"CRITMON_TEST_FRED_KEY": "a&b=c d/e"})
    assert config.sources.sources[0].fetch_url.endswith("api_key=a%26b%3Dc%20d%2Fe")


def test_a_missing_url_secret_names_file_line_and_variable(tmp_path: Path) -> None:
    path = write_sources(tmp_path, url=SECRET_URL)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path) and info.value.line == 5
    assert info.value.key == "sources.0.url"
    assert "CRITMON_TEST_FRED_KEY is not set" in str(info.value)


@pytest.mark.parametrize("url", [
    "https://example.org/x.csv?id=A&api_key=abcdef0123456789",
    "https://example.org/x.csv?access_token=abcdef0123456789&id=A",
    "https://example.org/x.csv?X-Amz-Signature=abcdef0123456789",
    "https://example.org/x.csv?password=${PART}abcdef0123456789",
    "https://user:abcdef0123456789@example.org/x.csv",
])
def test_an_inline_secret_in_a_url_is_refused_without_quoting_it(tmp_path: Path,
                                                                  url: str) -> None:
    write_sources(tmp_path, url=url)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={"PART": "x"})
    assert info.value.key == "sources.0.url"
    assert "${ENV_VAR}" in str(info.value)
    assert "abcdef0123456789" not in str(info.value)


def test_ordinary_query_parameters_are_not_secrets(tmp_path: Path) -> None:
    write_sources(tmp_path, url="https://example.org/x.csv?id=PCOBAUSDM&keyword=cobalt&key=")
    source = load_config(tmp_path, environ={}).sources.sources[0]
    assert source.fetch_url == source.url


@pytest.mark.parametrize("value", ["2024-13-45", "9" * 5000], ids=["date", "huge-int"])
def test_a_value_yaml_cannot_build_is_named_with_its_line(tmp_path: Path, value: str) -> None:
    path = write_sources(tmp_path, f"    description: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, environ={})
    assert info.value.file == str(path) and info.value.line == 8
    assert "cannot read this value" in str(info.value)
    assert len(str(info.value)) < 300
