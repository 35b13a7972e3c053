"""Fault tolerance with real processes and local servers (issue 8).

1. SIGKILL at random points of busy cycles, in a loop: the store stays consistent, nothing
   committed is lost, and a message the store recorded as sent is never sent again.
2. Feed server faults: each failing source backs off, the others poll, no poll outlives its
   timeout, and deliveries are unaffected.
3. Slack 429/500/timeout and SMTP down for an hour of simulated time: everything queued goes
   out once they return, Retry-After honoured.

The guarantee asserted in (1), precisely: delivery is *at least once, with the idempotency key
as the unit of duplication*. A message whose delivery row says ``sent`` is never received again;
a message can be received twice only when the process was killed while its row said
``sending`` (the server accepted it, the row could not say so), and the repeat carries the same
idempotency key. After a final drain every receiver's view (the notify log) matches the alerts'
states, the outbox is empty and no delivery is left ``sending`` or ``retry``.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest

from monitor.alerting.deliver import deliver_pending
from monitor.alerting.enqueue import enqueue_signals
from monitor.alerting.receivers import build_notifiers
from monitor.config.load import load_config
from monitor.core.clock import FixedClock
from monitor.core.models import Signal
from monitor.ops import jobs
from monitor.sources.http import HttpFetcher
from monitor.store.database import DB_NAME, Store
from tests.slack_standin import SlackStandIn, SmtpSink

T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
TOKEN = "xoxb-faults-token"
ITERATIONS = int(os.environ.get("CRITMON_FAULT_ITERATIONS", "14"))
SEED = int(os.environ.get("CRITMON_FAULT_SEED", "20310303"))

HISTORY = ("observation_date,PRICE\n2025-06-01,400\n2025-07-01,405\n2025-08-01,400\n"
           "2025-09-01,400\n2025-10-01,410\n")
NORMAL = HISTORY + "2025-11-01,415\n"  # +4% in three months: quiet
SPIKE = HISTORY + "2025-11-01,600\n"  # +41%: high
MINERALS = ("gallium", "cobalt", "germanium")

RULES = """
version: 1
rules:
  - name: price_jump_3m
    description: The price rose more than 30% (high) or 60% (critical) in three months.
    indicator: price_change_3m
    minerals: [{minerals}]
    detector: {{kind: threshold, thresholds: [0.262, 0.470], direction: above}}
    levels: [high, critical]
"""

SOURCE = """
  - id: {id}
    kind: fred_csv
    url: {url}
    mineral: {mineral}
    unit: USD/kg
    interval: {interval}
    timeout: {timeout}
    jitter: 0s
