"""The pathways section of an area's page: the run's numbers as an accessible table, in four languages.

Over HTTP: the table holds what the public API gives (volunteers), each first step links its rule
on the page and the definition on "How we count", the last row counts each person once, and no
one is named. In Chromium: the area pages with the section, and "How we count", fit a 360 px phone
and a 1366 px desktop in en, de, fr and es, and axe-core finds nothing against WCAG 2.2 AA.
"""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import translation

from activities.models import Source
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
)
from metrics.engine import metrics_recompute

from .chromium import axe_violations, needs_chromium, scroll_width
from .test_phone import DESKTOP, LANGUAGES, PHONE, _url

SUNDAY = date(2024, 6, 2)


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(hour=12, tzinfo=UTC)


@pytest.fixture
def community(db, settings):
    """Support's first steps: a question (casual) or an answer (active); one asker moved on to Coding."""
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    support = AreaFactory(slug="support", name="Support", name_de="Hilfe")
    coding = AreaFactory(slug="coding", name="Coding", name_de="Programmieren")
    ConversionPointFactory(
        slug="sumo-question", area=support, source=sumo, types=["sumo.question.asked"], level="casual",
        name="Asked a question", name_de="Eine Frage gestellt",
    )
    ConversionPointFactory(
        slug="sumo-answer", area=support, source=sumo, types=["sumo.answer.posted"], name="Answered a question"
    )
    ConversionPointFactory(slug="pr", area=coding, source=github, types=["github.pr.opened"], name="Pull request")

    def contribute(identity, source, kind, days_before):
        ActivityFactory(source=source, type=kind, identity=identity, occurred_at=at(SUNDAY - timedelta(days=days_before)))

    asker, mover, helper = (
        IdentityFactory(person=PersonFactory(display_name=name)) for name in ("Ada Asker", "Mo Mover", "Hal Helper")
    )
    staff = IdentityFactory(person=PersonFactory(display_name="Sam Staff", staff_periods=True))
    contribute(asker, sumo, "sumo.question.asked", 30)
    contribute(asker, sumo, "sumo.answer.posted", 16)  # 2 weeks later
    contribute(mover, sumo, "sumo.question.asked", 500)
    contribute(mover, sumo, "sumo.answer.posted", 490)  # 1 week later
    contribute(mover, github, "github.pr.opened", 10)  # left Support, active in Coding
    contribute(helper, sumo, "sumo.answer.posted", 3)
    contribute(staff, sumo, "sumo.answer.posted", 3)
    metrics_recompute()
    yield
    cache.clear()


def _cells(html: str, first_cell: str) -> list[str]:
    """The text of each cell of the table row whose first cell holds `first_cell`."""
    row = re.search(r"<tr><th scope=\"row\">(?:(?!</tr>).)*" + re.escape(first_cell) + r"(?:(?!</tr>).)*</tr>", html, re.S)
    assert row, first_cell
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row.group(0), re.S)]


def test_the_area_page_shows_its_pathways_as_the_api_gives_them(client, community):
    html = client.get("/area/support/").content.decode()
    section = html[html.index('<section id="pathways"') : html.index("</section>", html.index('<section id="pathways"'))]
    assert "<caption" in section and 'scope="col"' in section and "<tfoot>" in section
    assert 'href="/how-we-count/#pathways"' in section
    assert 'href="#cp-sumo-question"' in section and 'id="cp-sumo-question"' in html
    assert _cells(section, "Asked a question") == ["2", "2 (100 %)", "1.5", "0 (0 %)", "–nobody yet", "1 (50 %)", "Coding 1", "0"]
    assert _cells(section, "Answered a question") == ["1", "1 (100 %)", "0", "0 (0 %)", "–nobody yet", "0 (0 %)", "0", "0"]
    assert _cells(section, "Every first step") == ["3", "3 (100 %)", "1", "0 (0 %)", "–nobody yet", "1 (33 %)", "Coding 1", "0"]
    api = client.get("/api/v1/metrics/pathways/", {"area": "support"}).json()
    assert api["total"]["entered"] == 3 and api["entry_points"][0]["median_weeks_to_active"] == 1.5  # (1 + 2) / 2
    assert 'href="/api/v1/metrics/pathways/?area=support&amp;format=csv"' in section


def test_no_one_is_named_and_staff_are_left_out(client, community):
    html = client.get("/area/support/").content.decode()
    for name in ("Ada", "Mo Mover", "Hal", "Sam", "user"):
        assert name not in html


@pytest.mark.parametrize("language", ["de", "fr", "es"])
def test_the_section_is_there_in_every_language(client, community, language):
    response = client.get(f"/{language}/area/support/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pathways-title"' in html and f'href="/{language}/how-we-count/#pathways"' in html
    if language == "de":
        assert "Eine Frage gestellt" in html and "Programmieren" in html and "<td>1,5</td>" in html
    translation.activate("en")


def test_an_area_nobody_entered_says_so(client, community):
    AreaFactory(slug="empty", name="Empty")
    metrics_recompute()
    html = client.get("/area/empty/").content.decode()
    assert 'id="pathways-title"' in html and "<table class=\"pathways\"" not in html


@needs_chromium
def test_area_pages_with_pathways_fit_the_screen_and_pass_axe(demo_site, browser):
    axe = pytest.importorskip("axe_playwright_python.sync_playwright", reason="in requirements-dev.txt").Axe()
    wider, violations = [], []
    for language, locale in LANGUAGES.items():
        for viewport in (PHONE, DESKTOP):
            context = browser.new_context(locale=locale, viewport=viewport, bypass_csp=True)
            page = context.new_page()
            for path in ("/area/support/#pathways", "/area/qa/", "/how-we-count/#pathways"):
                page.goto(_url(demo_site, language, path))
                if "/area/" in path:
                    assert page.locator("table.pathways tbody tr").count() >= 1, (language, path)
                if width := scroll_width(page, viewport):
                    wider.append((language, viewport["width"], path, width))
                violations += [(language, viewport["width"], path, rule, targets) for rule, targets in axe_violations(axe, page)]
            context.close()
    assert wider == []
    assert violations == []
