"""Forgetting a person on request: their record goes, and every mention of them elsewhere
(`contributors.erasure`)."""

import operator
import uuid
from functools import reduce

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from activities.models import Activity, Source

from ..erasure import Traces, erasure_targets, name_forms, sessions_erase, traces_erase
from ..models import (
    AccountClaim,
    EmailClaim,
    Identity,
    IdentityAudit,
    MergeSuggestion,
    Person,
    PersonMerge,
    StaffPeriod,
)
from ..suggestions.signals import normalise_name
from .merges import User, recount, resolution_lock

FORGOTTEN_NAMESPACE = "forgotten"


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
        recount()
    return counts


def _claims_about_delete(identities: list[tuple]) -> int:
    """Claims go with the person: those their sign-in accounts made, and anyone's claim of one of
    their addresses or accounts (it names them, and there is nothing left to join)."""
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
