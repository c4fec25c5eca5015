"""Admin for areas and conversion points: where community builders decide what counts.

Translated fields (name, description, recognition) get one input per language through
django-modeltranslation. We use its plain `TranslationAdmin`, not the tabbed one: the tabs load
jQuery UI from a CDN, and Baloo must work offline.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from modeltranslation.admin import TranslationAdmin, TranslationStackedInline

from .forms import ConversionPointForm, untranslated_warnings
from .models import Area, Campaign, ConversionPoint
from .owners import areas_for, sees_all_areas
from .selectors import activity_types_seen, conversion_point_preview
from .services import conversion_points_approve
from .signals import rules_changed


def warn_untranslated(model_admin: admin.ModelAdmin, request: HttpRequest, obj: Any, fields: tuple[str, ...]) -> None:
    """After a save, say which texts still lack a language Baloo speaks: a warning, the save stands."""
    for warning in untranslated_warnings(values=vars(obj), fields=fields, model=type(obj)):
        model_admin.message_user(request, warning, messages.WARNING)


def per_request(form: type[ConversionPointForm], request: HttpRequest, **extra: Any) -> type[ConversionPointForm]:
    """The form class for one request: who asks (the names their preview may show), and one cache of what was seen."""
    return type(form.__name__, (form,), {"user": request.user, "seen_cache": {}, **extra})


APPROVAL_HELP = _(
    "Approval decides only whose records community builders may read: a rule a builder creates, or changes in what "
    "it matches (area, source, types, container, level, enabling), shows no one in builders' lists of people, "
    "contributors and exports until staff approve it as it is. The public counts and the dashboard use every "
    "enabled rule, approved or not."
)


def approval_status(point: ConversionPoint | None) -> str:
    """What the rule's approval means for the builders' lists, in their words."""
    if point is None or point.pk is None:
        return _("New rules wait for staff approval before their contributors appear in your lists.")
    if point.is_approved:
        return _("Approved by staff: its contributors appear in your lists.")
    return _("Waiting for staff approval before its contributors appear in your lists.")


class ApprovalMixin:
    """Staff and administrators approve what they save; a builder's change waits for them (`conversion_points_approve`)."""

    def approve_saved(self, request: HttpRequest, points: list[ConversionPoint]) -> None:
        if sees_all_areas(request.user):
            conversion_points_approve(points=points, by=request.user)
        elif any(not point.is_approved for point in points):
            self.message_user(
                request,
                _("Saved. Until staff approve it, the changed rule counts on the dashboard but shows no one in your lists."),
                messages.INFO,
            )


class ConversionPointInline(TranslationStackedInline):
    model = ConversionPoint
    form = ConversionPointForm
    fieldsets = (
        (None, {"fields": ("slug", "name", "level", "enabled", "source", "types", "container", "approval")}),
        (_("Explaining and recognising"), {"fields": ("description", "recognition", "next_step_url"), "classes": ("collapse",)}),
    )
    readonly_fields = ("approval",)
    extra = 0
    show_change_link = True

    def get_formset(self, request: HttpRequest, obj: Area | None = None, **kwargs: Any) -> Any:
        kwargs["form"] = per_request(self.form, request)
        return super().get_formset(request, obj, **kwargs)

    @admin.display(description=_("approval"))
    def approval(self, obj: ConversionPoint | None) -> str:
        return approval_status(obj)