"""

ALERTING = """
version: 1
receivers:
  - name: analysts_slack
    kind: slack
    channel: "#critical-minerals"
    token: ${{CRITMON_FAULTS_SLACK_TOKEN}}
    api_url: {api_url}
    timeout: {slack_timeout}
{email}
route:
  receiver: analysts_slack
  group_by: [mineral]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 24h
  routes:
    - {{receiver: analysts_slack, continue: true}}
{email_route}
"""

EMAIL = """  - name: analysts_email
    kind: email
    to: [analyst@example.org]
    from: critmon@example.org
    host: 127.0.0.1
    port: {port}
    tls: none
    timeout: 2s"""


# --------------------------------------------------------------------------- local servers


Route = Callable[[BaseHTTPRequestHandler], None]


class FeedServer:
    """A local HTTP server whose paths are plain functions of the request handler."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.hits: Counter[str] = Counter()
        self.stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.stopping = self.stopping  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                path = self.path.partition("?")[0]
                server.hits[path] += 1
                try:
                    server.routes.get(path, not_found)(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def not_found(handler: BaseHTTPRequestHandler) -> None:
    reply(handler, 404, b"not found", "text/plain")


def csv_route(body: Callable[[], str]) -> Route:
    return lambda h: reply(h, 200, body().encode(), "text/csv")


def toggling_csv() -> Route:
    """SPIKE and NORMAL in turn, so an alert fires on one poll and resolves on the next."""
    count = iter(range(10**9))
    return csv_route(lambda: SPIKE if next(count) % 2 == 0 else NORMAL)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def proxy_env() -> dict[str, str]:
    """The environment for a child: proxies at a closed port, so nothing leaves the machine."""
    proxy = f"http://127.0.0.1:{closed_port()}"
    return {**os.environ, "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
            "NO_PROXY": "127.0.0.1,localhost", "CRITMON_FAULTS_SLACK_TOKEN": TOKEN}


def write_config(directory: Path, *, sources: list[tuple[str, str, str]], slack_url: str,
                 slack_timeout: str = "5s", smtp_port: int | None = None,
                 interval: str = "1h", timeout: str = "5s") -> Path:
    """A config dir: one price rule for MINERALS, the given (id, url, mineral) sources."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(RULES.format(minerals=", ".join(MINERALS)), "utf-8")
    (directory / "sources.yaml").write_text("version: 1\nsources:\n" + ("".join(
        SOURCE.format(id=i, url=u, mineral=m, interval=interval, timeout=timeout)
        for i, u, m in sources) or "  []\n"), "utf-8")
    email = EMAIL.format(port=smtp_port) if smtp_port else ""
    email_route = "    - {receiver: analysts_email}" if smtp_port else ""
    (directory / "alerting.yaml").write_text(ALERTING.format(
        api_url=slack_url, slack_timeout=slack_timeout, email=email,
        email_route=email_route), "utf-8")
    return directory


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# =========================================================================== 1. SIGKILL loop

# Imports monitor once, then runs full cycles (poll, evaluate, deliver) back to back on a
# clock running SPEED times faster than the wall clock (shared by every process of a test), so
# a 2-minute lease ends within seconds. Slack messages carry the idempotency key in their text
# (the only instrumentation). CRASH_AT=<stage>:<n> kills the process at the n-th commit of that
# stage through the pipeline's after_commit seam; otherwise the test kills it from outside.
DRIVER = """
import os, signal, sys, time
from datetime import datetime, timedelta
from pathlib import Path

from monitor.ops import jobs

from monitor.alerting import crash_points
from monitor.config.load import load_config
from monitor.alerting.notifiers import slack
from monitor.sources.http import HttpFetcher

config_dir, state_dir, t0, base, speed, mode = sys.argv[1:7]
t0, base, speed = datetime.fromisoformat(t0), float(base), float(speed)


class ScaledClock:
    extra = timedelta(0)

    def now(self):
        return t0 + timedelta(seconds=(time.time() - base) * speed) + self.extra


render = slack.slack_message
slack.slack_message = lambda n: {**render(n), "text": render(n)["text"] + f" key={n.key}"}
stage, _, nth = os.environ.get("CRASH_AT", "").partition(":")
seen = {"n": 0}


def die(at):
    if at == stage:
        seen["n"] += 1
        if seen["n"] >= int(nth):
            os.kill(os.getpid(), signal.SIGKILL)


crash_points.after_commit = die
print("ready", flush=True)
clock = ScaledClock()
runtime = jobs.prepare(load_config(Path(config_dir)), Path(config_dir), Path(state_dir),
                         clock.now())
if mode == "drain":  # deliver only, past every lease, backoff and group interval
    for _ in range(3):
        clock.extra += timedelta(hours=1)
        jobs.deliver_once(runtime, clock)
    sys.exit(0)
with HttpFetcher(total_timeout_s=5) as fetcher:
    while True:
        jobs.run_once(runtime, fetcher, clock)
"""
SPEED = 60.0  # one wall second is one simulated minute


@dataclass
class CrashRig:
    script: Path
    config_dir: Path
    state_dir: Path
    slack: SlackStandIn
    env: dict[str, str]
    base: float = field(default_factory=time.time)

    @property
    def db(self) -> Path:
        return self.state_dir / DB_NAME

    def start(self, mode: str = "cycle", crash_at: str = "") -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(self.script), str(self.config_dir), str(self.state_dir),
             T0.isoformat(), repr(self.base), repr(SPEED), mode],
            env={**self.env, "CRASH_AT": crash_at}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    def received_keys(self) -> Counter[str]:
        return Counter(key for r in self.slack.delivered()
                       if (key := _key_in(r.body.get("text") or "")))

    def keys_with_status(self, status: str) -> set[str]:
        if not query(self.db, "SELECT 1 FROM sqlite_master WHERE name = 'deliveries'"):
            return set()  # killed before the alerting tables were created
        return {k for (k,) in query(self.db, "SELECT idempotency_key FROM deliveries WHERE "
                                             f"status = '{status}' AND kind = 'alert'")}


def _key_in(text: str) -> str | None:
    match = re.search(r" key=([0-9a-f]{32})$", text)
    return match.group(1) if match else None


def finish(process: subprocess.Popen[str], timeout_s: float = 120) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout_s)
    return process.returncode, stderr


@pytest.fixture
def crash_rig(tmp_path: Path, proxy_env: dict[str, str]) -> Iterator[CrashRig]:
    routes = {f"/{m}.csv": toggling_csv() for m in MINERALS}
    with FeedServer(routes) as feeds, SlackStandIn(token=TOKEN) as slack:
        config_dir = write_config(
            tmp_path / "config", slack_url=slack.api_url,
            sources=[(f"local_{m}", feeds.url(f"/{m}.csv"), m) for m in MINERALS])
        script = tmp_path / "driver.py"
        script.write_text(DRIVER, "utf-8")
        yield CrashRig(script, config_dir, tmp_path / "state", slack, proxy_env)


def test_sigkill_at_random_points_loses_nothing_and_never_resends_what_was_recorded_sent(
        crash_rig: CrashRig) -> None:
    rng = random.Random(SEED)
    ever_sent: dict[str, int] = {}  # key -> receipts at the stand-in when the store said sent
    resendable: set[str] = set()  # keys left 'sending' by a kill: the stand-in may see them again
    kills = 0
    for iteration in range(ITERATIONS):
        from_inside = rng.random() < 0.3  # at a commit, through the pipeline's test seam
        crash_at = f"{rng.choice(['enqueued', 'claimed'])}:{rng.randint(1, 3)}" \
            if from_inside else ""
        process = crash_rig.start(crash_at=crash_at)
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        if not from_inside:
            time.sleep(rng.uniform(0.05, 1.5))  # during prepare, a poll, a write or a send
            process.send_signal(signal.SIGKILL)
        code, stderr = finish(process)
        assert code == -signal.SIGKILL, f"iteration {iteration}: {code}\n{stderr}"
        kills += 1

        assert integrity(crash_rig.db) == "ok", f"iteration {iteration}"
        received = crash_rig.received_keys()
        for key in crash_rig.keys_with_status("sent"):
            ever_sent.setdefault(key, received[key])
        resendable |= crash_rig.keys_with_status("sending")

    code, stderr = finish(crash_rig.start(mode="drain"))
    assert code == 0, stderr
    assert integrity(crash_rig.db) == "ok"

    received = crash_rig.received_keys()
    assert len(crash_rig.slack.delivered()) == sum(received.values()), "every message keyed"
    assert len(received) >= 4, "the loop was busy: alerts fired, resolved and were sent"
    sent = crash_rig.keys_with_status("sent")
    # Nothing lost: what the store recorded as sent reached Slack ...
    assert sent <= set(received), sent - set(received)
    # ... and nothing the store recorded as sent was sent again afterwards.
    for key, count in ever_sent.items():
        assert received[key] == count, f"{key} received again after it was recorded sent"
    # Duplicates carry one key, and only a delivery a kill caught in 'sending' has them.
    duplicates = {key for key, count in received.items() if count > 1}
    assert duplicates <= resendable, duplicates - resendable
    assert all(count <= 1 + kills for count in received.values())
    # The receiver's view converged on the truth: the outbox is empty, nothing in flight, and
    # the notify log says what each alert's state is.
    assert query(crash_rig.db, "SELECT count(*) FROM outbox WHERE status = 'pending'") == [(0,)]
    assert query(crash_rig.db, "SELECT count(*) FROM deliveries "
                               "WHERE status IN ('sending', 'retry')") == [(0,)]
    told = dict(query(crash_rig.db, "SELECT fingerprint, status || ':' || episode "
                                    "FROM notify_log WHERE receiver = 'analysts_slack'"))
    for fingerprint, state, episode in query(crash_rig.db, "SELECT fingerprint, state, "
                                                           "fired_at FROM alert_state"):
        if state == "firing":
            assert told.get(fingerprint) == f"firing:{episode}", fingerprint
        elif fingerprint in told and told[fingerprint].endswith(f":{episode}"):
            assert told[fingerprint] == f"resolved:{episode}", fingerprint


# =========================================================================== 2. feed faults

#: Two faulty sources (silent, drip) take this whole timeout. Polled one after the other they
#: would take twice it, and without the total timeout the drip alone would take 100 s: so
#: "under 2 x the timeout" proves both, with room for a loaded machine.
SOURCE_TIMEOUT_S = 5.0


def drip(handler: BaseHTTPRequestHandler) -> None:
    """Promise 100 bytes, then send one a second."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        if handler.server.stopping.wait(1.0):  # type: ignore[attr-defined]
            return


def truncated(handler: BaseHTTPRequestHandler) -> None:
    """Promise a long body, send part of it, close the connection."""
    handler.send_response(200)
    handler.send_header("Content-Type", "text/csv")
    handler.send_header("Content-Length", str(len(SPIKE) * 10))
    handler.end_headers()
    handler.wfile.write(SPIKE.encode()[:40])
    handler.close_connection = True


FAULTS: dict[str, Route] = {
    "/500.csv": lambda h: reply(h, 500, b"<html>oops</html>", "text/html"),
    "/429.csv": lambda h: reply(h, 429, b"slow down", "text/plain", {"Retry-After": "3600"}),
    "/drip.csv": drip,
    "/truncated.csv": truncated,
    "/html.csv": lambda h: reply(h, 200, b"<html><body>Moved to our new portal</body></html>",
                                 "text/html"),
    "/loop.csv": lambda h: reply(h, 302, b"", "text/plain", {"Location": "/loop.csv"}),
}


@dataclass
class FeedRig:
    runtime: jobs.Runtime
    feeds: FeedServer
    slack: SlackStandIn
    clock: FixedClock

    def states(self) -> dict[str, Any]:
        with self.runtime.open_store() as store:
            return {s.source: s for s in store.source_states()}


@pytest.fixture
def feed_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedRig]:
    monkeypatch.setenv("CRITMON_FAULTS_SLACK_TOKEN", TOKEN)
    # Accepts connections (the kernel completes the handshake) and never answers.
    with socket.socket() as silent, SlackStandIn(token=TOKEN) as slack, \
            FeedServer({"/gallium.csv": csv_route(lambda: SPIKE), **FAULTS}) as feeds:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        plain = feeds.url("/gallium.csv")
        sources = [("good_gallium", plain, "gallium"),
                   ("refused", f"http://127.0.0.1:{closed_port()}/x.csv", "cobalt"),
                   ("timeout", f"http://127.0.0.1:{silent.getsockname()[1]}/x.csv", "cobalt"),
                   ("tls_to_plain_port", plain.replace("http://", "https://"), "cobalt")]
        sources += [("fault_" + path.strip("/").removesuffix(".csv"), feeds.url(path), "cobalt")
                    for path in FAULTS]
        config_dir = write_config(tmp_path / "config", sources=sources, slack_url=slack.api_url,
                                  timeout=f"{SOURCE_TIMEOUT_S:g}s")
        clock = FixedClock(T0)
        runtime = jobs.prepare(load_config(config_dir), config_dir, tmp_path / "state",
                                 clock.now())
        yield FeedRig(runtime, feeds, slack, clock)


