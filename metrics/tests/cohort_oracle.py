"""Cohorts and retention counted by brute force, straight from the definitions in docs/common-language.md.

Plain Python over the ORM: every activity, its identity's person now, every enabled conversion point
checked one by one (containers with `fnmatch.fnmatchcase`), staff periods one at a time, quarters as
(year, quarter) pairs of the UTC date. Nothing of the engine is reused.
"""

import fnmatch
from collections import defaultdict
from datetime import UTC, date, timedelta

from django.utils import timezone

from activities.models import Activity, Source
from contributors.models import StaffPeriod
from conversion_points.models import Area, ConversionPoint

LEVELS = {"casual": 0, "active": 1, "core": 2}


def quarter(day: date) -> tuple[int, int]:
    return day.year, (day.month - 1) // 3


def quarter_after(q: tuple[int, int], k: int) -> tuple[int, int]:
    number = q[0] * 4 + q[1] + k
    return number // 4, number % 4


def quarter_first_day(q: tuple[int, int]) -> date:
    return date(q[0], q[1] * 3 + 1, 1)


def last_counted_day() -> date | None:
    """The latest computed week's Sunday: the week of the latest activity, never a week not over yet."""
    latest = Activity.objects.order_by("-occurred_at").first()
    if latest is None:
        return None
    day = latest.occurred_at.astimezone(UTC).date()
    sunday = day + timedelta(days=6 - day.weekday())
    today = timezone.now().astimezone(UTC).date()
    last_complete = today - timedelta(days=today.weekday() + 1)
    return min(sunday, last_complete)


def cohorts_oracle() -> dict:
    """{(scope, population): [{"start", "size", "retained", "partial"}, …]} for every scope with a counted person."""
    through = last_counted_day()
    if through is None:
        return {}
    points = list(ConversionPoint.objects.filter(enabled=True).select_related("area", "source"))
    periods = defaultdict(list)
    for period in StaffPeriod.objects.all():
        periods[period.person_id].append((period.staff_from or date.min, period.staff_until or date.max))
    contributions = []  # (person id, UTC day, point, staff)
    for activity in Activity.objects.select_related("identity__person"):
        if activity.identity is None or activity.identity.person.is_bot:
            continue
        day = activity.occurred_at.astimezone(UTC).date()
        if day > through:
            continue
        person = activity.identity.person_id
        staff = any(start <= day <= end for start, end in periods[person])
        for point in points:
            if (
                point.source_id == activity.source_id
                and activity.type in point.types
                and (point.container in ("", "*") or fnmatch.fnmatchcase(activity.container, point.container))
            ):
                contributions.append((person, day, point, staff))

    scopes = {"all": lambda p: p.level != "casual"}
    for area in Area.objects.all():
        scopes[f"area:{area.slug}"] = lambda p, slug=area.slug: p.area.slug == slug and p.level != "casual"
    for source in Source.objects.all():
        scopes[f"source:{source.slug}"] = lambda p, slug=source.slug: p.source.slug == slug and p.level != "casual"
    for point in points:
        scopes[f"cp:{point.slug}"] = lambda p, slug=point.slug: p.slug == slug

    latest = quarter(through)
    partial = quarter_first_day(quarter_after(latest, 1)) - timedelta(days=1) > through
    expected = {}
    for scope, in_scope in scopes.items():
        for population in ("volunteers", "everyone"):
            quarters = defaultdict(set)  # person → the quarters they contributed in
            for person, day, point, staff in contributions:
                if in_scope(point) and (population == "everyone" or not staff):
                    quarters[person].add(quarter(day))
            if not quarters:
                continue
            first = {person: min(held) for person, held in quarters.items()}
            cohorts = []
            q = min(first.values())
            while q <= latest:
                members = [person for person, joined in first.items() if joined == q]
                retained = []
                k = 0
                while quarter_after(q, k) <= latest:
                    retained.append(sum(1 for person in members if quarter_after(q, k) in quarters[person]))
                    k += 1
                cohorts.append(
                    {
                        "start": quarter_first_day(q).isoformat(),
                        "size": len(members),
                        "retained": retained,
                        "partial": partial and q == latest,
                    }
                )
                q = quarter_after(q, 1)
            expected[(scope, population)] = cohorts
    return expected
