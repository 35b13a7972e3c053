"""The console over HTTP (httpx against the real server): CSRF, Origin, host and security
headers, exports, auth, and a run of the daemon with --web."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from monitor.alerting.store import AlertStore
from monitor.news.items import NewsItem, NewsRecord
from monitor.news.store import NewsStore
from monitor.web.app import applied_message
from monitor.web.security import CSP, hash_password
from monitor.web.server import AuthOptions
from tests.web.conftest import Served, _serve, free_port

TIMEOUT = 60.0


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def firing_id(served: Served, alertname: str = "price_jump_3m") -> int:
    with served.store() as store:
        return next(a.id for a in AlertStore(store).states(["firing"])
                    if a.alertname == alertname)


def acks(served: Served) -> list:
    with served.store() as store:
        return AlertStore(store).acks()


def test_every_answer_carries_the_security_headers(served: Served) -> None:
    for path in ("/", "/alerts", "/static/console.css", "/nowhere"):
        response = httpx.get(served.url + path, timeout=TIMEOUT)
        assert response.headers["content-security-policy"] == CSP, path
        assert "unsafe-inline" not in CSP and "script-src" not in CSP  # no script at all
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    page = httpx.get(served.url + "/alerts", timeout=TIMEOUT).text
    assert "<script" not in page and " style=" not in page


def test_a_post_without_a_valid_csrf_token_changes_nothing(served: Served) -> None:
    alert = firing_id(served)
    url = f"{served.url}/alerts/{alert}/ack"
    form = {"author": "mallory", "comment": "muted by a forged form"}
    assert httpx.post(url, data=form, timeout=TIMEOUT).status_code == 403
    assert httpx.post(url, data={**form, "csrf": "0" * 64}, timeout=TIMEOUT).status_code == 403
    token = csrf_of(httpx.get(served.url + "/alerts", timeout=TIMEOUT).text)
    evil = httpx.post(url, data={**form, "csrf": token}, timeout=TIMEOUT,
                      headers={"origin": "https://evil.example"})
    assert evil.status_code == 403
    assert httpx.get(url, timeout=TIMEOUT).status_code == 405  # a change is never a GET
    assert acks(served) == []
    ok = httpx.post(url, data={**form, "csrf": token}, timeout=TIMEOUT)
    assert ok.status_code == 303 and [a.author for a in acks(served)] == ["mallory"]


def test_silence_and_apply_refuse_a_forged_request(served: Served) -> None:
    form = {"matcher_0": "mineral=platinum", "duration": "1d", "author": "m", "comment": "x"}
    assert httpx.post(served.url + "/silences", data=form, timeout=TIMEOUT).status_code == 403
    before = (served.config_dir / "rules.yaml").read_text()
    response = httpx.post(served.url + "/rules/draft", timeout=TIMEOUT, data={
        "action": "apply", "author": "m", "rule_price_jump_3m_thresholds": "0.01"})
    assert response.status_code == 403
    assert (served.config_dir / "rules.yaml").read_text() == before
    with served.store() as store:
        assert AlertStore(store).silences() == []


def test_only_loopback_host_names_are_answered(served: Served) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 gets nothing."""
    response = httpx.get(served.url + "/", headers={"host": "evil.example"}, timeout=TIMEOUT)
    assert response.status_code == 421
    assert httpx.get(served.url.replace("127.0.0.1", "localhost") + "/",
                     timeout=TIMEOUT).status_code == 200


