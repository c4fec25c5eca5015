"""The "who": persons (humans) and their identities (accounts and addresses in sources)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Person(models.Model):
    """A human. Has one or more identities; counted once however many they have."""

    display_name = models.CharField(_("display name"), max_length=200, blank=True)
    is_staff = models.BooleanField(
        _("staff"),
        default=False,
        help_text=_("Employees. They count only where staff are asked for (from the people directory or staff e-mail domains)."),
    )
    is_bot = models.BooleanField(
        _("bot"), default=False, help_text=_("Automated accounts never count anywhere. Accounts ending in “[bot]” are bots automatically.")
    )
    first_contribution_at = models.DateTimeField(_("first contribution"), null=True, blank=True)
    last_contribution_at = models.DateTimeField(_("last contribution"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["display_name", "id"]
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self) -> str:
        return self.display_name or f"Person #{self.pk}"


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
    source = models.ForeignKey(
        "activities.Source",
        verbose_name=_("first seen in"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="identities",
    )
    name = models.CharField(_("name reported"), max_length=200, blank=True, help_text=_("The full name the source reported, if any."))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

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

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("person merge")
        verbose_name_plural = _("person merges")

    def __str__(self) -> str:
        return f"#{self.merged_person_id} → #{self.into_id}"
