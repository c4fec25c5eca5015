"""Conversion points as conditions on activities, for the reads that ask Django (the engine writes its own SQL).

A rule matches an activity of its source whose type is one of its types and whose container
matches its glob (`containers.container_q`; empty or `*` means any container). Who did it — identity,
bots, staff — is for each caller to decide.
"""

from collections.abc import Iterable

from django.db.models import Q

from .containers import container_q
from .models import ConversionPoint

# The levels whose contributions make someone an active contributor; casual ones are shown, not counted.
COUNTED_LEVELS = (ConversionPoint.Level.ACTIVE, ConversionPoint.Level.CORE)
# The levels in order, lowest first: a person's level in an area is the highest its rules gave them.
LEVEL_RANK = {ConversionPoint.Level.CASUAL: 0, ConversionPoint.Level.ACTIVE: 1, ConversionPoint.Level.CORE: 2}


def rule_condition(*, source_id: int, types: Iterable[str] | None, container: str | None) -> Q | None:
    """The activities one rule matches, as a `Q` on Activity; None when its glob matches no container."""
    matching = container_q(container)
    if matching is None:
        return None
    return Q(source_id=source_id, type__in=list(types or [])) & matching


def rules_condition(points: Iterable[ConversionPoint]) -> Q | None:
    """The activities any of these conversion points match; None when none of them can match any."""
    condition = None
    for point in points:
        rule = rule_condition(source_id=point.source_id, types=point.types, container=point.container)
        if rule is not None:
            condition = rule if condition is None else condition | rule
    return condition
