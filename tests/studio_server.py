"""Helpers for the studio's server and browser tests: a real uvicorn on 127.0.0.1 (a free port,
in a background thread) and headless Debian Chromium driven by Selenium.

    base_url, stop = start_server(registry)
    driver = chrome(tmp_path)          # skips when chromium/chromedriver are missing
    ...
    assert console_errors(driver) == []
    driver.quit(); stop()
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from browser import chrome  # noqa: F401 - part of this helper module


def start_server(registry) -> tuple[str, Callable[[], None]]:
    """Serve ``create_app(registry)`` with uvicorn on 127.0.0.1 and a free port in a background
    thread. Returns the base URL (``http://127.0.0.1:PORT``) and a function that stops it."""
    pytest.importorskip("uvicorn")
    from gridnn.studio.server import serve_in_background

    return serve_in_background(registry)


def console_errors(driver) -> list[str]:
    """The SEVERE entries of the browser console since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def save_page(driver, out) -> None:
    """Write the page as a PNG to ``out`` (the README's screenshots) after the last paint;
    a console error stops it instead: a picture of a broken page is no picture."""
    time.sleep(0.3)
    driver.save_screenshot(str(out))
    errors = console_errors(driver)
    if errors:
        raise SystemExit(f"console errors: {errors}")
    print(f"wrote {out}")


def _truthy(value: object) -> bool:
    if value is None or value is False:
        return False
    return len(value) > 0 if hasattr(value, "__len__") else bool(value)


def by_testid(driver, testid: str):
    """The page element with ``data-testid=testid`` (the studio's stable test hooks)."""
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]')


def wait_for(driver, condition: Callable[[], object], timeout: float = 10.0):
    """Poll ``condition()`` until it returns something truthy (a non-empty array counts); fail
    with the console log if it does not in time. An element replaced while it was being read
    (the page redraws) just means: poll again."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if _truthy(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting; console: {driver.get_log('browser')}")
