"""Debian's Chromium for the browser tests: Playwright drives it and never downloads a browser."""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="headless Chromium not installed: apt-get install -y chromium"
)


@pytest.fixture
def browser():
    """Headless Chromium for one test (registered for the whole suite in the root conftest.py)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in requirements-dev.txt")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


# The axe-core rules every page must pass: WCAG 2.0, 2.1 and 2.2, levels A and AA.
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def scroll_width(page, viewport: dict) -> int | None:
    """The page's width when it scrolls sideways at this viewport, else None."""
    width = page.evaluate("document.documentElement.scrollWidth")
    return width if width > viewport["width"] else None


def axe_violations(axe, page) -> list[tuple[str, list]]:
    """Each WCAG 2.2 AA violation axe-core finds on the page: its rule and its first three targets."""
    result = axe.run(page, options={"runOnly": {"type": "tag", "values": WCAG_22_AA}, "resultTypes": ["violations"]})
    return [(violation["id"], [node["target"] for node in violation["nodes"]][:3]) for violation in result.response["violations"]]
