"""The metrics engine against a brute-force oracle written straight from the BRIEF's definitions.

The oracle reads the database with the ORM and plain Python: for every Sunday D of every scope it
counts the persons with a contribution on D−364 … D, those whose first contribution falls on
D−6 … D, and those active at D−7 but not at D. Nothing of the engine is reused (not even its glob
translation: the oracle matches containers with `fnmatch.fnmatchcase`). Volunteers are
the contributions whose UTC day is outside every staff period of their person, checked one period
at a time.
"""

import fnmatch
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Activity, Source
from contributors.models import Identity, Person, StaffPeriod
from contributors.staff import staff_contribution_q, staff_contribution_sql
from conversion_points.containers import glob_to_regex
from conversion_points.models import Area, ConversionPoint
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
)
from metrics.calendar import day_number
from metrics.engine import People, metrics_recompute, metrics_recompute_soon
from metrics.engine import sums as engine_sums
from metrics.models import AreaMovement, CohortTable, MetricPoint, MetricRun, Overlap

LEVELS = {"casual": 0, "active": 1, "core": 2}
BASE_SUNDAY = date(2024, 6, 2)


def week_end(day: date) -> date:
    """The Sunday ending the week (Monday…Sunday) that holds `day`."""
    return day + timedelta(days=6 - day.weekday())


def oracle() -> dict:
    """Expected series: {(scope, population): [(date, active, new, lapsed, levels or None), …]}."""
    points = [p for p in ConversionPoint.objects.filter(enabled=True).select_related("area", "source")]
    periods = defaultdict(list)
    for period in StaffPeriod.objects.all():
        periods[period.person_id].append((period.staff_from or date.min, period.staff_until or date.max))
    contributions = []  # (person, day, point, staff)
    for activity in Activity.objects.select_related("identity__person"):
        if activity.identity is None or activity.identity.person.is_bot:
            continue
        day = activity.occurred_at.astimezone(UTC).date()
        for point in points:
            if (
                point.source_id == activity.source_id
                and activity.type in point.types
                and (point.container in ("", "*") or fnmatch.fnmatchcase(activity.container, point.container))
            ):
                person = activity.identity.person
                staff = any(start <= day <= end for start, end in periods[person.pk])
                contributions.append((person, day, point, staff))
    latest = Activity.objects.order_by("-occurred_at").first()
    if latest is None:
        return {}
    last = week_end(latest.occurred_at.astimezone(UTC).date())

    scopes = {"all": lambda p: True}
    for area in Area.objects.all():
        scopes[f"area:{area.slug}"] = lambda p, slug=area.slug: p.area.slug == slug
    for source in Source.objects.all():
        scopes[f"source:{source.slug}"] = lambda p, slug=source.slug: p.source.slug == slug
    for point in points:
        scopes[f"cp:{point.slug}"] = lambda p, slug=point.slug: p.slug == slug

    expected = {}
    for scope, in_scope in scopes.items():
        for population in ("volunteers", "everyone"):
            rows = [
                (person.pk, day, LEVELS[point.level])
                for person, day, point, staff in contributions
                if in_scope(point) and (population == "everyone" or not staff)
            ]
            if not rows:
                continue
            cp_scope = scope.startswith("cp:")
            counted = [(person, day) for person, day, level in rows if cp_scope or level >= 1]

            def active_at(d: date, counted=counted) -> set:
                return {person for person, day in counted if d - timedelta(days=364) <= day <= d}

            first_day = {}
            for person, day in counted:
                first_day[person] = min(day, first_day.get(person, day))
            series = []
            d = week_end(min(day for _p, day, _l in rows))
            while d <= last:
                now = active_at(d)
                new = sum(1 for day in first_day.values() if d - timedelta(days=6) <= day <= d)
                lapsed = len(active_at(d - timedelta(days=7)) - now)
                levels = None
                if scope == "all" or scope.startswith("area:"):
                    highest = {}
                    for person, day, level in rows:
                        if d - timedelta(days=364) <= day <= d:
                            highest[person] = max(level, highest.get(person, 0))
                    levels = tuple(sum(1 for level in highest.values() if level == wanted) for wanted in (0, 1, 2))
                series.append((d, len(now), new, lapsed, levels))
                d += timedelta(days=7)
            expected[(scope, population)] = series
    return expected


