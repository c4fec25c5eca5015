"""Cohorts and retention: the engine against the brute-force oracle (`cohort_oracle.py`), and the edges by hand.

Random worlds (people with staff periods and bot flags, identities, rules of every level with
container globs, activities at many UTC offsets) plus activities around every quarter's edge, late
in the evening or early in the morning somewhere on Earth; then a merge, counted in full and
incrementally. Every recompute — full, incremental, partitioned — must store exactly the oracle's
cohorts for every scope and population.
"""

import tempfile
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Source
from contributors.models import Identity, Person
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
)
from metrics.engine import metrics_recompute, metrics_recompute_partitioned
from metrics.models import CohortTable, MetricRun

from .cohort_oracle import cohorts_oracle
from .test_metrics import BASE_SUNDAY, build, worlds


def stored(run: MetricRun) -> dict:
    return {(table.scope, table.population): table.cohorts for table in CohortTable.objects.filter(run=run)}


def check(run: MetricRun) -> None:
    assert run.status == MetricRun.Status.COMPLETE
    assert stored(run) == cohorts_oracle()


# Quarter edges from 2022 to the world's latest week (BASE_SUNDAY, 2024-06-02), the day before and the day itself.
EDGES = [date(year, month, 1) - timedelta(days=before) for year in (2022, 2023, 2024) for month in (1, 4, 7, 10) for before in (0, 1)]
EDGES = [day for day in EDGES if day <= BASE_SUNDAY]
# Late evening and early morning local times, and offsets that move them across midnight UTC.
CLOCKS = [(23, 30), (0, 30), (22, 0), (4, 59), (12, 0)]
OFFSETS = [-5, 2, 9, -12, 14, 5.5, 0]


@st.composite
def edge_activities(draw):
    return draw(
        st.lists(
            st.tuples(
                st.integers(0, 6),  # identity number (modulo the identities there are)
                st.sampled_from(["src-x", "src-y"]),
                st.sampled_from(["manual.a.done", "manual.b.done"]),
                st.sampled_from(["", "moz/a", "other"]),
                st.sampled_from(EDGES),
                st.sampled_from(CLOCKS),
                st.sampled_from(OFFSETS),
            ),
            max_size=10,
        )
    )


def add_edge_activities(edges) -> None:
    identities = list(Identity.objects.order_by("pk"))
    sources = {source.slug: source for source in Source.objects.all()}
    for number, (ident, source, kind, container, day, (hour, minute), offset) in enumerate(edges):
        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=timezone(timedelta(hours=offset)))
        ActivityFactory(
            external_id=f"edge-{number}",
            source=sources[source],
            type=kind,
            container=container,
            occurred_at=local,
            identity=identities[ident % len(identities)],
        )


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds(), edges=edge_activities())
def test_cohorts_equal_the_oracle_full_incremental_and_partitioned(world, edges):
    with tempfile.TemporaryDirectory() as directory, override_settings(BALOO_METRICS_CACHE_DIR=directory):
        persons = build(world)
        add_edge_activities(edges)
        full = metrics_recompute()
        check(full)
        # A merge between recomputes: two people (maybe of different cohorts) are one from the next run.
        if len(persons) >= 2:
            Identity.objects.filter(person=persons[1]).update(person=persons[0])
            persons[1].delete()
        # Staff hired, a bot flag flipped: the incremental update recounts them.
        first = Person.objects.order_by("pk").first()
        if first is not None:
            first.staff_periods.create(staff_from=BASE_SUNDAY - timedelta(days=100))
        incremental = metrics_recompute(incremental=True)
        if full.latest_week is not None:
            assert incremental.stats["mode"] == "incremental", incremental.stats
        check(incremental)
        check(metrics_recompute_partitioned(parts=2))


# --------------------------------------------------------------------------- the edges, by hand


@pytest.fixture
def support(db):
    """Support, counted by answers on SUMO (active) and by votes (casual)."""
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    area = AreaFactory(slug="support", name="Support")
    ConversionPointFactory(slug="answer", area=area, source=source, types=["sumo.answer.posted"], level="active")
    ConversionPointFactory(slug="vote", area=area, source=source, types=["sumo.vote.cast"], level="casual")
    return source


def answer(source, identity, when: datetime, kind: str = "sumo.answer.posted") -> None:
    ActivityFactory(source=source, type=kind, identity=identity, occurred_at=when)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cohorts(run, scope="area:support", population="volunteers") -> list:
    return stored(run).get((scope, population), [])


