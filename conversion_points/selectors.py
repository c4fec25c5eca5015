"""Reads about what conversion points match: a rule's preview, the activity types and containers a source sent.

The rule editor (`conversion_points.admin`) asks these: which types and containers to offer, what a
rule would match, and what it would do to its area's count of active contributors — counted by
`contributions`, the one definition of active, so the preview says what the next recompute will.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.db.models import Count
from modeltranslation.utils import build_localized_fieldname

from activities.models import Activity, Source

from .contributions import contributions, counted, scope_points, today_utc, window_start
from .models import Area, ConversionPoint, Population

# How many containers the editor suggests: the most common ones, enough to show the pattern.
CONTAINER_SUGGESTIONS = 30


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


def activity_types_seen(*, source: Source) -> list[tuple[str, int]]:
    """The activity types this source has sent, each with how many activities: for choosing a rule's types."""
    rows = Activity.objects.filter(source=source).order_by().values("type").annotate(count=Count("id"))
    return sorted((row["type"], row["count"]) for row in rows)


def containers_seen(*, sources: Iterable[Source], limit: int = CONTAINER_SUGGESTIONS) -> list[tuple[str, int]]:
    """The most common containers of these sources' activities, most used first: examples for a rule's container glob."""
    rows = (
        Activity.objects.filter(source__in=list(sources))
        .exclude(container="")
        .order_by()
        .values("container")
        .annotate(count=Count("id"))
        .order_by("-count", "container")[:limit]
    )
    return [(row["container"], row["count"]) for row in rows]


@dataclass(frozen=True)
class AreaChange:
    """What saving a rule would do to its area's active contributors today (volunteers, as the dashboard counts)."""

    day: date
    before: int
    after: int
    added: frozenset[int]  # person ids active only with the rule as written
    removed: frozenset[int]  # person ids active only without it


def _active_persons(*, area: Area, points: list[ConversionPoint], day: date) -> set[int]:
    """The area's active volunteers at `day` under these points: `contributions.active_contributors`, for rules
    that may not be saved yet."""
    rows = contributions(
        points=counted(f"area:{area.slug}", points), population=Population.VOLUNTEERS, start=window_start(day), end=day
    )
    return set(rows.order_by().values_list("identity__person", flat=True).distinct())


def area_change_preview(*, area: Area, rule: ConversionPoint, day: date | None = None) -> AreaChange:
    """The area's active contributor count before and after saving `rule` (new, or an edit of a saved one), and who
    it adds or removes.

    "Before" is the area's enabled points as saved; "after" the same with `rule` in place of its saved self
    (a rule moved here from another area is added; a disabled or casual one adds no one). Nothing is saved.
    """
    day = day or today_utc()
    saved = list(scope_points(f"area:{area.slug}"))
    others = [point for point in saved if rule.pk is None or point.pk != rule.pk]
    before = _active_persons(area=area, points=saved, day=day)
    after = _active_persons(area=area, points=[*others, *([rule] if rule.enabled else [])], day=day)
    return AreaChange(day, len(before), len(after), frozenset(after - before), frozenset(before - after))


def translations_missing(*, values: Mapping[str, Any], fields: Iterable[str]) -> dict[str, list[str]]:
    """For each translated field that is written in some language, the enabled languages it is still empty in.

    django-modeltranslation shows the default language's text where a translation is empty, so a
    reader of those languages sees English: worth a warning, never a refusal.
    """
    missing: dict[str, list[str]] = {}
    for field in fields:
        texts = {code: str(values.get(build_localized_fieldname(field, code)) or "").strip() for code, _name in settings.LANGUAGES}
        if any(texts.values()):
            empty = [code for code, text in texts.items() if not text]
            if empty:
                missing[field] = empty
    return missing
