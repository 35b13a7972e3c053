"""Time the web console's pages and its rules preview (a benchmark, not a test).

The state database holds what the daemon would have stored had it run from 2010 to the end
of 2025 over every mineral of config/minerals.yaml (63): the bundled data (``prepare``), then
the backtest replay's evaluations, each stored as the daemon's evaluate job stores them
(``save_evaluation``: indicator rows, score rows, signals) with its alert transitions
(``alert_state``, ``alert_events``). The console then runs in this process on a loopback port
(uvicorn in a thread, as ``critmon run --web``), and httpx times each request end to end.

Figures printed (median and 90th percentile of ``--repeat`` requests, after one warm-up):

* overview ``/``: target under 300 ms;
* mineral page ``/mineral/<id>`` for the five minerals with the longest price histories (the
  heaviest pages): under 500 ms;
* a rules preview (POST /rules/draft, action=preview) of a changed price-jump threshold over
  ``--preview-from``..``--preview-to`` (default 2010-01-01..2025-12-31, every mineral): it
  calls the same monitor.backtest.preview.preview as ``critmon rules preview`` (target under
  5 s, the what-if issue's).

Usage: .venv/bin/python bench/bench_web.py [--repeat 15] [--state DIR] [--skip-preview]
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from monitor.alerting.store import AlertStore
from monitor.backtest.inputs import bundled_data
from monitor.backtest.replay import DateResult, midnight, replay
from monitor.config.load import default_config_dir, load_config
from monitor.ops.jobs import prepare
from monitor.risk.assess import indicator_rows, score_row, signal_row
from monitor.store.database import DB_NAME, Store
from monitor.web.server import AuthOptions, BackgroundConsole, make_server

START, END = date(2010, 1, 1), date(2025, 12, 31)
TARGETS_MS = {"overview": 300, "mineral": 500}
PREVIEW_TARGET_S = 5.0


def build_state(config_dir: Path, state_dir: Path) -> tuple[int, int, float]:
    """Seed ``state_dir`` with 2010-2025 of evaluations; return (dates, score rows, seconds)."""
    began = time.perf_counter()
    config = load_config(config_dir)
    runtime = prepare(config, config_dir, state_dir, datetime(2010, 1, 1, tzinfo=UTC))
    store = Store.open(runtime.db_path, migrate=False)
    alerts = AlertStore(store)
    count = 0

    def keep(out: DateResult) -> None:
        nonlocal count
        now = midnight(out.as_of)
        store.save_evaluation(
            evaluated_at=now,
            indicators=[row for a in out.assessments for row in indicator_rows(a, out.as_of)],
            scores=[score_row(a, out.as_of) for a in out.assessments],
            signals=[signal_row(s) for s in out.signals])
        store.set_meta("last_evaluation_at", now.isoformat())
        with store.transaction():
            for transition in out.transitions:
                alerts.save_state(transition.alert, now)
                alerts.append_event(transition)
        count += 1

    replay(config, bundled_data(config), START, END, on_date=keep)
    rows = store.db.execute("SELECT COUNT(*) FROM risk_scores").fetchone()[0]
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return count, rows, time.perf_counter() - began


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_get(client: httpx.Client, url: str, repeat: int) -> list[float]:
    client.get(url).raise_for_status()  # warm-up: config cache, SQLite page cache
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        client.get(url).raise_for_status()
        times.append(1000 * (time.perf_counter() - began))
    return times


def line(name: str, times: list[float], target: float) -> str:
    median = statistics.median(times)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    verdict = "ok" if median < target else "OVER"
    return (f"{name:34} median {median:7.1f} ms  p90 {p90:7.1f} ms  target {target:.0f} ms  "
            f"ratio {median / target:.2f}  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--state", type=Path, help="reuse (or build once into) this state dir")
    parser.add_argument("--skip-preview", action="store_true")
    parser.add_argument("--preview-from", default=START.isoformat())
    parser.add_argument("--preview-to", default=END.isoformat())
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="critmon-bench-web-"))
    config_dir = Path(shutil.copytree(default_config_dir(), work / "config"))
    state_dir = args.state or work / "state"
    if not (state_dir / DB_NAME).exists():
        dates, rows, seconds = build_state(config_dir, state_dir)
        print(f"state: {dates} evaluations {START}..{END}, {rows} score rows, built in "
              f"{seconds:.0f} s")
    with Store.open(state_dir / DB_NAME, migrate=False) as store:
        per_mineral = dict(store.db.execute(
            "SELECT mineral, COUNT(*) FROM indicator_values GROUP BY mineral").fetchall())
        prices = dict(store.db.execute(
            "SELECT mineral, COUNT(*) FROM observations WHERE measure = 'price' "
            "GROUP BY mineral").fetchall())
        totals = {t: store.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("observations", "indicator_values", "risk_scores", "alert_events")}
    print("rows: " + ", ".join(f"{t} {n}" for t, n in totals.items()) +
          f"; {len(per_mineral)} minerals; database {(state_dir / DB_NAME).stat().st_size:,} B")

    server, url = make_server(f"127.0.0.1:{free_port()}", config_dir, state_dir, AuthOptions())
    console = BackgroundConsole(server, url)
    console.start()
    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=600) as client:
            print(line("overview /", time_get(client, "/", args.repeat),
                       TARGETS_MS["overview"]))
            # the heaviest pages: the longest price histories (a chart of up to 30 years each)
            busiest = sorted(per_mineral, key=lambda m: (prices.get(m, 0), per_mineral[m]),
                             reverse=True)[:5]
            all_times = []
            for mineral in busiest:
                times = time_get(client, f"/mineral/{mineral}", args.repeat)
                all_times += times
                print(line(f"mineral /mineral/{mineral}", times, TARGETS_MS["mineral"]))
            print(line("mineral pages, all five", all_times, TARGETS_MS["mineral"]))
            if not args.skip_preview:
                preview(client, args.preview_from, args.preview_to)
    finally:
        console.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def preview(client: httpx.Client, start: str, end: str) -> None:
    page = client.get("/rules").text
    form = dict(re.findall(r'<input name="([a-z0-9_]+)" value="([^"]*)"', page))
    form.update(csrf=re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1),
                base_digest=re.search(r'name="base_digest" value="([0-9a-f]+)"', page).group(1),
                author="bench", action="preview", preview_from=start, preview_to=end,
                preview_minerals="", rule_price_jump_3m_thresholds="0.182, 0.336")
    began = time.perf_counter()
    response = client.post("/rules/draft", data=form)
    seconds = time.perf_counter() - began
    response.raise_for_status()
    found = re.search(r"(\d+) alerts gained, (\d+) lost", response.text)
    assert found, "the preview did not run"
    print(f"{'preview ' + start + '..' + end:34} {seconds:7.1f} s  target {PREVIEW_TARGET_S:.0f} s  "
          f"ratio {seconds / PREVIEW_TARGET_S:.2f}  (+{found.group(1)} -{found.group(2)} alerts, "
          "every mineral, two replays)")


if __name__ == "__main__":
    sys.exit(main())
