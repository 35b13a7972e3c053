"""The HTML report: valid, self-contained, one chart per mineral, text escaped."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.backtest.events import Event
from monitor.backtest.inputs import bundled_data
from monitor.backtest.report import render_report
from monitor.backtest.scoring import episodes, run_backtest
from monitor.cli.backtest import chart_specs
from monitor.cli.main import cli
from monitor.config.load import default_config_dir, load_config

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


@pytest.fixture(scope="module")
def report_html() -> str:
    config = load_config(default_config_dir())
    evil = Event("<script>alert(1)</script>", date(2022, 3, 8), None, ("nickel",), "X",
                 "market_disruption", summary="<b>bold</b>")
    result, scored = run_backtest(config, bundled_data(config), [evil], start=date(2021, 6, 1),
                                  end=date(2022, 12, 31), minerals=MINERALS)
    return render_report(result, chart_specs(config, MINERALS), events=[evil],
                         episodes=episodes(result.transitions), score=scored,
                         store_history=[{"at": "2024-01-01", "reason": "<img src=x>"}])


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


def test_report_renders_in_headless_chromium(report_html: str, tmp_path: Path) -> None:
    assert CHROMIUM, "Debian's chromium is needed: `make test` installs it (make system-deps)"
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
         "--enable-logging=stderr", "--v=0", page.as_uri()],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("<svg") >= len(MINERALS)
    assert "Uncaught" not in done.stderr
