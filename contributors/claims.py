"""Writes a contributor makes about their own record: claiming addresses and accounts, privacy, erasure.

- **Another e-mail address**: the contributor asks; Baloo sends a signed link to that address; the
  same signed-in contributor follows it before it expires, once; the address joins their person.
- **A user name in a system** (SUMO, Discourse… show no e-mails): the contributor asks, a staff
  member approves or rejects it in the admin.

Joining goes through the identity services: when the address or account already belongs to another
person, that person is merged into the contributor's (audited, undone from the admin's person
merges). A merge a contributor could not make alone (a locked person, or two persons an admin
separated) waits for a staff member instead. Erasure runs `person_forget`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from activities.actors import Actor
from activities.keys import EMAIL, USERNAME, Key, email_key, username_key
from activities.models import Source
from baloo_site.emails import is_email

from .models import AccountClaim, EmailClaim, Identity, Person, PersonMerge
from .placeholders import is_placeholder
from .selectors import person_for_user
from .services import (
    blocked_person_pairs,
    excluded_values,
    identities_resolve,
    merge_allowed,
    person_forget,
    persons_merge,
)

logger = logging.getLogger(__name__)

TOKEN_SALT = "contributors.email-claim"
# A contributor may send this many confirmation links a day: enough to fix a typo, too few to spam anyone.
LINKS_PER_DAY = 5


class ClaimError(Exception):
    """A claim that cannot go ahead, with a message for the contributor."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _is_mailable(value: str) -> bool:
    """Stricter than `is_email`, on purpose: a claimed address is sent a confirmation link.

    An identity key only needs one `@` and no whitespace (`baloo_site.emails.is_email`); an address
    a mail is sent to also needs something on each side of the `@`.
    """
    return is_email(value) and not value.startswith("@") and not value.endswith("@")


# --------------------------------------------------------------------------- the contributor's person


def person_ensure_for_user(*, user: AbstractBaseUser) -> Person:
    """The signed-in contributor's person, created around their sign-in e-mail if Baloo has none yet."""
    person = person_for_user(user=user)
    if person is not None:
        return person
    name = (user.get_full_name() if hasattr(user, "get_full_name") else "") or ""
    with transaction.atomic():
        identity_id = identities_resolve(
            actors=[Actor(keys=(email_key(user.email),), name=name, source_id=None, is_bot=False)]
        )[0]
    return Identity.objects.select_related("person").get(pk=identity_id).person


def _placeholder_refused(key: Key) -> None:
    """A placeholder account (`contributors.placeholders`) is nobody's: claiming it would hand its
    activities to whoever asked."""
    if is_placeholder(key):
        raise ClaimError(
            _("That account stands for many people (or for nobody), so nobody can claim it."), code="placeholder"
        )


def _key_join(
    *, user: AbstractBaseUser, key: Key, reason: str, by: AbstractBaseUser | None, staff_decides: bool
) -> tuple[bool, PersonMerge | None]:
    """Join an identity key to the user's person. Returns (joined, merge made).

    A key nobody holds becomes a new identity of theirs; a key of another person brings that person
    along (a merge). Not joined (False) when the merge needs a staff member and none is deciding.
    A placeholder account is never joined (`ClaimError`), even when it became one after the claim.
    """
    _placeholder_refused(key)
    mine = person_ensure_for_user(user=user)
    with transaction.atomic():
        holder = Identity.objects.select_related("person").by_key(key).first()
        if holder is None:
            # Named together with the user's own address, the new key lands on the user's person.
            identities_resolve(actors=[Actor(keys=(key, email_key(user.email)), name="", source_id=None, is_bot=False)])
            return True, None
        other = holder.person
        if other.pk == mine.pk:
            return True, None
        if not staff_decides:
            locked, separated = blocked_person_pairs([mine.pk, other.pk])
            if not merge_allowed({mine.pk, other.pk}, locked=locked, separated=separated):
                return False, None
        persons_merge(into=mine, others=[other], reason=reason, by=by)
        merge = PersonMerge.objects.filter(into=mine, merged_person_id=other.pk).order_by("-created_at", "-id").first()
    return True, merge


# --------------------------------------------------------------------------- e-mail claims


def email_claim_token(*, claim: EmailClaim) -> str:
    """The signed value in a confirmation link: the claim and its current secret, timestamped."""
    return signing.dumps({"claim": claim.pk, "nonce": claim.nonce}, salt=TOKEN_SALT, compress=True)


