"""Screenshots of gridnn in JupyterLab for the README, in headless Debian Chromium:

    PYTHONPATH=src:tests python docs/notebook_screenshot.py

writes docs/notebook-tutorial.png (tutorial 1, run top to bottom: the stride-2 output, the
library's own convolution read in place), docs/notebook-playground.png (the playground
widget on the lecture's example, stepped to its fifth output), docs/notebook-inside.png
(the model page widget of a digits run trained for the picture) and docs/notebook-learn.png
(the live training page widget after one epoch of its default digits stack). JupyterLab runs on
127.0.0.1 with a token in a temporary folder and is shut down at the end.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import jupytext
from selenium.webdriver.common.by import By

from browser import chrome
from gridnn.cli import main as gridnn_command
from lab_server import JupyterLab, run_all_cells, write_notebook
from studio_server import wait_for

DOCS = Path(__file__).parent


def open_and_run(driver, lab: JupyterLab, name: str) -> None:
    driver.get(lab.notebook_url(name))
    wait_for(driver, lambda: driver.execute_script("return !!window.jupyterapp"), 60)
    run_all_cells(driver)


def widget(driver, index: int):
    return wait_for(driver, lambda: driver.execute_script(
        "const panel = jupyterapp.shell.currentWidget.node;"
        f"const h = panel.querySelectorAll('.gridnn-widget')[{index}];"
        "return h && h.dataset.ready === '1' ? h : null;"), 180)


def scroll_to(driver, element) -> None:
    driver.execute_script("jupyterapp.shell.collapseLeft();"
                          "arguments[0].scrollIntoView({block: 'start'})", element)
    time.sleep(0.8)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="gridnn-shots-"))
    # README's way: the paired .ipynb made by jupytext beside the .py
    source = (DOCS / "tutorials" / "01_convolution_by_hand.py").read_text()
    (root / "01_convolution_by_hand.py").write_text(source)
    jupytext.write(jupytext.reads(source, "py:percent"), root / "01_convolution_by_hand.ipynb")
    gridnn_command(["train", "--data", "digits", "--epochs", "8", "--no-progress",
                    "--out", str(root / "digits")])
    write_notebook(root / "widgets.ipynb",
                   "import gridnn.notebook\ngridnn.notebook.playground()",
                   "gridnn.notebook.inside('digits')", "gridnn.notebook.learn()")
    lab = JupyterLab(root)
    driver = chrome()
    try:
        driver.set_window_size(1400, 1000)
        open_and_run(driver, lab, "01_convolution_by_hand.ipynb")
        widget(driver, 0)  # the last output: everything above it has run
        heading = wait_for(driver, lambda: [h for h in driver.find_elements(
            By.CSS_SELECTOR, ".jp-RenderedMarkdown h2") if h.text.startswith("gridnn gives")])
        scroll_to(driver, heading[0])
        driver.save_screenshot(str(DOCS / "notebook-tutorial.png"))
        print("wrote docs/notebook-tutorial.png")

        driver.set_window_size(1400, 1300)
        open_and_run(driver, lab, "widgets.ipynb")
        play = widget(driver, 0)
        scroll_to(driver, play)
        step = play.shadow_root.find_element(By.CSS_SELECTOR, '[data-testid="step-next"]')
        for _ in range(5):
            driver.execute_script("arguments[0].click()", step)
            time.sleep(0.3)
        scroll_to(driver, play)
        driver.save_screenshot(str(DOCS / "notebook-playground.png"))
        print("wrote docs/notebook-playground.png")
        inside = widget(driver, 1)
        wait_for(driver, lambda: inside.shadow_root.find_element(
            By.CSS_SELECTOR, '[data-testid="prediction-top1"]').text.strip("- "), 120)
        scroll_to(driver, inside)
        driver.save_screenshot(str(DOCS / "notebook-inside.png"))
        print("wrote docs/notebook-inside.png")
        learn = widget(driver, 2).shadow_root
        part = lambda name: learn.find_element(  # noqa: E731
            By.CSS_SELECTOR, f'[data-testid="learn-{name}"]')
        driver.execute_script("arguments[0].click()", part("epoch"))
        wait_for(driver, lambda: part("status").text == "paused"
                 and int(part("steps").text) > 0, 180)
        time.sleep(1)
        scroll_to(driver, part("steps"))
        driver.save_screenshot(str(DOCS / "notebook-learn.png"))
        print("wrote docs/notebook-learn.png")
    finally:
        driver.quit()
        lab.stop()


if __name__ == "__main__":
    main()
