"""Reads about metrics: the latest complete run, the summary as of a day, the weekly series, scope checks."""

import re
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from django.core.cache import cache as django_cache
from django.db.models import QuerySet, Sum

from activities.models import Source
from conversion_points.contributions import WINDOW_DAYS, scope_counts, today_utc
from conversion_points.models import Area, ConversionPoint

from .engine import as_of_scopes, metrics_recompute_soon
from .engine.runs import LATEST_RUN_KEY
from .goals import goal_plan
from .models import CohortTable, MetricPoint, MetricRun, Pathway

T = TypeVar("T")

SCOPE_PATTERN = re.compile(r"^(all|(area|source|cp):[-a-zA-Z0-9_]+)$")


def metric_run_latest() -> MetricRun | None:
    """The run the public numbers come from: the latest one that completed."""
    return MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).order_by("-finished_at", "-id").first()


LATEST_RUN_SECONDS = 5


def metric_run_current() -> MetricRun | None:
    """`metric_run_latest`, looked up at most every few seconds: public pages and the API ask on
    every request. A swap in this process forgets it at once; other processes see it within seconds."""
    run = django_cache.get(LATEST_RUN_KEY)
    if run is None:
        run = metric_run_latest()
        if run is not None:
            django_cache.set(LATEST_RUN_KEY, run, LATEST_RUN_SECONDS)
    return run


# Keys name the run, so a recompute leaves every older entry unused; this only bounds memory.
RUN_CACHE_SECONDS = 24 * 3600


def run_cache_key(*, run: MetricRun, namespace: str, name: str) -> str:
    """A cache key naming the metric run (its id and finish time), so a recompute leaves every older entry unused."""
    finished = run.finished_at.timestamp() if run.finished_at else 0
    return f"{namespace}:v1:{run.pk}:{finished}:{name}"


def run_cached(*, run: MetricRun, namespace: str, name: str, build: Callable[[], T]) -> T:
    """`build()` once per metric run (and namespace and name). A None result is not kept: built again next time."""
    key = run_cache_key(run=run, namespace=namespace, name=name)
    value = django_cache.get(key)
    if value is None:
        value = build()
        django_cache.set(key, value, RUN_CACHE_SECONDS)
    return value


def scope_exists(*, scope: str, run: MetricRun) -> bool:
    """Whether a well-formed scope names something Baloo knows (or the run counted)."""
    if scope == "all":
        return True
    kind, slug = scope.split(":", 1)
    model = {"area": Area, "source": Source, "cp": ConversionPoint}[kind]
    return model.objects.filter(slug=slug).exists() or MetricPoint.objects.filter(run=run, scope=scope).exists()


AS_OF_NAMESPACE = "as-of"
# A request that finds the figures of another day being counted waits for them this long at most.
AS_OF_WAIT_SECONDS = 60
AS_OF_POLL_SECONDS = 0.1
# Held while a day other than a stored one is counted on demand (one at a time, site-wide), for
# as long as the longest count may take; a request for another day waits AS_OF_BUSY_SECONDS for it.
AS_OF_COUNTING_LOCK = "as-of:counting"
AS_OF_LOCK_SECONDS = 300
AS_OF_BUSY_SECONDS = 5


class SummaryBusy(Exception):
    """Another day's summary is being counted on demand: ask again in a moment."""


def weekly_counts_as_of(*, run: MetricRun, day: date, population: str) -> dict[str, Any] | None:
    """A computed week's Sunday as `scope_counts` would count it, read from the weekly points: equal by
    the rule (tested), and a lookup instead of a pass over every contribution. None on other days.

    Contributors ever as of the Sunday: everyone's first contribution falls in exactly one week, so
    they are the sum of the weekly new contributors of `all` up to that Sunday.
    """
    if run.latest_week is None or day.weekday() != 6 or day > run.latest_week:
        return None
    points = MetricPoint.objects.filter(run=run, population=population)
    scopes = {
        scope: {"active": active, "new": new}
        for scope, active, new in points.filter(date=day).values_list("scope", "active", "new")
        if scope == "all" or scope.startswith(("area:", "source:"))
    }
    ever = points.filter(scope="all", date__lte=day).aggregate(ever=Sum("new"))["ever"] or 0
    return {"ever": ever, "scopes": scopes}


