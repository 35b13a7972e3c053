"""Stopping while a job reschedules another: no deadlock with APScheduler's shutdown.

``shutdown(wait=True)`` holds the scheduler's job-store lock while it waits for the running
jobs; a poll that stores data during the stop asks for an evaluation soon (``modify_job``, the
same lock). Before the fix the two waited for each other until the 30 s stop budget ran out.
The daemon runs in a child process: a stop that overruns its budget ends its process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from datetime import timedelta
    from pathlib import Path
    from monitor.config.load import load_config
    from monitor.core.clock import SystemClock
    from monitor.ops.daemon import Daemon
    from monitor.ops.jobs import prepare

    config_dir, state_dir = Path(sys.argv[1]), Path(sys.argv[2])
    clock = SystemClock()
    runtime = prepare(load_config(config_dir), config_dir, state_dir, clock.now())
    daemon = Daemon(runtime, clock=clock, evaluate_every=timedelta(hours=6))
    daemon.start()
    deadline = time.monotonic() + 300
    while daemon._detected is None and time.monotonic() < deadline:  # the first evaluation
        time.sleep(0.05)
    assert daemon._detected is not None, "the first evaluation never finished"
    entered, go = threading.Event(), threading.Event()

    def poll_that_stores_data_during_the_stop():
        entered.set()
        go.wait(120)
        daemon.evaluate_soon()  # what a poll does when it stored new observations

    daemon.scheduler.add_job(poll_that_stores_data_during_the_stop, id="late-poll")
    assert entered.wait(120), "the job never started"
    stopper = threading.Thread(target=daemon.stop, kwargs={"timeout_s": 30})
    stopper.start()
    deadline = time.monotonic() + 120
    while not daemon._stopping.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)  # let the shutdown take the scheduler's locks and wait for the job
    go.set()
    stopper.join()
    print("stopped cleanly")
""")


def test_a_poll_asking_for_an_evaluation_during_the_stop_does_not_hang_it(
        tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "sources.yaml").write_text("version: 1\nsources: []\n", "utf-8")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(config), str(tmp_path / "state")],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stopped cleanly" in done.stdout
    assert "jobs did not finish" not in done.stderr
