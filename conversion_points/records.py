"""The contributor's own record: what their activities count for under the rules, for them and, when
they chose so, for the world (their public profile).

A *contribution* is an activity matching an enabled conversion point (BRIEF: the common language).
A person is *active* in an area today when they have a contribution of the active or core level in
that area on the 365 UTC days ending today (D−364 … D), the rule the public counts use, asked of
`conversion_points.contributions` (bots are never active, staff are in their own record).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Max, Min

from activities.keys import looks_like_email
from activities.models import Activity, Source
from contributors.models import Identity, Person
from contributors.placeholders import counted

from .contributions import areas_of_persons, is_active, today_utc
from .models import Area, ConversionPoint
from .rules import LEVEL_RANK

# The contribution counts celebrated, smallest first.
COUNT_MILESTONES = (1, 10, 100, 1000)

Group = tuple[int, str, str]  # (source id, activity type, container): activities a rule sees alike


@dataclass
class PointReached:
    """A conversion point the person reached: how often and when."""

    conversion_point: ConversionPoint
    count: int
    first: datetime
    last: datetime


@dataclass
class AreaRecord:
    """The person in one area: the highest level reached and whether they are active there today."""

    area: Area
    level: str
    count: int
    first: datetime
    last: datetime
    active_now: bool
    first_active: datetime | None
    points: list[PointReached] = field(default_factory=list)

    @property
    def level_label(self) -> str:
        return ConversionPoint.Level(self.level).label


@dataclass
class Milestone:
    """A moment worth celebrating. `kind` picks the words in the template; `value` fills them."""

    kind: str
    reached_on: datetime
    value: Any = None


@dataclass
class NextMilestone:
    kind: str
    value: int
    remaining: int


@dataclass
class PersonRecord:
    person: Person
    contributions: int
    activities: int
    first: datetime | None
    last: datetime | None
    areas: list[AreaRecord]
    systems: list[tuple[Source, int]]
    milestones: list[Milestone]
    next_milestone: NextMilestone | None

    @property
    def points(self) -> list[PointReached]:
        return [point for area in self.areas for point in area.points]

    @property
    def active_areas(self) -> list[AreaRecord]:
        return [area for area in self.areas if area.active_now]


def _groups(person: Person) -> list[dict[str, Any]]:
    return list(
        Activity.objects.filter(identity__person=person)
        .order_by()
        .values("source_id", "type", "container")
        .annotate(count=Count("id"), first=Min("occurred_at"), last=Max("occurred_at"))
    )


def _matches(point: ConversionPoint, group: dict[str, Any]) -> bool:
    return (
        group["source_id"] == point.source_id
        and group["type"] in point.types
        and point.matches_container(group["container"])
    )


def _nth_contribution_dates(person: Person, matched: set[Group], wanted: tuple[int, ...]) -> dict[int, datetime]:
    """When the person made their n-th contribution, for each n wanted that they reached."""
    if not matched or not wanted:
        return {}
    dates: dict[int, datetime] = {}
    rows = (
        Activity.objects.filter(
            identity__person=person,
            source_id__in={group[0] for group in matched},
            type__in={group[1] for group in matched},
        )
        .order_by("occurred_at", "id")
        .values_list("occurred_at", "source_id", "type", "container")
    )
    seen = 0
    for occurred_at, source_id, type_, container in rows.iterator(chunk_size=2000):
        if (source_id, type_, container) not in matched:
            continue
        seen += 1
        if seen in wanted:
            dates[seen] = occurred_at
            if seen == max(wanted):
                break
    return dates


def person_record(*, person: Person, today: date | None = None) -> PersonRecord:
    """The person's areas, levels, conversion points reached, systems and milestones.

    One grouped query over the person's activities (by source, type and container) is matched
    against the enabled conversion points in Python: a person has few such groups, and the rules
    (container globs) are the same ones the metrics engine applies.
    """
    today = today or today_utc()
    groups = _groups(person)
    points = list(
        ConversionPoint.objects.filter(enabled=True)
        .select_related("area", "source")
        .order_by("area__position", "area__slug", "slug")
    )

    matched: set[Group] = set()
    area_groups: dict[int, dict[Group, dict[str, Any]]] = {}
    area_levels: dict[int, str] = {}
    reached: dict[int, list[PointReached]] = {}
    areas: dict[int, Area] = {}
    for point in points:
        hits = [group for group in groups if _matches(point, group)]
        if not hits:
            continue
        area_id = point.area_id
        areas[area_id] = point.area
        reached.setdefault(area_id, []).append(
            PointReached(
                conversion_point=point,
                count=sum(group["count"] for group in hits),
                first=min(group["first"] for group in hits),
                last=max(group["last"] for group in hits),
            )
        )
        if LEVEL_RANK[point.level] > LEVEL_RANK.get(area_levels.get(area_id, ""), -1):
            area_levels[area_id] = point.level
        for group in hits:
            key = (group["source_id"], group["type"], group["container"])
            matched.add(key)
            area_groups.setdefault(area_id, {})[key] = group

    # Active where the public counts say so: the one rule, asked of `conversion_points.contributions`.
    counted = areas_of_persons(person_ids=[person.pk], end=today)[person.pk]

    area_records = []
    for area_id, area in areas.items():
        # A group matched by two rules of one area is still one set of contributions there.
        in_area = area_groups[area_id].values()
        area_records.append(
            AreaRecord(
                area=area,
                level=area_levels[area_id],
                count=sum(group["count"] for group in in_area),
                first=min(group["first"] for group in in_area),
                last=max(group["last"] for group in in_area),
                active_now=is_active(counted.get(area.slug, (None, None))[1], day=today),
                first_active=counted.get(area.slug, (None, None))[0],
                points=reached[area_id],
            )
        )

    contribution_groups = [
        group for group in groups if (group["source_id"], group["type"], group["container"]) in matched
    ]
    contributions = sum(group["count"] for group in contribution_groups)
    first = min((group["first"] for group in contribution_groups), default=None)
    last = max((group["last"] for group in contribution_groups), default=None)

    by_source: dict[int, int] = {}
    for group in groups:
        by_source[group["source_id"]] = by_source.get(group["source_id"], 0) + group["count"]
    sources = Source.objects.in_bulk(by_source.keys())
    systems = sorted(((sources[pk], count) for pk, count in by_source.items()), key=lambda item: -item[1])

    source_firsts: dict[int, datetime] = {}
    for group in contribution_groups:
        known = source_firsts.get(group["source_id"])
        if known is None or group["first"] < known:
            source_firsts[group["source_id"]] = group["first"]

    milestones, next_milestone = _milestones(
        person=person,
        matched=matched,
        contributions=contributions,
        areas=area_records,
        today=today,
        source_firsts=sorted(source_firsts.values()),
    )
    return PersonRecord(
        person=person,
        contributions=contributions,
        activities=sum(by_source.values()),
        first=first,
        last=last,
        areas=area_records,
        systems=systems,
        milestones=milestones,
        next_milestone=next_milestone,
    )


def _milestones(
    *,
    person: Person,
    matched: set[Group],
    contributions: int,
    areas: list[AreaRecord],
    today: date,
    source_firsts: list[datetime],
) -> tuple[list[Milestone], NextMilestone | None]:
    wanted = tuple(n for n in COUNT_MILESTONES if n <= contributions)
    dates = _nth_contribution_dates(person, matched, wanted)
    milestones = [Milestone(kind="count", reached_on=dates[n], value=n) for n in wanted if n in dates]
    if dates.get(1):
        first = dates[1]
        year = 1
        while (anniversary := _anniversary(first, years=year)).date() <= today:
            if year in (1, 2, 3, 5) or year % 5 == 0:
                milestones.append(Milestone(kind="years", reached_on=anniversary, value=year))
            year += 1
    active_dates = sorted(area.first_active for area in areas if area.first_active)
    if len(active_dates) >= 3:
        milestones.append(Milestone(kind="areas", reached_on=active_dates[2], value=len(active_dates)))
    core = sorted((area for area in areas if area.level == ConversionPoint.Level.CORE), key=lambda area: area.first)
    for area in core:
        first_core = min(
            point.first for point in area.points if point.conversion_point.level == ConversionPoint.Level.CORE
        )
        milestones.append(Milestone(kind="core", reached_on=first_core, value=area.area))
    if len(source_firsts) >= 3:
        milestones.append(Milestone(kind="systems", reached_on=source_firsts[2], value=len(source_firsts)))
    milestones.sort(key=lambda milestone: milestone.reached_on, reverse=True)

    upcoming = next((n for n in COUNT_MILESTONES if n > contributions), None)
    next_milestone = (
        NextMilestone(kind="count", value=upcoming, remaining=upcoming - contributions)
        if upcoming and contributions
        else None
    )
    return milestones, next_milestone


def _anniversary(moment: datetime, *, years: int) -> datetime:
    """The same calendar day `years` later, not 365 days per year (which arrives a day early once a
    29 February lies between). A first contribution on 29 February has its anniversaries on 1 March
    in other years: on the 28th the year is not over yet."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, month=3, day=1)


def public_profile(*, person_id: int) -> dict[str, Any] | None:
    """What a person chose to show the world, or None when they have no public profile.

    Only the chosen public name, areas, levels and counts; user names only when the person opted
    in; never an e-mail address. A user name can be one (SUMO's often are, and pushed or imported
    records name whatever they like), so one that looks like an address (`looks_like_email`) is
    left out; a public name saved before names were checked that way shows no profile at all.
    """
    person = Person.objects.filter(counted("pk"), pk=person_id, profile_public=True).first()
    if person is None or looks_like_email(person.profile_name):
        return None
    record = person_record(person=person)
    usernames = []
    if person.profile_shows_usernames:
        usernames = [
            (namespace, value)
            for namespace, value in person.identities.filter(kind=Identity.Kind.USERNAME)
            .order_by("namespace", "value")
            .values_list("namespace", "value")
            if not looks_like_email(value)
        ]
    return {
        "person": person,
        "name": person.profile_name,
        "areas": record.areas,
        "contributions": record.contributions,
        "first": record.first,
        "systems": [source for source, _count in record.systems],
        "milestones": record.milestones,
        "usernames": usernames,
    }
