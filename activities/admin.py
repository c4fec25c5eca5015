"""Admin for sources and activities: staff configure sources here and look activities up."""

import json

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .connections import CONNECTION_FIELDS, git_url, source_connection_audit, source_connection_before
from .models import Activity, Source, SourceConnectionChange


class SourceForm(forms.ModelForm):
    # Whether the person may decide where the source connects; set per request by SourceAdmin.get_form.
    may_connect = False

    def clean(self) -> dict:
        cleaned = super().clean()
        # A git source's repository is in its options, which staff edit: its `url` alone is an administrator's.
        # On add the instance is empty (no url); on change it is the stored source (clean runs before it is updated).
        if not self.may_connect and "options" in cleaned:
            stored = git_url(kind=self.instance.kind, options=self.instance.options)
            if git_url(kind=cleaned.get("kind", self.instance.kind), options=cleaned["options"]) != stored:
                self.add_error("options", _(
                    "Only an administrator can set or change the url of a git source: it decides where the worker's "
                    "git connects. Keep the url as it is; every other option is yours to change."
                ))
        return cleaned


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceForm
    list_display = ("slug", "name", "kind", "enabled", "schedule_minutes", "activity_count")
    list_display_links = ("slug", "name")
    list_filter = ("kind", "enabled")
    search_fields = ("slug", "name")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("slug", "name", "kind", "enabled")}),
        (
            _("Connection"),
            {
                "fields": ("base_url", "token_env", "options"),
                "description": _(
                    "Only an administrator can change the base URL and the token variable, which together decide where "
                    "a token is sent, and a git source's url option, where its git connects. Every change is kept in "
                    "Source connection changes."
                ),
            },
        ),
        (_("Syncing"), {"fields": ("schedule_minutes",)}),
        (_("Accounts"), {"fields": ("account_namespace", "links_accounts")}),
        (_("History"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).annotate(activity_count=Count("activities"))

    def get_readonly_fields(self, request: HttpRequest, obj: Source | None = None) -> tuple[str, ...]:
        fields = tuple(self.readonly_fields)
        # Import files, the API and identities' namespaces refer to the slug: renaming it orphans them.
        if obj is not None:
            fields = ("slug", *fields)
        # Where a source connects and which variables it reads are an administrator's to set, on
        # add as on change: read-only fields are left out of the form, so a forged POST is ignored.
        # The kind of an existing source too: it decides the default host its token goes to.
        if not request.user.is_superuser:
            fields = (*fields, *CONNECTION_FIELDS, *(("kind",) if obj is not None else ()))
        return fields

    def get_form(self, request: HttpRequest, obj: Source | None = None, change: bool = False, **kwargs) -> type[SourceForm]:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.may_connect = request.user.is_superuser  # a class made for this request
        return form

    def save_model(self, request: HttpRequest, obj: Source, form, change: bool) -> None:
        # The slug cannot change once a source exists: the stored row is the one before this save.
        before = source_connection_before(slug=obj.slug) if change else None
        super().save_model(request, obj, form, change)
        source_connection_audit(source=obj, before=before, by=request.user, via=SourceConnectionChange.Via.ADMIN)

    @admin.display(description=_("activities"), ordering="activity_count")
    def activity_count(self, obj: Source) -> int:
        return obj.activity_count


@admin.register(SourceConnectionChange)
class SourceConnectionChangeAdmin(admin.ModelAdmin):
    """Who changed where a source connects or which variables hold its token, and when. Read-only."""

    list_display = ("created_at", "source_slug", "field", "old_value", "new_value", "by_name", "via")
    list_filter = ("field", "via", "source_slug")
    search_fields = ("source_slug", "old_value", "new_value", "by_name")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in SourceConnectionChange._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SourceConnectionChange | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: SourceConnectionChange | None = None) -> bool:
        return False


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    """Activities are records of what happened: looked up here, never edited.

    They arrive through syncs, imports and the push API; editing one by hand would make the
    next re-sync disagree with it.
    """

    list_display = ("type", "occurred_at", "source", "container", "identity")
    list_filter = ("source", "type")
    list_select_related = ("source", "identity")
    date_hierarchy = "occurred_at"
    search_fields = ("=external_id", "=identity__value", "^container", "title")
    search_help_text = _(
        "Finds an exact external id or account (e-mail, user name, uid), a container by its start, or words in the title."
    )
    # Counting millions of rows on every page load is slower than the page itself.
    show_full_result_count = False
    readonly_fields = ("link", "payload")
    fieldsets = (
        (None, {"fields": ("type", "occurred_at", "identity", "title", "link")}),
        (_("Where it came from"), {"fields": ("source", "external_id", "container", "ingested_at")}),
        (_("Raw payload"), {"fields": ("payload",), "description": Activity._meta.get_field("data").help_text}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Activity | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Activity | None = None) -> bool:
        return False

    @admin.display(description=_("link"))
    def link(self, obj: Activity) -> str:
        # Only web links become clickable: a source could send any scheme, "javascript:" included.
        if obj.url.startswith(("https://", "http://")):
            return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', obj.url, obj.url)
        return obj.url

    @admin.display(description=_("raw payload"))
    def payload(self, obj: Activity) -> str:
        pretty = json.dumps(obj.data, indent=2, sort_keys=True, ensure_ascii=False)
        return format_html("<pre>{}</pre>", pretty)

# Sync health, sync runs and push API tokens (the sources issue) live in their own module.
from . import admin_sync  # noqa: E402, F401
