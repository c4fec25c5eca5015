"""Reads for permissions: the activities that are contributions to some areas."""

from collections.abc import Sequence

from django.db.models import Q, QuerySet

from activities.models import Activity
from conversion_points.models import Area, ConversionPoint
from conversion_points.rules import COUNTED_LEVELS, rules_condition


def contributions_of_areas(*, areas: Sequence[Area] | QuerySet[Area], approved_only: bool = True) -> QuerySet[Activity]:
    """Activities that are contributions to these areas: matched by an enabled active or core point.

    Only points over one of their area's sources count here (staff decide those): this is how anyone
    reads an area's contributors, so no rule can reach beyond what staff let the area draw on. With
    `approved_only` (what community builders read), only points exactly as staff approved them count,
    so a builder's new or widened rule shows no one until staff approve it; staff pass False.
    """
    points = ConversionPoint.objects.over_area_sources().filter(area__in=areas, enabled=True, level__in=COUNTED_LEVELS)
    if approved_only:
        points = points.approved()
    rules = rules_condition(points)
    return Activity.objects.filter(Q(pk__in=[]) if rules is None else rules, identity__isnull=False)
