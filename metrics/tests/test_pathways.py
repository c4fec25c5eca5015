"""Pathways: the engine against the brute-force oracle (pathway_oracle.py), then named stories.

For random worlds (people, staff periods, bots, identities, rules of three levels over three areas,
activities at awkward hours and offsets), the pathways every recompute stores equal the oracle's:
after a full recompute, after a merge, after an incremental update (new activities, merges, splits,
hiring, leaving, bot flags, the latest week moving on a year) and for a partitioned recompute.
"""

import tempfile
from datetime import date, timedelta

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Source
from contributors.models import Identity
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
    at,
)
from metrics.engine import metrics_recompute, metrics_recompute_partitioned
from metrics.engine import pathways as pathways_stage
from metrics.models import MetricRun

from .pathway_oracle import pathways_oracle, pathways_served
from .test_metrics import build
from .test_metrics_incremental import apply, changes


def slow(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# Worlds in the shape of test_metrics.worlds, dense in contributions: every rule's types are drawn from
# the two the activities use, so most activities count somewhere, in up to three areas, over three years.
days_before = st.one_of(st.sampled_from([0, 1, 6, 7, 8, 13, 14, 363, 364, 365, 366, 371, 372]), st.integers(0, 1100))


@st.composite
def worlds(draw):
    n_people = draw(st.integers(1, 6))
    period_day = st.one_of(st.none(), st.sampled_from([-900, -400, -365, -8, -7, -1, 0, 1]), st.integers(-1100, 30))
    people = [
        (
            [
                pair if None in pair else tuple(sorted(pair))
                for pair in draw(st.lists(st.tuples(period_day, period_day), max_size=1))
            ],
            draw(st.integers(0, 9)) == 0,
        )
        for _ in range(n_people)
    ]
    identities = [draw(st.integers(0, n_people - 1)) for _ in range(draw(st.integers(1, 8)))]
    points = [
        (
            draw(st.sampled_from(["area-a", "area-b", "area-c"])),
            draw(st.sampled_from(["src-x", "src-y"])),
            draw(st.lists(st.sampled_from(["manual.a.done", "manual.b.done"]), min_size=1, max_size=2, unique=True)),
            draw(st.sampled_from(["*", "*", "", "moz/*"])),
            draw(st.sampled_from(["casual", "active", "core"])),
            draw(st.integers(0, 9)) > 0,
        )
        for _ in range(draw(st.integers(1, 6)))
    ]
    activities = [
        (
            draw(st.integers(0, len(identities) - 1)),
            draw(st.sampled_from(["src-x", "src-y"])),
            draw(st.sampled_from(["manual.a.done", "manual.b.done"])),
            draw(st.sampled_from(["", "moz/a", "other"])),
            draw(days_before),
            draw(st.sampled_from([(0, 0), (23, 59), (12, 0), (0, 30)])),
            draw(st.sampled_from([0, 2, -7, 5.5, 14, -12])),
            draw(st.integers(0, 20)) == 0,  # forgotten: the identity link is gone
        )
        for _ in range(draw(st.integers(1, 24)))
    ]
    return people, identities, points, activities


def check(run: MetricRun) -> None:
    assert run.status == MetricRun.Status.COMPLETE
    assert pathways_served(run) == pathways_oracle()


@pytest.mark.django_db
@slow(80)
@given(world=worlds())
def test_the_engine_equals_the_oracle_on_random_worlds(world):
    persons = build(world)
    check(metrics_recompute())
    # A merge joins two people: one entrant, from their earliest first day, at the next recompute.
    if len(persons) >= 2:
        Identity.objects.filter(person=persons[1]).update(person=persons[0])
        persons[1].delete()
        check(metrics_recompute())


@pytest.mark.django_db
@slow(25)
@given(world=worlds())
def test_counting_without_dense_arrays_gives_the_same(world):
    # With thousands of rules and areas the counts are kept per code that occurs instead: forced here.
    build(world)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pathways_stage, "DENSE_CELLS", -(10**9))
        check(metrics_recompute())


