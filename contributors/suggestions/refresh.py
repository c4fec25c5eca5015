"""Finding merge suggestions: persons that share a normalised key, classified pair by pair."""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from itertools import combinations

from activities.keys import EMAIL, USERNAME

from ..models import Identity, MergeSuggestion, Person
from ..placeholders import counted, placeholder_suggestions_close
from .signals import (
    ADDRESS,
    ADDRESS_WORDS,
    CROWD_PENALTY,
    CROWDED,
    GENERIC_HANDLES,
    LOGIN,
    MAX_PERSONS_PER_KEY,
    MIN_HANDLE,
    NAME,
    WORD,
    Signal,
    address_handles,
    compact,
    handle_signal,
    name_handles,
    name_keys,
    name_signal,
    name_variants,
    one_word_name,
    signals_combined,
)

Pair = frozenset[int]


class Blocks:
    """Persons by normalised key: for each key, each person holding it and the identity that gave it."""

    def __init__(self) -> None:
        self.names: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
        self.handles: dict[str, dict[int, int]] = defaultdict(dict)
        self.origins: dict[tuple[str, int], set[str]] = defaultdict(set)  # (handle, person) → what made it
        self.names_of: dict[int, set[str]] = defaultdict(set)
        # (given, family) names of each person's names of several words, and every given name seen:
        # a handle that is only a given name (`alex@…`, `chris@…`) says nothing.
        self.full_names_of: dict[int, set[tuple[str, str]]] = defaultdict(set)
        self.given_names: set[str] = set()

    def add_name(self, person_id: int, identity_id: int, name: str) -> None:
        if not name or name in self.names_of[person_id]:
            return
        self.names_of[person_id].add(name)
        if name.count("@") == 1 and " " not in name.strip():
            # An address typed where the name goes: a handle, not a name.
            self.add_identity(person_id, identity_id, EMAIL, name.strip().casefold())
            return
        for words in name_variants(name):
            self.full_names_of[person_id].add((words[0], words[-1]))
            self.given_names.add(words[0])
            for key in name_keys(words):
                self.names[key].setdefault(person_id, identity_id)
            for handle in name_handles(words):
                self.add_handle(person_id, identity_id, handle, NAME)
        word = one_word_name(name)
        if word:
            self.add_handle(person_id, identity_id, word, WORD)

    def add_handle(self, person_id: int, identity_id: int, handle: str, origin: str) -> None:
        self.handles[handle].setdefault(person_id, identity_id)
        self.origins[(handle, person_id)].add(origin)

    def add_identity(self, person_id: int, identity_id: int, kind: str, value: str) -> None:
        if kind == EMAIL:
            login, handles, named = address_handles(value)
            if login:
                self.add_handle(person_id, identity_id, login, LOGIN)
            for handle in handles:
                self.add_handle(person_id, identity_id, handle, ADDRESS)
            for handle in named:
                self.add_handle(person_id, identity_id, handle, ADDRESS_WORDS)
        elif kind == USERNAME:
            handle = compact(value)
            if len(handle) >= MIN_HANDLE and handle not in GENERIC_HANDLES:
                self.add_handle(person_id, identity_id, handle, LOGIN)

    def candidates(self) -> dict[Pair, list[tuple[Signal, int, int]]]:
        """Every pair of persons sharing a key held by at most MAX_PERSONS_PER_KEY persons, with
        the signals that hold for it and, for each, the two identities that show it."""
        found: dict[Pair, list[tuple[Signal, int, int]]] = defaultdict(list)
        named: set[Pair] = set()
        # Smallest blocks first: a pair is judged on its names once, where its key is least crowded.
        for holders in sorted(self.names.values(), key=len):
            for (person_a, identity_a), (person_b, identity_b) in _pairs(holders):
                pair = frozenset((person_a, person_b))
                if pair in named:
                    continue
                named.add(pair)
                signal = name_signal(self.names_of[person_a], self.names_of[person_b])
                if signal:
                    found[pair].append((_uncrowded(signal, len(holders)), identity_a, identity_b))
        for handle, holders in self.handles.items():
            if handle in self.given_names:
                continue
            for (person_a, identity_a), (person_b, identity_b) in _pairs(holders):
                if self._names_differ(person_a, person_b):
                    continue
                signal = handle_signal(handle, self.origins[(handle, person_a)], self.origins[(handle, person_b)])
                if signal:
                    found[frozenset((person_a, person_b))].append((_uncrowded(signal, len(holders)), identity_a, identity_b))
        return found


    def _names_differ(self, person_a: int, person_b: int) -> bool:
        """Both persons give full names, and none of one's could be one of the other's: another
        family name ("Andreas Florath", "Andreas Hilboll") or another given name ("Sebastian Berg",
        "Stuart Berg"; "Chris" and "Christopher" may be one). A shared handle is then a coincidence."""
        names_a, names_b = self.full_names_of.get(person_a), self.full_names_of.get(person_b)
        if not names_a or not names_b:
            return False
        return not any(
            family_a == family_b and (given_a.startswith(given_b) or given_b.startswith(given_a))
            for given_a, family_a in names_a
            for given_b, family_b in names_b
        )


