"""A headless Chromium for the dashboard tests (Debian's `chromium` + `chromium-driver`)."""

import shutil

import pytest


def _chromedriver():
    for name in ("chromedriver", "chromium-driver"):
        path = shutil.which(name) or (shutil.which(name, path="/usr/lib/chromium") or None)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser():
    """A selenium-driven headless Chromium; skips where it is not installed."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = _chromedriver()
    if binary is None or driver_path is None:
        pytest.skip("No headless Chromium: install Debian's packages with "
                    "`apt-get install -y chromium chromium-driver` (.ci/run does as root).")
    from selenium.webdriver.chrome.service import Service  # pylint: disable=g-import-not-at-top

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000",
                 # Nothing but localhost and files resolves: a page that needs the
                 # network shows it by breaking.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
