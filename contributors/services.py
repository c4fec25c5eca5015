"""Writes about people: resolving actors to identities and persons, merges, unmerges, moves, erasure.

Automatic merging happens only on exact, trustworthy keys, transitively: everything one activity
record that Baloo read itself names together (an e-mail and a login on the same commit; records a
push token holder typed link only when their source is trusted to), the same e-mail from any source
(case-folded), a GitHub noreply address and its account (with or without a GitHub source), the
same user name or uid within one account namespace — where the uid is the account: two accounts
(different uids of one account space; GitHub's namespaces are one) never become one person by any
automatic rule, whatever key would join them (`AccountGroups`, `KeptApart`). Never on names. Excluded values never join anything, locked persons and
persons an admin separated are never merged automatically. Every change is audited.
"""

import operator
import uuid
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import reduce

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from activities.actors import Actor
from activities.keys import EMAIL, GITHUB_COM_NAMESPACE, UID, USERNAME, Key, email_key
from baloo_site.bulk import insert_rows_returning_ids, is_postgresql, text_array, update_rows

from .erasure import Traces, erasure_targets, name_forms, sessions_erase, traces_erase
from .models import (
    AccountClaim,
    EmailClaim,
    Identity,
    IdentityAudit,
    IdentityExclusion,
    MergeSuggestion,
    Person,
    PersonMerge,
    Separation,
    StaffPeriod,
)
from .placeholders import PlaceholderMergeError, placeholder_emails, placeholder_keys, placeholder_persons
from .signals import people_changed
from .staff import (
    staff_email_domains,
    staff_periods_from_email_domains,
    staff_periods_move,
    staff_periods_restore,
    staff_periods_snapshot,
)

# Identity resolution is serialised across processes: two imports creating the same new identity
# at once would otherwise race. Parsing and activity inserts still run in parallel.
RESOLUTION_LOCK_ID = 0x6261_6C6F  # "balo"
FORGOTTEN_NAMESPACE = "forgotten"

User = AbstractBaseUser | None


