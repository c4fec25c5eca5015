"""The desk in a real browser (headless Chromium from Debian): no sideways scroll on a phone or a desktop.

Skipped when /usr/bin/chromium is absent. Playwright drives the system browser; it never downloads one.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from pytest_django.live_server_helper import LiveServer

from accounts.tests.worlds import D, at, roles_world
from activities.models import Activity
from contributors.models import Identity, Person
from dashboard.tests.chromium import needs_chromium

pytestmark = needs_chromium


@pytest.fixture
def desk_site(transactional_db, settings, monkeypatch):
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = ["localhost"]
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    world = roles_world()
    # Long names and many people: the table must scroll in its own box, never the page.
    for i in range(70):
        person = Person.objects.create(display_name=f"Maximiliane Alexandra von Hohenzollern-Sigmaringen {i}")
        identity = Identity.objects.create(person=person, kind="email", value=f"long{i}@example.org")
        Activity.objects.create(
            source=world["sumo"], external_id=f"long{i}", type="sumo.answer.posted", occurred_at=at(D - timedelta(days=i * 5)), identity=identity
        )
    client = Client()
    client.force_login(world["builder_a"])
    server = LiveServer("localhost")
    yield server.url, client.cookies[django_settings.SESSION_COOKIE_NAME].value
    server.stop()
    cache.clear()


@pytest.mark.parametrize("width", [360, 1366])
@pytest.mark.parametrize("language", ["en", "de"])
def test_the_desk_never_scrolls_sideways(desk_site, browser, width, language):
    url, session = desk_site
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=language)
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": url}])
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    prefix = "" if language == "en" else f"/{language}"
    for path in (f"/desk/area/support/?week={D.isoformat()}", "/desk/digest/"):
        response = page.goto(f"{url}{prefix}{path}")
        assert response.status == 200
        assert page.locator("html").get_attribute("lang") == language
        widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], (path, widths)
    # The table itself is wider than a phone and scrolls inside its box.
    page.goto(f"{url}{prefix}/desk/area/support/?week={D.isoformat()}")
    assert page.locator("table.desk-table caption").count() == 1
    assert page.locator("label[for=desk-week]").is_visible()
    if width == 360:
        box = page.evaluate("() => { const b = document.querySelector('.table-scroll'); return [b.scrollWidth, b.clientWidth]; }")
        assert box[0] > box[1]
    assert problems == []
    context.close()