def timed_poll(rig: FeedRig, fetcher: HttpFetcher, *, only_due: bool = False
               ) -> tuple[float, list[Any]]:
    started = time.monotonic()
    outcomes = jobs.poll_all(rig.runtime, fetcher, rig.clock, only_due=only_due, workers=16)
    return time.monotonic() - started, outcomes


def test_feed_faults_back_off_per_source_and_never_block_the_others(feed_rig: FeedRig) -> None:
    faulty = {"refused", "timeout", "tls_to_plain_port", "fault_500", "fault_429", "fault_drip",
              "fault_truncated", "fault_html", "fault_loop"}
    with HttpFetcher() as fetcher:
        wall, outcomes = timed_poll(feed_rig, fetcher)
        assert wall < 2 * SOURCE_TIMEOUT_S, f"a poll_all took {wall:.1f}s"
        slowest = max(outcomes, key=lambda o: o.latency_s)
        assert slowest.latency_s < 2 * SOURCE_TIMEOUT_S, slowest
        assert {o.source for o in outcomes if not o.ok} == faulty

        states = feed_rig.states()
        assert states["good_gallium"].status == "ok" and states["good_gallium"].last_rows == 6
        for source in faulty:
            assert states[source].status == "failing", source
            assert states[source].last_error, source
        next_at = {s: datetime.fromisoformat(states[s].next_poll_at) for s in faulty}
        assert next_at.pop("fault_429") >= T0 + timedelta(seconds=3600), "Retry-After honoured"
        assert set(next_at.values()) == {T0 + timedelta(minutes=1)}, "first backoff: 1 min"
        for reason, source in [("timeout", "fault_drip"), ("timeout", "timeout"),
                               ("redirect loop", "fault_loop"), ("HTTP 500", "fault_500")]:
            assert reason in states[source].last_error, states[source].last_error

        # Deliveries are unaffected: the good source's spike reaches Slack.
        jobs.evaluate(feed_rig.runtime, feed_rig.clock)
        report = jobs.deliver_once(feed_rig.runtime, feed_rig.clock)
        assert report.sent == 1 and "gallium" in feed_rig.slack.delivered()[0].body["text"]

        # Backing off: within the first backoff nothing faulty is polled again ...
        hits = Counter(feed_rig.feeds.hits)
        feed_rig.clock.advance(timedelta(seconds=30))
        assert timed_poll(feed_rig, fetcher, only_due=True)[1] == []
        assert feed_rig.feeds.hits == hits
        # ... after it, all but the rate-limited one are, and the next backoff doubles.
        feed_rig.clock.advance(timedelta(seconds=31))
        wall, outcomes = timed_poll(feed_rig, fetcher, only_due=True)
        assert wall < 2 * SOURCE_TIMEOUT_S
        assert {o.source for o in outcomes} == faulty - {"fault_429"}
        states = feed_rig.states()
        assert states["fault_500"].consecutive_failures == 2
        assert datetime.fromisoformat(states["fault_500"].next_poll_at) == \
            feed_rig.clock.now() + timedelta(minutes=2)


