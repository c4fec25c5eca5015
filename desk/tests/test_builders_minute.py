"""The builder's minute, end to end in a real browser (issue #18, "Done when").

A community builder signed in with only their area's role (the builder group, owner of one area,
nothing else), on a phone (360 px) and a desktop (1366 px), in English and German:

1. opens the desk from the admin index and sees this week's new and about-to-lapse people of their
   area, and no one of another area;
2. adds a conversion point to their area by ticking an activity type seen in the source and taking
   a container from the suggestions: no JSON typed anywhere;
3. previews it and sees the area's active count before → after and who the rule adds, as
   information, with no error note;
4. saves it and is told so.

The wall time of each journey is printed, never asserted (performance belongs in bench/).
Skipped when /usr/bin/chromium is absent. Playwright drives the system browser; it never downloads one.
"""

import time
from datetime import UTC, date, datetime, timedelta
from itertools import count

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext
from pytest_django.live_server_helper import LiveServer

from accounts.roles import BUILDER
from accounts.services import user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.contributions import today_utc
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import conversion_points_approve
from dashboard.tests.chromium import needs_chromium
from desk.forms import latest_complete_sunday

FORUM = "sumo.forum.posted"
CONTAINER = "firefox::de"

pytestmark = needs_chromium


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def builders_week() -> dict:
    """Support (SUMO answers, approved) owned by one builder; Coding (GitHub pull requests) by another.

    In the latest complete week (ending W): Nina is new, Lars about to lapse (last answer 340 days
    before W), Olga simply active; Gus contributes to Coding only. Rita answered long ago (lapsed,
    so the builder may read her) and posts in the German Firefox forum; Hank only posts there. A rule
    for forum posts in `firefox::de` makes the area's active count 3 → 5, adding Rita (named) and Hank
    (not named: the builder's approved rules never showed him).
    """
    week = latest_complete_sunday()
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    support = Area.objects.create(slug="support", name="Support")
    coding = Area.objects.create(slug="coding", name="Coding")
    support.sources.add(sumo)
    coding.sources.add(github)
    answer = ConversionPoint.objects.create(area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name="Answered")
    pr = ConversionPoint.objects.create(area=coding, slug="gh-pr", source=github, types=["github.pull_request.opened"], name="Opened a PR")
    conversion_points_approve(points=[answer, pr], by=None)
    User = get_user_model()
    builder = User.objects.create_user("builder", "builder@example.org")
    other_builder = User.objects.create_user("other-builder", "other@example.org")
    user_roles_apply(user=builder, roles={BUILDER})
    user_roles_apply(user=other_builder, roles={BUILDER})
    support.owners.add(builder)
    coding.owners.add(other_builder)
    numbers = count()

    def person(name: str, *did: tuple[Source, str, int, str]) -> Person:
        p = Person.objects.create(display_name=name)
        identity = Identity.objects.create(person=p, kind="email", value=f"{name.lower()}@example.org")
        for source, kind, days_before, container in did:
            Activity.objects.create(
                source=source, external_id=f"a{next(numbers)}", type=kind, occurred_at=_at(week - timedelta(days=days_before)),
                identity=identity, container=container,
            )
        return p

    person("Nina Neuling", (sumo, "sumo.answer.posted", 2, ""))
    person("Lars Letzter", (sumo, "sumo.answer.posted", 340, ""))
    person("Olga Ofter", (sumo, "sumo.answer.posted", 100, ""))
    person("Gus Gitter", (github, "github.pull_request.opened", 3, "mozilla/kitsune"))
    person("Rita Rückkehr", (sumo, "sumo.answer.posted", 400, ""), (sumo, FORUM, 3, CONTAINER))
    person("Hank Hidden", (sumo, FORUM, 4, CONTAINER), (sumo, FORUM, 5, "thunderbird::fr"))
    return {"builder": builder, "support": support, "week": week}


@pytest.fixture
def builders_site(transactional_db, settings, monkeypatch):
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = ["localhost"]
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    world = builders_week()
    client = Client()
    client.force_login(world["builder"])
    server = LiveServer("localhost")
    yield server.url, client.cookies[django_settings.SESSION_COOKIE_NAME].value, world
    server.stop()
    cache.clear()


# Each click that loads a page is awaited with `expect_navigation`: `wait_for_load_state` alone may
# answer for the page still shown, before the next one arrives.


