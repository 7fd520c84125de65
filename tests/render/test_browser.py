"""The step-through page in headless Chromium: stepping moves the highlight, nothing is fetched."""

from __future__ import annotations

import pytest

from graphtrace.render import to_html, to_svg

from . import synthetic as S

pytestmark = [pytest.mark.browser, pytest.mark.dot, pytest.mark.xdist_group("browser")]  # NOTE [two workers]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1200,900",
    ):
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


# -- pictures for docs: text fits whatever font the reader has, dark mode (NOTE [text fits its box]) ---------

TEXT_OUTSIDE = r"""
var out = [];
document.querySelectorAll('svg g.node, svg g.cluster').forEach(function (g) {
  var box = g.querySelector('polygon, path').getBBox();
  g.querySelectorAll('text').forEach(function (t) {
    var r = t.getBBox();
    if (r.x < box.x - 0.5 || r.x + r.width > box.x + box.width + 0.5) out.push(g.id + ': ' + t.textContent);
  });
});
var label = [...document.querySelectorAll('svg g.graph > text')].map(function (t) {
  var r = t.getBBox(); return [Math.round(r.y), r.x, r.x + r.width, t.textContent];
}).sort(function (a, b) { return a[0] - b[0] || a[1] - b[1]; });
for (var i = 1; i < label.length; i++)  // legend cells on one row never run together
  if (label[i][0] === label[i - 1][0] && label[i - 1][2] > label[i][1] - 2) out.push('legend: ' + label[i][3]);
return out;
"""


def not_run_leaf():
    """seed 002's first pass: torch.autograd.grad leaves x.grad untouched, so the leaf did not run."""
    import torch

    import graphtrace

    with graphtrace.trace() as t:
        x = torch.tensor(2.0, requires_grad=True)
        y = torch.sin(x) + torch.cos(x)
        torch.autograd.grad(y, x)
    return t.passes[0].graph


@pytest.mark.parametrize("font", ["DejaVu Sans", "Liberation Sans"])
def test_text_stays_inside_its_box_in_the_readers_font(browser, tmp_path, font):
    forced = f"<style>svg text {{ font-family: '{font}' !important; }}</style>"
    for k, graph in enumerate([S.chain(), S.multipath(), S.accumulation(), S.unhealthy(), S.hostile(), not_run_leaf()]):
        page = tmp_path / f"{k}.html"
        page.write_text(
            f"<!DOCTYPE html><html><head>{forced}</head><body>{to_svg(graph)}</body></html>", encoding="utf-8"
        )
        browser.get(page.as_uri())
        assert browser.execute_script(f"return document.fonts.check('10px \"{font}\"')")
        assert browser.execute_script(TEXT_OUTSIDE) == [], graph.graph.get("index")


def test_svg_turns_dark_with_the_readers_colour_scheme(browser, tmp_path):
    page = tmp_path / "dark.html"
    page.write_text(f"<!DOCTYPE html><html><body>{to_svg(S.chain())}</body></html>", encoding="utf-8")
    filter_of = "return getComputedStyle(document.querySelector('svg')).filter"
    try:
        for scheme, want in (("dark", "invert(0.92) hue-rotate(180deg)"), ("light", "none")):
            browser.execute_cdp_cmd(
                "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
            )
            browser.get(page.as_uri())
            assert browser.execute_script(filter_of) == want
            assert browser.execute_script("return getComputedStyle(document.body).filter") == "none"  # scoped
        page = tmp_path / "page.html"
        page.write_text(to_html(S.chain()), encoding="utf-8")
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        browser.get(page.as_uri())  # the step page follows its picture
        assert browser.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(20, 20, 20)"
        assert browser.execute_script(filter_of) == "invert(0.92) hue-rotate(180deg)"
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def shown_text(browser, element_id: str) -> str:
    """The text of an SVG group that is not hidden, line by line."""
    return "\n".join(
        browser.execute_script(
            "return [...document.getElementById(arguments[0]).querySelectorAll('text')]"
            ".filter(t => getComputedStyle(t).visibility !== 'hidden').map(t => t.textContent)",
            element_id,
        )
    )


def test_each_step_shows_only_what_has_been_computed(browser, tmp_path):
    from selenium.webdriver.common.keys import Keys

    b = open_page(browser, tmp_path, S.chain())
    body = b.find_element("tag name", "body")
    assert shown_text(b, "edge-0-1") == "1"  # the seed, known at step 0
    assert shown_text(b, "edge-1-2") == shown_text(b, "edge-3-4") == ""  # later gradients hidden
    leaf = shown_text(b, "node-4")
    assert "value 7" in leaf and ".grad" not in leaf and "21.384" not in leaf
    body.send_keys(Keys.ARROW_RIGHT)  # step 1: sin ran, its gradient left along 1 -> 2
    assert shown_text(b, "edge-1-2") == "0.14547\n×0.14547" and shown_text(b, "edge-3-4") == ""
    body.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)  # step 3: pow ran
    assert shown_text(b, "edge-3-4") == "21.384\n×147" and ".grad" not in shown_text(b, "node-4")
    body.send_keys(Keys.END)
    assert ".grad None + 21.384 = 21.384" in shown_text(b, "node-4")
    panel = b.find_element("id", "gt-panel").text
    assert "21.384121" in panel  # the page gives full float32 precision
    body.send_keys(Keys.HOME)
    assert shown_text(b, "edge-3-4") == "" and ".grad" not in shown_text(b, "node-4")


def test_page_explains_its_colours_and_links_its_neighbours(browser, tmp_path):
    path = tmp_path / "pass-002.html"
    path.write_text(
        to_html(S.chain(), links={"prev": "pass-001.html", "next": "pass-003.html", "index": "index.html"}),
        encoding="utf-8",
    )
    browser.get(path.as_uri())
    key = browser.find_element("id", "gt-key").text
    assert "this step's node" in key and "gradient arriving" in key and "gradient leaving" in key
    hrefs = [
        browser.find_element("id", f"gt-{k}-pass").get_attribute("href").rsplit("/", 1)[1]
        for k in ("prev", "index", "next")
    ]
    assert hrefs == ["pass-001.html", "index.html", "pass-003.html"]