def _uncrowded(signal: Signal, holders: int) -> Signal:
    """A signal found in a crowded block says less."""
    if holders <= CROWDED:
        return signal
    return replace(signal, score=round(signal.score - CROWD_PENALTY, 2))


def _pairs(holders: dict[int, int]) -> Iterator[tuple[tuple[int, int], tuple[int, int]]]:
    if 2 <= len(holders) <= MAX_PERSONS_PER_KEY:
        yield from combinations(sorted(holders.items()), 2)


def suggestions_refresh() -> int:
    """Find new merge suggestions and return how many were made.

    Signals, each with its reason and score (`contributors.suggestions.signals`): the same full
    name, the same name transliterated, in another order or with initials; the same address name
    at different domains, a GitHub login (from a noreply address or an account) that is the name of
    another address, a name written as an address name or login, the same user name in different
    systems. Persons are compared only within blocks of a shared key, so the work grows with the
    number of identities, not its square. Bots and placeholder accounts are left out. A pair of persons that was ever
    suggested — to review, merged or rejected — is not suggested again, whatever identities now
    show it: a rejection holds for the persons its identities belong to now, merges included.
    Suggestions still to review that involve a placeholder account (made before it was listed) go.
    """
    placeholder_suggestions_close()
    blocks = Blocks()
    rows = (
        Identity.objects.filter(counted("person"))
        .order_by()
        .values_list("pk", "person_id", "kind", "value", "name")
        .iterator(chunk_size=5000)
    )
    first_identity: dict[int, int] = {}
    for identity_id, person_id, kind, value, name in rows:
        first_identity.setdefault(person_id, identity_id)
        blocks.add_name(person_id, identity_id, name)
        blocks.add_identity(person_id, identity_id, kind, value)
    for person_id, display_name in _display_names():
        if person_id in first_identity:
            blocks.add_name(person_id, first_identity[person_id], display_name)

    candidates = blocks.candidates()
    if not candidates:
        return 0
    known = _suggested_pairs()
    new = []
    for pair, signals in candidates.items():
        if pair in known:
            continue
        score, reason = signals_combined([signal for signal, _a, _b in signals])
        _strongest, identity_a, identity_b = max(signals, key=lambda found: found[0].score)
        new.append(
            MergeSuggestion(
                identity_a_id=min(identity_a, identity_b),
                identity_b_id=max(identity_a, identity_b),
                reason=reason[:300],
                score=score,
            )
        )
    MergeSuggestion.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _display_names() -> Iterator[tuple[int, str]]:
    persons = Person.objects.filter(counted("pk")).exclude(display_name="").order_by()
    return persons.values_list("pk", "display_name").iterator(chunk_size=5000)


def _suggested_pairs() -> set[Pair]:
    """The pairs of persons that the identities of every suggestion made so far belong to now."""
    rows = MergeSuggestion.objects.order_by().values_list("identity_a__person_id", "identity_b__person_id")
    return {frozenset((a, b)) for a, b in rows.iterator(chunk_size=5000)}
