"""Idle cost of ``critmon run`` on the shipped config with no network, and one full cycle.

    .venv/bin/python bench/bench_idle.py [SECONDS] [--no-once]     # default 3600

HTTP(S)_PROXY point at a closed local port, so every source fails fast (and backs off) as it
would on a host without network. Prints, each with its target and the ratio to it (issue 17):

- start to READY: from spawning ``critmon run`` to its ``READY=1`` on a NOTIFY_SOCKET, the
  median of three restarts, with the bytecode cached as an installed package has it (the first
  start writes it under a temporary PYTHONPYCACHEPREFIX; this machine's environment sets
  PYTHONDONTWRITEBYTECODE, under which every start compiled monitor's sources again), and one
  restart as the environment runs it, for comparison;
- RSS at READY and after the idle period (VmRSS from /proc/PID/status);
- CPU time per hour while idle (utime+stime, and the children's, from /proc/PID/stat) over a
  window of SECONDS that starts once the start-up evaluation (a child process) has ended and
  its notifications went out (see WARMUP_S), extrapolated to an hour. The default window is
  that hour itself: the first hour, the daemon's costliest, as it holds the failing sources'
  retries at 1, 2, 4, 8, 16 and 32 minutes of backoff (later hours see one retry per source
  interval) and four evaluate ticks. A shorter window, taken early, holds the same early
  retries in less time and so reads high;
- the heavy libraries mapped into the idle daemon (from /proc/PID/maps);
- the wall and CPU cost of ``critmon once``.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
#: The idle window starts once the start-up evaluation's child process has ended (seconds of
#: CPU, 40 s of wall on a loaded machine: a fixed 30 s warm-up used to count it as idle) and
#: its notifications went out (the shipped route's group_wait is 30 s), and WARMUP_S after
#: READY at the earliest.
WARMUP_S = 30.0
AFTER_EVALUATION_S = 40.0
RESTARTS = 3
READY_LIMIT_S = 600.0  # a loaded machine

#: (target, the figure before issue 17) per measure.
TARGETS = {"start to READY (s)": (1.5, 3.0), "idle RSS (MiB)": (120.0, 188.0),
           "idle CPU (s/hour)": (5.0, 11.0)}
HEAVY = ("sklearn", "scipy", "matplotlib", "pandas", "numpy", "jinja2", "prometheus_client")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    """CPU time of the daemon and of its children that ended (a full evaluation's process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(f) for f in fields[11:15]) / TICKS  # utime, stime, cutime, cstime


def own_cpu_s(pid: int) -> float:
    """CPU time of the process alone (utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def heavy_libraries(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return [name for name in HEAVY if re.search(rf"site-packages/{name}[/.]", maps)]


def critmon(state: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "monitor", "--state-dir", str(state), "--log-level",
            "WARNING", *args]


def figure(name: str, value: float) -> str:
    target, before = TARGETS[name]
    return (f"{name}: {value:.2f} (target {target:g}: ratio {value / target:.2f}; "
            f"before {before:g}: ratio {value / before:.2f})")


def start_daemon(state: Path, env: dict[str, str], notify: socket.socket
                 ) -> tuple[subprocess.Popen[bytes], float]:
    """Spawn ``critmon run``; return it and the seconds until it said READY=1."""
    started = time.perf_counter()
    process = subprocess.Popen(critmon(state, "run"), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    notify.settimeout(READY_LIMIT_S)
    while not notify.recv(4096).startswith(b"READY=1"):
        pass
    return process, time.perf_counter() - started


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def children(pid: int) -> list[str]:
    """The pids of the process's live children (the evaluation's worker, a spare)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += (task / "children").read_text().split()
        except OSError:
            continue
    return found


def wait_until_idle(pid: int, ready_at: float) -> float:
    """Wait for the start-up evaluation (and its notifications) to end and WARMUP_S since
    READY; the seconds waited since READY."""
    evaluated_at = None
    while evaluated_at is None or time.monotonic() - evaluated_at < AFTER_EVALUATION_S \
            or time.monotonic() - ready_at < WARMUP_S:
        time.sleep(0.5)
        if children(pid):
            evaluated_at = None
        elif evaluated_at is None:
            evaluated_at = time.monotonic()
    return time.monotonic() - ready_at


def idle(env: dict[str, str], tmp: Path, seconds: float) -> None:
    notify_path = str(tmp / "notify")
    state = tmp / "run"
    as_given = env
    cached = {**env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    cached.pop("PYTHONDONTWRITEBYTECODE", None)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(notify_path)
        as_given = {**as_given, "NOTIFY_SOCKET": notify_path}
        cached = {**cached, "NOTIFY_SOCKET": notify_path}
        process, first_ready_s = start_daemon(state, cached, notify)  # the DB, the bytecode
        stop(process)
        process, uncached_s = start_daemon(state, as_given, notify)
        stop(process)
        ready_times = []
        for n in range(RESTARTS):
            process, ready_s = start_daemon(state, cached, notify)
            ready_times.append(ready_s)
            if n < RESTARTS - 1:
                stop(process)
        ready_at = time.monotonic()  # the last restart runs on, idle
        try:
            ready_rss, ready_cpu = rss_kib(process.pid), own_cpu_s(process.pid)
            waited = wait_until_idle(process.pid, ready_at)
            start_cpu = cpu_s(process.pid)
            time.sleep(seconds)
            used, end_rss = cpu_s(process.pid) - start_cpu, rss_kib(process.pid)
            libraries = heavy_libraries(process.pid)
        finally:
            stop(process)
    print(f"start to READY, first start (creates the DB, loads the bundled data): "
          f"{first_ready_s:.2f} s")
    print(figure("start to READY (s)", statistics.median(ready_times))
          + f"  [a restart, median of {', '.join(f'{t:.2f}' for t in ready_times)}]")
    print(f"start to READY, a restart as this environment runs it "
          f"(PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '')!r}): "
          f"{uncached_s:.2f} s")
    print(f"CPU time to READY (the daemon's own, the last restart; wall-clock figures depend on "
          f"the machine's load, load average now {os.getloadavg()[0]:.1f}): {ready_cpu:.2f} s")
    print(f"RSS at READY: {ready_rss / 1024:.1f} MiB")
    print(figure("idle RSS (MiB)", end_rss / 1024))
    print(figure("idle CPU (s/hour)", used * 3600 / seconds)
          + f"  [{used:.2f} s in {seconds:.0f} s, from READY + {waited:.0f} s]")
    print(f"heavy libraries loaded while idle: {', '.join(libraries) or 'none'}")


def once(env: dict[str, str], tmp: Path) -> None:
    for label in ("first (creates the DB)", "second"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(critmon(tmp / "once", "once"), env=env, check=False,
                       capture_output=True, timeout=600)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"critmon once, {label}: wall {wall:.2f}s, CPU {cpu:.2f}s")


def main(seconds: float, *, with_once: bool = True) -> None:
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": ""}
    env.pop("CRITMON_CONFIG", None)
    with tempfile.TemporaryDirectory() as tmp:
        idle(env, Path(tmp), seconds)
        if with_once:
            once(env, Path(tmp))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--no-once"]
    main(float(args[0]) if args else 3600.0, with_once="--no-once" not in sys.argv)