def scope_counts_as_of(*, run: MetricRun, day: date, population: str) -> dict[str, Any]:
    """`contributions.scope_counts` at `day`, kept per (metric run, day, population): a past day asked
    for with `?date=` (today's figures come with the run, see `summary_counts`).

    A computed week's Sunday is read from the weekly points. Any other day costs one query over
    every contribution up to the day (see `scope_counts`), and the day is in the hands of anyone on
    the internet, so the whole site counts one such day at a time (a lock in the cache): a request
    for the same day waits for its answer; a request for another day waits its turn for up to
    `AS_OF_BUSY_SECONDS`, then is told to come back (`SummaryBusy`, a 503) rather than adding a
    second pass over the database.
    """
    key = run_cache_key(run=run, namespace=AS_OF_NAMESPACE, name=f"{day.isoformat()}:{population}")
    value = django_cache.get(key)
    if value is not None:
        return value
    value = weekly_counts_as_of(run=run, day=day, population=population)
    if value is not None:
        django_cache.set(key, value, RUN_CACHE_SECONDS)
        return value
    waited = 0.0
    while not django_cache.add(AS_OF_COUNTING_LOCK, key, AS_OF_LOCK_SECONDS):
        same_day = django_cache.get(AS_OF_COUNTING_LOCK) == key
        if waited >= (AS_OF_WAIT_SECONDS if same_day else AS_OF_BUSY_SECONDS):
            raise SummaryBusy()
        time.sleep(AS_OF_POLL_SECONDS)
        waited += AS_OF_POLL_SECONDS
        value = django_cache.get(key)
        if value is not None:
            return value
    try:
        value = scope_counts(day=day, population=population)
        django_cache.set(key, value, RUN_CACHE_SECONDS)
    finally:
        django_cache.delete(AS_OF_COUNTING_LOCK)
    return value


def _stored_day(run: MetricRun) -> date | None:
    """The day of the summary stored with the run (`MetricRun.as_of`), None when it has none."""
    day = (run.as_of or {}).get("day")
    return date.fromisoformat(day) if day else None


def _recount_today(run: MetricRun, today: date) -> None:
    """Ask once (per run and day) for a recompute: midnight passed since the run counted its summary.

    The midnight job (`celery_beat.py`) asks for it already; this is the safety net when it did
    not run. A recompute is debounced and coalesced like any ingestion's.
    """
    if django_cache.add(run_cache_key(run=run, namespace=AS_OF_NAMESPACE, name=f"recount:{today}"), 1, 3600):
        metrics_recompute_soon()


def summary_counts(*, run: MetricRun, day: date | None, population: str) -> tuple[date, dict[str, Any]]:
    """The day the summary is as of, and its counts (the shape of `contributions.scope_counts`).

    As of today (`day` None), no request counts anything: every recompute (each ingestion asks
    for one, and the midnight job) counts the summary as of the day it runs and stores it with the
    run. While that day is today, it is the answer. After midnight, until the next run is swapped
    in (a minute or two), the answer is the run's figures dated their own day — yesterday, said so —
    never yesterday's figures called today's, and a recompute is asked for. A run without stored
    figures (counted before they existed) is counted on demand, once. A day asked for explicitly
    is the stored figures when they are of that day, else counted on demand (`scope_counts_as_of`).
    """
    today = today_utc()
    stored_day = _stored_day(run)
    stored = as_of_scopes(run.as_of, population=population) if stored_day is not None else None
    if day is None:
        if stored is not None and stored_day == today:
            return today, stored
        if stored is not None and stored_day < today:
            _recount_today(run, today)
            return stored_day, stored
        day = today
    elif stored is not None and stored_day == day:
        return day, stored
    return day, scope_counts_as_of(run=run, day=day, population=population)


def metrics_summary(*, run: MetricRun, day: date | None, population: str) -> dict[str, Any]:
    """The headline numbers as of a day (today by default): everything, the sum of areas, each area and each source.

    "As of D" (BRIEF): active in the 365 days ending D, new in the 7 days ending D, dated D — so a
    contribution made today shows today (from the next recompute, a minute after it arrives).
    Counted by the rule of `conversion_points.contributions` (see `summary_counts` for where the
    numbers come from); on a Sunday, they equal that Sunday's weekly point. Each area with a target
    carries its goal plan (`metrics.goals`) when the summary is today's; a past day's has none.
    """
    # A goal plan is made from now: given with today's summary, not with a past day's.
    plans = day is None or day == today_utc()
    day, counted = summary_counts(run=run, day=day, population=population)
    counts = counted["scopes"]

    def numbers(scope: str) -> tuple[int, int]:
        row = counts.get(scope)
        return (row["active"], row["new"]) if row else (0, 0)

    areas = []
    for area in Area.objects.order_by("position", "slug"):
        active, new = numbers(f"area:{area.slug}")
        plan = goal_plan(area=area, run=run, population=population) if plans else None
        areas.append(
            {
                "slug": area.slug,
                "name": area.name,
                "active": active,
                "new": new,
                "target": area.target,
                "target_date": area.target_date.isoformat() if area.target_date else None,
                "goal_plan": plan.public() if plan else None,
            }
        )
    sources = []
    for source in Source.objects.order_by("slug"):
        active, new = numbers(f"source:{source.slug}")
        sources.append({"slug": source.slug, "name": source.name, "active": active, "new": new})
    return {
        "date": day.isoformat(),
        "window_days": WINDOW_DAYS,
        "active": numbers("all")[0],
        "new": numbers("all")[1],
        "sum_of_areas": sum(area["active"] for area in areas),
        "contributors_ever": counted["ever"],
        "areas": areas,
        "sources": sources,
    }