# =========================================================================== 3. receivers down

HANG_S = 1.5  # longer than the Slack receiver's 1 s timeout


class HangingSlack(SlackStandIn):
    """The Slack stand-in with one more scripted answer: ``hang`` (answer after the client's
    timeout has passed)."""

    def _next_answer(self, kind: str) -> str:
        answer = super()._next_answer(kind)
        if answer == "hang":
            time.sleep(HANG_S)
            return "500"
        return answer


@dataclass
class OutageRig:
    config_dir: Path
    state_dir: Path
    slack: HangingSlack
    smtp: SmtpSink
    clock: FixedClock
    attempts_at: list[tuple[datetime, str, str]] = field(default_factory=list)

    def fire(self, mineral: str, level: str = "high") -> None:
        config = load_config(self.config_dir)
        with Store.open(self.state_dir / DB_NAME) as store:
            enqueue_signals(store, config, [Signal(
                rule="price_jump_3m", mineral=mineral, indicator="price_change_3m",
                firing=True, level=level, value=0.45 if level == "high" else 0.6)],
                self.clock.now(), evaluated_rules=set())

    def deliver_every(self, step: timedelta, until: datetime) -> None:
        """The daemon's deliver job on simulated time (one pass per step)."""
        config = load_config(self.config_dir)
        notifiers = build_notifiers(config, self.state_dir)
        while self.clock.now() < until:
            seen = len(self.slack.requests)
            with Store.open(self.state_dir / DB_NAME) as store:
                deliver_pending(store, config, notifiers, self.clock.now(),
                                rng=random.Random(SEED))
            self.attempts_at += [(self.clock.now(), r.answered, r.body.get("text") or "")
                                 for r in self.slack.requests[seen:]]
            self.clock.advance(step)


