"""A real headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium.

The browser tests skip, saying why, when the browser or its driver is not installed;
`.ci/run` installs both. Set BROWSER_SCREENSHOTS_DIR to keep screenshots of the pages.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium")
CHROMEDRIVER_CANDIDATES = ("/usr/bin/chromedriver", "chromedriver")
DESKTOP = (1280, 1000)
PHONE = (375, 812)


def _find(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser_binaries() -> tuple[str, str]:
    chromium, chromedriver = _find(CHROMIUM_CANDIDATES), _find(CHROMEDRIVER_CANDIDATES)
    if chromium is None or chromedriver is None:
        missing = [
            name
            for name, path in (("chromium", chromium), ("chromedriver", chromedriver))
            if path is None
        ]
        pytest.skip(
            f"browser tests need Debian's chromium and chromium-driver; missing: "
            f"{', '.join(missing)} (apt-get install chromium chromium-driver, as .ci/run does)"
        )
    return chromium, chromedriver


@pytest.fixture
def browser(browser_binaries, tmp_path):
    """A fresh headless Chromium with its own profile, at desktop size."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(30)
    # Every page records what its Content-Security-Policy blocked (csp_violations()).
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_CSP})
    yield driver
    driver.quit()


RECORD_CSP = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def csp_violations(driver) -> list[str]:
    """What the current page's Content-Security-Policy refused so far."""
    return driver.execute_script("return window.cspViolations")


def emulate_phone(driver, width: int = PHONE[0], height: int = PHONE[1]) -> None:
    """Lay pages out as a phone does: a narrow viewport that honours the viewport meta tag."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
    )


def screenshot(driver, name: str) -> Path | None:
    """Save a full-page screenshot when BROWSER_SCREENSHOTS_DIR is set."""
    directory = os.environ.get("BROWSER_SCREENSHOTS_DIR")
    if not directory:
        return None
    path = Path(directory) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.execute_script("return window.innerWidth")
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path