def test_half_past_eleven_at_minus_five_on_31_march_joins_the_april_cohort(support):
    late, early = IdentityFactory(), IdentityFactory()
    # 23:30 at UTC−5 on 31 March is 04:30 UTC on 1 April: the second quarter.
    answer(support, late, datetime(2024, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))))
    # 00:30 at UTC+2 on 1 April is 22:30 UTC on 31 March: still the first quarter.
    answer(support, early, datetime(2024, 4, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))))
    answer(support, IdentityFactory(), utc(2024, 6, 2, 12))  # the latest week ends on Sunday 2 June
    run = metrics_recompute()
    assert cohorts(run) == [
        {"start": "2024-01-01", "size": 1, "retained": [1, 0], "partial": False},
        {"start": "2024-04-01", "size": 2, "retained": [2], "partial": True},
    ]
    check(run)


def test_retained_counts_who_came_back_each_later_quarter_empty_quarters_included(support):
    ann, ben, cat = IdentityFactory(), IdentityFactory(), IdentityFactory()
    answer(support, ann, utc(2023, 1, 10, 9))
    answer(support, ann, utc(2023, 2, 10, 9))  # the same quarter again: once
    answer(support, ben, utc(2023, 3, 1, 9))
    answer(support, ann, utc(2023, 10, 3, 9))  # two quarters skipped, then back
    answer(support, cat, utc(2023, 10, 4, 9))
    answer(support, ben, utc(2023, 12, 31, 23, 59))  # Sunday 31 December: the quarter is over
    run = metrics_recompute()
    assert run.latest_week == date(2023, 12, 31)
    assert cohorts(run) == [
        {"start": "2023-01-01", "size": 2, "retained": [2, 0, 0, 2], "partial": False},
        {"start": "2023-04-01", "size": 0, "retained": [0, 0, 0], "partial": False},
        {"start": "2023-07-01", "size": 0, "retained": [0, 0], "partial": False},
        {"start": "2023-10-01", "size": 1, "retained": [1], "partial": False},
    ]
    check(run)


def test_casual_contributions_count_for_their_rule_only(support):
    voter = IdentityFactory()
    answer(support, voter, utc(2024, 2, 1, 9), kind="sumo.vote.cast")
    answer(support, voter, utc(2024, 5, 1, 9))  # the first active contribution: the April cohort of the area
    run = metrics_recompute()
    assert [(c["start"], c["size"]) for c in cohorts(run)] == [("2024-04-01", 1)]
    assert [(c["start"], c["size"], c["retained"]) for c in cohorts(run, "cp:vote")] == [
        ("2024-01-01", 1, [1, 0]),
        ("2024-04-01", 0, [0]),
    ]
    check(run)


def test_staff_contributions_count_only_when_asked_and_bots_never(support):
    hired = PersonFactory(staff_periods=[(date(2024, 4, 15), None)])
    answer(support, IdentityFactory(person=hired), utc(2024, 1, 20, 9))  # a volunteer's
    answer(support, IdentityFactory(person=hired), utc(2024, 5, 20, 9))  # staff by then
    staff = PersonFactory(staff_periods=True)
    answer(support, IdentityFactory(person=staff), utc(2024, 2, 1, 9))
    bot = PersonFactory(is_bot=True)
    answer(support, IdentityFactory(person=bot), utc(2024, 2, 1, 9))
    run = metrics_recompute()
    assert cohorts(run) == [
        {"start": "2024-01-01", "size": 1, "retained": [1, 0], "partial": False},
        {"start": "2024-04-01", "size": 0, "retained": [0], "partial": True},
    ]
    assert cohorts(run, population="everyone") == [
        {"start": "2024-01-01", "size": 2, "retained": [2, 1], "partial": False},
        {"start": "2024-04-01", "size": 0, "retained": [0], "partial": True},
    ]
    check(run)


def test_a_merge_moves_a_person_to_the_earlier_cohort_at_the_next_recompute(support, tmp_path, settings):
    settings.BALOO_METRICS_CACHE_DIR = str(tmp_path)
    old, new = IdentityFactory(), IdentityFactory()
    answer(support, old, utc(2023, 11, 5, 9))
    answer(support, new, utc(2024, 2, 5, 9))
    run = metrics_recompute()
    assert [c["size"] for c in cohorts(run)] == [1, 1]
    Identity.objects.filter(pk=new.pk).update(person=old.person)
    run = metrics_recompute(incremental=True)
    assert run.stats["mode"] == "incremental"
    assert cohorts(run) == [
        {"start": "2023-10-01", "size": 1, "retained": [1, 1], "partial": False},
        {"start": "2024-01-01", "size": 0, "retained": [0], "partial": True},
    ]
    check(run)


def test_a_scope_without_counted_people_has_no_cohorts(support):
    answer(support, IdentityFactory(), utc(2024, 2, 5, 9), kind="sumo.vote.cast")
    run = metrics_recompute()
    assert cohorts(run) == [] and cohorts(run, "all") == []
    assert cohorts(run, "cp:vote") != []
    check(run)


def test_an_empty_database_stores_no_cohorts(db):
    run = metrics_recompute()
    assert run.status == MetricRun.Status.COMPLETE and stored(run) == {}
