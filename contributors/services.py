"""Writes about people: resolving activity actors to identities and persons, merging persons.

Automatic merging happens only on exact, trustworthy keys: everything that one actor record names
together (an e-mail and a login on the same commit) is one person, transitively, and an e-mail is
one identity across all sources (compared case-folded). Never on names.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from baloo_site.bulk import insert_rows_returning_ids, is_postgresql

from .models import Identity, Person, PersonMerge

Key = tuple[str, str, str]  # (kind, namespace, normalised value)

# Identity resolution is serialised across processes: two imports creating the same new identity
# at once would otherwise race. Parsing and activity inserts still run in parallel.
RESOLUTION_LOCK_ID = 0x6261_6C6F  # "balo"


@dataclass(slots=True)
class Actor:
    """The identity keys one activity record gives for its actor, most specific first."""

    keys: tuple[Key, ...]
    name: str
    source_id: int
    is_bot: bool


class _UnionFind:
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


def identities_existing(*, keys: Sequence[Key]) -> dict[Key, tuple[int, int]]:
    """Map each key that already has an identity to (identity id, person id)."""
    found: dict[Key, tuple[int, int]] = {}
    if not keys:
        return found
    with connection.cursor() as cursor:
        if is_postgresql():
            kinds, namespaces, values = zip(*keys, strict=True)
            cursor.execute(
                "SELECT i.kind, i.namespace, i.value, i.id, i.person_id FROM contributors_identity i "
                "JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k(kind, namespace, value) "
                "ON i.kind = k.kind AND i.namespace = k.namespace AND i.value = k.value",
                [list(kinds), list(namespaces), list(values)],
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


def _is_staff_email(key: Key) -> bool:
    if key[0] != Identity.Kind.EMAIL or not settings.STAFF_EMAIL_DOMAINS:
        return False
    domain = key[2].rsplit("@", 1)[-1]
    return domain in {d.strip().casefold() for d in settings.STAFF_EMAIL_DOMAINS}


def identities_resolve(*, actors: Sequence[Actor]) -> list[int]:
    """Resolve each actor to the identity of its first (most specific) key, creating what is missing.

    All keys of one actor belong to one person; keys already known bring their persons along, and
    when an actor joins keys of two different persons, those persons are merged (audited). Bot
    accounts flag their person as a bot; staff e-mail domains flag it as staff.
    Must run inside a transaction.
    """
    if not actors:
        return []
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESOLUTION_LOCK_ID])

    all_keys = list(dict.fromkeys(key for actor in actors for key in actor.keys))
    existing = identities_existing(keys=all_keys)

    groups = _UnionFind()
    for actor in actors:
        first = actor.keys[0]
        groups.find(first)
        for key in actor.keys[1:]:
            groups.union(first, key)
    for key, (_identity_id, person_id) in existing.items():
        groups.union(("person", "", str(person_id)), key)

    # What each group of keys already has, and what it learns from this batch.
    persons_of_group: dict = {}
    first_actor_of_group: dict = {}
    bot_groups: set = set()
    staff_groups: set = set()
    for key, (_identity_id, person_id) in existing.items():
        persons_of_group.setdefault(groups.find(key), set()).add(person_id)
    for actor in actors:
        root = groups.find(actor.keys[0])
        first_actor_of_group.setdefault(root, actor)
        if actor.is_bot:
            bot_groups.add(root)
        if any(_is_staff_email(key) for key in actor.keys if key not in existing):
            staff_groups.add(root)

    person_of_group: dict = {}
    for root, person_ids in persons_of_group.items():
        into, *others = sorted(person_ids)
        person_of_group[root] = into
        if others:
            persons_merge(into_id=into, other_ids=others, reason="Automatic: the same account named together in one record")

    new_roots = [root for root in first_actor_of_group if root not in person_of_group]
    new_person_ids = insert_rows_returning_ids(
        Person,
        ["display_name", "is_staff", "is_bot", "created_at"],
        [
            (first_actor_of_group[root].name, root in staff_groups, root in bot_groups, timezone.now())
            for root in new_roots
        ],
    )
    person_of_group.update(zip(new_roots, new_person_ids, strict=True))

    flagged_existing = {
        field: [person_of_group[root] for root in roots if root not in new_roots]
        for field, roots in (("is_bot", bot_groups), ("is_staff", staff_groups))
    }
    for field, person_ids in flagged_existing.items():
        if person_ids:
            Person.objects.filter(pk__in=person_ids).update(**{field: True})

    identity_of_key = {key: identity_id for key, (identity_id, _person_id) in existing.items()}
    new_keys: list[Key] = []
    new_rows = []
    now = timezone.now()
    for actor in actors:
        for key in actor.keys:
            if key in identity_of_key:
                continue
            identity_of_key[key] = 0  # claimed; the id is filled in below
            new_keys.append(key)
            new_rows.append((person_of_group[groups.find(key)], *key, actor.source_id, actor.name, now))
    new_identity_ids = insert_rows_returning_ids(
        Identity, ["person_id", "kind", "namespace", "value", "source_id", "name", "created_at"], new_rows
    )
    identity_of_key.update(zip(new_keys, new_identity_ids, strict=True))
    return [identity_of_key[actor.keys[0]] for actor in actors]


def persons_merge(*, into_id: int, other_ids: Sequence[int], reason: str, by=None) -> None:
    """Merge other persons into one: their identities move, their flags carry over, each merge is audited.

    The audit keeps each merged person's fields and identity ids so an unmerge can restore them.
    """
    with transaction.atomic():
        others = list(Person.objects.filter(pk__in=other_ids))
        identity_ids: dict[int, list[int]] = {}
        for person_id, identity_id in Identity.objects.filter(person_id__in=other_ids).values_list("person_id", "id"):
            identity_ids.setdefault(person_id, []).append(identity_id)
        PersonMerge.objects.bulk_create(
            [
                PersonMerge(
                    into_id=into_id,
                    merged_person_id=other.pk,
                    reason=reason,
                    by=by,
                    snapshot={
                        "display_name": other.display_name,
                        "is_staff": other.is_staff,
                        "is_bot": other.is_bot,
                        "created_at": other.created_at.isoformat(),
                        "identity_ids": identity_ids.get(other.pk, []),
                    },
                )
                for other in others
            ]
        )
        Identity.objects.filter(person_id__in=other_ids).update(person_id=into_id)
        into = Person.objects.get(pk=into_id)
        into.is_staff = into.is_staff or any(other.is_staff for other in others)
        into.is_bot = into.is_bot or any(other.is_bot for other in others)
        into.display_name = into.display_name or next((o.display_name for o in others if o.display_name), "")
        into.save(update_fields=["is_staff", "is_bot", "display_name"])
        Person.objects.filter(pk__in=other_ids).delete()
