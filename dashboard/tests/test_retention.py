"""The retention table on an area page: a real table with a caption, shares with their counts, the
unfinished quarter marked, the data's API links, the rule on "How we count" — and no person named."""

import re
from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.utils import translation

from activities.models import Source
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    the_day_after_sunday,
)
from metrics.engine import metrics_recompute


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    with translation.override("en"):
        yield
    cache.clear()


@pytest.fixture
def support(db):
    """Support: four volunteers start in the first quarter of 2024, three come back in the second; one
    more starts then. The latest week ends on Sunday 2 June 2024, so the second quarter is not over."""
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    area = AreaFactory(slug="support", name="Support", name_de="Hilfe", position=1)
    AreaFactory(slug="events", name="Events", position=2)
    ConversionPointFactory(slug="answer", area=area, source=sumo, types=["sumo.answer.posted"])
    people = [IdentityFactory(value=f"helper-{n}@example.org") for n in range(5)]
    for number, identity in enumerate(people[:4]):
        ActivityFactory(source=sumo, type="sumo.answer.posted", identity=identity, occurred_at=datetime(2024, 2, 1 + number, 12, tzinfo=UTC))
    for identity in people[1:]:
        ActivityFactory(source=sumo, type="sumo.answer.posted", identity=identity, occurred_at=datetime(2024, 5, 30, 12, tzinfo=UTC))
    with the_day_after_sunday():
        metrics_recompute()
        yield


def _table(html: str) -> str:
    return re.search(r'<table class="retention".*?</table>', html, re.S).group(0)


def test_the_area_page_shows_who_stays_as_a_table_with_shares_and_counts(client, support):
    html = client.get("/area/support/").content.decode()
    table = _table(html)
    assert "<caption" in table and "by the quarter they started" in table
    assert re.findall(r'<th scope="col">([^<]*)</th>', table) == ["First contributed", "People", "1 quarter later"]
    rows = re.findall(r"<tr data-start=\"([-0-9]+)\">(.*?)</tr>", table, re.S)
    assert [start for start, _row in rows] == ["2024-01-01", "2024-04-01"]
    first, latest = rows[0][1], rows[1][1]
    assert "Q1 2024" in first and 'data-size="4"' in first and "75 % (3)" in first
    assert "(quarter not over)" in first  # its second quarter is the unfinished one
    assert "Q2 2024" in latest and 'data-size="1"' in latest and "(quarter not over)" in latest
    assert "This quarter is not over: counted up to" in html
    assert "/api/v1/metrics/cohorts/?scope=area%3Asupport&amp;format=csv" in html
    assert 'href="/how-we-count/#cohorts"' in html
    assert "helper-" not in html and "example.org" not in html


def test_an_area_nobody_contributed_to_says_so(client, support):
    html = client.get("/area/events/").content.decode()
    assert 'id="retention"' in html and "Nobody has contributed here yet." in html and "<table class=\"retention\"" not in html


def test_the_table_speaks_the_readers_language(client, support):
    html = client.get("/de/area/support/").content.decode()
    assert 'lang="de"' in html and 'id="retention-table"' in html and "Hilfe" in _table(html)


def test_how_we_count_defines_cohorts_and_links_to_a_retention_table(client, support):
    html = client.get("/how-we-count/").content.decode()
    assert 'id="cohorts"' in html and "calendar quarter" in html
    assert 'href="/area/support/#retention"' in html
