"""A real headless Chromium for the web UI's tests.

Debian's `chromium` driven by Selenium through Debian's `chromedriver` (given
by path, so Selenium downloads nothing). Where either is missing or the browser
cannot start, the test skips, except under CI=true, where it fails.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0  # seconds any one condition on the page may take

T = TypeVar("T")


def no_browser(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"headless Chromium is needed and cannot start: {reason}")
    pytest.skip(f"headless Chromium cannot start: {reason}")


@contextlib.contextmanager
def headless_chromium(profile: Path) -> Iterator[Any]:
    """A Selenium WebDriver on a fresh headless Chromium (its profile in `profile`)."""
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        no_browser(f"selenium is not installed ({error})")
        raise
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not os.access(binary, os.X_OK):
            no_browser(f"{binary} is missing (make test installs Debian's chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root, where Chromium's sandbox will not start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,860",
        f"--user-data-dir={profile}",
        # Nothing but the cluster on loopback: no update checks, sync or telemetry.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--no-first-run",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    try:
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    except WebDriverException as error:
        no_browser(str(error.msg or error).splitlines()[0])
        raise
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, condition: Callable[[Any], T], what: str) -> T:
    """Poll `condition(driver)` every 0.1 s until it is truthy; fail after `WAIT` seconds.

    A condition that meets no element, or one the page has just redrawn, is tried again.
    """
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(
        driver,
        WAIT,
        poll_frequency=0.1,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )
    return wait.until(condition, f"never saw {what}")


_READ_TABLE = """
const table = document.querySelector(`table[data-table="${arguments[0]}"]`);
if (!table) return [];
return [...table.tBodies[0].rows].map(
  (row) => [row.dataset.id, [...row.cells].map((cell) => cell.innerText)],
);
"""


def table_rows(driver: Any, table: str) -> dict[str, list[str]]:
    """The rows of the page's table `table` (its `data-table`), in order: row id -> cells' text.

    Read in one go inside the page, so a refresh that redraws the table cannot tear it.
    """
    rows = driver.execute_script(_READ_TABLE, table)
    return {row_id: [" ".join(cell.split()) for cell in cells] for row_id, cells in rows}


def text_of(driver: Any, selector: str) -> str:
    """The text of the first element matching the CSS `selector` ("" when there is none)."""
    text = driver.execute_script(
        "return document.querySelector(arguments[0])?.innerText ?? '';", selector
    )
    return str(text).replace("\xa0", " ")


def click_link(driver: Any, within: str, text: str) -> None:
    """Click the link reading `text` inside the element matching `within` (retried if redrawn)."""

    def click(driver: Any) -> bool:
        driver.find_element("css selector", within).find_element("link text", text).click()
        return True

    wait_until(driver, click, f"a link {text!r} in {within}")


def console_errors(driver: Any) -> list[str]:
    """What the page logged as errors (uncaught exceptions, failed loads) since last asked."""
    return [entry["message"] for entry in driver.get_log("browser")]
