"""The model page in headless Chromium: it loads with no console errors, a stroke drawn on the
canvas changes the prediction, and a click on a feature-map pixel outlines the receptive field
that ``gridnn.explain.receptive_field`` computes (2-D run and 1-D zoo model)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("selenium")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from gridnn import data, models  # noqa: E402
from gridnn.explain import receptive_field, runs  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from studio_server import by_testid, chrome, console_errors, start_server, wait_for  # noqa: E402,E501
from test_studio_models import trained_digits_run  # noqa: E402


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    run_dir = trained_digits_run(tmp_path_factory)
    reg = Registry.from_sources([str(run_dir), "mnist1d_cnn"], runs_dir=None)
    base, stop = start_server(reg)
    driver = chrome(str(tmp_path_factory.mktemp("chromium")))
    driver.ids = {e["name"]: e["id"] for e in reg.entries()}
    driver.base, driver.run_dir = base, run_dir
    try:
        yield driver
    finally:
        driver.quit()
        stop()


def _open(driver, name: str) -> str:
    driver.get(f"{driver.base}/model.html?id={driver.ids[name]}")
    wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
    wait_for(driver, lambda: by_testid(driver, "prediction-top1").text not in ("", "-"))
    wait_for(driver, lambda: driver.find_elements(By.CSS_SELECTOR,
                                                  '[data-testid="feature-map-0-0"]'))
    return by_testid(driver, "prediction-top1").text


def _click_map_pixel(driver, layer: int, channel: int, pixel: tuple[int, ...],
                     map_shape: tuple[int, ...]) -> None:
    """Click the centre of map pixel ``pixel`` of a (H, W) map or an (L,) strip."""
    canvas = by_testid(driver, f"feature-map-{layer}-{channel}")
    w, h = canvas.size["width"], canvas.size["height"]
    if len(map_shape) == 2:
        x = (pixel[1] + 0.5) * w / map_shape[1]
        y = (pixel[0] + 0.5) * h / map_shape[0]
    else:
        x, y = (pixel[0] + 0.5) * w / map_shape[0], h / 2
    # offsets from the element's centre (Selenium 4)
    ActionChains(driver).move_to_element_with_offset(canvas, int(x - w / 2),
                                                     int(y - h / 2)).click().perform()


def test_page_loads_without_console_errors(page):
    _open(page, "digits-run")
    layers = page.find_elements(By.CSS_SELECTOR, '[data-testid^="layer-"]')
    run = runs.load(page.run_dir)
    assert len(layers) == len(list(run.model.children()))
    assert page.find_elements(By.CSS_SELECTOR, '[data-testid="feature-map-3-63"]')
    assert page.find_elements(By.CSS_SELECTOR, "table.confusion")
    assert page.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert page.find_elements(By.CSS_SELECTOR, 'canvas[data-testid="filters-0"]')
    assert console_errors(page) == []


def test_a_stroke_changes_the_prediction(page):
    _open(page, "digits-run")
    by_testid(page, "clear").click()
    before = wait_for(page, lambda: by_testid(page, "sample-label").text == "" and
                      by_testid(page, "prediction-top1").text)
    blank = by_testid(page, "prediction").text
    canvas = by_testid(page, "draw-canvas")
    h = canvas.size["height"]
    chain = ActionChains(page).move_to_element_with_offset(canvas, 0, int(-h * 0.35))
    chain.click_and_hold()
    for _ in range(7):  # a vertical stroke down the middle: a "1"
        chain.move_by_offset(0, int(h * 0.1))
    chain.release().perform()
    wait_for(page, lambda: by_testid(page, "prediction").text != blank)
    assert by_testid(page, "prediction-top1").text != "" and before
    assert console_errors(page) == []


def test_an_uploaded_image_is_predicted(page, tmp_path):
    from PIL import Image

    _open(page, "digits-run")
    pixels = np.zeros((24, 24), np.uint8)
    pixels[3:21, 10:14] = 255
    path = tmp_path / "bar.png"
    Image.fromarray(pixels).save(path)
    before = by_testid(page, "prediction").text
    by_testid(page, "upload").send_keys(str(path))
    wait_for(page, lambda: by_testid(page, "prediction").text != before)
    assert by_testid(page, "sample-label").text == ""
    run = runs.load(page.run_dir)
    x = data.load_image(path, channels=1, size=(8, 8))  # what 'gridnn predict --resize' reads
    logits = run.logits(x[None])[0]
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    top = int(np.argmax(p))
    expected = f"{run.class_names[top]} ({100 * p[top]:.1f}%)"
    assert by_testid(page, "prediction-top1").text == expected
    assert console_errors(page) == []


@pytest.mark.parametrize("layer,pixel", [(3, (4, 4)), (0, (0, 0)), (6, (1, 2))])
def test_clicking_a_map_pixel_outlines_its_receptive_field(page, layer, pixel):
    _open(page, "digits-run")
    run = runs.load(page.run_dir)
    out_shape = receptive_field(run.model, run.input_shape).layers[layer].output_shape
    _click_map_pixel(page, layer, 1, pixel, out_shape)
    box = wait_for(page, lambda: (b := by_testid(page, "rf-box")).is_displayed() and b)
    want = receptive_field(run.model, run.input_shape, pixel, layer=str(layer))
    seen = np.argwhere(want.mask)
    rows, cols = seen.max(axis=0) - seen.min(axis=0) + 1
    assert box.get_attribute("data-size") == f"{rows}x{cols}"
    canvas = by_testid(page, "draw-canvas")
    cell = canvas.size["width"] / run.input_shape[2]
    assert abs(box.size["width"] - cols * cell) <= 1 and abs(box.size["height"] - rows * cell) <= 1
    assert "kernel" in by_testid(page, "details").text
    assert console_errors(page) == []


def test_1d_model_spans_and_strips(page):
    _open(page, "mnist1d_cnn")
    model = models.build("mnist1d_cnn", seed=0)
    assert by_testid(page, "feature-map-0-0").size["height"] < 20  # a heat strip, not a square
    _click_map_pixel(page, 6, 0, (2,), (5,))
    box = wait_for(page, lambda: (b := by_testid(page, "rf-box")).is_displayed() and b)
    want = receptive_field(model, (1, 40), (2,), layer="6")
    seen = np.flatnonzero(want.mask)
    assert box.get_attribute("data-size") == str(seen.max() - seen.min() + 1)
    assert console_errors(page) == []


def test_mount_model_builds_the_page_inside_any_element(page):
    """mountModel(root, api, modelId) draws a second model page inside a plain <div>, with
    its own prediction, beside the page's own; it adds no document-wide ids."""
    _open(page, "digits-run")
    ids_before = page.execute_script("return document.querySelectorAll('[id]').length")
    got = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const {mountModel} = await import("/model.js");
          const {api} = await import("/common.js");
          const root = document.createElement("div");
          document.body.append(root);
          await mountModel(root, api, arguments[0]);
          done([root.querySelector('[data-testid="prediction-top1"]').textContent,
                document.querySelectorAll('[data-testid="prediction-top1"]').length,
                document.querySelectorAll("[id]").length]);
        })();""", page.ids["mnist1d_cnn"])
    assert got[0] not in ("", "-") and got[1] == 2 and got[2] == ids_before
    assert console_errors(page) == []


def test_first_sample_is_marked_and_the_class_scores_are_named(page):
    _open(page, "digits-run")
    run = runs.load(page.run_dir)
    logits = run.logits(run.x_test[:1])[0]
    right = int(np.argmax(logits)) == int(run.y_test[0])
    assert by_testid(page, "verdict").text == ("✓ right" if right else "✗ wrong")
    assert by_testid(page, "sample-label").text.startswith(
        f"true class: {run.class_names[run.y_test[0]]} (test sample 1 of")
    last = len(list(run.model.children())) - 1  # the final Linear: one cell per class
    names = by_testid(page, f"class-names-{last}").text.split()
    assert names == list(run.class_names)
    plots = " ".join(p.text for p in page.find_elements(By.CSS_SELECTOR, "svg.plot"))
    assert "test_loss" in plots and "test_accuracy" in plots  # history.csv has test columns
    assert console_errors(page) == []


def test_an_upload_says_what_was_done_to_it(page, tmp_path):
    from PIL import Image

    _open(page, "digits-run")
    pixels = np.full((24, 24), 255, np.uint8)
    pixels[3:21, 10:14] = 0  # a dark "1" on white paper: the digits are light on dark
    path = tmp_path / "paper.png"
    Image.fromarray(pixels).save(path)
    by_testid(page, "upload").send_keys(str(path))
    note = wait_for(page, lambda: by_testid(page, "upload-note").text)
    assert "resized from 24x24 to 8x8" in note and "inverted, as its background is light" in note
    assert by_testid(page, "verdict").text == ""  # no true class to compare with


def _touch_stroke(driver, canvas) -> None:
    """A finger drawn down the canvas: real touch events through the DevTools protocol."""
    box = driver.execute_script("const r = arguments[0].getBoundingClientRect();"
                                "return [r.left, r.top, r.width, r.height]", canvas)
    x = box[0] + box[2] * 0.3
    points = [(x, box[1] + box[3] * t) for t in np.linspace(0.15, 0.85, 8)]
    send = driver.execute_cdp_cmd
    send("Input.dispatchTouchEvent", {"type": "touchStart",
                                      "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
    for px, py in points[1:]:
        send("Input.dispatchTouchEvent", {"type": "touchMove",
                                          "touchPoints": [{"x": px, "y": py}]})
    send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_a_touch_stroke_draws_and_predicts(page):
    _open(page, "digits-run")
    by_testid(page, "clear").click()
    wait_for(page, lambda: by_testid(page, "sample-label").text == "")
    canvas = by_testid(page, "draw-canvas")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    pixels = "return arguments[0].toDataURL()"
    blank, before = page.execute_script(pixels, canvas), by_testid(page, "prediction").text
    _touch_stroke(page, canvas)
    wait_for(page, lambda: page.execute_script(pixels, canvas) != blank)
    wait_for(page, lambda: by_testid(page, "prediction").text != before)
    assert console_errors(page) == []


def test_the_input_stays_in_view_when_a_deep_unit_is_selected(page):
    _open(page, "digits-run")
    run = runs.load(page.run_dir)
    out_shape = receptive_field(run.model, run.input_shape).layers[6].output_shape
    canvas = by_testid(page, "feature-map-6-40")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    _click_map_pixel(page, 6, 40, (1, 1), out_shape)
    wait_for(page, lambda: "kernel" in by_testid(page, "details").text)
    for testid in ("draw-canvas", "rf-box"):
        top, bottom = page.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return [r.top, r.bottom]",
            by_testid(page, testid))
        assert 0 <= top and bottom <= page.execute_script("return innerHeight"), testid


def test_at_phone_width_the_model_page_is_no_wider_than_the_window(page):
    page.set_window_size(420, 900)
    try:
        for name in ("digits-run", "mnist1d_cnn"):
            _open(page, name)
            width = page.execute_script("return [document.documentElement.scrollWidth, "
                                        "innerWidth]")
            assert width[0] <= width[1], name
    finally:
        page.set_window_size(1400, 1000)