def test_history_exports_csv_and_json_safely(served: Served) -> None:
    token = csrf_of(httpx.get(served.url + "/alerts", timeout=TIMEOUT).text)
    alert = firing_id(served)
    httpx.post(f"{served.url}/alerts/{alert}/ack", timeout=TIMEOUT, data={
        "csrf": token, "author": "ana", "comment": '=HYPERLINK("http://evil.example","x")'})
    text = httpx.get(served.url + "/history?mineral=platinum&format=csv", timeout=TIMEOUT).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["mineral"] for r in rows} == {"platinum"}
    acked = [r for r in rows if r["event"] == "acked"]
    assert acked and acked[0]["detail"].startswith("ack ")  # a cell starting "=" would get "'"
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r.values())
    doc = json.loads(httpx.get(served.url + "/history?format=json&rule=price_jump_3m",
                               timeout=TIMEOUT).text)
    assert doc and {r["alertname"] for r in doc} == {"price_jump_3m"}
    assert {"fired", "acked"} <= {r["event"] for r in doc}
    deliveries = json.loads(httpx.get(served.url + "/history?format=json&receiver=jsonl",
                                      timeout=TIMEOUT).text)
    assert deliveries and {r["receiver"] for r in deliveries} == {"jsonl"}
    assert httpx.get(served.url + "/history?since=banana", timeout=TIMEOUT).status_code == 200


def test_an_unknown_mineral_is_404_and_a_bad_silence_is_explained(served: Served) -> None:
    assert httpx.get(served.url + "/mineral/unobtainium", timeout=TIMEOUT).status_code == 404
    token = csrf_of(httpx.get(served.url + "/alerts", timeout=TIMEOUT).text)
    response = httpx.post(served.url + "/silences", timeout=TIMEOUT, data={
        "csrf": token, "matcher_0": "mineral=~(", "duration": "-1h", "author": "a",
        "comment": "c"})
    assert response.status_code == 400
    assert "matcher" in response.text and "duration" in response.text


# --------------------------------------------------------------------------- auth


@pytest.fixture
def with_users(seeded: tuple[Path, Path], tmp_path: Path) -> Iterator[Served]:
    import shutil

    users = tmp_path / "web-users"
    users.write_text(f"# console users\nana:{hash_password('correct horse')}\n")
    config_dir = shutil.copytree(seeded[0], tmp_path / "config")
    state_dir = shutil.copytree(seeded[1], tmp_path / "state")
    yield from _serve(config_dir, state_dir, AuthOptions(users_file=users))


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_with_users_a_login_is_required_and_names_the_author(with_users: Served) -> None:
    url = with_users.url
    response = httpx.get(url + "/", timeout=TIMEOUT)
    assert response.status_code == 401 and "Basic" in response.headers["www-authenticate"]
    assert httpx.get(url + "/", headers=basic("ana", "wrong"), timeout=TIMEOUT).status_code == 401
    assert httpx.get(url + "/", headers=basic("bob", "correct horse"),
                     timeout=TIMEOUT).status_code == 401
    page = httpx.get(url + "/alerts", headers=basic("ana", "correct horse"), timeout=TIMEOUT)
    assert page.status_code == 200 and "signed in as ana" in page.text
    alert = firing_id(with_users)
    # the author is the user signed in, whatever the form says
    httpx.post(f"{url}/alerts/{alert}/ack", headers=basic("ana", "correct horse"),
               timeout=TIMEOUT, data={"csrf": csrf_of(page.text), "author": "somebody else",
                                      "comment": "seen"})
    assert [a.author for a in acks(with_users)] == ["ana"]