@pytest.mark.django_db
@slow(25)
@given(world=worlds(), rows=st.integers(1, 40))
def test_counting_a_chunk_of_the_persons_at_a_time_gives_the_same(world, rows):
    # Millions of rows are counted a chunk of the persons at a time, to bound memory: forced here.
    build(world)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pathways_stage, "CHUNK_ROWS", rows)
        check(metrics_recompute())


@pytest.mark.django_db
@slow(60)
@given(world=worlds(), rounds=st.lists(changes, min_size=1, max_size=2))
def test_the_incremental_update_equals_the_oracle(world, rounds):
    with tempfile.TemporaryDirectory() as directory, override_settings(BALOO_METRICS_CACHE_DIR=directory):
        build(world)
        run = metrics_recompute()
        for number, change in enumerate(rounds):
            counted_before = run.latest_week is not None
            apply(change, number)
            run = metrics_recompute(incremental=True)
            if counted_before:
                assert run.stats["mode"] == "incremental", run.stats
            check(run)


@pytest.mark.django_db
@slow(25)
@given(world=worlds(), parts=st.integers(1, 4))
def test_the_partitioned_recompute_equals_the_oracle(world, parts):
    """Shares of the persons counted apart and added up: the medians come from the summed weeks."""
    build(world)
    check(metrics_recompute_partitioned(parts=parts))


# --------------------------------------------------------------------------- stories

SUNDAY = date(2024, 6, 2)  # the latest computed week's Sunday: an activity no rule counts is dated on it


@pytest.fixture
def community(db):
    """Support and Coding, each with a casual, an active and a core rule; `contribute(identity, rule, day)`."""
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    support = AreaFactory(slug="support", name="Support")
    coding = AreaFactory(slug="coding", name="Coding")
    rules = {}
    for area, source, slug, kind, level in (
        (support, sumo, "sumo-question", "sumo.question.asked", "casual"),
        (support, sumo, "sumo-answer", "sumo.answer.posted", "active"),
        (support, sumo, "sumo-kb", "sumo.kb.edited", "core"),
        (coding, github, "bug-filed", "github.issue.opened", "casual"),
        (coding, github, "pr", "github.pr.opened", "active"),
        (coding, github, "pr-merged", "github.pr.merged", "core"),
    ):
        ConversionPointFactory(slug=slug, area=area, source=source, types=[kind], level=level)
        rules[slug] = (source, kind)
    ActivityFactory(source=sumo, type="sumo.page.viewed", occurred_at=at(SUNDAY))

    def contribute(identity, rule: str, day: date, hour: int = 12) -> None:
        source, kind = rules[rule]
        ActivityFactory(source=source, type=kind, identity=identity, occurred_at=at(day, hour))

    return contribute


def pathways(population: str = "volunteers") -> dict:
    run = metrics_recompute()
    assert run.latest_week == SUNDAY
    check(run)
    return {(area, point): numbers for (who, area, point), numbers in pathways_served(run).items() if who == population}


def test_a_first_day_matching_two_rules_is_two_entry_points_and_one_entrant(community):
    ann = IdentityFactory()
    day = SUNDAY - timedelta(days=30)
    community(ann, "sumo-question", day, hour=0)
    community(ann, "sumo-answer", day, hour=23)  # the same UTC day, hours later: a tie
    community(ann, "sumo-kb", day + timedelta(days=1))  # the next day: not an entry point
    found = pathways()
    assert found["support", "sumo-question"]["entered"] == 1
    assert found["support", "sumo-answer"]["entered"] == 1
    assert found["support", "sumo-kb"]["entered"] == 0
    assert found["support", ""]["entered"] == 1  # the area as a whole: each person once
    assert found["support", "sumo-question"]["median_weeks_to_active"] == 0  # she answered that same day
    assert found["support", "sumo-question"]["median_weeks_to_core"] == 0  # six days or fewer: 0 weeks