def metric_points(
    *, run: MetricRun, scope: str, population: str, start: date | None, end: date | None
) -> QuerySet[MetricPoint]:
    points = MetricPoint.objects.filter(run=run, scope=scope, population=population)
    if start:
        points = points.filter(date__gte=start)
    if end:
        points = points.filter(date__lte=end)
    return points.order_by("date")


def metrics_series(
    *, run: MetricRun, scope: str, population: str, start: date | None, end: date | None
) -> dict[str, Any]:
    """One scope's weekly series, oldest first; level counts where the engine keeps them."""
    points = []
    for point in metric_points(run=run, scope=scope, population=population, start=start, end=end):
        entry: dict[str, Any] = {
            "date": point.date.isoformat(),
            "active": point.active,
            "new": point.new,
            "lapsed": point.lapsed,
        }
        if point.level_casual is not None:
            entry["levels"] = {"casual": point.level_casual, "active": point.level_active, "core": point.level_core}
        points.append(entry)
    return {"scope": scope, "window_days": WINDOW_DAYS, "points": points}


def metrics_cohorts(*, run: MetricRun, scope: str, population: str) -> dict[str, Any]:
    """One scope's cohorts and retention per calendar quarter, oldest first (`metrics.engine.cohorts`).

    `through` is the last day counted (the latest computed week's Sunday): a partial cohort, and
    every cohort's last `retained` number, count up to it. A known scope nobody contributed to has
    no cohorts.
    """
    cohorts = CohortTable.objects.filter(run=run, scope=scope, population=population).values_list("cohorts", flat=True)
    return {
        "scope": scope,
        "period": "quarter",
        "through": run.latest_week.isoformat() if run.latest_week else None,
        "cohorts": cohorts.first() or [],
    }


def _weeks(value: float | None) -> int | float | None:
    """A median in weeks as the API gives it: a whole number, or a half week."""
    return int(value) if value is not None and float(value).is_integer() else value


def metrics_pathways(*, run: MetricRun, area: Area, population: str) -> dict[str, Any]:
    """An area's pathways at the run's latest week: the area as a whole, then each entry point, most entered first.

    Counted by the engine (`metrics.engine.pathways`, the definitions in docs/common-language.md,
    "Pathways"); this only reads the run's rows and names the conversion points and areas.
    """
    names = dict(Area.objects.values_list("slug", "name"))
    points = {point.slug: point for point in ConversionPoint.objects.filter(area=area)}

    def numbers(row: Pathway | None) -> dict[str, Any]:
        if row is None:
            return {
                "entered": 0,
                "reached_active": 0,
                "median_weeks_to_active": None,
                "reached_core": 0,
                "median_weeks_to_core": None,
                "left": 0,
                "left_to": [],
                "left_nowhere": 0,
            }
        return {
            "entered": row.entered,
            "reached_active": row.reached_active,
            "median_weeks_to_active": _weeks(row.median_weeks_to_active),
            "reached_core": row.reached_core,
            "median_weeks_to_core": _weeks(row.median_weeks_to_core),
            "left": row.left,
            "left_to": [
                {"area": one["area"], "name": names.get(one["area"], one["area"]), "count": one["count"]}
                for one in row.left_to
            ],
            "left_nowhere": row.left_nowhere,
        }

    rows = list(Pathway.objects.filter(run=run, area=area.slug, population=population))
    total = next((row for row in rows if not row.conversion_point), None)
    entries = sorted((row for row in rows if row.conversion_point), key=lambda row: (-row.entered, row.conversion_point))
    return {
        "area": area.slug,
        "name": area.name,
        "date": run.latest_week.isoformat() if run.latest_week else None,
        "window_days": WINDOW_DAYS,
        "total": numbers(total),
        "entry_points": [
            {
                "conversion_point": row.conversion_point,
                "name": points[row.conversion_point].name if row.conversion_point in points else row.conversion_point,
                "level": row.level,
                **numbers(row),
            }
            for row in entries
        ],
    }