def served(run: MetricRun) -> dict:
    result = defaultdict(list)
    for point in MetricPoint.objects.filter(run=run).order_by("scope", "population", "date"):
        levels = None if point.level_casual is None else (point.level_casual, point.level_active, point.level_core)
        result[(point.scope, point.population)].append((point.date, point.active, point.new, point.lapsed, levels))
    return dict(result)


def check_against_oracle() -> MetricRun:
    run = metrics_recompute()
    assert run.status == MetricRun.Status.COMPLETE
    assert served(run) == oracle()
    return run


# --------------------------------------------------------------------------- random worlds

offsets = st.sampled_from([0, 2, -7, 5.5, 9, -3, 14, -12])
days_before = st.one_of(
    st.sampled_from([0, 1, 6, 7, 8, 363, 364, 365, 366, 371, 372, 728, 729]),
    st.integers(min_value=0, max_value=900),
)


@st.composite
def worlds(draw):
    n_people = draw(st.integers(1, 5))
    # Staff periods (days after BASE_SUNDAY, None for an open end) and bot flag of each person.
    period_day = st.one_of(st.none(), st.sampled_from([-900, -400, -365, -8, -7, -6, -1, 0, 1, 7]), st.integers(-900, 30))
    people = [
        (
            [
                pair if None in pair else tuple(sorted(pair))
                for pair in draw(st.lists(st.tuples(period_day, period_day), max_size=2))
            ],
            draw(st.integers(0, 6)) == 0,
        )
        for _ in range(n_people)
    ]
    identities = [draw(st.integers(0, n_people - 1)) for _ in range(draw(st.integers(1, 7)))]
    points = [
        (
            draw(st.sampled_from(["area-a", "area-b", "area-c"])),
            draw(st.sampled_from(["src-x", "src-y"])),
            draw(st.lists(st.sampled_from(["manual.a.done", "manual.b.done"]), min_size=1, max_size=2, unique=True)),
            draw(st.sampled_from(["*", "", "moz/*", "moz/[a-c]*", "other", "?oz/b", "[!m]*"])),
            draw(st.sampled_from(["casual", "active", "core"])),
            draw(st.integers(0, 9)) > 0,
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    activities = [
        (
            draw(st.integers(0, len(identities) - 1)),
            draw(st.sampled_from(["src-x", "src-y"])),
            draw(st.sampled_from(["manual.a.done", "manual.b.done", "manual.c.done"])),
            draw(st.sampled_from(["", "moz/a", "moz/b", "moz/d", "other", "x/y"])),
            draw(days_before),
            draw(st.sampled_from([(0, 0), (0, 30), (23, 59), (12, 0), (1, 30), (22, 30)])),
            draw(offsets),
            draw(st.integers(0, 12)) == 0,  # forgotten: the identity link is gone
        )
        for _ in range(draw(st.integers(0, 14)))
    ]
    return people, identities, points, activities


def build(world) -> list[Person]:
    people, identities, points, activities = world
    for model in (MetricRun, Activity, Identity, Person, ConversionPoint, Area, Source):
        model.objects.all().delete()
    sources = {slug: Source.objects.create(slug=slug, kind="manual", name=slug) for slug in ("src-x", "src-y")}
    persons = [
        PersonFactory(
            is_bot=bot,
            staff_periods=[
                tuple(None if day is None else BASE_SUNDAY + timedelta(days=day) for day in pair) for pair in periods
            ],
        )
        for periods, bot in people
    ]
    idents = [IdentityFactory(person=persons[owner]) for owner in identities]
    for number, (area, source, types, container, level, enabled) in enumerate(points):
        ConversionPointFactory(
            slug=f"cp-{number}",
            area=AreaFactory(slug=area),
            source=sources[source],
            types=types,
            container=container,
            level=level,
            enabled=enabled,
        )
    for number, (ident, source, kind, container, before, (hour, minute), offset, forgotten) in enumerate(activities):
        local = datetime.combine(BASE_SUNDAY - timedelta(days=before), datetime.min.time()).replace(
            hour=hour, minute=minute
        )
        occurred = local.replace(tzinfo=timezone(timedelta(hours=offset)))
        ActivityFactory(
            external_id=f"e{number}",
            source=sources[source],
            type=kind,
            container=container,
            occurred_at=occurred,
            identity=None if forgotten else idents[ident],
        )
    return persons


@pytest.mark.django_db
@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds())
def test_engine_equals_the_oracle_on_random_worlds(world):
    persons = build(world)
    check_against_oracle()
    check_staff_condition_agrees_with_the_engine()
    # A merge joins two people (possibly active in different weeks): counted once from the next recompute.
    if len(persons) >= 2:
        Identity.objects.filter(person=persons[1]).update(person=persons[0])
        persons[1].delete()
        check_against_oracle()


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds(), rows=st.integers(1, 40))
def test_counting_a_chunk_of_the_persons_at_a_time_gives_the_same(world, rows):
    """Millions of contributions are swept a chunk of the persons at a time, to bound memory: forced here."""
    build(world)
    whole = metrics_recompute()
    cohorts = sorted(CohortTable.objects.filter(run=whole).values_list("scope", "population", "cohorts"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_sums, "CHUNK_ROWS", rows)
        check_against_oracle()
    chunked = MetricRun.objects.get(status=MetricRun.Status.COMPLETE)
    assert sorted(CohortTable.objects.filter(run=chunked).values_list("scope", "population", "cohorts")) == cohorts
    assert (chunked.contributors_ever, chunked.contributors_ever_everyone, chunked.as_of) == (
        whole.contributors_ever,
        whole.contributors_ever_everyone,
        whole.as_of,
    )


def check_staff_condition_agrees_with_the_engine() -> None:
    """The shared condition other readers use (ORM and SQL) says "staff" of the same activities as the engine."""
    people = People.load()
    rows = list(Activity.objects.filter(identity__isnull=False).values_list("pk", "identity__person_id", "occurred_at"))
    days = [day_number(at.astimezone(UTC).date()) for _pk, _person, at in rows]
    engine = people.staff_rows(
        np.array([person for _pk, person, _at in rows], dtype=np.int64), np.array(days, dtype=np.int64)
    )
    by_engine = {pk for (pk, _person, _at), staff in zip(rows, engine, strict=True) if staff}
    assert set(Activity.objects.filter(staff_contribution_q()).values_list("pk", flat=True)) == by_engine
    condition = staff_contribution_sql(person="i.person_id", occurred_at="a.occurred_at")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT a.id FROM {Activity._meta.db_table} a JOIN {Identity._meta.db_table} i ON i.id = a.identity_id "
            f"WHERE {condition}"
        )
        assert {pk for (pk,) in cursor.fetchall()} == by_engine
    volunteers = Activity.objects.filter(identity__isnull=False).exclude(staff_contribution_q())
    assert set(volunteers.values_list("pk", flat=True)) == {pk for pk, _p, _a in rows} - by_engine


