"""Admin for staff API tokens (each person their own) and the sign-in and access audit (read-only)."""

from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ApiToken, AuthAudit
from .services import api_token_create, api_token_revoke

# A token expires within this many years at most: a far date is no expiry, and the calendar's ends
# (year 1 in a zone east of UTC) cannot be stored or read back.
LONGEST_EXPIRY_YEARS = 10


def expiry_out_of_range() -> str:
    return ngettext(
        "Give a date and time from now to %(years)s year ahead.",
        "Give a date and time from now to %(years)s years ahead.",
        LONGEST_EXPIRY_YEARS,
    ) % {"years": LONGEST_EXPIRY_YEARS}


class ExpiryField(forms.SplitDateTimeField):
    """The admin's date and time boxes, where a moment the calendar cannot hold is a form error, not a 500."""

    def compress(self, data_list: list) -> datetime | None:
        try:
            return super().compress(data_list)
        except (OverflowError, ValueError):
            raise forms.ValidationError(expiry_out_of_range()) from None


class ApiTokenForm(forms.ModelForm):
    expires_at = ExpiryField(
        label=_("expires"), required=False, widget=AdminSplitDateTime,
        help_text=_("Leave empty for a token that never expires."),
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    def clean_expires_at(self) -> datetime | None:
        expires_at = self.cleaned_data.get("expires_at")
        now = timezone.now()
        if expires_at is not None and not now < expires_at < now + timedelta(days=366 * LONGEST_EXPIRY_YEARS):
            raise forms.ValidationError(expiry_out_of_range())
        return expires_at


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "user__username", "user__email")
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def _sees_everyone(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        tokens = super().get_queryset(request).select_related("user")
        return tokens if self._sees_everyone(request) else tokens.filter(user=request.user)

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        fields = ["name", "expires_at"] if obj is None else ["name", "prefix", "expires_at", "created_at", "last_used_at", "revoked_at"]
        return (["user"] if self._sees_everyone(request) else []) + fields

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> tuple[str, ...]:
        # A token is created once; afterwards only its name may change (revoke it to stop it).
        return (*self.readonly_fields, "user", "expires_at") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        user = form.cleaned_data.get("user") if self._sees_everyone(request) else None
        token, secret = api_token_create(
            user=user or request.user, name=form.cleaned_data["name"], expires_at=form.cleaned_data.get("expires_at"), by=request.user
        )
        obj.pk = token.pk
        messages.warning(
            request, _("The new token is %(secret)s — copy it now: it is never shown again.") % {"secret": secret}
        )

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        # Revoked, never deleted: the audit keeps pointing at it.
        return False

    @admin.action(description=_("Revoke the selected tokens"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token, by=request.user)
        self.message_user(request, _("Revoked."), messages.SUCCESS)


@admin.register(AuthAudit)
class AuthAuditAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "user", "email", "ip")
    list_filter = ("action",)
    search_fields = ("email", "user__username", "user__email")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = ("created_at", "action", "user", "email", "ip", "details")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuthAudit | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuthAudit | None = None) -> bool:
        return False