def email_claim_start(*, user: AbstractBaseUser, email: str, link_for: Callable[[str], str]) -> EmailClaim:
    """Ask to add another address: send a confirmation link to it.

    `link_for(token)` builds the absolute URL of the confirmation page. Asking again for the same
    address sends a fresh link; only the latest link works.

    A link the mail server did not take (down, refusing) was never sent: the claim is put back as
    it was (a new one deleted, a renewed one given back its previous link and time), so it does not
    count against the day's links and an earlier link still works, the failure is logged for
    operators, and the contributor is asked to try later (`ClaimError`, code "not-sent"). The claim
    is saved (committed) before the mail goes and undone after, rather than held in a transaction
    across the call to the mail server, which may take `EMAIL_TIMEOUT` seconds to fail.
    """
    # Normalised before anything, the link included: it must reach the address the key stands for.
    address = email_key(email)[2]
    if not _is_mailable(address):
        raise ClaimError(_("That doesn't look like an e-mail address."), code="invalid")
    if address == email_key(user.email or "")[2]:
        raise ClaimError(_("That's the address you signed in with, so it's already yours."), code="own")
    mine = person_for_user(user=user)
    key = email_key(address)
    if mine is not None and mine.identities.by_key(key).exists():
        raise ClaimError(_("That address is already part of your record."), code="already")
    if (EMAIL, address) in excluded_values():
        raise ClaimError(
            _("That address is shared by many people (or by machines), so nobody can claim it."), code="excluded"
        )
    _placeholder_refused(key)
    since = timezone.now() - timedelta(days=1)
    if EmailClaim.objects.filter(user=user, sent_at__gte=since).count() >= LINKS_PER_DAY:
        raise ClaimError(_("You've asked for quite a few links today. Please try again tomorrow."), code="too-many")

    claim = EmailClaim.objects.filter(user=user, email=address, status=EmailClaim.Status.SENT).first()
    before = None if claim is None else (claim.nonce, claim.sent_at)
    if claim is None:
        claim = EmailClaim(user=user, email=address)
    claim.nonce = secrets.token_hex(16)
    claim.sent_at = timezone.now()
    claim.save()
    context = {
        "claim": claim,
        "user": user,
        "link": link_for(email_claim_token(claim=claim)),
        "hours": settings.BALOO_CLAIM_LINK_MAX_AGE_HOURS,
    }
    try:
        send_mail(
            subject=render_to_string("contributors/email/claim_subject.txt", context).strip(),
            message=render_to_string("contributors/email/claim_body.txt", context),
            from_email=None,
            recipient_list=[address],
        )
    except OSError as error:  # smtplib's errors, refused connections and timeouts alike
        # The error's class and SMTP code tell operators what happened; its text may name the address.
        logger.error(
            "The confirmation link of e-mail claim #%s could not be sent: %s %s",
            claim.pk,
            type(error).__name__,
            getattr(error, "smtp_code", "") or getattr(error, "errno", "") or "",
            extra={"claim_id": claim.pk, "user_id": user.pk},
        )
        _email_claim_unsend(claim=claim, before=before)
        raise ClaimError(
            _("We couldn't send the link just now. Please try again later."),
            code="not-sent",
        ) from None
    return claim


def _email_claim_unsend(*, claim: EmailClaim, before: tuple[str, datetime | None] | None) -> None:
    """Put back a claim whose link was not sent: deleted if it was new, else its previous link and time."""
    if before is None:
        claim.delete()
        return
    claim.nonce, claim.sent_at = before
    claim.save(update_fields=["nonce", "sent_at"])


def email_claim_check(*, token: str, user: AbstractBaseUser) -> EmailClaim:
    """The claim a confirmation link stands for, if it may be confirmed by this user now."""
    try:
        payload = signing.loads(
            token, salt=TOKEN_SALT, max_age=timedelta(hours=settings.BALOO_CLAIM_LINK_MAX_AGE_HOURS)
        )
    except signing.SignatureExpired:
        raise ClaimError(
            _("This link has expired. Ask for a new one from your accounts page."), code="expired"
        ) from None
    except signing.BadSignature:
        raise ClaimError(
            _("This link isn't valid. Check it was copied in full, or ask for a new one."), code="invalid"
        ) from None
    claim = EmailClaim.objects.filter(pk=payload.get("claim")).first()
    if claim is None or claim.status == EmailClaim.Status.CANCELLED:
        raise ClaimError(
            _("This link isn't valid any more. Ask for a new one from your accounts page."), code="invalid"
        )
    if claim.user_id != user.pk:
        raise ClaimError(
            _(
                "This link was asked for by someone else. If it arrived in your inbox unexpectedly, just ignore it: nothing changes."
            ),
            code="someone-else",
        )
    if claim.status != EmailClaim.Status.SENT:
        raise ClaimError(_("This link was already used. Nothing more to do!"), code="used")
    if payload.get("nonce") != claim.nonce:
        raise ClaimError(_("A newer link was sent for this address. Please use the latest one."), code="replaced")
    return claim


def email_claim_confirm(*, token: str, user: AbstractBaseUser) -> EmailClaim:
    """Follow a confirmation link: the address (and any history behind it) joins the user's person."""
    with transaction.atomic():
        claim = email_claim_check(token=token, user=user)
        claim = EmailClaim.objects.select_for_update().get(pk=claim.pk)
        if claim.status != EmailClaim.Status.SENT:
            raise ClaimError(_("This link was already used. Nothing more to do!"), code="used")
        joined, merge = _key_join(
            user=user,
            key=email_key(claim.email),
            reason=f"Claimed by the contributor: e-mail claim #{claim.pk} confirmed by a link",
            by=user,
            staff_decides=False,
        )
        claim.status = EmailClaim.Status.CONFIRMED if joined else EmailClaim.Status.REVIEW
        claim.confirmed_at = timezone.now()
        claim.merge = merge
        claim.save(update_fields=["status", "confirmed_at", "merge"])
    return claim


