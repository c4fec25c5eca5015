"""Any date, any range: the home, area and source pages as of a chosen day, the chart over chosen weeks.

Written as a visitor who shares a link (the choice is in the address, links between pages keep it)
and as one who types anything into that address: whatever they type, the page answers, says what
was wrong, and falls back to today's numbers and every week — never an error page.
"""

import re
from datetime import date, timedelta

import pytest
from django.core.cache import cache

from activities.models import Source
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    at,
    the_day_after_sunday,
)
from dashboard import views
from metrics.engine import metrics_recompute
from metrics.selectors import SummaryBusy

SUNDAY = date(2024, 6, 2)  # the latest complete week; "today" is the Monday after (the_day_after_sunday)
WINTER = date(2024, 1, 7)  # a Sunday: only Ann is active (her answer of May 2023)
WEDNESDAY = date(2024, 3, 6)  # not a Sunday: Ann, and Ben since his first PR the day before


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def computed(db):
    """Support (SUMO) and Coding (GitHub). Ann answered in May 2023 and has lapsed by SUNDAY; Ben opened a
    PR on 5 March 2024; Cat answered on 29 May 2024. Counted on the Monday after SUNDAY."""
    with the_day_after_sunday():
        sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
        github = Source.objects.create(slug="github", kind="github", name="GitHub")
        support = AreaFactory(slug="support", name="Support", name_de="Hilfe", target=10, position=1)
        coding = AreaFactory(slug="coding", name="Coding", position=2)
        ConversionPointFactory(slug="sumo-answer", area=support, source=sumo, types=["sumo.answer.posted"])
        ConversionPointFactory(slug="pr", area=coding, source=github, types=["github.pr.opened"], level="core")
        ann, ben, cat = IdentityFactory(value="ann-helper"), IdentityFactory(value="ben-coder"), IdentityFactory()
        ActivityFactory(source=sumo, type="sumo.answer.posted", identity=ann, occurred_at=at(date(2023, 5, 1)))
        ActivityFactory(source=github, type="github.pr.opened", identity=ben, occurred_at=at(date(2024, 3, 5)))
        ActivityFactory(source=sumo, type="sumo.answer.posted", identity=cat, occurred_at=at(date(2024, 5, 29)))
        run = metrics_recompute()
        yield run


def big_number(html: str) -> str:
    return re.search(r'class="big-number"><a [^>]*>([^<]*)</a>', html).group(1)


def scope_active(html: str) -> str:
    return re.search(r'class="figure big"><a [^>]*>([^<]*)</a>', html).group(1)


def chart_weeks(html: str) -> list[str]:
    table = re.search(r'<table id="chart-[a-z]+-table".*?</table>', html, re.S).group(0)
    return re.findall(r'<tr data-date="([0-9-]+)">', table)


def test_the_home_page_as_of_a_past_sunday_shows_that_days_numbers_and_says_so(client, computed):
    html = client.get("/").content.decode()
    assert big_number(html) == "2"  # Ben and Cat; Ann lapsed

    html = client.get(f"/?date={WINTER}").content.decode()
    assert big_number(html) == "1"  # Ann only
    assert "The numbers as of Jan. 7, 2024: active in the 12 months up to that day" in html
    assert "volunteer contributed in the 12 months up to Jan. 7, 2024" in html
    # The form shows the choice, so the address can be changed and shared.
    assert f'name="date" min="1970-01-01" max="2024-06-03" value="{WINTER}"' in html
    # The chart ends with that week, without the projection (it starts from today).
    assert chart_weeks(html)[0] == str(WINTER)
    assert "Drop-off projection" not in html and 'id="chart-all-projection"' not in html
    # The API links give the same numbers: the summary of that day, the series up to that week.
    assert f"/api/v1/metrics/summary/?date={WINTER}&amp;format=csv" in html
    assert f"/api/v1/metrics/series/?scope=all&amp;end={WINTER}" in html


@pytest.mark.parametrize("day", [WINTER, WEDNESDAY, SUNDAY, SUNDAY + timedelta(days=1), date(2020, 2, 29)])
def test_every_page_as_of_a_day_agrees_with_the_summary_api(client, computed, day):
    with the_day_after_sunday():
        summary = client.get(f"/api/v1/metrics/summary/?date={day}").json()
        home = client.get(f"/?date={day}").content.decode()
        support = client.get(f"/area/support/?date={day}").content.decode()
        github = client.get(f"/source/github/?date={day}").content.decode()
    assert big_number(home) == str(summary["active"])
    areas = {area["slug"]: area for area in summary["areas"]}
    sources = {source["slug"]: source for source in summary["sources"]}
    assert scope_active(support) == str(areas["support"]["active"])
    assert scope_active(github) == str(sources["github"]["active"])
    assert re.search(rf'#new">{areas["support"]["new"]}</a>', support)


def test_a_day_that_is_not_a_sunday_is_counted_like_the_api_and_weekly_figures_name_their_week(client, computed):
    with the_day_after_sunday():
        html = client.get(f"/area/coding/?date={WEDNESDAY}").content.decode()
    assert scope_active(html) == "1" and re.search(r'#new">1</a>', html)  # Ben's PR the day before
    assert "in the 12 months up to March 6, 2024" in html
    assert "Lapsed, levels and each rule’s count are of the week ending March 3, 2024." in html
    # The rule's count is of that week: Ben's PR of 5 March falls in the week ending 10 March.
    assert "People this rule counted in the last 12 months: 0" in html


def test_a_day_before_the_first_contribution_counts_zeros_like_the_api(client, computed):
    response = client.get("/area/support/?date=1999-01-03")
    html = response.content.decode()
    assert response.status_code == 200
    assert scope_active(html) == "0" and 'role="alert"' not in html
    assert client.get("/?date=1999-01-03").status_code == 200


