"""The step-through page in headless Chromium: stepping moves the highlight, nothing is fetched."""

from __future__ import annotations

import pytest

from graphtrace.render import to_html

from . import synthetic as S

pytestmark = [pytest.mark.browser, pytest.mark.dot]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}", "--window-size=1200,900"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(browser, tmp_path, graph):
    path = tmp_path / "page.html"
    path.write_text(to_html(graph), encoding="utf-8")
    browser.get(path.as_uri())
    return browser


def current(browser) -> list[str]:
    return browser.execute_script("return [...document.querySelectorAll('.gt-current')].map(e => e.id)")


def test_stepping_moves_highlight_and_panel(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    b = open_page(browser, tmp_path, S.chain())
    assert current(b) == ["node-0"]
    panel = b.find_element("id", "gt-panel")
    assert "seed gradient" in panel.text
    b.find_element("id", "gt-next").click()
    assert current(b) == ["node-1"] and "step 1 (2 of 5)" in b.find_element("id", "gt-pos").text
    b.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert current(b) == ["node-3"]
    assert "×147" in panel.text and "21.384" in panel.text
    assert b.execute_script("return document.getElementById('edge-3-4').classList.contains('gt-out')")
    b.find_element("tag name", "body").send_keys(Keys.END)
    assert current(b) == ["node-4"] and ".grad before" in panel.text and "21.384" in panel.text
    b.find_element("id", "gt-prev").click()
    assert current(b) == ["node-3"]
    b.find_element("id", "gt-first").click()
    assert current(b) == ["node-0"]
    assert b.execute_script("return document.getElementById('node-4').classList.contains('gt-todo')")


def test_no_console_errors_no_network_and_no_injection(browser, tmp_path):
    b = open_page(browser, tmp_path, S.hostile())
    b.find_element("id", "gt-last").click()
    assert "<img src=x onerror=alert(1)> (leaf)" in b.find_element("id", "gt-panel").text
    assert b.execute_script("return document.querySelectorAll('img, #gt-graph script').length") == 0
    assert b.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert [e for e in b.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
