"""The admin's lists in a real browser (headless Chromium from Debian) at 1366 px: in German, French
and Spanish the column titles wrap instead of pushing the last column out of the list's box.

Skipped when /usr/bin/chromium is absent. Playwright drives the system browser; it never downloads one.
"""

import pytest
from django.contrib.auth import get_user_model

from dashboard.tests.chromium import needs_chromium
from dashboard.tests.conftest import demo_site  # noqa: F401 (a fixture)

pytestmark = needs_chromium

# Lists whose columns fit a 1366 px screen in every language once their titles may wrap.
LISTS = [
    "activities/source",
    "conversion_points/area",
    "accounts/apitoken",
    "activities/syncrun",
    "contributors/personmerge",
    "contributors/mergesuggestion",
]


@pytest.fixture
def admin_site(demo_site, settings):  # noqa: F811
    settings.BALOO_PASSWORD_LOGIN = True
    get_user_model().objects.create_superuser("root", "root@example.org", "a long enough password")
    return demo_site


@pytest.mark.parametrize("code", ["de", "fr", "es"])
def test_the_last_column_of_a_list_is_inside_its_box(admin_site, browser, code):  # noqa: F811
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{admin_site}/{code}/admin/login/?next=/{code}/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "a long enough password")
    page.click("input[type=submit]")
    lists = [*LISTS, *(["contributors/person"] if code != "de" else [])]
    tables = 0
    for name in lists:
        page.goto(f"{admin_site}/{code}/admin/{name}/")
        assert page.locator("#changelist").count() == 1  # signed in, on the list
        if not page.locator("#changelist table").count():
            continue  # nothing listed yet in the demo
        tables += 1
        assert page.locator("#changelist table thead th").first.evaluate("th => getComputedStyle(th).whiteSpace") == "normal"
        overflow = page.locator("#changelist-form .results").evaluate("box => box.scrollWidth - box.clientWidth")
        assert overflow <= 1, f"/{code}/admin/{name}/ is {overflow} px wider than its box"
    assert tables >= 2
    context.close()
