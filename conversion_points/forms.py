"""The conversion point form: a rule written by choosing, for community builders who do not write JSON.

Activity types are ticked from the types the source has sent (with how many of each), and any type
not seen yet is typed plainly in "other types"; the rule still stores them as the same JSON list
(CONTRACTS §3). The container field suggests the containers the source uses most, with the glob
explained in plain words. "Preview" checks the form and shows what the rule would do, saving nothing.
"""

import json
import re
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.formats import date_format, number_format
from django.utils.html import escape, format_html, format_html_join
from django.utils.module_loading import import_string
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from activities.models import Source
from activities.validators import is_activity_type

from .models import ConversionPoint
from .owners import areas_for, sees_all_areas
from .selectors import (
    activity_types_seen,
    area_change_preview,
    containers_seen,
    conversion_point_preview,
    translations_missing,
)
from .services import conversion_point_source_check

EXAMPLE_TYPE = "sumo.answer.posted"
# What one rule may list: far more than any real rule, small enough that hostile input stays cheap.
MAX_TYPES = 50
MAX_TYPES_TEXT = 2000
CONTAINER_HELP = _(
    "Where the activity happened: a repository (“mozilla/kitsune”), a Bugzilla “Product::Component”, a SUMO "
    "“product::locale”. Leave “*” (or empty) for anywhere. In the filter, * stands for any text and ? for one "
    "character: “firefox::*” is Firefox in every language, “*::de” is German for every product, “mozilla/*” every "
    "repository of mozilla."
)
TYPES_HELP = _(
    "Tick the activity types that count; an activity of any of them matches. A type this source has not sent yet "
    "can be typed under “other types”, written as <system>.<object>.<action> in lowercase, e.g. “sumo.answer.posted”."
)
OTHER_SUFFIX = "_other"
# How many of the people a rule adds or removes the preview names; the rest are counted.
NAMES_SHOWN = 20
# With no source chosen yet, the types of at most this many sources are offered.
MAX_SOURCES_OFFERED = 10
# The translated texts a reader meets: warned about when a language lacks them.
TRANSLATED_TEXTS = ("name", "recognition")


def _shown(value: object) -> str:
    """A value typed by someone, short enough to repeat in a message."""
    return Truncator(str(value)).chars(60)


def types_entries(raw: list[str]) -> list[Any]:
    """The activity types in what the form sent: ticked boxes, and plain text or a JSON list typed in.

    Raises ValidationError (code "not_a_list") for JSON that is not a list, e.g. a quoted string.
    """
    found: list[Any] = []
    for entry in raw:
        text = (entry or "").strip()
        if not text:
            continue
        try:
            decoded = json.loads(text)
        except ValueError:
            found.extend(part for part in re.split(r"[\s,;]+", text) if part)
            continue
        if not isinstance(decoded, list):
            raise ValidationError("not a list", code="not_a_list")
        found.extend(decoded)
    unique: list[Any] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