# --------------------------------------------------------------------------- the edges, by hand


@pytest.fixture
def world(db):
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    support = AreaFactory(slug="support", name="Support", target=10)
    ConversionPointFactory(slug="answer", area=support, source=source, types=["sumo.answer.posted"], level="active")
    return source


def at(day: date, hour: int = 12, minute: int = 0, offset: float = 0) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(
        hour=hour, minute=minute, tzinfo=timezone(timedelta(hours=offset))
    )


def series(run, scope="all", population="volunteers") -> dict:
    return {
        p.date: (p.active, p.new, p.lapsed)
        for p in MetricPoint.objects.filter(run=run, scope=scope, population=population)
    }


def test_a_contribution_on_a_sunday_counts_for_53_sundays_and_on_a_monday_for_52(world):
    ident = IdentityFactory()
    ActivityFactory(source=world, type="sumo.answer.posted", identity=ident, occurred_at=at(BASE_SUNDAY))
    ActivityFactory(
        source=world,
        type="sumo.answer.posted",
        identity=IdentityFactory(),
        occurred_at=at(BASE_SUNDAY + timedelta(days=1)),
    )
    # The latest activity, two years on, keeps every week in the series.
    ActivityFactory(
        source=world, type="other.thing.done", identity=ident, occurred_at=at(BASE_SUNDAY + timedelta(days=730))
    )
    run = metrics_recompute()
    points = series(run)
    assert points[BASE_SUNDAY] == (1, 1, 0)
    assert points[BASE_SUNDAY + timedelta(days=7)][0] == 2
    assert points[BASE_SUNDAY + timedelta(days=364)][0] == 2  # D−364 is the Sunday itself: still active
    assert points[BASE_SUNDAY + timedelta(days=371)] == (0, 0, 2)  # the Monday's 52nd Sunday was D+364−1
    assert sum(active for active, _n, _l in points.values()) == 53 + 52
    assert check_against_oracle()


