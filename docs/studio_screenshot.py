"""Screenshot of the studio's playground for the README, in headless Debian Chromium.

    PYTHONPATH=src:tests python docs/studio_screenshot.py   # writes docs/studio-playground.png

The page is set to the lecture's example (4x4 holding 1..16, kernel [[1,0],[0,-1]], stride 1)
and stepped to the fifth output, so the window, the products and the equation are visible.
"""

from __future__ import annotations

import time
from pathlib import Path

from gridnn.studio.registry import Registry
from studio_server import by_testid, chrome, save_page, start_server, wait_for

OUT = Path(__file__).parent / "studio-playground.png"


def main() -> None:
    base, stop = start_server(Registry([]))
    driver = chrome()
    try:
        driver.set_window_size(1440, 1500)
        driver.get(base + "/")
        wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
        for _ in range(5):
            by_testid(driver, "step-next").click()
            time.sleep(0.2)
        wait_for(driver, lambda: by_testid(driver, "equation").text.startswith("y"))
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1440, height + 200)  # + window chrome: no scroll bar
        save_page(driver, OUT)
    finally:
        driver.quit()
        stop()


if __name__ == "__main__":
    main()
