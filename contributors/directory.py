"""The people directory (the HRIS / phonebook export): the source of truth for staff and for
which e-mails and user names belong to one human. The format is in docs/contracts.md.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from activities.models import Source
from activities.records import OversizedRecord, is_email
from baloo_site.bulk import insert_rows_returning_ids, update_rows

from .keys import Key, email_key, username_key
from .models import Identity, IdentityAudit, Person
from .placeholders import placeholder_keys
from .services import blocked_person_pairs, identities_existing, merge_allowed, persons_merge_many, resolution_lock


@dataclass
class DirectoryResult:
    created: int = 0
    updated: int = 0
    merged: int = 0
    left: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # Keys of applied records that were left out (placeholder accounts), with why.
    left_out: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class DirectoryRecord:
    line: int
    id: str
    name: str
    keys: list[Key]
    staff: bool


class DirectoryError(ValueError):
    pass


def _parse(raw: Any, *, namespaces: dict[str, str]) -> tuple[str, str, list[Key], bool]:
    if isinstance(raw, OversizedRecord):
        raise DirectoryError(f"the record is {raw.size:,} bytes; a directory record is never that large")
    try:
        record = orjson.loads(raw) if isinstance(raw, (bytes, str)) else raw
    except orjson.JSONDecodeError as error:
        raise DirectoryError(f"not valid JSON ({error})") from None
    if not isinstance(record, dict):
        raise DirectoryError("a directory record must be a JSON object")
    directory_id = record.get("id")
    if isinstance(directory_id, int) and not isinstance(directory_id, bool):
        directory_id = str(directory_id)
    if not isinstance(directory_id, str) or not directory_id.strip():
        raise DirectoryError("the record has no id")
    name = record.get("name") or ""
    if not isinstance(name, str):
        raise DirectoryError("name must be a string")
    emails = record.get("emails")
    if not isinstance(emails, list) or not emails:
        raise DirectoryError("the record lists no e-mail (emails must be a non-empty list)")
    keys: list[Key] = []
    for email in emails:
        if not isinstance(email, str) or not is_email(email.strip()):
            raise DirectoryError(f"{str(email)[:60]!r} is not an e-mail address")
        keys.append(email_key(email))
    usernames = record.get("usernames") or {}
    if not isinstance(usernames, dict):
        raise DirectoryError("usernames must be an object of source slug to user name")
    for slug, username in usernames.items():
        if slug not in namespaces:
            raise DirectoryError(f"usernames names an unknown source {slug!r}")
        if not isinstance(username, str) or not username.strip():
            raise DirectoryError(f"the user name for {slug!r} must be a non-empty string")
        keys.append(username_key(namespaces[slug], username))
    staff = record.get("staff", False)
    if not isinstance(staff, bool):
        raise DirectoryError("staff must be true or false")
    return directory_id.strip(), name.strip()[:200], list(dict.fromkeys(keys)), staff


def people_directory_import(*, records: Iterable[tuple[int, Any]], by=None) -> DirectoryResult:
    """Apply a full people directory export.

    Each record is one person with all its e-mails and user names: existing persons holding any of
    them are merged into it (audited, reversible), `staff` sets the staff flag, and re-importing
    updates rather than duplicates (the record's `id` is the key). A record that would join persons
    an admin separated or locked is reported, not applied. Persons no longer in the directory keep
    their identities but lose a staff flag that the directory had set.
    """
    result = DirectoryResult()
    namespaces = {source.slug: source.accounts_namespace for source in Source.objects.all()}
    placeholders = placeholder_keys()
    parsed: list[DirectoryRecord] = []
    first_line_of_id: dict[str, int] = {}
    owner_of_key: dict[Key, str] = {}
    for line, raw in records:
        try:
            directory_id, name, keys, staff = _parse(raw, namespaces=namespaces)
            if directory_id in first_line_of_id:
                raise DirectoryError(f"duplicate id {directory_id!r} (first on line {first_line_of_id[directory_id]})")
            for key in keys:
                if key in owner_of_key:
                    raise DirectoryError(f"{key[2]!r} is also listed for {owner_of_key[key]!r}")
        except DirectoryError as error:
            result.rejected.append((line, str(error)))
            continue
        if placeholders and any(key in placeholders for key in keys):
            # A placeholder account is nobody's: the rest of the record still applies.
            left_out = [key[2] for key in keys if key in placeholders]
            keys = [key for key in keys if key not in placeholders]
            result.left_out.append((line, f"{', '.join(left_out)} left out: a placeholder account is no one's"))
        first_line_of_id[directory_id] = line
        for key in keys:
            owner_of_key[key] = directory_id
        parsed.append(DirectoryRecord(line, directory_id, name, keys, staff))

    with transaction.atomic():
        resolution_lock()
        _apply(parsed, result, by=by)
    return result


def _apply(parsed: list[DirectoryRecord], result: DirectoryResult, *, by) -> None:
    existing = identities_existing(keys=[key for record in parsed for key in record.keys])
    listed_ids = {r.id for r in parsed}
    person_of_directory_id = {
        directory_id: pk
        for directory_id, pk in Person.objects.filter(directory_id__isnull=False).values_list("directory_id", "pk")
        if directory_id in listed_ids
    }
    persons_of_record = []
    for record in parsed:
        person_ids = {existing[key][1] for key in record.keys if key in existing}
        if record.id in person_of_directory_id:
            person_ids.add(person_of_directory_id[record.id])
        persons_of_record.append(person_ids)

    # Two records can reach the same person (an e-mail moved in the directory): apply the first.
    locked, separated = blocked_person_pairs({pid for ids in persons_of_record for pid in ids})
    applicable: list[tuple[DirectoryRecord, set[int]]] = []
    taken: dict[int, str] = {}
    for record, person_ids in zip(parsed, persons_of_record, strict=True):
        if not merge_allowed(person_ids, locked=locked, separated=separated):
            result.rejected.append(
                (record.line, f"{record.id!r} would join people that an admin separated or locked; not applied")
            )
            continue
        clash = next((taken[pid] for pid in person_ids if pid in taken), None)
        if clash is not None:
            result.rejected.append((record.line, f"{record.id!r} reaches the same person as {clash!r}; not applied"))
            continue
        for pid in person_ids:
            taken[pid] = record.id
        applicable.append((record, person_ids))

    merges = []
    target_of_record: dict[str, int] = {}
    for record, person_ids in applicable:
        if not person_ids:
            continue
        into = person_of_directory_id.get(record.id) or min(person_ids)
        target_of_record[record.id] = into
        others = sorted(person_ids - {into})
        if others:
            merges.append((into, others))
            result.merged += len(others)
    persons_merge_many(merges=merges, reason="People directory", by=by)

    now = timezone.now()
    new_records = [record for record, person_ids in applicable if not person_ids]
    new_ids = insert_rows_returning_ids(
        Person,
        ["display_name", "is_staff", "staff_reason", "is_bot", "locked", "directory_id", "created_at"],
        [
            (r.name, r.staff, Person.StaffReason.DIRECTORY.value if r.staff else "", False, False, r.id, now)
            for r in new_records
        ],
    )
    target_of_record.update(zip((r.id for r in new_records), new_ids, strict=True))
    result.created = len(new_records)

    # Update the persons that were already there: name, directory id, staff flag.
    wanted = {target_of_record[r.id] for r, ids in applicable if ids}
    persons = {
        person.pk: person
        for person in Person.objects.only("pk", "display_name", "directory_id", "is_staff", "staff_reason").iterator(
            chunk_size=10_000
        )
        if person.pk in wanted
    }
    changed = []
    for record, person_ids in applicable:
        if not person_ids:
            continue
        person = persons[target_of_record[record.id]]
        before = (person.display_name, person.directory_id, person.is_staff, person.staff_reason)
        person.display_name = record.name or person.display_name
        person.directory_id = record.id
        if record.staff:
            person.is_staff = True
            person.staff_reason = person.staff_reason or Person.StaffReason.DIRECTORY
            if person.staff_reason != Person.StaffReason.ADMIN:
                person.staff_reason = Person.StaffReason.DIRECTORY
        elif person.staff_reason == Person.StaffReason.DIRECTORY:
            person.is_staff, person.staff_reason = False, ""
        if (person.display_name, person.directory_id, person.is_staff, person.staff_reason) != before:
            changed.append(person)
    update_rows(
        Person._meta.db_table,
        "id",
        ["display_name", "directory_id", "is_staff", "staff_reason"],
        [(p.pk, p.display_name, p.directory_id, p.is_staff, p.staff_reason) for p in changed],
        types=["bigint", "text", "text", "boolean", "text"],
    )
    result.updated = len(changed)

    # New keys join their record's person.
    rows = []
    for record, _person_ids in applicable:
        for key in record.keys:
            if key not in existing:
                rows.append((target_of_record[record.id], *key, None, record.name, now))
    insert_rows_returning_ids(
        Identity, ["person_id", "kind", "namespace", "value", "source_id", "name", "created_at"], rows
    )

    # Persons who left the directory keep their identities; a staff flag the directory set goes.
    listed = [r.id for r in parsed]
    leavers = Person.objects.filter(directory_id__isnull=False).exclude(directory_id__in=listed)
    result.left = leavers.count()
    leavers.filter(staff_reason=Person.StaffReason.DIRECTORY).update(is_staff=False, staff_reason="")
    leavers.update(directory_id=None)
    if result.created or result.updated or result.merged or result.left:
        from conversion_points.metrics import metrics_recompute_soon  # counting depends on people, not back

        metrics_recompute_soon()
        IdentityAudit.objects.create(
            action=IdentityAudit.Action.DIRECTORY,
            by=by,
            reason="People directory import",
            details={
                "created": result.created,
                "updated": result.updated,
                "merged": result.merged,
                "left": result.left,
            },
        )
