"""Reads for the staff API: an area's contributors at a date, and the de-duplication check."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import F, Max, Min, Q, QuerySet

from activities.models import Activity, Source
from contributors.keys import Key, email_key, username_key
from contributors.models import Identity, Person
from contributors.staff import staff_contribution_q
from conversion_points.metrics import WINDOW_DAYS
from conversion_points.models import Area, ConversionPoint
from conversion_points.rules import COUNTED_LEVELS, rules_condition


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def contributions_of_areas(*, areas: Sequence[Area] | QuerySet[Area], approved_only: bool = True) -> QuerySet[Activity]:
    """Activities that are contributions to these areas: matched by an enabled active or core point.

    Only points over one of their area's sources count here (staff decide those): this is how anyone
    reads an area's contributors, so no rule can reach beyond what staff let the area draw on. With
    `approved_only` (what community builders read), only points exactly as staff approved them count,
    so a builder's new or widened rule shows no one until staff approve it; staff pass False.
    """
    points = ConversionPoint.objects.over_area_sources().filter(area__in=areas, enabled=True, level__in=COUNTED_LEVELS)
    if approved_only:
        points = points.approved()
    rules = rules_condition(points)
    return Activity.objects.filter(Q(pk__in=[]) if rules is None else rules, identity__isnull=False)


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

    In the BRIEF's words, for this area's contributions (active and core conversion points):
    - **active at D**: at least one contribution on the 365 days ending D (UTC dates D−364 … D);
    - **new in the week ending D**: the first-ever contribution falls on D−6 … D;
    - **lapsed in the week ending D**: active at D−7, not active at D.
    Bots never count; staff only when asked for. Each person once, however many identities. A
    community builder's list (`approved_only`) uses only the rules staff approved as they are.
    `people`: the persons as the reader may see them (accounts.permissions.readable_people, with a
    `shown_name` they are sorted by); as stored by default.
    """
    if people is None:
        people = Person.objects.annotate(shown_name=F("display_name"))
    end = day_start(day + timedelta(days=1))
    end_previous = end - timedelta(days=7)
    window_start = end - timedelta(days=WINDOW_DAYS)
    rows = (
        contributions_of_areas(areas=[area], approved_only=approved_only)
        .filter(occurred_at__lt=end, identity__person__is_bot=False)
        .filter(Q() if include_staff else ~staff_contribution_q())
        .values("identity__person")
        .annotate(
            first=Min("occurred_at"),
            last=Max("occurred_at"),
            last_before_previous=Max("occurred_at", filter=Q(occurred_at__lt=end_previous)),
        )
        .filter(Q(last__gte=window_start) | Q(last_before_previous__gte=window_start - timedelta(days=7)))
    )
    found = []
    for row in rows:
        active = row["last"] >= window_start
        was_active = row["last_before_previous"] is not None and row["last_before_previous"] >= window_start - timedelta(days=7)
        if active:
            status = "new" if row["first"] >= end - timedelta(days=7) else "active"
        elif was_active:
            status = "lapsed"
        else:
            continue
        found.append((row["identity__person"], status, row["first"], row["last"]))
    persons = people.in_bulk([person_id for person_id, *_ in found])
    result = [AreaContributor(persons[pid], status, first, last) for pid, status, first, last in found]
    result.sort(key=lambda c: (c.status != "new", c.status == "lapsed", c.person.shown_name.casefold(), c.person.pk))
    return result


def active_areas_of_persons(*, person_ids: Sequence[int], day: date) -> dict[int, list[str]]:
    """Person id → slugs of the areas where the person is an active contributor at `day`."""
    end = day_start(day + timedelta(days=1))
    found: dict[int, list[str]] = {pid: [] for pid in person_ids}
    if not person_ids:
        return found
    for area in Area.objects.order_by("position", "slug"):
        active = (
            # Asked by staff only (the de-duplication check): every rule, approved or not.
            contributions_of_areas(areas=[area], approved_only=False)
            .filter(identity__person_id__in=person_ids, occurred_at__lt=end, occurred_at__gte=end - timedelta(days=WINDOW_DAYS))
            .values_list("identity__person_id", flat=True)
            .distinct()
        )
        for person_id in active:
            found[person_id].append(area.slug)
    return found


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