def email_claim_approve(*, claim: EmailClaim, by: AbstractBaseUser) -> EmailClaim:
    """A staff member joins a confirmed address that needed their say (a locked or separated person)."""
    if claim.status != EmailClaim.Status.REVIEW:
        raise ClaimError(_("Only confirmed claims waiting for a staff member can be approved."), code="state")
    with transaction.atomic():
        _joined, merge = _key_join(
            user=claim.user,
            key=email_key(claim.email),
            reason=f"E-mail claim #{claim.pk} approved by staff",
            by=by,
            staff_decides=True,
        )
        claim.status = EmailClaim.Status.CONFIRMED
        claim.merge = merge
        claim.save(update_fields=["status", "merge"])
    return claim


def email_claim_cancel(*, claim: EmailClaim) -> EmailClaim:
    """The contributor withdraws a claim whose link was not used: the link stops working."""
    if claim.status == EmailClaim.Status.SENT:
        claim.status = EmailClaim.Status.CANCELLED
        claim.save(update_fields=["status"])
    return claim


# --------------------------------------------------------------------------- account claims


def account_claim_submit(*, user: AbstractBaseUser, source: Source, username: str, evidence: str = "") -> AccountClaim:
    """Ask a staff member to join a user name in a system to the contributor's record."""
    username = username.strip()
    if not username:
        raise ClaimError(_("Please tell us the user name."), code="invalid")
    key = username_key(source.accounts_namespace, username)
    value = key[2]
    mine = person_for_user(user=user)
    if mine is not None and mine.identities.by_key(key).exists():
        raise ClaimError(_("That account is already part of your record."), code="already")
    if (USERNAME, value) in excluded_values():
        raise ClaimError(
            _("That account is shared by many people (or by machines), so nobody can claim it."), code="excluded"
        )
    _placeholder_refused(key)
    pending = AccountClaim.objects.filter(
        user=user, source=source, username__iexact=username, status=AccountClaim.Status.PENDING
    ).first()
    if pending is not None:
        return pending
    return AccountClaim.objects.create(user=user, source=source, username=username, evidence=evidence.strip())


def account_claim_approve(*, claim: AccountClaim, by: AbstractBaseUser) -> AccountClaim:
    """A staff member approves: the account (and its history) joins the contributor's person."""
    if claim.status != AccountClaim.Status.PENDING:
        raise ClaimError(_("This claim was already decided."), code="state")
    key = username_key(claim.source.accounts_namespace, claim.username)
    with transaction.atomic():
        _joined, merge = _key_join(
            user=claim.user, key=key, reason=f"Account claim #{claim.pk} approved by staff", by=by, staff_decides=True
        )
        claim.status = AccountClaim.Status.APPROVED
        claim.decided_by = by
        claim.decided_at = timezone.now()
        claim.merge = merge
        claim.save(update_fields=["status", "decided_by", "decided_at", "merge"])
    return claim


def account_claim_reject(*, claim: AccountClaim, by: AbstractBaseUser, note: str = "") -> AccountClaim:
    """A staff member declines; the note (if any) is shown to the contributor."""
    if claim.status != AccountClaim.Status.PENDING:
        raise ClaimError(_("This claim was already decided."), code="state")
    claim.status = AccountClaim.Status.REJECTED
    claim.decided_by = by
    claim.decided_at = timezone.now()
    if note:
        claim.note = note[:500]
    claim.save(update_fields=["status", "decided_by", "decided_at", "note"])
    return claim


# --------------------------------------------------------------------------- privacy


def profile_update(*, person: Person, public: bool, name: str, show_usernames: bool) -> Person:
    """The contributor's choices about their public profile."""
    person.profile_public = public
    person.profile_name = name.strip()
    person.profile_shows_usernames = show_usernames
    person.save(update_fields=["profile_public", "profile_name", "profile_shows_usernames"])
    return person


def person_forget_on_request(*, user: AbstractBaseUser, delete_activities: bool = False) -> dict[str, int]:
    """The contributor asked to be forgotten: their person goes (`person_forget`), and their claims with it.

    Their sign-in account stays (single sign-on owns it), so they can still sign in and see that
    Baloo holds nothing about them.
    """
    with transaction.atomic():
        person = person_for_user(user=user)
        counts = {"identities": 0, "activities_anonymised": 0, "activities_deleted": 0, "claims": 0}
        if person is not None:
            counts = person_forget(person=person, by=user, delete_activities=delete_activities)
        # Claims of a user Baloo holds no person for yet (person_forget took the others).
        counts["claims"] += (
            EmailClaim.objects.filter(user=user).delete()[0] + AccountClaim.objects.filter(user=user).delete()[0]
        )
    return counts
