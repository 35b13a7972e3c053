"""The HTML report: valid, self-contained, one chart per mineral, text escaped."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import stat
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.alerting.render import Locale
from monitor.backtest.events import Event
from monitor.backtest.inputs import bundled_data
from monitor.backtest.report import render_report
from monitor.backtest.scoring import episodes, run_backtest
from monitor.cli.backtest import chart_specs
from monitor.cli.main import cli
from monitor.config.load import default_config_dir, load_config
from monitor.store.database import DB_NAME, Store

MINERALS = ["nickel", "copper", "gallium"]
VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "source", "wbr"}


class _Checker(HTMLParser):
    """Collects svg roots, external asset references and tag balance."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.svgs = 0
        self.sections: list[str] = []
        self.external: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg" and "svg" not in self.stack:
            self.svgs += 1
        if tag == "section":
            self.sections.append(dict(attrs).get("id") or "")
        for name, value in attrs:
            if name in ("src", "href", "xlink:href") and value and \
                    value.strip().lower().startswith(("http:", "https:", "//")):
                self.external.append(value)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()


STORE_HISTORY = [{"at": "2024-01-01", "reason": "<img src=x>"},
                 {"at": "2024-01-02T08:30:00+00:00", "type": "state", "event": "fired",
                  "alertname": "supply_risk_level", "mineral": "gallium", "level": "critical",
                  "reason": "inactive->firing"}]


@pytest.fixture(scope="module")
def replayed() -> tuple:
    config = load_config(default_config_dir())
    evil = Event("<script>alert(1)</script>", date(2022, 3, 8), None, ("nickel",), "X",
                 "market_disruption", summary="<b>bold</b>")
    result, scored = run_backtest(config, bundled_data(config), [evil], start=date(2021, 6, 1),
                                  end=date(2022, 12, 31), minerals=MINERALS)
    return config, evil, result, scored


@pytest.fixture(scope="module")
def report_html(replayed: tuple) -> str:
    config, evil, result, scored = replayed
    return render_report(result, chart_specs(config, MINERALS), events=[evil],
                         episodes=episodes(result.transitions), score=scored,
                         store_history=STORE_HISTORY)


@pytest.fixture(scope="module")
def report_zh(replayed: tuple) -> str:
    config, evil, result, scored = replayed
    return render_report(result, chart_specs(config, MINERALS), events=[evil],
                         episodes=episodes(result.transitions), score=scored,
                         store_history=STORE_HISTORY, title="critmon 报告",
                         locale=Locale.of("zh", config.minerals.minerals))


def test_report_is_valid_self_contained_html(report_html: str) -> None:
    checker = _Checker()
    checker.feed(report_html)
    checker.close()
    assert report_html.startswith("<!DOCTYPE html>")
    assert checker.errors == []
    assert checker.stack == []
    assert checker.external == []
    assert checker.svgs == len(MINERALS)
    assert checker.sections == [f"m-{m}" for m in MINERALS]


def test_report_escapes_text(report_html: str) -> None:
    assert "<script>" not in report_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report_html
    assert "<img src=x>" not in report_html


class _Text(HTMLParser):
    """The text a reader sees: every text node (SVG text included), no styles or scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.chunks.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return "\n".join(parser.chunks)


LEVEL_WORDS = re.compile(r"\b(critical|high|moderate|low|warning|firing|resolved)\b", re.IGNORECASE)


def test_the_chinese_report_names_minerals_levels_and_dates_in_chinese(report_zh: str) -> None:
    text = visible_text(report_zh)
    assert "<html lang=zh-Hans>" in report_zh
    for name in ("镍", "铜", "镓"):  # name_zh of nickel, copper, gallium in minerals.yaml
        assert f"<h3>{name} <small>" in report_zh
    # headings, the chart's level bands, the replayed episode (nickel critical, 2022)
    for words in ("回测摘要", "告警历史", "低", "中等", "高", "严重", "3个月价格跳升",
                  "2022年4月4日", "2021年6月1日", "供应风险等级", "触发", "2024年1月2日 08:30 UTC"):
        assert words in text, words
    assert LEVEL_WORDS.findall(text) == []
    checker = _Checker()
    checker.feed(report_zh)
    checker.close()
    assert checker.errors == [] and checker.stack == [] and checker.external == []
    assert checker.svgs == len(MINERALS)


def test_the_english_report_keeps_its_words(report_html: str) -> None:
    text = visible_text(report_html)
    assert "<html lang=en>" in report_html and "<h3>Nickel <small>" in report_html
    assert "critical" in text and "2022-04-04" in text and "严重" not in text


def test_the_chinese_report_escapes_text(report_zh: str) -> None:
    assert "<script>" not in report_zh and "<img src=x>" not in report_zh
    # the event id in the events table and as text in the charts' SVG
    assert report_zh.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2


def test_chinese_factor_descriptions() -> None:
    zh = Locale("zh")
    assert zh.factor("supply_risk: structural") == "供应风险\uff1a结构性"
    assert zh.factor("news export_control (China)") == "新闻\uff1a出口管制\uff08China\uff09"
    assert zh.factor("price_change_3m, price_volatility") == "3个月价格变化 + 价格波动率"
    assert Locale().factor("supply_risk: structural") == "supply_risk: structural"


def test_a_locale_refuses_an_unknown_language() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        Locale.of("fr")


def test_cli_report_writes_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "report", "--out", str(out),
                                      "--mineral", "nickel", "--since", "2022-01-01",
                                      "--to", "2022-06-30"])
    assert result.exit_code == 0, result.output
    checker = _Checker()
    checker.feed(out.read_text(encoding="utf-8"))
    assert checker.svgs == 1 and checker.external == []


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)


def test_cli_report_in_chinese(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "report", "--out", str(out),
                                      "--mineral", "nickel", "--since", "2022-01-01",
                                      "--to", "2022-06-30", "--language", "zh"])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "<title>critmon 报告</title>" in page and "<h3>镍 <small>" in page
    assert LEVEL_WORDS.findall(visible_text(page)) == []


def test_cli_report_refuses_an_unknown_language(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--state-dir", str(tmp_path), "report", "--out",
                                      str(tmp_path / "r.html"), "--language", "fr"])
    assert result.exit_code == 2 and "--language" in result.output


@pytest.mark.parametrize("language", ["en", "zh"])
def test_report_renders_in_headless_chromium(report_html: str, report_zh: str, language: str,
                                             tmp_path: Path) -> None:
    assert CHROMIUM, "Debian's chromium is needed: `make test` installs it (make system-deps)"
    page = tmp_path / "report.html"
    page.write_text(report_zh if language == "zh" else report_html, encoding="utf-8")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", page.as_uri()],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("<svg") >= len(MINERALS)
    assert "Uncaught" not in done.stderr
    if language == "zh":
        assert "严重" in done.stdout and "<h3>镓 <small>" in done.stdout


# --------------------------------------------------------------------------- where --out may write

EX_CANTCREAT = 73
REPORT_ARGS = ["--mineral", "nickel", "--since", "2022-01-01", "--to", "2022-03-31"]


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A state directory whose database holds one value to check it survived."""
    directory = tmp_path / "state"
    directory.mkdir(mode=0o700)
    with Store.open(directory / DB_NAME) as store:
        store.set_meta("canary", "alive")
    return directory