class UnionFind:
    """Groups of nodes joined transitively."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, node):
        parent = self.parent.setdefault(node, node)
        if parent == node:
            return node
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, first, second) -> None:
        first_root, second_root = self.find(first), self.find(second)
        if first_root != second_root:
            self.parent[second_root] = first_root

    def link(self, first, second) -> bool:
        """Join two groups; whether they joined (always, here)."""
        self.union(first, second)
        return True


class AccountGroups(UnionFind):
    """Keys joined transitively, each group knowing the accounts (uids) it holds in each account space.

    The uid is the account: a group that holds a uid in an account space never joins a group that
    holds only other uids there (`link` refuses), whatever key would join them — a login (logins are
    renamed and reused: GitHub hands a released login to whoever asks next), an e-mail, a noreply
    address. A rename keeps the uid, and so the person. So two accounts never become one person
    without a human. An account space is a namespace, except that github.com's own namespace and
    every github.com source's are one (`account_space_of`): a noreply address names its account in
    each of them.
    """

    def __init__(self, space_of: Callable[[str], str] = str) -> None:
        super().__init__()
        self.space_of = space_of
        self.uids: dict = {}  # group root → {(account space, uid)}

    def find(self, node):
        if node not in self.parent and node[0] == UID:
            self.uids[node] = {(self.space_of(node[1]), node[2])}
        return super().find(node)

    def union(self, first, second) -> None:
        first_root, second_root = self.find(first), self.find(second)
        if first_root != second_root:
            self.parent[second_root] = first_root
            moved = self.uids.pop(second_root, None)
            if moved:
                self.uids.setdefault(first_root, set()).update(moved)

    def tag_uids(self, node, uids: Iterable[tuple[str, str]]) -> None:
        """Note the uids (namespace, uid) that the person a node stands for holds."""
        held = self.uids.setdefault(self.find(node), set())
        held.update((self.space_of(namespace), uid) for namespace, uid in uids)

    def accounts_apart(self, first, second) -> bool:
        """Whether the two groups hold different accounts of one account space, and none in common."""
        held_first = self.uids.get(self.find(first), ())
        held_second = self.uids.get(self.find(second), ())
        if not held_first or not held_second:
            return False
        by_space: dict[str, set[str]] = {}
        for space, uid in held_first:
            by_space.setdefault(space, set()).add(uid)
        second_by_space: dict[str, set[str]] = {}
        for space, uid in held_second:
            second_by_space.setdefault(space, set()).add(uid)
        return any(
            space in second_by_space and uids.isdisjoint(second_by_space[space]) for space, uids in by_space.items()
        )

    def link(self, first, second) -> bool:
        """Join the two groups unless they hold two accounts (`accounts_apart`); whether they joined."""
        if self.accounts_apart(first, second):
            return False
        self.union(first, second)
        return True


def github_account_namespaces() -> set[str]:
    """The account namespaces of github.com sources (not GitHub Enterprise), where GitHub noreply
    addresses point too."""
    from activities.models import Source  # people do not depend on activities at import time

    sources = Source.objects.filter(kind="github").only("slug", "kind", "account_namespace", "base_url")
    return {source.accounts_namespace for source in sources if source.is_github_com}


def account_space_of() -> Callable[[str], str]:
    """Namespace → account space: github.com's namespace and every github.com source's are one
    (the same accounts, named by a noreply address in each); any other namespace is its own."""
    github = github_account_namespaces() | {GITHUB_COM_NAMESPACE}
    return lambda namespace: GITHUB_COM_NAMESPACE if namespace in github else namespace


class KeptApart:
    """The pairs of persons no automatic rule joins: those an admin separated, and those holding two
    accounts — different uids of one account space, none in common (the uid is the account)."""

    def __init__(self, separated: set[frozenset[int]], accounts: dict[int, dict[str, set[str]]]) -> None:
        self.separated = separated
        self.accounts = accounts  # person → account space → uids

    def __iter__(self):
        return iter(self.separated)

    def __contains__(self, pair) -> bool:
        return pair in self.separated or self.two_accounts(pair)

    def two_accounts(self, person_ids: Iterable[int]) -> bool:
        """Whether two of these persons hold two accounts of one account space."""
        by_space: dict[str, list[set[str]]] = {}
        for person_id in person_ids:
            for space, uids in self.accounts.get(person_id, {}).items():
                by_space.setdefault(space, []).append(uids)
        return any(
            first.isdisjoint(second)
            for held in by_space.values()
            if len(held) > 1
            for position, first in enumerate(held)
            for second in held[position + 1 :]
        )

    def within(self, person_ids: set[int]) -> bool:
        """Whether making one person of these would join two persons kept apart."""
        return self.two_accounts(person_ids) or any(pair <= person_ids for pair in self.separated)


def accounts_of_persons(person_ids: Iterable[int]) -> dict[int, dict[str, set[str]]]:
    """The uids each of these persons holds, by account space (`account_space_of`)."""
    space_of = None
    held: dict[int, dict[str, set[str]]] = {}
    for person_id, uids in _uids_of_persons(person_ids).items():
        space_of = space_of or account_space_of()
        for namespace, uid in uids:
            held.setdefault(person_id, {}).setdefault(space_of(namespace), set()).add(uid)
    return held


def _uids_of_persons(person_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """The uids (namespace, uid) each of these persons holds."""
    person_ids = list(person_ids)
    found: dict[int, list[tuple[str, str]]] = {}
    for start in range(0, len(person_ids), 5000):
        for person_id, namespace, value in Identity.objects.filter(
            kind=UID, person_id__in=person_ids[start : start + 5000]
        ).values_list("person_id", "namespace", "value"):
            found.setdefault(person_id, []).append((namespace, value))
    return found


def resolution_lock() -> None:
    """Serialise identity changes across processes until the end of the transaction (PostgreSQL)."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESOLUTION_LOCK_ID])


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