class RecomputesMetrics:
    """Changing what counts changes the numbers: say so after each change (a debounced recompute follows)."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        rules_changed.send(sender=self.model)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        super().delete_model(request, obj)
        rules_changed.send(sender=self.model)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        rules_changed.send(sender=self.model)


class OwnedAreasOnly:
    """Object-level rule: a community builder sees and edits only the areas they own (and their points).

    Administrators and staff (who may see every area) are not narrowed; Django's model permissions
    still decide what each may change.
    """

    def _area_of(self, obj: Any) -> Area:
        return obj if isinstance(obj, Area) else obj.area

    def _may(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or sees_all_areas(request.user) or areas_for(request.user).filter(pk=self._area_of(obj).pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request, obj)


class AreaForm(forms.ModelForm):
    def clean_sources(self) -> Any:
        """Every conversion point of an area uses one of its sources: one in use cannot be taken away."""
        sources = self.cleaned_data["sources"]
        if self.instance.pk is None:
            return sources
        points = self.instance.conversion_points.exclude(source__in=sources).select_related("source")
        in_use = sorted({point.source.name or point.source.slug for point in points})
        if in_use:
            raise forms.ValidationError(
                _(
                    "This area's conversion points still use %(sources)s. Move them to another source or delete "
                    "them first, then take the source away."
                ),
                params={"sources": ", ".join(f"“{name}”" for name in in_use)},
            )
        return sources


@admin.register(Area)
class AreaAdmin(ApprovalMixin, RecomputesMetrics, OwnedAreasOnly, TranslationAdmin):
    form = AreaForm
    list_display = ("slug", "name", "target", "conversion_point_count", "position")
    list_display_links = ("slug", "name")
    search_fields = ("slug", "name")
    filter_horizontal = ("owners", "sources")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("slug", "name", "description")}),
        (_("Goal and order"), {"fields": ("target", "target_date", "position")}),
        (_("Who looks after it"), {"fields": ("owners", "sources")}),
        (_("History"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    inlines = (ConversionPointInline,)

    class Media:
        css = {"all": ("conversion_points/rule_editor.css",)}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Area]:
        areas = super().get_queryset(request)
        if not sees_all_areas(request.user):
            areas = areas.filter(pk__in=areas_for(request.user).values("pk"))
        return areas.annotate(conversion_point_count=Count("conversion_points"))

    def get_readonly_fields(self, request: HttpRequest, obj: Area | None = None) -> tuple[str, ...]:
        if request.user.is_superuser:
            return tuple(self.readonly_fields)
        if sees_all_areas(request.user):
            # Staff decide which sources an area may draw on; the rest is its builders' and administrators'.
            return tuple(self.replace_orig_field((*self.readonly_fields, "slug", "name", "description", "target", "target_date", "position", "owners")))
        # A builder may not hand their area to someone else, rename the slug the API uses, nor widen
        # the sources whose contributors they see.
        return (*self.readonly_fields, "slug", "owners", "sources")

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Area:
        area = super().save_form(request, form, change)
        if "sources" in form.cleaned_data:
            # The page's conversion points are checked (after this) against the sources saved with them.
            area.sources_being_saved = list(form.cleaned_data["sources"])
        return area

    def save_model(self, request: HttpRequest, obj: Area, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        warn_untranslated(self, request, obj, ("name",))

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is ConversionPoint:
            saved = [*formset.new_objects, *(point for point, _fields in formset.changed_objects)]
            self.approve_saved(request, saved)
            for point in saved:
                warn_untranslated(self, request, point, ("name", "recognition"))

    @admin.display(description=_("conversion points"), ordering="conversion_point_count")
    def conversion_point_count(self, obj: Area) -> int:
        return obj.conversion_point_count


class ApprovalFilter(admin.SimpleListFilter):
    title = _("approval")
    parameter_name = "approval"

    def lookups(self, request: HttpRequest, model_admin: Any) -> tuple[tuple[str, Any], ...]:
        return (("awaiting", _("awaiting approval")), ("approved", _("approved")))

    def queryset(self, request: HttpRequest, queryset: QuerySet[ConversionPoint]) -> QuerySet[ConversionPoint]:
        if self.value() == "awaiting":
            return queryset.awaiting_approval()
        if self.value() == "approved":
            return queryset.approved()
        return queryset


@admin.register(ConversionPoint)
class ConversionPointAdmin(ApprovalMixin, RecomputesMetrics, OwnedAreasOnly, TranslationAdmin):
    form = ConversionPointForm
    list_display = ("name", "area", "source", "level", "types_list", "container", "enabled", "approval")
    list_filter = (ApprovalFilter, "area", "source", "level", "enabled")
    list_select_related = ("area", "source")
    search_fields = ("slug", "name")
    readonly_fields = ("matches", "types_seen", "approval", "approved_at", "approved_by", "created_at", "updated_at")
    actions = ("approve_for_builders",)

    class Media:
        css = {"all": ("conversion_points/rule_editor.css",)}
    fieldsets = (
        (None, {"fields": ("area", "slug", "name", "level", "enabled")}),
        (_("What counts"), {"fields": ("source", "types", "container", "types_seen", "matches")}),
        (_("Approval"), {"fields": ("approval", "approved_at", "approved_by"), "description": APPROVAL_HELP}),
        (_("Explaining and recognising"), {"fields": ("description", "recognition", "next_step_url")}),
        (_("History"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def save_model(self, request: HttpRequest, obj: ConversionPoint, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self.approve_saved(request, [obj])
        warn_untranslated(self, request, obj, ("name", "recognition"))

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> TemplateResponse:
        form = context["adminform"].form
        if getattr(form, "preview", None) is not None:
            # The preview is information, not a mistake: no "please correct the error" above it.
            context = {**context, "errors": [], "rule_preview": form.preview}
        return super().render_change_form(request, context, *args, **kwargs)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return sees_all_areas(request.user)

    @admin.action(description=_("Approve the selected conversion points for builders' lists"), permissions=["approve"])
    def approve_for_builders(self, request: HttpRequest, queryset: QuerySet[ConversionPoint]) -> None:
        approved = conversion_points_approve(points=queryset.select_related(None), by=request.user)
        for point in approved:
            # The admin's history of the point says who approved which rule.
            self.log_change(request, point, f"Approved for builders' lists: {point.approved_definition}")
        self.message_user(
            request,
            ngettext(
                "%(count)d conversion point approved: its contributors now appear in its area's builders' lists.",
                "%(count)d conversion points approved: their contributors now appear in their areas' builders' lists.",
                len(approved),
            )
            % {"count": len(approved)},
            messages.SUCCESS,
        )

    @admin.display(description=_("approval"))
    def approval(self, obj: ConversionPoint | None) -> str:
        return approval_status(obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConversionPoint]:
        points = super().get_queryset(request)
        if sees_all_areas(request.user):
            return points
        return points.filter(area__in=areas_for(request.user))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "area" and not sees_all_areas(request.user):
            # A point can only be put in (or moved to) an area the builder owns.
            kwargs["queryset"] = areas_for(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request: HttpRequest, obj: ConversionPoint | None = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return per_request(form, request, preview_requested=request.method == "POST" and "_preview" in request.POST)

    @admin.display(description=_("activity types seen in this source"))
    def types_seen(self, obj: ConversionPoint) -> str:
        if obj is None or obj.source_id is None:
            return _("Choose a source and save (or preview) to see the types it sends.")
        types = activity_types_seen(source=obj.source)
        if not types:
            return _("This source has sent nothing yet.")
        return format_html_join(
            ", ", "<code>{}</code> ({})", ((t, number_format(count, force_grouping=True)) for t, count in types)
        )

    @admin.display(description=_("what it matches"))
    def matches(self, obj: ConversionPoint) -> str:
        if obj is None or obj.pk is None:
            return _("Press “Preview” to see what this rule would match before saving it.")
        preview = conversion_point_preview(source=obj.source, types=obj.types, container=obj.container or "*")
        return format_html(
            _("{activities} by {people} in the last 12 months (since {since})"),
            activities=ngettext("%(count)s activity", "%(count)s activities", preview["activities"])
            % {"count": number_format(preview["activities"], force_grouping=True)},
            people=ngettext("%(count)s person", "%(count)s people", preview["people"])
            % {"count": number_format(preview["people"], force_grouping=True)},
            since=date_format(preview["since"]),
        )

    @admin.display(description=_("activity types"))
    def types_list(self, obj: ConversionPoint) -> str:
        return ", ".join(str(activity_type) for activity_type in obj.types)


@admin.register(Campaign)
class CampaignAdmin(RecomputesMetrics, TranslationAdmin):
    """Campaigns, for the builders of their areas: a builder sees, adds and edits only campaigns all of whose
    areas they own, and may list only those areas; staff read every campaign, administrators edit all.

    Saving asks for a recompute (`RecomputesMetrics`): nothing counts differently, but the dashboard is
    drawn once per run, so the next run draws the campaign.
    """

    list_display = ("name", "start", "end", "area_list")
    list_filter = ("areas",)
    search_fields = ("slug", "name")
    filter_horizontal = ("areas",)
    date_hierarchy = "start"
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("slug", "name", "description")}),
        (_("When and where"), {"fields": ("start", "end", "areas")}),
        (_("History"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )

    def _may(self, request: HttpRequest, obj: Campaign | None) -> bool:
        if obj is None or sees_all_areas(request.user):
            return True
        areas = {area.pk for area in obj.areas.all()}
        return bool(areas) and areas <= set(areas_for(request.user).values_list("pk", flat=True))

    def has_view_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._may(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Campaign | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Campaign]:
        campaigns = super().get_queryset(request).prefetch_related("areas")
        if sees_all_areas(request.user):
            return campaigns
        owned = areas_for(request.user)
        return campaigns.filter(areas__in=owned).exclude(areas__in=Area.objects.exclude(pk__in=owned.values("pk"))).distinct()

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "areas" and not sees_all_areas(request.user):
            # A campaign is drawn on its areas' charts: a builder may list only the areas they own.
            kwargs["queryset"] = areas_for(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Campaign, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        warn_untranslated(self, request, obj, ("name",))

    @admin.display(description=_("areas"))
    def area_list(self, obj: Campaign) -> str:
        return ", ".join(area.name for area in obj.areas.all())