def test_a_proxy_header_is_trusted_only_from_the_proxy(seeded: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    import shutil

    config_dir = shutil.copytree(seeded[0], tmp_path / "config")
    state_dir = shutil.copytree(seeded[1], tmp_path / "state")
    served = _serve(config_dir, state_dir,
                    AuthOptions(proxy_header="X-Remote-User", trusted_proxies=("127.0.0.1",)))
    console = next(served)
    try:
        assert httpx.get(console.url + "/", timeout=TIMEOUT).status_code == 401
        page = httpx.get(console.url + "/", headers={"x-remote-user": "ana"}, timeout=TIMEOUT)
        assert page.status_code == 200 and "signed in as ana" in page.text
    finally:
        served.close()
    served = _serve(config_dir, state_dir,
                    AuthOptions(proxy_header="X-Remote-User", trusted_proxies=("10.9.9.9",)))
    console = next(served)
    try:  # the same header from an address that is not the proxy counts for nothing
        assert httpx.get(console.url + "/", headers={"x-remote-user": "ana"},
                         timeout=TIMEOUT).status_code == 401
    finally:
        served.close()


# --------------------------------------------------------------------------- the CLI


def critmon(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True,
                          text=True, timeout=300, check=False, **kwargs)  # type: ignore[call-overload]


def test_web_refuses_a_public_address_without_authentication(seeded: tuple[Path, Path]
                                                             ) -> None:
    config_dir, state_dir = seeded
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRITMON_")}
    result = critmon("--config", str(config_dir), "--state-dir", str(state_dir), "web",
                     f"0.0.0.0:{free_port()}", env=env)
    assert result.returncode == 78, result.stderr
    assert "not a loopback address" in result.stderr and "--users" in result.stderr


def test_run_with_web_serves_the_console_and_stops_with_the_daemon(
        seeded: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    config_dir = shutil.copytree(seeded[0], tmp_path / "config")
    state_dir = shutil.copytree(seeded[1], tmp_path / "state")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRITMON_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--config", str(config_dir), "--state-dir",
         str(state_dir), "run", "--web", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    running = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "critmon running" in line:
                running.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert running.wait(240), "".join(lines)
        assert f"web console: http://127.0.0.1:{port}/" in "".join(lines)
        assert httpx.get(f"http://127.0.0.1:{port}/alerts", timeout=TIMEOUT).status_code == 200
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)  # the daemon's stop budget is 30 s
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(10)
    if process.stderr is not None:
        process.stderr.close()
    assert code == 0, "".join(lines)
    assert "critmon stopped" in "".join(lines)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=5)


