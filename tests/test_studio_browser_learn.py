"""The learn page in headless Debian Chromium (Selenium) against a real uvicorn server: it loads
without console errors; play on digits with the default stack reaches 95% test accuracy within
60 s, and the page shows the API's figure; pause stops the step counter, one step moves it by
one, a kernel image changes between two steps; the backprop panel's terms add up to the shown
gradient, which equals the gradient autograd gives when the same step is replayed here; the
conv / local / mlp switch shows gn.summary's parameter counts."""

from __future__ import annotations

import json
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("selenium")

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

import gridnn as gn  # noqa: E402
from gridnn import models, recipes, train  # noqa: E402
from gridnn.checkpoint import build_model  # noqa: E402
from gridnn.data import load_dataset  # noqa: E402
from gridnn.studio import learn_settings as ls  # noqa: E402
from gridnn.studio.registry import Registry  # noqa: E402
from studio_server import by_testid, chrome, console_errors, start_server, wait_for  # noqa: E402,E501


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    base, stop = start_server(Registry([]))
    driver = chrome(tmp_path_factory.mktemp("chromium-profile"))
    try:
        driver.get(base + "/learn.html")
        wait_for(driver, lambda: driver.execute_script("return document.body.dataset.ready"))
        driver.base = base
        yield driver
    finally:
        driver.quit()
        stop()


def state(driver) -> dict:
    with urllib.request.urlopen(driver.base + "/api/learn/state", timeout=10) as r:
        return json.load(r)


def status(driver) -> str:
    return by_testid(driver, "learn-status").get_attribute("data-status") or ""


def steps(driver) -> int:
    return int(by_testid(driver, "learn-steps").text)


def set_value(driver, testid: str, value: str) -> None:
    box = by_testid(driver, testid)
    box.clear()
    box.send_keys(value)
    driver.execute_script("arguments[0].dispatchEvent(new Event('change'))", box)


def choose(driver, testid: str, value: str) -> None:
    Select(by_testid(driver, testid)).select_by_value(value)


def params_shown(driver, expected: int) -> int:
    wait_for(driver, lambda: by_testid(driver, "learn-params").get_attribute("data-value") ==
             str(expected))
    return int(by_testid(driver, "learn-params").get_attribute("data-value"))


def test_page_loads_and_the_switch_shows_gn_summary_counts(page):
    assert console_errors(page) == []
    assert page.find_element(By.CSS_SELECTOR, '[data-testid="nav-learn"]').get_attribute(
        "class") == "active"
    for arch in ("local", "mlp", "conv"):
        choose(page, "learn-arch", arch)
        model = models.build("stack", connect=arch, seed=0)
        assert params_shown(page, gn.summary(model, (1, 8, 8)).total_params) == \
            sum(p.size for p in model.parameters())
    assert console_errors(page) == []


def test_play_on_digits_reaches_95_percent_within_60_seconds(page):
    choose(page, "learn-data", "digits")
    start = time.monotonic()
    by_testid(page, "learn-play").click()

    def good():
        shown = by_testid(page, "learn-test-acc").get_attribute("data-value")
        return shown and float(shown) >= 0.95 and shown

    shown = wait_for(page, good, timeout=60)
    elapsed = time.monotonic() - start
    by_testid(page, "learn-pause").click()
    wait_for(page, lambda: status(page) in ("paused", "finished"), timeout=30)
    api = state(page)
    assert elapsed < 60
    assert float(by_testid(page, "learn-test-acc").get_attribute("data-value")) == \
        api["last"]["test_accuracy"] >= 0.95
    assert by_testid(page, "learn-test-acc").text == f"{100 * api['last']['test_accuracy']:.2f}%"
    assert float(shown) >= 0.95 and console_errors(page) == []


def test_pause_step_and_a_kernel_that_changes(page):
    choose(page, "learn-schedule", "none")
    set_value(page, "learn-lr", "0.01")
    set_value(page, "learn-epochs", "50")
    by_testid(page, "learn-play").click()
    wait_for(page, lambda: steps(page) > 5)
    by_testid(page, "learn-pause").click()
    wait_for(page, lambda: status(page) == "paused")
    paused = steps(page)
    time.sleep(1.0)
    assert steps(page) == paused == state(page)["steps"]  # pause stops the counter
    kernel = by_testid(page, "learn-kernel-0-0")
    before = page.execute_script("return arguments[0].toDataURL()", kernel)
    by_testid(page, "learn-step").click()
    wait_for(page, lambda: steps(page) == paused + 1 and status(page) == "paused")
    time.sleep(0.5)
    assert steps(page) == paused + 1  # one step is one batch
    after = page.execute_script("return arguments[0].toDataURL()",
                                by_testid(page, "learn-kernel-0-0"))
    assert after != before
    assert console_errors(page) == []


def replayed_gradient(body: dict, step: int) -> np.ndarray:
    """The first conv layer's weight gradient at ``step``, from gridnn's train.fit replayed in
    this process with the page's settings (the fast conv's autograd, not the panel's path)."""
    settings = ls.read_settings(body)
    bundle = load_dataset(settings.data, seed=settings.seed)
    config = ls.make_config(settings, bundle)
    model = build_model(config, ls.__file__)
    loader, _ = recipes.make_loaders(bundle, config)
    optimizer, scheduler, interval = recipes.make_optimizer(config, model, len(loader))
    grabbed = {}

    class Grab(train.Callback):
        def on_after_backward(self, state):
            grabbed["n"] = grabbed.get("n", 0) + 1
            if grabbed["n"] == step:
                grabbed["grad"] = model[0].weight.grad.copy()
                raise StopIteration

    with pytest.raises(StopIteration):
        train.fit(model, loader, None, epochs=config["train"]["epochs"], optimizer=optimizer,
                  scheduler=scheduler, scheduler_interval=interval, callbacks=[Grab()],
                  progress=False)
    return grabbed["grad"]


def test_backprop_panel_adds_up_to_the_autograd_gradient(page):
    last = steps(page)  # the panel explains the last step taken
    for name, value in (("bp-k", "2"), ("bp-c", "0"), ("bp-i", "1"), ("bp-j", "0")):
        set_value(page, f"learn-{name}", value)
    page.find_element(By.CSS_SELECTOR, '[data-part="explain"]').click()
    total = wait_for(page, lambda: page.find_elements(By.CSS_SELECTOR,
                                                      '[data-testid="learn-grad-total"]'))[0]
    terms = page.find_elements(By.CSS_SELECTOR, '[data-testid="learn-grad-term"]')
    products = [float(t.get_attribute("data-product")) for t in terms]
    shown = float(total.get_attribute("data-value"))
    assert len(products) > 100 and sum(products) == pytest.approx(shown, rel=1e-9)
    body = {"data": "digits", "train_size": None, "optimizer": "adamw", "schedule": "none",
            "lr": 0.01, "batch_size": 32, "weight_decay": 1e-4, "seed": 0, "epochs": 50,
            "model": "stack", "connect": "conv"}
    grad = replayed_gradient(body, last)
    assert shown == pytest.approx(float(grad[2, 0, 1, 0]), rel=1e-4, abs=1e-8)
    assert console_errors(page) == []
