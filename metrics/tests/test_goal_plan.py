"""An area's goal plan, held to an oracle written from the definitions (docs/common-language.md, "What the goal needs").

The oracle reads nothing Baloo computed: it takes the contributions as the test wrote them (a list
of UTC days per person) and counts, by the words of the definition, who would still be active on
the target date, how many weeks are left and how many newcomers the last 12 weeks brought.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from math import ceil

import pytest
import time_machine

from activities.models import Source
from conversion_points.models import Area
from conversion_points.tests.factories import (
    MONDAY_MORNING,
    SUNDAY,
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
    noon,
)
from metrics.engine import metrics_recompute
from metrics.goals import goal_plan
from metrics.models import MetricRun

pytestmark = pytest.mark.django_db

TODAY = MONDAY_MORNING.date()  # the Monday after SUNDAY, the latest computed week

# Each volunteer's contribution days in the area (Ann, Ben… in the order written).
VOLUNTEERS = [
    [date(2023, 5, 1)],  # before the window at SUNDAY: not active, not projected
    [date(2023, 6, 4)],  # the window's first day at SUNDAY (D−364): active, gone a week later
    [date(2023, 9, 20), date(2024, 1, 15)],
    [date(2024, 3, 10)],  # new 12 weeks ago (the 12 weeks end SUNDAY and start 2024-03-11): not in the pace
    [date(2024, 3, 11)],  # new on the pace's first day
    [date(2024, 4, 30), date(2024, 5, 31)],
    [date(2024, 6, 2)],  # new on SUNDAY itself
    [date(2024, 6, 3)],  # today, in the week in progress: not in the run
]


@dataclass
class World:
    area: Area
    run: MetricRun


@pytest.fixture
def world() -> World:
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    area = AreaFactory(slug="support", name="Support", target=10)
    ConversionPointFactory(slug="answer", area=area, source=sumo, types=["sumo.answer.posted"])
    for days in VOLUNTEERS:
        identity = IdentityFactory()
        for day in days:
            ActivityFactory(source=sumo, type="sumo.answer.posted", identity=identity, occurred_at=noon(day))
    # Staff and bots never count: not in the projection, not in the pace.
    staff = IdentityFactory(person=PersonFactory(staff_periods=True))
    bot = IdentityFactory(person=PersonFactory(is_bot=True))
    for identity in (staff, bot):
        ActivityFactory(source=sumo, type="sumo.answer.posted", identity=identity, occurred_at=noon(SUNDAY))
    with time_machine.travel(MONDAY_MORNING, tick=False):
        run = metrics_recompute()
        yield World(area=area, run=run)


# ------------------------------------------------------------------ the oracle, from the definitions


def oracle_projected(target_date: date) -> int:
    """Active at SUNDAY (a contribution on SUNDAY−364 … SUNDAY) and still active on the target date if nobody
    contributed again: the last contribution up to SUNDAY falls on target_date−364 or later."""
    count = 0
    for days in VOLUNTEERS:
        counted = [day for day in days if day <= SUNDAY]
        if counted and max(counted) >= SUNDAY - timedelta(days=364) and max(counted) >= target_date - timedelta(days=364):
            count += 1
    return count


def oracle_pace_new() -> int:
    """First contributions on the 12 weeks ending SUNDAY: SUNDAY−83 … SUNDAY."""
    first_day = SUNDAY - timedelta(days=83)
    return sum(1 for days in VOLUNTEERS if first_day <= min(days) <= SUNDAY)


def oracle_weeks_left(target_date: date) -> int:
    days = (target_date - TODAY).days + 1  # from today to the target date, both counted
    return -(-days // 7)


def plan_for(world: World, *, target: int | None, target_date: date | None):
    world.area.target, world.area.target_date = target, target_date
    with time_machine.travel(MONDAY_MORNING, tick=False):
        return goal_plan(area=world.area, run=world.run)


# ------------------------------------------------------------------ the tests


def test_the_oracle_reads_the_world_as_written() -> None:
    assert oracle_pace_new() == 3
    assert oracle_projected(SUNDAY) == 6
    assert oracle_weeks_left(date(2024, 9, 1)) == 13


@pytest.mark.parametrize(
    "target_date",
    [date(2024, 6, 3), date(2024, 6, 9), date(2024, 6, 10), date(2024, 9, 1), date(2024, 12, 31), date(2025, 6, 1), date(2027, 1, 1)],
    ids=["today", "this-week", "next-week", "in-13-weeks", "year-end", "a-year-on", "far"],
)
@pytest.mark.parametrize("target", [3, 10, 250])
def test_a_plan_is_what_the_definitions_say(world: World, target: int, target_date: date) -> None:
    plan = plan_for(world, target=target, target_date=target_date)

    projected = oracle_projected(target_date)
    weeks = oracle_weeks_left(target_date)
    needed = ceil(max(0, target - projected) / weeks)
    pace = oracle_pace_new() / 12
    assert (plan.projected, plan.weeks_left, plan.needed_per_week, plan.pace_new) == (projected, weeks, needed, oracle_pace_new())
    assert plan.from_week == SUNDAY and plan.today == TODAY
    expected = "met" if needed == 0 else "on_track" if pace >= needed else "behind"
    assert plan.status == expected
    assert plan.pace_enough is (pace >= needed)


def test_a_date_this_week_leaves_one_week_for_the_whole_gap(world: World) -> None:
    plan = plan_for(world, target=10, target_date=date(2024, 6, 9))

    assert plan.weeks_left == 1
    assert plan.needed_per_week == 10 - oracle_projected(date(2024, 6, 9))


def test_a_projection_above_the_target_needs_no_one(world: World) -> None:
    plan = plan_for(world, target=2, target_date=date(2024, 7, 1))

    assert plan.status == "met" and plan.needed_per_week == 0 and plan.pace_enough is True


def test_a_passed_date_is_said_to_have_passed_and_plans_nothing(world: World) -> None:
    plan = plan_for(world, target=10, target_date=date(2024, 6, 2))

    assert plan.status == "passed"
    assert (plan.projected, plan.needed_per_week, plan.pace_enough) == (None, None, None)
    assert plan.pace_new == oracle_pace_new()


def test_no_target_no_plan_and_no_date_only_the_pace(world: World) -> None:
    assert plan_for(world, target=None, target_date=date(2024, 9, 1)) is None
    assert plan_for(world, target=0, target_date=date(2024, 9, 1)) is None

    plan = plan_for(world, target=10, target_date=None)

    assert plan.status == "no_date" and plan.needed_per_week is None and plan.pace_new == oracle_pace_new()


def test_an_area_with_no_contribution_needs_the_whole_target(world: World) -> None:
    empty = AreaFactory(slug="new-area", name="New area", target=26, target_date=date(2024, 9, 1))
    with time_machine.travel(MONDAY_MORNING, tick=False):
        plan = goal_plan(area=empty, run=world.run)

    assert (plan.projected, plan.pace_new, plan.needed_per_week, plan.status) == (0, 0, 2, "behind")


def test_a_run_with_no_computed_week_plans_nothing() -> None:
    area = AreaFactory(slug="support", name="Support", target=10, target_date=date(2030, 1, 1))

    assert goal_plan(area=area, run=MetricRun(latest_week=None)) is None


def test_staff_count_in_the_plan_only_when_asked(world: World) -> None:
    world.area.target_date = date(2024, 9, 1)
    with time_machine.travel(MONDAY_MORNING, tick=False):
        volunteers = goal_plan(area=world.area, run=world.run)
        everyone = goal_plan(area=world.area, run=world.run, population="everyone")

    assert everyone.projected == volunteers.projected + 1  # the staff member; the bot never
    assert everyone.pace_new == volunteers.pace_new + 1
