"""Reads for the staff API that count: an area's contributors at a date, and the de-duplication check.

Both count with the engine's rule (`conversion_points.contributions`), never a second one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import F, Q, QuerySet

from activities.keys import Key, email_key, username_key
from activities.models import Source
from contributors.models import Identity, Person
from conversion_points import contributions
from conversion_points.models import Area, ConversionPoint, Population


@dataclass
class AreaContributor:
    person: Person
    status: str  # "active", "new" (and active) or "lapsed"
    first_contribution_at: datetime
    last_contribution_at: datetime


def area_contributors(
    *, area: Area, day: date, include_staff: bool = False, approved_only: bool = True, people: QuerySet[Person] | None = None
) -> list[AreaContributor]:
    """The area's active contributors at `day`, which of them are new, and who lapsed that week.

    Counted by `conversion_points.contributions.contributor_statuses` (active, new and lapsed in
    the BRIEF's words, the engine's rule) over the area's points that draw on its own sources; a
    community builder's list (`approved_only`) uses only the rules staff approved as they are.
    Bots never count; staff only when asked for. Each person once, however many identities.
    `people`: the persons as the reader may see them (accounts.permissions.readable_people, with a
    `shown_name` they are sorted by); as stored by default.
    """
    if people is None:
        people = Person.objects.annotate(shown_name=F("display_name"))
    points = ConversionPoint.objects.over_area_sources()
    if approved_only:
        points = points.approved()
    found = contributions.contributor_statuses(
        scope=f"area:{area.slug}",
        day=day,
        population=Population.EVERYONE if include_staff else Population.VOLUNTEERS,
        points=points,
    )
    persons = people.in_bulk([row.person_id for row in found])
    result = [AreaContributor(persons[row.person_id], row.status, row.first, row.last) for row in found]
    result.sort(key=lambda c: (c.status != "new", c.status == "lapsed", c.person.shown_name.casefold(), c.person.pk))
    return result


def active_areas_of_persons(*, person_ids: Sequence[int], day: date) -> dict[int, list[str]]:
    """Person id → slugs of the areas where the person is an active contributor at `day` (staff counted, bots never)."""
    # Asked by staff only (the de-duplication check): every rule over its area's sources, approved or not.
    areas = contributions.areas_of_persons(
        person_ids=person_ids, end=day, population=Population.EVERYONE, points=ConversionPoint.objects.over_area_sources()
    )
    return {
        person_id: [slug for slug, (_first, last) in found.items() if contributions.is_active(last, day=day)]
        for person_id, found in areas.items()
    }


@dataclass
class KeyCheck:
    key: str
    kind: str = ""  # "email" or "username"; empty when the key could not be read
    error: str = ""
    person_id: int | None = None
    identity_id: int | None = None


def parse_key(raw: str, *, namespaces: dict[str, str]) -> tuple[Key | None, str]:
    """An identity key from `name@host` (an e-mail) or `source:username`; (None, reason) if neither."""
    text = raw.strip()
    if text.count("@") == 1 and not any(ch.isspace() for ch in text) and ":" not in text.split("@")[0]:
        return email_key(text), ""
    if ":" in text:
        source, username = text.split(":", 1)
        namespace = namespaces.get(source.strip())
        if namespace is None:
            return None, f"unknown source “{source.strip()}”"
        if not username.strip():
            return None, "no user name after the source"
        return username_key(namespace, username), ""
    return None, "neither an e-mail address nor source:username"


def dedup_check(*, keys: Sequence[str], day: date) -> dict:
    """Which keys are known, which belong to the same person, and where each person is active at `day`."""
    namespaces = {source.slug: source.accounts_namespace for source in Source.objects.all()}
    checks: list[KeyCheck] = []
    parsed: dict[str, Key] = {}
    for raw in keys:
        key, error = parse_key(raw, namespaces=namespaces)
        check = KeyCheck(key=raw, error=error)
        if key is not None:
            check.kind = key[0]
            parsed[raw] = key
        checks.append(check)
    query = Q(pk__in=[])
    for kind, namespace, value in set(parsed.values()):
        query |= Q(kind=kind, namespace=namespace, value=value)
    identities = {(i.kind, i.namespace, i.value): i for i in Identity.objects.filter(query).only("id", "kind", "namespace", "value", "person_id")}
    for check in checks:
        identity = identities.get(parsed.get(check.key, ("", "", "")))
        if identity is not None:
            check.person_id, check.identity_id = identity.person_id, identity.pk
    person_ids = sorted({c.person_id for c in checks if c.person_id is not None})
    areas = active_areas_of_persons(person_ids=person_ids, day=day)
    by_person: dict[int, list[str]] = {}
    for check in checks:
        if check.person_id is not None:
            by_person.setdefault(check.person_id, []).append(check.key)
    return {
        "date": day.isoformat(),
        "results": [
            {
                "key": c.key,
                "kind": c.kind or None,
                "known": c.person_id is not None,
                "person": c.person_id,
                "areas": areas.get(c.person_id, []) if c.person_id is not None else [],
                **({"error": c.error} if c.error else {}),
            }
            for c in checks
        ],
        "same_person": [{"person": pid, "keys": members} for pid, members in sorted(by_person.items()) if len(members) > 1],
    }

