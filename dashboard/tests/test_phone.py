"""Every public page on a 360 px phone and a 1366 px desktop, in the four languages, in Chromium.

Over the seeded demo, with a contributor signed in for "my contributions": no page is wider than
the screen, chart labels are drawn at 11 px or more, the keyboard enters a chart on the latest
complete week, a finger reads a week by tapping, each device gets its own hint, and axe-core finds
nothing against WCAG 2.2 AA (axe-playwright-python, which bundles axe-core; requirements-dev.txt).
"""

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client

from contributors.models import Identity

from .chromium import axe_violations, needs_chromium, scroll_width

pytestmark = needs_chromium

LANGUAGES = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES"}
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1366, "height": 900}

# Each chart text: its rendered font size (the CSS size times the SVG's scale) and its box's height.
LABEL_SIZES = """() => Array.from(document.querySelectorAll("svg[data-chart] text"))
  .filter((text) => text.getBoundingClientRect().width > 0)
  .map((text) => [text.textContent, parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a,
                  text.getBoundingClientRect().height])"""


def _pages(site: str, person_id: int) -> list[str]:
    return [
        "/",
        "/area/support/",
        "/area/support/#rules",  # a conversion point's place on its area page
        "/source/sumo/",
        "/overlap/",
        "/how-we-count/",
        "/me/",
        f"/people/{person_id}/",
        "/help/",
        "/help/glossary/",
        "/help/faq/",
        "/help/integrating-a-system/",
        "/help/privacy/",
        "/integrations/",
        "/integrations/request/",
    ]


def _contributor_session(demo_site: str) -> tuple[dict, int]:
    """A signed-in contributor of the demo (the one with the most activities), public profile on."""
    identity = (
        Identity.objects.filter(kind="email").annotate(n=Count("activities")).order_by("-n").select_related("person")
    ).first()
    person = identity.person
    person.profile_public = True
    person.save(update_fields=["profile_public"])
    user = get_user_model().objects.create_user(username="phone-reader", email=identity.value)
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    return {"name": "sessionid", "value": cookie.value, "url": demo_site}, person.pk


def _url(site: str, language: str, path: str) -> str:
    return f"{site}{'' if language == 'en' else '/' + language}{path}"


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_every_public_page_fits_the_screen_and_passes_axe(demo_site, browser, language):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="in requirements-dev.txt")
    axe = axe_module.Axe()
    session, person_id = _contributor_session(demo_site)
    wider, small_labels, violations = [], [], []
    for viewport in (PHONE, DESKTOP):
        # axe-core is injected by the test: the site's Content Security Policy rightly refuses it.
        context = browser.new_context(locale=LANGUAGES[language], viewport=viewport, bypass_csp=True)
        context.add_cookies([session])
        page = context.new_page()
        for path in _pages(demo_site, person_id):
            page.goto(_url(demo_site, language, path))
            assert page.locator("main").count() == 1, path
            if width := scroll_width(page, viewport):
                wider.append((viewport["width"], path, width))
            for text, size, height in page.evaluate(LABEL_SIZES):
                if size < 11 or height < 11:
                    small_labels.append((viewport["width"], path, text, round(size, 1), round(height, 1)))
            violations += [(viewport["width"], path, rule, targets) for rule, targets in axe_violations(axe, page)]
        context.close()
    assert wider == []
    assert small_labels == []
    assert violations == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["360", "1366"])
def test_the_keyboard_enters_the_chart_on_the_latest_complete_week(demo_site, browser, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{demo_site}/")
    latest = page.eval_on_selector("#chart-all-table tbody tr", "row => row.dataset.date")
    page.locator("#trend-title").click()  # reading position: the heading above the chart
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("!!document.activeElement.closest('svg[data-chart]')"):
            break
    focused = page.evaluate("[document.activeElement.closest('svg').id, document.activeElement.dataset.date]")
    assert focused == ["chart-all-narrow" if viewport is PHONE else "chart-all", latest]
    assert "mark-projected" not in page.evaluate("document.activeElement.getAttribute('class')")
    assert page.locator("#chart-all-readout").inner_text() == page.evaluate(
        "document.activeElement.getAttribute('aria-label')"
    )
    context.close()


def test_a_mouse_gets_the_keyboard_hint_and_a_finger_the_touch_hint(demo_site, browser):
    desktop = browser.new_context(viewport=DESKTOP)
    page = desktop.new_page()
    page.goto(f"{demo_site}/")
    assert page.locator("#chart-all-help .hint-keys").is_visible()
    assert not page.locator("#chart-all-help .hint-touch").is_visible()
    desktop.close()
    phone = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    page = phone.new_page()
    page.goto(f"{demo_site}/")
    assert page.locator("#chart-all-help .hint-touch").is_visible()
    assert not page.locator("#chart-all-help .hint-keys").is_visible()
    # Tapping a week reads it; every mark is at least 24 px wide and tall.
    assert not page.locator("svg#chart-all").is_visible() and page.locator("svg#chart-all-narrow").is_visible()
    boxes = page.eval_on_selector_all(
        "#chart-all-narrow .mark .hit",
        "hits => hits.map(h => [h.getBoundingClientRect().width, h.getBoundingClientRect().height])",
    )
    assert boxes and min(w for w, _h in boxes) >= 24 and min(h for _w, h in boxes) >= 24
    first = page.locator("#chart-all-narrow .mark").first
    first.tap()
    assert page.locator("#chart-all-readout").inner_text() == first.get_attribute("aria-label")
    phone.close()
