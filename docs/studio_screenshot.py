"""Screenshots of the studio's playground for the README, in headless Debian Chromium.

    PYTHONPATH=src:tests python docs/studio_screenshot.py
    # writes docs/studio-playground.png (1440 wide) and docs/studio-playground-phone.png (420)

The page is shown as it opens, on the lecture's case (4x4 input holding 1..16, kernel
[[1,2],[3,4]], stride 2: 64 / 16 / 4), stepped to the second output, so the window, the
products, the sum and the bias step are visible.
"""

from __future__ import annotations

import time
from pathlib import Path

from gridnn.studio.registry import Registry
from studio_server import by_testid, chrome, save_page, start_server, wait_for

HERE = Path(__file__).parent
SHOTS = [(1440, "studio-playground.png"), (420, "studio-playground-phone.png")]


def main() -> None:
    base, stop = start_server(Registry([]))
    driver = chrome()
    try:
        for width, name in SHOTS:
            driver.set_window_size(width, 1200)
            driver.get(base + "/")
            wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
            for _ in range(2):
                by_testid(driver, "step-next").click()
                time.sleep(0.2)
            wait_for(driver, lambda: by_testid(driver, "equation").text.startswith("y2 ="))
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(width, height + 200)  # + window chrome: no scroll bar
            save_page(driver, HERE / name)
    finally:
        driver.quit()
        stop()


if __name__ == "__main__":
    main()
