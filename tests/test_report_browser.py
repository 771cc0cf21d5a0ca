"""`gridnn report RUN` renders in a real browser: Debian's headless Chromium, driven by Selenium
through the Debian chromedriver (no browser download). Every image must load, the console must
stay free of errors, nothing may be fetched from the network, and the headline test accuracy
must be on the page. A deliberately broken page checks that the checks can fail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from gridnn.cli import main

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("Debian chromium and chromium-driver are not installed (apt-get install -y "
                    "chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def inspect(driver, path: Path) -> dict:
    """Open ``path``; return its images, console errors, fetched URLs and page text."""
    driver.get(path.resolve().as_uri())
    images = driver.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
        " width: i.naturalWidth}))")
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    return {"images": images, "errors": errors, "fetched": fetched,
            "text": driver.find_element("tag name", "body").text}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "digits"
    assert main(["train", "--epochs", "1", "--no-progress", "--out", str(run)]) == 0
    out = run / "report.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    return run, out


def test_report_renders_in_chromium(browser, report):
    run, out = report
    page = inspect(browser, out)
    assert len(page["images"]) >= 6  # curves, confusion, filters (2 layers), maps, mistakes
    broken = [i["alt"] for i in page["images"] if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"images that did not load: {broken}"
    assert page["errors"] == []
    assert not [u for u in page["fetched"] if not u.startswith("data:")]
    accuracy = json.loads((run / "metrics.json").read_text())["test_accuracy"]
    assert f"Test accuracy {100 * accuracy:.2f}%" in page["text"]
    for heading in ("Model", "Training curves", "Confusion matrix", "Learned filters",
                    "Feature maps", "Misclassified test examples"):
        assert heading in page["text"]
    assert "Total params: 29,162" in page["text"] and "Connections" in page["text"]


def test_report_proportions(browser, report):
    """Each setting once; the filter pictures side by side, a modest share of the page."""
    _, out = report
    browser.get(out.resolve().as_uri())
    rows = browser.execute_script(
        "return Array.from(document.querySelectorAll('table')[0].rows).map(r => r.cells[0]"
        ".textContent)")
    assert len(rows) == len(set(rows)) and rows.count("epochs") == 1
    boxes = browser.execute_script(
        "return Array.from(document.images).filter(i => i.alt.startsWith('filters of'))"
        ".map(i => i.getBoundingClientRect()).map(r => [r.top, r.bottom, r.width])")
    page = browser.execute_script("return document.body.scrollHeight")
    assert len(boxes) == 2 and boxes[0][0] == boxes[1][0]  # one row
    assert max(b[1] for b in boxes) - boxes[0][0] < 0.2 * page


def test_the_checks_catch_a_broken_page(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img alt="truncated" src="data:image/png;base64,iVBORw0K">'
                   "<script>console.error('boom')</script></body></html>")
    page = inspect(browser, bad)
    assert page["images"][0]["width"] == 0
    assert any("boom" in e for e in page["errors"])


def test_report_is_self_contained(report):
    _, out = report
    html = out.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count("data:image/png;base64,") >= 6
    with Image.open(report[0] / "curves.png") as img:  # the run's own curves, embedded
        img.verify()