def test_overview_and_mineral_pages_show_the_chosen_perspective(seeded: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    import shutil
    from datetime import UTC, datetime

    from monitor.store.database import Store

    config_dir = shutil.copytree(seeded[0], tmp_path / "config")
    state_dir = shutil.copytree(seeded[1], tmp_path / "state")
    rules = config_dir / "rules.yaml"
    rules.write_text(rules.read_text() + "\nperspectives: [us, cn]\n")
    with Store.open(state_dir / "critmon.db") as store:
        store.save_evaluation(
            evaluated_at=datetime(2025, 10, 2, tzinfo=UTC), indicators=[],
            scores=[{"mineral": "cobalt", "perspective": "cn", "as_of": "2025-10-01",
                     "score": 87.6, "level": "critical", "method": "risk-v1:cn"}],
            signals=[])
    serving = _serve(config_dir, state_dir, AuthOptions())
    served = next(serving)
    try:
        with httpx.Client(base_url=served.url, timeout=TIMEOUT) as client:
            china = client.get("/", params={"perspective": "cn"}).text
            assert "seen from cn" in china and "87.6" in china
            assert "/mineral/cobalt?perspective=cn" in china
            us = client.get("/").text
            assert "seen from us" in us and "87.6" not in us
            page = client.get("/mineral/cobalt", params={"perspective": "cn"}).text
            assert "seen from cn" in page and "87.6" in page
            unknown = client.get("/", params={"perspective": "mars"}).text
            assert "seen from us" in unknown  # an unlisted perspective falls back to the first
    finally:
        serving.close()


# --------------------------------------------------------------------------- language


def test_the_console_speaks_chinese_when_asked_and_remembers_it(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=TIMEOUT) as client:
        english = client.get("/").text
        assert '<html lang="en">' in english and ">Platinum</a>" in english
        chinese = client.get("/", params={"lang": "zh"})
        assert chinese.cookies.get("critmon_lang") == "zh"
        assert "httponly" in chinese.headers["set-cookie"].lower()
        page = chinese.text
        assert '<html lang="zh-Hans">' in page and 'class="here">中文</a>' in page
        assert ">铂</a>" in page and ">镓</a>" in page  # name_zh of platinum and gallium
        levels = re.findall(r'<span class="level level-(\w+)">([^<]*)</span>', page)
        shown = {css: text for css, text in levels if css != "none"}
        assert shown and set(shown.values()) <= {"严重", "高", "中等", "低", "未知"}
        assert 'level-moderate">中等<' in page and 'level-unknown">未知<' in page
        # the cookie carries the choice to the next page, the mineral page included
        mineral = client.get("/mineral/platinum").text
        assert "<h1>铂 " in mineral and "<title>铂 · critmon</title>" in mineral
        assert "结构性" in mineral  # the factor breakdown: structural
        assert "3个月价格跳升" in mineral  # the firing price_jump_3m alert of platinum
        back = client.get("/", params={"lang": "en"})
        assert back.cookies.get("critmon_lang") == "en" and ">Platinum</a>" in back.text


@pytest.mark.parametrize(("header", "language"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9,zh;q=0.5", "en"),
    ("fr-FR,fr;q=0.9,zh-TW;q=0.7", "zh"), ("de,fr", "en"), ("", "en"),
    ("zh;q=banana,en", "en"), ("x" * 10_000, "en"),
])
def test_without_a_choice_the_browser_language_decides(served: Served, header: str,
                                                       language: str) -> None:
    page = httpx.get(served.url + "/", headers={"accept-language": header}, timeout=TIMEOUT)
    assert page.status_code == 200
    assert f'<html lang="{"zh-Hans" if language == "zh" else "en"}">' in page.text
    assert "critmon_lang" not in page.headers.get("set-cookie", "")  # only a choice is kept


def test_an_unknown_language_is_ignored(served: Served) -> None:
    page = httpx.get(served.url + "/", params={"lang": "<script>"}, timeout=TIMEOUT)
    assert page.status_code == 200 and '<html lang="en">' in page.text
    assert "critmon_lang" not in page.headers.get("set-cookie", "")
    cookie = httpx.get(served.url + "/", cookies={"critmon_lang": "fr"}, timeout=TIMEOUT)
    assert '<html lang="en">' in cookie.text


def test_the_chinese_console_still_escapes_outside_text(served: Served) -> None:
    page = httpx.get(served.url + "/mineral/platinum", params={"lang": "zh"},
                     timeout=TIMEOUT).text
    assert "<h1>铂 " in page
    assert "<script>window.__xss" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.__xss" in page
    assert "javascript:" not in page  # the hostile link is shown as text, never linked
    # the language links keep the page's query and are escaped as attributes
    with_query = httpx.get(served.url + "/mineral/platinum",
                           params={"lang": "zh", "x": '"><b>'}, timeout=TIMEOUT).text
    assert '"><b>' not in with_query


def test_news_waiting_for_its_classification_shows_as_pending_not_as_no_risk(
        served: Served) -> None:
    pending = NewsItem(id="test_feed:new", source="test_feed", url="https://example.org/new",
                       title="Platinum smelter halts output", published_at=None)
    with served.store() as store:
        NewsStore(store).save([NewsRecord(item=pending, canonical_url=pending.url,
                                          fetched_at=datetime(2025, 9, 23, tzinfo=UTC),
                                          classification=None, minerals=("platinum",))])
    page = httpx.get(served.url + "/mineral/platinum", timeout=TIMEOUT).text
    row = next(r for r in page.split("<tr>") if "Platinum smelter halts output" in r)
    assert ">pending</td>" in row and ">no</td>" not in row
    flooded = next(r for r in page.split("<tr>") if "Platinum mine flooded" in r)
    assert ">mine_disruption</td>" in flooded and ">yes</td>" in flooded


def test_an_apply_on_a_shared_store_says_which_host_got_the_files() -> None:
    local = applied_message("web apply", "ana", ["rules.yaml"], shared_store=False)
    shared = applied_message("web apply", "ana", ["rules.yaml"], shared_store=True)

    assert local == "web apply by ana: wrote rules.yaml; a running daemon reloads it within seconds"
    assert f"wrote rules.yaml on {socket.gethostname()};" in shared
    assert "instances on other hosts read their own config directories" in shared
    assert applied_message("web revert", "ana", [], shared_store=True) == (
        "nothing to write: no file changes")