def excluded_values() -> set[tuple[str, str]]:
    """(kind, value) pairs that never merge anyone, each value written as its key writes it."""
    return {
        (kind, email_key(value)[2] if kind == EMAIL else value.strip().casefold())
        for kind, value in IdentityExclusion.objects.values_list("kind", "value")
    }


def blocked_person_pairs(person_ids: Iterable[int]) -> tuple[set[int], KeptApart]:
    """Among these persons: the locked ones, and the pairs kept apart (`KeptApart`: those an admin
    separated, and those holding two accounts of one account space)."""
    # Locks and separations are rare: read them all and filter here, rather than sending
    # every person id of a large batch to the database.
    person_ids = set(person_ids)
    locked = set(Person.objects.filter(locked=True).values_list("pk", flat=True)) & person_ids
    accounts = accounts_of_persons(person_ids) if len(person_ids) > 1 else {}
    separations = list(Separation.objects.values_list("identity_a_id", "identity_b_id"))
    if not separations:  # the usual case; a join would still read the identity table
        return locked, KeptApart(set(), accounts)
    person_of = dict(
        Identity.objects.filter(pk__in={pk for pair in separations for pk in pair}).values_list("pk", "person_id")
    )
    pairs = {
        frozenset((person_of[a], person_of[b]))
        for a, b in separations
        if person_of[a] != person_of[b] and person_of[a] in person_ids and person_of[b] in person_ids
    }
    return locked, KeptApart(pairs, accounts)


def merge_allowed(person_ids: set[int], *, locked: set[int], separated: KeptApart | set[frozenset[int]]) -> bool:
    """Whether an automatic rule may make one person of these: none locked, none kept apart (an
    admin separated them, or they hold two accounts: `KeptApart`)."""
    if len(person_ids) < 2:
        return True
    if person_ids & locked:
        return False
    if isinstance(separated, KeptApart):
        return not separated.within(person_ids)
    return not any(pair <= person_ids for pair in separated)


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
    for person_id, uids in _uids_of_persons(persons_joined).items():
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


def _person_snapshot(person: Person) -> dict:
    return {
        "display_name": person.display_name,
        "staff_periods": staff_periods_snapshot(person.pk),
        "is_bot": person.is_bot,
        "locked": person.locked,
        "directory_id": person.directory_id,
        "created_at": person.created_at.isoformat(),
    }


def persons_merge_many(*, merges: Sequence[tuple[int, Sequence[int]]], reason: str, by: User = None) -> None:
    """Merge groups of persons, each (into, others): identities and staff periods move into the first,
    flags carry over.

    Each merged person is audited with its fields and identity ids, so `person_unmerge` can restore
    exactly the persons as they were.
    """
    if not merges:
        return
    all_ids = {pid for into, others in merges for pid in (into, *others)}
    persons = Person.objects.in_bulk(all_ids)
    identity_ids: dict[int, list[int]] = {}
    for person_id, identity_id in Identity.objects.filter(person_id__in=all_ids).order_by().values_list("person_id", "id"):
        identity_ids.setdefault(person_id, []).append(identity_id)

    records, audits, changed = [], [], []
    for into_id, other_ids in merges:
        into = persons[into_id]
        others = [persons[pid] for pid in other_ids if pid in persons]
        into_before = _person_snapshot(into)
        for other in others:
            records.append(
                PersonMerge(
                    into_id=into_id,
                    merged_person_id=other.pk,
                    reason=reason[:300],
                    by=by,
                    snapshot={
                        **_person_snapshot(other),
                        "identity_ids": identity_ids.get(other.pk, []),
                        "into": into_before,
                    },
                )
            )
            audits.append(
                IdentityAudit(
                    action=IdentityAudit.Action.MERGE,
                    person_id=into_id,
                    reason=reason[:300],
                    by=by,
                    details={"merged_person_id": other.pk, "identity_ids": identity_ids.get(other.pk, [])},
                )
            )
            into.is_bot = into.is_bot or other.is_bot
            into.display_name = into.display_name or other.display_name
            if other.directory_id and not into.directory_id:
                into.directory_id = other.directory_id
        changed.append(into)
    PersonMerge.objects.bulk_create(records)
    IdentityAudit.objects.bulk_create(audits)
    # Identities follow their person: one set-based update keyed by the person they leave.
    _identities_move_persons({other: into_id for into_id, other_ids in merges for other in other_ids})
    staff_periods_move(into_of={other: into_id for into_id, other_ids in merges for other in other_ids})
    merged_ids = [pid for _into, others in merges for pid in others]
    # Free the directory ids before handing them over (they are unique).
    Person.objects.filter(pk__in=merged_ids).update(directory_id=None)
    update_rows(
        Person._meta.db_table,
        "id",
        ["is_bot", "display_name", "directory_id"],
        [(p.pk, p.is_bot, p.display_name, p.directory_id) for p in changed],
        types=["bigint", "boolean", "text", "text"],
    )
    Person.objects.filter(pk__in=merged_ids).delete()


