"""Staff periods: when a person counted as staff, and the one rule every reader of contributions applies.

**The rule.** Staff status is a set of periods per person (`StaffPeriod`: a first and a last day,
either of them open). A contribution counts as staff when its UTC day falls inside one of its
person's periods; otherwise it counts as a volunteer's. So when a volunteer is hired, the weeks they
volunteered keep counting as volunteer weeks, and when staff leave and go on contributing they join
the volunteer series from the day after their period ends: past weeks keep their numbers.

Periods come from three places, each keeping its own (`StaffPeriod.origin`):
- the people directory (`contributors.directory`): `staff` with optional `staff_from`/`staff_until`;
  a person who leaves the directory (or is listed as no longer staff) has their open period ended
  on that import's date;
- `STAFF_EMAIL_DOMAINS`: one period per person from the UTC day of the first to the day of the
  last activity whose record named an address on such a domain (`staff_periods_from_email_domains`,
  widened by ingestion with the records it stored; `staff_periods_rebuild` reads them all again from
  the stored activities, after the setting changed);
- an admin, on the person's page.

The metrics engine applies the rule vectorised (`metrics.engine.People`); every other
reader filters with `staff_contribution_q` (ORM) or `staff_contribution_sql` (raw SQL), which say
the same thing, and the engine's tests check that they agree with it.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, Max, Min, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from activities.keys import email_key
from baloo_site.bulk import is_postgresql

from .models import Identity, Person, StaffPeriod
from .signals import people_changed


def staff_contribution_q(*, person: str = "identity__person", occurred_at: str = "occurred_at") -> Exists:
    """ORM condition: this contribution is a staff contribution (see the rule above).

    `person` and `occurred_at` are the paths, from the model being filtered, to the contribution's
    person and its time. On activities the defaults do: `Activity.objects.filter(staff_contribution_q())`
    keeps staff contributions, `.exclude(staff_contribution_q())` (or `filter(~…)`) the volunteers'.
    An activity whose identity is gone has no person and is never staff.
    """
    day = TruncDate(ExpressionWrapper(OuterRef(occurred_at), output_field=DateTimeField()), tzinfo=UTC)
    return Exists(
        StaffPeriod.objects.filter(person=OuterRef(person))
        .filter(Q(staff_from__isnull=True) | Q(staff_from__lte=day))
        .filter(Q(staff_until__isnull=True) | Q(staff_until__gte=day))
    )


def staff_contribution_sql(*, person: str, occurred_at: str) -> str:
    """Raw SQL condition: this contribution is a staff contribution (see the rule above).

    `person` and `occurred_at` are SQL expressions of the query it goes into, e.g.
    `staff_contribution_sql(person="i.person_id", occurred_at="a.occurred_at")` with activities `a`
    joined to identities `i`; `NOT (…)` keeps the volunteers'. No parameters to pass. PostgreSQL and
    SQLite (where Django stores times in UTC) both.
    """
    if is_postgresql():
        day = f"(({occurred_at}) AT TIME ZONE 'UTC')::date"
    else:
        day = f"date({occurred_at})"
    table = connection.ops.quote_name(StaffPeriod._meta.db_table)
    return (
        f"EXISTS (SELECT 1 FROM {table} sp WHERE sp.person_id = {person} "
        f"AND (sp.staff_from IS NULL OR sp.staff_from <= {day}) "
        f"AND (sp.staff_until IS NULL OR sp.staff_until >= {day}))"
    )


def staff_on_q(*, person: str = "pk", day: date | None = None) -> Exists:
    """ORM condition: the person is staff on `day` (UTC; default today), e.g. to show "staff now"."""
    day = day or timezone.now().astimezone(UTC).date()
    return Exists(
        StaffPeriod.objects.filter(person=OuterRef(person))
        .filter(Q(staff_from__isnull=True) | Q(staff_from__lte=day))
        .filter(Q(staff_until__isnull=True) | Q(staff_until__gte=day))
    )


def staff_email_domains(*, domains: Iterable[str] | None = None) -> set[str]:
    """The domains whose addresses are staff (`domains`, by default `STAFF_EMAIL_DOMAINS`), written
    as an e-mail's key writes them."""
    domains = settings.STAFF_EMAIL_DOMAINS if domains is None else domains
    return {email_key(domain)[2] for domain in domains if domain.strip()}


