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
  last activity made with an address on such a domain (`staff_periods_from_email_domains`);
- an admin, on the person's page.

The metrics engine applies the rule vectorised (`conversion_points.metrics.People`); every other
reader filters with `staff_contribution_q` (ORM) or `staff_contribution_sql` (raw SQL), which say
the same thing, and the engine's tests check that they agree with it.
"""

from collections.abc import Iterable
from datetime import UTC, date

from django.conf import settings
from django.db import connection
from django.db.models import DateTimeField, Exists, ExpressionWrapper, Max, Min, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from baloo_site.bulk import is_postgresql

from .keys import EMAIL, email_key
from .models import Identity, StaffPeriod


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


def staff_email_domains() -> set[str]:
    """The domains whose addresses are staff, written as an e-mail's key writes them."""
    return {email_key(domain)[2] for domain in settings.STAFF_EMAIL_DOMAINS if domain.strip()}


def _on_domains(domains: Iterable[str], prefix: str = "") -> Q:
    condition = Q(pk__in=[])
    for domain in sorted(domains):
        condition |= Q(**{f"{prefix}value__endswith": f"@{domain}"})
    return Q(**{f"{prefix}kind": EMAIL}) & condition


def staff_periods_from_email_domains(
    *,
    identity_ids: Iterable[int] | None = None,
    person_ids: Iterable[int] | None = None,
    domains: Iterable[str] | None = None,
) -> int:
    """Keep the periods that staff e-mail domains give: one per person, from the UTC day of their
    first to the day of their last activity made with an address on one of `domains` (default:
    `STAFF_EMAIL_DOMAINS`). Returns how many persons' periods changed.

    With `identity_ids` (the identities of activities just stored) or `person_ids` (persons whose
    identities changed) only the persons concerned are looked at; with neither, everyone: then a
    person with no such activity (any more) loses their e-mail-domain period. Set-based: one
    aggregate over the activities of the addresses concerned. Call inside the writer's transaction.
    """
    from activities.models import Activity  # activities depend on people, not back

    domains = staff_email_domains() if domains is None else {email_key(domain)[2] for domain in domains}
    everyone = identity_ids is None and person_ids is None
    if not domains and not everyone:
        return 0
    scope: set[int] | None = None
    if not everyone:
        scope = set(person_ids or ())
        if identity_ids is not None:
            ids = list(identity_ids)
            if ids:
                scope |= set(
                    Identity.objects.filter(_on_domains(domains), pk__in=ids).values_list("person_id", flat=True)
                )
        if not scope:
            return 0
    spans = Activity.objects.filter(_on_domains(domains, "identity__")) if domains else Activity.objects.none()
    existing = StaffPeriod.objects.filter(origin=StaffPeriod.Origin.EMAIL_DOMAIN)
    if scope is not None:
        spans = spans.filter(identity__person_id__in=scope)
        existing = existing.filter(person_id__in=scope)
    wanted = {
        row["identity__person_id"]: (row["first"].astimezone(UTC).date(), row["last"].astimezone(UTC).date())
        for row in spans.order_by().values("identity__person_id").annotate(first=Min("occurred_at"), last=Max("occurred_at"))
    }
    have: dict[int, list[tuple[int, date | None, date | None]]] = {}
    for pk, person_id, start, end in existing.values_list("pk", "person_id", "staff_from", "staff_until"):
        have.setdefault(person_id, []).append((pk, start, end))
    changed = [
        person_id
        for person_id in {*wanted, *have}
        if [(start, end) for _pk, start, end in have.get(person_id, [])] != ([wanted[person_id]] if person_id in wanted else [])
    ]
    if changed:
        StaffPeriod.objects.filter(
            pk__in=[pk for person_id in changed for pk, _s, _e in have.get(person_id, [])]
        ).delete()
        StaffPeriod.objects.bulk_create(
            StaffPeriod(
                person_id=person_id,
                staff_from=wanted[person_id][0],
                staff_until=wanted[person_id][1],
                origin=StaffPeriod.Origin.EMAIL_DOMAIN,
            )
            for person_id in changed
            if person_id in wanted
        )
    return len(changed)


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
    e-mail domains never change it again. Returns how many periods changed.
    """
    from conversion_points.metrics import metrics_recompute_soon  # counting depends on people, not back

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
        metrics_recompute_soon()
    return len(saved) + len(deleted)