def _identities_move_persons(into_of: dict[int, int]) -> None:
    """Move every identity of each person in `into_of` to the person it maps to, in one statement."""
    if not into_of:
        return
    table = connection.ops.quote_name(Identity._meta.db_table)
    if not is_postgresql():
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {table} SET person_id = %s WHERE person_id = %s", [(i, o) for o, i in into_of.items()])
        return
    others, intos = zip(*into_of.items(), strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} i SET person_id = m.into_id FROM unnest(%s::bigint[], %s::bigint[]) AS m(other_id, into_id) "
            "WHERE i.person_id = m.other_id",
            [list(others), list(intos)],
        )


def persons_merge(*, into: Person, others: Sequence[Person], reason: str, by: User = None) -> Person:
    """Merge persons chosen by a staff member into one (audited, reversible). A placeholder account
    merges with nobody (`PlaceholderMergeError`)."""
    with transaction.atomic():
        resolution_lock()
        ids = {into.pk, *(other.pk for other in others)}
        if len(ids) > 1 and placeholder_persons().filter(pk__in=ids).exists():
            raise PlaceholderMergeError
        persons_merge_many(merges=[(into.pk, [o.pk for o in others if o.pk != into.pk])], reason=reason, by=by)
        _recount()
    return Person.objects.get(pk=into.pk)


def persons_merge_groups(*, merges: Sequence[tuple[int, Sequence[int]]], reason: str, by: User = None) -> None:
    """Merge several groups of persons chosen by a staff member at once, each (into, others) as
    `persons_merge` does (audited, each merge reversible on its own). A placeholder account merges with
    nobody: a group holding one refuses them all (`PlaceholderMergeError`), nothing is merged."""
    with transaction.atomic():
        resolution_lock()
        groups = [{into, *others} for into, others in merges]
        grouped = {person_id for group in groups for person_id in group if len(group) > 1}
        if grouped and placeholder_persons().filter(pk__in=grouped).exists():
            raise PlaceholderMergeError
        persons_merge_many(merges=merges, reason=reason, by=by)
        if merges:
            _recount()


