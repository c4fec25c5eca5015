"""Pathways counted by brute force, straight from the definitions (docs/common-language.md, "Pathways").

Plain Python over the Activity rows read with the ORM, nothing of the engine reused: rules matched
with `fnmatch`, staff periods checked one by one, days compared as dates, the median by
`statistics.median`. Only who never counts (bots, placeholder accounts) is asked of its one rule,
`contributors.placeholders.persons_not_counted`.
"""

import fnmatch
from collections import defaultdict
from datetime import UTC, date, timedelta
from statistics import median

from django.utils import timezone

from activities.models import Activity
from contributors.models import StaffPeriod
from contributors.placeholders import persons_not_counted
from conversion_points.models import ConversionPoint

LEVELS = {"casual": 0, "active": 1, "core": 2}


def _sunday_ending(day: date) -> date:
    return day + timedelta(days=6 - day.weekday())


def latest_sunday() -> date | None:
    """The latest computed week's Sunday: the week of the latest activity, never a week not over yet."""
    latest = Activity.objects.order_by("-occurred_at").first()
    if latest is None:
        return None
    today = timezone.now().astimezone(UTC).date()
    last_complete = today - timedelta(days=today.weekday() + 1)
    return min(_sunday_ending(latest.occurred_at.astimezone(UTC).date()), last_complete)


def _matches(point: ConversionPoint, activity: Activity) -> bool:
    return (
        point.source_id == activity.source_id
        and activity.type in (point.types or [])
        and (point.container in ("", "*", None) or fnmatch.fnmatchcase(activity.container, point.container))
    )


def pathways_oracle() -> dict[tuple[str, str, str], dict]:
    """{(population, area slug, entry point slug or "" for the area): numbers} for every area with an enabled rule."""
    sunday = latest_sunday()
    if sunday is None:
        return {}
    points = list(ConversionPoint.objects.filter(enabled=True).select_related("area"))
    never = set(persons_not_counted().values_list("pk", flat=True))
    periods = defaultdict(list)
    for period in StaffPeriod.objects.all():
        periods[period.person_id].append((period.staff_from or date.min, period.staff_until or date.max))
    contributions = []  # (person, day, point, staff)
    for activity in Activity.objects.select_related("identity"):
        if activity.identity is None or activity.identity.person_id in never:
            continue
        day = activity.occurred_at.astimezone(UTC).date()
        if day > sunday:
            continue
        person = activity.identity.person_id
        staff = any(start <= day <= end for start, end in periods[person])
        for point in points:
            if _matches(point, activity):
                contributions.append((person, day, point, staff))
    window = (sunday - timedelta(days=364), sunday)
    expected = {}
    for population in ("volunteers", "everyone"):
        mine = [row for row in contributions if population == "everyone" or not row[3]]
        active_in = defaultdict(set)  # person → the areas they are an active contributor of at the Sunday
        for person, day, point, _staff in mine:
            if LEVELS[point.level] >= 1 and window[0] <= day <= window[1]:
                active_in[person].add(point.area.slug)
        for area in sorted({point.area.slug for point in points}):
            rows = [(person, day, point) for person, day, point, _staff in mine if point.area.slug == area]
            by_person = defaultdict(list)
            for person, day, point in rows:
                by_person[person].append((day, point))
            people = []  # (entry point slugs, weeks to active or None, weeks to core or None, left, went to)
            for person, theirs in by_person.items():
                first = min(day for day, _point in theirs)
                entries = {point.slug for day, point in theirs if day == first}
                active_days = [day for day, point in theirs if LEVELS[point.level] >= 1]
                core_days = [day for day, point in theirs if LEVELS[point.level] == 2]
                to_active = (min(active_days) - first).days // 7 if active_days else None
                to_core = (min(core_days) - first).days // 7 if core_days else None
                left = not any(window[0] <= day <= window[1] for day, _point in theirs)
                people.append((entries, to_active, to_core, left, active_in[person] - {area}))
            slots = [(point.slug, point.level) for point in points if point.area.slug == area] + [("", "")]
            for slug, level in slots:
                entrants = [one for one in people if slug == "" or slug in one[0]]
                went = defaultdict(int)
                for one in entrants:
                    if one[3]:
                        for other in one[4]:
                            went[other] += 1
                to_active = [one[1] for one in entrants if one[1] is not None]
                to_core = [one[2] for one in entrants if one[2] is not None]
                expected[(population, area, slug)] = {
                    "level": level,
                    "entered": len(entrants),
                    "reached_active": len(to_active),
                    "median_weeks_to_active": median(to_active) if to_active else None,
                    "reached_core": len(to_core),
                    "median_weeks_to_core": median(to_core) if to_core else None,
                    "left": sum(1 for one in entrants if one[3]),
                    "left_to": sorted(went.items(), key=lambda item: (-item[1], item[0])),
                    "left_nowhere": sum(1 for one in entrants if one[3] and not one[4]),
                }
    return expected


def pathways_served(run) -> dict[tuple[str, str, str], dict]:  # noqa: ANN001 - a MetricRun
    """The run's stored pathways in the oracle's shape."""
    from metrics.models import Pathway

    served = {}
    for row in Pathway.objects.filter(run=run):
        served[(row.population, row.area, row.conversion_point)] = {
            "level": row.level,
            "entered": row.entered,
            "reached_active": row.reached_active,
            "median_weeks_to_active": row.median_weeks_to_active,
            "reached_core": row.reached_core,
            "median_weeks_to_core": row.median_weeks_to_core,
            "left": row.left,
            "left_to": [(one["area"], one["count"]) for one in row.left_to],
            "left_nowhere": row.left_nowhere,
        }
    return served
