"""A staff member's answers to merge suggestions: one at a time, or every one above a score at once."""

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ..models import MergeSuggestion, Person
from ..placeholders import placeholder_persons
from ..services.groups import UnionFind, blocked_person_pairs
from ..services.merges import persons_merge, persons_merge_groups, resolution_lock


def suggestion_accept(*, suggestion: MergeSuggestion, by: AbstractBaseUser | None = None) -> Person:
    """A staff member agrees: the two persons are merged (audited, reversible)."""
    with transaction.atomic():
        person_a, person_b = suggestion.identity_a.person, suggestion.identity_b.person
        person = person_a
        if person_a.pk != person_b.pk:
            into, other = sorted((person_a, person_b), key=lambda p: p.pk)
            person = persons_merge(into=into, others=[other], reason=f"Suggestion accepted: {suggestion.reason}", by=by)
        _decided(MergeSuggestion.objects.filter(pk=suggestion.pk), MergeSuggestion.Status.MERGED, by=by)
    suggestion.refresh_from_db()
    return person


def suggestion_reject(*, suggestion: MergeSuggestion, by: AbstractBaseUser | None = None) -> None:
    """A staff member says "not the same person": remembered, never suggested again (for the persons
    the two identities belong to, even after either is merged with someone else)."""
    _decided(MergeSuggestion.objects.filter(pk=suggestion.pk), MergeSuggestion.Status.REJECTED, by=by)
    suggestion.refresh_from_db()


def _decided(suggestions: QuerySet[MergeSuggestion], status: str, *, by: AbstractBaseUser | None) -> None:
    suggestions.update(status=status, decided_by=by, decided_at=timezone.now())


def suggestions_above(*, score: float) -> QuerySet[MergeSuggestion]:
    """The suggestions still to review whose score is at least `score`, strongest first."""
    return (
        MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN, score__gte=score)
        .select_related("identity_a__person", "identity_b__person")
        .order_by("-score", "id")
    )


@dataclass(slots=True)
class BulkMerge:
    """What accepting many suggestions at once does: the groups of persons that become one (the
    first of each group is the one they merge into), the suggestions accepted, and the suggestions
    left for one-by-one review: a person is locked or holds a placeholder account, an admin separated
    the two, or the group would hold two accounts (uids) of one system."""

    groups: list[list[Person]]
    accepted: list[MergeSuggestion]
    left: list[MergeSuggestion]


def suggestions_bulk_plan(*, suggestions: Sequence[MergeSuggestion]) -> BulkMerge:
    """What `suggestions_accept_many` would do with these suggestions, without doing it (the preview).
    Suggestions chain: accepting A–B and B–C makes one person of A, B and C."""
    persons = {}
    for suggestion in suggestions:
        for identity in (suggestion.identity_a, suggestion.identity_b):
            persons[identity.person_id] = identity.person
    locked, kept_apart = blocked_person_pairs(persons)
    # A placeholder account is no human: never merged, in bulk or one by one.
    locked |= set(placeholder_persons().filter(pk__in=list(persons)).values_list("pk", flat=True))
    groups = UnionFind()
    members: dict[int, set[int]] = {}
    accepted, left = [], []
    for suggestion in suggestions:
        pair = {suggestion.identity_a.person_id, suggestion.identity_b.person_id}
        first, *other = sorted(pair)
        second = other[0] if other else first
        # Suggestions chain: the whole group they would make, not only this pair, is checked.
        joined = members.get(groups.find(first), {first}) | members.get(groups.find(second), {second})
        if pair & locked or kept_apart.within(joined):
            left.append(suggestion)
            continue
        accepted.append(suggestion)
        groups.union(first, second)
        members[groups.find(first)] = joined
    grouped: dict[int, list[Person]] = {}
    for person_id in sorted(groups.parent):
        grouped.setdefault(groups.find(person_id), []).append(persons[person_id])
    return BulkMerge(groups=[group for group in grouped.values() if len(group) > 1], accepted=accepted, left=left)


def suggestions_accept_many(*, suggestions: Sequence[MergeSuggestion], reason: str, by: AbstractBaseUser | None = None) -> BulkMerge:
    """A staff member accepts many suggestions at once, after seeing `suggestions_bulk_plan`'s preview:
    each group of persons they join is merged into its oldest person (audited, each merge reversible
    on its own), the suggestions are marked merged. Those the plan leaves (`BulkMerge.left`) stay open,
    for one-by-one review."""
    with transaction.atomic():
        resolution_lock()  # the persons read here are the ones merged
        suggestions = list(
            MergeSuggestion.objects.filter(pk__in=[s.pk for s in suggestions], status=MergeSuggestion.Status.OPEN)
            .select_related("identity_a__person", "identity_b__person")
            .order_by("-score", "id")
        )
        plan = suggestions_bulk_plan(suggestions=suggestions)
        persons_merge_groups(
            merges=[(group[0].pk, [person.pk for person in group[1:]]) for group in plan.groups], reason=reason, by=by
        )
        _decided(
            MergeSuggestion.objects.filter(pk__in=[s.pk for s in plan.accepted]), MergeSuggestion.Status.MERGED, by=by
        )
    return plan
