"""Idle cost of ``critmon run`` on the shipped config with no network, and one full cycle.

    .venv/bin/python bench/bench_idle.py [SECONDS]      # default 60

HTTP(S)_PROXY point at a closed local port, so every source fails fast (and backs off) as it
would on a host without network. Prints RSS, CPU time per hour (extrapolated from
/proc/PID/stat utime+stime after start-up) and the wall and CPU cost of ``critmon once``.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
WARMUP_S = 10.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def critmon(state: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--state-dir", str(state), "--log-level",
            "WARNING", *args]


def main(seconds: float) -> None:
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": ""}
    env.pop("CRITMON_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(critmon(Path(tmp) / "run", "run"), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(WARMUP_S)
            start_cpu, start_rss = cpu_s(process.pid), rss_kib(process.pid)
            time.sleep(seconds)
            used, end_rss = cpu_s(process.pid) - start_cpu, rss_kib(process.pid)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        print(f"idle run: RSS {start_rss} KiB after start-up, {end_rss} KiB after {seconds:.0f}s;"
              f" CPU {used:.2f}s in {seconds:.0f}s = {used * 3600 / seconds:.1f} s/hour")

        for label in ("first (creates the DB)", "second"):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(critmon(Path(tmp) / "once", "once"), env=env, check=False,
                           capture_output=True, timeout=600)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(f"critmon once, {label}: wall {wall:.2f}s, CPU {cpu:.2f}s")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
