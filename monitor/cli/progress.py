"""Progress for long commands: a bar on a terminal, nothing anywhere else.

``critmon once``, ``sources check``, ``report``, ``backtest`` and ``rules preview`` can take
from seconds to minutes. On an interactive terminal they show a progress bar on stderr; when
stdout or stderr is not a terminal (a pipe, a file, cron, systemd) or with ``--format json``
they print nothing extra, so their output stays machine-readable.

The bar is tqdm's: one small pure-Python package made for exactly this (rate, ETA, terminal
width, redrawing no more than a few times a second). rich would do it too, but brings a
whole rendering stack (and Pygments) for one bar. Both are imported only when a bar is shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


def wanted(fmt: str | None = None, *, streams: tuple[IO[Any], ...] | None = None) -> bool:
    """Whether to show progress: both stdout and stderr are terminals and the output is not
    JSON (a bar must never mix with machine-readable output)."""
    if fmt == "json":
        return False
    for stream in streams if streams is not None else (sys.stdout, sys.stderr):
        try:
            if not stream.isatty():
                return False
        except (AttributeError, ValueError):  # replaced or closed streams
            return False
    return True


class Progress:
    """Reports ``(done, total)`` steps to a bar, or to nothing when no bar is wanted.

    Call it with the steps done and the total (the replay's ``progress`` callback has this
    signature), or call :meth:`advance` after each step of a known total.
    """

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar

    @property
    def shown(self) -> bool:
        return self._bar is not None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            return
        if self._bar.total != total:
            self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def advance(self, steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(steps)

    def note(self, text: str) -> None:
        """Show what is being done now, after the bar."""
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)


def _size_known() -> bool:
    """Whether the terminal reports its size (a fresh pseudo-terminal or a serial console
    may say 0x0, where tqdm would draw nothing)."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
        return size.columns > 0 and size.lines > 0
    except (OSError, ValueError, AttributeError):
        return False


@contextmanager
def progress(description: str, total: int | None = None, *, fmt: str | None = None,
             unit: str = "step") -> Iterator[Progress]:
    """A :class:`Progress` for the enclosed work; the bar (if any) is closed at the end."""
    if not wanted(fmt):
        yield Progress(None)
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr, leave=False,
               mininterval=0.2, **({} if _size_known() else {"ncols": 80, "nrows": 24}))
    try:
        yield Progress(bar)
    finally:
        bar.close()
