"""The area page and the home with a goal plan and campaigns, in Chromium: 360 px and 1366 px, four languages.

Over the seeded demo, its Support area given a target date and two campaigns (one over, one in
progress, one of them named with markup): no page is wider than the screen, chart labels (the
campaigns' numbers included) are drawn at 11 px or more, and axe-core finds nothing against WCAG 2.2 AA.
"""

from datetime import timedelta

import pytest
from django.core.cache import cache

from conversion_points.contributions import today_utc
from conversion_points.models import Area, Campaign
from metrics.engine import metrics_recompute

from .chromium import axe_violations, needs_chromium, scroll_width
from .test_phone import DESKTOP, LABEL_SIZES, LANGUAGES, PHONE, _url

pytestmark = needs_chromium

PAGES = ["/", "/area/support/", "/how-we-count/"]


@pytest.fixture
def planned_site(demo_site):
    today = today_utc()
    support = Area.objects.get(slug="support")
    support.target = support.target or 500
    support.target_date = today + timedelta(days=180)
    support.save(update_fields=["target", "target_date"])
    over = Campaign.objects.create(
        slug="spring-push",
        name_en="<b>Spring</b> push for answers in every locale",
        name_de="Frühjahrsaktion für Antworten in allen Sprachen",
        start=today - timedelta(days=70),
        end=today - timedelta(days=42),
    )
    over.areas.add(*Area.objects.all()[:2])
    running = Campaign.objects.create(slug="now", name_en="Now", start=today - timedelta(days=10), end=today + timedelta(days=20))
    running.areas.add(support)
    metrics_recompute()
    cache.clear()
    return demo_site


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_goal_plans_and_campaigns_fit_the_screen_and_pass_axe(planned_site, browser, language):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="in requirements-dev.txt")
    axe = axe_module.Axe()
    wider, small_labels, violations, missing = [], [], [], []
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(locale=LANGUAGES[language], viewport=viewport, bypass_csp=True)
        page = context.new_page()
        for path in PAGES:
            page.goto(_url(planned_site, language, path))
            if path != "/how-we-count/" and (page.locator("#campaigns-title").count() != 1 or page.locator("svg:visible .campaign").count() < 1):
                missing.append((viewport["width"], path, "campaigns"))
            if path == "/area/support/" and page.locator("#plan-title").count() != 1:
                missing.append((viewport["width"], path, "plan"))
            if width := scroll_width(page, viewport):
                wider.append((viewport["width"], path, width))
            for text, size, height in page.evaluate(LABEL_SIZES):
                if size < 11 or height < 11:
                    small_labels.append((viewport["width"], path, text, round(size, 1), round(height, 1)))
            violations += [(viewport["width"], path, rule, targets) for rule, targets in axe_violations(axe, page)]
        context.close()
    assert missing == []
    assert wider == []
    assert small_labels == []
    assert violations == []