def test_times_just_before_and_after_midnight_utc_in_other_offsets(world):
    # 23:30 at −02:00 is 01:30 UTC on Monday: next week. 00:30 at +02:00 is Saturday 22:30 UTC: this week.
    ActivityFactory(source=world, type="sumo.answer.posted", occurred_at=at(BASE_SUNDAY, 23, 30, -2))
    ActivityFactory(source=world, type="sumo.answer.posted", occurred_at=at(BASE_SUNDAY, 0, 30, 2))
    run = metrics_recompute()
    points = series(run)
    assert points[BASE_SUNDAY] == (1, 1, 0)
    assert points[BASE_SUNDAY + timedelta(days=7)] == (2, 1, 0)
    check_against_oracle()


def test_staff_count_only_when_asked_and_bots_never(world):
    staff, bot, volunteer = PersonFactory(staff_periods=True), PersonFactory(is_bot=True), PersonFactory()
    for person in (staff, bot, volunteer):
        ActivityFactory(
            source=world,
            type="sumo.answer.posted",
            identity=IdentityFactory(person=person),
            occurred_at=at(BASE_SUNDAY),
        )
    run = metrics_recompute()
    assert series(run)[BASE_SUNDAY][0] == 1
    assert series(run, population="everyone")[BASE_SUNDAY][0] == 2
    assert (run.contributors_ever, run.contributors_ever_everyone) == (1, 2)


def weekly(run, population="volunteers", scope="all") -> list[tuple]:
    return [
        (p.date, p.active, p.new, p.lapsed)
        for p in MetricPoint.objects.filter(run=run, scope=scope, population=population).order_by("date")
    ]


def answer(world, identity, day: date) -> None:
    ActivityFactory(source=world, type="sumo.answer.posted", identity=identity, occurred_at=at(day))


def test_a_volunteer_hired_mid_history_keeps_their_volunteer_weeks(world):
    hired_on = BASE_SUNDAY + timedelta(days=3)  # a Wednesday: the week holds both kinds
    noor = IdentityFactory()
    for days in (-70, -14, 1, 3, 5, 60):
        answer(world, noor, BASE_SUNDAY + timedelta(days=days))
    # Something counted by no rule, a year and a half on: the series run that far.
    ActivityFactory(source=world, type="other.thing.done", occurred_at=at(BASE_SUNDAY + timedelta(days=400)))
    before = metrics_recompute()
    volunteer_before, everyone_before = weekly(before), weekly(before, "everyone")

    StaffPeriod.objects.create(person=noor.person, staff_from=hired_on, origin=StaffPeriod.Origin.DIRECTORY)
    run = check_against_oracle()
    volunteer = {d: (a, n, lapsed) for d, a, n, lapsed in weekly(run)}
    # Every week up to the hire keeps its numbers; the hire week counts the Monday's answer.
    assert [p for p in weekly(run) if p[0] <= BASE_SUNDAY + timedelta(days=7)] == [
        p for p in volunteer_before if p[0] <= BASE_SUNDAY + timedelta(days=7)
    ]
    assert volunteer[BASE_SUNDAY - timedelta(days=70)] == (1, 1, 0)
    # Still active as a volunteer for the 365 days after their last volunteer day, then lapsed.
    assert volunteer[BASE_SUNDAY + timedelta(days=364)][0] == 1
    assert volunteer[BASE_SUNDAY + timedelta(days=371)] == (0, 0, 1)
    assert weekly(run, "everyone") == everyone_before
    assert (run.contributors_ever, run.contributors_ever_everyone) == (1, 1)


def test_staff_who_leave_and_go_on_contributing_join_the_volunteer_series_then(world):
    sam = IdentityFactory(person=PersonFactory(staff_periods=[(None, BASE_SUNDAY)]))
    for days in (-300, -7, 0, 1, 30):
        answer(world, sam, BASE_SUNDAY + timedelta(days=days))
    run = check_against_oracle()
    volunteer = {d: (a, n, lapsed) for d, a, n, lapsed in weekly(run)}
    assert min(volunteer) == BASE_SUNDAY + timedelta(days=7)  # the series starts with the Monday after
    assert volunteer[BASE_SUNDAY + timedelta(days=7)] == (1, 1, 0)  # new as a volunteer that week
    assert weekly(run, "everyone")[0] == (BASE_SUNDAY - timedelta(days=300 - 6), 1, 1, 0)
    assert (run.contributors_ever, run.contributors_ever_everyone) == (1, 1)