def test_the_chart_shows_the_chosen_weeks_and_the_address_keeps_them(client, computed):
    html = client.get("/source/sumo/?start=2024-01-01&end=2024-02-29").content.decode()
    weeks = chart_weeks(html)
    assert weeks[0] == "2024-02-25" and weeks[-1] == "2024-01-07" and len(weeks) == 8
    assert "The chart shows the weeks from Jan. 1, 2024 to Feb. 29, 2024." in html
    assert "/api/v1/metrics/series/?scope=source%3Asumo&amp;start=2024-01-01&amp;end=2024-02-29" in html
    # The figures stay the latest week's: only the chart's weeks were chosen.
    assert scope_active(html) == "1"
    # A start alone reaches the latest week, with the projection after it.
    html = client.get("/?start=2024-05-01").content.decode()
    assert chart_weeks(html)[0] == str(SUNDAY) and chart_weeks(html)[-1] == "2024-05-05"
    assert 'id="chart-all-projection"' in html


def test_links_between_pages_keep_the_chosen_day_and_range(client, computed):
    query = f"?date={WINTER}&amp;start=2023-06-01&amp;end=2024-01-31"
    home = client.get(f"/?date={WINTER}&start=2023-06-01&end=2024-01-31").content.decode()
    assert f'href="/area/support/{query}"' in home and f'href="/source/github/{query}#rules"' in home
    area = client.get(f"/de/area/support/?date={WINTER}&start=2023-06-01&end=2024-01-31").content.decode()
    assert f'href="/de/{query}"' in area  # the breadcrumb back to everyone
    # The language links keep it too (they show the same address in another language).
    assert "next=%2Ffr%2Farea%2Fsupport%2F%3Fdate%3D2024-01-07" in area


HOSTILE_DAYS = [
    "2024-13-45",
    "yesterday",
    "2024-6-1",
    "０２０２４-01-01",
    "2024-01-01\x00",
    "2024-01-01'--",
    "0001-01-01",
    "1969-12-31",
    "9999-12-31",
    "2024-06-04",  # tomorrow
    "1" * 5000,
]


@pytest.mark.parametrize("value", HOSTILE_DAYS)
@pytest.mark.parametrize("path", ["/", "/area/support/", "/source/sumo/"])
def test_a_day_baloo_cannot_use_is_explained_and_the_page_is_as_of_today(client, computed, path, value):
    with the_day_after_sunday():
        today = client.get(path).content.decode()
        response = client.get(path, {"date": value})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in html and "so the numbers are as of today" in html
    figure = big_number if path == "/" else scope_active
    assert figure(html) == figure(today)
    assert 'name="date" min="1970-01-01" max="2024-06-03" value=""' in html
    # What was typed is not written back into the page (the language links keep it, URL-encoded).
    main = re.search(r"<main.*</main>", html, re.S).group(0)
    assert "\x00" not in main and "1111111111" not in main and "'--" not in main


@pytest.mark.parametrize(
    "start, end, says",
    [
        ("2024-02-01", "2024-01-01", "ends before it starts"),
        ("1990-01-01", "2024-01-01", "longer than 20 years"),
        ("1990-01-01", "", "longer than 20 years"),
        ("someday", "2024-01-01", "is not a date written YYYY-MM-DD"),
        ("2024-01-01", "9999-12-31", "reaches a day that has not happened yet"),
        ("0001-01-01", "2024-01-01", "starts before"),
        ("2024-01-01", "2024-01-01\u202e", "is not a date written YYYY-MM-DD"),
    ],
)
def test_a_range_baloo_cannot_use_is_explained_and_the_chart_shows_every_week(client, computed, start, end, says):
    every_week = chart_weeks(client.get("/area/support/").content.decode())
    response = client.get("/area/support/", {"start": start, "end": end})
    html = response.content.decode()
    assert response.status_code == 200
    assert says in html and "so the chart shows every week" in html
    assert chart_weeks(html) == every_week


def test_a_parameter_given_twice_counts_by_its_last_value(client, computed):
    html = client.get(f"/?date=garbage&date={WINTER}").content.decode()
    assert big_number(html) == "1" and 'role="alert"' not in html


def test_an_empty_form_is_the_default_page_without_a_message(client, computed):
    response = client.get("/area/support/?date=&start=&end=")
    html = response.content.decode()
    assert response.status_code == 200 and 'role="alert"' not in html and "Back to today" not in html
    assert scope_active(html) == scope_active(client.get("/area/support/").content.decode())


def test_while_another_day_is_counted_the_page_is_as_of_today_and_says_so(client, computed, monkeypatch):
    def busy(**kwargs):
        raise SummaryBusy()

    monkeypatch.setattr(views, "summary_counts", busy)
    cache.clear()
    html = client.get(f"/?date={WEDNESDAY}").content.decode()
    assert "Another day’s numbers are being counted right now" in html
    assert big_number(html) == "2"


@pytest.mark.parametrize("query", ["?date=2024-01-03", "?start=2024-01-01", "?end=2024-03-01", "?start=2024-01-01&end=2024-02-01"])
def test_a_dated_or_ranged_page_counts_against_the_public_api_limit(query):
    """A page as of a chosen day counts on demand as the summary API would: it is limited like it, so
    stepping through days cannot keep the counting busy for everyone."""
    from django.test import RequestFactory

    from baloo_site.security import rate_scope

    for path in ("/", "/area/support/", "/de/source/sumo/"):
        assert rate_scope(RequestFactory().get(path + query)) == "public_api"
    assert rate_scope(RequestFactory().get("/area/support/")) is None