class ActivityTypesWidget(forms.Widget):
    """Checkboxes for the types seen (grouped by source when there are several), and a text box for others."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs)
        self.groups: list[tuple[str, list[tuple[str, int]]]] = []

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[str]:
        return [*data.getlist(name), data.get(name + OTHER_SUFFIX, "")]

    def value_omitted_from_data(self, data: Any, files: Any, name: str) -> bool:
        return name not in data and name + OTHER_SUFFIX not in data

    def id_for_label(self, id_: str) -> str:
        # The field's label names the group (role="group"); each box and the text box have their own.
        return ""

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> str:
        base_id = (attrs or {}).get("id") or self.attrs.get("id") or f"id_{name}"
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            try:
                chosen = [str(item) for item in types_entries(value)]
            except ValidationError:
                chosen = [item for item in value if item]
        else:
            chosen = []
        seen = {activity_type for _group, types in self.groups for activity_type, _count in types}
        boxes = []
        number = 0
        for group, types in self.groups:
            items = []
            for activity_type, count in types:
                box_id = f"{base_id}_{number}"
                number += 1
                items.append(
                    format_html(
                        '<li><input type="checkbox" name="{}" value="{}" id="{}"{}> <label for="{}"><code>{}</code> '
                        '<span class="quiet">{}</span></label></li>',
                        name,
                        activity_type,
                        box_id,
                        " checked" if activity_type in chosen else "",
                        box_id,
                        activity_type,
                        ngettext("%(count)s activity", "%(count)s activities", count)
                        % {"count": number_format(count, force_grouping=True)},
                    )
                )
            heading = format_html("<p><strong>{}</strong></p>", group) if len(self.groups) > 1 else ""
            boxes.append(format_html('{}<ul class="activity-types">{}</ul>', heading, format_html_join("", "{}", ((i,) for i in items))))
        if not self.groups:
            boxes.append(format_html('<p class="quiet">{}</p>', _("No activity seen yet in this source: type the types below.")))
        other = ", ".join(item for item in chosen if item not in seen)[:MAX_TYPES_TEXT]
        other_id = base_id + OTHER_SUFFIX
        return format_html(
            '<div role="group" aria-label="{}" class="activity-types-choice">{}'
            '<p><label for="{}">{}</label><br><input type="text" name="{}" id="{}" value="{}" maxlength="{}" '
            'class="vTextField" autocomplete="off" spellcheck="false" placeholder="{}"></p></div>',
            _("Activity types"),
            format_html_join("", "{}", ((box,) for box in boxes)),
            other_id,
            _("Other types, not seen yet (separate them with commas):"),
            name + OTHER_SUFFIX,
            other_id,
            other,
            MAX_TYPES_TEXT,
            EXAMPLE_TYPE,
        )


class ActivityTypesField(forms.Field):
    """A rule's activity types, from ticked boxes and typed text, as the list the rule stores."""

    widget = ActivityTypesWidget

    def to_python(self, value: Any) -> list[Any]:
        raw = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        if sum(len(entry or "") for entry in raw if isinstance(entry, str)) > MAX_TYPES_TEXT + 100 * MAX_TYPES:
            raise ValidationError(
                _("That is more than a rule can list: at most %(limit)s activity types."), params={"limit": MAX_TYPES}, code="too_long"
            )
        try:
            return types_entries([entry for entry in raw if isinstance(entry, str)])
        except ValidationError:
            # JSON that is not a list (a quoted string, a number) lists no type: the field's "required" message.
            return []

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, list) else [value] if isinstance(value, str) else []