def test_staff_since_always_never_count_as_volunteers(world):
    sam = IdentityFactory(person=PersonFactory(staff_periods=True))
    answer(world, sam, BASE_SUNDAY)
    run = check_against_oracle()
    assert weekly(run) == [] and (run.contributors_ever, run.contributors_ever_everyone) == (0, 1)


def test_overlap_and_movement_at_the_latest_week(world):
    coding = AreaFactory(slug="coding")
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    ConversionPointFactory(slug="pr", area=coding, source=github, types=["github.pr.opened"])
    both, mover, leaver = IdentityFactory(), IdentityFactory(), IdentityFactory()
    recent, old = BASE_SUNDAY, BASE_SUNDAY - timedelta(days=500)
    ActivityFactory(source=world, type="sumo.answer.posted", identity=both, occurred_at=at(recent))
    ActivityFactory(source=github, type="github.pr.opened", identity=both, occurred_at=at(recent))
    ActivityFactory(source=world, type="sumo.answer.posted", identity=mover, occurred_at=at(old))
    ActivityFactory(source=github, type="github.pr.opened", identity=mover, occurred_at=at(recent))
    ActivityFactory(source=world, type="sumo.answer.posted", identity=leaver, occurred_at=at(old))
    run = metrics_recompute()
    assert Overlap.objects.get(run=run, population="volunteers").shared == 1
    support = AreaMovement.objects.get(run=run, population="volunteers", area="support")
    assert (support.lapsed, support.moved, support.left) == (2, 1, 1)
    assert series(run, "area:support")[BASE_SUNDAY][0] == 1
    summed = sum(series(run, f"area:{slug}")[BASE_SUNDAY][0] for slug in ("support", "coding"))
    assert (series(run)[BASE_SUNDAY][0], summed) == (2, 3)


def test_an_empty_database_gives_a_complete_run_without_points(db):
    run = metrics_recompute()
    assert run.status == MetricRun.Status.COMPLETE and run.latest_week is None
    assert not MetricPoint.objects.exists()


def test_recompute_swaps_runs_and_a_crash_keeps_the_previous_snapshots(world, monkeypatch):
    ActivityFactory(source=world, type="sumo.answer.posted", occurred_at=at(BASE_SUNDAY))
    first = metrics_recompute()
    second = metrics_recompute()
    assert list(MetricRun.objects.values_list("pk", flat=True)) == [second.pk]
    assert served(second) == {key: value for key, value in served(second).items()}

    def boom(**kwargs):
        raise RuntimeError("worker lost")

    # The full count (`engine.cache.count_full`) raises mid-way.
    monkeypatch.setattr("metrics.engine.sums.metrics_compute_state", boom)
    with pytest.raises(RuntimeError):
        metrics_recompute()
    complete = MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).get()
    assert complete.pk == second.pk and complete.points.exists()
    assert MetricRun.objects.get(status=MetricRun.Status.FAILED).error == "RuntimeError: worker lost"
    assert first.pk != second.pk


def test_recompute_soon_is_debounced_into_one_run(world, django_capture_on_commit_callbacks):
    ActivityFactory(source=world, type="sumo.answer.posted", occurred_at=at(BASE_SUNDAY))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = metrics_recompute_soon()
        again = metrics_recompute_soon()
    assert first.pk == again.pk and len(callbacks) == 1
    callbacks[0]()  # tasks run in-process in tests
    assert MetricRun.objects.get().status == MetricRun.Status.COMPLETE


def test_recompute_metrics_command(world, capsys):
    from django.core.management import call_command

    ActivityFactory(source=world, type="sumo.answer.posted", occurred_at=at(BASE_SUNDAY))
    call_command("recompute_metrics")
    assert "complete" in capsys.readouterr().out
    assert MetricRun.objects.get().contributors_ever == 1


@settings(max_examples=80, deadline=None)
@given(pattern=st.text(alphabet="ab/*?[]!-\\.^:", max_size=8), text=st.text(alphabet="ab/[]!-\\.^:", max_size=6))
def test_container_globs_mean_what_fnmatch_means(pattern, text):
    regex = glob_to_regex(pattern)
    matched = False if regex is None else re.match(regex, text) is not None
    assert matched == fnmatch.fnmatchcase(text, pattern)
