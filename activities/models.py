"""The "what happened": sources (configured systems) and the activities synced, pushed or imported from them."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .validators import validate_base_url, validate_token_env


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
            "Which system this is: “github”, “bugzilla”, “sumo”, “discourse”, “pontoon”, “reps”, “git”… A kind "
            "without a connector (“events”, “manual”) is fed only by imports and the push API."
        ),
    )
    name = models.CharField(_("name"), max_length=200, help_text=_("The name people know this system by, e.g. “GitHub”."))
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        blank=True,
        validators=[validate_base_url],
        help_text=_(
            "Where the system's API lives, e.g. https://api.github.com. Leave empty for import-only sources. "
            "Only public addresses are reached, unless the operator lists the host in BALOO_SOURCE_ALLOWED_HOSTS. "
            "Only an administrator can change it."
        ),
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
        validators=[validate_token_env],
        help_text=_(
            "The name of the environment variable holding the API token, starting with BALOO_TOKEN_ "
            "(several names may be separated by commas); the token itself is never stored here. "
            "Only an administrator can change it."
        ),
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
    # Only what Baloo reads itself may join accounts; a push token holder can type anything.
    links_accounts = models.BooleanField(
        _("pushed records link accounts"),
        default=False,
        # Also in the database: rows written by older code (and by migration tests) get "off".
        db_default=False,
        help_text=_(
            "Tick only for a system you trust to report who is who: records pushed through the API for this "
            "source then join the e-mail, user name and id they name into one person. Unticked, each stays "
            "apart and the link becomes a merge suggestion. Syncs, webhooks and imports always link."
        ),
    )
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

    @property
    def is_github_com(self) -> bool:
        """Whether this source reads github.com (not a GitHub Enterprise server): its accounts are
        the ones GitHub noreply addresses name."""
        return self.kind == "github" and (not self.base_url or "api.github.com" in self.base_url)


class SourceConnectionChange(models.Model):
    """One change of where a source connects (`base_url`; a git source's repository, its `url` option:
    `git_url`), which variables hold its token (`token_env`), or whether records pushed for it may
    join accounts (`links_accounts`).

    The first ones decide where a server secret could be sent or a request go, the last whom a token
    holder's records may join, so each change is kept: who, when, how, the old and the new value.
    Values are URLs, paths, variable names and "on", never a token.
    """

    class Field(models.TextChoices):
        BASE_URL = "base_url", _("base URL")
        TOKEN_ENV = "token_env", _("token variable")
        LINKS_ACCOUNTS = "links_accounts", _("pushed records link accounts")
        KIND = "kind", _("kind")
        GIT_URL = "git_url", _("git repository (url option)")

    class Via(models.TextChoices):
        ADMIN = "admin", _("admin")
        CONFIG = "config", _("configuration file (load_config)")

    source = models.ForeignKey(
        Source, verbose_name=_("source"), on_delete=models.SET_NULL, null=True, blank=True, related_name="connection_changes"
    )
    source_slug = models.CharField(_("source slug"), max_length=100, help_text=_("Kept when the source is deleted."))
    field = models.CharField(_("field"), max_length=20, choices=Field.choices)
    old_value = models.CharField(_("old value"), max_length=500, blank=True)
    new_value = models.CharField(_("new value"), max_length=500, blank=True)
    by = models.ForeignKey("auth.User", verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    by_name = models.CharField(
        _("by (name)"), max_length=150, blank=True, help_text=_("The user name in the admin, or the system account that ran load_config.")
    )
    via = models.CharField(_("how"), max_length=20, choices=Via.choices)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("source connection change")
        verbose_name_plural = _("source connection changes")

    def __str__(self) -> str:
        return f"{self.source_slug} {self.field}"


class RawPayloadField(models.JSONField):
    """A record's raw payload, stored as the JSON text the ingestion service wrote.

    Every payload reaches the table through the ingestion service, which writes it with a JSON
    encoder; on PostgreSQL the column is therefore plain `text`: `json` would check that text again
    (a fifth of the cost of a bulk insert into the activity table, measured) and `jsonb` parse it
    into its binary form. Payloads are shown, never searched by key, so nothing is lost. Other
    databases store it as Django's JSONField does.
    """

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "text"
        return super().db_type(connection)

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):
            return value  # already decoded by the database driver
        return super().from_db_value(value, expression, connection)


class ActivityQuerySet(models.QuerySet):
    def between(self, start, end) -> "ActivityQuerySet":
        return self.filter(occurred_at__gte=start, occurred_at__lt=end)


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
    data = RawPayloadField(_("raw payload"), default=dict, blank=True, help_text=_("The record as the source sent it, kept as is."))
    ingested_at = models.DateTimeField(_("ingested at"), default=timezone.now)

    objects = ActivityQuerySet.as_manager()

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("title", "url", "data")

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


class SyncState(models.Model):
    """Where a source's sync stands: its checkpoint, its lock, and when it is next due.

    One row per synced source. The checkpoint is advanced only after the page it describes was
    committed through the ingestion service, so a worker killed mid-sync resumes from it with no
    gap (the page is fetched again) and no duplicate ((source, external id) is unique).
    """

    source = models.OneToOneField(Source, verbose_name=_("source"), on_delete=models.CASCADE, related_name="sync_state")
    checkpoint = models.JSONField(
        _("checkpoint"), default=dict, blank=True, help_text=_("The connector's cursor: where the next sync starts. Empty means from the beginning.")
    )
    lock_owner = models.CharField(_("locked by"), max_length=64, blank=True)
    locked_until = models.DateTimeField(
        _("locked until"), null=True, blank=True, help_text=_("A sync holds the lock while it runs; a lock left by a killed worker expires at this time.")
    )
    next_sync_at = models.DateTimeField(
        _("next sync"), null=True, blank=True, help_text=_("When the schedule next runs this source (later after a rate limit).")
    )
    secondary_limits = models.PositiveSmallIntegerField(
        _("secondary rate limits in a row"), default=0,
        help_text=_("Runs in a row that the system stopped with a secondary rate limit naming no time: each waits twice as long."),
    )
    source_totals = models.JSONField(
        _("the system's own totals"), default=dict, blank=True,
        help_text=_("What the system itself says it holds, by kind of item, with what Baloo had stored and rejected of "
                    "that kind at the same moment, e.g. {\"bug\": {\"reported\": 5120, \"stored\": 5101, \"rejected\": 12, "
                    "\"at\": \"…\"}}. Items, not activities: a bug is filed once and commented on many times."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("sync state")
        verbose_name_plural = _("sync states")

    def __str__(self) -> str:
        return f"{self.source_id}"


class SyncRun(models.Model):
    """One sync of one source: when, how it ended, what it asked and what it stored."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        DEFERRED = "deferred", _("rate limited, resumes later")
        SKIPPED = "skipped", _("skipped: already syncing")

    source = models.ForeignKey(Source, verbose_name=_("source"), on_delete=models.CASCADE, related_name="sync_runs")
    trigger = models.CharField(_("started by"), max_length=20, default="schedule", help_text=_("schedule, command or admin"))
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.RUNNING)
    requests = models.PositiveIntegerField(_("requests made"), default=0)
    not_modified = models.PositiveIntegerField(
        _("unchanged answers"), default=0, help_text=_("Conditional requests the system answered with 304 Not Modified (free of rate limit).")
    )
    pages = models.PositiveIntegerField(_("pages committed"), default=0)
    created = models.PositiveIntegerField(_("activities created"), default=0)
    duplicate = models.PositiveIntegerField(_("duplicates"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    rejections = models.JSONField(_("rejection samples"), default=list, blank=True, help_text=_("The first rejected records and why."))
    rejected_reasons = models.JSONField(
        _("rejected, by reason"), default=dict, blank=True,
        help_text=_("How many items this run rejected for each reason, in the connectors' fixed wordings (never a "
                    "system's own text): published on the data quality page."),
    )
    error = models.TextField(_("error"), blank=True)
    resume_at = models.DateTimeField(_("resumes at"), null=True, blank=True, help_text=_("After a rate limit: when the sync continues."))

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("rejections", "error")

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        indexes = [models.Index(fields=["source", "-started_at"], name="syncrun_source_idx")]

    def __str__(self) -> str:
        return f"{self.source_id} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class RejectedItem(models.Model):
    """An item a sync (or a webhook) read and did not store, and why: counted as rejected once.

    Each is counted, with its reason, on the run that first meets it, and never again however
    often later syncs read it (listings overlap, a changed pull request brings all its reviews
    back). Some reasons last ("deleted account": the account never comes back); others may change
    (`lasting` false: "marked as spam" is reverted, a hidden question is shown again, a bug fixed by
    nobody is reassigned): those items are read again by later syncs (`checked_at`), and the day
    the system serves one properly it is stored and its row here is removed. Malformed records are
    not kept here: they are rejected on every run that reads them, until the system or the
    connector is fixed.
    """

    source = models.ForeignKey(Source, verbose_name=_("source"), on_delete=models.CASCADE, related_name="rejected_items")
    external_id = models.CharField(_("external id"), max_length=255)
    reason = models.CharField(_("reason"), max_length=200)
    rejected_at = models.DateTimeField(_("rejected"), default=timezone.now)
    sync_run = models.ForeignKey(
        SyncRun, verbose_name=_("sync run"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text=_("The run that first met the item; empty when a webhook delivered it."),
    )
    lasting = models.BooleanField(
        _("lasting"), default=True,
        help_text=_("The reason will not change (a deleted account). When false the item may come back (a spam flag "
                    "reverted, a hidden question shown again): later syncs read it again, and store it when they can."),
    )
    checked_at = models.DateTimeField(
        _("last checked"), null=True, blank=True,
        help_text=_("When a sync last read the item and rejected it again."),
    )

    class Meta:
        ordering = ["-rejected_at"]
        verbose_name = _("rejected item")
        verbose_name_plural = _("rejected items")
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="rejecteditem_source_external_id_uniq")]
        # The items a sync reads again: a source's that may come back, read again longest ago first.
        indexes = [models.Index(fields=["source", "lasting", "checked_at"], name="rejecteditem_recheck_idx")]

    def __str__(self) -> str:
        return f"{self.external_id}: {self.reason}"


class SourceHealth(Source):
    """Sources seen from the sync side: last run, errors, next sync (an admin page of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("source health")
        verbose_name_plural = _("source health")


class SourceToken(models.Model):
    """An API token that lets another system push activities for one source.

    Only a SHA-256 hash is kept: the token is shown once, when it is created. Tokens are long
    random strings, so a fast hash is enough (there is nothing to brute-force from a dictionary).
    """

    source = models.ForeignKey(Source, verbose_name=_("source"), on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=200, help_text=_("Who uses this token, e.g. “Reps portal, production”."))
    prefix = models.CharField(_("starts with"), max_length=16, editable=False, help_text=_("The first characters, to recognise a token without storing it."))
    token_hash = models.CharField(_("hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, help_text=_("A revoked token is refused from then on."))

    class Meta:
        ordering = ["source", "name"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
