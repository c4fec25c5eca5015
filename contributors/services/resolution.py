"""Resolving actors to identities and persons: what ingestion asks for each record's actor.

Automatic merging happens only on exact, trustworthy keys, transitively: everything one activity
record that Baloo read itself names together (an e-mail and a login on the same commit; records a
push token holder typed link only when their source is trusted to), the same e-mail from any source
(case-folded), a GitHub noreply address and its account (with or without a GitHub source), the
same user name or uid within one account namespace — where the uid is the account (`groups`).
Never on names. What would merge against those rules files a merge suggestion instead.
"""

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from django.db import connection
from django.utils import timezone

from activities.actors import Actor
from activities.keys import UID, USERNAME, Key
from baloo_site.bulk import insert_rows_returning_ids, is_postgresql, text_array

from ..models import Identity, IdentityAudit, MergeSuggestion, Person
from ..placeholders import placeholder_emails, placeholder_keys
from ..staff import staff_email_domains, staff_periods_from_email_domains
from .groups import (
    AccountGroups,
    UnionFind,
    account_space_of,
    blocked_person_pairs,
    excluded_values,
    merge_allowed,
    uids_of_persons,
)
from .merges import persons_merge_many, resolution_lock


def identities_existing(*, keys: Sequence[Key]) -> dict[Key, tuple[int, int]]:
    """Map each key that already has an identity to (identity id, person id)."""
    found: dict[Key, tuple[int, int]] = {}
    if not keys:
        return found
    with connection.cursor() as cursor:
        if is_postgresql():
            # One index lookup per key, whatever the size of the table: OFFSET 0 keeps the planner
            # from turning the lateral lookup into a scan of every identity of a kind.
            arrays, params = zip(*(text_array(column) for column in zip(*keys, strict=True)), strict=True)
            cursor.execute(
                "SELECT k.kind, k.namespace, k.value, i.id, i.person_id "
                f"FROM unnest({', '.join(arrays)}) AS k(kind, namespace, value) "
                "CROSS JOIN LATERAL (SELECT id, person_id FROM contributors_identity "
                "WHERE kind = k.kind AND namespace = k.namespace AND value = k.value OFFSET 0) i",
                params,
            )
            for kind, namespace, value, identity_id, person_id in cursor.fetchall():
                found[(kind, namespace, value)] = (identity_id, person_id)
            return found
        by_scope: dict[tuple[str, str], list[str]] = {}
        for kind, namespace, value in keys:
            by_scope.setdefault((kind, namespace), []).append(value)
        for (kind, namespace), values in by_scope.items():
            for start in range(0, len(values), 5000):
                chunk = values[start : start + 5000]
                cursor.execute(
                    "SELECT value, id, person_id FROM contributors_identity WHERE kind = %s AND namespace = %s "
                    f"AND value IN ({', '.join(['%s'] * len(chunk))})",
                    [kind, namespace, *chunk],
                )
                for value, identity_id, person_id in cursor.fetchall():
                    found[(kind, namespace, value)] = (identity_id, person_id)
    return found