def person_unmerge(*, merge: PersonMerge, by: User = None) -> Person:
    """Undo a merge: the merged person comes back with its id, fields, identities and staff periods.

    The two are then separated, so no automatic rule joins them again; the person merged into gets
    back the fields it had before the merge.
    """
    if merge.undone_at:
        raise ValueError("This merge was already undone.")
    snapshot = merge.snapshot
    with transaction.atomic():
        resolution_lock()
        restored = Person.objects.create(
            pk=merge.merged_person_id,
            display_name=snapshot.get("display_name", ""),
            is_bot=snapshot.get("is_bot", False),
            locked=snapshot.get("locked", False),
        )
        identity_ids = list(
            Identity.objects.filter(pk__in=snapshot.get("identity_ids", [])).values_list("pk", flat=True)
        )
        Identity.objects.filter(pk__in=identity_ids).update(person=restored)
        into = Person.objects.filter(pk=merge.into_id).first()
        staff_periods_restore(person_id=restored.pk, snapshot=snapshot, taken_from=merge.into_id)
        if into is not None and "into" in snapshot:
            before = snapshot["into"]
            into.display_name = before["display_name"]
            into.is_bot = before["is_bot"]
            if into.directory_id == snapshot.get("directory_id") and into.directory_id != before["directory_id"]:
                into.directory_id = before["directory_id"]
            into.save(update_fields=["display_name", "is_bot", "directory_id"])

        if snapshot.get("directory_id") and not Person.objects.filter(directory_id=snapshot["directory_id"]).exists():
            restored.directory_id = snapshot["directory_id"]
            restored.save(update_fields=["directory_id"])
        if into is not None and identity_ids:
            remaining = into.identities.order_by("pk").first()
            if remaining is not None:
                _separate(identity_ids[0], remaining.pk, by=by)
        merge.undone_at = timezone.now()
        merge.save(update_fields=["undone_at"])
        IdentityAudit.objects.create(
            action=IdentityAudit.Action.UNMERGE,
            person_id=restored.pk,
            by=by,
            reason=f"Undo of merge #{merge.pk}",
            details={"from_person_id": merge.into_id, "identity_ids": identity_ids},
        )
        _recount()
    return restored


def _recount() -> None:
    """Who is who changed, so the numbers may have: say so (a debounced recompute follows)."""
    people_changed.send(sender=Person)


def _separate(identity_a: int, identity_b: int, *, by: User) -> None:
    Separation.objects.get_or_create(
        identity_a_id=min(identity_a, identity_b), identity_b_id=max(identity_a, identity_b), defaults={"by": by}
    )


def identity_move(*, identity: Identity, to: Person | None = None, reason: str = "", by: User = None) -> Person:
    """Move one identity to another person, or to a new person of its own (a split). Audited.

    The identity is separated from the ones it leaves, so automatic rules do not undo the split.
    """
    with transaction.atomic():
        resolution_lock()
        source_person = identity.person
        if to is None:
            to = Person.objects.create(display_name=identity.name or source_person.display_name)
        staying = list(source_person.identities.exclude(pk=identity.pk).order_by("pk").values_list("pk", flat=True))
        identity.person = to
        identity.save(update_fields=["person"])
        if staying:
            _separate(identity.pk, staying[0], by=by)
        IdentityAudit.objects.create(
            action=IdentityAudit.Action.MOVE,
            person_id=to.pk,
            by=by,
            reason=reason[:300],
            details={"identity_id": identity.pk, "from_person_id": source_person.pk},
        )
        if not staying:
            source_person.delete()
        _recount()
    return to


def person_set_flags(
    *,
    person: Person,
    is_bot: bool | None = None,
    locked: bool | None = None,
    by: User = None,
) -> Person:
    """Set a person's bot or locked flag by hand (audited). Staff periods: `contributors.staff`."""
    changes = {}
    if is_bot is not None and is_bot != person.is_bot:
        person.is_bot = is_bot
        changes["is_bot"] = is_bot
    if locked is not None and locked != person.locked:
        person.locked = locked
        changes["locked"] = locked
    if changes:
        person.save(update_fields=["is_bot", "locked"])
        IdentityAudit.objects.create(action=IdentityAudit.Action.FLAG, person_id=person.pk, by=by, details=changes)
        _recount()
    return person


