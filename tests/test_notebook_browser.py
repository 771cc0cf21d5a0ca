"""The playground widget in a real JupyterLab and Notebook 7: a notebook running
``gridnn.notebook.playground()`` is opened in headless Chromium; the widget shows the lecture's
example (a 3x3 output of -5, read back from the page), and editing a kernel weight changes the
output to what gridnn computes; the model page of a run opens in the next cell, and the live
training page in the third trains one step when Step is pressed (its counter moves from the
kernel's event stream). The server
listens on 127.0.0.1 with a token and is shut down by the test."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("jupyterlab")
pytest.importorskip("anywidget")
pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

import gridnn as gn  # noqa: E402
from browser import chrome  # noqa: E402
from lab_server import JupyterLab, run_all_cells, write_notebook  # noqa: E402
from studio_server import wait_for  # noqa: E402

WIDGET = ".gridnn-widget"


def widget_root(driver, index: int = 0):
    """The shadow root widget ``index`` draws its studio page into (None until it is ready)."""
    return driver.execute_script(
        f"const h = document.querySelectorAll('{WIDGET}')[{index}];"
        "return h && h.dataset.ready ? h.shadowRoot : null;")


def output_grid(root) -> np.ndarray:
    cells = root.find_elements(By.CSS_SELECTOR, '[data-testid^="output-cell-"]')
    values = {}
    for cell in cells:
        i, j = map(int, cell.get_attribute("data-testid")[len("output-cell-"):].split("-"))
        values[i, j] = float(cell.find_element(By.CSS_SELECTOR, ".val").text)
    if not values:
        return np.zeros((0, 0))
    rows, cols = max(i for i, _ in values) + 1, max(j for _, j in values) + 1
    return np.array([[values.get((i, j), np.nan) for j in range(cols)] for i in range(rows)])


@pytest.fixture(params=["jupyterlab", "notebook"])
def lab(request, tmp_path):
    pytest.importorskip(request.param)
    pytest.importorskip("sklearn")
    from gridnn.cli import main

    assert main(["train", "--data", "digits", "--epochs", "1", "--no-progress",
                 "--out", str(tmp_path / "run")]) == 0
    write_notebook(tmp_path / "widget.ipynb",
                   "import gridnn.notebook\ngridnn.notebook.playground()",
                   f"gridnn.notebook.inside({str(tmp_path / 'run')!r})",
                   "gridnn.notebook.learn()")
    server = JupyterLab(tmp_path, app=request.param)
    try:
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_the_playground_widget_runs_the_lecture_example_in_jupyter(lab, tmp_path) -> None:
    driver = chrome(str(tmp_path / "chromium"))
    try:
        driver.get(lab.notebook_url("widget.ipynb"))
        wait_for(driver, lambda: driver.execute_script("return !!window.jupyterapp"), 60)
        run_all_cells(driver)
        root = wait_for(driver, lambda: widget_root(driver), 60)
        state = driver.execute_script(f"return document.querySelector('{WIDGET}').dataset.ready")
        assert state == "1", root.find_element(By.CSS_SELECTOR, ".error").text
        grid = wait_for(driver, lambda: (g := output_grid(root)).size == 9 and g, 30)
        assert grid.tolist() == [[-5.0] * 3] * 3
        # w1: 1 -> 2 gives y = 2 x_ij - x_(i+1)(j+1) = x_ij - 5
        cell = root.find_element(By.CSS_SELECTOR, '[data-testid="kernel-cell-0-0"]')
        cell.click()
        cell.send_keys(Keys.END, Keys.BACKSPACE, "2", Keys.TAB)  # "1" -> "2", then leave it
        x = np.arange(1, 17, dtype=np.float32).reshape(1, 1, 4, 4)
        w = np.array([[[[2, 0], [0, -1]]]], np.float32)
        expected = gn.functional.conv2d(gn.tensor(x), gn.tensor(w)).numpy()[0, 0]
        wait_for(driver, lambda: np.array_equal(output_grid(root), expected), 30)
        assert output_grid(root)[0].tolist() == [-4.0, -3.0, -2.0]
        # the second cell: the model page of the run, opened on test sample 0
        inside = wait_for(driver, lambda: widget_root(driver, 1), 60)
        top1 = wait_for(driver, lambda: inside.find_element(
            By.CSS_SELECTOR, '[data-testid="prediction-top1"]').text.strip("- "), 30)
        run = gn.open_run(tmp_path / "run")
        assert top1.split()[0] == run.class_names[int(run.logits(run.x_test[:1]).argmax())]
        # the third cell: the learn page; Step trains one batch in the kernel, and the counter
        # moves when the kernel's event stream brings the new figures
        learn = wait_for(driver, lambda: widget_root(driver, 2), 60)
        counter = learn.find_element(By.CSS_SELECTOR, '[data-testid="learn-steps"]')
        assert counter.text.strip() in ("", "0")
        step = learn.find_element(By.CSS_SELECTOR, '[data-testid="learn-step"]')
        driver.execute_script("arguments[0].click()", step)
        wait_for(driver, lambda: counter.text.strip() == "1", 60)
        loss = learn.find_element(By.CSS_SELECTOR, '[data-testid="learn-loss"]').text
        assert np.isfinite(float(loss)), loss
        errors = [e["message"] for e in driver.get_log("browser")
                  if e["level"] == "SEVERE" and "gridnn" in e["message"]]
        assert errors == []
    finally:
        driver.quit()
