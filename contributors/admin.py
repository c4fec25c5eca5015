"""Admin for people and their identities: staff look people up, merge, split, undo and forget here.

Every change goes through the identity services, so it is audited and can be undone.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from baloo_site.emails import is_email
from conversion_points.contributions import persons_with_contribution_dates

from .models import (
    Identity,
    IdentityAudit,
    IdentityExclusion,
    MergeSuggestion,
    Person,
    PersonMerge,
    PlaceholderAccount,
    StaffPeriod,
)
from .placeholders import (
    PlaceholderMergeError,
    placeholder_account_save,
    placeholder_accounts_delete,
    placeholder_accounts_with_counts,
    placeholder_value,
)
from .services import identity_move, person_forget, person_set_flags, person_unmerge, persons_merge
from .staff import staff_on_q, staff_periods_save
from .suggestions import (
    suggestion_accept,
    suggestion_reject,
    suggestions_above,
    suggestions_accept_many,
    suggestions_bulk_plan,
)

PLACEHOLDER_MERGE_MESSAGE = _(
    "Nothing was merged: one of them is a placeholder account (see “placeholder accounts”), which is no human "
    "and never merges with anyone."
)

# Identity keys are normalised and de-duplicated when activities and the people directory arrive;
# typed by hand they would skip that, so they are shown here, not edited.
IDENTITY_KEY_FIELDS = ("kind", "namespace", "value", "source")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit trails: read here, written only by the services, so they can be trusted."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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


class StaffPeriodInline(admin.TabularInline):
    model = StaffPeriod
    fields = ("staff_from", "staff_until", "origin")
    readonly_fields = ("origin",)
    extra = 0
    verbose_name_plural = _(
        "staff periods (contributions on these days count as staff; on any other day as a volunteer's)"
    )


class StaffFilter(admin.SimpleListFilter):
    title = _("staff")
    parameter_name = "staff"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        return [("now", _("staff today")), ("ever", _("staff at some time")), ("never", _("never staff"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Person]) -> QuerySet[Person]:
        if self.value() == "now":
            return queryset.filter(staff_on_q())
        if self.value() == "ever":
            return queryset.filter(staff_periods__isnull=False).distinct()
        if self.value() == "never":
            return queryset.filter(staff_periods__isnull=True)
        return queryset


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = (
        "display_name_or_id",
        "staff_now",
        "is_bot",
        "locked",
        "identity_count",
        "directory_id",
        "first_contribution",
        "last_contribution",
    )
    list_filter = (StaffFilter, "staff_periods__origin", "is_bot", "locked")
    search_fields = ("display_name", "^identities__value", "=directory_id")
    search_help_text = _("Finds a person by name, or by the start of one of their e-mails, user names or ids.")
    readonly_fields = ("directory_id", "first_contribution", "last_contribution", "created_at")
    fieldsets = (
        (None, {"fields": ("display_name", "directory_id")}),
        (_("Who counts"), {"fields": ("is_bot",)}),
        (_("Automatic changes"), {"fields": ("locked",)}),
        (_("Contributions"), {"fields": ("first_contribution", "last_contribution", "created_at")}),
    )
    inlines = (StaffPeriodInline, IdentityInline)
    actions = ("merge_people", "forget_people")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Person]:
        # The dates are read from the activities for the page shown (nothing stored goes stale).
        people = super().get_queryset(request).annotate(identity_count=Count("identities"), staff_now=staff_on_q())
        return persons_with_contribution_dates(people)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A person is born with their first identity, from a sync, an import or the people directory.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Person | None = None) -> bool:
        # Removing a person is an erasure request: the "forget" action does it properly.
        return False

    def save_model(self, request: HttpRequest, obj: Person, form, change: bool) -> None:
        flags = {
            field: form.cleaned_data[field] for field in ("is_bot", "locked") if field in form.changed_data
        }
        original = Person.objects.get(pk=obj.pk)
        original.display_name = obj.display_name
        original.save(update_fields=["display_name"])
        person_set_flags(person=original, by=request.user, **flags)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not StaffPeriod:
            super().save_formset(request, form, formset, change)
            return
        saved = formset.save(commit=False)
        staff_periods_save(person_id=form.instance.pk, saved=saved, deleted=formset.deleted_objects, by=request.user)

    @admin.display(description=_("staff today"), boolean=True, ordering="staff_now")
    def staff_now(self, obj: Person) -> bool:
        return obj.staff_now

    @admin.display(description=_("display name"), ordering="display_name")
    def display_name_or_id(self, obj: Person) -> str:
        return str(obj)

    @admin.display(description=_("first contribution"), ordering="first_contribution_at")
    def first_contribution(self, obj: Person) -> str:
        return display_for_value(obj.first_contribution_at, self.get_empty_value_display())

    @admin.display(description=_("last contribution"), ordering="last_contribution_at")
    def last_contribution(self, obj: Person) -> str:
        return display_for_value(obj.last_contribution_at, self.get_empty_value_display())

    @admin.display(description=_("identities"), ordering="identity_count")
    def identity_count(self, obj: Person) -> int:
        return obj.identity_count

    @admin.action(description=_("Merge the selected people into one…"))
    def merge_people(self, request: HttpRequest, queryset: QuerySet[Person]) -> HttpResponse | None:
        people = list(queryset.prefetch_related("identities__source").order_by("pk"))
        if len(people) < 2:
            self.message_user(request, _("Choose at least two people to merge."), messages.WARNING)
            return None
        into, others = people[0], people[1:]
        if request.POST.get("confirmed"):
            reason = request.POST.get("reason", "").strip() or "Merged by staff"
            try:
                persons_merge(into=into, others=others, reason=reason, by=request.user)
            except PlaceholderMergeError:
                self.message_user(request, PLACEHOLDER_MERGE_MESSAGE, messages.ERROR)
                return None
            self.message_user(
                request,
                ngettext(
                    "Merged %(count)d person into %(name)s. The merge can be undone from “person merges”.",
                    "Merged %(count)d people into %(name)s. Each merge can be undone from “person merges”.",
                    len(others),
                )
                % {"count": len(others), "name": into},
            )
            return None
        return TemplateResponse(
            request,
            "admin/contributors/merge_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Merge these people?"),
                "into": into,
                "others": others,
                "queryset": people,
                "action": "merge_people",
                "opts": self.model._meta,
            },
        )

    @admin.action(description=_("Forget the selected people (erasure request)…"))
    def forget_people(self, request: HttpRequest, queryset: QuerySet[Person]) -> HttpResponse | None:
        people = list(queryset.order_by("pk"))
        if request.POST.get("confirmed"):
            delete_activities = request.POST.get("delete_activities") == "yes"
            for person in people:
                person_forget(person=person, by=request.user, delete_activities=delete_activities)
            self.message_user(
                request,
                ngettext("Forgot %(count)d person.", "Forgot %(count)d people.", len(people)) % {"count": len(people)},
            )
            return None
        return TemplateResponse(
            request,
            "admin/contributors/forget_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Forget these people?"),
                "queryset": people,
                "action": "forget_people",
                "opts": self.model._meta,
            },
        )


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ("value", "kind", "namespace", "person", "source")
    list_filter = ("kind", "namespace")
    list_select_related = ("person", "source")
    search_fields = ("^value", "name")
    readonly_fields = ("person", *IDENTITY_KEY_FIELDS, "created_at")
    fieldsets = (
        (None, {"fields": ("person",)}),
        (_("Account"), {"fields": (*IDENTITY_KEY_FIELDS, "name", "created_at")}),
    )
    actions = ("split_out",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Identity | None = None) -> bool:
        return False

    @admin.action(description=_("Split out: these accounts are not that person (each becomes its own person)"))
    def split_out(self, request: HttpRequest, queryset: QuerySet[Identity]) -> None:
        for identity in queryset.select_related("person"):
            identity_move(identity=identity, reason="Split out by staff", by=request.user)
        self.message_user(request, _("Done. Automatic rules will not join them again; the audit has the details."))


@admin.register(PersonMerge)
class PersonMergeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "merged_person_id", "into", "reason", "by", "undone_at")
    list_filter = ("undone_at",)
    list_select_related = ("into", "by")
    search_fields = ("reason", "=merged_person_id")
    date_hierarchy = "created_at"
    fields = ("created_at", "into", "merged_person_id", "reason", "by", "undone_at", "snapshot")
    actions = ("undo",)

    @admin.action(description=_("Undo the selected merges (unmerge)"))
    def undo(self, request: HttpRequest, queryset: QuerySet[PersonMerge]) -> None:
        undone = 0
        for merge in queryset.filter(undone_at__isnull=True).order_by("-created_at"):
            person_unmerge(merge=merge, by=request.user)
            undone += 1
        self.message_user(
            request, ngettext("Undid %(count)d merge.", "Undid %(count)d merges.", undone) % {"count": undone}
        )


@admin.register(MergeSuggestion)
class MergeSuggestionAdmin(admin.ModelAdmin):
    list_display = ("identity_a", "identity_b", "reason", "score", "status", "decided_by")
    list_filter = ("status",)
    list_select_related = ("identity_a", "identity_b", "decided_by")
    search_fields = ("reason", "=identity_a__value", "=identity_b__value")
    readonly_fields = (
        "identity_a",
        "identity_b",
        "reason",
        "score",
        "status",
        "decided_by",
        "decided_at",
        "created_at",
    )
    actions = ("accept", "reject")
    # The bulk review page shows this many groups at most; the rest are counted.
    PREVIEW_GROUPS = 500

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list:
        return [
            path(
                "accept-above/",
                self.admin_site.admin_view(self.accept_above_view),
                name="contributors_mergesuggestion_accept_above",
            ),
            *super().get_urls(),
        ]

    def accept_above_view(self, request: HttpRequest) -> HttpResponse:
        """Accept every open suggestion at or above a score, after a preview of who becomes one."""
        if not (self.has_change_permission(request) and request.user.has_perm("contributors.change_person")):
            raise PermissionDenied
        form = BulkAcceptForm(request.POST or request.GET or None)
        score = form.cleaned_data["score"] if form.is_valid() else BulkAcceptForm.DEFAULT_SCORE
        if request.method == "POST" and form.is_valid() and request.POST.get("confirmed"):
            chosen = MergeSuggestion.objects.filter(pk__in=form.cleaned_data["suggestion_ids"])
            plan = suggestions_accept_many(
                suggestions=list(chosen),
                reason=f"Merge suggestions accepted together (score ≥ {score:.2f})",
                by=request.user,
            )
            self.message_user(
                request,
                ngettext(
                    "Accepted %(count)d suggestion. Each merge can be undone from “person merges”.",
                    "Accepted %(count)d suggestions. Each merge can be undone from “person merges”.",
                    len(plan.accepted),
                )
                % {"count": len(plan.accepted)},
            )
            return HttpResponseRedirect(reverse("admin:contributors_mergesuggestion_changelist"))
        suggestions = list(suggestions_above(score=score))
        plan = suggestions_bulk_plan(suggestions=suggestions)
        return TemplateResponse(
            request,
            "admin/contributors/mergesuggestion_accept_above.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Accept all suggestions above a score"),
                "opts": self.model._meta,
                "form": form if form.is_bound else BulkAcceptForm(initial={"score": score}),
                "score": score,
                "plan": plan,
                "groups": _with_identities(plan.groups[: self.PREVIEW_GROUPS]),
                "more_groups": max(0, len(plan.groups) - self.PREVIEW_GROUPS),
                "suggestion_ids": ",".join(str(s.pk) for s in plan.accepted),
            },
        )

    @admin.action(description=_("Same person: merge them"))
    def accept(self, request: HttpRequest, queryset: QuerySet[MergeSuggestion]) -> None:
        for suggestion in queryset.filter(status=MergeSuggestion.Status.OPEN):
            try:
                suggestion_accept(suggestion=suggestion, by=request.user)
            except PlaceholderMergeError:
                self.message_user(request, PLACEHOLDER_MERGE_MESSAGE, messages.ERROR)
                return
        self.message_user(request, _("Merged. Each merge can be undone from “person merges”."))

    @admin.action(description=_("Not the same person (never suggest again)"))
    def reject(self, request: HttpRequest, queryset: QuerySet[MergeSuggestion]) -> None:
        for suggestion in queryset.filter(status=MergeSuggestion.Status.OPEN):
            suggestion_reject(suggestion=suggestion, by=request.user)
        self.message_user(request, _("Noted. They will not be suggested again."))


class BulkAcceptForm(forms.Form):
    DEFAULT_SCORE = 0.8

    score = forms.FloatField(
        label=_("Accept every suggestion with a score of at least"),
        min_value=0.0,
        max_value=1.0,
        initial=DEFAULT_SCORE,
        help_text=_("From 0 to 1. Look at the preview before confirming: every group shown becomes one person."),
    )
    suggestion_ids = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_suggestion_ids(self) -> list[int]:
        raw = self.cleaned_data.get("suggestion_ids") or ""
        try:
            return [int(value) for value in raw.split(",") if value.strip()]
        except ValueError as error:
            raise forms.ValidationError(_("The list of suggestions was changed; open the preview again.")) from error


def _with_identities(groups: list[list[Person]]) -> list[list[Person]]:
    """The persons of the preview with their identities, read in one query."""
    person_ids = [person.pk for group in groups for person in group]
    fetched = Person.objects.annotate(staff_now=staff_on_q()).prefetch_related("identities__source").in_bulk(person_ids)
    return [[fetched[person.pk] for person in group if person.pk in fetched] for group in groups]


@admin.register(IdentityExclusion)
class IdentityExclusionAdmin(admin.ModelAdmin):
    list_display = ("value", "kind", "note", "created_at")
    list_filter = ("kind",)
    search_fields = ("value", "note")


class PlaceholderAccountForm(forms.ModelForm):
    class Meta:
        model = PlaceholderAccount
        fields = ("source_kind", "kind", "value", "note")

    def clean(self) -> dict:
        data = super().clean()
        kind, value = data.get("kind"), data.get("value")
        if kind and value:
            if kind == Identity.Kind.EMAIL and not is_email(value.strip()):
                self.add_error("value", _("That is not an e-mail address. Choose the kind “user name” or “user id” instead."))
            # Written as identities are, so the list cannot hold the same account twice in two spellings.
            data["value"] = placeholder_value(kind, value)
            self.instance.value = data["value"]
        if data.get("source_kind") is not None:
            data["source_kind"] = data["source_kind"].strip().lower()
            self.instance.source_kind = data["source_kind"]
        return data


@admin.register(PlaceholderAccount)
class PlaceholderAccountAdmin(admin.ModelAdmin):
    """Staff keep the list; every change asks for a recompute, so stored activities follow it."""

    form = PlaceholderAccountForm
    list_display = ("value", "kind", "system_kind", "activity_count", "note", "created_at")
    list_filter = ("source_kind", "kind")
    search_fields = ("value", "note")
    fieldsets = (
        (
            _("Account"),
            {
                "fields": ("source_kind", "kind", "value"),
                "description": _(
                    "An account that is no human: a system's shared account (Kitsune's AnonymousUser), the account "
                    "it gives deleted users' content to (SumoBot, GitHub's ghost) or a stand-in (Bugzilla's "
                    "nobody@mozilla.org). Its activities stay stored but never count, and it never joins or merges "
                    "with anyone. Changes apply to everything already stored at the next recompute, within minutes."
                ),
            },
        ),
        (_("Why"), {"fields": ("note",)}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PlaceholderAccount]:
        return placeholder_accounts_with_counts()

    @admin.display(description=_("system kind"), ordering="source_kind")
    def system_kind(self, obj: PlaceholderAccount) -> str:
        return obj.source_kind or _("any system")

    @admin.display(description=_("activities held (not counted)"), ordering="activity_count")
    def activity_count(self, obj: PlaceholderAccount) -> int:
        return obj.activity_count

    def save_model(self, request: HttpRequest, obj: PlaceholderAccount, form, change: bool) -> None:
        placeholder_account_save(account=obj)

    def delete_model(self, request: HttpRequest, obj: PlaceholderAccount) -> None:
        placeholder_accounts_delete(accounts=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PlaceholderAccount]) -> None:
        placeholder_accounts_delete(accounts=queryset)


@admin.register(IdentityAudit)
class IdentityAuditAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "person_id", "reason", "by")
    list_filter = ("action",)
    list_select_related = ("by",)
    search_fields = ("=person_id", "reason")
    date_hierarchy = "created_at"
    fields = ("created_at", "action", "person_id", "reason", "by", "details")
