"""The pipe to the evaluation process carries requests and results of any size."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from monitor.ops.worker import EvaluationCancelled, _wait

#: Echoes its input after a pause, as a worker does once its imports are done.
ECHO_LATE = ("import sys, time; time.sleep(1.0); "
             "sys.stdout.buffer.write(sys.stdin.buffer.read())")


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_a_request_larger_than_the_pipe_buffer_reaches_a_child_that_reads_it_late() -> None:
    payload = bytes(range(256)) * 8192  # 2 MiB, far beyond a pipe's 64 KiB
    assert _wait(_child(ECHO_LATE), payload, threading.Event()) == payload


def test_cancel_kills_the_child_and_says_so() -> None:
    cancel = threading.Event()
    process = _child("import time; time.sleep(600)")
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    with pytest.raises(EvaluationCancelled):
        _wait(process, b"x" * 200_000, cancel)
    assert process.wait(timeout=60) != 0