@pytest.fixture
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutageRig]:
    monkeypatch.setenv("CRITMON_FAULTS_SLACK_TOKEN", TOKEN)
    smtp = SmtpSink()  # its port is chosen, but it is not listening yet: SMTP is down
    with HangingSlack(token=TOKEN) as slack:
        config_dir = write_config(tmp_path / "config", sources=[], slack_url=slack.api_url,
                                  slack_timeout="1s", smtp_port=smtp.port)
        state_dir = tmp_path / "state"
        jobs.prepare(load_config(config_dir), config_dir, state_dir, T0)
        try:
            yield OutageRig(config_dir, state_dir, slack, smtp, FixedClock(T0))
        finally:
            if smtp.controller._thread is not None:  # started by the test
                smtp.stop()
            else:
                smtp.controller.loop.close()


def hour_long_outage(outage: OutageRig) -> datetime:
    """Slack answers 500, 429 (Retry-After 600), hangs, then 500 for an hour while SMTP is
    down; gallium, cobalt and germanium fire 5 minutes apart. Then both come back for an hour.
    Returns when they came back."""
    outage.slack.script("api", "500", "429:600", "hang")
    outage.slack.always("api", "500")
    step = timedelta(seconds=30)
    for minute, mineral in ((0, "gallium"), (5, "cobalt"), (10, "germanium")):
        outage.clock.set(max(outage.clock.now(), T0 + timedelta(minutes=minute)))
        outage.fire(mineral)
        outage.deliver_every(step, until=T0 + timedelta(minutes=minute + 5))
    outage.deliver_every(step, until=T0 + timedelta(hours=1))
    assert outage.slack.delivered() == [] and outage.smtp.received == []
    outage.slack.always("api", "ok")
    outage.smtp.start()
    back = outage.clock.now()
    outage.deliver_every(step, until=T0 + timedelta(hours=2))
    return back


