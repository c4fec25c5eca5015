"""Days and weeks as the metrics engine counts them: day numbers, ISO weeks dated on their Sunday (UTC).

Days are numbered from 1970-01-01 (a Thursday); week k runs Monday to Sunday and ends on day 7k + 3,
so a week's point is dated on its Sunday (BRIEF: "a weekly point is dated on its Sunday"). What
"active" means — the 365 days ending a day, and which day today is — is a rule of
`conversion_points.contributions` (`WINDOW_DAYS`, `window_start`, `today_utc`); it is re-exported here
for the engine, which reads today through this module (`calendar.today_utc()`), the one clock a
benchmark may move.
"""

from datetime import UTC, date, timedelta

from django.db.models import Max
from django.utils import timezone

from activities.models import Activity
from conversion_points.contributions import WINDOW_DAYS, today_utc, window_start

__all__ = [
    "EPOCH",
    "WINDOW_DAYS",
    "capped_week",
    "day_number",
    "last_complete_week",
    "latest_week",
    "today_utc",
    "week_of_day",
    "week_sunday",
    "window_start",
]

EPOCH = date(1970, 1, 1)


def day_number(value: date) -> int:
    """Days since 1970-01-01."""
    return (value - EPOCH).days


def week_of_day(day: int) -> int:
    """The week holding a day: weeks run Monday to Sunday, week 0 ends on Sunday 1970-01-04."""
    return (day + 3) // 7


def week_sunday(week: int) -> date:
    """The Sunday (UTC) a week's point is dated on."""
    return EPOCH + timedelta(days=7 * week + 3)


def last_complete_week() -> int:
    """The latest week whose Sunday is over (UTC): on a Sunday, the week before; never the week in progress."""
    return week_of_day(day_number(timezone.now().astimezone(UTC).date())) - 1


def latest_week() -> int | None:
    """The latest computed week: the one holding the latest activity, never after the last complete week."""
    latest = Activity.objects.aggregate(latest=Max("occurred_at"))["latest"]
    if latest is None:
        return None
    return capped_week(day_number(latest.astimezone(UTC).date()))


def capped_week(latest_day: int | None) -> int | None:
    """The latest computed week: the one holding the latest activity, never after the last complete week.

    A week in progress is never a point: its Sunday has not happened (the summary answers "as of
    today" for it). Activities of the week in progress are read all the same, and counted once
    their week is complete.
    """
    if latest_day is None:
        return None
    return min(week_of_day(latest_day), last_complete_week())