def staff_periods_from_email_domains(
    *, seen: Iterable[tuple[int, str | None, datetime]], domains: Iterable[str] | None = None
) -> int:
    """Widen the periods staff e-mail domains give (`STAFF_EMAIL_DOMAINS`, or `domains` when given):
    one per person, from the UTC day of their first to the day of their last activity whose record
    named an address on such a domain. Returns how many persons' periods changed.

    `seen` holds (identity id, e-mail key or None, moment) for each activity record just stored, in
    the writer's transaction: ingestion calls this for every batch (the record's address is known
    only then — the activity points at its most specific key, often an account, not the address),
    and only with records it stored: one already there changes nothing, whatever date it gives now.
    A period only ever widens here; `staff_periods_rebuild` reads them all again from the stored
    activities (which also narrows them), and an admin changes one by hand.

    Each person's period is read and written with the person's row locked (PostgreSQL), so batches
    stored at the same time widen one period between them rather than each leaving its own.

    `domains` names staff domains of the caller's own instead of the setting: the demo community's
    (`demo.services`), whose staff addresses are on a domain no real deployment lists.
    """
    domains = staff_email_domains(domains=domains)
    if not domains:
        return 0
    span_of_identity: dict[int, tuple[date, date]] = {}
    for identity_id, email, moment in seen:
        if email and email.rsplit("@", 1)[-1] in domains:
            day = moment.astimezone(UTC).date()
            first, last = span_of_identity.get(identity_id, (day, day))
            span_of_identity[identity_id] = (min(first, day), max(last, day))
    if not span_of_identity:
        return 0
    with transaction.atomic():
        person_of_identity = _persons_locked(list(span_of_identity))
        wanted: dict[int, tuple[date | None, date | None]] = {}
        for identity_id, person_id in person_of_identity.items():
            span = span_of_identity[identity_id]
            wanted[person_id] = _hull(wanted.get(person_id, span), span)
        have = _email_domain_periods(person_ids=list(wanted))
        for person_id, periods in have.items():
            for _pk, start, end in periods:
                wanted[person_id] = _hull(wanted[person_id], (start, end))
        return _email_domain_periods_write(wanted, have)


def _persons_locked(identity_ids: list[int]) -> dict[int, int]:
    """The person of each identity, with those persons' rows locked until the end of the transaction
    (in id order; on SQLite, where writers take turns anyway, nothing to lock). A merge that moved
    an identity while we waited is seen: its new person is locked too."""
    locked: set[int] = set()
    while True:
        person_of = dict(Identity.objects.filter(pk__in=identity_ids).values_list("pk", "person_id"))
        needed = set(person_of.values()) - locked
        if not needed:
            return person_of
        list(Person.objects.select_for_update(no_key=True).filter(pk__in=needed).order_by("pk").values_list("pk"))
        locked |= needed


def _email_domain_periods(*, person_ids: list[int] | None = None) -> dict[int, list[tuple[int, date | None, date | None]]]:
    periods = StaffPeriod.objects.filter(origin=StaffPeriod.Origin.EMAIL_DOMAIN)
    if person_ids is not None:
        periods = periods.filter(person_id__in=person_ids)
    have: dict[int, list[tuple[int, date | None, date | None]]] = {}
    for pk, person_id, start, end in periods.order_by("pk").values_list("pk", "person_id", "staff_from", "staff_until"):
        have.setdefault(person_id, []).append((pk, start, end))
    return have


def _email_domain_periods_write(
    wanted: dict[int, tuple[date | None, date | None] | None], have: dict[int, list[tuple[int, date | None, date | None]]]
) -> int:
    """Leave each person in `wanted` with the one e-mail-domain period it names (None: none), given
    the periods they `have`; returns how many persons changed. A single period is changed in place."""
    changed = 0
    delete: list[int] = []
    create: list[StaffPeriod] = []
    for person_id, span in wanted.items():
        periods = have.get(person_id, [])
        if [(start, end) for _pk, start, end in periods] == ([] if span is None else [span]):
            continue
        changed += 1
        if span is not None and len(periods) == 1:
            StaffPeriod.objects.filter(pk=periods[0][0]).update(staff_from=span[0], staff_until=span[1])
            continue
        delete += [pk for pk, _start, _end in periods]
        if span is not None:
            create.append(
                StaffPeriod(person_id=person_id, staff_from=span[0], staff_until=span[1], origin=StaffPeriod.Origin.EMAIL_DOMAIN)
            )
    StaffPeriod.objects.filter(pk__in=delete).delete()
    StaffPeriod.objects.bulk_create(create, batch_size=5000)
    return changed


def email_domain_spans(*, activities, domains: set[str]) -> dict[int, tuple[date, date]]:
    """Each person's (first, last) UTC day of an activity stored under an e-mail identity on one of
    `domains`, in one grouped query over `activities` (an Activity queryset; the migration passes its
    historical model's).

    An approximation: an activity stored under an account (a user name or uid) is not seen, even
    when its record named a staff address — only ingestion knows the record's address
    (`staff_periods_from_email_domains`).
    """
    if not domains:
        return {}
    on_domain = Q()
    for domain in sorted(domains):
        on_domain |= Q(identity__value__endswith=f"@{domain}")
    return {
        person_id: (first.astimezone(UTC).date(), last.astimezone(UTC).date())
        for person_id, first, last in activities.filter(identity__kind="email")
        .filter(on_domain)
        .order_by()
        .values("identity__person_id")
        .annotate(first=Min("occurred_at"), last=Max("occurred_at"))
        .values_list("identity__person_id", "first", "last")
    }


