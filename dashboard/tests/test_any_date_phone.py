"""Any date, any range and the chart other sites frame, in Chromium: 360 px and 1366 px, four languages.

The pages with a chosen day and range, and with a value Baloo cannot use (its message shown), the
date form opened, and the embeddable chart: no sideways scroll, axe-core finds nothing against WCAG
2.2 AA (as `test_phone.py` checks every other public page). Then, as another site: the chart page
shows inside its frame, and the home page refuses to.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from .chromium import axe_violations, needs_chromium, scroll_width
from .test_phone import DESKTOP, LANGUAGES, PHONE, _url

pytestmark = needs_chromium

PAGES = [
    "/?date=2024-01-07&start=2023-01-01&end=2024-01-07",
    "/area/support/?date=2024-03-06",
    "/source/sumo/?start=2023-06-01",
    "/area/support/?date=9999-12-31&start=2024-02-01&end=2024-01-01",  # both messages
    "/embed/chart/?scope=area:support",
    "/embed/chart/?scope=all",
    "/embed/chart/?scope=area:nowhere",
]


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_dated_pages_and_the_embed_fit_the_screen_and_pass_axe(demo_site, browser, language):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="in requirements-dev.txt")
    axe = axe_module.Axe()
    wider, violations = [], []
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(locale=LANGUAGES[language], viewport=viewport, bypass_csp=True)
        page = context.new_page()
        for path in PAGES:
            page.goto(_url(demo_site, language, path))
            assert page.locator("main").count() == 1, path
            if width := scroll_width(page, viewport):
                wider.append((viewport["width"], path, width))
            violations += [(viewport["width"], path, rule, targets) for rule, targets in axe_violations(axe, page)]
        context.close()
    assert wider == []
    assert violations == []


def test_the_date_form_works_without_script_and_its_address_can_be_shared(demo_site, browser):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{demo_site}/area/support/")
    page.locator(".date-choice summary").click()
    page.fill("#date-choice-date", "2024-01-07")
    page.fill("#date-choice-start", "2023-07-01")
    page.locator(".date-form button").click()
    page.wait_for_load_state()
    assert page.url == f"{demo_site}/area/support/?date=2024-01-07&start=2023-07-01&end="
    assert page.locator("#date-choice-date").input_value() == "2024-01-07"
    assert "Jan. 7, 2024" in page.locator(".date-status").first.inner_text()
    context.close()


@contextmanager
def another_site(html: str) -> Iterator[str]:
    """A page of another site (another origin: 127.0.0.1 and its own port, while Baloo is `localhost`),
    served on the loopback for the length of the test: Chromium lets only local pages frame local ones."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def framed(browser, src: str):
    """What another site's frame of `src` shows: the frame's main element count, once loaded."""
    html = f'<!DOCTYPE html><html lang="en"><title>Another site</title><iframe src="{src}" title="Baloo" width="800" height="600"></iframe>'
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    with another_site(html) as url:
        page.goto(url)
        page.wait_for_load_state("load")
        frame = page.frames[1]
        shown = frame.url, frame.locator("main").count(), frame.locator("svg.weekly-chart").count()
    context.close()
    return shown


def test_another_site_may_frame_the_chart_and_nothing_else(demo_site, browser):
    """Another site frames the chart page: it shows. It frames the home page: the browser refuses."""
    src = f"{demo_site}/embed/chart/?scope=area:support"
    assert framed(browser, src) == (src, 1, 2)
    _url_shown, main, charts = framed(browser, f"{demo_site}/")
    assert (main, charts) == (0, 0)
