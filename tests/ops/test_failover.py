"""Failover: two ``critmon run`` daemons on one PostgreSQL database, the leader killed.

Real pieces only: a throw-away PostgreSQL cluster (tests/pg_server.py), two daemons started
through the real CLI (``critmon --store URL run``), a local HTTP price source and the Slack
stand-in. Each round arms a price spike for one more mineral, then kills the leader at a
random point between the enqueue and the send:

- ``enqueued``: from outside (SIGKILL), as soon as the notification is in the outbox (the
  route's ``group_wait`` keeps it there for a moment);
- ``claimed``: the leader SIGKILLs itself right after committing its claim on the message,
  before it sends it (the pipeline's ``crash_points`` seam, as in the crash-safety tests).

The other daemon takes over within 30 s and sends what was left; the killed one is started
again as a follower. At the end Slack has each notification exactly once (each message
carries its idempotency key). A second test stops the leader (SIGSTOP) right after a claim,
lets the lease expire and the follower take over, then wakes it: it must neither send nor
write. A third cuts the leader off from the database (a relay it connects through closes
every connection and refuses new ones): it steps down by itself, the other takes over, and
when the route comes back it stays a follower. The takeover times are printed (``-s`` shows
them), recorded as the test's ``takeover_seconds`` property (``--junitxml`` keeps them) and
asserted under 30 s.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from monitor.store.lease import lease_info
from monitor.store.pg import PgDatabase
from tests.ops.test_faults import ALERTING, NORMAL, RULES, SOURCE, SPIKE, FeedServer, reply
from tests.pg_server import PostgresCluster
from tests.slack_standin import SlackStandIn

TOKEN = "xoxb-failover-token"
MINERALS = ("gallium", "cobalt", "germanium", "antimony", "bismuth")  # no bundled prices
ROUNDS = len(MINERALS)
SEED = int(os.environ.get("CRITMON_FAILOVER_SEED", "20261203"))
TAKEOVER_LIMIT_S = 30.0

# The real CLI, with the idempotency key appended to each Slack text and the crash seam armed:
# at its claim commit, the daemon that first takes the file CRASH_FILE (a rename: only one
# can) kills ("kill") or stops ("stop") itself.
DRIVER = """
import faulthandler, os, signal, sys, time
faulthandler.register(signal.SIGUSR1)  # a failing test asks for every thread's stack
from monitor.alerting import crash_points
from monitor.alerting.notifiers import slack

render = slack.slack_message
slack.slack_message = lambda n: {**render(n),
                                 "text": render(n)["text"] + f" pid={os.getpid()} key={n.key}"}
crash = os.environ["CRASH_FILE"]


