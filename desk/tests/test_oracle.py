"""The desk's statuses against a brute-force count written straight from the definitions, on a random community."""

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

from accounts.roles import STAFF
from accounts.services import user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from desk.selectors import ABOUT_TO_LAPSE_DAYS, desk_for

pytestmark = pytest.mark.django_db

FIRST = date(2023, 1, 1)
DAYS = 3 * 365


def brute_force(days: set[date], d: date) -> str | None:
    """A person's status in the week ending `d`, from their contribution days in the area (BRIEF's words)."""

    def active(at: date) -> bool:
        return any(at - timedelta(days=364) <= day <= at for day in days)

    seen = sorted(day for day in days if day <= d)
    if active(d):
        if seen[0] >= d - timedelta(days=6):
            return "new"
        if not active(d - timedelta(days=7)):
            return "back"
        if seen[-1] + timedelta(days=365) <= d + timedelta(days=ABOUT_TO_LAPSE_DAYS):
            return "about_to_lapse"
        return "active"
    if active(d - timedelta(days=7)):
        return "lapsed"
    return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_statuses_equal_the_definitions(seed):
    rng = random.Random(seed)
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    git = Source.objects.create(slug="git", kind="git", name="Git")
    area = Area.objects.create(slug="support", name="Support")
    other = Area.objects.create(slug="code", name="Code")
    area.sources.add(sumo)
    other.sources.add(git)
    ConversionPoint.objects.create(area=area, slug="answer", source=sumo, types=["sumo.answer.posted"], level="active")
    ConversionPoint.objects.create(area=area, slug="ask", source=sumo, types=["sumo.question.asked"], level="casual")
    ConversionPoint.objects.create(area=other, slug="commit", source=git, types=["git.commit"], level="core")
    staff_user = get_user_model().objects.create_user("staffer", "s@example.org")
    user_roles_apply(user=staff_user, roles={STAFF})

    expected_days: dict[int, set[date]] = {}
    other_days: dict[int, set[date]] = {}
    n = 0
    for i in range(60):
        kind = rng.random()
        person = Person.objects.create(display_name=f"P{i}", is_bot=kind < 0.05)
        if 0.05 <= kind < 0.1:
            person.staff_periods.create(origin="admin")
        identity = Identity.objects.create(person=person, kind="email", value=f"p{i}@example.org")
        counts = not person.is_bot and kind >= 0.1
        # Bursts of activity with gaps, so some lapse, some come back and some are about to lapse.
        for _burst in range(rng.randint(0, 3)):
            start = rng.randrange(DAYS)
            for _ in range(rng.randint(1, 4)):
                day = FIRST + timedelta(days=min(DAYS, start + rng.randrange(60)))
                activity_type = rng.choice(["sumo.answer.posted", "sumo.answer.posted", "sumo.question.asked"])
                n += 1
                Activity.objects.create(
                    source=sumo, external_id=str(n), type=activity_type, identity=identity,
                    occurred_at=datetime(day.year, day.month, day.day, rng.randrange(24), tzinfo=UTC),
                )
                if counts and activity_type == "sumo.answer.posted":
                    expected_days.setdefault(person.pk, set()).add(day)
        if rng.random() < 0.3:
            day = FIRST + timedelta(days=rng.randrange(DAYS))
            n += 1
            Activity.objects.create(
                source=git, external_id=str(n), type="git.commit", identity=identity,
                occurred_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC),
            )
            if counts:
                other_days.setdefault(person.pk, set()).add(day)

    seen: set[str] = set()
    for weeks in range(0, DAYS // 7, 9):
        d = FIRST + timedelta(days=7 * weeks)  # 2023-01-01 is a Sunday
        assert d.weekday() == 6
        desk = desk_for(user=staff_user, area=area, week_end=d)
        found = {p.person_id: p.status for p in desk.people}
        wanted = {pid: s for pid, days in expected_days.items() if (s := brute_force(days, d)) is not None}
        assert found == wanted, d
        seen |= set(found.values())
        for person in desk.people:
            if person.status == "lapsed":
                moved = any(d - timedelta(days=364) <= day <= d for day in other_days.get(person.person_id, ()))
                assert person.moved == moved
            else:
                last = max(day for day in expected_days[person.person_id] if day <= d)
                assert person.drops_out_on == last + timedelta(days=365)
    # The community is varied enough to exercise every status.
    assert seen == {"new", "back", "about_to_lapse", "active", "lapsed"}
