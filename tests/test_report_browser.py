"""Open the report in headless Chromium: figures load, no console errors, screenshot.

Skipped (with the reason) where Chromium, chromedriver or selenium is missing; CI
installs the Debian packages ``chromium`` and ``chromium-driver``.
"""

import os
import shutil

import pytest

from report_fixtures import make_run
from seqlab.report import write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.browser


def _driver(profile_dir):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    for path, package in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} not found: install the Debian package '{package}'")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,1600", f"--user-data-dir={profile_dir}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.set_page_load_timeout(30)
    return driver


def test_report_renders_in_headless_chromium(tmp_path):
    run_dir = tmp_path / "run"
    make_run(run_dir)
    page = write_report(run_dir)
    driver = _driver(tmp_path / "chrome-profile")
    try:
        driver.get(page.resolve().as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth]);")
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        injected = driver.execute_script("return window.__pwned === undefined;")
        heading = driver.find_element("tag name", "h1").text
        shot = run_dir / "report_screenshot.png"
        driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    assert images and all(complete and width > 0 for complete, width in images), images
    assert errors == [], errors
    assert injected, "text from a Result ran as a script"
    assert "claims ledger" in heading
    assert shot.read_bytes()[:4] == b"\x89PNG"
    print(f"screenshot: {shot}")
