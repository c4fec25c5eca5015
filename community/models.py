"""Participation: what people ask of Baloo. Help pages themselves are templates, translated like every page."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from baloo_site.fields import HttpsURLField


class IntegrationRequestQuerySet(models.QuerySet):
    def public(self) -> "IntegrationRequestQuerySet":
        return self.filter(status__in=IntegrationRequest.PUBLIC_STATUSES)


class IntegrationRequest(models.Model):
    """Someone would like Baloo to count contributions in another system.

    The contact is for the team only: the public list shows the system, what should count there,
    the status and the team's note, never who asked.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("requested")
        PLANNED = "planned", _("planned")
        IN_PROGRESS = "in-progress", _("being built")
        AVAILABLE = "available", _("available")
        DECLINED = "declined", _("not planned")

    PUBLIC_STATUSES = (Status.REQUESTED, Status.PLANNED, Status.IN_PROGRESS, Status.AVAILABLE)

    system = models.CharField(
        _("system"), max_length=200, help_text=_("The system to integrate, e.g. “Discourse at discourse.mozilla.org”.")
    )
    url = HttpsURLField(
        _("address"), max_length=500, blank=True, help_text=_("Where the system lives, if it is on the web.")
    )
    what_counts = models.TextField(
        _("what counts there"),
        help_text=_("Which activities in that system should count as contributions, in the requester's words."),
    )
    contact = models.CharField(
        _("contact"), max_length=320, help_text=_("How to reach the person who asked. Never shown publicly.")
    )
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.REQUESTED)
    public_note = models.TextField(
        _("note on the public list"),
        blank=True,
        help_text=_(
            "What everyone sees next to the request, e.g. “Planned for the spring: we need an API token first.”"
        ),
    )
    staff_notes = models.TextField(_("notes for the team"), blank=True, help_text=_("Private: never shown publicly."))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Set when the person was signed in."),
    )
    created_at = models.DateTimeField(_("requested on"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = IntegrationRequestQuerySet.as_manager()

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("contact", "what_counts", "public_note", "staff_notes")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("integration request")
        verbose_name_plural = _("integration requests")

    def __str__(self) -> str:
        return self.system
