"""The playground as a lesson (issue 20), in headless Chromium against a real server: it opens
on the lecture's case, says what every count counts, shows each channel's sum then the bias,
never leaves an answer beside settings the server refused, refuses what is not a number, edits
each position's weights with sharing off, and fits a phone. Expected numbers come from
gridnn.functional on values read back from the page's own cells."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402

import gridnn as gn  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from studio_server import by_testid, chrome, console_errors, start_server, wait_for  # noqa: E402,E501
from test_studio_browser_playground import choose, counts, grid, output_when  # noqa: E402


@pytest.fixture(scope="module")
def server():
    base, stop = start_server(Registry([]))
    yield base
    stop()


@pytest.fixture
def page(server, tmp_path):
    """A fresh page on the playground for each test (each one starts where a student does)."""
    driver = chrome(str(tmp_path / "chromium"))
    try:
        driver.get(server + "/")
        wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
        yield driver
    finally:
        driver.quit()


def errors_but_refusals(driver) -> list[str]:
    """Console errors other than the 400 answers a refused setting is meant to get."""
    return [e for e in console_errors(driver) if "status of 400" not in e]


def shown_outputs(driver) -> list[str]:
    """The text of every output cell (empty when no answer is shown)."""
    return [c.text for c in driver.find_elements(By.CSS_SELECTOR, "[data-part=output-grids] .val")]


def refused(driver) -> str:
    """Wait until a refusal is shown with nothing computed left on the page; its message."""
    def clear():
        box = by_testid(driver, "playground-error")
        return (box.is_displayed() and not any(shown_outputs(driver)) and counts(driver)
                == ("", "", "") and not by_testid(driver, "equation").is_displayed()
                and box.text)
    return wait_for(driver, clear)


def test_opens_on_the_lecture_case_and_says_what_each_count_counts(page):
    wait_for(page, lambda: counts(page) == ("64", "16", "4"))
    out = output_when(page, (2, 2))
    x, w = grid(page, "input-cell", "value"), grid(page, "kernel-cell", "value")
    assert x.ravel().tolist() == list(range(1, 17))
    np.testing.assert_array_equal(
        out, gn.functional.conv2d(x[None, None], w[None, None], stride=2).data[0, 0])
    assert len(set(out.ravel())) == 4  # y1..y4 can be told apart
    said = [by_testid(page, f"say-{n}").text for n in ("mlp", "sparse", "params")]
    assert said == ["a dense layer from 16 inputs to 4 outputs: 16 x 4 = 64 weights",
                    "each output reads a 2x2 window: 4 x 4 = 16 connections",
                    "one 2x2 kernel shared by every window: 4 parameters"]
    assert "1 bias" in by_testid(page, "say-bias").text
    formula = by_testid(page, "output-formula").text.splitlines()
    assert formula[1:] == ["rows: ⌊(4 + 0 + 0 − 1·(2 − 1) − 1) / 2⌋ + 1 = 2",
                           "cols: ⌊(4 + 0 + 0 − 1·(2 − 1) − 1) / 2⌋ + 1 = 2"]
    # Cells are labelled as the dense matrix labels them, and the labels can be switched off.
    x6 = by_testid(page, "input-cell-1-1").find_element(By.XPATH, "..")
    assert x6.find_element(By.CSS_SELECTOR, ".idx").text == "x6"
    y4 = by_testid(page, "output-cell-1-1").find_element(By.CSS_SELECTOR, ".idx")
    assert y4.text == "y4"
    by_testid(page, "index-toggle").click()
    wait_for(page, lambda: not y4.is_displayed())
    # The lecture's kernel is one click away: every output -5.
    choose(page, "kernel-preset", "lecture")
    wait_for(page, lambda: (output_when(page, (2, 2)) == -5).all())
    assert console_errors(page) == []


def test_the_equation_adds_the_bias_as_its_own_step(page):
    choose(page, "kernel-preset", "lecture_bias")
    wait_for(page, lambda: by_testid(page, "bias").get_attribute("value") == "10")
    by_testid(page, "step-next").click()
    numbers = wait_for(page, lambda: by_testid(page, "equation-numbers").text)
    assert numbers == "sum = 1·1 + 0·2 + 0·5 + (-1)·6 = -5, + b = -5 + 10 = 5"
    assert by_testid(page, "output-cell-0-0").get_attribute("data-value") == "5"


def test_rgb_channels_differ_and_each_slice_has_its_own_sum(page):
    choose(page, "input-preset", "rgb")
    wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR, '[data-testid^="input-c2-"]'))
    x = np.stack([grid(page, "input-cell", "value")]
                 + [grid(page, f"input-c{c}-cell", "value") for c in (1, 2)])
    w = np.stack([grid(page, "kernel-cell", "value")]
                 + [grid(page, f"kernel-0-c{c}-cell", "value") for c in (1, 2)])
    assert not np.array_equal(x[0], x[1]) and not np.array_equal(x[1], x[2])
    bias = float(by_testid(page, "bias").get_attribute("value"))
    by_testid(page, "step-next").click()
    sums = wait_for(page, lambda: by_testid(page, "channel-sums").text.splitlines())
    window = x[:, :2, :2]  # y1's window, stride 2
    parts = [float((window[c] * w[c]).sum()) for c in range(3)]
    assert [line.split(" = ")[-1] for line in sums] == [f"{p:g}" for p in parts]
    assert [line.split(":")[0] for line in sums] == ["channel 1", "channel 2", "channel 3"]
    y = gn.functional.conv2d(x[None], w[None], np.array([bias]), stride=2).data[0, 0, 0, 0]
    total = sum(parts)
    assert by_testid(page, "equation-numbers").text == (
        f"sum = {' + '.join(f'({p:g})' if p < 0 else f'{p:g}' for p in parts)} = {total:g}, "
        f"+ b = {total:g} + {bias:g} = {y:g}")
    assert "on each of 3 channels" in by_testid(page, "say-sparse").text
    assert console_errors(page) == []


def test_twelve_kernels_each_a_different_named_preset(page):
    choose(page, "kernel-count", "12")
    wait_for(page, lambda: len(page.find_elements(
        By.CSS_SELECTOR, "[data-part=output-grids] figure")) == 12)
    kernels = [grid(page, "kernel-cell", "value")] + [
        grid(page, f"kernel-{k}-c0-cell", "value") for k in range(1, 12)]
    assert len({k.tobytes() for k in kernels}) == 12
    assert by_testid(page, "count-params").text == "48"  # 12 x 2x2


def test_same_padding_says_where_the_padding_goes_and_how_many_taps_read_it(page):
    choose(page, "stride", "1")
    choose(page, "padding", "same")
    note = wait_for(page, lambda: by_testid(page, "padding-note").text)
    assert "0 rows above and 1 below; 0 columns left and 1 right" in note
    assert "the extra one goes below and right" in note
    assert "15 of the 64 taps fall on padding" in note
    wait_for(page, lambda: counts(page) == ("256", "49", "4"))  # 64 taps - 15 on padding


def test_a_refused_setting_leaves_no_answer_and_says_why(page):
    output_when(page, (2, 2))
    by_testid(page, "step-next").click()
    wait_for(page, lambda: by_testid(page, "equation").is_displayed())
    choose(page, "dilation", "4")
    assert refused(page) == ("the kernel (2x2, spread by dilation 4 over 5x5) is larger than "
                             "the input (4x4); make it at most 1x1, lower the dilation or add "
                             "padding")
    assert not page.find_elements(By.CSS_SELECTOR, "[data-part=input-grids] .cell.win")
    choose(page, "dilation", "1")  # any valid value brings the page back
    wait_for(page, lambda: counts(page) == ("64", "16", "4"))
    assert not by_testid(page, "playground-error").is_displayed()
    assert errors_but_refusals(page) == []


def test_rows_out_of_range_are_refused_and_any_valid_value_recovers(page):
    rows = by_testid(page, "input-rows")
    rows.clear()
    rows.send_keys("100\t")
    assert "at most 32x32" in refused(page)
    rows.clear()
    rows.send_keys("5\t")
    out = output_when(page, (2, 2))
    wait_for(page, lambda: counts(page) == ("80", "16", "4"))  # 20 inputs x 4 outputs
    assert not by_testid(page, "playground-error").is_displayed() and out.size == 4
    assert errors_but_refusals(page) == []


@pytest.mark.parametrize("typed,padding", [("1,000", "valid"), ("", "valid"), ("2..5", "same")])
def test_a_cell_that_is_not_a_number_is_marked_until_fixed(page, typed, padding):
    choose(page, "padding", padding)  # 'same' pads this input: the mark must survive that too
    output_when(page, (2, 2))
    cell = by_testid(page, "input-cell-0-0")
    cell.send_keys("\ue009a")  # select all (Ctrl+A), then replace
    cell.send_keys("\ue003" + typed + "\t")
    message = refused(page)
    assert "x1:" in message and "is not a number" in message
    assert "bad" in cell.get_attribute("class")
    cell.clear()
    cell.send_keys("1000\t")
    wait_for(page, lambda: by_testid(page, "output-cell-0-0").get_attribute("data-value")
             == str(1000 * 1 + 2 * 2 + 3 * 5 + 4 * 6))
    assert "bad" not in cell.get_attribute("class")
    assert console_errors(page) == []


def test_stepping_restarts_at_y1_after_a_change(page):
    output_when(page, (2, 2))
    for _ in range(3):
        by_testid(page, "step-next").click()
    wait_for(page, lambda: by_testid(page, "position").text.startswith("output y3"))
    choose(page, "kernel-height", "1")
    wait_for(page, lambda: by_testid(page, "position").text.startswith("output y1 "))
    by_testid(page, "step-next").click()
    wait_for(page, lambda: by_testid(page, "position").text.startswith("output y2 "))
    choose(page, "input-preset", "step")
    wait_for(page, lambda: by_testid(page, "position").text.startswith("output y1 "))


def test_cells_round_as_the_equation_does(page):
    output_when(page, (2, 2))
    cell = by_testid(page, "input-cell-0-0")
    cell.clear()
    cell.send_keys("0.12345\t")
    by_testid(page, "step-next").click()
    numbers = wait_for(page, lambda: by_testid(page, "equation-numbers").text)
    assert numbers.startswith("sum = 1·0.123 + 2·2 ")
    assert cell.get_attribute("value") == "0.123"
    y = 0.12345 + 2 * 2 + 3 * 5 + 4 * 6
    shown = by_testid(page, "output-cell-0-0").find_element(By.CSS_SELECTOR, ".val").text
    assert shown == f"{y:.3f}"


def test_without_sharing_each_position_has_its_own_weights(page):
    output_when(page, (2, 2))
    by_testid(page, "share-toggle").click()
    wait_for(page, lambda: counts(page) == ("64", "16", "16"))
    by_testid(page, "step-next").click()
    by_testid(page, "step-next").click()  # y2: the kernel panel edits y2's weights
    wait_for(page, lambda: "y2" in by_testid(page, "kernel-where").text)
    before = output_when(page, (2, 2))
    cell = by_testid(page, "kernel-cell-0-0")
    cell.clear()
    cell.send_keys("9\t")
    after = wait_for(page, lambda: (o := output_when(page, (2, 2)))[0, 1] != before[0, 1] and o)
    x = grid(page, "input-cell", "value")
    assert after[0, 1] == 9 * x[0, 2] + 2 * x[0, 3] + 3 * x[1, 2] + 4 * x[1, 3]
    np.testing.assert_array_equal(np.delete(after.ravel(), 1), np.delete(before.ravel(), 1))
    wait_for(page, lambda: "w5 = 9" in page.find_element(
        By.CSS_SELECTOR, "[data-part=legend]").text)  # y2's first weight only
    assert console_errors(page) == []


def _matrix_pixel(page, row: int, col: int) -> list[int]:
    """RGBA at the centre of matrix cell (row, col), read from the canvas itself."""
    return page.execute_script("""
        const c = document.querySelector('[data-testid="matrix"]');
        const ratio = c.width / c.clientWidth, gutter = 34;
        const cell = (c.clientWidth - 1 - gutter) / arguments[2];
        const x = (gutter + (arguments[1] + 0.5) * cell) * ratio;
        const y = (gutter + (arguments[0] + 0.5) * cell) * ratio;
        return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data);""", row, col, 16)


def test_the_matrix_marks_the_row_in_a_colour_no_weight_uses_and_a_tap_picks_a_row(page):
    output_when(page, (2, 2))
    by_testid(page, "step-next").click()
    wait_for(page, lambda: by_testid(page, "equation").is_displayed())
    r, g, b, _ = _matrix_pixel(page, 0, 8)  # y1 does not read x9: an empty cell of its row
    assert r == g == b and r < 240  # a grey: weights are all saturated colours
    weight = _matrix_pixel(page, 0, 0)  # w1
    assert len(set(weight[:3])) > 1
    # A tap (a click) on row y4 lights its window on the input, as hovering does.
    matrix = by_testid(page, "matrix")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", matrix)
    page.execute_script("""
        const c = arguments[0], box = c.getBoundingClientRect();
        const cell = (c.clientWidth - 1 - 34) / 16;
        c.dispatchEvent(new MouseEvent('click', {bubbles: true,
          clientX: box.left + 34 + 10.5 * cell, clientY: box.top + 34 + 3.5 * cell}));""",
                        matrix)
    lit = wait_for(page, lambda: page.find_elements(
        By.CSS_SELECTOR, "[data-part=input-grids] .cell.lit input"))
    assert {c.get_attribute("data-testid") for c in lit} == {
        "input-cell-2-2", "input-cell-2-3", "input-cell-3-2", "input-cell-3-3"}


def test_one_dimensional_outputs_sit_under_their_windows(page):
    choose(page, "input-preset", "sine")
    choose(page, "kernel-preset", "edge_1d")
    choose(page, "stride", "2")
    wait_for(page, lambda: by_testid(page, "output-cell-0-14").get_attribute("data-value"))
    for j in range(15):  # output j's window is inputs 2j..2j+2, centred on input 2j+1
        out = by_testid(page, f"output-cell-0-{j}").rect
        mid = by_testid(page, f"input-cell-0-{2 * j + 1}").rect
        assert abs((out["x"] + out["width"] / 2) - (mid["x"] + mid["width"] / 2)) <= 1
        if j:
            left = by_testid(page, f"output-cell-0-{j - 1}").rect
            assert left["x"] + left["width"] <= out["x"]  # never run together


@pytest.mark.parametrize("preset", ["lecture", "rgb", "sine"])
def test_at_phone_width_the_page_is_no_wider_than_the_window(page, preset):
    page.set_window_size(420, 900)
    choose(page, "input-preset", preset)
    choose(page, "stride", "1")
    by_testid(page, "step-next").click()
    wait_for(page, lambda: by_testid(page, "equation").is_displayed())
    width = page.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1]
    wrap = page.find_element(By.CSS_SELECTOR, "[data-part=matrix-wrap]")
    if preset == "rgb":  # 48 inputs: the matrix scrolls inside its box
        assert page.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth",
                                   wrap)
    assert console_errors(page) == []


def test_kernel_sides_that_cannot_fit_are_not_offered(page):
    def offered():
        select = by_testid(page, "kernel-height")
        return [o.get_attribute("value") for o in select.find_elements(By.TAG_NAME, "option")
                if o.is_enabled()]
    wait_for(page, lambda: offered() == ["1", "2", "3", "4"])  # a 4x4 input, no padding
    choose(page, "padding", "1")
    wait_for(page, lambda: offered() == ["1", "2", "3", "4", "5", "6"])
    choose(page, "padding", "same")
    wait_for(page, lambda: len(offered()) == 7)
