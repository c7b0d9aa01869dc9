#!/usr/bin/env python
"""A screenshot of ``leaderboard.html`` in headless Chromium, for the README (docs/leaderboard-page.png).

Without a results folder it first runs the mel and noise encoders on two offline demo tasks (two seeds each,
about a minute on a laptop, no network) in a temporary root. It then writes the page with ``xares-report --html``,
opens the first task's drill-down and saves the window as PNG. Needs Chromium, chromedriver and the browser extra
(``pip install -e '.[browser]'``).

    python scripts/leaderboard_screenshot.py [RESULTS ...] [--out docs/leaderboard-page.png] [--width 1200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from xares_hydra import api
from xares_hydra.report.browser import browser_missing, headless_chromium
from xares_hydra.report.cli import main as report_main
from xares_hydra.report.webpage import PAGE_FILE

REPO = Path(__file__).resolve().parents[1]
DEMO_TASKS = ("demo/sounds", "demo/timbre")
DEMO_OVERRIDES = ("head.epochs=5",)
TITLE = "xares-hydra leaderboard: offline demo tasks"


def demo_results(root: Path) -> Path:
    for encoder in ("mel", "noise"):
        for seed in (0, 1):
            api.evaluate(encoder, tasks=DEMO_TASKS, overrides=[f"paths.root={root}", f"seed={seed}", *DEMO_OVERRIDES])
    return root / "results"


def screenshot(page: Path, out: Path, width: int, height: int) -> None:
    driver = headless_chromium(width, height)
    try:
        driver.get(page.as_uri())
        driver.find_element("css selector", "button.details").click()
        out.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(out))
    finally:
        driver.quit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", type=Path, help="results folders or bundles (default: a demo run)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "leaderboard-page.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=900)
    arguments = parser.parse_args()
    if reason := browser_missing():
        print(f"leaderboard_screenshot: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        results = arguments.results or [demo_results(Path(folder) / "root")]
        pages = Path(folder) / "page"
        if report_main([*map(str, results), "--out", str(pages), "--html", "--no-published", "--title", TITLE]) != 0:
            return 1
        screenshot(pages / PAGE_FILE, arguments.out, arguments.width, arguments.height)
    print(f"Wrote {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
