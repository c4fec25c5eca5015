"""The weekly digest's records: who asked not to receive it, in which language, and what was sent.

The desk itself stores nothing: its lists are counted when read (`selectors.py`).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class DigestSetting(models.Model):
    """One user's choice about the weekly digest. No row: the digest is sent, in the site's language."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_setting", verbose_name=_("user")
    )
    subscribed = models.BooleanField(
        _("receives the weekly digest"), default=True, help_text=_("Every Monday: the new, about to lapse and lapsed people of their areas.")
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("The digest's language. Empty: the site's default language."),
    )
    changed_at = models.DateTimeField(_("changed"), auto_now=True)

    class Meta:
        verbose_name = _("digest setting")
        verbose_name_plural = _("digest settings")

    def __str__(self) -> str:
        return str(self.user)


class DigestDelivery(models.Model):
    """The digest of one week for one owner: claimed before it is sent, so it is never sent twice.

    A row is written (and committed) before the e-mail goes. `sending` that stays `sending` means
    the worker stopped between the two: the mail may or may not have left, and it is not sent again
    (at most once; the command lists these). A mail server that refused the message removes the
    row, so the next run tries again.
    """

    class Status(models.TextChoices):
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        NOTHING = "nothing", _("nothing to tell")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_deliveries", verbose_name=_("user")
    )
    week = models.DateField(_("week"), help_text=_("The Sunday (UTC) the week ends on."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SENDING)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    summary = models.JSONField(
        _("summary"), default=dict, blank=True, help_text=_("What the digest said: per area, how many new, about to lapse and lapsed people.")
    )

    class Meta:
        verbose_name = _("digest delivery")
        verbose_name_plural = _("digest deliveries")
        constraints = [models.UniqueConstraint(fields=["user", "week"], name="desk_one_digest_per_user_and_week")]

    def __str__(self) -> str:
        return f"{self.user} · {self.week.isoformat()}"