def test_whole_weeks_and_a_median_between_two_people(community):
    ann, ben = IdentityFactory(), IdentityFactory()
    start = SUNDAY - timedelta(days=100)
    community(ann, "bug-filed", start)
    community(ann, "pr", start + timedelta(days=13))  # 1 whole week
    community(ben, "bug-filed", start)
    community(ben, "pr", start + timedelta(days=28))  # 4 whole weeks
    entry = pathways()["coding", "bug-filed"]
    assert (entry["entered"], entry["reached_active"], entry["median_weeks_to_active"]) == (2, 2, 2.5)
    assert (entry["reached_core"], entry["median_weeks_to_core"]) == (0, None)


def test_someone_who_never_reaches_active_stays_until_a_year_without_anything(community):
    casual, gone = IdentityFactory(), IdentityFactory()
    community(casual, "sumo-question", SUNDAY - timedelta(days=500))
    community(casual, "sumo-question", SUNDAY - timedelta(days=364))  # still inside the window: not left
    community(gone, "sumo-question", SUNDAY - timedelta(days=365))  # just outside: left
    entry = pathways()["support", "sumo-question"]
    assert (entry["entered"], entry["reached_active"], entry["median_weeks_to_active"]) == (2, 0, None)
    assert (entry["left"], entry["left_nowhere"], entry["left_to"]) == (1, 1, [])


def test_a_person_who_enters_support_and_moves_to_coding(community):
    ann, ben = IdentityFactory(), IdentityFactory()
    community(ann, "sumo-answer", SUNDAY - timedelta(days=800))
    community(ann, "bug-filed", SUNDAY - timedelta(days=700))
    community(ann, "pr", SUNDAY - timedelta(days=20))  # active in Coding now
    community(ben, "sumo-answer", SUNDAY - timedelta(days=800))
    community(ben, "bug-filed", SUNDAY - timedelta(days=20))  # only casual in Coding: gone nowhere active
    found = pathways()
    support = found["support", "sumo-answer"]
    assert (support["entered"], support["left"], support["left_to"], support["left_nowhere"]) == (
        2,
        2,
        [("coding", 1)],
        1,
    )
    coding = found["coding", "bug-filed"]
    assert (coding["entered"], coding["reached_active"], coding["median_weeks_to_active"]) == (2, 1, 97)
    assert coding["left"] == 0


def test_staff_count_only_when_asked_and_a_volunteer_hired_later_keeps_their_first_step(community):
    sam = IdentityFactory(person=PersonFactory(staff_periods=True))
    hired = SUNDAY - timedelta(days=50)
    vic = IdentityFactory(person=PersonFactory(staff_periods=[(hired, None)]))
    community(sam, "sumo-answer", SUNDAY - timedelta(days=10))
    community(vic, "sumo-question", SUNDAY - timedelta(days=60))  # a volunteer then
    community(vic, "sumo-answer", SUNDAY - timedelta(days=40))  # staff by then
    volunteers, everyone = pathways(), pathways("everyone")
    assert volunteers["support", "sumo-answer"]["entered"] == 0
    assert volunteers["support", "sumo-question"]["reached_active"] == 0  # her answer was a staff one
    assert everyone["support", "sumo-answer"]["entered"] == 1
    assert everyone["support", "sumo-question"]["reached_active"] == 1
    assert everyone["support", ""]["entered"] == 2


def test_bots_never_count(community):
    robot = IdentityFactory(person=PersonFactory(is_bot=True))
    community(robot, "sumo-answer", SUNDAY - timedelta(days=3))
    assert pathways("everyone")["support", ""]["entered"] == 0


def test_a_merge_keeps_the_earlier_first_step_only(community):
    ann_mail, ann_login = IdentityFactory(), IdentityFactory()
    community(ann_mail, "pr", SUNDAY - timedelta(days=40))
    community(ann_login, "bug-filed", SUNDAY - timedelta(days=90))
    before = pathways()
    assert before["coding", "pr"]["entered"] == 1 and before["coding", "bug-filed"]["entered"] == 1
    merged = ann_mail.person
    Identity.objects.filter(pk=ann_mail.pk).update(person=ann_login.person)
    merged.delete()
    after = pathways()
    assert after["coding", "pr"]["entered"] == 0
    assert after["coding", "bug-filed"]["entered"] == 1
    assert after["coding", "bug-filed"]["median_weeks_to_active"] == 7  # 50 days after her first step
