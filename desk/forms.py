"""What a desk page is asked for: a week, filters, a page; and a user's digest settings.

Every value comes from the address bar, so each is read strictly: a week that is no date, a date
that is not over yet, an unknown status, level or system is refused with a message (400), never a
server error and never a wider list.
"""

from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from metrics.calendar import day_number, last_complete_week, week_of_day, week_sunday

from .models import DigestSetting
from .selectors import LEVELS, STATUSES

# Before this, no week has a year before it to count from; no community's history starts earlier.
FIRST_YEAR = 1971


def latest_complete_sunday() -> date:
    """The Sunday ending the latest complete week (UTC): the desk's default week."""
    return week_sunday(last_complete_week())


def week_parse(raw: str) -> date:
    """`YYYY-MM-DD`, any day of a complete week → the Sunday ending that week; ValueError when not."""
    if len(raw) != 10:
        raise ValueError(raw)
    day = date.fromisoformat(raw)
    if day.year < FIRST_YEAR:
        raise ValueError(raw)
    sunday = week_sunday(week_of_day(day_number(day)))
    if sunday > latest_complete_sunday():
        raise ValueError(raw)
    return sunday


class DeskQuery(forms.Form):
    """The desk's address: `week`, `status`, `level`, `source`, `page`; each optional."""

    # Read by `clean_week` alone, so every malformed value gets the same message.
    week = forms.Field(required=False)
    status = forms.ChoiceField(required=False, choices=[(s, s) for s in STATUSES])
    level = forms.ChoiceField(required=False, choices=[(level, level) for level in LEVELS.values()])
    source = forms.SlugField(required=False, max_length=100)

    def __init__(self, *args: object, sources: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.sources = sources

    def clean_week(self) -> date:
        raw = self.cleaned_data["week"]
        if not raw:
            return latest_complete_sunday()
        try:
            return week_parse(raw)
        except ValueError:
            raise forms.ValidationError(
                _("Choose a day of a week that is over, as YYYY-MM-DD (after 1970); the desk shows the week it belongs to.")
            ) from None

    def clean_source(self) -> str:
        slug = self.cleaned_data["source"]
        if slug and slug not in self.sources:
            raise forms.ValidationError(_("This area counts no contributions from that system."))
        return slug


class DigestSettingForm(forms.ModelForm):
    class Meta:
        model = DigestSetting
        fields = ["subscribed", "language"]