class ResolvedActors:
    """The actors one ingestion already resolved, and their identities.

    A busy contributor appears in batch after batch of a large import; once an actor was resolved,
    every key it names is stored and belongs to one person, so seeing it again changes nothing and
    its identity can be reused without asking the database. That holds while nobody else changes
    identities: every such change (a merge, unmerge, move, forget, directory import) is audited
    under the resolution lock, so a new audit entry — or a changed exclusion list — empties this.
    Keep one for one ingestion only: identities of a transaction that rolled back must not stay.

    Actors are known by a signature the caller chooses: anything hashable that determines the
    actor's keys, bot flag and trust (for activity records: source, e-mail, user name, uid, bot,
    and whether the record may link accounts — the same keys resolve apart without it).

    It is what ingestion asks for identities (`activities.actors`, the setting `BALOO_ACTOR_RESOLVER`),
    and so also hears of the staff e-mail domains' addresses each batch stored (`contributors.staff`).

    It also keeps PostgreSQL's statistics of persons and identities fresh while it fills them:
    without, the planner would take a table grown to 100,000 identities for the small one it last
    measured, and scan all of it where an index finds a few rows (autovacuum catches up later).
    """

    ANALYZE_AFTER = 10_000  # actors resolved by this ingestion; then after twice as many, and so on

    def __init__(self) -> None:
        self.identity_of: dict[Hashable, int] = {}
        self._mark: tuple[int, frozenset] | None = None
        self._resolved = 0
        self._analyze_at = self.ANALYZE_AFTER

    def resolve(self, signatures: Sequence[Hashable], actor_at: Callable[[int], Actor]) -> list[int]:
        """The identity of each signature; `actor_at(i)` gives the actor of signatures[i] when it
        must be resolved. Must run inside a transaction."""
        if not signatures:
            return []
        resolution_lock()
        if self.identity_of and self._mark != _identities_mark():
            self.identity_of.clear()
        identity_of = self.identity_of
        identity_ids = [identity_of.get(signature, 0) for signature in signatures]
        unknown = [position for position, identity_id in enumerate(identity_ids) if not identity_id]
        if unknown:
            found = identities_resolve(actors=[actor_at(position) for position in unknown])
            for position, identity_id in zip(unknown, found, strict=True):
                identity_ids[position] = identity_id
                identity_of[signatures[position]] = identity_id
            self._mark = _identities_mark()
            self._statistics_kept_fresh(len(unknown))
        return identity_ids

    def watched_email_domains(self) -> set[str]:
        """The staff e-mail domains (`STAFF_EMAIL_DOMAINS`): their stored addresses give staff periods."""
        return staff_email_domains()

    def emails_stored(self, *, seen: Iterable[tuple[int, str | None, datetime]]) -> None:
        """Widen the staff periods the addresses of activities just stored give (in the writer's transaction)."""
        staff_periods_from_email_domains(seen=seen)

    @staticmethod
    def placeholder_emails() -> set[str]:
        """The e-mails of the placeholder accounts (`contributors.placeholders`)."""
        return placeholder_emails()

    def _statistics_kept_fresh(self, resolved: int) -> None:
        self._resolved += resolved
        if self._resolved >= self._analyze_at and is_postgresql():
            self._analyze_at *= 2
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {Person._meta.db_table}, {Identity._meta.db_table}")


def _identities_mark() -> tuple[int, frozenset]:
    """Changes as soon as anyone else changes identities (read under the resolution lock)."""
    last_audit = IdentityAudit.objects.order_by("-id").values_list("id", flat=True).first() or 0
    return last_audit, frozenset(excluded_values()) | placeholder_keys()


