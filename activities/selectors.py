"""Reads about sources and activities."""

from typing import TypedDict

from django.db.models import Count

from contributors.models import Person

from .models import Source


class ActivityTotals(TypedDict):
    activities: int
    people: int
    sources: list[dict]


def activity_totals() -> ActivityTotals:
    """How much Baloo holds: activities, people (humans, not bots) and activities per source."""
    sources = list(Source.objects.annotate(activity_count=Count("activities")).values("slug", "name", "activity_count"))
    return {
        "activities": sum(source["activity_count"] for source in sources),
        "people": Person.objects.filter(is_bot=False).count(),
        "sources": sources,
    }
