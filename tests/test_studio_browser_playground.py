"""The playground page in headless Debian Chromium (Selenium) against a real uvicorn server:
the lecture's example read back from the page, stride 2, the counts with and without sharing,
stepping, hover links, editing a cell and a 1-D input; no console errors throughout. Expected
values come from gridnn.functional on the numbers read back from the page's own cells."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("selenium")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

import gridnn as gn  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from studio_server import by_testid, chrome, console_errors, start_server, wait_for  # noqa: E402,E501


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    base, stop = start_server(Registry([]))
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.get(base + "/")
        wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
        yield driver
    finally:
        driver.quit()
        stop()


def grid(driver, prefix: str, attribute: str | None = None) -> np.ndarray:
    """The numbers of the cells `{prefix}-{i}-{j}` read from the page, as a 2-D array."""
    cells = driver.find_elements(By.CSS_SELECTOR, f'[data-testid^="{prefix}-"]')
    values = {}
    for cell in cells:
        i, j = map(int, cell.get_attribute("data-testid")[len(prefix) + 1:].split("-"))
        text = (cell.get_attribute("value") if attribute == "value"
                else cell.find_element(By.CSS_SELECTOR, ".val").text)
        values[i, j] = float(text)
    rows, cols = max(i for i, _ in values) + 1, max(j for _, j in values) + 1
    assert len(values) == rows * cols
    return np.array([[values[i, j] for j in range(cols)] for i in range(rows)])


def choose(driver, testid: str, value: str) -> None:
    Select(by_testid(driver, testid)).select_by_value(value)


def output_when(driver, shape: tuple[int, int]) -> np.ndarray:
    """Wait until the first output map has `shape`, then read it."""
    def ready():
        cells = driver.find_elements(By.CSS_SELECTOR, '[data-testid^="output-cell-"]')
        if len(cells) != shape[0] * shape[1] or not all(c.get_attribute("data-value")
                                                         for c in cells):
            return None
        out = grid(driver, "output-cell")
        return out if out.shape == shape else None
    return wait_for(driver, ready)


def counts(driver) -> tuple[str, str, str]:
    return tuple(by_testid(driver, f"count-{n}").text for n in ("mlp", "sparse", "params"))


def expected(driver, stride: int) -> np.ndarray:
    x = grid(driver, "input-cell", "value")
    w = grid(driver, "kernel-cell", "value")
    return gn.functional.conv2d(x[None, None], w[None, None], None, stride=stride).data[0, 0]


def test_page_loads_without_console_errors(page):
    assert console_errors(page) == []
    assert page.title == "gridnn studio: convolution playground"
    # The lecture's case on arrival: 4x4 input, 2x2 kernel, stride 2.
    wait_for(page, lambda: counts(page) == ("64", "16", "4"))


def test_lecture_example(page):
    choose(page, "input-preset", "lecture")
    choose(page, "kernel-preset", "lecture")
    choose(page, "stride", "1")
    choose(page, "padding", "valid")
    out = output_when(page, (3, 3))
    assert grid(page, "input-cell", "value").ravel().tolist() == list(range(1, 17))
    assert grid(page, "kernel-cell", "value").tolist() == [[1, 0], [0, -1]]
    np.testing.assert_array_equal(out, expected(page, 1))
    assert (out == -5).all()

    choose(page, "stride", "2")
    out = output_when(page, (2, 2))
    np.testing.assert_array_equal(out, expected(page, 2))
    assert (out == -5).all()
    wait_for(page, lambda: counts(page) == ("64", "16", "4"))

    by_testid(page, "share-toggle").click()
    wait_for(page, lambda: counts(page) == ("64", "16", "16"))
    by_testid(page, "share-toggle").click()
    wait_for(page, lambda: counts(page) == ("64", "16", "4"))
    assert console_errors(page) == []


def test_stepping_outlines_the_window_and_writes_the_equation(page):
    choose(page, "stride", "2")
    output_when(page, (2, 2))
    by_testid(page, "step-next").click()
    equation = wait_for(page, lambda: by_testid(page, "equation").text)
    assert equation == "y1 = w1·x1 + w2·x2 + w3·x5 + w4·x6 + b"
    by_testid(page, "step-next").click()
    wait_for(page, lambda: by_testid(page, "equation").text.startswith("y2 ="))
    outlined = {c.find_element(By.CSS_SELECTOR, "input").get_attribute("data-testid")
                for c in page.find_elements(By.CSS_SELECTOR, "[data-part=input-grids] .cell.win")}
    assert outlined == {"input-cell-0-2", "input-cell-0-3", "input-cell-1-2", "input-cell-1-3"}
    current = page.find_elements(By.CSS_SELECTOR, "[data-part=output-grids] .cell.current")
    assert [c.get_attribute("data-testid") for c in current] == ["output-cell-0-1"]
    assert "pending" in by_testid(page, "output-cell-1-1").get_attribute("class")
    by_testid(page, "show-all").click()
    wait_for(page, lambda: not page.find_elements(By.CSS_SELECTOR, ".cell.pending"))
    assert console_errors(page) == []


def test_hovering_an_output_lights_its_window(page):
    choose(page, "stride", "2")
    output_when(page, (2, 2))
    ActionChains(page).move_to_element(by_testid(page, "output-cell-1-1")).perform()
    lit = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR,
                                                    "[data-part=input-grids] .cell.lit"))
    names = {c.find_element(By.CSS_SELECTOR, "input").get_attribute("data-testid") for c in lit}
    assert names == {"input-cell-2-2", "input-cell-2-3", "input-cell-3-2", "input-cell-3-3"}
    ActionChains(page).move_to_element(by_testid(page, "count-mlp")).perform()


def lit_testids(page, panel: str) -> set[str]:
    cells = page.find_elements(By.CSS_SELECTOR, f"[data-part={panel}] .cell.lit")
    return {(c.find_elements(By.CSS_SELECTOR, "input") or [c])[0].get_attribute("data-testid")
            for c in cells}


def test_matrix_rows_and_input_cells_link_both_ways(page):
    choose(page, "stride", "1")
    output_when(page, (3, 3))
    matrix = by_testid(page, "matrix")
    # Offsets count from the centre of the element's visible part: show all of it first.
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", matrix)
    width, height = matrix.size["width"], matrix.size["height"]
    gutter = 34  # playground_matrix.js: room for the axis labels
    cell = (width - 1 - gutter) / 16  # 16 inputs
    # Row y5 (output (1, 1)) reads x6, x7, x10, x11.
    x, y = gutter + 0.5 * cell - width / 2, gutter + 4.5 * cell - height / 2
    ActionChains(page).move_to_element_with_offset(matrix, int(x), int(y)).perform()
    wait_for(page, lambda: lit_testids(page, "input-grids"))
    assert lit_testids(page, "input-grids") == {"input-cell-1-1", "input-cell-1-2",
                                                "input-cell-2-1", "input-cell-2-2"}
    assert lit_testids(page, "output-grids") == {"output-cell-1-1"}
    # Back: the corner input x1 is read by output y1 only; x6 by y1, y2, y4, y5.
    ActionChains(page).move_to_element(by_testid(page, "input-cell-0-0")).perform()
    wait_for(page, lambda: lit_testids(page, "output-grids") == {"output-cell-0-0"})
    ActionChains(page).move_to_element(by_testid(page, "input-cell-1-1")).perform()
    wait_for(page, lambda: lit_testids(page, "output-grids") == {
        "output-cell-0-0", "output-cell-0-1", "output-cell-1-0", "output-cell-1-1"})
    ActionChains(page).move_to_element(by_testid(page, "count-mlp")).perform()
    assert console_errors(page) == []


def test_editing_a_cell_recomputes(page):
    choose(page, "stride", "1")
    output_when(page, (3, 3))
    cell = by_testid(page, "input-cell-0-0")
    cell.clear()
    cell.send_keys("10\t")
    wait_for(page, lambda: by_testid(page, "output-cell-0-0").get_attribute("data-value") == "4")
    np.testing.assert_array_equal(grid(page, "output-cell"), expected(page, 1))
    assert by_testid(page, "input-preset").get_attribute("value") == "custom"
    assert console_errors(page) == []


def test_one_dimensional_input(page):
    choose(page, "input-preset", "sine")
    choose(page, "kernel-preset", "difference_1d")
    choose(page, "stride", "1")
    choose(page, "padding", "valid")
    x = wait_for(page, lambda: grid(page, "input-cell", "value")
                 if len(page.find_elements(By.CSS_SELECTOR, '[data-testid^="input-cell-"]')) > 16
                 else None)
    w = grid(page, "kernel-cell", "value")
    assert x.shape[0] == 1 and w.tolist() == [[1, -1]]
    ref = gn.functional.conv1d(x[None], w[None], None).data[0]
    out = output_when(page, ref.shape)
    np.testing.assert_allclose(out, ref, atol=5e-4)  # the page prints 3 decimals
    assert console_errors(page) == []


MOUNT_TWO = """
const done = arguments[arguments.length - 1];
const {mountPlayground} = await import("/playground.js");
const {api} = await import("/common.js");
const calls = [];
const counted = (path, body) => { calls.push(path); return api(path, body); };
const a = document.createElement("div"), b = document.createElement("div");
document.body.append(a, b);
await Promise.all([
  mountPlayground(a, counted, {input: [[[1, 2, 3], [4, 5, 6], [7, 8, 9]]],
                               kernels: [[[[1, 1], [1, 1]]]], bias: [10], stride: 1,
                               padding: "valid", dilation: 1}),
  mountPlayground(b, api)]);
