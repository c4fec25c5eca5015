"""Every reader agrees with the engine: one definition of "active" (conversion_points.contributions).

A generated community — several areas, sources and conversion points with container globs and
levels, staff, a bot, persons merged — is counted by the engine; then, for every area, source and
conversion point and every week, each reader gives the engine's numbers at that Sunday: the module
itself, the summary as of that day, the staff API's area contributors, the dashboard's levels and
projection, a contributor's own record, the de-duplication check and the rule preview.
Runs on SQLite and, with DATABASE_URL, on PostgreSQL.
"""

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from activities.models import Source
from api.staff.selectors import active_areas_of_persons, area_contributors
from contributors.models import Person, StaffPeriod
from contributors.services import persons_merge
from conversion_points import contributions
from conversion_points.models import Area, ConversionPoint, Population
from conversion_points.records import person_record
from conversion_points.selectors import conversion_point_preview
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
)
from dashboard import selectors as dashboard_selectors
from metrics.engine import metrics_recompute
from metrics.models import MetricPoint
from metrics.selectors import metrics_summary

TODAY = date(2025, 9, 8)  # a Monday: the Sunday before is the last complete week
POPULATIONS = (Population.VOLUNTEERS, Population.EVERYONE)


@pytest.fixture
def community(db):
    """A seeded random community over 20 months, counted on TODAY."""
    chance = random.Random(16)
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    bugzilla = Source.objects.create(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    coding = AreaFactory(slug="coding", position=1)
    support = AreaFactory(slug="support", position=2)
    qa = AreaFactory(slug="qa", position=3)
    coding.sources.set([github, bugzilla])
    support.sources.set([sumo])
    qa.sources.set([bugzilla, github])
    rules = [
        (coding, github, ["pr"], "mozilla/*", "core"),
        (coding, github, ["issue"], "mozilla/[a-m]*", "active"),
        (coding, github, ["comment"], "*", "casual"),
        (coding, bugzilla, ["patch"], "Firefox::?ore", "active"),
        (support, sumo, ["answer"], "", "active"),
        (support, sumo, ["comment"], "*", "casual"),
        (qa, bugzilla, ["bug", "patch"], "Firefox::*", "active"),
        (qa, github, ["issue"], "[!m]*", "core"),
    ]
    for number, (area, source, types, container, level) in enumerate(rules):
        ConversionPointFactory(
            slug=f"cp{number}", area=area, source=source, types=types, container=container, level=level
        )
    containers = {
        github: ["mozilla/app", "mozilla/zed", "other/x", "mozilla/"],
        sumo: ["", "desktop"],
        bugzilla: ["Firefox::Core", "Firefox::More", "Firefox::Sore", "Core::Foo"],
    }
    types = {github: ["pr", "issue", "comment"], sumo: ["answer", "comment"], bugzilla: ["bug", "patch"]}
    persons = [PersonFactory() for n in range(24)] + [PersonFactory(is_bot=True)]
    identities = [IdentityFactory(person=person) for person in persons for _ in range(1 + persons.index(person) % 2)]
    start = TODAY - timedelta(days=600)
    # Staff periods of every shape: staff since always, hired half-way, left a year ago, a stint between.
    periods = {0: (None, None), 7: (start + timedelta(days=300), None), 14: (None, TODAY - timedelta(days=365)),
               21: (start + timedelta(days=100), start + timedelta(days=250))}
    for number, (staff_from, staff_until) in periods.items():
        StaffPeriod.objects.create(person=persons[number], staff_from=staff_from, staff_until=staff_until, origin="admin")
    sources = [github, sumo, bugzilla]
    for _ in range(700):
        source = chance.choice(sources)
        day = start + timedelta(days=chance.randrange(600))
        ActivityFactory(
            source=source,
            type=chance.choice(types[source]),
            container=chance.choice(containers[source]),
            identity=chance.choice(identities),
            occurred_at=datetime(day.year, day.month, day.day, chance.randrange(24), chance.randrange(60), tzinfo=UTC),
        )
    # Merges: a volunteer into another, and a volunteer into staff (their contributions become staff ones).
    persons_merge(into=persons[1], others=[persons[2]], reason="test")
    persons_merge(into=persons[7], others=[persons[3]], reason="test")
    with time_machine.travel(datetime(TODAY.year, TODAY.month, TODAY.day, 9, tzinfo=UTC), tick=False):
        run = metrics_recompute()
        assert run.latest_week == TODAY - timedelta(days=1)
        yield run


def engine_points(run) -> dict[tuple[str, str], dict[date, MetricPoint]]:
    found: dict[tuple[str, str], dict[date, MetricPoint]] = defaultdict(dict)
    for point in MetricPoint.objects.filter(run=run):
        found[(point.scope, point.population)][point.date] = point
    return found


def sundays(run) -> list[date]:
    first = min(MetricPoint.objects.filter(run=run).values_list("date", flat=True))
    return [first + timedelta(days=7 * k) for k in range((run.latest_week - first).days // 7 + 1)]


def at(points: dict, scope: str, population: str, day: date) -> tuple[int, int, int]:
    point = points.get((scope, population), {}).get(day)
    return (point.active, point.new, point.lapsed) if point else (0, 0, 0)


def test_the_module_and_the_summary_agree_with_the_engine_every_week(community):
    run, points = community, engine_points(community)
    cps = [f"cp:{slug}" for slug in ConversionPoint.objects.values_list("slug", flat=True)]
    for number, day in enumerate(sundays(run)):
        for population in POPULATIONS:
            # Everything, every area and every source: the summary as of that Sunday (scope_counts).
            summary = metrics_summary(run=run, day=day, population=population)
            assert (summary["active"], summary["new"]) == at(points, "all", population, day)[:2], day
            for kind in ("areas", "sources"):
                for row in summary[kind]:
                    scope = f"{kind[:-1]}:{row['slug']}"
                    assert (row["active"], row["new"]) == at(points, scope, population, day)[:2], (scope, day)
            # Each conversion point (whatever its level), and the module's list of persons for the others.
            scopes = cps if number % 4 else cps + ["all", "area:coding", "area:support", "source:bugzilla"]
            for scope in scopes:
                module = contributions.active_contributors(scope=scope, day=day, population=population).count()
                assert module == at(points, scope, population, day)[0], (scope, population, day)


def test_the_staff_api_and_the_dashboard_agree_with_the_engine_every_week(community):
    run, points = community, engine_points(community)
    for day in sundays(run):
        for area in Area.objects.all():
            scope = f"area:{area.slug}"
            for population in POPULATIONS:
                listed = area_contributors(
                    area=area, day=day, include_staff=population == Population.EVERYONE, approved_only=False
                )
                statuses = [c.status for c in listed]
                active, new, lapsed = at(points, scope, population, day)
                assert (len(statuses) - statuses.count("lapsed"), statuses.count("new"), statuses.count("lapsed")) == (
                    active,
                    new,
                    lapsed,
                ), (scope, population, day)
                point = points.get((scope, population), {}).get(day)
                levels = contributions.level_counts(scope=scope, day=day, population=population)
                expected = (point.level_casual, point.level_active, point.level_core) if point else (0, 0, 0)
                assert levels == expected, (scope, population, day)
    # The dashboard's figures at the latest week: the projection starts from the engine's count, and
    # a source's levels add up to everyone who contributed there.
    for scope in ["all", "area:coding", "area:qa", "source:github", "source:bugzilla"]:
        days = dashboard_selectors.last_contribution_days(run=run, scope=scope)
        assert len(days) == at(points, scope, Population.VOLUNTEERS, run.latest_week)[0]
    levels = dashboard_selectors.scope_levels(run=run, scope="source:github")
    assert levels.active + levels.core == at(points, "source:github", Population.VOLUNTEERS, run.latest_week)[0]


def test_a_contributors_record_the_dedup_check_and_the_preview_agree_with_the_engine(community):
    run = community
    day = run.latest_week
    persons = list(Person.objects.filter(is_bot=False).values_list("pk", flat=True))
    active_sets = {
        area.slug: {
            row["person"]
            for row in contributions.active_contributors(
                scope=f"area:{area.slug}", day=day, population=Population.EVERYONE
            )
        }
        for area in Area.objects.all()
    }
    points = engine_points(run)
    for slug, members in active_sets.items():
        assert len(members) == at(points, f"area:{slug}", Population.EVERYONE, day)[0]
    dedup = active_areas_of_persons(person_ids=persons, day=day)
    for person in Person.objects.filter(pk__in=persons):
        record = person_record(person=person, today=day)
        shown = {area.area.slug for area in record.active_areas}
        expected = {slug for slug, members in active_sets.items() if person.pk in members}
        assert shown == expected, person.pk
        assert set(dedup[person.pk]) == expected, person.pk
    for point in ConversionPoint.objects.select_related("source"):
        preview = conversion_point_preview(source=point.source, types=point.types, container=point.container)
        scope = f"cp:{point.slug}"
        people = contributions.active_contributors(scope=scope, day=contributions.today_utc(), population="everyone")
        assert preview["people"] == people.count(), scope


def _scope_counts_known(day: date, population: str) -> dict:
    """`contributions.scope_counts`, without the areas and sources no enabled point counts in (always zero)."""
    counted = contributions.scope_counts(day=day, population=population)
    counted["scopes"] = {
        scope: row for scope, row in counted["scopes"].items() if scope == "all" or row != {"active": 0, "new": 0}
    }
    return counted


def _stored(as_of: dict, population: str) -> dict:
    scopes = {
        scope: row for scope, row in as_of[population]["scopes"].items() if scope == "all" or row != {"active": 0, "new": 0}
    }
    return {"ever": as_of[population]["ever"], "scopes": scopes}


def test_the_engine_counts_the_summary_as_of_any_day_like_scope_counts(community):
    """The numpy count a recompute stores (`as_of`) equals the SQL one, day by day, around week and window edges."""
    from metrics.engine import Rules, as_of_counts, contributions_fetch

    rules = Rules.load()
    rows = contributions_fetch(rules=rules)
    days = [TODAY - timedelta(days=offset) for offset in (0, 1, 6, 7, 8, 100, 364, 365, 366, 420, 599, 601)]
    for day in days:
        counted = as_of_counts(contributions=rows, rules=rules, day=day)
        assert counted["day"] == day.isoformat()
        for population in POPULATIONS:
            assert _stored(counted, population) == _scope_counts_known(day, population), (day, population)


def test_the_run_stores_the_summary_as_of_its_day_and_an_update_keeps_it_exact(community):
    run = community
    assert run.as_of["day"] == TODAY.isoformat()
    for population in POPULATIONS:
        assert _stored(run.as_of, population) == _scope_counts_known(TODAY, population)
    # Today: a newcomer, an old hand back, a merge and a staff hire; the incremental update adjusts the figures.
    github = Source.objects.get(slug="github")
    newcomer, old_hand = IdentityFactory(), IdentityFactory(person=Person.objects.order_by("pk")[5])
    for identity in (newcomer, old_hand):
        ActivityFactory(source=github, type="pr", container="mozilla/app", identity=identity,
                        occurred_at=datetime(TODAY.year, TODAY.month, TODAY.day, 8, tzinfo=UTC))
    persons = list(Person.objects.filter(is_bot=False).order_by("pk"))
    persons_merge(into=persons[8], others=[persons[9]], reason="test")
    StaffPeriod.objects.create(person=persons[10], staff_from=TODAY - timedelta(days=30), origin="admin")
    with time_machine.travel(datetime(TODAY.year, TODAY.month, TODAY.day, 10, tzinfo=UTC), tick=False):
        updated = metrics_recompute(incremental=True)
    assert updated.stats["mode"] == "incremental" and updated.stats["as_of"] == "updated"
    for population in POPULATIONS:
        assert _stored(updated.as_of, population) == _scope_counts_known(TODAY, population)
    assert updated.as_of != run.as_of