def die(at):
    if at != "claimed":
        return
    try:
        os.rename(crash, f"{crash}.{os.getpid()}")
    except OSError:
        return
    with open(f"{crash}.{os.getpid()}") as handle:
        how = handle.read()
    print(f"crash point {at}: {how}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    # A signal to the process lands on its threads asynchronously: this one could otherwise
    # go on into the send before the process stops. Asleep here, it stops before the send.
    time.sleep(2)


crash_points.after_commit = die
from monitor.cli.main import main
sys.argv = ["critmon", *sys.argv[1:]]
main()
"""


class PriceFeed:
    """One CSV per mineral: NORMAL until armed, then SPIKE (the alert fires once)."""

    def __init__(self) -> None:
        self.armed: set[str] = set()
        self._lock = threading.Lock()
        routes = {f"/{m}.csv": self._route(m) for m in MINERALS}
        self.server = FeedServer(routes)

    def _route(self, mineral: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def serve(handler: BaseHTTPRequestHandler) -> None:
            with self._lock:
                body = SPIKE if mineral in self.armed else NORMAL
            reply(handler, 200, body.encode(), "text/csv")
        return serve

    def arm(self, mineral: str) -> None:
        with self._lock:
            self.armed.add(mineral)


@dataclass
class Pair:
    """Two daemons on one database, the stand-ins they talk to, and what the test saw."""

    tmp: Path
    url: str
    env: dict[str, str]
    slack: SlackStandIn
    feed: PriceFeed
    config_dir: Path
    driver: Path
    db: PgDatabase
    daemons: dict[int, subprocess.Popen[str]] = field(default_factory=dict)
    logs: list[Path] = field(default_factory=list)
    takeovers: list[float] = field(default_factory=list)

    @property
    def crash_file(self) -> Path:
        return self.tmp / "crash"

    def crash_at_claim(self, how: str) -> None:
        self.crash_file.write_text(how, "utf-8")

    def start(self, url: str | None = None) -> subprocess.Popen[str]:
        name = f"daemon-{len(self.logs)}"
        log = self.tmp / f"{name}.log"
        self.logs.append(log)
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, str(self.driver), "--config", str(self.config_dir),
                 "--state-dir", str(self.tmp / name), "--store", url or self.url, "run"],
                env={**self.env, "CRASH_FILE": str(self.crash_file)}, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
                text=True)
        self.daemons[process.pid] = process
        return process

    def leader_pid(self) -> int | None:
        info = lease_info(self.db)
        if info is None or info.expired:
            return None
        pid = int(info.holder.split(":")[1])
        return pid if pid in self.daemons and self.daemons[pid].poll() is None else None

    def wait_leader(self, timeout_s: float = 120.0, other_than: int | None = None) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pid = self.leader_pid()
            if pid is not None and pid != other_than:
                return pid
            time.sleep(0.05)
        raise AssertionError(f"no leader within {timeout_s:g}s\n{self.tail_logs()}")

    def enqueued(self, mineral: str) -> bool:
        """The mineral's notification is in the outbox, not yet taken by a delivery."""
        return bool(next(self.db.query(
            "SELECT count(*) AS n FROM outbox o JOIN alert_state a USING (fingerprint) "
            "WHERE o.status = 'pending' AND a.mineral = ?", [mineral]))["n"])

    def settled(self) -> bool:
        """Nothing waits or is being sent: the store recorded every message as sent."""
        return not next(self.db.query(
            "SELECT (SELECT count(*) FROM outbox WHERE status = 'pending') + "
            "(SELECT count(*) FROM deliveries WHERE status IN ('sending', 'retry')) AS n"))["n"]

    def wait_settled(self, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.settled():
            assert time.monotonic() < deadline, f"not settled\n{self.tail_logs()}"
            time.sleep(0.1)

    def received_keys(self) -> Counter[str]:
        return Counter(key for r in self.slack.delivered()
                       if (key := _key_in(r.body.get("text") or "")))

    def wait_received(self, count: int, timeout_s: float = 180.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.slack.delivered()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.slack.delivered())} of {count} messages "
                                     f"after {timeout_s:g}s\n{self.tail_logs()}")
            time.sleep(0.1)

    def tail_logs(self) -> str:
        for process in self.daemons.values():
            if process.poll() is None:
                process.send_signal(signal.SIGUSR1)
        time.sleep(1)  # let faulthandler write
        logs = "\n".join(f"== {log.name}\n{log.read_text(errors='replace')[-8000:]}"
                         for log in self.logs)
        return f"{logs}\n== database\n{self.describe_database()}"

    def describe_database(self) -> str:
        """What the store and the server say (for a failure message)."""
        queries = [
            "SELECT holder, token, expires_at FROM leader_lease",
            "SELECT source, status, last_success_at, next_poll_at, last_error FROM source_state",
            "SELECT id, status, receiver, created_at FROM outbox ORDER BY id",
            "SELECT id, status, lease_until, sent_at FROM deliveries ORDER BY id",
            "SELECT mineral, state, fired_at FROM alert_state",
            ("SELECT key, value FROM meta WHERE key IN ('last_cycle_at', 'heartbeat_at', "
            "'running_jobs')"),
            ("SELECT pid, application_name, state, wait_event_type, left(query, 90) AS query "
            "FROM pg_stat_activity WHERE datname = current_database()"),
        ]
        lines = []
        for sql in queries:
            try:
                lines += [str(row) for row in self.db.query(sql)]
            except Exception as exc:  # noqa: BLE001 - a description, whatever fails
                lines.append(f"{sql[:40]}: {exc}")
        return "\n".join(lines)

    def stop_all(self) -> None:
        for process in self.daemons.values():  # with their evaluation processes
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(60)


def _key_in(text: str) -> str | None:
    match = re.search(r" key=([0-9a-f]{32})$", text)
    return match.group(1) if match else None


