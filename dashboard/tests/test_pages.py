"""The public dashboard over HTTP: numbers from the snapshots, languages, rules, CSP, cache, weight."""

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import translation

from activities.models import Source
from conversion_points.models import Population
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
    the_day_after_sunday,
)
from dashboard import selectors
from dashboard.charts import NARROW, weekly_chart
from dashboard.templatetags.dashboard import count
from metrics.engine import metrics_recompute

SUNDAY = date(2024, 6, 2)


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(hour=12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
    cache.clear()
    # A request leaves its language active; translated fields given without a language need English.
    with translation.override("en"):
        yield
    cache.clear()


def community():
    """Two areas sharing one person; a casual rule; a staff member and a bot who never count."""
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    support = AreaFactory(slug="support", name="Support", name_de="Hilfe", target=400, position=1)
    coding = AreaFactory(slug="coding", name="Coding", name_de="Programmieren", target=100, position=2)
    ConversionPointFactory(
        slug="sumo-answer",
        area=support,
        source=sumo,
        types=["sumo.answer.posted"],
        name="Answered a question",
        name_de="Eine Frage beantwortet",
        recognition="Thank you for helping someone out!",
        recognition_de="Danke, dass du jemandem weitergeholfen hast!",
    )
    ConversionPointFactory(
        slug="sumo-comment", area=support, source=sumo, types=["sumo.comment.posted"], level="casual", name="Commented"
    )
    ConversionPointFactory(
        slug="pr",
        area=coding,
        source=github,
        types=["github.pr.opened"],
        container="mozilla/*",
        level="core",
        name="Opened a PR",
    )
    ann = IdentityFactory(value="ann-the-helper", person=PersonFactory(display_name="Ann Secretname"))
    ben = IdentityFactory(value="ben-the-coder")
    cat = IdentityFactory(value="cat-casual")
    staff = IdentityFactory(person=PersonFactory(staff_periods=True, display_name="Sam Staff"))
    bot = IdentityFactory(value="robot[bot]", person=PersonFactory(is_bot=True))
    ActivityFactory(source=sumo, type="sumo.answer.posted", identity=ann, occurred_at=at(SUNDAY - timedelta(days=300)))
    ActivityFactory(source=github, type="github.pr.opened", container="mozilla/a", identity=ann, occurred_at=at(SUNDAY))
    ActivityFactory(
        source=github,
        type="github.pr.opened",
        container="mozilla/b",
        identity=ben,
        occurred_at=at(SUNDAY - timedelta(days=100)),
    )
    ActivityFactory(source=github, type="github.pr.opened", container="other/c", identity=cat, occurred_at=at(SUNDAY))
    ActivityFactory(source=sumo, type="sumo.comment.posted", identity=cat, occurred_at=at(SUNDAY - timedelta(days=3)))
    ActivityFactory(source=sumo, type="sumo.answer.posted", identity=staff, occurred_at=at(SUNDAY))
    ActivityFactory(source=github, type="github.pr.opened", container="mozilla/a", identity=bot, occurred_at=at(SUNDAY))
    return metrics_recompute()


@pytest.fixture
def computed(db):
    """`community`, counted on the Monday after SUNDAY (the clock stands still): SUNDAY is the last complete week."""
    with the_day_after_sunday():
        yield community()


def test_home_shows_the_deduplicated_total_the_sum_of_areas_and_the_goal(client, computed):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    # ann (support and coding) and ben (coding): 2 people, 3 in the sum of areas; cat is casual only.
    assert re.search(r'class="big-number"><a [^>]*>2</a>', html)
    assert re.search(r'#sum-of-areas">3</a>', html)
    assert "counts someone who helps in two areas twice" in html
    # The goal is the areas' goals added up when no site goal is set.
    assert re.search(r'#goal">500</a>', html)
    assert "Nov. 22" not in html and "June 2, 2024" in html
    assert "/api/v1/metrics/series/?scope=all&amp;format=csv" in html and "/api/v1/metrics/series/?scope=all" in html


def test_a_site_goal_replaces_the_sum_of_area_goals(client, computed, settings):
    settings.BALOO_SITE_TARGET = 1000
    html = client.get("/").content.decode()
    assert re.search(r'#goal">1,000</a>', html)
    assert "The community’s goal" in html


def test_the_chart_has_one_mark_per_week_then_the_projection_and_a_table(client, computed):
    html = client.get("/").content.decode()
    weeks = selectors.series_points(run=computed, scope="all")
    # The wide chart (the phone's narrow one is drawn beside it, and the stylesheet shows one).
    wide = re.search(r'<svg [^>]*id="chart-all">.*?</svg>', html, re.S).group(0)
    marks = re.findall(r'<g class="mark( mark-projected)?" tabindex="(-?\d)"', wide)
    assert len(marks) == len(weeks) + selectors.PROJECTION_WEEKS
    assert [tab for _projected, tab in marks].count("0") == 1
    table_rows = re.findall(r'<tr data-date="([\d-]+)"><th scope="row">[^<]+</th><td data-active="(\d+)"', html)
    assert dict(table_rows[: len(weeks)]) == {w.date.isoformat(): str(w.active) for w in weeks}
    assert 'class="target target-25"' in html and 'class="target target-100"' in html


def test_projection_starts_from_todays_count_and_empties_within_a_year(computed):
    projection = selectors.dropoff_projection(run=computed, scope="all")
    assert len(projection) == 52
    # ann's last counted contribution is on SUNDAY, ben's 100 days before: ben drops out in week 38.
    assert projection[0].date == SUNDAY + timedelta(days=7)
    assert [p.active for p in projection[:37]] == [2] * 37
    assert projection[37].active == 1 and projection[-1].active == 1
    # ann's support answer, 300 days before SUNDAY, keeps her active in support for 9 more weeks.
    support = selectors.dropoff_projection(run=computed, scope="area:support")
    assert [p.active for p in support[:10]] == [1] * 9 + [0]
    assert selectors.dropoff_projection(run=computed, scope="all", population=Population.EVERYONE)[0].active == 3


def test_projection_starts_from_the_engines_active_count(computed):
    """One last contribution day per person active now: as many as the snapshot counts, in every scope."""
    for population in Population.values:
        for scope in ("all", "area:support", "area:coding", "source:github", "source:sumo"):
            stored = selectors.series_points(run=computed, scope=scope, population=population)
            days = selectors.last_contribution_days(run=computed, scope=scope, population=population)
            assert len(days) == (stored[-1].active if stored else 0), (scope, population)


def test_source_levels_are_counted_like_the_engines_area_levels(computed):
    # Only the coding area uses GitHub: the computed source levels must equal the stored area ones.
    # cat's PR is outside mozilla/* so counts nowhere; sumo holds ann (active) and cat (casual).
    assert selectors.scope_levels(run=computed, scope="source:sumo") == selectors.Levels(casual=1, active=1, core=0)
    assert selectors.scope_levels(run=computed, scope="area:support") == selectors.Levels(casual=1, active=1, core=0)
    assert selectors.scope_levels(run=computed, scope="source:github") == selectors.scope_levels(
        run=computed, scope="area:coding"
    )


def test_area_page_in_german_uses_translated_names_and_writes_out_the_rules(client, computed):
    response = client.get("/de/area/support/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "<h1>Hilfe</h1>" in html
    assert "Eine Frage beantwortet" in html and "Danke, dass du jemandem weitergeholfen hast!" in html
    assert "sumo.answer.posted" in html and 'id="cp-sumo-answer"' in html
    assert "/api/v1/metrics/series/?scope=cp%3Asumo-answer&amp;format=csv" in html
    # Every headline number links to its rule.
    assert re.search(r'href="/de/how-we-count/#levels"', html)


def test_source_page_lists_the_rules_of_every_area_that_uses_it(client, computed):
    html = client.get("/source/github/").content.decode()
    assert "<h1>GitHub</h1>" in html and "Opened a PR" in html and "“mozilla/*”" in html
    assert client.get("/source/nope/").status_code == 404
    assert client.get("/area/nope/").status_code == 404


def test_overlap_page_shows_shared_contributors_and_movement(client, computed):
    html = client.get("/overlap/").content.decode()
    cells = re.findall(r'<td class="(diagonal|heat-\d)" data-count="(\d+)"', html)
    assert cells == [("diagonal", "1"), ("heat-5", "1"), ("heat-5", "1"), ("diagonal", "2")]
    assert "Moved to another area" in html


def test_numbers_are_localized(computed):
    with translation.override("de"):
        assert count(1234567) == "1.234.567"
    with translation.override("en"):
        assert count(1234567) == "1,234,567"


def test_browser_language_picks_the_url_unless_the_reader_chose(client, computed):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-CH, fr;q=0.9, en;q=0.5")
    assert response.status_code == 302 and response["Location"] == "/fr/"
    assert "Accept-Language" in response["Vary"]
    assert client.get("/de/overlap/", HTTP_ACCEPT_LANGUAGE="fr").status_code == 200
    switched = client.get("/language/en/?next=/fr/area/support/")
    assert switched.status_code == 302 and switched["Location"] == "/area/support/"
    assert switched.cookies["django_language"].value == "en"
    assert client.get("/", HTTP_ACCEPT_LANGUAGE="fr").status_code == 200
    assert client.get("/language/de/?next=https://evil.example/").headers["Location"] == "/de/"
    assert client.get("/language/xx/?next=/").status_code == 404


def test_every_page_links_each_language_and_runs_under_a_strict_csp(client, computed):
    for url in ("/", "/de/area/support/", "/fr/source/sumo/", "/es/overlap/", "/how-we-count/"):
        response = client.get(url)
        html = response.content.decode()
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert "style-src 'self'" in response["Content-Security-Policy"]
        assert " style=" not in html and "<style" not in html
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        for code in ("en", "de", "fr", "es"):
            assert f'href="/language/{code}/?next=' in html
        assert len(response.content) < 300_000


def test_pages_are_drawn_once_per_run_and_language(client, computed, django_assert_max_num_queries):
    client.get("/area/support/")
    with django_assert_max_num_queries(1):  # the latest run; the rest comes from the cache
        client.get("/area/support/")
    fresh = metrics_recompute()
    assert fresh.pk != computed.pk
    assert client.get("/area/support/").status_code == 200


def test_before_the_first_recompute_the_pages_say_so(client, db):
    response = client.get("/")
    assert response.status_code == 200
    assert "have not been computed yet" in response.content.decode()


def test_source_levels_take_one_counting_query_and_keep_each_level_apart(computed, django_assert_num_queries):
    """Casual, active and core people of a source, counted in one aggregate; a glob matching nothing adds nobody."""
    matrix = Source.objects.create(slug="matrix", kind="matrix", name="Matrix")
    area = AreaFactory(slug="chat", name="Chat", position=3)
    for slug, types, container, level in [
        ("said-hello", ["matrix.message.sent"], "*", "casual"),
        ("helped", ["matrix.answer.sent"], "#support:*", "active"),
        ("moderated", ["matrix.ban.issued"], "", "core"),
        ("never", ["matrix.message.sent"], "[z-a]", "core"),
    ]:
        ConversionPointFactory(slug=slug, area=area, source=matrix, types=types, container=container, level=level)
    casual, both, core, staff, bot, old = (IdentityFactory() for _ in range(6))
    staff.person.staff_periods.create(origin="admin")  # staff since always
    bot.person.is_bot = True
    bot.person.save()
    for identity, activity_type, container, day in [
        (casual, "matrix.message.sent", "#random:x", SUNDAY),
        (both, "matrix.message.sent", "#random:x", SUNDAY),
        (both, "matrix.answer.sent", "#support:x", SUNDAY - timedelta(days=200)),
        (core, "matrix.ban.issued", "#random:x", SUNDAY - timedelta(days=3)),
        (core, "matrix.answer.sent", "#elsewhere:x", SUNDAY),  # outside the glob: not an active contribution
        (staff, "matrix.answer.sent", "#support:y", SUNDAY),
        (bot, "matrix.ban.issued", "", SUNDAY),
        (old, "matrix.ban.issued", "", SUNDAY - timedelta(days=400)),
    ]:
        ActivityFactory(source=matrix, type=activity_type, container=container, identity=identity, occurred_at=at(day))
    # The stored levels (none for a source), the scope's points, then one count.
    with django_assert_num_queries(3):
        volunteers = selectors.scope_levels(run=computed, scope="source:matrix")
    assert volunteers == selectors.Levels(casual=1, active=1, core=1)
    everyone = selectors.scope_levels(run=computed, scope="source:matrix", population=Population.EVERYONE)
    assert everyone == selectors.Levels(casual=1, active=2, core=1)


def test_source_levels_without_counted_points(computed):
    irc = Source.objects.create(slug="irc", kind="irc", name="IRC")
    ConversionPointFactory(
        slug="irc-chat", area=AreaFactory(slug="irc"), source=irc, types=["irc.said"], level="casual"
    )
    ActivityFactory(source=irc, type="irc.said", identity=IdentityFactory(), occurred_at=at(SUNDAY))
    assert selectors.scope_levels(run=computed, scope="source:irc") == selectors.Levels(casual=1, active=0, core=0)
    Source.objects.create(slug="empty", kind="manual", name="Empty")
    assert selectors.scope_levels(run=computed, scope="source:empty") == selectors.Levels(casual=0, active=0, core=0)


def test_the_tab_stop_is_the_latest_complete_week_in_both_charts(client, computed):
    """Keyboard focus enters the chart on the latest real week, never on a projected one."""
    html = client.get("/").content.decode()
    latest = selectors.series_points(run=computed, scope="all")[-1].date.isoformat()
    for chart_id in ("chart-all", "chart-all-narrow"):
        svg = re.search(rf'<svg [^>]*id="{chart_id}">.*?</svg>', html, re.S).group(0)
        stops = re.findall(r'<g class="mark( mark-projected)?" tabindex="0" [^>]*data-date="([\d-]+)"', svg)
        assert stops == [("", latest)], chart_id


def test_the_narrow_chart_is_a_year_with_marks_a_finger_can_hit():
    """At 360 px the narrow chart is drawn one unit per pixel: labels at their size, marks ≥ 24 px."""
    sunday = date(2026, 11, 29)
    points = [selectors.WeekPoint(sunday - timedelta(weeks=w), 100 + w, w % 5, 1) for w in range(200)][::-1]
    projection = [selectors.WeekPoint(sunday + timedelta(weeks=w), 50, 0, 0) for w in range(1, 53)]
    chart = weekly_chart(
        chart_id="c", title="t", points=points, projection=projection, target=400, target_kind="areas", layout=NARROW
    )
    assert chart.width == 328 and not chart.projected and chart.projection_path == ""
    assert len(chart.marks) == 13 and chart.marks[-1].date == sunday and chart.latest_week is chart.marks[-1]
    assert min(mark.hit_width for mark in chart.marks) >= 24
    assert len(chart.bars) <= 52 and chart.x_ticks
