"""Merge suggestions: persons that may be the same human, for a staff member to decide.

Suggestions never apply by themselves. A "not the same person" answer is remembered and the two
are never suggested again. `signals` says what suggests a pair and how strongly, `refresh` finds
them, `review` applies a staff member's answers.
"""

from .refresh import suggestions_refresh
from .review import (
    BulkMerge,
    suggestion_accept,
    suggestion_reject,
    suggestions_above,
    suggestions_accept_many,
    suggestions_bulk_plan,
)
from .signals import GENERIC_NAMES, is_suggestible_name, normalise_name

__all__ = [
    "GENERIC_NAMES",
    "BulkMerge",
    "is_suggestible_name",
    "normalise_name",
    "suggestion_accept",
    "suggestion_reject",
    "suggestions_above",
    "suggestions_accept_many",
    "suggestions_bulk_plan",
    "suggestions_refresh",
]
