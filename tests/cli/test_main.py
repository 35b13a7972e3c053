"""The command line, end to end into a temporary state directory."""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path

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
