"""The console in a real Chromium: every page renders under the CSP; acknowledge, silence,
a rules edit with preview and apply, and revert are clicked through; the store and the config
files show what changed; a news title carrying script is inert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from monitor.alerting.store import AlertStore
from monitor.config.load import load_config
from tests.web.conftest import XSS_TITLE, Served

WAIT_S = 120  # a loaded 2-core machine: generous; every wait ends as soon as the page is there


def open_page(driver: WebDriver, url: str, heading: str) -> None:
    driver.get(url)
    WebDriverWait(driver, WAIT_S).until(
        lambda d: heading in d.find_element(By.TAG_NAME, "h1").text)


def csp_violations(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"]
            or "Refused to" in entry["message"]]


def submit(driver: WebDriver, form: Any, button: str) -> None:
    form.find_element(By.NAME, button).click()


def wait_for(driver: WebDriver, css: str) -> Any:
    return WebDriverWait(driver, WAIT_S).until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def wait_text(driver: WebDriver, css: str, expected: str) -> str:
    """The text of ``css`` once it contains ``expected`` (the page after a submit has loaded;
    the previous page may still show an element of the same id for a moment)."""
    def found(d: WebDriver) -> str | bool:
        try:
            text = d.find_element(By.CSS_SELECTOR, css).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return text if expected in text else False

    return WebDriverWait(driver, WAIT_S).until(found)


def test_every_page_renders_under_the_csp(served: Served, browser: WebDriver,
                                          screenshots: Path) -> None:
    total = len(load_config(served.config_dir).minerals.minerals)
    pages = [("/", f"Supply risk of {total} minerals", "console-overview.png"),
             ("/mineral/platinum", "Platinum", "console-mineral.png"),
             ("/alerts", "Alerts", "console-alerts.png"),
             ("/history", "History", "console-history.png"),
             ("/sources", "Sources", "console-sources.png"),
             ("/rules", "Rules", "console-rules.png")]
    browser.get_log("browser")  # start from an empty log
    for path, heading, shot in pages:
        open_page(browser, served.url + path, heading)
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1400, min(max(900, height + 40), 2600))
        browser.save_screenshot(str(screenshots / shot))
        assert (screenshots / shot).stat().st_size > 10_000
    browser.set_window_size(1400, 1000)
    assert csp_violations(browser) == []
    # what the pages say comes from the store
    open_page(browser, served.url + "/", "Supply risk")
    platinum = browser.find_element(By.CSS_SELECTOR, 'tr[data-mineral="platinum"]')
    assert "price_jump_3m high" in platinum.text and "platinum_watch critical" in platinum.text
    assert platinum.find_elements(By.CSS_SELECTOR, "svg.spark polyline")
    open_page(browser, served.url + "/?firing=1&sort=mineral", "Supply risk")
    rows = browser.find_elements(By.CSS_SELECTOR, "#overview tbody tr[data-mineral]")
    assert [r.get_attribute("data-mineral") for r in rows] == ["platinum"]
    open_page(browser, served.url + "/mineral/platinum", "Platinum")
    factors = browser.find_element(By.ID, "factors").text
    assert "market" in factors and "price_change_3m" in factors
    assert "worldbank_pinksheet" in browser.find_element(By.ID, "indicators").text


def test_acknowledge_then_silence_then_expire(served: Served, browser: WebDriver) -> None:
    with served.store() as store:
        firing = {a.alertname: a for a in AlertStore(store).states(["firing"])}
    target = firing["price_jump_3m"]
    open_page(browser, served.url + "/alerts", "Alerts")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{target.id}"]')
    assert "inhibited by platinum platinum_watch critical" in row.text
    ack_form = row.find_elements(By.TAG_NAME, "form")[0]
    ack_form.find_element(By.NAME, "author").clear()
    ack_form.find_element(By.NAME, "author").send_keys("ana")
    ack_form.find_element(By.NAME, "comment").send_keys("known: Bushveld flooding")
    submit(browser, ack_form, "ack")
    wait_text(browser, "#message", "acknowledged as ack")
    with served.store() as store:
        acks = AlertStore(store).acks()
        notes = list(store.db.query("SELECT detail FROM alert_events WHERE kind = 'acked'"))
    assert [(a.fingerprint, a.author, a.comment) for a in acks] == [
        (target.fingerprint, "ana", "known: Bushveld flooding")]
    assert notes[0]["detail"].startswith(f"ack {acks[0].id} by ana")

    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-alert="{target.id}"]')
    assert "ack " in row.text and "by ana" in row.text
    silence_form = row.find_elements(By.TAG_NAME, "form")[1]
    assert silence_form.find_element(By.NAME, "matcher_0").get_attribute("value") == \
        "alertname=price_jump_3m"
    assert silence_form.find_element(By.NAME, "matcher_1").get_attribute("value") == \
        "mineral=platinum"
    duration = silence_form.find_element(By.NAME, "duration")
    duration.clear()
    duration.send_keys("4h")
    silence_form.find_element(By.NAME, "comment").send_keys("maintenance window")
    submit(browser, silence_form, "silence")
    wait_text(browser, "#message", "created")
    with served.store() as store:
        silences = AlertStore(store).silences()
    assert len(silences) == 1
    silence = silences[0]
    assert silence.matchers == ("alertname=price_jump_3m", "mineral=platinum")
    assert abs((silence.ends_at - silence.starts_at).total_seconds() - 4 * 3600) < 1
    assert silence.comment == "maintenance window" and silence.matches(target.all_labels)

    listed = browser.find_element(By.CSS_SELECTOR, f'tr[data-silence="{silence.id}"]')
    assert "active" in listed.text and "maintenance window" in listed.text
    submit(browser, listed.find_element(By.TAG_NAME, "form"), "expire")
    wait_text(browser, "#message", "expired")
    with served.store() as store:
        assert AlertStore(store).silences(include_expired=False,
                                          now=_now()) == []


def _now() -> Any:
    from datetime import UTC, datetime
    return datetime.now(UTC)


def _field(browser: WebDriver, name: str, value: str) -> None:
    element = browser.find_element(By.NAME, name)
    element.clear()
    element.send_keys(value)


def test_rules_edit_preview_apply_and_revert(served: Served, browser: WebDriver,
                                             screenshots: Path) -> None:
    rules_path = served.config_dir / "rules.yaml"
    original = rules_path.read_text()
    open_page(browser, served.url + "/rules", "Rules")
    _field(browser, "rule_price_jump_3m_thresholds", "0.095, 0.182")
    _field(browser, "preview_from", "2021-06-01")
    _field(browser, "preview_to", "2022-06-30")
    _field(browser, "preview_minerals", "nickel, copper")
    _field(browser, "author", "ana")
    browser.find_element(By.CSS_SELECTOR, 'button[value="preview"]').click()
    preview = wait_for(browser, "#preview")
    browser.save_screenshot(str(screenshots / "console-rules-preview.png"))
    assert "nickel" in preview.text and "+ " in preview.text
    assert "price_jump_3m" in preview.text
    assert "recall" in browser.find_element(By.ID, "preview-scoring").text
    assert rules_path.read_text() == original  # a preview writes nothing

    # the form came back with the draft's values: apply them
    assert browser.find_element(By.NAME, "rule_price_jump_3m_thresholds").get_attribute(
        "value") == "0.095, 0.182"
    browser.find_element(By.CSS_SELECTOR, 'button[value="apply"]').click()
    wait_text(browser, "#message", "web apply by ana")
    applied = load_config(served.config_dir)
    rule = next(r for r in applied.rules.rules if r.name == "price_jump_3m")
    assert rule.detector.params()["thresholds"] == [0.095, 0.182]
    assert [r.name for r in applied.rules.rules] == [
        r.name for r in load_config(_original_dir(served, original)).rules.rules]
    with served.store() as store:
        versions = store.config_versions()
    assert (versions[0]["origin"], versions[0]["author"], versions[0]["digest"]) == (
        "web apply", "ana", applied.digest)

    # revert to the version before
    before = versions[1]
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-version="{before["id"]}"]')
    row.find_element(By.NAME, "author").clear()
    row.find_element(By.NAME, "author").send_keys("ben")
    submit(browser, row.find_element(By.TAG_NAME, "form"), "revert")
    wait_text(browser, "#message", f"web revert to {before['id']} by ben")
    assert rules_path.read_text() == original
    with served.store() as store:
        latest = store.config_versions()[0]
    assert (latest["origin"], latest["author"]) == (f"web revert to {before['id']}", "ben")


def _original_dir(served: Served, text: str) -> Path:
    directory = served.state_dir.parent / "original-config"
    directory.mkdir(exist_ok=True)
    for file in served.config_dir.iterdir():
        if file.suffix == ".yaml":
            (directory / file.name).write_text(file.read_text())
    (directory / "rules.yaml").write_text(text)
    return directory


def test_a_bad_threshold_is_refused_with_file_key_and_line(served: Served,
                                                           browser: WebDriver) -> None:
    rules_path = served.config_dir / "rules.yaml"
    original = rules_path.read_text()
    open_page(browser, served.url + "/rules", "Rules")
    _field(browser, "rule_price_jump_3m_thresholds", "0.47, 0.262")  # must increase
    browser.find_element(By.CSS_SELECTOR, 'button[value="apply"]').click()
    error = wait_text(browser, "#error", "rules.yaml")
    assert str(rules_path) in error
    assert "rules.1.detector" in error and "increasing" in error
    assert browser.find_elements(By.CSS_SELECTOR, "ol.yaml li.bad-line")
    assert rules_path.read_text() == original
    with served.store() as store:
        assert all(v["origin"] != "web apply" for v in store.config_versions())


def test_a_script_in_a_news_title_is_inert(served: Served, browser: WebDriver) -> None:
    open_page(browser, served.url + "/mineral/platinum", "Platinum")
    news = browser.find_element(By.ID, "news")
    assert XSS_TITLE.replace("  ", " ") in news.text  # shown as text, tags and all
    assert browser.execute_script("return window.__xss === undefined")
    assert news.find_elements(By.TAG_NAME, "script") == []
    assert news.find_elements(By.TAG_NAME, "img") == []
    hrefs = [a.get_attribute("href") for a in news.find_elements(By.TAG_NAME, "a")]
    assert hrefs == ["https://example.org/pt"]  # the javascript: URL is no link
    assert json.dumps(hrefs).count("javascript") == 0
