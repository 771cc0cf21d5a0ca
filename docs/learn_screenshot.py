"""Screenshots of the studio's learn page mid-training for the README, in headless Chromium.

    PYTHONPATH=src:tests python docs/learn_screenshot.py
    # writes docs/studio-learn.png (desktop) and docs/studio-learn-phone.png (420 px wide)

The page trains the default stack on digits with 200 training images as a locally connected
stack, then as a fully connected MLP, and is caught in the third run (the convolution)
mid-training, paused, with a first-layer weight's gradient written out in the backprop panel.
"""

from __future__ import annotations

import time
from pathlib import Path

from selenium.webdriver.support.ui import Select

from gridnn.studio.registry import Registry
from studio_server import by_testid, chrome, save_page, start_server, wait_for

DOCS = Path(__file__).parent


def status(driver) -> str:
    return by_testid(driver, "learn-status").get_attribute("data-status") or ""


def run(driver, arch: str, *, finish: bool) -> None:
    Select(by_testid(driver, "learn-arch")).select_by_value(arch)
    by_testid(driver, "learn-play").click()
    wait_for(driver, lambda: status(driver) == "playing")
    if finish:
        wait_for(driver, lambda: status(driver) == "finished", timeout=300)


def main() -> None:
    base, stop = start_server(Registry([]))
    driver = chrome()
    try:
        driver.set_window_size(1400, 1000)
        driver.get(base + "/learn.html")
        wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
        Select(by_testid(driver, "learn-train-size")).select_by_value("200")
        epochs = by_testid(driver, "learn-epochs")
        epochs.clear()
        epochs.send_keys("30")
        run(driver, "local", finish=True)
        run(driver, "mlp", finish=True)
        run(driver, "conv", finish=False)
        wait_for(driver, lambda: int(by_testid(driver, "learn-steps").text) >= 80)
        by_testid(driver, "learn-pause").click()
        wait_for(driver, lambda: status(driver) == "paused")
        driver.find_element("css selector", "table.numbers td.pickable").click()
        wait_for(driver, lambda: driver.find_elements("css selector",
                                                      '[data-testid="learn-grad-total"]'))
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1400, height + 200)
        save_page(driver, DOCS / "studio-learn.png")
        driver.set_window_size(420, 900)
        time.sleep(0.5)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(420, min(height + 200, 6000))
        save_page(driver, DOCS / "studio-learn-phone.png")
    finally:
        driver.quit()
        stop()


if __name__ == "__main__":
    main()
