"""Reads about one person, for that person: who they are when signed in, their activities, their
data export and their claims.

A signed-in contributor is a Django user; their person is the one holding an e-mail identity equal
to the user's e-mail (which single sign-on only accepts verified). Addresses and accounts they
claimed join that same person, so the lookup finds everything. What their activities count for (their
record, milestones and public profile) is asked of the rules: `conversion_points.records`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from activities.keys import sign_in_email_key
from activities.models import Activity

from .models import AccountClaim, EmailClaim, Identity, IdentityAudit, Person
from .placeholders import counted


def person_for_user(*, user: AbstractBaseUser) -> Person | None:
    """The person whose e-mail identity is the signed-in user's e-mail, if Baloo knows them."""
    email = (getattr(user, "email", "") or "").strip()
    if not user.is_authenticated or not email:
        return None
    key = sign_in_email_key(email)
    if key is None:
        return None
    # A placeholder account (Bugzilla's nobody@…) or a bot is no one's record: nobody signs in as it.
    identity = Identity.objects.by_key(key).filter(counted("person")).select_related("person").first()
    return identity.person if identity else None


def person_activities(*, person: Person) -> QuerySet[Activity]:
    """Everything the person did, in every system, newest first."""
    return Activity.objects.filter(identity__person=person).select_related("source").order_by("-occurred_at", "-id")


# --------------------------------------------------------------------------- export


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def person_export(*, person: Person | None, user: AbstractBaseUser) -> dict[str, Any]:
    """Everything Baloo holds about this contributor, and nothing about anyone else, as JSON-ready data."""
    data: dict[str, Any] = {
        "exported_at": timezone.now().isoformat(),
        "sign_in": {
            "email": user.email,
            "first_name": getattr(user, "first_name", ""),
            "last_name": getattr(user, "last_name", ""),
            "joined": _iso(getattr(user, "date_joined", None)),
            "last_sign_in": _iso(user.last_login),
        },
        "email_claims": [
            {
                "email": claim.email,
                "status": claim.status,
                "asked": _iso(claim.created_at),
                "confirmed": _iso(claim.confirmed_at),
            }
            for claim in EmailClaim.objects.filter(user=user).order_by("created_at")
        ],
        "account_claims": [
            {
                "system": claim.source.slug,
                "username": claim.username,
                "evidence": claim.evidence,
                "status": claim.status,
                "note": claim.note,
                "asked": _iso(claim.created_at),
                "decided": _iso(claim.decided_at),
            }
            for claim in AccountClaim.objects.filter(user=user).select_related("source").order_by("created_at")
        ],
        "person": None,
        "identities": [],
        "activities": [],
        "history": [],
    }
    if person is None:
        return data
    data["person"] = {
        "id": person.pk,
        "display_name": person.display_name,
        # Staff periods: contributions on these days count as staff, on any other day as a volunteer's.
        "staff_periods": [
            {"from": _day(period.staff_from), "until": _day(period.staff_until), "because": period.origin}
            for period in person.staff_periods.order_by("staff_from", "pk")
        ],
        "bot": person.is_bot,
        "people_directory_id": person.directory_id,
        "public_profile": person.profile_public,
        "public_name": person.profile_name,
        "public_profile_shows_usernames": person.profile_shows_usernames,
        "known_since": _iso(person.created_at),
    }
    data["identities"] = [
        {
            "kind": identity.kind,
            "namespace": identity.namespace,
            "value": identity.value,
            "name": identity.name,
            "first_seen_in": identity.source.slug if identity.source else None,
            "known_since": _iso(identity.created_at),
        }
        for identity in person.identities.select_related("source").order_by("kind", "namespace", "value")
    ]
    data["activities"] = [
        {
            "system": activity.source.slug,
            "external_id": activity.external_id,
            "type": activity.type,
            "occurred_at": _iso(activity.occurred_at),
            "container": activity.container,
            "url": activity.url,
            "title": activity.title,
            "data": activity.data,
        }
        for activity in person_activities(person=person).order_by("occurred_at", "id").iterator(chunk_size=2000)
    ]
    data["history"] = [
        {"what": entry.action, "why": entry.reason, "details": entry.details, "when": _iso(entry.created_at)}
        for entry in IdentityAudit.objects.filter(person_id=person.pk).order_by("created_at", "id")
    ]
    return data


def claims_of_user(*, user: AbstractBaseUser) -> tuple[QuerySet[EmailClaim], QuerySet[AccountClaim]]:
    """The addresses and accounts the user claimed, newest first."""
    return (
        EmailClaim.objects.filter(user=user).exclude(status=EmailClaim.Status.CANCELLED).order_by("-created_at"),
        AccountClaim.objects.filter(user=user).select_related("source").order_by("-created_at"),
    )