def person_forget(*, person: Person, by: User = None, delete_activities: bool = False) -> dict[str, int]:
    """Forget a person on request, leaving nothing that names them.

    Their identities go, and the personal fields of their activities: by default the activities stay,
    anonymous (no title, URL or raw payload, attached to one anonymous identity), so totals of the
    past do not change; with `delete_activities` they go too. Claims of their addresses and accounts
    go, and every other row that mentions one of their e-mails, user names, ids or names — other
    people's activities, audits, merge snapshots, suggestions, claims, export audits, admin history —
    has it replaced, and browser sessions drop what they keep about them (`contributors.erasure`).
    Their staff periods go with them; when the activities stay, the anonymous person holding them
    takes the periods (days only), so those activities keep counting as they did. The audit keeps
    only ids and counts.
    """
    from activities.models import Activity

    from .suggestions import normalise_name  # suggestions merge through this module

    with transaction.atomic():
        resolution_lock()
        identities = list(person.identities.values_list("pk", "kind", "namespace", "value", "name"))
        identity_ids = [identity[0] for identity in identities]
        names = {name for *_key, name in identities} | {person.display_name, person.profile_name}
        names = {form for name in names if name for form in name_forms(name)}
        traces = Traces(
            values=frozenset(
                {value for _pk, _kind, _namespace, value, _name in identities}
                | names
                # Suggestions quote names as they compare them: accents and punctuation dropped.
                | {normalise_name(name) for name in names}
                | {person.directory_id or ""}
            )
        )
        activities = Activity.objects.filter(identity_id__in=identity_ids)
        if delete_activities:
            removed = activities.delete()[1].get("activities.Activity", 0)
            anonymised = 0
        else:
            # The anonymous activities keep counting as they did: staff on the same days, or bots.
            placeholder = Person.objects.create(is_bot=person.is_bot)
            StaffPeriod.objects.filter(person=person).update(person=placeholder)
            anonymous = Identity.objects.create(
                person=placeholder, kind=Identity.Kind.UID, namespace=FORGOTTEN_NAMESPACE, value=uuid.uuid4().hex
            )
            anonymised = activities.update(identity=anonymous, title="", url="", data={})
            removed = 0
        claims = _claims_about_delete(identities)
        MergeSuggestion.objects.filter(Q(identity_a_id__in=identity_ids) | Q(identity_b_id__in=identity_ids)).delete()
        person_id = person.pk
        PersonMerge.objects.filter(Q(into_id=person_id) | Q(merged_person_id=person_id)).update(snapshot={})
        person.delete()
        mentions = traces_erase(traces=traces, targets=erasure_targets()) + sessions_erase(traces=traces)
        counts = {
            "identities": len(identity_ids),
            "activities_anonymised": anonymised,
            "activities_deleted": removed,
            "claims": claims,
            "mentions_erased": mentions,
        }
        IdentityAudit.objects.create(action=IdentityAudit.Action.FORGET, person_id=person_id, by=by, details=counts)
        _recount()
    return counts


def _claims_about_delete(identities: list[tuple]) -> int:
    """Claims go with the person: those their sign-in accounts made, and anyone's claim of one of
    their addresses or accounts (it names them, and there is nothing left to join)."""
    from django.contrib.auth import get_user_model

    from activities.models import Source

    emails = [value for _pk, kind, _namespace, value, _name in identities if kind == Identity.Kind.EMAIL]
    users = get_user_model().objects.none()
    if emails:
        users = get_user_model().objects.filter(
            reduce(operator.or_, (Q(email__iexact=email) for email in emails))
        )
    sources_of: dict[str, list[int]] = {}
    for source in Source.objects.all():
        sources_of.setdefault(source.accounts_namespace, []).append(source.pk)
    accounts = Q(user__in=users)
    for _pk, kind, namespace, value, _name in identities:
        if kind == Identity.Kind.USERNAME and namespace in sources_of:
            accounts |= Q(source_id__in=sources_of[namespace], username__iexact=value)
    return (
        EmailClaim.objects.filter(Q(user__in=users) | Q(email__in=emails)).delete()[0]
        + AccountClaim.objects.filter(accounts).delete()[0]
    )
