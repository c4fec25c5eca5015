"""Merges, unmerges, moves and flags of persons, each audited and reversible.

Every identity change runs under the resolution lock (`resolution_lock`), so that parallel imports
never create the same identity twice, and says that who is who changed (`recount`).
"""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from baloo_site.bulk import is_postgresql, update_rows

from ..models import Identity, IdentityAudit, Person, PersonMerge, Separation
from ..placeholders import PlaceholderMergeError, placeholder_persons
from ..signals import people_changed
from ..staff import staff_periods_move, staff_periods_restore, staff_periods_snapshot

# Identity resolution is serialised across processes: two imports creating the same new identity
# at once would otherwise race. Parsing and activity inserts still run in parallel.
RESOLUTION_LOCK_ID = 0x6261_6C6F  # "balo"

User = AbstractBaseUser | None


def resolution_lock() -> None:
    """Serialise identity changes across processes until the end of the transaction (PostgreSQL)."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RESOLUTION_LOCK_ID])


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
        recount()
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
            recount()


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
        recount()
    return restored


def recount() -> None:
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
        recount()
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
        recount()
    return person
