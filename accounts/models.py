"""Who may sign in and do what: per-user API tokens and the audit of sign-ins, roles and exports."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    """A personal token for the staff API, acting as its user with that user's permissions.

    Only a SHA-256 hash is kept: the token is shown once, when it is created. Tokens are long random
    strings, so a fast hash is enough (there is nothing to brute-force from a dictionary).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=200, help_text=_("What uses this token, e.g. “weekly BI export”."))
    prefix = models.CharField(
        _("starts with"), max_length=16, editable=False, help_text=_("The first characters, to recognise a token without storing it.")
    )
    token_hash = models.CharField(_("hash"), max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True, help_text=_("Leave empty for a token that never expires."))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, help_text=_("A revoked token is refused from then on."))

    class Meta:
        ordering = ["user", "name"]
        verbose_name = _("staff API token")
        verbose_name_plural = _("staff API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuthAudit(models.Model):
    """One sign-in, refusal, sign-out, role change, export or token change.

    Holds the e-mail address that tried to sign in (a security record), never exported data itself.
    """

    class Action(models.TextChoices):
        LOGIN = "login", _("signed in")
        LOGIN_REFUSED = "login-refused", _("sign-in refused")
        LOGOUT = "logout", _("signed out")
        ROLE_CHANGE = "role-change", _("roles changed")
        EXPORT = "export", _("export")
        TOKEN_CREATED = "token-created", _("API token created")
        TOKEN_REVOKED = "token-revoked", _("API token revoked")
        AREA_OWNERS = "area-owners", _("area owners changed")

    action = models.CharField(_("action"), max_length=20, choices=Action.choices, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    email = models.CharField(_("e-mail"), max_length=320, blank=True, help_text=_("The address that signed in or was refused."))
    details = models.JSONField(_("what"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    # Columns that may mention a person: rewritten when one is forgotten (contributors.erasure).
    erasure_fields = ("email", "details")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("sign-in and access audit entry")
        verbose_name_plural = _("sign-in and access audit")
        # Not about audit entries: the one area-wide permission, kept with the app that grants roles.
        permissions = [("view_all_areas", _("Can see every area's rules and contributors"))]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.email or self.user_id or ''}".strip()
