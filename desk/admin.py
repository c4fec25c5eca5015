"""The weekly digest's records in the admin: who opted out, what was sent (read only)."""

from django.contrib import admin
from django.http import HttpRequest

from .models import DigestDelivery, DigestSetting


@admin.register(DigestSetting)
class DigestSettingAdmin(admin.ModelAdmin):
    list_display = ("user", "subscribed", "language", "changed_at")
    list_filter = ("subscribed", "language")
    search_fields = ("user__username", "user__email")
    raw_id_fields = ("user",)


@admin.register(DigestDelivery)
class DigestDeliveryAdmin(admin.ModelAdmin):
    """What each owner was sent, week by week. `sending` that stays: the worker stopped mid-send (not sent again)."""

    list_display = ("week", "user", "status", "sent_at")
    list_filter = ("status", "week")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "week", "status", "started_at", "sent_at", "summary")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DigestDelivery | None = None) -> bool:
        return False
