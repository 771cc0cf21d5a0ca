"""Screenshots of the studio's model page for the README, in headless Debian Chromium.

    PYTHONPATH=src:tests python docs/studio_model_screenshot.py
    # writes docs/studio-model.png and docs/studio-model-phone.png (digits run, 1400 and 420
    # wide) and docs/studio-model-1d.png (MNIST-1D run)

Each run is trained for 15 epochs by ``gridnn train`` into a temporary folder; the page shows a
test sample, and a pixel of a conv layer's feature map is clicked so that its receptive field
is outlined on the input and its kernel is shown.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains

from gridnn import cli
from gridnn.studio.registry import Registry
from studio_server import by_testid, chrome, save_page, start_server, wait_for

HERE = Path(__file__).parent
# (dataset, pictures by window width, test sample (from 1), feature map clicked, pixel offset in
# it from its top left)
SHOTS = [("digits", {1400: "studio-model.png", 420: "studio-model-phone.png"}, 2,
          "feature-map-3-5", (20, 20)),
         ("mnist1d", {1400: "studio-model-1d.png"}, 3, "feature-map-3-5", (60, 4))]


def shoot(run_dir: Path, out: Path, width: int, sample: int, testid: str,
          offset: tuple[int, int]) -> None:
    registry = Registry.from_sources([str(run_dir)], runs_dir=None)
    base, stop = start_server(registry)
    driver = chrome()

    try:
        driver.set_window_size(width, 1250)
        driver.get(f"{base}/model.html?id={registry.entries()[0]['id']}")
        wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
        by_testid(driver, "sample-index").clear()
        by_testid(driver, "sample-index").send_keys(str(sample))
        by_testid(driver, "sample-load").click()
        wait_for(driver, lambda: by_testid(driver, "sample-label").text.startswith("true class"))
        time.sleep(0.5)
        canvas = by_testid(driver, testid)
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
        w, h = canvas.size["width"], canvas.size["height"]
        ActionChains(driver).move_to_element_with_offset(
            canvas, offset[0] - w // 2, offset[1] - h // 2).click().perform()
        wait_for(driver, lambda: by_testid(driver, "rf-box").is_displayed())
        driver.execute_script("window.scrollTo(0, 0)")
        if width < 600:  # a phone: the whole page, as a student scrolls through it
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(width, height + 200)
        save_page(driver, out)
    finally:
        driver.quit()
        stop()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for data, pictures, sample, testid, offset in SHOTS:
            run_dir = Path(tmp) / f"{data}-{'digits_cnn' if data == 'digits' else 'mnist1d_cnn'}"
            if cli.main(["train", "--data", data, "--epochs", "15", "--out", str(run_dir),
                         "--no-progress"]) != 0:
                raise SystemExit(f"training on {data} failed")
            for width, picture in pictures.items():
                shoot(run_dir, HERE / picture, width, sample, testid, offset)


if __name__ == "__main__":
    main()
