"""Reads about what conversion points match: a rule's preview, the activity types a source sent."""

from typing import Any

from django.db.models import Count

from activities.models import Activity, Source

from .contributions import contributions, today_utc, window_start
from .models import ConversionPoint, Population


def conversion_point_preview(*, source: Source, types: list[str], container: str) -> dict[str, Any]:
    """What a rule would match over the last 12 months: "matches N activities by M people".

    The contributions it would make on the 365 days ending today, counted as everywhere else
    (`contributions.contributions`, everyone: bots left out, staff included).
    """
    today = today_utc()
    rule = ConversionPoint(source=source, types=types, container=container)
    since = window_start(today)
    totals = contributions(points=[rule], population=Population.EVERYONE, start=since, end=today).aggregate(
        activities=Count("id"), people=Count("identity__person", distinct=True)
    )
    return {"activities": totals["activities"], "people": totals["people"], "since": since}


def activity_types_seen(*, source: Source) -> list[str]:
    """The activity types this source has sent, for choosing a rule's types."""
    return list(Activity.objects.filter(source=source).order_by("type").values_list("type", flat=True).distinct())