class ContainerWidget(forms.TextInput):
    """The container glob, with a list of the containers seen as suggestions (an HTML datalist)."""

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__({"class": "vTextField", "maxlength": 255, "autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.suggestions: list[tuple[str, int]] = []

    def render(self, name: str, value: Any, attrs: dict | None = None, renderer: Any = None) -> str:
        list_id = f"{(attrs or {}).get('id') or 'id_' + name}_suggestions"
        field = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join(
            "",
            '<option value="{}">{}</option>',
            (
                (container, ngettext("%(count)s activity", "%(count)s activities", count) % {"count": number_format(count, force_grouping=True)})
                for container, count in self.suggestions
            ),
        )
        examples = ""
        if self.suggestions:
            examples = format_html(
                '<p class="quiet">{} {}</p>',
                _("Used most in this source:"),
                format_html_join(", ", "<code>{}</code>", ((container,) for container, _count in self.suggestions[:5])),
            )
        return format_html('{}<datalist id="{}">{}</datalist>{}', field, list_id, options, examples)


class ConversionPointForm(forms.ModelForm):
    """Checks the activity types before they become a rule that silently never matches.

    With "Preview" pressed, a valid form is not saved: it comes back holding `preview`, what the rule
    would match and do to its area (`conversion_points.admin` shows it as information).
    """

    preview_requested = False
    # Set per request by the admin: who previews (the names they may read), and the types and containers seen.
    user: Any = None
    seen_cache: dict | None = None
    none_message = _(
        "List at least one activity type, each written as <system>.<object>.<action> in lowercase, "
        "e.g. [\"%(example)s\"]."
    )

    types = ActivityTypesField(label=_("activity types"), help_text=TYPES_HELP)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # An empty list counts as "no value" for the field, so it never reaches clean_types.
        self.fields["types"].error_messages["required"] = self.none_message % {"example": EXAMPLE_TYPE}
        # The admin writes help texts as HTML: escaped, "<system>.<object>.<action>" is read, not parsed as tags.
        self.fields["types"].help_text = escape(TYPES_HELP)
        if "container" in self.fields:
            self.fields["container"].widget = ContainerWidget()
            self.fields["container"].help_text = CONTAINER_HELP
        self.preview: dict[str, Any] | None = None
        self._offer_what_was_seen()

    def _offer_what_was_seen(self) -> None:
        """Fill the types' boxes and the containers' suggestions from the chosen source, else from every source the
        user's areas may draw on (staff: every source)."""
        sources = Source.objects.order_by("name", "slug")
        if self.user is not None and not sees_all_areas(self.user):
            sources = sources.filter(areas__in=areas_for(self.user)).distinct()
        chosen = self.data.get(self.add_prefix("source")) if self.is_bound else self.instance.source_id
        picked = [source for source in sources if str(source.pk) == str(chosen)] if chosen else []
        offered = picked or list(sources[:MAX_SOURCES_OFFERED])
        groups = [
            (source.name or source.slug, self._seen(("types", source.pk), lambda s=source: activity_types_seen(source=s)))
            for source in offered
        ]
        self.fields["types"].widget.groups = [(name, types) for name, types in groups if types]
        if "container" in self.fields:
            self.fields["container"].widget.suggestions = self._seen(
                ("containers", *sorted(source.pk for source in offered)), lambda: containers_seen(sources=offered)
            )

    def _seen(self, key: tuple, read: Any) -> Any:
        # One read per request for every form of a page (an area's page holds a form per conversion point).
        if self.seen_cache is None:
            return read()
        if key not in self.seen_cache:
            self.seen_cache[key] = read()
        return self.seen_cache[key]

    def clean_types(self) -> list[str]:
        types: Any = self.cleaned_data.get("types")
        if not isinstance(types, list) or not types:
            raise forms.ValidationError(self.none_message, params={"example": EXAMPLE_TYPE})
        if len(types) > MAX_TYPES:
            raise forms.ValidationError(
                _("A rule lists at most %(limit)s activity types."), params={"limit": MAX_TYPES}, code="too_many"
            )
        for activity_type in types:
            if not isinstance(activity_type, str) or len(activity_type) > 100 or not is_activity_type(activity_type):
                raise forms.ValidationError(
                    _(
                        "“%(type)s” is not an activity type. Write each one as <system>.<object>.<action> "
                        "in lowercase, e.g. “%(example)s”."
                    ),
                    params={"type": _shown(activity_type), "example": EXAMPLE_TYPE},
                )
        return types

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # In the area's page, `area` is the page's own area, whose sources may be changing in the same form.
        area = cleaned.get("area")
        if area is not None and cleaned.get("source") is not None:
            try:
                conversion_point_source_check(area=area, source=cleaned["source"], granted=getattr(area, "sources_being_saved", None))
            except ValidationError as error:
                self.add_error("source", error)
        if self.preview_requested and not self.errors and cleaned.get("source") and cleaned.get("types"):
            rule = ConversionPoint(
                pk=self.instance.pk,
                area=area,
                source=cleaned["source"],
                types=cleaned["types"],
                container=cleaned.get("container") or "*",
                level=cleaned.get("level") or ConversionPoint.Level.ACTIVE,
                enabled=bool(cleaned.get("enabled")),
            )
            self.preview = rule_preview(rule=rule, user=self.user, values=cleaned)
            # An error keeps the admin from saving; it shows the preview as information instead (`render_change_form`).
            self.add_error(None, ValidationError(gettext("Preview, nothing saved yet."), code="preview"))
        return cleaned


def people_named(*, user: Any, person_ids: frozenset[int]) -> dict[str, Any]:
    """Of these persons, the names `user` may read (the first `NAMES_SHOWN`), how many more, and how many they may not.

    Who may read whom is `accounts.permissions` (the setting `BALOO_READABLE_PEOPLE`): staff everyone,
    a builder only the people their approved rules already show them. No one else is named.
    """
    if not person_ids or user is None:
        return {"names": [], "more": 0, "hidden": len(person_ids)}
    readable = import_string(settings.BALOO_READABLE_PEOPLE)(user=user, person_ids=sorted(person_ids))
    total = readable.count()
    names = [_person_named(person) for person in readable.order_by("shown_name", "pk")[:NAMES_SHOWN]]
    return {"names": names, "more": total - len(names), "hidden": len(person_ids) - total}


def _person_named(person: Any) -> str:
    """The name `accounts.permissions.readable_people` lets its reader see, else one of the accounts it lets them read."""
    accounts = [identity.value for identity in person.identities.all()]
    return person.shown_name or (accounts[0] if accounts else gettext("person #%(id)s") % {"id": person.pk})


def untranslated_warnings(*, values: Any, fields: tuple[str, ...] = TRANSLATED_TEXTS, model: Any = ConversionPoint) -> list[str]:
    """One sentence per translated text still missing a language that Baloo speaks (a warning, never a refusal)."""
    languages = dict(settings.LANGUAGES)
    fallback = languages[settings.MODELTRANSLATION_DEFAULT_LANGUAGE]
    warnings = []
    for field, codes in translations_missing(values=values, fields=fields).items():
        warnings.append(
            gettext("“%(field)s” has no %(languages)s text yet: pages in those languages show it in %(fallback)s.")
            % {
                "field": model._meta.get_field(field).verbose_name,
                "languages": ", ".join(str(languages[code]) for code in codes),
                "fallback": fallback,
            }
        )
    return warnings


def rule_preview(*, rule: ConversionPoint, user: Any, values: Any) -> dict[str, Any]:
    """What the rule would match, what it would do to its area's active count, and the texts it lacks — in words."""
    matches = conversion_point_preview(source=rule.source, types=rule.types, container=rule.container)
    lines = [
        gettext("Preview, nothing saved yet: this rule matches %(activities)s by %(people)s since %(since)s.")
        % {
            "activities": ngettext("%(count)s activity", "%(count)s activities", matches["activities"])
            % {"count": number_format(matches["activities"], force_grouping=True)},
            "people": ngettext("%(count)s person", "%(count)s people", matches["people"])
            % {"count": number_format(matches["people"], force_grouping=True)},
            "since": date_format(matches["since"]),
        }
    ]
    preview: dict[str, Any] = {
        "lines": lines, "change": None, "added": None, "removed": None, "warnings": untranslated_warnings(values=values)
    }
    if rule.area is None:
        return preview
    change = preview["change"] = area_change_preview(area=rule.area, rule=rule)
    lines.append(
        gettext("Active contributors in “%(area)s” as of %(day)s: %(before)s now, %(after)s with this rule as written.")
        % {
            "area": rule.area,
            "day": date_format(change.day),
            "before": number_format(change.before, force_grouping=True),
            "after": number_format(change.after, force_grouping=True),
        }
    )
    if rule.level == ConversionPoint.Level.CASUAL:
        lines.append(gettext("A casual rule recognises contributions but makes no one an active contributor."))
    preview["added"] = {
        "title": ngettext(
            "It would make %(count)s person active in the area:", "It would make %(count)s people active in the area:", len(change.added)
        ) % {"count": number_format(len(change.added), force_grouping=True)},
        **people_named(user=user, person_ids=change.added),
    } if change.added else None
    preview["removed"] = {
        "title": ngettext(
            "%(count)s person would no longer be active in the area:", "%(count)s people would no longer be active in the area:", len(change.removed)
        ) % {"count": number_format(len(change.removed), force_grouping=True)},
        **people_named(user=user, person_ids=change.removed),
    } if change.removed else None
    return preview
