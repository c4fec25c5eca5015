"""Goal plans and campaigns on the public pages: plain sentences with the numbers, linked to their rule,
campaigns shaded on the charts with a text alternative, and nothing a builder typed ever run as markup."""

from datetime import date

import pytest
from django.core.cache import cache
from django.utils import translation

from activities.models import Source
from conversion_points.models import Campaign
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    noon,
    the_day_after_sunday,
)
from metrics.engine import metrics_recompute

pytestmark = pytest.mark.django_db

# SUNDAY is 2024-06-02; pages are read the Monday after.
FIRSTS = [date(2024, 2, 14), date(2024, 3, 3), date(2024, 4, 2), date(2024, 5, 7), date(2024, 5, 8), date(2024, 5, 15),
          date(2024, 5, 20), date(2024, 6, 1)]
HOSTILE = '<img src=x onerror="alert(1)">Spring'


@pytest.fixture
def site(settings):
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    with the_day_after_sunday(), translation.override("en"):
        sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
        support = AreaFactory(slug="support", name="Support", target=40, target_date=date(2024, 9, 1), position=1)
        l10n = AreaFactory(slug="l10n", name="Localization", target=1, target_date=date(2024, 5, 1), position=2)
        ConversionPointFactory(slug="answer", area=support, source=sumo, types=["sumo.answer.posted"])
        ConversionPointFactory(slug="translate", area=l10n, source=sumo, types=["sumo.translation.done"])
        for day in FIRSTS:
            ActivityFactory(source=sumo, type="sumo.answer.posted", identity=IdentityFactory(), occurred_at=noon(day))
        ActivityFactory(source=sumo, type="sumo.translation.done", identity=IdentityFactory(), occurred_at=noon(date(2024, 4, 1)))
        push = Campaign.objects.create(slug="may-push", name_en=HOSTILE, name_de="Mai-Aktion", start=date(2024, 5, 6), end=date(2024, 5, 19))
        push.areas.add(support, l10n)
        june = Campaign.objects.create(slug="june", name_en="June", start=date(2024, 5, 27), end=date(2024, 6, 16))
        june.areas.add(support)
        metrics_recompute()
        yield
    cache.clear()


def page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_the_area_page_says_what_the_goal_needs_in_plain_sentences(client, site):
    html = page(client, "/area/support/")

    assert "What the goal needs" in html
    assert "The goal is 40 active contributors by Sept. 1, 2024." in html
    assert "8 of today’s active contributors would still count then." in html
    assert "the area needs 3 new contributors a week for the 13 weeks left" in html
    assert "In the last 12 weeks, 6 new contributors joined: 0.5 a week on average. That pace is not enough yet." in html
    assert 'href="/how-we-count/#goal-plan"' in html


def test_a_passed_target_date_is_said_to_have_passed(client, site):
    html = page(client, "/area/l10n/")

    assert "The target date, May 1, 2024, has passed" in html
    assert "new contributors a week for the" not in html


def test_the_home_gives_each_area_its_plan_briefly(client, site):
    html = page(client, "/")

    assert "by Sept. 1, 2024: 3 new a week needed, 0.5 a week lately" in html
    assert "target date May 1, 2024 passed" in html


def test_campaigns_are_listed_with_new_contributors_during_and_before(client, site):
    html = page(client, "/area/support/")

    assert 'id="campaigns-title"' in html
    assert "May 6, 2024 to May 19, 2024: 2 weeks" in html
    assert "May 27, 2024 to June 16, 2024: in progress, 1 of 3 weeks counted so far (partial)" in html
    # May push: 3 new in its 2 weeks, 3 in the 12 weeks before (0.25 a week, half up); June: 1 in its first week, 5 before.
    assert '<td data-new="3">3 (1.5 a week)</td>' in html and '<td data-new="3">3 (0.3 a week)</td>' in html
    assert '<td data-new="1">1 (1.0 a week)</td>' in html and '<td data-new="5">5 (0.4 a week)</td>' in html
    assert "/api/v1/metrics/campaigns/?area=support&amp;format=csv" in html


def test_campaigns_are_shaded_on_the_chart_with_a_legend_and_a_table_column(client, site):
    html = page(client, "/area/support/")

    assert html.count('class="campaign"') == 4  # two campaigns, on the wide and the narrow chart
    assert "Band 1: the campaign" in html and "Band 2: the campaign “June”, May 27, 2024 to June 16, 2024" in html
    assert "<th scope=\"col\">Campaign</th>" in html
    assert "<td>2. June</td>" in html
    home = page(client, "/")
    assert home.count('class="campaign"') == 4


def test_a_campaign_name_with_markup_is_shown_as_text_everywhere(client, site):
    for path in ("/", "/area/support/", "/area/l10n/"):
        html = page(client, path)
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;Spring" in html


def test_the_sentences_speak_the_readers_language(client, site):
    html = page(client, "/de/area/support/")

    # The campaign's own name in German, dates and numbers in German forms (the sentences' German is the catalogue's).
    assert "Mai-Aktion" in html and HOSTILE not in html
    assert "1. September 2024" in html and "0,5" in html


def test_a_page_without_campaigns_or_a_target_date_shows_neither(client, site):
    Campaign.objects.all().delete()
    with the_day_after_sunday():
        metrics_recompute()
    cache.clear()

    html = page(client, "/source/sumo/")

    assert 'class="campaign"' not in html and "What the goal needs" not in html and 'id="campaigns-title"' not in html
