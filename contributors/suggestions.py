"""Merge suggestions: identities that may be the same human, for a staff member to decide.

Suggestions never apply by themselves. A "not the same person" answer is remembered and the two
are never suggested again.
"""

import unicodedata
from collections import defaultdict
from itertools import combinations

from django.db import transaction
from django.utils import timezone

from .keys import USERNAME
from .models import Identity, MergeSuggestion, Person
from .placeholders import counted
from .services import persons_merge

# Names that say nothing about who someone is.
GENERIC_NAMES = {
    "root",
    "admin",
    "administrator",
    "unknown",
    "none",
    "anonymous",
    "john doe",
    "jane doe",
    "your name",
    "test user",
    "firstname lastname",
    "first last",
    "github action",
    "github actions",
    "mozilla bot",
    "ubuntu user",
    "local user",
}
GENERIC_USERNAMES = {"admin", "root", "test", "user", "guest", "anonymous", "unknown", "none", "ubuntu", "github"}
# A name shared by more persons than this is too common to suggest anything ("David Smith").
MAX_PERSONS_PER_NAME = 3
NAME_SCORE = 0.7
USERNAME_SCORE = 0.6


def normalise_name(name: str) -> str:
    """Accents and case folded, punctuation dropped, spaces collapsed: "José  García" → "jose garcia"."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.casefold().split())


def is_suggestible_name(normalised: str) -> bool:
    return len(normalised.split()) >= 2 and normalised not in GENERIC_NAMES


def suggestions_refresh() -> int:
    """Find new suggestions: the same full name on different persons, or the same user name in
    different sources. Returns how many new suggestions were made."""
    rows = list(Identity.objects.filter(counted("person")).values_list("pk", "person_id", "kind", "value", "name"))
    by_name: dict[str, dict[int, int]] = defaultdict(dict)
    by_username: dict[str, dict[int, int]] = defaultdict(dict)
    for identity_id, person_id, kind, value, name in rows:
        if name:
            normalised = normalise_name(name)
            if is_suggestible_name(normalised):
                by_name[normalised].setdefault(person_id, identity_id)
        if kind == USERNAME and value not in GENERIC_USERNAMES and len(value) >= 3:
            by_username[value].setdefault(person_id, identity_id)

    candidates: dict[frozenset[int], tuple[int, int, str, float]] = {}
    for groups, reason, score in (
        (by_name, "the same full name", NAME_SCORE),
        (by_username, "the same user name in different systems", USERNAME_SCORE),
    ):
        for label, identities_of_person in groups.items():
            if not 2 <= len(identities_of_person) <= MAX_PERSONS_PER_NAME:
                continue
            for (person_a, identity_a), (person_b, identity_b) in combinations(sorted(identities_of_person.items()), 2):
                pair = frozenset((person_a, person_b))
                if pair in candidates:  # both a name and a user name: more likely
                    a, b, previous, previous_score = candidates[pair]
                    candidates[pair] = (a, b, f"{previous}; {reason} “{label}”", min(0.95, previous_score + 0.2))
                else:
                    candidates[pair] = (
                        min(identity_a, identity_b),
                        max(identity_a, identity_b),
                        f"{reason[0].upper()}{reason[1:]} “{label}”",
                        score,
                    )
    if not candidates:
        return 0

    person_of_identity = {identity_id: person_id for identity_id, person_id, *_ in rows}
    known_pairs = {
        frozenset((person_of_identity.get(a), person_of_identity.get(b)))
        for a, b in MergeSuggestion.objects.values_list("identity_a_id", "identity_b_id")
    }
    new = [
        MergeSuggestion(identity_a_id=a, identity_b_id=b, reason=reason[:300], score=score)
        for pair, (a, b, reason, score) in candidates.items()
        if pair not in known_pairs
    ]
    MergeSuggestion.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def suggestion_accept(*, suggestion: MergeSuggestion, by=None) -> Person:
    """A staff member agrees: the two persons are merged (audited, reversible)."""
    with transaction.atomic():
        person_a, person_b = suggestion.identity_a.person, suggestion.identity_b.person
        person = person_a
        if person_a.pk != person_b.pk:
            into, other = sorted((person_a, person_b), key=lambda p: p.pk)
            person = persons_merge(into=into, others=[other], reason=f"Suggestion accepted: {suggestion.reason}", by=by)
        suggestion.status, suggestion.decided_by, suggestion.decided_at = (
            MergeSuggestion.Status.MERGED,
            by,
            timezone.now(),
        )
        suggestion.save(update_fields=["status", "decided_by", "decided_at"])
    return person


def suggestion_reject(*, suggestion: MergeSuggestion, by=None) -> None:
    """A staff member says "not the same person": remembered, never suggested again."""
    suggestion.status, suggestion.decided_by, suggestion.decided_at = (
        MergeSuggestion.Status.REJECTED,
        by,
        timezone.now(),
    )
    suggestion.save(update_fields=["status", "decided_by", "decided_at"])