def write_pair_config(directory: Path, feed: FeedServer, slack_url: str) -> Path:
    """Five minerals, a 2 s poll, a 2 s group_wait (the window to kill in after enqueue)."""
    directory.mkdir(parents=True)
    (directory / "rules.yaml").write_text(RULES.format(minerals=", ".join(MINERALS)), "utf-8")
    (directory / "sources.yaml").write_text("version: 1\nsources:\n" + "".join(
        SOURCE.format(id=f"local_{m}", url=feed.url(f"/{m}.csv"), mineral=m, interval="2s",
                      timeout="5s") for m in MINERALS), "utf-8")
    alerting = ALERTING.format(api_url=slack_url, slack_timeout="5s", email="",
                               email_route="").replace("group_wait: 0s", "group_wait: 2s")
    (directory / "alerting.yaml").write_text(
        alerting.replace("CRITMON_FAULTS_SLACK_TOKEN", "CRITMON_FAILOVER_SLACK_TOKEN"), "utf-8")
    return directory


@pytest.fixture
def pair(tmp_path: Path, pg_cluster: PostgresCluster, pg_url: str) -> Iterator[Pair]:
    proxy = "http://127.0.0.1:9"  # nothing may leave the machine
    env = {**os.environ, **pg_cluster.env(), "HTTP_PROXY": proxy, "HTTPS_PROXY": proxy,
           "NO_PROXY": "127.0.0.1,localhost", "CRITMON_FAILOVER_SLACK_TOKEN": TOKEN}
    feed = PriceFeed()
    with feed.server, SlackStandIn(token=TOKEN) as slack:
        driver = tmp_path / "driver.py"
        driver.write_text(DRIVER, "utf-8")
        config_dir = write_pair_config(tmp_path / "config", feed.server, slack.api_url)
        db = PgDatabase(pg_url)
        pair = Pair(tmp_path, pg_url, env, slack, feed, config_dir, driver, db)
        try:
            yield pair
        finally:
            pair.stop_all()
            db.close()


def start_pair(pair: Pair) -> int:
    """The first daemon becomes leader (it also creates the schema); then the second."""
    first = pair.start()
    leader = pair.wait_leader()
    assert leader == first.pid
    pair.start()
    return leader


def kill_between_enqueue_and_send(pair: Pair, leader: int, mode: str, mineral: str) -> float:
    """Kill the leader at ``mode`` (the spike is armed); return when it died (monotonic)."""
    process = pair.daemons[leader]
    if mode == "claimed":  # it kills itself at its claim commit
        process.wait(180)
        assert process.returncode == -signal.SIGKILL, pair.tail_logs()
        return time.monotonic()
    deadline = time.monotonic() + 180
    while not pair.enqueued(mineral):  # the notification is enqueued, not yet claimed
        assert process.poll() is None, pair.tail_logs()
        assert time.monotonic() < deadline, f"nothing enqueued\n{pair.tail_logs()}"
        time.sleep(0.02)
    process.kill()
    process.wait(60)
    return time.monotonic()


def test_killing_the_leader_between_enqueue_and_send_loses_nothing_and_sends_nothing_twice(
        pair: Pair, record_property: Callable[[str, object], None]) -> None:
    rng = random.Random(SEED)
    modes = ["enqueued", "claimed", *(rng.choice(["enqueued", "claimed"])
                                      for _ in range(ROUNDS - 2))]
    rng.shuffle(modes)
    leader = start_pair(pair)
    for round_no, (mineral, mode) in enumerate(zip(MINERALS, modes, strict=True)):
        if mode == "claimed":
            pair.crash_at_claim("kill")
        pair.feed.arm(mineral)
        died_at = kill_between_enqueue_and_send(pair, leader, mode, mineral)
        new_leader = pair.wait_leader(other_than=leader)
        pair.takeovers.append(time.monotonic() - died_at)
        pair.wait_received(round_no + 1)
        pair.wait_settled()  # recorded as sent: the next kill comes after that
        pair.start()  # the killed one comes back, as a follower
        leader = new_leader

    received = pair.received_keys()
    assert len(pair.slack.delivered()) == sum(received.values()) == ROUNDS, pair.tail_logs()
    assert all(count == 1 for count in received.values()), received
    texts = [r.body.get("text") or "" for r in pair.slack.delivered()]
    for mineral in MINERALS:
        assert sum(mineral in text.lower() for text in texts) == 1, (mineral, texts)
    print(f"\nmodes {modes}; takeover after the leader died (s): "
          f"{', '.join(f'{t:.1f}' for t in pair.takeovers)}; "
          f"max {max(pair.takeovers):.1f}, mean {sum(pair.takeovers) / ROUNDS:.1f}")
    record_property("takeover_seconds", ",".join(f"{t:.2f}" for t in pair.takeovers))
    assert max(pair.takeovers) < TAKEOVER_LIMIT_S


