"""Reads for the public dashboard: the latest metric snapshots, and the few figures they do not hold.

Everything here is aggregate — counts per scope and week, never a person. The weekly series, the
overlap and the movements come from the snapshots of the latest complete metric run. Two figures are
not in the snapshots and are counted by `conversion_points.contributions` (the engine's rule, set
based), once per run (the callers cache them by run): the drop-off projection and the levels of a
source (the engine keeps levels for everything and for areas only).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db.models import QuerySet, Sum

from activities.models import Source
from conversion_points import contributions
from conversion_points.models import Area, ConversionPoint, Population
from metrics import selectors as metrics_selectors
from metrics.goals import last_contribution_days, still_active
from metrics.models import AreaMovement, MetricPoint, MetricRun, Overlap

T = TypeVar("T")

CACHE_SECONDS = metrics_selectors.RUN_CACHE_SECONDS
CACHE_NAMESPACE = "dashboard"
# The projection looks one window ahead: after 52 weeks nobody counted today is left.
PROJECTION_WEEKS = 52


@dataclass(frozen=True)
class WeekPoint:
    """One week of a scope's series, dated on its Sunday."""

    date: date
    active: int
    new: int
    lapsed: int


@dataclass(frozen=True)
class Levels:
    """People by the highest level they reached in the 12 months ending the week."""

    casual: int
    active: int
    core: int


def run_key(*, run: MetricRun, name: str) -> str:
    """A dashboard cache key naming the metric run, so a recompute leaves every older entry unused."""
    return metrics_selectors.run_cache_key(run=run, namespace=CACHE_NAMESPACE, name=name)


def run_cached(*, run: MetricRun, name: str, build: Callable[[], T]) -> T:
    """`build()` once per metric run (and name), under the dashboard's keys."""
    return metrics_selectors.run_cached(run=run, namespace=CACHE_NAMESPACE, name=name, build=build)


def series_points(*, run: MetricRun, scope: str, population: str = Population.VOLUNTEERS) -> list[WeekPoint]:
    """A scope's weekly series from the snapshots, oldest first (empty when the scope has none)."""
    rows = (
        MetricPoint.objects.filter(run=run, scope=scope, population=population)
        .order_by("date")
        .values_list("date", "active", "new", "lapsed")
    )
    return [WeekPoint(*row) for row in rows]


def latest_levels(*, run: MetricRun, scope: str, population: str = Population.VOLUNTEERS) -> Levels | None:
    """The level counts the engine keeps (everything and areas) at the latest week, None elsewhere."""
    point = (
        MetricPoint.objects.filter(run=run, scope=scope, population=population, date=run.latest_week)
        .exclude(level_casual=None)
        .values_list("level_casual", "level_active", "level_core")
        .first()
    )
    return Levels(*point) if point else None


def latest_active_by_scope(
    *, run: MetricRun, scopes: Iterable[str], population: str = Population.VOLUNTEERS
) -> dict[str, int]:
    """Active contributors at the latest week for each of many scopes, in one query (0 when absent)."""
    scopes = list(scopes)
    rows = MetricPoint.objects.filter(
        run=run, population=population, date=run.latest_week, scope__in=scopes
    ).values_list("scope", "active")
    found = dict(rows)
    return {scope: found.get(scope, 0) for scope in scopes}


def site_target() -> tuple[int | None, str]:
    """The community's goal line, and where it comes from.

    A site-wide goal (the BALOO_SITE_TARGET setting) when one is set: it is a goal for the
    de-duplicated total, which is what the home page shows. Otherwise the sum of the areas' own
    goals — a goal the de-duplicated total reaches only if the areas do not share their people,
    so the page says so. Returns (None, "") when neither exists.
    """
    configured = getattr(settings, "BALOO_SITE_TARGET", None)
    if configured:
        return int(configured), "site"
    total = Area.objects.aggregate(total=Sum("target"))["total"]
    return (int(total), "areas") if total else (None, "")


def scope_conversion_points(*, scope: str) -> QuerySet[ConversionPoint]:
    """The enabled conversion points that make up a scope (`all`, `area:SLUG`, `source:SLUG` or `cp:SLUG`)."""
    return contributions.scope_points(scope)


