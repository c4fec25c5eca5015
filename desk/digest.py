"""The weekly digest: each area owner's new, about to lapse and lapsed people of the week, by e-mail.

Sent on Monday mornings by Celery beat (`desk.send_weekly_digest`) and by `send_weekly_digest`,
for the latest complete week. Each owner gets one e-mail for all their areas (the areas they own
and may read: `conversion_points.owners.areas_for`), counted and named as their desk shows them,
in the language they chose (`DigestSetting.language`; none: the site's default), with a link to
the desk and a signed one-click unsubscribe link. Nothing to tell (no new, about to lapse or lapsed
person in any of their areas): no e-mail.

Never twice for the same week and owner: a `DigestDelivery` row is claimed (a unique constraint,
committed) before the e-mail goes, and marked sent after. Two runs at once both try to claim; one
wins. A worker killed between claiming and marking leaves the row `sending`: the e-mail may have
left, so it is not sent again (the command lists these for an operator). A mail server that
refuses the message gives the claim back, so the next run tries again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from conversion_points.models import Area

from .models import DigestDelivery, DigestSetting
from .selectors import ABOUT_TO_LAPSE, LAPSED, NEW, Desk, desk_areas, desk_for

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "desk.digest.unsubscribe"
# Names listed per status and area in the e-mail; the rest are counted ("and 12 more") and on the desk.
NAMES_SHOWN = 20
# Where links point when BALOO_SITE_URL is not set (development: `make run`).
DEVELOPMENT_SITE_URL = "http://localhost:8000"


@dataclass
class DigestReport:
    week: date
    sent: list[str] = field(default_factory=list)  # usernames
    nothing: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # sent (or started) for this week before
    unconfirmed: list[str] = field(default_factory=list)  # started before and never marked sent
    unsubscribed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # the mail server refused: tried again next run


def unsubscribe_token(*, user: Any) -> str:
    """The signed value of a user's unsubscribe link: only this site can make one, for that user only."""
    return signing.dumps({"user": user.pk}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_user(token: str) -> Any | None:
    """The user a token was made for, or None when it was not made by this site (tampered, forged)."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    user_id = payload.get("user") if isinstance(payload, dict) else None
    if not isinstance(user_id, int):
        return None
    return get_user_model().objects.filter(pk=user_id).first()


def digest_setting_save(*, user: Any, subscribed: bool, language: str | None = None) -> DigestSetting:
    """Receive the digest or not (and in which language, when given)."""
    setting, _created = DigestSetting.objects.get_or_create(user=user)
    setting.subscribed = subscribed
    fields = ["subscribed", "changed_at"]
    if language is not None:
        setting.language = language
        fields.append("language")
    setting.save(update_fields=fields)
    return setting


def site_link(path: str) -> str:
    """An absolute link for an e-mail: from BALOO_SITE_URL (there is no request to take a host from)."""
    return (settings.BALOO_SITE_URL or DEVELOPMENT_SITE_URL) + path


def digest_owners() -> Any:
    """Everyone who owns an area and is active, with an e-mail address."""
    return get_user_model().objects.filter(owned_areas__isnull=False, is_active=True).exclude(email="").distinct().order_by("pk")


def _areas_of(user: Any) -> list[Area]:
    """The areas whose digest `user` gets: the ones they own and may still read (a builder's role may be gone)."""
    return list(desk_areas(user=user).filter(owners=user))


def _area_section(desk: Desk) -> dict[str, Any]:
    section: dict[str, Any] = {"area": desk.area, "counts": {}, "names": {}, "more": {}}
    for status in (NEW, ABOUT_TO_LAPSE, LAPSED):
        people = desk.filtered(status=status)
        section["counts"][status] = len(people)
        section["names"][status] = people[:NAMES_SHOWN]
        section["more"][status] = max(0, len(people) - NAMES_SHOWN)
    return section


def digest_send_to(*, user: Any, week_end: date, report: DigestReport) -> None:
    """Send `user` the digest of the week ending `week_end`, unless it was sent (or started) before."""
    setting = DigestSetting.objects.filter(user=user).first()
    if setting is not None and not setting.subscribed:
        report.unsubscribed.append(user.get_username())
        return
    try:
        with transaction.atomic():
            delivery = DigestDelivery.objects.create(user=user, week=week_end)
    except IntegrityError:
        earlier = DigestDelivery.objects.filter(user=user, week=week_end).first()
        stuck = earlier is not None and earlier.status == DigestDelivery.Status.SENDING
        (report.unconfirmed if stuck else report.already).append(user.get_username())
        return
    sections = [_area_section(desk_for(user=user, area=area, week_end=week_end)) for area in _areas_of(user)]
    summary = {str(s["area"].slug): dict(s["counts"]) for s in sections}
    if not any(sum(s["counts"].values()) for s in sections):
        delivery.status, delivery.summary = DigestDelivery.Status.NOTHING, summary
        delivery.save(update_fields=["status", "summary"])
        report.nothing.append(user.get_username())
        return
    language = (setting.language if setting else "") or settings.LANGUAGE_CODE
    try:
        _send(user=user, week_end=week_end, sections=sections, language=language)
    except OSError as error:  # smtplib's errors, refused connections and timeouts alike
        logger.error(
            "The weekly digest for user #%s could not be sent: %s", user.pk, type(error).__name__, extra={"user_id": user.pk}
        )
        delivery.delete()
        report.failed.append(user.get_username())
        return
    delivery.status, delivery.sent_at, delivery.summary = DigestDelivery.Status.SENT, timezone.now(), summary
    delivery.save(update_fields=["status", "sent_at", "summary"])
    report.sent.append(user.get_username())


def _send(*, user: Any, week_end: date, sections: list[dict[str, Any]], language: str) -> None:
    with translation.override(language):
        unsubscribe = site_link(reverse("desk:unsubscribe", args=[unsubscribe_token(user=user)]))
        for section in sections:
            section["link"] = site_link(reverse("desk:area", args=[section["area"].slug]) + f"?week={week_end.isoformat()}")
        context = {
            "user": user,
            "week_end": week_end,
            "sections": sections,
            "unsubscribe": unsubscribe,
            "settings_link": site_link(reverse("desk:digest")),
        }
        subject = render_to_string("desk/email/digest_subject.txt", context).strip()
        body = render_to_string("desk/email/digest_body.txt", context)
    message = EmailMessage(
        subject=subject,
        body=body,
        to=[user.email],
        # RFC 8058: mail programs offer their own unsubscribe button, which posts to the link.
        headers={"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    message.send()


def digest_send(*, week_end: date) -> DigestReport:
    """Send every area owner the digest of the week ending `week_end` (a Sunday), each at most once."""
    report = DigestReport(week=week_end)
    for user in digest_owners():
        digest_send_to(user=user, week_end=week_end, report=report)
    return report