def test_a_stalled_leader_that_lost_its_lease_neither_sends_nor_writes_when_it_wakes(
        pair: Pair, record_property: Callable[[str, object], None]) -> None:
    stalled = pair.start()
    assert pair.wait_leader() == stalled.pid
    pair.start()
    pair.crash_at_claim("stop")
    pair.feed.arm(MINERALS[0])
    deadline = time.monotonic() + 180
    while _state(stalled.pid) != "T":  # stopped by itself right after its claim commit
        assert stalled.poll() is None and time.monotonic() < deadline, pair.tail_logs()
        time.sleep(0.05)
    stopped_at = time.monotonic()
    successor = pair.wait_leader(other_than=stalled.pid)
    pair.takeovers.append(time.monotonic() - stopped_at)
    pair.wait_received(1)
    token_after = lease_info(pair.db)
    stalled.send_signal(signal.SIGCONT)  # wakes up believing it is mid-send
    log = pair.logs[0]
    # It wakes in mid-send: the send is refused (no lease), so is every write, and it follows.
    expected = ("not sending to analysts_slack: this instance no longer holds the leader lease",
                "write refused", "now a follower")
    deadline = time.monotonic() + 120
    while not all(line in log.read_text(errors="replace") for line in expected):
        assert stalled.poll() is None and time.monotonic() < deadline, pair.tail_logs()
        time.sleep(0.1)
    # It did not send, and the successor still holds the lease: exactly one message.
    assert len(pair.slack.delivered()) == 1, (
        [(r.at, (r.body.get("text") or "").rsplit(" pid=", 1)[-1])
         for r in pair.slack.delivered()], pair.tail_logs())
    assert pair.leader_pid() == successor
    assert token_after is not None and lease_info(pair.db).token == token_after.token
    print(f"\ntakeover after the leader stalled (s): {pair.takeovers[-1]:.1f}")
    record_property("takeover_seconds", f"{pair.takeovers[-1]:.2f}")
    assert pair.takeovers[-1] < TAKEOVER_LIMIT_S


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


class CuttableProxy:
    """A TCP relay to the database that the test can cut: every connection through it is
    closed and new ones are refused (the leader's host losing its route to the database)."""

    def __init__(self, port: int) -> None:
        self.upstream = ("127.0.0.1", port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = threading.Event()
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut_off.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.cut_off.set()
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self.cut_off.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_a_leader_cut_off_from_the_database_steps_down_and_the_other_takes_over(
        pair: Pair, pg_cluster: PostgresCluster,
        record_property: Callable[[str, object], None]) -> None:
    proxy = CuttableProxy(pg_cluster.port)
    try:
        leader = pair.start(url=pair.url.replace(f":{pg_cluster.port}/", f":{proxy.port}/"))
        assert pair.wait_leader() == leader.pid
        pair.start()
        pair.feed.arm(MINERALS[0])
        pair.wait_received(1)
        pair.wait_settled()
        proxy.cut()
        cut_at = time.monotonic()
        pair.wait_leader(other_than=leader.pid)
        pair.takeovers.append(time.monotonic() - cut_at)
        pair.feed.arm(MINERALS[1])  # the new leader polls, evaluates and sends it
        pair.wait_received(2)
        pair.wait_settled()
        log = pair.logs[0]
        deadline = time.monotonic() + 60
        while "now a follower" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, pair.tail_logs()
            time.sleep(0.1)
        proxy.restore()  # the route comes back: the old leader stays a follower
        pair.feed.arm(MINERALS[2])
        pair.wait_received(3)
        pair.wait_settled()
    finally:
        proxy.close()
    received = pair.received_keys()
    assert sorted(received.values()) == [1, 1, 1], received
    assert leader.poll() is None, "cut off, the daemon kept running"
    print(f"\ntakeover after the leader was cut off (s): {pair.takeovers[-1]:.1f}")
    record_property("takeover_seconds", f"{pair.takeovers[-1]:.2f}")
    assert pair.takeovers[-1] < TAKEOVER_LIMIT_S
