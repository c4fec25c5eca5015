"""The "who": persons (humans) and their identities (accounts and addresses in sources)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Person(models.Model):
    """A human. Has one or more identities; counted once however many they have."""

    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    directory_id = models.CharField(
        _("people directory id"),
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text=_("This person's key in the people directory (HRIS export), if listed there."),
    )
    locked = models.BooleanField(
        _("locked"),
        default=False,
        help_text=_("A locked person is never merged or split automatically; only a staff member changes them."),
    )
    is_bot = models.BooleanField(
        _("bot"), default=False, help_text=_("Automated accounts never count anywhere. Accounts ending in “[bot]” are bots automatically.")
    )
    # A person's first and last contribution are not stored: they are read from the activities when
    # shown (conversion_points.contributions.persons_with_contribution_dates), so they stay true
    # through ingestion, merges, unmerges and erasure.
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # The contributor's own choices about being seen (set on their privacy page, off by default).
    # Database defaults too: identity resolution inserts persons in bulk, naming only its own columns.
    profile_public = models.BooleanField(
        _("public profile"),
        default=False,
        db_default=False,
        help_text=_("The person chose to show a public profile: the name below, their areas and counts. Never an e-mail."),
    )
    profile_name = models.CharField(
        _("public name"),
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text=_("The name the person chose for their public profile."),
    )
    profile_shows_usernames = models.BooleanField(
        _("shows user names"),
        default=False,
        db_default=False,
        help_text=_("The person chose to list their user names on their public profile."),
    )

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name = _("person")
        verbose_name_plural = _("people")
        # Identity resolution asks for the (few) locked persons on every batch that merges.
        indexes = [models.Index(fields=["locked"], condition=models.Q(locked=True), name="person_locked_idx")]

    def __str__(self) -> str:
        return self.display_name or f"Person #{self.pk}"


class StaffPeriod(models.Model):
    """A stretch of days a person was staff: their contributions on those (UTC) days count as staff.

    Staff status has dates, so history keeps its numbers when someone is hired or leaves: a
    contribution counts as staff when its UTC day falls inside one of its person's periods, and as a
    volunteer's otherwise (`contributors.staff` holds the rule, for the engine and every other reader).
    """

    class Origin(models.TextChoices):
        DIRECTORY = "directory", _("the people directory")
        EMAIL_DOMAIN = "email-domain", _("an e-mail on a staff domain")
        ADMIN = "admin", _("entered by an admin")

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="staff_periods")
    staff_from = models.DateField(
        _("staff from"), null=True, blank=True, help_text=_("The first day (UTC) counted as staff. Empty: since always.")
    )
    staff_until = models.DateField(
        _("staff until"),
        null=True,
        blank=True,
        help_text=_("The last day (UTC) counted as staff. Empty: still staff."),
    )
    origin = models.CharField(
        _("from"),
        max_length=20,
        choices=Origin.choices,
        default=Origin.ADMIN,
        help_text=_(
            "Where the period came from. The people directory keeps its own periods up to date; a period entered or "
            "changed by an admin changes only by hand. A staff e-mail domain gives one period per person, from their "
            "first to their last activity with such an address, and it comes back: deleting or changing that period "
            "does not stop the domain, so the person's next activity from such an address starts a new one, and the "
            "staff_periods_rebuild command recreates it from all their stored activities."
        ),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["person", models.F("staff_from").asc(nulls_first=True), "id"]
        verbose_name = _("staff period")
        verbose_name_plural = _("staff periods")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(staff_from__isnull=True)
                | models.Q(staff_until__isnull=True)
                | models.Q(staff_from__lte=models.F("staff_until")),
                name="staff_period_start_before_end",
            )
        ]

    def __str__(self) -> str:
        start = self.staff_from.isoformat() if self.staff_from else "…"
        end = self.staff_until.isoformat() if self.staff_until else "…"
        return f"{start} – {end}"


class IdentityQuerySet(models.QuerySet):
    def by_key(self, key: tuple[str, str, str]) -> IdentityQuerySet:
        """The identity holding this key — (kind, namespace, value) as `activities.keys` writes it:
        at most one, the key being unique."""
        kind, namespace, value = key
        return self.filter(kind=kind, namespace=namespace, value=value)


class Identity(models.Model):
    """One account or address in a source: an e-mail, a user name or a uid.

    E-mails are one namespace across all sources (compared case-folded); user names and uids
    live in their source's account namespace.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", _("e-mail")
        USERNAME = "username", _("user name")
        UID = "uid", _("user id")

    person = models.ForeignKey(Person, verbose_name=_("person"), on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    namespace = models.CharField(
        _("namespace"),
        max_length=100,
        blank=True,
        help_text=_("Empty for e-mails; for user names and ids, the source (or group of sources) they belong to."),
    )
    value = models.CharField(_("value"), max_length=320, help_text=_("Normalised: trimmed and case-folded (uids only trimmed)."))
    # Informational, and written for every new account a large import meets: no index and no
    # database-level foreign key (its per-row check at commit cost as much as writing the row's
    # other indexes). Django still sets it to NULL when a source is deleted.
    source = models.ForeignKey(
        "activities.Source",
        verbose_name=_("first seen in"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="identities",
        db_index=False,
        db_constraint=False,
    )
    name = models.CharField(_("name reported"), max_length=200, blank=True, help_text=_("The full name the source reported, if any."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [models.UniqueConstraint(fields=["kind", "namespace", "value"], name="identity_unique_key")]

    def __str__(self) -> str:
        if self.kind == self.Kind.EMAIL:
            return self.value
        return f"{self.value} ({self.get_kind_display()} @ {self.namespace})"


class PersonMerge(models.Model):
    """The audit record of one person merged into another, with what is needed to undo it."""

    into = models.ForeignKey(
        Person, verbose_name=_("merged into"), on_delete=models.SET_NULL, null=True, related_name="merges_received"
    )
    merged_person_id = models.BigIntegerField(_("merged person id"))
    snapshot = models.JSONField(
        _("merged person as it was"), default=dict, help_text=_("The merged person's fields and identity ids, to restore it on unmerge.")
    )
    reason = models.CharField(_("reason"), max_length=300)
    by = models.ForeignKey(
        "auth.User", verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True, help_text=_("Empty for automatic merges.")
    )
    created_at = models.DateTimeField(_("when"), auto_now_add=True)
    undone_at = models.DateTimeField(_("undone"), null=True, blank=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("reason", "snapshot")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("person merge")
        verbose_name_plural = _("person merges")

    def __str__(self) -> str:
        return f"#{self.merged_person_id} → #{self.into_id}"


class IdentityExclusion(models.Model):
    """A value that never merges anyone: `root@localhost`, `none@none`, a shared team address."""

    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=Identity.Kind.choices,
        default=Identity.Kind.EMAIL,
    )
    value = models.CharField(
        _("value"), max_length=320, help_text=_("Compared trimmed and case-folded, e.g. root@localhost.")
    )
    note = models.CharField(_("why"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("note",)

    class Meta:
        ordering = ["kind", "value"]
        verbose_name = _("identity exclusion")
        verbose_name_plural = _("identity exclusions")
        constraints = [models.UniqueConstraint(fields=["kind", "value"], name="identity_exclusion_unique")]

    def __str__(self) -> str:
        return self.value


class PlaceholderAccount(models.Model):
    """An account that is no human: a system's shared or stand-in account (Kitsune's `AnonymousUser`,
    the `SumoBot` that inherits deleted users' content, Bugzilla's `nobody@mozilla.org`, GitHub's
    `ghost`). Its activities are kept and never counted, and it never joins or merges with anyone
    (`contributors.placeholders`)."""

    source_kind = models.SlugField(
        _("system kind"),
        max_length=50,
        blank=True,
        help_text=_(
            "The kind of source whose accounts this is: “github”, “bugzilla”, “sumo”… Leave empty for any "
            "system. E-mails are one namespace across systems, so an e-mail is a placeholder everywhere."
        ),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Identity.Kind.choices, default=Identity.Kind.USERNAME)
    value = models.CharField(
        _("value"),
        max_length=320,
        help_text=_("The account's user name, user id or e-mail. Stored as identities are: trimmed, case-folded (ids only trimmed)."),
    )
    note = models.CharField(_("why"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["source_kind", "kind", "value"]
        verbose_name = _("placeholder account")
        verbose_name_plural = _("placeholder accounts")
        constraints = [
            models.UniqueConstraint(fields=["source_kind", "kind", "value"], name="placeholder_account_unique")
        ]

    def __str__(self) -> str:
        return f"{self.value} ({self.source_kind or '*'})"


class Separation(models.Model):
    """Two identities an admin said belong to different people: no automatic rule joins them again."""

    identity_a = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    identity_b = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+")
    by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("separation")
        verbose_name_plural = _("separations")
        constraints = [models.UniqueConstraint(fields=["identity_a", "identity_b"], name="separation_unique_pair")]

    def __str__(self) -> str:
        return f"{self.identity_a} ≠ {self.identity_b}"


class MergeSuggestion(models.Model):
    """Two identities of different persons that may be one human. Never applied by itself."""

    class Status(models.TextChoices):
        OPEN = "open", _("to review")
        MERGED = "merged", _("merged")
        REJECTED = "rejected", _("not the same person")

    identity_a = models.ForeignKey(Identity, verbose_name=_("identity"), on_delete=models.CASCADE, related_name="+")
    identity_b = models.ForeignKey(Identity, verbose_name=_("other identity"), on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(_("reason"), max_length=300)
    score = models.FloatField(_("score"), help_text=_("How likely it is the same human, from 0 to 1."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN)
    decided_by = models.ForeignKey("auth.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    created_at = models.DateTimeField(_("suggested"), auto_now_add=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("reason",)

    class Meta:
        ordering = ["status", "-score", "id"]
        verbose_name = _("merge suggestion")
        verbose_name_plural = _("merge suggestions")
        constraints = [models.UniqueConstraint(fields=["identity_a", "identity_b"], name="suggestion_unique_pair")]

    def __str__(self) -> str:
        return f"{self.identity_a} ↔ {self.identity_b}"


class IdentityAudit(models.Model):
    """Every change to who is who: merges, unmerges, identity moves, directory updates, erasures.

    Details hold ids and counts, never the personal data itself (an erasure must not survive here).
    """

    class Action(models.TextChoices):
        MERGE = "merge", _("merge")
        UNMERGE = "unmerge", _("unmerge")
        MOVE = "move", _("identity moved")
        DIRECTORY = "directory", _("people directory")
        FLAG = "flag", _("staff period or bot flag")
        FORGET = "forget", _("forgotten on request")

    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    person_id = models.BigIntegerField(_("person id"), null=True, blank=True, db_index=True)
    reason = models.CharField(_("why"), max_length=300, blank=True)
    details = models.JSONField(_("what"), default=dict, blank=True)
    by = models.ForeignKey("auth.User", verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("reason", "details")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("identity audit entry")
        verbose_name_plural = _("identity audit")

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.person_id}"


# --------------------------------------------------------------------------- a contributor's own claims


class Claim(models.Model):
    """What every claim holds: a signed-in contributor said an account is theirs too; once accepted,
    it joined their person through the identity services, and the merge it made can be undone.

    Each kind keeps its own asker (`user`, with its own reverse name) and statuses, which differ.
    """

    merge = models.ForeignKey(
        PersonMerge,
        verbose_name=_("merge"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The merge this claim made; undo it from the person merges page if it was a mistake."),
    )
    created_at = models.DateTimeField(_("asked"), auto_now_add=True)

    class Meta:
        abstract = True


class EmailClaim(Claim):
    """A signed-in contributor saying "this other address is mine too", proven by a link sent to it.

    When the link is followed (by the same signed-in contributor, before it expires) the address
    joins their person: its history merges into theirs through the identity services.
    """

    class Status(models.TextChoices):
        SENT = "sent", _("link sent, waiting for the click")
        CONFIRMED = "confirmed", _("confirmed and joined")
        REVIEW = "review", _("confirmed, waiting for a staff member")
        CANCELLED = "cancelled", _("cancelled")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("asked by"), on_delete=models.CASCADE, related_name="email_claims"
    )
    email = models.CharField(_("address claimed"), max_length=320, help_text=_("Trimmed and case-folded, as identities are."))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.SENT)
    nonce = models.CharField(
        _("link secret"), max_length=32, editable=False, help_text=_("Changes with every link sent, so only the latest link works.")
    )
    sent_at = models.DateTimeField(_("link sent"), null=True, blank=True)
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("email",)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("e-mail claim")
        verbose_name_plural = _("e-mail claims")

    def __str__(self) -> str:
        return self.email


class AccountClaim(Claim):
    """A signed-in contributor saying "this user name in that system is mine"; a staff member decides.

    Systems such as SUMO or Discourse show user names, never e-mails, so nothing links them to a
    person automatically: this claim, once approved, does (merged through the identity services).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for a staff member")
        APPROVED = "approved", _("approved and joined")
        REJECTED = "rejected", _("not approved")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("asked by"), on_delete=models.CASCADE, related_name="account_claims"
    )
    source = models.ForeignKey(
        "activities.Source", verbose_name=_("system"), on_delete=models.CASCADE, related_name="account_claims"
    )
    username = models.CharField(_("user name claimed"), max_length=320)
    evidence = models.TextField(
        _("how we can tell"),
        blank=True,
        help_text=_("What the contributor offered as proof, e.g. a profile page linking back to them."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    note = models.CharField(
        _("note to the contributor"), max_length=500, blank=True, help_text=_("Shown to the contributor on their accounts page.")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("username", "evidence", "note")

    class Meta:
        ordering = ["status", "-created_at", "-id"]
        verbose_name = _("account claim")
        verbose_name_plural = _("account claims")

    def __str__(self) -> str:
        return f"{self.username} @ {self.source_id}"
