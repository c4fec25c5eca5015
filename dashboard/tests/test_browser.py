"""The dashboard in a real browser (headless Chromium from Debian) over the demo community.

Skipped when /usr/bin/chromium is absent: `apt-get install -y chromium` (CI does it in .ci/run).
Playwright drives the system browser; it never downloads one.
"""

from datetime import date, timedelta

import pytest

from .chromium import needs_chromium

pytestmark = needs_chromium


def _page(browser, locale: str = "en-US"):
    context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda message: message.type in ("error", "warning") and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    return page


def test_the_chart_is_drawn_from_the_demo_and_its_table_matches(demo_site, browser):
    page = _page(browser)
    page.goto(f"{demo_site}/")
    svg = page.locator("svg#chart-all")
    assert svg.is_visible()
    box = svg.bounding_box()
    assert box["width"] > 500 and box["height"] > 150
    # The line has a point per week and is drawn (a real length, not an empty path).
    assert page.eval_on_selector("#chart-all .line-active", "line => line.getTotalLength()") > 100
    marks = page.eval_on_selector_all(
        "#chart-all .mark:not(.mark-projected)", "marks => marks.map(m => [m.dataset.date, m.dataset.active])"
    )
    assert len(marks) > 100
    rows = page.eval_on_selector_all(
        "#chart-all-table tbody tr", "rows => rows.map(r => [r.dataset.date, r.querySelector('td').dataset.active])"
    )
    assert dict(rows) == dict(marks)
    # The big number is as of today (the summary's), the chart's line ends at the last complete week.
    big = page.locator(".big-number").inner_text().replace(",", "")
    assert big == str(page.request.get(f"{demo_site}/api/v1/metrics/summary/").json()["active"])
    assert date.fromisoformat(marks[-1][0]) < date.today() <= date.fromisoformat(marks[-1][0]) + timedelta(days=7)
    # Keyboard: one tab stop on the latest week, arrows move week by week, the readout follows.
    page.focus("#chart-all .mark[tabindex='0']")
    page.keyboard.press("Home")
    first = page.locator("#chart-all-readout").inner_text()
    page.keyboard.press("ArrowRight")
    assert page.locator("#chart-all-readout").inner_text() != first
    assert page.evaluate("document.activeElement.dataset.date") == marks[1][0]
    # Nothing was blocked by the Content Security Policy, no script failed.
    assert page.problems == []


def test_language_switch_changes_text_and_url_and_drilldown_works(demo_site, browser):
    page = _page(browser, locale="de-DE")
    page.goto(f"{demo_site}/")
    assert page.url == f"{demo_site}/de/"  # chosen from Accept-Language
    assert page.locator("html").get_attribute("lang") == "de"
    page.click("a[hreflang='fr']")
    assert page.url == f"{demo_site}/fr/"
    assert page.locator("html").get_attribute("lang") == "fr"
    page.click("a[hreflang='en']")
    assert page.url == f"{demo_site}/"
    english_heading = page.locator("#trend-title").inner_text()
    assert english_heading == "Week by week"
    # Drill down: an area from the home table, then a rule's anchor, then a system.
    page.click("table.scopes >> nth=0 >> tbody tr >> nth=0 >> th a")
    assert "/area/" in page.url
    assert page.locator("h1").inner_text()
    assert page.locator("svg#chart-scope .mark").count() > 10
    assert page.locator(".rule").count() >= 1
    page.goto(f"{demo_site}/")
    page.click("table.scopes >> nth=1 >> tbody tr >> nth=0 >> th a")
    assert "/source/" in page.url and page.locator("svg#chart-scope").is_visible()
    page.click("a[href$='/overlap/'] >> nth=0")
    assert page.locator("table.heatmap td.diagonal").count() >= 6
    assert page.problems == []


@pytest.mark.parametrize("locale", ["en-US", "de-DE", "fr-FR", "es-ES"])
def test_the_sign_out_refusal_and_request_pages_fit_a_phone(plain_site, browser, locale):
    """The pages issue 15 added or changed — signing out, a refused sign-in, the integration request
    form with its errors — never scroll sideways on a 360 px screen, in any language."""
    context = browser.new_context(locale=locale, viewport={"width": 360, "height": 740})
    page = context.new_page()
    wider = []
    for path in ("/oidc/logout/", "/oidc/refused/", "/integrations/request/"):
        page.goto(f"{plain_site}{path}")
        if path == "/integrations/request/":
            page.click("button[type=submit]")  # every field missing: the errors are shown
            page.wait_for_load_state()
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 360:
            wider.append((path, width))
    context.close()
    assert wider == []