def dropoff_projection(
    *, run: MetricRun, scope: str, population: str = Population.VOLUNTEERS, weeks: int = PROJECTION_WEEKS
) -> list[WeekPoint]:
    """How many of today's active contributors would still be active in each coming week if nobody contributed again.

    A person is active at D while their last contribution falls on D−364 … D, so with no new
    contributions they stay active until 364 days after their last one: in the week k weeks after
    the latest week L, the people whose last contribution (active or core level, as for every
    active count) is on or after L + 7k − 364.
    """
    if run.latest_week is None:
        return []
    last_days = last_contribution_days(run=run, scope=scope, population=population)
    projection = []
    for week in range(1, weeks + 1):
        day = run.latest_week + timedelta(days=7 * week)
        projection.append(WeekPoint(day, still_active(last_days, day), 0, 0))
    return projection


def scope_levels(*, run: MetricRun, scope: str, population: str = Population.VOLUNTEERS) -> Levels | None:
    """People by the highest level they reached in the window — stored for areas, counted here for sources.

    Counted by `contributions.level_counts` (one query) at the latest week.
    """
    stored = latest_levels(run=run, scope=scope, population=population)
    if stored is not None or run.latest_week is None:
        return stored
    casual, active, core = contributions.level_counts(scope=scope, day=run.latest_week, population=population)
    return Levels(casual=casual, active=active, core=core)


def overlap_matrix(*, run: MetricRun, population: str = Population.VOLUNTEERS) -> dict[str, Any]:
    """The areas × areas table of shared active contributors at the latest week, and each area's movements.

    The diagonal holds each area's own active count. Movement: of the people who lapsed from the
    area in the last 12 months and are not back, how many are active in another area now (moved)
    and how many nowhere (left).
    """
    areas = list(Area.objects.order_by("position", "slug"))
    active = latest_active_by_scope(run=run, scopes=[f"area:{area.slug}" for area in areas], population=population)
    shared: dict[tuple[str, str], int] = {}
    for a, b, count in Overlap.objects.filter(run=run, population=population).values_list("area_a", "area_b", "shared"):
        shared[(a, b)] = shared[(b, a)] = count
    movements = {
        row["area"]: row
        for row in AreaMovement.objects.filter(run=run, population=population).values("area", "lapsed", "moved", "left")
    }
    largest = max(shared.values(), default=0)
    rows = []
    for area in areas:
        cells = []
        for other in areas:
            if other.pk == area.pk:
                cells.append({"area": other, "count": active[f"area:{area.slug}"], "diagonal": True, "heat": 0})
                continue
            count = shared.get((area.slug, other.slug), 0)
            # Six shades, the darkest for the largest overlap; zero stays blank.
            heat = 0 if count == 0 or largest == 0 else 1 + min(4, (5 * count - 1) // largest)
            cells.append({"area": other, "count": count, "diagonal": False, "heat": heat})
        movement = movements.get(area.slug, {"lapsed": 0, "moved": 0, "left": 0})
        rows.append({"area": area, "active": active[f"area:{area.slug}"], "cells": cells, "movement": movement})
    return {"areas": areas, "rows": rows, "largest": largest}


def sources_for_dashboard() -> QuerySet[Source]:
    """The sources a visitor can drill into: those some conversion point counts."""
    return Source.objects.filter(conversion_points__enabled=True).distinct().order_by("name", "slug")


def worked_example_points() -> tuple[ConversionPoint, ConversionPoint] | None:
    """The two rules "How we count" follows Ann through, taken from the installed rules so the example
    can never contradict them (with the demo loaded, the demo's): an active or core conversion point
    of the first area that has one, and one of another area, on another system when there is one.
    None when the installed rules have no such pair; the page then tells the example without names.
    """
    counting = list(
        ConversionPoint.objects.filter(
            enabled=True, level__in=[ConversionPoint.Level.ACTIVE, ConversionPoint.Level.CORE]
        )
        .select_related("area", "source")
        .order_by("area__position", "area__slug", "slug")
    )
    if not counting:
        return None
    first = counting[0]
    others = [point for point in counting if point.area_id != first.area_id]
    elsewhere = [point for point in others if point.source_id != first.source_id]
    second = (elsewhere or others or [None])[0]
    return (first, second) if second is not None else None
