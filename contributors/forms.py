"""Forms of the contributor pages: claiming addresses and accounts, profile choices, erasure."""

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.utils.translation import gettext_lazy as _

from activities.keys import looks_like_email
from activities.models import Source

from .models import EmailClaim


class EmailClaimForm(forms.Form):
    email = forms.EmailField(
        label=_("Another e-mail address of yours"),
        help_text=_("We'll send a link there. Follow it while signed in here, and the two histories become one."),
        max_length=320,
    )


class EmailClaimCancelForm(forms.Form):
    """Which of the contributor's own links to cancel: any other value (not a number, someone else's
    claim, one already used) is simply not a choice."""

    claim = forms.ModelChoiceField(queryset=EmailClaim.objects.none())

    def __init__(self, *args: object, user: AbstractBaseUser, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["claim"].queryset = EmailClaim.objects.filter(user=user, status=EmailClaim.Status.SENT)


class AccountClaimForm(forms.Form):
    source = forms.ModelChoiceField(
        label=_("System"),
        queryset=Source.objects.filter(enabled=True).order_by("name"),
        empty_label=_("Choose a system"),
    )
    username = forms.CharField(label=_("Your user name there"), max_length=320)
    evidence = forms.CharField(
        label=_("How can we tell it's you?"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Optional, but it helps: a profile page that mentions you, or anything a person can check."),
    )


class ProfileForm(forms.Form):
    public = forms.BooleanField(
        label=_("Show a public profile"),
        required=False,
        help_text=_(
            "Anyone could then see your public name, your areas and how many contributions you made. Never your e-mail."
        ),
    )
    name = forms.CharField(
        label=_("Public name"),
        required=False,
        max_length=100,
        help_text=_("The name to show. A nickname is perfectly fine."),
    )
    show_usernames = forms.BooleanField(
        label=_("Also show my user names in each system"),
        required=False,
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if looks_like_email(name):
            raise forms.ValidationError(_("Please pick a name rather than an address: profiles never show e-mails."))
        return name

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("public") and not cleaned.get("name"):
            self.add_error("name", _("A public profile needs a name to show. Which one would you like?"))
        return cleaned


class ForgetForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, I want Baloo to forget me."),
        help_text=_("This can't be undone."),
    )
    delete_activities = forms.BooleanField(
        label=_("Also delete my activities instead of keeping them anonymous"),
        required=False,
        help_text=_("Past totals will then shrink a little, as if you had never contributed."),
    )
