"""Soak: ``critmon run`` against local servers at accelerated poll rates; RSS, FDs, threads.

    .venv/bin/python bench/bench_soak.py [SECONDS]      # default 120; the issue's 24 h: 86400

Three FRED-format sources (prices toggling between quiet and a spike, so alerts fire and
resolve) polled every 1-2 s, plus the local Slack stand-in. Samples /proc/PID every 5 s and
prints start / end / max. Not a test. The SIGKILL loop at full size is a manual run:
``CRITMON_FAULT_ITERATIONS=50 .venv/bin/python -m pytest tests/test_faults.py -k sigkill``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.test_faults import (
    MINERALS,
    TOKEN,
    FeedServer,
    closed_port,
    toggling_csv,
    write_config,
)

from tests.slack_standin import SlackStandIn

SAMPLE_EVERY_S = 5.0


def sample(pid: int) -> tuple[int, int, int]:
    """(RSS KiB, open FDs, threads) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss = int(fields["VmRSS"].split()[0])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def main(seconds: float) -> None:
    routes = {f"/{m}.csv": toggling_csv() for m in MINERALS}
    with tempfile.TemporaryDirectory() as tmp, FeedServer(routes) as feeds, \
            SlackStandIn(token=TOKEN) as slack:
        config = write_config(Path(tmp) / "config", slack_url=slack.api_url, interval="2s",
                              sources=[(f"local_{m}", feeds.url(f"/{m}.csv"), m)
                                       for m in MINERALS])
        proxy = f"http://127.0.0.1:{closed_port()}"
        env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
               "NO_PROXY": "127.0.0.1,localhost", "CRITMON_FAULTS_SLACK_TOKEN": TOKEN}
        process = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "--state-dir",
             str(Path(tmp) / "state"), "--log-level", "WARNING", "run"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples = []
        try:
            time.sleep(3.0)  # imports and bundled data
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and process.poll() is None:
                samples.append(sample(process.pid))
                time.sleep(SAMPLE_EVERY_S)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        polls = sum(feeds.hits.values())
    for name, i in (("RSS KiB", 0), ("open FDs", 1), ("threads", 2)):
        values = [s[i] for s in samples]
        print(f"{name:9} start {values[0]:>7}  end {values[-1]:>7}  max {max(values):>7}")
    print(f"{len(samples)} samples over {seconds:.0f}s; {polls} polls; "
          f"{len(slack.delivered())} Slack messages; exit code {process.returncode}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 120.0)