def minerals_in(texts: list[str]) -> list[str]:
    return [next(m for m in MINERALS if m in text) for text in texts]


def test_an_hour_of_slack_and_smtp_outage_loses_nothing_and_honours_retry_after(
        outage: OutageRig) -> None:
    back = hour_long_outage(outage)
    answers = [answer for _, answer, _ in outage.attempts_at]
    assert answers[:3] == ["500", "429:600", "500"], "the scripted 500, 429 and hang"

    # Retry-After: 600 s: the rate-limited message is not tried again for ten minutes.
    limited_at, _, text = next(a for a in outage.attempts_at if a[1].startswith("429"))
    again = [at for at, _, t in outage.attempts_at if at > limited_at and t == text]
    assert again and min(again) >= limited_at + timedelta(seconds=600)

    # Everything queued arrives, once, within the longest backoff of the return.
    slack = minerals_in([m.text for m in outage.slack.delivered()])
    mails = minerals_in([str(m.message["Subject"]) for m in outage.smtp.wait_for(3)])
    assert sorted(slack) == sorted(mails) == sorted(MINERALS)
    delivered_at = [at for at, answer, _ in outage.attempts_at if answer == "ok"]
    assert max(delivered_at) <= back + timedelta(minutes=33), "within the 30 min max backoff"
    with Store.open(outage.state_dir / DB_NAME) as store:
        statuses = Counter(r["status"] for r in store.db.query(
            "SELECT status FROM deliveries WHERE kind = 'alert'"))
    assert statuses == {"sent": 6}


def test_after_an_outage_queued_messages_arrive_in_the_order_they_fired(
        outage: OutageRig) -> None:
    hour_long_outage(outage)
    assert minerals_in([m.text for m in outage.slack.delivered()]) == list(MINERALS)
    assert minerals_in([str(m.message["Subject"]) for m in outage.smtp.wait_for(3)]) == \
        list(MINERALS)


def test_a_slack_429_holds_back_every_message_to_that_receiver_for_retry_after(
        outage: OutageRig) -> None:
    outage.slack.script("api", "429:600")
    outage.fire("gallium")
    outage.deliver_every(timedelta(seconds=30), until=T0 + timedelta(minutes=1))
    outage.fire("cobalt")  # a new group for the same, rate-limited, receiver
    outage.deliver_every(timedelta(seconds=30), until=T0 + timedelta(minutes=12))
    limited_at = outage.attempts_at[0][0]
    assert all(at >= limited_at + timedelta(seconds=600) for at, _, _ in outage.attempts_at[1:])