def run(state: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--state-dir", str(state), *args])
    return result.exit_code, result.output


def canary(state: Path) -> str | None:
    with Store.open(state / DB_NAME) as store:
        return store.get_meta("canary")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("name", [DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm", "link.html"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_report_out_never_writes_over_the_state_database(state: Path, name: str,
                                                         force: list[str]) -> None:
    if name == "link.html":
        (state / name).symlink_to(state / DB_NAME)
    code, out = run(state, "report", "--out", str(state / name), *force, *REPORT_ARGS)
    assert code == EX_CANTCREAT
    assert str(state / name) in out and "state database" in out
    assert canary(state) == "alive"


def test_report_out_refuses_a_file_that_is_not_a_report_unless_forced(state: Path,
                                                                      tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n", encoding="utf-8")
    code, out = run(state, "report", "--out", str(notes), *REPORT_ARGS)
    assert code == EX_CANTCREAT
    assert str(notes) in out and "not a critmon report" in out and "--force" in out
    assert notes.read_text(encoding="utf-8") == "precious\n"
    code, out = run(state, "report", "--out", str(notes), "--force", *REPORT_ARGS)
    assert code == 0, out
    assert "<svg" in notes.read_text(encoding="utf-8") and mode(notes) == 0o600


def test_report_out_refuses_any_sqlite_database_even_forced(state: Path, tmp_path: Path
                                                            ) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    code, out = run(state, "report", "--out", str(other), "--force", *REPORT_ARGS)
    assert code == EX_CANTCREAT and "SQLite database" in out
    assert other.read_bytes().startswith(b"SQLite format 3\x00")


def test_report_out_replaces_a_previous_report_privately(state: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert run(state, "report", "--out", str(out), *REPORT_ARGS)[0] == 0
    assert mode(out) == 0o600
    out.chmod(0o644)
    assert run(state, "report", "--out", str(out), *REPORT_ARGS)[0] == 0
    assert mode(out) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_a_report_written_before_the_marker_existed_is_still_recognised(
        state: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.html"
    out.write_text("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>critmon "
                   "report</title><meta name=generator content=critmon></head></html>\n",
                   encoding="utf-8")
    assert run(state, "report", "--out", str(out), *REPORT_ARGS)[0] == 0
    assert "<svg" in out.read_text(encoding="utf-8")


def test_backtest_report_never_writes_over_the_state_database(state: Path) -> None:
    code, out = run(state, "backtest", "--from", "2022-01-01", "--to", "2022-02-28",
                    "--mineral", "nickel", "--report", str(state / DB_NAME))
    assert code == EX_CANTCREAT and "state database" in out
    assert canary(state) == "alive"


def test_backtest_report_refuses_a_file_that_is_not_a_report(state: Path, tmp_path: Path
                                                             ) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n", encoding="utf-8")
    code, out = run(state, "backtest", "--from", "2022-01-01", "--to", "2022-02-28",
                    "--mineral", "nickel", "--report", str(notes))
    assert code == EX_CANTCREAT and "not a critmon report" in out
    assert notes.read_text(encoding="utf-8") == "precious\n"


def test_report_out_into_a_missing_directory_fails_before_the_replay(state: Path,
                                                                    tmp_path: Path) -> None:
    code, out = run(state, "report", "--out", str(tmp_path / "nowhere" / "r.html"),
                    *REPORT_ARGS)
    assert code == EX_CANTCREAT and f"there is no directory {tmp_path / 'nowhere'}" in out


def test_report_out_refuses_what_is_not_a_regular_file(state: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, out = run(state, "report", "--out", str(fifo), "--force", *REPORT_ARGS)
    assert code == EX_CANTCREAT and "not a regular file" in out
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