def identities_resolve(*, actors: Sequence[Actor]) -> list[int]:
    """Resolve each actor to the identity of its first usable key, creating what is missing.

    All keys of one actor belong to one person; keys already known bring their persons along, and
    when an actor joins keys of different persons, those persons are merged (audited) — unless one
    is locked or an admin separated them, in which case each keeps its identities and a merge
    suggestion is left for a human. Keys that would join two accounts (different uids of one account
    space, `AccountGroups`) stay apart, with a merge suggestion. An actor that may not link accounts (`Actor.links_accounts`,
    records a push token holder typed) joins nothing but its derived pairs, whatever the order of
    records in or across batches: each key keeps the person it has or gets one of its own, and each
    cross-person link becomes a merge suggestion. Bot accounts flag their person as a bot (an
    untrusted record only a person it creates). Staff e-mail domains give staff periods once the
    activities are stored (`contributors.staff`). Must run inside a transaction.
    """
    if not actors:
        return []
    resolution_lock()
    placeholders = placeholder_keys()
    if placeholders:
        actors = [_placeholder_alone(actor, placeholders) for actor in actors]
    excluded = excluded_values()
    if excluded:
        actors = [_without_excluded_links(actor, excluded) for actor in actors]
    every_actor = actors
    actors = _distinct_actors(actors)

    all_keys = list(dict.fromkeys(key for actor in actors for key in actor.keys))
    existing = identities_existing(keys=all_keys)

    # The uid is the account (`AccountGroups`): a record never joins two accounts of one account space.
    # Only the persons a record may join to another person, or to a new account, need their uids read.
    persons_joined = _persons_a_record_may_join(actors, existing, excluded)
    groups = AccountGroups(account_space_of())
    for key, (_identity_id, person_id) in existing.items():
        groups.union(("person", "", str(person_id)), key)
    for person_id, uids in uids_of_persons(persons_joined).items():
        groups.tag_uids(("person", "", str(person_id)), uids)
    # Keys of two accounts named together: kept apart, left to a human.
    accounts_apart = _link_records(groups, actors, excluded)

    persons_of_group: dict = {}
    first_actor_of_group: dict = {}
    bot_groups: set = set()
    # A token holder may say an account they name for the first time is a bot, never that someone
    # Baloo already knows is one (that would take them out of every count).
    new_bot_groups: set = set()
    for key, (_identity_id, person_id) in existing.items():
        persons_of_group.setdefault(groups.find(key), set()).add(person_id)
    for actor in actors:
        root = groups.find(actor.keys[0])
        for key in actor.keys:
            first_actor_of_group.setdefault(groups.find(key), actor)
        if actor.is_bot:
            (bot_groups if actor.links_accounts else new_bot_groups).add(root)

    person_of_group: dict = {}
    person_of_key: dict[Key, int] = {}
    to_merge = {root: ids for root, ids in persons_of_group.items() if len(ids) > 1}
    locked, separated = (
        blocked_person_pairs(pid for ids in to_merge.values() for pid in ids) if to_merge else (set(), set())
    )
    merges: list[tuple[int, list[int]]] = []
    for root, person_ids in persons_of_group.items():
        if merge_allowed(person_ids, locked=locked, separated=separated):
            into, *others = sorted(person_ids)
            person_of_group[root] = into
            if others:
                merges.append((into, others))
        else:
            # Keep everyone as they are; new keys join the person of the record's first known key.
            person_of_group[root] = min(person_ids - locked or person_ids)
            for key, (_identity_id, person_id) in existing.items():
                if groups.find(key) == root:
                    person_of_key[key] = person_id
            _suggest_blocked(person_ids)
    if merges:
        persons_merge_many(merges=merges, reason="Automatic: the same account named together in one record")

    new_roots = [root for root in first_actor_of_group if root not in person_of_group]
    now = timezone.now()
    new_person_ids = insert_rows_returning_ids(
        Person,
        ["display_name", "is_bot", "locked", "created_at"],
        [
            (
                first_actor_of_group[root].name,
                root in bot_groups or root in new_bot_groups,
                False,
                now,
            )
            for root in new_roots
        ],
    )
    person_of_group.update(zip(new_roots, new_person_ids, strict=True))

    new_root_set = set(new_roots)
    bot_ids = [person_of_group[root] for root in bot_groups if root not in new_root_set]
    if bot_ids:
        Person.objects.filter(pk__in=bot_ids).update(is_bot=True)

    identity_of_key = {key: identity_id for key, (identity_id, _person_id) in existing.items()}
    new_keys: list[Key] = []
    new_rows = []
    for actor in actors:
        for key in actor.keys:
            if key in identity_of_key:
                continue
            identity_of_key[key] = 0  # claimed; the id is filled in below
            new_keys.append(key)
            person_id = person_of_group[groups.find(key)]
            new_rows.append((person_id, *key, actor.source_id, actor.name, now))
    new_identity_ids = insert_rows_returning_ids(
        Identity, ["person_id", "kind", "namespace", "value", "source_id", "name", "created_at"], new_rows
    )
    identity_of_key.update(zip(new_keys, new_identity_ids, strict=True))
    _suggest_unlinked(
        [actor for actor in actors if not actor.links_accounts],
        person_of=lambda key: person_of_key.get(key) or person_of_group[groups.find(key)],
        identity_of=identity_of_key,
        excluded=excluded,
    )
    _suggest_accounts_apart(
        accounts_apart,
        person_of=lambda key: person_of_key.get(key) or person_of_group[groups.find(key)],
        identity_of=identity_of_key,
    )
    return [identity_of_key[actor.keys[0]] for actor in every_actor]


