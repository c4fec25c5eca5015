"""Debian's Chromium for the browser tests: Playwright drives it and never downloads a browser."""

import asyncio
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


class _Chromium:
    """One Playwright driver and one Chromium for the whole session, lent to each browser test in turn.

    Starting both costs about 1.3 s, which every browser test used to pay. Playwright's sync API marks
    its event loop as running in this thread for as long as the driver lives, and Django then refuses
    database calls ("you cannot call this from an async context"): the loop is marked running only
    while a test holds the browser, as it was when each test started Playwright of its own.
    """

    def __init__(self, sync_api) -> None:
        self._playwright = sync_api.sync_playwright().start()
        self._loop = asyncio.get_running_loop()
        self._browser = None
        asyncio._set_running_loop(None)

    def lend(self):
        asyncio._set_running_loop(self._loop)
        if self._browser is None or not self._browser.is_connected():
            self._browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        return self._browser

    def give_back(self) -> None:
        """Each test's contexts (its pages, cookies and storage) go with it: the next test starts with none."""
        try:
            for context in list(self._browser.contexts):
                context.close()
        finally:
            asyncio._set_running_loop(None)

    def stop(self) -> None:
        asyncio._set_running_loop(self._loop)
        try:
            if self._browser is not None and self._browser.is_connected():
                self._browser.close()
        finally:
            self._playwright.stop()


@pytest.fixture(scope="session")
def _chromium():
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in requirements-dev.txt")
    chromium = _Chromium(sync_api)
    yield chromium
    chromium.stop()


@pytest.fixture
def browser(_chromium):
    """Headless Chromium for one test (registered for the whole suite in the root conftest.py); the
    test opens its own contexts, which are closed after it."""
    yield _chromium.lend()
    _chromium.give_back()


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
