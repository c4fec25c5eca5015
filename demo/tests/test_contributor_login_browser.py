"""Trying the demo in a real browser (headless Chromium from Debian), at 360 px and 1366 px, in every
language: "My contributions" leads to Baloo's own sign-in page, which fits the screen, and the demo's
contributor login opens their record. Development only (DEBUG, no single sign-on), as `make run` is.

Skipped when /usr/bin/chromium is absent. Playwright drives the system browser; it never downloads one.
"""

import pytest

from dashboard.tests.chromium import needs_chromium
from dashboard.tests.conftest import demo_site  # noqa: F401 (a fixture)
from demo.services import CONTRIBUTOR_PASSWORD, CONTRIBUTOR_USERNAME

pytestmark = needs_chromium


@pytest.fixture
def development(settings):
    settings.DEBUG = True
    settings.BALOO_PASSWORD_LOGIN = True
    settings.OIDC_RP_CLIENT_ID = ""


@pytest.mark.parametrize("width", [360, 1366])
def test_the_demo_contributor_signs_in_and_sees_their_record(development, demo_site, browser, width):  # noqa: F811
    for code in ("en", "de", "fr", "es"):
        prefix = "" if code == "en" else f"/{code}"
        context = browser.new_context(viewport={"width": width, "height": 800}, locale=code)
        page = context.new_page()
        page.goto(f"{demo_site}{prefix}/me/")
        page.click("main a.button")
        assert "/sign-in/?next=" in page.url
        assert page.locator("html").get_attribute("lang") == code
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
        assert page.locator("label[for=id_username]").is_visible() and page.locator("label[for=id_password]").is_visible()
        page.fill("#id_username", CONTRIBUTOR_USERNAME)
        page.fill("#id_password", CONTRIBUTOR_PASSWORD)
        page.click("#sign-in")
        assert page.url == f"{demo_site}{prefix}/me/"
        assert page.locator("#activities table tbody tr").count() > 0  # their record, not the sign-in invitation
        context.close()