const read = (root, id) => root.querySelector(`[data-testid="${id}"]`);
done({a: [read(a, "count-mlp").textContent, read(a, "output-cell-0-0").dataset.value],
      b: [read(b, "count-mlp").textContent, read(b, "output-cell-0-0").dataset.value],
      calls, ids: document.querySelectorAll("[id]").length});
"""


def test_two_playgrounds_mount_side_by_side_through_the_api_passed(page, tmp_path):
    """mountPlayground(root, api, initial) builds the page inside `root` only, talks through
    the `api` it is given and starts from `initial` (the lecture's case without it)."""
    page.get(page.current_url.split("#")[0])
    wait_for(page, lambda: page.execute_script("return document.body.dataset.ready"))
    ids_before = page.execute_script("return document.querySelectorAll('[id]').length")
    got = page.execute_async_script(f"(async () => {{ {MOUNT_TWO} }})()")
    x = np.arange(1, 10, dtype=float).reshape(3, 3)
    y00 = gn.functional.conv2d(x[None, None], np.ones((1, 1, 2, 2)), np.array([10.0])).data
    assert got["a"] == ["36", str(int(y00[0, 0, 0, 0]))]  # 9 inputs x 4 outputs; 1+2+4+5+10
    assert got["b"][0] == "64"                             # the lecture's case
    assert "/api/playground/presets" in got["calls"] and "/api/playground/conv" in got["calls"]
    assert got["ids"] == ids_before                        # no new document-wide ids
    assert console_errors(page) == []