def _status_of(page, name: str) -> list[str]:
    """The status classes of the desk's row for `name` (empty when the row is not there)."""
    row = page.locator("table.desk-table tbody tr", has=page.locator("th", has_text=name))
    return [cls for cls in " ".join(row.locator(".desk-status").evaluate_all("els => els.map(e => e.className)")).split() if cls != "desk-status"]


@pytest.mark.parametrize("width", [360, 1366])
@pytest.mark.parametrize("language", ["en", "de"])
def test_a_builder_sees_their_week_and_adds_a_rule_in_a_minute(builders_site, browser, width, language):
    url, session, world = builders_site
    context = browser.new_context(viewport={"width": width, "height": 800}, locale=language)
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": url}])
    page = context.new_page()
    page.set_default_timeout(10_000)
    prefix = "" if language == "en" else f"/{language}"  # English pages have no prefix
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    started = time.monotonic()

    # 1. The desk, from the admin index: this week's new and about-to-lapse people of Support, no one of Coding.
    page.goto(f"{url}{prefix}/admin/")
    with page.expect_navigation():
        page.locator("#builders-desk a").click()
    assert page.url.startswith(f"{url}{prefix}/desk/area/support/"), page.url
    assert page.locator("html").get_attribute("lang") == language
    assert _status_of(page, "Nina Neuling") == ["desk-status-new"]
    assert _status_of(page, "Lars Letzter") == ["desk-status-about_to_lapse"]
    assert _status_of(page, "Olga Ofter") == ["desk-status-active"]
    for stranger in ("Gus Gitter", "Hank Hidden", "Rita Rückkehr"):
        assert page.get_by_text(stranger).count() == 0, stranger
    with translation.override(language):
        drops_out = date_format(world["week"] - timedelta(days=340) + timedelta(days=365), "DATE_FORMAT")
    assert drops_out in page.locator("table.desk-table tbody tr", has=page.locator("th", has_text="Lars Letzter")).inner_text()

    # 2. Back to the admin, add a conversion point: choose, tick, take a suggestion; no JSON typed.
    page.goto(f"{url}{prefix}/admin/")
    with page.expect_navigation():
        page.locator("a[href$='/admin/conversion_points/conversionpoint/add/']").first.click()
    page.locator("#id_area").select_option(label="Support")
    page.locator("#id_source").select_option(label="SUMO")
    page.locator("#id_slug").fill("forum-de")
    page.locator("#id_name_en").fill("Answered in the German forum")
    page.locator("#id_name_de").fill("Im deutschen Forum geantwortet")
    boxes = page.locator("input[type=checkbox][name=types]")
    assert sorted(boxes.evaluate_all("els => els.map(e => e.value)")) == ["sumo.answer.posted", FORUM]
    page.locator(f"input[type=checkbox][name=types][value='{FORUM}']").check()
    suggestions = page.locator("#id_container_suggestions option").evaluate_all("els => els.map(e => e.value)")
    assert suggestions[0] == CONTAINER, suggestions
    page.locator("#id_container").fill(suggestions[0])
    assert page.locator("#id_types_other").input_value() == ""

    # 3. Preview: information, the area's count before → after, and who it adds.
    with page.expect_navigation():
        page.locator("input[name=_preview]").click()
    assert page.locator(".errornote").count() == 0
    assert page.locator(".errorlist").count() == 0
    assert page.locator("html").get_attribute("lang") == language
    preview = page.locator(".rule-preview")
    assert preview.is_visible()
    with translation.override(language):
        expected = gettext(
            "Active contributors in “%(area)s” as of %(day)s: %(before)s now, %(after)s with this rule as written."
        ) % {"area": str(world["support"]), "day": date_format(today_utc()), "before": "3", "after": "5"}
    text = preview.inner_text()
    assert expected in text, text
    assert preview.locator("li", has_text="Rita Rückkehr").count() == 1
    assert "Hank" not in text and "hank@" not in text  # the builder's approved rules never showed him
    assert not ConversionPoint.objects.filter(slug="forum-de").exists()  # nothing saved yet

    # 4. Save, and be told so.
    with page.expect_navigation():
        page.locator("input[name=_save]").click()
    assert page.locator(".messagelist .success").count() == 1, page.locator(".messagelist").inner_text()
    point = ConversionPoint.objects.get(slug="forum-de")
    assert (point.area, point.types, point.container, point.is_approved) == (world["support"], [FORUM], CONTAINER, False)
    if width == 360:
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    elapsed = time.monotonic() - started
    print(f"the builder's minute, {language} at {width} px: {elapsed:.1f} s")
    assert problems == []
    context.close()
