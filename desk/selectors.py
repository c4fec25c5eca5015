"""The builder's desk: an area's people in a week — new, back again, active, about to lapse, lapsed.

Everything is counted with the one definition of active (`conversion_points.contributions`), over
the conversion points the reader may use: for a community builder only the rules staff approved,
over the sources staff granted the area (`accounts.permissions`); for staff every rule over the
area's sources. Volunteers only, bots never, as the dashboard counts. For the week ending Sunday D:

- **active**: at least one contribution in the area on the 365 days ending D (D−364 … D).
- **new**: active, and their first-ever contribution in the area falls on D−6 … D (to welcome).
- **back again**: active at D, not active at D−7, and not new: they had lapsed and returned.
- **about to lapse**: active at D, and their last contribution in the area was 11–12 months ago,
  so they drop out within `ABOUT_TO_LAPSE_DAYS`: on their last contribution's day + 365, the first
  day it no longer counts.
- **lapsed**: active at D−7, not active at D (they dropped out that week); *moved* when they are
  active in another area at D, else *left*.

A person shows once, with the most specific of these (new, back again, about to lapse, else
active; or lapsed). Their **level** is the highest level of their contributions in the area over
the 365 days ending D (for lapsed people, ending D−7, the last window they counted in).

Set-based: one grouped query per question (statuses; who was active a week before; levels; other
areas of the lapsed; systems; names), never one per person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import F, QuerySet

from accounts.permissions import readable_people
from accounts.selectors import contributions_of_areas
from activities.models import Activity, Source
from contributors.models import Person
from conversion_points import contributions
from conversion_points.models import Area, ConversionPoint, Population
from conversion_points.owners import BUILDER_GROUP, areas_for, sees_all_areas
from conversion_points.rules import LEVEL_RANK

# Who is about to lapse: those who drop out within this many days after the week (last contribution 11–12 months ago).
ABOUT_TO_LAPSE_DAYS = 30
# The statuses, most specific first; `active` in a filter means every active person (new, back, about to lapse too).
NEW, BACK, ABOUT_TO_LAPSE, ACTIVE, LAPSED = "new", "back", "about_to_lapse", "active", "lapsed"
STATUSES = (NEW, BACK, ABOUT_TO_LAPSE, ACTIVE, LAPSED)
LEVELS = {rank: level for level, rank in LEVEL_RANK.items()}


@dataclass
class DeskPerson:
    person_id: int
    name: str
    status: str
    level: str
    first: datetime
    last: datetime
    sources: list[str] = field(default_factory=list)  # source slugs
    drops_out_on: date | None = None  # active people: the first day their last contribution no longer counts
    moved_to: list[str] = field(default_factory=list)  # lapsed people: other areas where they are active (names)
    moved: bool = False  # lapsed people: active in another area at D (named only when the reader may see it)

    @property
    def is_active(self) -> bool:
        return self.status != LAPSED


@dataclass
class Desk:
    area: Area
    week_end: date
    people: list[DeskPerson]
    sources: list[Source]

    @property
    def week_start(self) -> date:
        return self.week_end - timedelta(days=6)

    def counts(self) -> dict[str, int]:
        """How many people per status; `active` counts every active person (new and back again included)."""
        found = {status: 0 for status in STATUSES}
        for person in self.people:
            found[person.status] += 1
        found[ACTIVE] = sum(1 for person in self.people if person.is_active)
        return found

    def filtered(self, *, status: str = "", level: str = "", source: str = "") -> list[DeskPerson]:
        """The people with this status (`active`: every active person), level and source slug; empty: any."""
        people = self.people
        if status == ACTIVE:
            people = [p for p in people if p.is_active]
        elif status:
            people = [p for p in people if p.status == status]
        if level:
            people = [p for p in people if p.level == level]
        if source:
            people = [p for p in people if source in p.sources]
        return people


def desk_points(*, user: Any) -> QuerySet[ConversionPoint]:
    """The conversion points whose contributions `user` may read on the desk: approved ones for builders."""
    points = ConversionPoint.objects.over_area_sources()
    return points if sees_all_areas(user) else points.approved()


def may_use_desk(*, user: Any) -> bool:
    """Staff and administrators, and community builders (who may own no area yet)."""
    if sees_all_areas(user):
        return True
    return bool(user and user.is_authenticated and user.is_active and user.groups.filter(name=BUILDER_GROUP).exists())


def desk_sources(*, user: Any, area: Area) -> list[Source]:
    """The systems whose contributions count in the area, as `user` may read them (for the filter)."""
    points = contributions.scope_points(f"area:{area.slug}", points=desk_points(user=user))
    return list(Source.objects.filter(pk__in=points.values("source_id")).order_by("name"))


def desk_areas(*, user: Any) -> QuerySet[Area]:
    """The areas `user` may open on the desk (all for staff; a builder's own)."""
    return areas_for(user).order_by("position", "slug")


def _levels(*, scope: str, day: date, points: QuerySet[ConversionPoint]) -> dict[int, str]:
    rows = contributions.contributors(
        scope=scope, population=Population.VOLUNTEERS, start=contributions.window_start(day), end=day, points=points,
        counted_only=False,
    )
    return {row["person"]: LEVELS[row["level"]] for row in rows}


def desk_for(*, user: Any, area: Area, week_end: date) -> Desk:
    """The area's people in the week ending `week_end` (a Sunday), as `user` may read them.

    The caller checks that `user` may open `area` (`desk_areas`).
    """
    points = desk_points(user=user)
    scope, population = f"area:{area.slug}", Population.VOLUNTEERS
    rows = contributions.contributor_statuses(scope=scope, day=week_end, population=population, points=points)
    ids = {row.person_id for row in rows}
    before = {
        row["person"]
        for row in contributions.active_contributors(
            scope=scope, day=week_end - timedelta(days=7), population=population, points=points
        )
    }
    levels = _levels(scope=scope, day=week_end, points=points)
    lapsed_ids = [row.person_id for row in rows if row.status == "lapsed"]
    if lapsed_ids:
        levels.update(
            {pid: level for pid, level in _levels(scope=scope, day=week_end - timedelta(days=7), points=points).items() if pid in lapsed_ids}
        )
    elsewhere = _active_elsewhere(user=user, area=area, person_ids=lapsed_ids, day=week_end, points=points)
    systems = _sources_of(scope=scope, week_end=week_end, points=points)
    names = {
        person.pk: person.shown_name
        for person in readable_people(user=user, people=Person.objects.filter(pk__in=ids)).only("pk", "display_name")
    }
    soon = week_end + timedelta(days=ABOUT_TO_LAPSE_DAYS)
    people = []
    for row in rows:
        last_day = row.last.date()
        drops_out_on = last_day + timedelta(days=contributions.WINDOW_DAYS) if row.status != "lapsed" else None
        if row.status == "lapsed":
            status = LAPSED
        elif row.status == "new":
            status = NEW
        elif row.person_id not in before:
            status = BACK
        elif drops_out_on is not None and drops_out_on <= soon:
            status = ABOUT_TO_LAPSE
        else:
            status = ACTIVE
        other_areas = elsewhere.get(row.person_id)
        people.append(
            DeskPerson(
                person_id=row.person_id,
                name=names.get(row.person_id, ""),
                status=status,
                level=levels.get(row.person_id, ConversionPoint.Level.ACTIVE),
                first=row.first,
                last=row.last,
                sources=sorted(systems.get(row.person_id, ())),
                drops_out_on=drops_out_on,
                moved=other_areas is not None,
                moved_to=other_areas or [],
            )
        )
    people.sort(key=lambda p: (STATUSES.index(p.status), p.name.casefold(), p.person_id))
    return Desk(area=area, week_end=week_end, people=people, sources=desk_sources(user=user, area=area))


def _active_elsewhere(
    *, user: Any, area: Area, person_ids: list[int], day: date, points: QuerySet[ConversionPoint]
) -> dict[int, list[str]]:
    """Lapsed person id → names of the other areas where they are active at `day` (one grouped query).

    Only the areas the reader may open are named; any other shows as the person having moved, unnamed.
    """
    if not person_ids:
        return {}
    found = contributions.areas_of_persons(person_ids=person_ids, end=day, population=Population.VOLUNTEERS, points=points)
    readable = {a.slug: str(a.name) for a in areas_for(user)}
    moved: dict[int, list[str]] = {}
    for person_id, areas in found.items():
        others = [slug for slug, (_first, last) in areas.items() if slug != area.slug and contributions.is_active(last, day=day)]
        if others:
            moved[person_id] = sorted(readable[slug] for slug in others if slug in readable)
    return moved


def _sources_of(*, scope: str, week_end: date, points: QuerySet[ConversionPoint]) -> dict[int, set[str]]:
    """Person id → the slugs of the systems of their contributions in the area over the 365 days ending D−7 … D."""
    members = contributions.counted(scope, contributions.scope_points(scope, points=points))
    rows = (
        contributions.contributions(
            points=members, population=Population.VOLUNTEERS, start=contributions.window_start(week_end - timedelta(days=7)), end=week_end
        )
        .order_by()
        .values_list(F("identity__person"), F("source__slug"))
        .distinct()
    )
    found: dict[int, set[str]] = {}
    for person_id, slug in rows:
        found.setdefault(person_id, set()).add(slug)
    return found


def desk_person_activities(*, user: Any, area: Area, person_id: int) -> QuerySet[Activity]:
    """One person's contributions to the area that `user` may read, newest first (none: not theirs to read)."""
    return (
        contributions_of_areas(areas=[area], approved_only=not sees_all_areas(user))
        .filter(identity__person_id=person_id)
        .select_related("source")
        .order_by("-occurred_at", "-id")
    )


def desk_person_name(*, user: Any, person_id: int) -> str:
    """The person's name as `user` may read it (empty when only another source reports it)."""
    person = readable_people(user=user, people=Person.objects.filter(pk=person_id)).first()
    return person.shown_name if person else ""
