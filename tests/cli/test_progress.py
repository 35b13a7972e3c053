"""Progress bars: shown on a terminal, never in a pipe or with --format json."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from monitor.cli.backtest import DEFAULT_EXCLUDED_RULES, progress_argument
from monitor.cli.progress import Progress, progress, wanted
from tests.ops.test_daemon import FRED_CSV, LIMIT_S, SOURCES, closed_port

BAR = "polling sources"


def test_the_cli_default_exclusions_are_the_scorings() -> None:
    from monitor.backtest.scoring import DEFAULT_EXCLUDED_RULES as SCORING_DEFAULT

    assert tuple(SCORING_DEFAULT) == DEFAULT_EXCLUDED_RULES


def test_a_bar_is_wanted_only_when_both_streams_are_terminals_and_not_for_json() -> None:
    master, slave = os.openpty()
    read, write = os.pipe()
    with open(slave, "w") as tty, open(write, "w") as pipe:
        assert wanted(streams=(tty, tty))
        assert not wanted("json", streams=(tty, tty))
        assert not wanted(streams=(tty, pipe)) and not wanted(streams=(pipe, tty))
    os.close(master)
    os.close(read)


def test_the_replay_gets_a_progress_callback_only_if_it_takes_one() -> None:
    def takes(*, progress: object = None) -> None: ...

    def does_not() -> None: ...

    shown = Progress(bar=object())
    assert progress_argument(takes, shown) == {"progress": shown}
    assert progress_argument(does_not, shown) == {}
    assert progress_argument(takes, Progress(None)) == {}


def test_without_a_terminal_progress_is_a_no_op() -> None:
    with progress("work", 3) as bar:  # pytest captures stdout: not a terminal
        assert not bar.shown
        bar(1, 3)
        bar.advance()
        bar.note("x")


@pytest.fixture
def config(tmp_path: Path, httpserver: HTTPServer) -> Path:
    httpserver.expect_request("/cobalt.csv").respond_with_data(FRED_CSV)
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "sources.yaml").write_text(
        SOURCES.format(url=httpserver.url_for("/cobalt.csv"), interval="1h"), "utf-8")
    return folder


def sources_check(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--config", str(config), "--state-dir",
            str(config.parent / "state"), "sources", "check", *extra]


def environment() -> dict[str, str]:
    proxy = f"http://127.0.0.1:{closed_port()}"  # nothing may leave the machine
    return {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
            "NO_PROXY": "127.0.0.1,localhost", "COLUMNS": "100"}


def run_on_a_terminal(command: list[str], *, size: tuple[int, int] | None = (24, 100)
                      ) -> tuple[int, str]:
    """Run ``command`` with stdin, stdout and stderr on a pseudo-terminal of ``size`` (rows,
    columns; None: a terminal that reports no size); all it wrote."""
    master, slave = os.openpty()
    if size is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *size, 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave,
                               env=environment())
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as exc:  # EIO: the other side is closed (the command ended)
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=LIMIT_S), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("size", [(24, 100), None])
def test_sources_check_shows_a_bar_on_a_terminal(config: Path, size: tuple[int, int] | None
                                                 ) -> None:
    code, output = run_on_a_terminal(sources_check(config), size=size)
    assert code == 0, output
    assert BAR in output and "/1" in output, output
    assert "local_cobalt" in output


def test_sources_check_shows_no_bar_with_json_even_on_a_terminal(config: Path) -> None:
    code, output = run_on_a_terminal(sources_check(config, "--format", "json"))
    assert code == 0, output
    assert BAR not in output
    assert json.loads(output[output.index("["):])[0]["source"] == "local_cobalt"


def test_sources_check_shows_no_bar_in_a_pipe(config: Path) -> None:
    done = subprocess.run(sources_check(config), capture_output=True, text=True,
                          env=environment(), timeout=LIMIT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert BAR not in done.stderr and BAR not in done.stdout
    assert "local_cobalt" in done.stdout
