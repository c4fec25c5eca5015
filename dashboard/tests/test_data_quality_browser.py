"""The data quality page in Chromium, on a 360 px phone and a 1366 px desktop, in the four languages:
no sideways scroll and nothing axe-core finds against WCAG 2.2 AA (as test_phone.py does for the
other public pages), over the seeded demo plus a sync history with rejections and the systems' own
totals, so every part of the page is drawn."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from activities.models import RejectedItem, Source, SyncRun, SyncState

from .chromium import axe_violations, needs_chromium, scroll_width
from .test_phone import DESKTOP, LANGUAGES, PHONE, _url

pytestmark = needs_chromium


def _history() -> None:
    """Runs, rejections and totals for the demo's sources, one fed by import, one never synced."""
    now = timezone.now()
    sources = list(Source.objects.order_by("slug"))
    for index, source in enumerate(sources):
        if index == 0:
            continue  # never synced
        for hours in (1, 7, 30):
            started = now - timedelta(hours=hours + index)
            SyncRun.objects.create(source=source, started_at=started, finished_at=started + timedelta(minutes=3),
                                   status=SyncRun.Status.FAILED if hours == 1 else SyncRun.Status.SUCCEEDED,
                                   rejected=3, rejected_reasons={"deleted account": 2, "malformed record": 1})
        RejectedItem.objects.create(source=source, external_id="x:1", reason="deleted account")
        SyncState.objects.update_or_create(source=source, defaults={"source_totals": {
            "question": {"reported": 123456, "stored": 120000, "rejected": 456, "at": now.isoformat()},
            "bug": {"reported": 9876543, "stored": 9876000, "rejected": 12, "at": now.isoformat()},
        }})
    Source.objects.create(slug="git-history-of-a-long-named-repository", kind="events", name="A git history with a rather long name")
    Source.objects.filter(slug=sources[-1].slug).update(enabled=False)
    cache.clear()


@pytest.mark.parametrize("language", list(LANGUAGES))
def test_the_data_quality_page_fits_the_screen_and_passes_axe(demo_site, browser, language):
    axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="in requirements-dev.txt")
    axe = axe_module.Axe()
    _history()
    wider, violations = [], []
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(locale=LANGUAGES[language], viewport=viewport, bypass_csp=True)
        page = context.new_page()
        page.goto(_url(demo_site, language, "/data-quality/"))
        assert page.locator("main h1").count() == 1
        assert page.locator(".quality-source").count() >= 3
        if width := scroll_width(page, viewport):
            wider.append((viewport["width"], width))
        violations += [(viewport["width"], rule, targets) for rule, targets in axe_violations(axe, page)]
        context.close()
    assert wider == []
    assert violations == []
