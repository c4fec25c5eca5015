"""The "what happened": sources (configured systems) and the activities synced, pushed or imported from them."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Source(models.Model):
    """One configured instance of a system kind, e.g. `github-mozilla`."""

    slug = models.SlugField(
        _("slug"),
        max_length=100,
        unique=True,
        help_text=_("Short name used in import files, the API and URLs, e.g. “github-mozilla”. Never change it once data arrived."),
    )
    kind = models.SlugField(
        _("kind"),
        max_length=50,
        help_text=_(
            "Which system this is: “github”, “bugzilla”, “sumo”… A kind without a connector "
            "(“git”, “events”, “manual”) is fed only by imports and the push API."
        ),
    )
    name = models.CharField(_("name"), max_length=200, help_text=_("The name people know this system by, e.g. “GitHub”."))
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        blank=True,
        help_text=_("Where the system's API lives, e.g. https://api.github.com. Leave empty for import-only sources."),
    )
    options = models.JSONField(
        _("options"),
        default=dict,
        blank=True,
        help_text=_("Connector settings as JSON, e.g. {\"repos\": [\"mozilla/kitsune\"]} for GitHub."),
    )
    token_env = models.CharField(
        _("token variable"),
        max_length=100,
        blank=True,
        help_text=_("The name of the environment variable holding the API token (the token itself is never stored here)."),
    )
    schedule_minutes = models.PositiveIntegerField(
        _("sync every (minutes)"),
        default=60,
        help_text=_("How often Baloo asks this system for new activity. 0 means never automatically."),
    )
    account_namespace = models.SlugField(
        _("shares accounts with"),
        max_length=100,
        blank=True,
        help_text=_(
            "Sources with the same value here share user names and ids (two GitHub sources share logins). "
            "Leave empty when this source's accounts are its own."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True, help_text=_("Untick to pause syncing without losing anything."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("source")
        verbose_name_plural = _("sources")

    def __str__(self) -> str:
        return self.name or self.slug

    @property
    def accounts_namespace(self) -> str:
        """The namespace user names and uids of this source live in."""
        return self.account_namespace or self.slug


class ActivityQuerySet(models.QuerySet):
    def between(self, start, end) -> "ActivityQuerySet":
        return self.filter(occurred_at__gte=start, occurred_at__lt=end)

    def of_types(self, types: list[str]) -> "ActivityQuerySet":
        return self.filter(type__in=types)


class Activity(models.Model):
    """One thing a person did in a source at a time, e.g. `bugzilla.bug.filed`.

    Activities point at an identity, never at a person: persons are resolved when counting,
    so a merge or unmerge shows in the next recompute without rewriting activities.
    """

    # Activities are the big table (millions of rows, bulk-loaded with COPY): no single-column
    # indexes (the composite ones below lead with source and identity) and no database-level
    # foreign keys, whose per-row deferred checks doubled the cost of every commit. Django still
    # enforces on_delete; nothing deletes sources or identities behind its back.
    source = models.ForeignKey(
        Source,
        verbose_name=_("source"),
        on_delete=models.PROTECT,
        related_name="activities",
        db_index=False,
        db_constraint=False,
    )
    external_id = models.CharField(_("external id"), max_length=255, help_text=_("The id the source gave it; unique within the source."))
    type = models.CharField(_("type"), max_length=100, help_text=_("<system>.<object>.<action>, e.g. github.pull_request.opened"))
    occurred_at = models.DateTimeField(_("occurred at"))
    identity = models.ForeignKey(
        "contributors.Identity",
        verbose_name=_("identity"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
        related_name="activities",
        help_text=_("The account that did it. Empty after a person asked to be forgotten."),
    )
    container = models.CharField(
        _("container"), max_length=255, blank=True, help_text=_("Where it happened: a repository, a Product::Component, a product and locale…")
    )
    url = models.CharField(_("URL"), max_length=1000, blank=True)
    title = models.CharField(_("title"), max_length=500, blank=True)
    data = models.JSONField(_("raw payload"), default=dict, blank=True, help_text=_("The record as the source sent it, kept as is."))
    ingested_at = models.DateTimeField(_("ingested at"), default=timezone.now)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="activity_unique_per_source")]
        indexes = [
            # Counting scans contributions by rule: source, type, then time.
            models.Index(fields=["source", "type", "occurred_at"], name="activity_rule_idx"),
            models.Index(fields=["identity", "occurred_at"], name="activity_identity_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.external_id}"
