"""Admin for syncing: each source's health (last run, errors, next sync), the run log, push API tokens."""

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .connectors import has_connector
from .models import RejectedItem, SourceHealth, SourceToken, SyncRun
from .sync import source_sync_restart
from .tokens import source_token_create, source_token_revoke

STATUS_COLOURS = {
    SyncRun.Status.SUCCEEDED: "#1a7f37",
    SyncRun.Status.FAILED: "#cf222e",
    SyncRun.Status.DEFERRED: "#9a6700",
    SyncRun.Status.RUNNING: "#0969da",
    SyncRun.Status.SKIPPED: "#57606a",
}


def _status(status: str | None) -> str:
    if not status:
        return _("never synced")
    return format_html('<strong style="color:{}">{}</strong>', STATUS_COLOURS.get(status, "inherit"), SyncRun.Status(status).label)


@admin.register(SourceHealth)
class SourceHealthAdmin(admin.ModelAdmin):
    """How each synced source is doing. A red line needs a look: its error says what went wrong."""

    list_display = ("slug", "kind", "enabled", "last_status", "last_finished", "last_success", "last_error", "next_sync")
    list_filter = ("kind", "enabled")
    search_fields = ("slug", "name")
    actions = ("sync_now", "start_over")
    readonly_fields = ("slug", "name", "kind", "enabled", "schedule_minutes", "last_status", "last_finished", "last_success",
                       "last_error", "next_sync", "checkpoint")
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[SourceHealth]:
        # The latest run's fields as annotations: one query for the whole list, not one per row.
        runs = SyncRun.objects.filter(source=OuterRef("pk")).exclude(status=SyncRun.Status.SKIPPED).order_by("-started_at")
        successes = runs.filter(status=SyncRun.Status.SUCCEEDED)
        return (
            super()
            .get_queryset(request)
            .select_related("sync_state")
            .annotate(
                last_run_status=Subquery(runs.values("status")[:1]),
                last_run_finished=Subquery(runs.values("finished_at")[:1]),
                last_run_error=Subquery(runs.values("error")[:1]),
                last_success_finished=Subquery(successes.values("finished_at")[:1]),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SourceHealth | None = None) -> bool:
        return False

    @admin.display(description=_("last sync"), ordering="last_run_status")
    def last_status(self, obj: SourceHealth) -> str:
        return _status(obj.last_run_status)

    @admin.display(description=_("finished"), ordering="last_run_finished")
    def last_finished(self, obj: SourceHealth):
        return obj.last_run_finished

    @admin.display(description=_("last success"), ordering="last_success_finished")
    def last_success(self, obj: SourceHealth):
        return obj.last_success_finished

    @admin.display(description=_("error"))
    def last_error(self, obj: SourceHealth) -> str:
        return (obj.last_run_error or "")[:200] or "—"

    @admin.display(description=_("next sync"))
    def next_sync(self, obj: SourceHealth):
        state = getattr(obj, "sync_state", None)
        if not has_connector(obj.kind):
            return _("never: fed by imports and the push API")
        return state.next_sync_at if state and state.next_sync_at else _("at the next schedule tick")

    @admin.display(description=_("checkpoint"))
    def checkpoint(self, obj: SourceHealth) -> str:
        state = getattr(obj, "sync_state", None)
        return format_html("<pre>{}</pre>", state.checkpoint if state else {})

    @admin.action(description=_("Sync the selected sources now"))
    def sync_now(self, request: HttpRequest, queryset: QuerySet[SourceHealth]) -> None:
        from .tasks import sync_source

        slugs = [source.slug for source in queryset if has_connector(source.kind)]
        for slug in slugs:
            sync_source.delay(slug, trigger="admin")
        self.message_user(request, _("Sync requested for: %s. Results appear in the sync runs.") % (", ".join(slugs) or "—"))

    @admin.action(description=_("Start over: read the selected sources again from the beginning"))
    def start_over(self, request: HttpRequest, queryset: QuerySet[SourceHealth]) -> None:
        for source in queryset:
            source_sync_restart(source=source)
        self.message_user(request, _("The next sync reads these sources from the beginning. Nothing already stored is counted twice."))


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    """The log of every sync: what it asked, what it stored, how it ended. Read-only."""

    list_display = ("source", "started_at", "status_display", "duration", "requests", "not_modified", "created", "duplicate", "rejected", "short_error")
    list_filter = ("status", "trigger", "source")
    list_select_related = ("source",)
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in SyncRun._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SyncRun | None = None) -> bool:
        return False

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj: SyncRun) -> str:
        return _status(obj.status)

    @admin.display(description=_("duration"))
    def duration(self, obj: SyncRun) -> str:
        end = obj.finished_at or timezone.now()
        return f"{(end - obj.started_at).total_seconds():.1f} s"

    @admin.display(description=_("error"))
    def short_error(self, obj: SyncRun) -> str:
        return obj.error[:120]


@admin.register(RejectedItem)
class RejectedItemAdmin(admin.ModelAdmin):
    """Items syncs and webhooks read and did not store, and why. Read-only.

    Each is counted as rejected on the run that first met it, never again: this list is where
    every one of them stays visible. Those whose reason may change (not `lasting`) are read again
    by later syncs, and leave the list once stored.
    """

    list_display = ("external_id", "source", "reason", "lasting", "rejected_at", "checked_at", "sync_run")
    list_filter = ("source", "lasting", "reason")
    list_select_related = ("source", "sync_run")
    search_fields = ("external_id",)
    date_hierarchy = "rejected_at"
    readonly_fields = [field.name for field in RejectedItem._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RejectedItem | None = None) -> bool:
        return False


@admin.register(SourceToken)
class SourceTokenAdmin(admin.ModelAdmin):
    """Tokens that let another system push activities for one source. The token is shown once, when created."""

    list_display = ("name", "source", "prefix", "created_at", "last_used_at", "revoked_at")
    list_filter = ("source",)
    search_fields = ("name", "prefix")
    actions = ("revoke",)

    def get_fields(self, request: HttpRequest, obj: SourceToken | None = None):
        return ("source", "name") if obj is None else ("source", "name", "prefix", "created_at", "last_used_at", "revoked_at")

    def get_readonly_fields(self, request: HttpRequest, obj: SourceToken | None = None):
        return () if obj is None else ("source", "prefix", "created_at", "last_used_at", "revoked_at")

    def save_model(self, request: HttpRequest, obj: SourceToken, form, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])
            return
        token, secret = source_token_create(source=obj.source, name=obj.name)
        obj.pk = token.pk
        obj.token_hash, obj.prefix, obj.created_at = token.token_hash, token.prefix, token.created_at
        obj._state.adding = False
        self.message_user(
            request,
            format_html(_("The new token is <code>{}</code>. Copy it now: it is never shown again."), secret),
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[SourceToken]) -> None:
        for token in queryset:
            source_token_revoke(token=token)
        self.message_user(request, _("Revoked: pushes with these tokens are refused from now on."))

