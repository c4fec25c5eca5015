"""Admin for persons and their identities: staff look people up and mark staff and bots here."""

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import Identity, Person, PersonMerge

# Identity keys are normalised and de-duplicated when activities and the people directory arrive;
# typed by hand they would skip that, so they are shown here, not edited.
IDENTITY_KEY_FIELDS = ("kind", "namespace", "value", "source")


class IdentityInline(admin.TabularInline):
    model = Identity
    fields = (*IDENTITY_KEY_FIELDS, "name", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = _("identities (accounts and addresses of this person)")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Identity]:
        return super().get_queryset(request).select_related("source")

    def has_add_permission(self, request: HttpRequest, obj: Person | None = None) -> bool:
        return False


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = (
        "display_name_or_id",
        "is_staff",
        "is_bot",
        "identity_count",
        "first_contribution_at",
        "last_contribution_at",
    )
    list_filter = ("is_staff", "is_bot")
    search_fields = ("display_name", "identities__value")
    search_help_text = _("Finds a person by name or by any of their e-mails, user names or ids.")
    readonly_fields = ("first_contribution_at", "last_contribution_at", "created_at")
    fieldsets = (
        (None, {"fields": ("display_name",)}),
        (_("Who counts"), {"fields": ("is_staff", "is_bot")}),
        (_("Contributions"), {"fields": ("first_contribution_at", "last_contribution_at", "created_at")}),
    )
    inlines = (IdentityInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Person]:
        return super().get_queryset(request).annotate(identity_count=Count("identities"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A person is born with their first identity, from a sync, an import or the people directory.
        return False

    @admin.display(description=_("display name"), ordering="display_name")
    def display_name_or_id(self, obj: Person) -> str:
        return str(obj)

    @admin.display(description=_("identities"), ordering="identity_count")
    def identity_count(self, obj: Person) -> int:
        return obj.identity_count


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("value", "kind", "namespace", "person", "source")
    list_filter = ("kind", "namespace")
    list_select_related = ("person", "source")
    search_fields = ("value", "name")
    autocomplete_fields = ("person",)
    readonly_fields = (*IDENTITY_KEY_FIELDS, "created_at")
    fieldsets = (
        (None, {"fields": ("person",)}),
        (_("Account"), {"fields": (*IDENTITY_KEY_FIELDS, "name", "created_at")}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PersonMerge)
class PersonMergeAdmin(admin.ModelAdmin):
    """The merge audit trail: read here, written only by the merge service, so it can be trusted."""

    list_display = ("created_at", "merged_person_id", "into", "reason", "by")
    list_select_related = ("into", "by")
    search_fields = ("reason", "into__display_name", "=merged_person_id")
    date_hierarchy = "created_at"
    fields = ("created_at", "into", "merged_person_id", "reason", "by", "snapshot")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PersonMerge | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: PersonMerge | None = None) -> bool:
        return False
