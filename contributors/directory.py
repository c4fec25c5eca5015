"""The people directory (the HRIS / phonebook export): the source of truth for staff and for
which e-mails and user names belong to one human. The format is in docs/contracts.md.

Staff periods from the directory (origin `directory`, see `contributors.staff` for the rule):
- `staff: true` with `staff_from` and/or `staff_until` (ISO dates, inclusive) is that period.
- `staff: true` without `staff_from`: a person already staff by the directory keeps the start they
  have. Otherwise, on the directory's first import, staff since always (the directory describes
  people as they are now, and the people already there are taken as they always were); on a later
  import, staff from that import's date: hired now, their volunteer weeks stay volunteer weeks.
- A person who leaves the directory (absent from a later import), or is listed with `staff: false`,
  has their open directory period ended on that import's date (the last day counted as staff); the
  period stays, so past weeks keep their numbers.
- A person whose record is there but rejected (a bad date, say) has not left: they are left as they
  were, and the import names the line. A rejected line whose id cannot be read could be anyone's,
  so on such an import nobody leaves the directory (fix the line and import again).
Re-importing the same export changes nothing. Periods an admin entered are never touched.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from activities.keys import Key, email_key, username_key
from activities.models import Source
from baloo_site.bulk import insert_rows_returning_ids, update_rows
from baloo_site.emails import is_email
from baloo_site.lines import OversizedRecord

from .models import Identity, IdentityAudit, Person, StaffPeriod
from .placeholders import placeholder_keys
from .services import blocked_person_pairs, identities_existing, merge_allowed, persons_merge_many, resolution_lock
from .signals import people_changed


@dataclass
class DirectoryResult:
    created: int = 0
    updated: int = 0
    merged: int = 0
    left: int = 0
    staff_periods: int = 0  # directory staff periods added, changed, ended or removed
    rejected: list[tuple[int, str]] = field(default_factory=list)
    # Lines rejected without a readable id: nobody left the directory on this import (see `_apply`).
    unreadable: list[int] = field(default_factory=list)
    # Keys of applied records that were left out (placeholder accounts), with why.
    left_out: list[tuple[int, str]] = field(default_factory=list)


@dataclass(slots=True)
class DirectoryRecord:
    line: int
    id: str
    name: str
    keys: list[Key]
    staff: bool
    staff_from: date | None = None
    staff_until: date | None = None


class DirectoryError(ValueError):
    pass


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(record: dict, name: str) -> date | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
        raise DirectoryError(f"{name} must be a date written YYYY-MM-DD, not {str(value)[:40]!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DirectoryError(f"{name} {value!r} is not a day of the calendar") from None


def _parse(raw: Any, *, namespaces: dict[str, str]) -> tuple[str, str, list[Key], bool, date | None, date | None]:
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
    staff_from, staff_until = _date(record, "staff_from"), _date(record, "staff_until")
    if (staff_from or staff_until) and not staff:
        raise DirectoryError('staff_from and staff_until bound a staff period: give them with "staff": true')
    if staff_from and staff_until and staff_from > staff_until:
        raise DirectoryError(f"staff_from {staff_from.isoformat()} is after staff_until {staff_until.isoformat()}")
    return directory_id.strip(), name.strip()[:200], list(dict.fromkeys(keys)), staff, staff_from, staff_until


def people_directory_import(*, records: Iterable[tuple[int, Any]], by=None) -> DirectoryResult:
    """Apply a full people directory export.

    Each record is one person with all its e-mails and user names: existing persons holding any of
    them are merged into it (audited, reversible), `staff` (with `staff_from`/`staff_until`) gives
    a staff period, and re-importing updates rather than duplicates (the record's `id` is the key).
    A record that would join persons kept apart (an admin separated or locked them, or they hold
    two accounts of one system) is reported, not applied. Persons no longer in the directory keep
    their identities, and their open directory staff period ends on the import's date (see the
    module's docstring).
    """
    result = DirectoryResult()
    namespaces = {source.slug: source.accounts_namespace for source in Source.objects.all()}
    placeholders = placeholder_keys()
    parsed: list[DirectoryRecord] = []
    first_line_of_id: dict[str, int] = {}
    owner_of_key: dict[Key, str] = {}
    kept_ids: set[str] = set()
    for line, raw in records:
        try:
            directory_id, name, keys, staff, staff_from, staff_until = _parse(raw, namespaces=namespaces)
            if directory_id in first_line_of_id:
                raise DirectoryError(f"duplicate id {directory_id!r} (first on line {first_line_of_id[directory_id]})")
            for key in keys:
                if key in owner_of_key:
                    raise DirectoryError(f"{key[2]!r} is also listed for {owner_of_key[key]!r}")
        except DirectoryError as error:
            # The person a rejected record names is still in the directory: left as they were.
            rejected_id = _readable_id(raw)
            if rejected_id in first_line_of_id:  # a duplicate: the first line with its id applies
                result.rejected.append((line, str(error)))
            elif rejected_id is None:
                result.unreadable.append(line)
                result.rejected.append((line, f"{error}; no id could be read, so nobody leaves the directory on this import"))
            else:
                kept_ids.add(rejected_id)
                result.rejected.append((line, f"{error}; {rejected_id!r} is left as they were"))
            continue
        if placeholders and any(key in placeholders for key in keys):
            # A placeholder account is nobody's: the rest of the record still applies.
            left_out = [key[2] for key in keys if key in placeholders]
            keys = [key for key in keys if key not in placeholders]
            result.left_out.append((line, f"{', '.join(left_out)} left out: a placeholder account is no one's"))
        first_line_of_id[directory_id] = line
        for key in keys:
            owner_of_key[key] = directory_id
        parsed.append(DirectoryRecord(line, directory_id, name, keys, staff, staff_from, staff_until))

    with transaction.atomic():
        resolution_lock()
        _apply(parsed, result, by=by, kept_ids=kept_ids)
    return result


def _readable_id(raw: Any) -> str | None:
    """The id of a record the parser rejected, when it has one."""
    if isinstance(raw, OversizedRecord):
        return None
    try:
        record = orjson.loads(raw) if isinstance(raw, (bytes, str)) else raw
    except orjson.JSONDecodeError:
        return None
    directory_id = record.get("id") if isinstance(record, dict) else None
    if isinstance(directory_id, int) and not isinstance(directory_id, bool):
        directory_id = str(directory_id)
    if not isinstance(directory_id, str) or not directory_id.strip():
        return None
    return directory_id.strip()


def _apply(parsed: list[DirectoryRecord], result: DirectoryResult, *, by, kept_ids: set[str]) -> None:
    first_import = not IdentityAudit.objects.filter(action=IdentityAudit.Action.DIRECTORY).exists()
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
                (
                    record.line,
                    f"{record.id!r} would join people kept apart (an admin separated or locked them, "
                    "or they hold two accounts of one system); not applied",
                )
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
        ["display_name", "is_bot", "locked", "directory_id", "created_at"],
        [(r.name, False, False, r.id, now) for r in new_records],
    )
    target_of_record.update(zip((r.id for r in new_records), new_ids, strict=True))
    result.created = len(new_records)

    # Update the persons that were already there: name and directory id.
    wanted = {target_of_record[r.id] for r, ids in applicable if ids}
    persons = {
        person.pk: person
        for person in Person.objects.only("pk", "display_name", "directory_id").iterator(chunk_size=10_000)
        if person.pk in wanted
    }
    changed = []
    for record, person_ids in applicable:
        if not person_ids:
            continue
        person = persons[target_of_record[record.id]]
        before = (person.display_name, person.directory_id)
        person.display_name = record.name or person.display_name
        person.directory_id = record.id
        if (person.display_name, person.directory_id) != before:
            changed.append(person)
    update_rows(
        Person._meta.db_table,
        "id",
        ["display_name", "directory_id"],
        [(p.pk, p.display_name, p.directory_id) for p in changed],
        types=["bigint", "text", "text"],
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

    # Persons who left the directory keep their identities; their open directory period ends today.
    # A person whose record is there but was rejected has not left; when a rejected line's id cannot
    # be read, it could be anyone's, so nobody leaves on this import.
    listed = [r.id for r in parsed] + sorted(kept_ids)
    leavers = Person.objects.filter(directory_id__isnull=False).exclude(directory_id__in=listed)
    if result.unreadable:
        leavers = leavers.none()
    leaver_ids = list(leavers.values_list("pk", flat=True))
    result.left = len(leaver_ids)
    leavers.update(directory_id=None)
    result.staff_periods = _staff_periods_apply(
        [(record, target_of_record[record.id]) for record, _ids in applicable],
        leaver_ids,
        today=now.astimezone(UTC).date(),
        first_import=first_import,
    )
    if result.created or result.updated or result.merged or result.left or result.staff_periods:
        people_changed.send(sender=Person)
        IdentityAudit.objects.create(
            action=IdentityAudit.Action.DIRECTORY,
            by=by,
            reason="People directory import",
            details={
                "created": result.created,
                "updated": result.updated,
                "merged": result.merged,
                "left": result.left,
                "staff_periods": result.staff_periods,
            },
        )


def _staff_periods_apply(
    listed: list[tuple[DirectoryRecord, int]], leaver_ids: list[int], *, today: date, first_import: bool
) -> int:
    """Bring the directory's staff periods in line with the import (rules in the module's docstring).

    Returns how many periods were added, changed or removed. One read of the directory periods of
    the persons concerned, then bulk writes.
    """
    person_ids = {person_id for _record, person_id in listed} | set(leaver_ids)
    periods: dict[int, list[StaffPeriod]] = {}
    for period in StaffPeriod.objects.filter(origin=StaffPeriod.Origin.DIRECTORY, person_id__in=person_ids).order_by(
        "person_id", "pk"
    ):
        periods.setdefault(period.person_id, []).append(period)
    added: list[StaffPeriod] = []
    changed: dict[int, StaffPeriod] = {}
    removed: set[int] = set()

    def end_open(person_id: int) -> None:
        for period in periods.get(person_id, []):
            if period.staff_until is None:
                if period.staff_from is not None and period.staff_from > today:
                    removed.add(period.pk)  # it had not begun
                else:
                    period.staff_until = today
                    changed[period.pk] = period

    for record, person_id in listed:
        mine = periods.get(person_id, [])
        if not record.staff:
            end_open(person_id)
            continue
        open_ones = sorted(
            (p for p in mine if p.staff_until is None), key=lambda p: (p.staff_from is not None, p.staff_from or today)
        )
        # Two open periods (two persons the directory just merged): the earliest stays.
        removed.update(p.pk for p in open_ones[1:])
        current = open_ones[0] if open_ones else None
        if current is None:
            # A closed period with the record's bounds (or its start) is the one the record describes.
            current = next(
                (p for p in mine if p.staff_from == record.staff_from and p.staff_from is not None), None
            ) or next((p for p in mine if (p.staff_from, p.staff_until) == (record.staff_from, record.staff_until)), None)
        if current is None:
            start = record.staff_from
            if start is None and record.staff_until is None and not first_import:
                start = today  # listed as staff for the first time: hired now
            if start is not None and record.staff_until is not None and start > record.staff_until:
                start = None
            added.append(
                StaffPeriod(
                    person_id=person_id,
                    staff_from=start,
                    staff_until=record.staff_until,
                    origin=StaffPeriod.Origin.DIRECTORY,
                )
            )
            continue
        start = record.staff_from if record.staff_from is not None else current.staff_from
        if start is not None and record.staff_until is not None and start > record.staff_until:
            start = None
        if (current.staff_from, current.staff_until) != (start, record.staff_until):
            current.staff_from, current.staff_until = start, record.staff_until
            changed[current.pk] = current
    for person_id in leaver_ids:
        end_open(person_id)

    changed = {pk: period for pk, period in changed.items() if pk not in removed}
    StaffPeriod.objects.filter(pk__in=removed).delete()
    StaffPeriod.objects.bulk_update(list(changed.values()), ["staff_from", "staff_until"], batch_size=2000)
    StaffPeriod.objects.bulk_create(added, batch_size=2000)
    return len(added) + len(changed) + len(removed)