def _link_records(groups: UnionFind, actors: Sequence[Actor], excluded: set[tuple[str, str]]) -> list[tuple[Key, Key]]:
    """Join the keys each record names together (`groups.link`); return the pairs of keys it refused to
    join (two accounts of one account space: `AccountGroups`)."""
    refused: list[tuple[Key, Key]] = []
    for actor in actors:
        first = actor.keys[0]
        for key in actor.keys:
            groups.find(key)
        if not actor.links_accounts:
            # Typed by a token holder: only keys that are one account whoever typed them join.
            for key, other in actor.derived:
                if (key[0], key[2]) not in excluded and (other[0], other[2]) not in excluded:
                    groups.link(key, other)
        elif not (excluded and (first[0], first[2]) in excluded):
            for key in actor.keys[1:]:
                if (key[0], key[2]) in excluded:
                    continue
                if not groups.link(first, key):
                    refused.append((first, key))
    return refused


def _persons_a_record_may_join(
    actors: Sequence[Actor], existing: dict[Key, tuple[int, int]], excluded: set[tuple[str, str]]
) -> set[int]:
    """The persons that the records would join, if nothing held them apart, to another person or to
    an account (uid) nobody holds yet: the only ones whose accounts may keep a record's keys apart."""
    plain = UnionFind()
    for key, (_identity_id, person_id) in existing.items():
        plain.union(("person", "", str(person_id)), key)
    _link_records(plain, actors, excluded)
    persons_of_root: dict = {}
    for key, (_identity_id, person_id) in existing.items():
        persons_of_root.setdefault(plain.find(key), set()).add(person_id)
    new_accounts = {plain.find(key) for actor in actors for key in actor.keys if key[0] == UID and key not in existing}
    return {
        person_id
        for root, person_ids in persons_of_root.items()
        if len(person_ids) > 1 or root in new_accounts
        for person_id in person_ids
    }


def _distinct_actors(actors: Sequence[Actor]) -> list[Actor]:
    """One actor per distinct set of keys and trust (a busy contributor appears in thousands of
    records), keeping the first name reported and whether any record said it was a bot."""
    distinct: dict[tuple, Actor] = {}
    for actor in actors:
        signature = (actor.keys, actor.links_accounts, actor.derived)
        seen = distinct.get(signature)
        if seen is None:
            distinct[signature] = actor
        elif (actor.is_bot and not seen.is_bot) or (actor.name and not seen.name):
            distinct[signature] = replace(seen, name=seen.name or actor.name, is_bot=seen.is_bot or actor.is_bot)
    return list(distinct.values())


def _placeholder_alone(actor: Actor, placeholders: frozenset[Key]) -> Actor:
    """A record naming a placeholder account (`contributors.placeholders`) is that account's activity
    alone: its other keys are left out, so nothing joins the placeholder, nor it anyone."""
    own = tuple(key for key in actor.keys if key in placeholders)
    return replace(actor, keys=own, derived=()) if own else actor


def _without_excluded_links(actor: Actor, excluded: set[tuple[str, str]]) -> Actor:
    """Put a usable key first: an excluded value identifies the activity only when nothing else does."""
    usable = [key for key in actor.keys if (key[0], key[2]) not in excluded]
    rest = [key for key in actor.keys if (key[0], key[2]) in excluded]
    return replace(actor, keys=tuple(usable + rest))


