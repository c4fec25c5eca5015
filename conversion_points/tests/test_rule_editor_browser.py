"""The rule editor in a real browser (headless Chromium from Debian), on a phone and a desktop, in every language.

Skipped when /usr/bin/chromium is absent: `apt-get install -y chromium` (CI does it in .ci/run).
Playwright drives the system browser; it never downloads one.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pytest_django.live_server_helper import LiveServer

from activities.models import Source
from activities.services import activities_ingest
from conversion_points.contributions import today_utc
from conversion_points.models import Area, ConversionPoint
from dashboard.tests.chromium import needs_chromium

WIDTHS = (360, 1366)
LANGUAGES = ("en", "de", "fr", "es")

pytestmark = needs_chromium


@pytest.fixture
def editor_site(transactional_db, settings, monkeypatch):
    """A rule over a source with long types and containers, a signed-in administrator, on a live server of its own."""
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["localhost"]
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    area = Area.objects.create(slug="support", name_en="Support")
    area.sources.add(sumo)
    point = ConversionPoint.objects.create(area=area, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name_en="Answered")
    day = (today_utc() - timedelta(days=3)).isoformat()
    activities_ingest(records=enumerate(
        {"source": "sumo", "external_id": f"a{n}", "type": f"sumo.{'very_long_object_name_' * 3}{n % 4}.posted",
         "occurred_at": f"{day}T10:00:00Z", "actor": {"username": f"user{n % 7}"},
         "container": f"{'thunderbird-for-android-' * 2}{n % 5}::en-US"}
        for n in range(40)
    ))
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.org"))
    server = LiveServer("localhost")
    yield server.url, client.cookies[django_settings.SESSION_COOKIE_NAME].value, point
    server.stop()
    cache.clear()


def _open(browser, url: str, session: str, width: int, language: str):
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=language)
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": url}])
    page = context.new_page()
    page.goto(url)
    return page


def _change_url(base: str, point: ConversionPoint, language: str) -> str:
    with translation.override(language):
        return base + reverse("admin:conversion_points_conversionpoint_change", args=[point.pk])


def test_the_change_form_fits_the_screen_and_its_selects_are_labelled(editor_site, browser) -> None:
    base, session, point = editor_site
    for language in LANGUAGES:
        for width in WIDTHS:
            page = _open(browser, _change_url(base, point, language), session, width, language)
            assert page.locator("#conversionpoint_form").is_visible(), (language, width)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width, f"{language} at {width} px scrolls sideways: {scroll} px"
            for name in ("area", "source"):
                label = page.evaluate(f"(document.getElementById('id_{name}').labels[0] || {{}}).textContent || ''").strip(" :")
                assert label, (language, width, name)
                assert page.get_by_role("combobox", name=label).count() >= 1, (language, width, name, label)
            assert page.locator("input[type=checkbox][name=types]").count() == 4
            assert page.get_by_label("sumo.answer.posted", exact=False).count() == 0  # not seen in the source: typed
            assert page.locator("#id_types_other").input_value() == "sumo.answer.posted"
            page.context.close()


def test_ticking_a_type_and_previewing_shows_information_on_a_phone(editor_site, browser) -> None:
    base, session, point = editor_site
    page = _open(browser, _change_url(base, point, "de"), session, 360, "de")
    page.locator("input[type=checkbox][name=types]").first.check()
    page.locator("input[name=_preview]").click()
    page.wait_for_load_state()

    preview = page.locator(".rule-preview")
    assert preview.is_visible() and page.locator(".errornote").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert ConversionPoint.objects.get(pk=point.pk).types == ["sumo.answer.posted"]  # nothing saved
    page.context.close()
