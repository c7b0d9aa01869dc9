"""A headless Chromium driven by Selenium (extra ``browser``), for the HTML page's browser test and screenshot."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = "chromedriver"


def browser_missing() -> str | None:
    """Why no headless browser can be started here, or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    if not any(shutil.which(name) for name in CHROMIUM):
        return f"no Chromium on PATH ({', '.join(CHROMIUM)}; apt-get install chromium)"
    if not shutil.which(DRIVER):
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    return None


def headless_chromium(width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium whose console messages ``driver.get_log('browser')`` returns."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = next(path for name in CHROMIUM if (path := shutil.which(name)))
    options.binary_location = str(Path(binary))
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(shutil.which(DRIVER)))