def staff_periods_rebuild() -> int:
    """Rebuild every e-mail-domain period from the stored activities (`email_domain_spans`): after
    `STAFF_EMAIL_DOMAINS` changed, or to narrow periods ingestion only ever widens. Periods from the
    directory or an admin are untouched; running it twice changes nothing the second time. Returns
    how many persons' periods changed (added, moved or removed).

    Persons who have, or may get, such a period are locked first, so a batch stored meanwhile either
    is in the activities read here or widens the rebuilt period after it.
    """
    from activities.models import Activity  # activities depend on contributors, not back

    domains = staff_email_domains()
    on_domain = Q()
    for domain in sorted(domains):
        on_domain |= Q(value__endswith=f"@{domain}")
    with transaction.atomic():
        candidates = Exists(StaffPeriod.objects.filter(person=OuterRef("pk"), origin=StaffPeriod.Origin.EMAIL_DOMAIN))
        if domains:
            candidates |= Exists(Identity.objects.filter(on_domain, person=OuterRef("pk"), kind=Identity.Kind.EMAIL))
        locked = set(
            Person.objects.select_for_update(no_key=True).filter(candidates).order_by("pk").values_list("pk", flat=True)
        )
        spans = email_domain_spans(activities=Activity.objects.all(), domains=domains)
        have = _email_domain_periods()
        wanted = {person_id: spans.get(person_id) for person_id in locked}
        changed = _email_domain_periods_write(wanted, have)
    if changed:
        people_changed.send(sender=StaffPeriod)
    return changed


def _hull(one: tuple[date | None, date | None], other: tuple[date | None, date | None]) -> tuple[date | None, date | None]:
    """The smallest period holding both (None: open on that side)."""
    start = None if one[0] is None or other[0] is None else min(one[0], other[0])
    end = None if one[1] is None or other[1] is None else max(one[1], other[1])
    return start, end


# --------------------------------------------------------------------------- merges and unmerges


def staff_periods_snapshot(person_id: int) -> list[dict]:
    """A person's periods as a merge snapshot keeps them (to give them back on unmerge)."""
    return [
        {
            "id": pk,
            "staff_from": start.isoformat() if start else None,
            "staff_until": end.isoformat() if end else None,
            "origin": origin,
        }
        for pk, start, end, origin in StaffPeriod.objects.filter(person_id=person_id)
        .order_by("pk")
        .values_list("pk", "staff_from", "staff_until", "origin")
    ]


def staff_periods_move(*, into_of: dict[int, int]) -> None:
    """Periods follow their person into a merge: each person in `into_of` hands theirs to the person it maps to."""
    moving = StaffPeriod.objects.filter(person_id__in=list(into_of)).values_list("pk", "person_id")
    by_into: dict[int, list[int]] = {}
    for pk, person_id in moving:
        by_into.setdefault(into_of[person_id], []).append(pk)
    for into, pks in by_into.items():
        StaffPeriod.objects.filter(pk__in=pks).update(person_id=into)


def staff_periods_restore(*, person_id: int, snapshot: dict, taken_from: int | None) -> None:
    """Give a person restored by an unmerge the periods its merge snapshot lists.

    A period that is still with the person it was merged into (`taken_from`) goes back as it is now
    (the directory may have ended it since); one that is gone is recreated as it was. Snapshots
    written before periods existed hold a staff flag instead: it becomes a period since always.
    """
    periods = snapshot.get("staff_periods")
    if periods is None:
        if snapshot.get("is_staff"):
            origin = snapshot.get("staff_reason") or StaffPeriod.Origin.ADMIN
            StaffPeriod.objects.create(person_id=person_id, origin=origin)
        return
    present = set(
        StaffPeriod.objects.filter(pk__in=[p["id"] for p in periods], person_id=taken_from).values_list("pk", flat=True)
    )
    StaffPeriod.objects.filter(pk__in=present).update(person_id=person_id)
    StaffPeriod.objects.bulk_create(
        StaffPeriod(
            person_id=person_id,
            staff_from=date.fromisoformat(p["staff_from"]) if p["staff_from"] else None,
            staff_until=date.fromisoformat(p["staff_until"]) if p["staff_until"] else None,
            origin=p["origin"],
        )
        for p in periods
        if p["id"] not in present
    )


# --------------------------------------------------------------------------- by hand


def staff_periods_save(*, person_id: int, saved: Iterable[StaffPeriod], deleted: Iterable[StaffPeriod], by=None) -> int:
    """Save the periods an admin added or changed and delete those they removed (audited).

    A period entered or changed by hand is the admin's from then on: the directory and the staff
    e-mail domains never change it again. A staff e-mail domain is not stopped by it, though: after
    an admin deletes or changes a person's e-mail-domain period, their next activity from such an
    address starts a new one, and `staff_periods_rebuild` recreates it (the admin's page says so).
    Returns how many periods changed.
    """
    from .models import IdentityAudit

    saved, deleted = list(saved), [period for period in deleted if period.pk]
    for period in saved:
        period.person_id = person_id
        period.origin = StaffPeriod.Origin.ADMIN
        period.save()
    for period in deleted:
        period.delete()
    if saved or deleted:
        IdentityAudit.objects.create(
            action=IdentityAudit.Action.FLAG,
            person_id=person_id,
            by=by,
            details={"staff_periods_saved": len(saved), "staff_periods_deleted": len(deleted)},
        )
        people_changed.send(sender=StaffPeriod)
    return len(saved) + len(deleted)
