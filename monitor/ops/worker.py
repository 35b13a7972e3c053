"""The daemon's full evaluation, run in a short-lived child process.

An assessment needs NumPy, SciPy and scikit-learn (the detectors are scikit-learn estimators):
about 100 MB of resident memory once imported, which a Python process never gives back. The
daemon itself imports none of them; it hands each full evaluation to a child
(``python -m monitor.ops.worker``) that imports them, evaluates, commits and exits, and it keeps
only the detector signals the child sends back, to enqueue them again on the ticks that find
no new input (:func:`monitor.ops.jobs.alert_cycle`).

The child also makes stopping safe: when the daemon stops during an evaluation it kills the
child, and since the child writes everything in one SQLite transaction, the store is left as
it was before that evaluation (nothing half-written); the next start evaluates again.

Protocol: the parent writes a pickle of :class:`Request` to the child's stdin; the child
writes a pickle of :class:`monitor.ops.jobs.Evaluation` to its stdout and exits 0. Logs go to
the inherited stderr (the daemon's journal). Both ends are this program, so pickle is safe.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.core.errors import MonitorError
from monitor.ops.jobs import Evaluation, Runtime

log = logging.getLogger(__name__)

#: How often the waiting parent checks whether it was asked to stop.
POLL_S = 0.1

#: Test seam: with this set to a path, the child writes its pid there once the evaluation is
#: written but not committed, and waits to be killed (tests/ops/test_stop_during_evaluation.py).
HOLD_ENV = "CRITMON_TEST_HOLD_EVALUATION"


class EvaluationCancelled(MonitorError):
    """The daemon is stopping: the evaluation was interrupted and rolled back."""


@dataclass(frozen=True)
class Request:
    runtime: Runtime
    now: datetime
    log_level: int


class Spare:
    """At most one worker process started ahead of need, importing while data settles.

    A worker spends most of its time importing scikit-learn and SciPy (seconds); started when
    data arrives rather than when the settle time has passed, that import overlaps the wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def prestart(self) -> None:
        """Start the spare unless one is alive or :meth:`discard` was called."""
        with self._lock:
            if not self._closed and (self._process is None or self._process.poll() is not None):
                self._process = _spawn()

    def take(self) -> subprocess.Popen[bytes]:
        """The spare process if it is still alive, else a new one."""
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return _spawn()
        return process

    def discard(self) -> None:
        """Kill the spare and start no other (the daemon stops): it has written nothing."""
        with self._lock:
            process, self._process, self._closed = self._process, None, True
        if process is not None and process.poll() is None:
            process.kill()
            process.communicate()


def _spawn() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "monitor.ops.worker"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def evaluate_in_child(runtime: Runtime, now: datetime, cancel: threading.Event,
                      spare: Spare | None = None) -> Evaluation:
    """Run :func:`monitor.ops.jobs.evaluate_cycle` at ``now`` in a child process (the spare
    one if there is one).

    Returns its result; raises :class:`EvaluationCancelled` as soon as ``cancel`` is set (the
    child is killed, its transaction never commits) and :class:`MonitorError` if it failed.
    """
    if cancel.is_set():
        raise EvaluationCancelled("stopping: evaluation not started")
    payload = pickle.dumps(Request(runtime, now, logging.getLogger().getEffectiveLevel()))
    process = spare.take() if spare is not None else _spawn()
    try:
        output = _wait(process, payload, cancel)
    finally:
        if process.poll() is None:  # cancelled, or an error in this thread
            process.kill()
            process.communicate()
    if process.returncode != 0:
        raise MonitorError(f"the evaluation process failed (exit status {process.returncode});"
                           " its error is in the log above")
    result = pickle.loads(output)
    if not isinstance(result, Evaluation):
        raise MonitorError("the evaluation process sent no evaluation")
    return result


def _wait(process: subprocess.Popen[bytes], payload: bytes, cancel: threading.Event) -> bytes:
    """The child's stdout once it exits; raises EvaluationCancelled when ``cancel`` is set.

    ``communicate`` runs in a thread of its own, given the whole request at once: called again
    after a timeout, it stops sending the rest of a request larger than the pipe's buffer
    (CPython registers stdin for writing only when ``input`` is passed, and refuses it then).
    """
    result: list[bytes] = []
    talker = threading.Thread(target=lambda: result.append(process.communicate(payload)[0]),
                              name="evaluation-pipe", daemon=True)
    talker.start()
    while talker.is_alive():
        talker.join(POLL_S)
        if cancel.is_set() and talker.is_alive():
            process.kill()
            talker.join()
            raise EvaluationCancelled("stopping: evaluation interrupted and rolled back")
    if not result:
        raise MonitorError("the evaluation process's pipe failed")
    return result[0]


def main() -> int:
    """The child: read a request, evaluate, write the result."""
    result_out = os.fdopen(os.dup(1), "wb")  # the pipe to the parent, for the result only
    os.dup2(2, 1)  # anything printed while evaluating goes to the log, not into the result
    # The slow imports first: a spare process does them while the parent waits for data to
    # settle, before it sends the request.
    import monitor.risk.assess  # noqa: F401 - NumPy, SciPy, scikit-learn
    from monitor.core.clock import FixedClock
    from monitor.ops.jobs import evaluate_cycle

    try:
        request = pickle.load(sys.stdin.buffer)
    except EOFError:  # a spare the daemon did not need (it stopped)
        return 0
    logging.basicConfig(level=request.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if os.environ.get(HOLD_ENV):
        _hold_before_commit(Path(os.environ[HOLD_ENV]))

    try:
        evaluation = evaluate_cycle(request.runtime, FixedClock(request.now))
    except MonitorError as exc:
        log.error("evaluation failed: %s", exc)
        return 1
    with result_out:
        pickle.dump(evaluation, result_out, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


def _hold_before_commit(marker: Path) -> None:
    from monitor.alerting import crash_points

    def hold(stage: str) -> None:
        if stage == "evaluation_written":
            marker.write_text(str(os.getpid()), "utf-8")
            threading.Event().wait()  # until killed

    crash_points.after_commit = hold


if __name__ == "__main__":
    sys.exit(main())
