from django import forms
from django.utils.translation import gettext_lazy as _


class IntegrationRequestForm(forms.Form):
    system = forms.CharField(
        label=_("Which system?"), max_length=200, help_text=_("Its name, and which instance if there are several.")
    )
    url = forms.URLField(label=_("Its address"), required=False, max_length=500, assume_scheme="https")
    what_counts = forms.CharField(
        label=_("What should count there?"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        help_text=_("Which things people do there are contributions: posting answers, organising events, reviewing…"),
    )
    contact = forms.CharField(
        label=_("How can we reach you?"),
        max_length=320,
        help_text=_("An e-mail address or a user name we can ask questions. Only the Baloo team sees it."),
    )
    # Left empty by people; filled in by robots that fill in everything.
    website = forms.CharField(required=False, widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}))
