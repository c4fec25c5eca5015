"""The builder's pages in Chromium, on a 360 px phone and a 1366 px desktop, in the four languages.

A community builder who owns one area, signed in, visits the desk (its index, the area's people in
every status, one person's activities, the digest settings), the rule editor with a preview shown,
and the admin index; and staff, who see every area, the desk's list of areas. On each page: nothing wider than the screen (a table may scroll inside its own
box) and axe-core finds nothing against WCAG 2.2 AA (axe-playwright-python, requirements-dev.txt).
One seeded database, one live server and one browser for all of it.
"""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pytest_django.live_server_helper import LiveServer

from accounts.tests.worlds import D, at, roles_world
from activities.models import Activity
from contributors.models import Identity, Person
from dashboard.tests.chromium import axe_violations, needs_chromium, scroll_width

pytestmark = needs_chromium

LANGUAGES = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES"}
VIEWPORTS = ({"width": 360, "height": 740}, {"width": 1366, "height": 900})
# The desk's own controls, each at least 24 px each way (WCAG 2.2 target size, without leaning on spacing).
SMALL_CONTROLS = """() => Array.from(document.querySelectorAll("main input:not([type=hidden]), main select, main button"))
  .map((control) => [control.name || control.type, control.getBoundingClientRect()])
  .filter(([_name, box]) => box.width < 24 || box.height < 24)
  .map(([name, box]) => [name, Math.round(box.width), Math.round(box.height)])"""


@pytest.fixture
def builder_site(transactional_db, settings, monkeypatch):
    """The roles world (builder A owns Support) with someone in each of the desk's statuses, on a live server."""
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = ["localhost"]
    # Playwright's sync API runs an event loop in this thread; the database is used before and after it only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    world = roles_world()  # Ann new, Ben active, Cid lapsed at D

    def answered(name: str, *days_before: int) -> Person:
        person = Person.objects.create(display_name=name)
        identity = Identity.objects.create(person=person, kind="email", value=f"{name.lower()}@example.org")
        for days in days_before:
            Activity.objects.create(
                source=world["sumo"], external_id=f"{name}-{days}", type="sumo.answer.posted",
                occurred_at=at(D - timedelta(days=days)), container="firefox::de", identity=identity,
            )
        return person

    answered("Eve", 340)  # about to lapse
    answered("Fay", 800, 2)  # back again after more than 12 months away
    sessions = {}
    for who in ("builder_a", "staff"):
        client = Client()
        client.force_login(world[who])
        sessions[who] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    server = LiveServer("localhost")
    yield server.url, sessions, world
    server.stop()
    cache.clear()


def _paths(language: str, world: dict) -> dict[str, tuple[str, str]]:
    """Each page, and who reads it: the builder, except the list of areas, which only a reader of several sees."""
    with translation.override(language):
        paths = {
            "desk": reverse("desk:index"),
            "area": reverse("desk:area", args=["support"]) + f"?week={D.isoformat()}",
            "person": reverse("desk:person", args=["support", world["ann"].pk]),
            "digest": reverse("desk:digest"),
            "rule": reverse("admin:conversion_points_conversionpoint_change", args=[world["answer"].pk]),
            "admin": reverse("admin:index"),
            # The builder's own admin lists: their conversion points, areas, sources and API tokens.
            "rules": reverse("admin:conversion_points_conversionpoint_changelist"),
            "areas_admin": reverse("admin:conversion_points_area_changelist"),
            "sources": reverse("admin:activities_source_changelist"),
            "tokens": reverse("admin:accounts_apitoken_changelist"),
        }
        return {**{name: ("builder_a", path) for name, path in paths.items()}, "areas": ("staff", reverse("desk:index"))}


def test_every_builder_page_fits_the_screen_and_passes_axe(builder_site, browser) -> None:
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="in requirements-dev.txt")
    axe = axe_module.Axe()
    site, sessions, world = builder_site
    wider, violations, unseen, small = [], [], [], []
    for language, locale in LANGUAGES.items():
        for viewport in VIEWPORTS:
            # axe-core is injected by the test: the site's Content Security Policy rightly refuses it.
            context = browser.new_context(locale=locale, viewport=viewport, bypass_csp=True)
            page = context.new_page()
            for name, (who, path) in _paths(language, world).items():
                context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": sessions[who], "url": site}])
                response = page.goto(site + path)
                assert response.status == 200, (language, name, response.status)
                assert page.locator("html").get_attribute("lang") == language, (language, name)
                if name == "desk":
                    assert page.url.startswith(site + path + "area/support/"), (language, page.url)  # one area: straight to it
                if name == "areas":
                    assert page.locator(".desk-areas a").count() == 2, language
                if name == "area":
                    statuses = page.eval_on_selector_all(".desk-table .desk-status", "spans => spans.map(s => s.className)")
                    seen = {cls.rsplit("desk-status-", 1)[-1] for cls in statuses}
                    unseen += [(language, status) for status in ("new", "back", "about_to_lapse", "active", "lapsed") if status not in seen]
                if name == "rule":
                    # The help text's "<system>.<object>.<action>" is read as words, not swallowed as tags.
                    assert "<system>.<object>.<action>" in page.locator(".field-types .help").inner_text(), language
                    # A narrower container (Eve's and Fay's answers only): a preview with the area's before and after.
                    page.locator("#id_container").fill("firefox::*")
                    page.locator("input[name=_preview]").click()
                    page.wait_for_load_state()
                    assert page.locator(".rule-preview").is_visible(), (language, viewport["width"])
                if width := scroll_width(page, viewport):
                    wider.append((language, viewport["width"], name, width))
                if name not in ("rule", "admin", "rules", "areas_admin", "sources", "tokens"):
                    small += [(language, viewport["width"], name, *control) for control in page.evaluate(SMALL_CONTROLS)]
                violations += [(language, viewport["width"], name, rule, targets) for rule, targets in axe_violations(axe, page)]
            context.close()
    assert unseen == []
    assert wider == []
    assert small == []
    assert violations == []