UNLINKED_REASON = "Named together in a pushed record; its source may not link accounts"


UNLINKED_SCORE = 0.5


def _suggest_unlinked(
    actors: Sequence[Actor],
    *,
    person_of: Callable[[Key], int],
    identity_of: dict[Key, int],
    excluded: set[tuple[str, str]],
) -> None:
    """Records that may not link accounts leave each cross-person link they make to a human: one
    suggestion per pair of persons (the first key's identity against the other's), in one insert."""
    pairs: dict[frozenset[int], tuple[int, int]] = {}
    for actor in actors:
        first = actor.keys[0]
        mine = person_of(first)
        for key in actor.keys[1:]:
            if (key[0], key[2]) in excluded:
                continue
            theirs = person_of(key)
            if theirs != mine:
                a, b = sorted((identity_of[first], identity_of[key]))
                pairs.setdefault(frozenset((mine, theirs)), (a, b))
    if pairs:
        MergeSuggestion.objects.bulk_create(
            [
                MergeSuggestion(identity_a_id=a, identity_b_id=b, reason=UNLINKED_REASON, score=UNLINKED_SCORE)
                for a, b in pairs.values()
            ],
            ignore_conflicts=True,
        )


REUSED_LOGIN_REASON = "The same login seen with two different accounts (uids): a login may be renamed and reused"


TWO_ACCOUNTS_REASON = "Named together in one record, but they are two accounts (uids) of one system"


REUSED_LOGIN_SCORE = 0.2


def _suggest_accounts_apart(
    pairs: Sequence[tuple[Key, Key]], *, person_of: Callable[[Key], int], identity_of: dict[Key, int]
) -> None:
    """Keys a record named together that hold two accounts (uids) of one account space: the two accounts
    stay two persons, and a human may join them (one human may hold two accounts; usually someone else
    took a released login, or an address was typed on another account's commit)."""
    suggestions: dict[frozenset[int], tuple[int, int, str]] = {}
    for first, key in pairs:
        persons = frozenset((person_of(first), person_of(key)))
        if len(persons) == 2:
            reason = REUSED_LOGIN_REASON if USERNAME in (first[0], key[0]) else TWO_ACCOUNTS_REASON
            suggestions.setdefault(persons, (*sorted((identity_of[first], identity_of[key])), reason))
    if suggestions:
        # Not again for two persons already suggested (a rejection holds, whichever identities).
        person_ids = {person_id for persons in suggestions for person_id in persons}
        for known in MergeSuggestion.objects.filter(
            identity_a__person_id__in=person_ids, identity_b__person_id__in=person_ids
        ).values_list("identity_a__person_id", "identity_b__person_id"):
            suggestions.pop(frozenset(known), None)
    if suggestions:
        MergeSuggestion.objects.bulk_create(
            [
                MergeSuggestion(identity_a_id=a, identity_b_id=b, reason=reason, score=REUSED_LOGIN_SCORE)
                for a, b, reason in suggestions.values()
            ],
            ignore_conflicts=True,
        )


def _suggest_blocked(person_ids: set[int]) -> None:
    """A record joined persons that may not be merged automatically: leave it to a human."""
    firsts = dict(
        Identity.objects.filter(person_id__in=person_ids).order_by("person_id", "id").values_list("person_id", "id")
    )
    ordered = sorted(firsts.items())
    for (_pa, identity_a), (_pb, identity_b) in zip(ordered, ordered[1:], strict=False):
        MergeSuggestion.objects.get_or_create(
            identity_a_id=min(identity_a, identity_b),
            identity_b_id=max(identity_a, identity_b),
            defaults={"reason": "Named together in one record, but locked or separated by an admin", "score": 0.9},
        )
