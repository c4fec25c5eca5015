"""Reads for a dashboard page as of a chosen day (`dashboard.dates`): aggregates only, from the latest run.

The headline numbers as of a day are the summary API's (`metrics.selectors.metrics_summary`: active
in the 365 days ending the day, new in the 7 days ending it — a computed Sunday read from the weekly
points, another day counted on demand, one day at a time site-wide). The figures that exist per week
only — lapsed, levels, each rule's count — are those of the latest week complete on that day
(`DateChoice.week`), read from the run's weekly points, and the page says which week that is.
"""

from datetime import date

from conversion_points.models import Population
from metrics.models import MetricPoint, MetricRun

from .dates import DateChoice
from .selectors import Levels, WeekPoint, series_points


def chart_points(*, run: MetricRun, scope: str, choice: DateChoice) -> list[WeekPoint]:
    """A scope's weekly points inside the chosen range (or up to the chosen day's week), oldest first."""
    return [point for point in series_points(run=run, scope=scope) if choice.in_range(point.date)]


def week_point(*, run: MetricRun, scope: str, day: date) -> WeekPoint:
    """A scope's weekly point of the week ending `day` (zeros when the scope had none that week)."""
    row = (
        MetricPoint.objects.filter(run=run, scope=scope, population=Population.VOLUNTEERS, date=day)
        .values_list("date", "active", "new", "lapsed")
        .first()
    )
    return WeekPoint(*row) if row else WeekPoint(day, 0, 0, 0)


def week_levels(*, run: MetricRun, scope: str, day: date) -> Levels | None:
    """The level counts the engine stored for the week ending `day` (everything and areas), None elsewhere."""
    row = (
        MetricPoint.objects.filter(run=run, scope=scope, population=Population.VOLUNTEERS, date=day)
        .exclude(level_casual=None)
        .values_list("level_casual", "level_active", "level_core")
        .first()
    )
    return Levels(*row) if row else None


def week_active_by_scope(*, run: MetricRun, scopes: list[str], day: date) -> dict[str, int]:
    """Active contributors of each scope in the week ending `day`, in one query (0 when absent)."""
    found = dict(
        MetricPoint.objects.filter(run=run, population=Population.VOLUNTEERS, date=day, scope__in=scopes).values_list(
            "scope", "active"
        )
    )
    return {scope: found.get(scope, 0) for scope in scopes}
