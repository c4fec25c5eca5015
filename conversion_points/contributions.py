"""Who contributed in a scope between two days, and at which level: the one definition every reader uses.

The metrics engine counts weekly series for every scope at once with its numpy sweep
(`metrics.weekly_sweep`); every other reader — the summary "as of a day", the dashboard, the staff
API's area contributors and de-duplication check, a contributor's own record, the rule previews —
asks this module, with the ORM, and each answer equals the engine's on the same day. The rules, in
the BRIEF's words:

- A **contribution** is an activity matched by an enabled conversion point (its source, one of its
  activity types, its container glob — `containers`), by an identity; the person is the identity's
  person now (so a merge or an unmerge shows at once). Persons that never count (bots) are left
  out; staff contributions only when everyone is counted (population `everyone`), volunteers'
  always. Days are UTC dates.
- **Active contributor at date D** (for a scope): at least one contribution of the scope's active or
  core conversion points on the 365 days ending D, i.e. D−364 … D inclusive. A conversion point's
  own scope (`cp:SLUG`) counts its contributions whatever its level.
- **New in the week ending D**: the first-ever such contribution falls on D−6 … D.
- **Lapsed in the week ending D**: active at D−7, not active at D.
- A person's **level** in a scope over some days: the highest level of the conversion points their
  contributions there matched (casual, active, core).

Scopes are `all`, `area:SLUG`, `source:SLUG` and `cp:SLUG`. `points` narrows the conversion points
a reader may use (the staff API passes only those over an area's own sources, or approved ones);
only enabled ones ever count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Case, Count, F, IntegerField, Max, Min, OuterRef, Q, QuerySet, Subquery, Value, When
from django.utils import timezone

from activities.models import Activity, Source
from contributors.models import Person
from contributors.placeholders import counted as counted_persons
from contributors.staff import staff_contribution_q

from .models import Area, ConversionPoint, Population
from .rules import COUNTED_LEVELS, LEVEL_RANK, rules_condition

SCOPE_KINDS = ("all", "area", "source", "cp")
# Active at D: a contribution on the 365 days ending D, i.e. UTC dates D−364 … D ("the prior 12 months").
WINDOW_DAYS = 365


# --------------------------------------------------------------------------- who counts
#
# Which contributions are staff ones, and which never count: each is asked here in one place, as a
# condition on Activity, through the rule its own module owns (`contributors.staff`,
# `contributors.placeholders`).


def _is_staff_contribution() -> Q:
    """Which contributions are staff ones: those whose UTC day falls inside a staff period of their
    person (`contributors.staff`, the engine's rule)."""
    return staff_contribution_q()


def _counts() -> Q:
    """Which contributions may count at all: those of persons that are human (not bots, not
    placeholder accounts; `contributors.placeholders` is the one rule)."""
    return counted_persons("identity__person")


# --------------------------------------------------------------------------- scopes and days


@dataclass(frozen=True)
class Scope:
    """`all`, or one area, source or conversion point by slug."""

    kind: str
    slug: str = ""

    @classmethod
    def parse(cls, scope: str | Scope) -> Scope:
        if isinstance(scope, Scope):
            return scope
        if scope == "all":
            return cls("all")
        kind, _sep, slug = scope.partition(":")
        if kind not in SCOPE_KINDS[1:] or not slug:
            raise ValueError(f"not a scope: {scope!r}")
        return cls(kind, slug)

    def __str__(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.slug}"


def today_utc() -> date:
    """Today, in UTC: the day an "as of today" answer is for."""
    return timezone.now().astimezone(UTC).date()


def day_start(day: date) -> datetime:
    """The first instant of a UTC day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def window_start(day: date) -> date:
    """The first of the 365 days ending `day` (D−364)."""
    return day - timedelta(days=WINDOW_DAYS - 1)


def scope_points(scope: str | Scope, *, points: QuerySet[ConversionPoint] | None = None) -> QuerySet[ConversionPoint]:
    """The enabled conversion points that make up a scope (of `points`, every one by default)."""
    scope = Scope.parse(scope)
    chosen = (ConversionPoint.objects.all() if points is None else points).filter(enabled=True)
    chosen = chosen.select_related("area", "source")
    if scope.kind == "area":
        return chosen.filter(area__slug=scope.slug)
    if scope.kind == "source":
        return chosen.filter(source__slug=scope.slug)
    if scope.kind == "cp":
        return chosen.filter(slug=scope.slug)
    return chosen


def counted(scope: str | Scope, points: Iterable[ConversionPoint]) -> list[ConversionPoint]:
    """The points whose contributions make someone active in the scope: active and core ones (a
    conversion point's own scope: the point, whatever its level)."""
    if Scope.parse(scope).kind == "cp":
        return list(points)
    return [point for point in points if point.level in COUNTED_LEVELS]


# --------------------------------------------------------------------------- contributions


def contributions(
    *,
    points: Iterable[ConversionPoint],
    population: str,
    start: date | None = None,
    end: date | None = None,
) -> QuerySet[Activity]:
    """The contributions these points turn activities into, on UTC days start … end (both included, open when None).

    Only contributions by an identity, never of a person that never counts, staff ones only when
    the population is everyone.
    """
    condition = rules_condition(points)
    if condition is None:
        return Activity.objects.none()
    rows = Activity.objects.filter(condition, identity__isnull=False).filter(_counts())
    if population != Population.EVERYONE:
        rows = rows.exclude(_is_staff_contribution())
    if start is not None:
        rows = rows.filter(occurred_at__gte=day_start(start))
    if end is not None:
        rows = rows.filter(occurred_at__lt=day_start(end + timedelta(days=1)))
    return rows


def _level_of_row(points: Sequence[ConversionPoint]) -> Case | Value:
    """Each contribution's highest level among the points that match it (0 casual, 1 active, 2 core)."""
    whens = []
    for level in (ConversionPoint.Level.CORE, ConversionPoint.Level.ACTIVE):
        condition = rules_condition(point for point in points if point.level == level)
        if condition is not None:
            whens.append(When(condition, then=Value(LEVEL_RANK[level])))
    if not whens:
        return Value(0)
    return Case(*whens, default=Value(0), output_field=IntegerField())


def contributors(
    *,
    scope: str | Scope,
    population: str,
    end: date,
    start: date | None = None,
    points: QuerySet[ConversionPoint] | None = None,
    counted_only: bool = True,
) -> QuerySet:
    """Who contributed in the scope on days start … end, one row per person, at which level.

    Rows are dicts: `person` (id), `level` (0 casual, 1 active, 2 core: the highest reached), `first`
    and `last` (the times of their first and last contribution in those days). With `counted_only`
    (the default) only the contributions that make someone active count: the persons are the
    scope's active contributors over those days; without, casual contributions count too.
    """
    scope_members = list(scope_points(scope, points=points))
    if counted_only:
        scope_members = counted(scope, scope_members)
    return (
        contributions(points=scope_members, population=population, start=start, end=end)
        .order_by()
        .values(person=F("identity__person"))
        .annotate(level=Max(_level_of_row(scope_members)), first=Min("occurred_at"), last=Max("occurred_at"))
    )


def active_contributors(
    *, scope: str | Scope, day: date, population: str, points: QuerySet[ConversionPoint] | None = None
) -> QuerySet:
    """The scope's active contributors at `day` (see `contributors`; the 365 days ending `day`)."""
    return contributors(scope=scope, population=population, start=window_start(day), end=day, points=points)


@dataclass(frozen=True)
class ContributorStatus:
    """A person active, new (and active) or lapsed at a day, with their first-ever and last contribution."""

    person_id: int
    status: str  # "active", "new" or "lapsed"
    first: datetime
    last: datetime


def contributor_statuses(
    *, scope: str | Scope, day: date, population: str, points: QuerySet[ConversionPoint] | None = None
) -> list[ContributorStatus]:
    """The scope's active contributors at `day`, which of them are new that week, and who lapsed that week.

    One grouped query over the scope's counted contributions up to `day`.
    """
    scope_members = counted(scope, scope_points(scope, points=points))
    since, since_before = window_start(day), window_start(day - timedelta(days=7))
    week_start = day_start(day - timedelta(days=6))
    rows = (
        contributions(points=scope_members, population=population, end=day)
        .order_by()
        .values("identity__person")
        .annotate(
            first=Min("occurred_at"),
            last=Max("occurred_at"),
            last_before=Max("occurred_at", filter=Q(occurred_at__lt=week_start)),
        )
        .filter(Q(last__gte=day_start(since)) | Q(last_before__gte=day_start(since_before)))
    )
    found = []
    for row in rows:
        if row["last"] >= day_start(since):
            status = "new" if row["first"] >= week_start else "active"
        else:
            status = "lapsed"
        found.append(ContributorStatus(row["identity__person"], status, row["first"], row["last"]))
    return found


# --------------------------------------------------------------------------- counts for many scopes


def scope_counts(*, day: date, population: str, points: QuerySet[ConversionPoint] | None = None) -> dict[str, Any]:
    """Active and new contributors at `day` for everything, every area and every source, and contributors ever.

    `{"ever": n, "scopes": {"all": {"active": n, "new": n}, "area:SLUG": {…}, "source:SLUG": {…}}}`;
    every area and source is there, with zeros when nothing counts. *contributors ever*: the persons
    with a contribution of any level up to `day`.

    Cost: one query, one pass over every contribution up to `day` (new needs each person's first
    one), with three distinct counts per scope: new = (persons with a contribution up to D) −
    (persons with one before D−6). Callers cache it (per metric run, day and population).
    """
    members = list(scope_points("all", points=points))
    scopes: dict[str, list[ConversionPoint]] = {"all": members}
    for area in Area.objects.order_by("position", "slug"):
        scopes[f"area:{area.slug}"] = [point for point in members if point.area_id == area.pk]
    for source in Source.objects.order_by("slug"):
        scopes[f"source:{source.slug}"] = [point for point in members if point.source_id == source.pk]
    since, week_start = day_start(window_start(day)), day_start(day - timedelta(days=6))
    aggregates: dict[str, Count] = {"ever": Count("identity__person", distinct=True)}
    for number, (scope, scope_members) in enumerate(scopes.items()):
        condition = rules_condition(counted(scope, scope_members))
        if condition is None:
            continue
        person = "identity__person"
        aggregates[f"s{number}_active"] = Count(person, distinct=True, filter=condition & Q(occurred_at__gte=since))
        aggregates[f"s{number}_seen"] = Count(person, distinct=True, filter=condition)
        aggregates[f"s{number}_before"] = Count(person, distinct=True, filter=condition & Q(occurred_at__lt=week_start))
    totals = contributions(points=members, population=population, end=day).aggregate(**aggregates)
    result: dict[str, Any] = {"ever": totals.get("ever") or 0, "scopes": {}}
    for number, scope in enumerate(scopes):
        active = totals.get(f"s{number}_active") or 0
        new = (totals.get(f"s{number}_seen") or 0) - (totals.get(f"s{number}_before") or 0)
        result["scopes"][scope] = {"active": active, "new": new}
    return result


def level_counts(
    *, scope: str | Scope, day: date, population: str, points: QuerySet[ConversionPoint] | None = None
) -> tuple[int, int, int]:
    """People by the highest level they reached in the scope on the 365 days ending `day`: (casual, active, core).

    One query: three distinct counts (anyone, anyone with an active or core contribution, anyone
    with a core one); the differences are the casual and active levels.
    """
    scope_members = list(scope_points(scope, points=points))
    counts: dict[str, Count] = {"anyone": Count("identity__person", distinct=True)}
    for name, levels in (("counted", COUNTED_LEVELS), ("core", (ConversionPoint.Level.CORE,))):
        condition = rules_condition(point for point in scope_members if point.level in levels)
        if condition is not None:
            counts[name] = Count("identity__person", distinct=True, filter=condition)
    people = contributions(points=scope_members, population=population, start=window_start(day), end=day).aggregate(
        **counts
    )
    anyone, active, core = people["anyone"] or 0, people.get("counted") or 0, people.get("core") or 0
    return anyone - active, active - core, core


def areas_of_persons(
    *,
    person_ids: Sequence[int],
    end: date,
    population: str = Population.EVERYONE,
    points: QuerySet[ConversionPoint] | None = None,
) -> dict[int, dict[str, tuple[datetime, datetime]]]:
    """For each person, the areas they contributed to up to `end` (counted contributions): area slug → (first, last).

    A person is active in an area at D ≤ `end` when their last contribution there up to D falls on
    D−364 … D; at `end` itself, when `last` does. One grouped query, two aggregates per area.
    """
    found: dict[int, dict[str, tuple[datetime, datetime]]] = {pid: {} for pid in person_ids}
    if not person_ids:
        return found
    members = list(scope_points("all", points=points))
    aggregates: dict[str, Any] = {}
    slugs: dict[str, str] = {}
    for area in Area.objects.order_by("position", "slug"):
        condition = rules_condition(counted("all", (point for point in members if point.area_id == area.pk)))
        if condition is None:
            continue
        key = f"a{area.pk}"
        slugs[key] = area.slug
        aggregates[f"{key}_first"] = Min("occurred_at", filter=condition)
        aggregates[f"{key}_last"] = Max("occurred_at", filter=condition)
    if not aggregates:
        return found
    rows = (
        contributions(points=counted("all", members), population=population, end=end)
        .filter(identity__person_id__in=list(person_ids))
        .order_by()
        .values("identity__person")
        .annotate(**aggregates)
    )
    for row in rows:
        for key, slug in slugs.items():
            if row[f"{key}_first"] is not None:
                found[row["identity__person"]][slug] = (row[f"{key}_first"], row[f"{key}_last"])
    return found


def is_active(last: datetime | None, *, day: date) -> bool:
    """Whether a last contribution up to `day` makes its person active at `day`."""
    return last is not None and last >= day_start(window_start(day))


# --------------------------------------------------------------------------- first and last contribution


def persons_with_contribution_dates(
    persons: QuerySet[Person], *, points: QuerySet[ConversionPoint] | None = None
) -> QuerySet[Person]:
    """`persons` annotated with `first_contribution_at` and `last_contribution_at` (None when none).

    A person's first and last contribution of any level, in any area, staff ones included; none for
    a person that never counts. Computed when read, from the activities and who is who now, so
    ingestion, merges, unmerges and erasure show at once (nothing stored can go stale). Two
    correlated subqueries per person, through the activities' identity index: for a page of people
    or a streamed export, not for sorting everyone.
    """
    rows = (
        contributions(points=scope_points("all", points=points), population=Population.EVERYONE)
        .filter(identity__person=OuterRef("pk"))
        .order_by()
        .values("identity__person")
    )
    return persons.annotate(
        first_contribution_at=Subquery(rows.annotate(at=Min("occurred_at")).values("at")[:1]),
        last_contribution_at=Subquery(rows.annotate(at=Max("occurred_at")).values("at")[:1]),
    )
