"""Contributor pages: my contributions, my other accounts, my privacy, and public profiles people opt into."""

import json
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from baloo_site.sign_in import local_sign_in_enabled, oidc_enabled
from baloo_site.site_url import site_url
from conversion_points.records import person_record, public_profile

from . import claims
from .forms import AccountClaimForm, EmailClaimCancelForm, EmailClaimForm, ForgetForm, ProfileForm
from .selectors import claims_of_user, person_activities, person_export, person_for_user

ACTIVITIES_PER_PAGE = 25

# Activity types in words people use. Unknown types fall back to their own words ("event organized").
ACTIVITY_WORDS = {
    "github.issue.opened": gettext_lazy("Opened an issue"),
    "github.pull_request.opened": gettext_lazy("Opened a pull request"),
    "github.pull_request.merged": gettext_lazy("Got a pull request merged"),
    "github.review.submitted": gettext_lazy("Reviewed a pull request"),
    "github.comment.created": gettext_lazy("Commented"),
    "github.commit.authored": gettext_lazy("Wrote a commit"),
    "bugzilla.bug.filed": gettext_lazy("Filed a bug"),
    "bugzilla.comment.created": gettext_lazy("Commented on a bug"),
    "bugzilla.attachment.created": gettext_lazy("Attached a patch or file to a bug"),
    "bugzilla.bug.fixed": gettext_lazy("Fixed a bug"),
    "sumo.question.asked": gettext_lazy("Asked a question"),
    "sumo.answer.posted": gettext_lazy("Answered a question"),
    "sumo.answer.solution": gettext_lazy("Gave the answer that solved a question"),
    "sumo.revision.created": gettext_lazy("Improved a help article"),
    "pontoon.translation.submitted": gettext_lazy("Submitted a translation"),
    "pontoon.translation.approved": gettext_lazy("Approved a translation"),
    "pontoon.translation.rejected": gettext_lazy("Rejected a translation"),
    "reps.activity.reported": gettext_lazy("Reported an activity as a Mozilla Rep"),
    "reps.event.organized": gettext_lazy("Organized an event"),
    "discourse.topic.created": gettext_lazy("Started a forum topic"),
    "discourse.post.created": gettext_lazy("Replied in a forum topic"),
    "discourse.answer.accepted": gettext_lazy("Gave an answer accepted in the forum"),
    "discourse.like.given": gettext_lazy("Liked a forum post"),
    "git.commit.authored": gettext_lazy("Wrote a commit"),
    "git.commit.committed": gettext_lazy("Committed someone's change"),
    "git.merge.authored": gettext_lazy("Merged a branch"),
}


def activity_words(activity_type: str) -> str:
    """A type such as `sumo.answer.posted` as words ("Answered a question"); an unknown one as its own words."""
    if activity_type in ACTIVITY_WORDS:
        return str(ACTIVITY_WORDS[activity_type])
    words = " ".join(activity_type.split(".")[1:]).replace("_", " ") or activity_type
    return words[:1].upper() + words[1:]


def web_link(url: str) -> str:
    """`url` when it is a web address to link to, else "": a token holder types activities' URLs, and
    a `javascript:` or `data:` link on someone's own page would run in their session."""
    url = (url or "").strip()
    scheme, _sep, rest = url.partition(":")
    return url if _sep and scheme.lower() in ("http", "https") and rest.startswith("//") else ""


def sign_in_url(next_url: str) -> str:
    """Single sign-on when it is configured; in development, Baloo's own password sign-in, which
    lets contributors in (the admin's lets only staff in); otherwise the admin's, which says why not."""
    if oidc_enabled():
        return f"{reverse('oidc_authentication_init')}?{urlencode({'next': next_url})}"
    if local_sign_in_enabled():
        return f"{reverse('sign_in')}?{urlencode({'next': next_url})}"
    return f"{reverse('admin_login')}?{urlencode({'next': next_url})}"


def signed_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages about "me": a friendly invitation to sign in rather than a bare redirect."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return render(request, "contributors/sign_in.html", {"sign_in_url": sign_in_url(request.get_full_path())})
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


@signed_in
def my_contributions(request: HttpRequest) -> HttpResponse:
    """My record across every system: areas and levels, milestones, recognition, every activity."""
    person = person_for_user(user=request.user)
    if person is None:
        return render(request, "contributors/my_contributions.html", {"person": None, "section": "contributions"})
    record = person_record(person=person)
    page = Paginator(person_activities(person=person), ACTIVITIES_PER_PAGE).get_page(request.GET.get("page"))
    for activity in page:
        activity.words = activity_words(activity.type)
        activity.link = web_link(activity.url)
    return render(
        request,
        "contributors/my_contributions.html",
        {"person": person, "record": record, "page": page, "section": "contributions"},
    )


@signed_in
@require_http_methods(["GET", "POST"])
def my_accounts(request: HttpRequest) -> HttpResponse:
    """My identities, and claims of my other addresses and accounts."""
    email_form, account_form = EmailClaimForm(), AccountClaimForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "email":
            email_form = EmailClaimForm(request.POST)
            if email_form.is_valid():
                try:
                    claim = claims.email_claim_start(
                        user=request.user,
                        email=email_form.cleaned_data["email"],
                        link_for=lambda token: site_url(
                            reverse("contributors:email-confirm", args=[token]), request=request
                        ),
                    )
                except claims.ClaimError as error:
                    email_form.add_error("email", error.message)
                else:
                    messages.success(
                        request,
                        _("We've sent a link to %(email)s. Open it while signed in here to finish.")
                        % {"email": claim.email},
                    )
                    return redirect("contributors:my-accounts")
        elif action == "account":
            account_form = AccountClaimForm(request.POST)
            if account_form.is_valid():
                try:
                    claims.account_claim_submit(
                        user=request.user,
                        source=account_form.cleaned_data["source"],
                        username=account_form.cleaned_data["username"],
                        evidence=account_form.cleaned_data["evidence"],
                    )
                except claims.ClaimError as error:
                    account_form.add_error("username", error.message)
                else:
                    messages.success(
                        request, _("Thanks! A staff member will have a look and join the account to your record.")
                    )
                    return redirect("contributors:my-accounts")
        elif action == "cancel":
            cancel_form = EmailClaimCancelForm(request.POST, user=request.user)
            if cancel_form.is_valid():
                claims.email_claim_cancel(claim=cancel_form.cleaned_data["claim"])
                messages.info(request, _("Done: that link won't work any more."))
            else:
                messages.error(request, _("There is no such link waiting to be cancelled."))
            return redirect("contributors:my-accounts")
    person = person_for_user(user=request.user)
    email_claims, account_claims = claims_of_user(user=request.user)
    identities = person.identities.select_related("source").order_by("kind", "namespace", "value") if person else []
    return render(
        request,
        "contributors/my_accounts.html",
        {
            "person": person,
            "identities": identities,
            "email_claims": email_claims,
            "account_claims": account_claims,
            "email_form": email_form,
            "account_form": account_form,
            "section": "accounts",
        },
    )


@signed_in
@require_http_methods(["GET", "POST"])
def email_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The page a confirmation link opens: check it, then confirm with a button (never on a mere visit)."""
    try:
        # Confirming checks the link first; a visit only checks it.
        if request.method == "POST":
            claim = claims.email_claim_confirm(token=token, user=request.user)
        else:
            claim = claims.email_claim_check(token=token, user=request.user)
    except claims.ClaimError as error:
        return render(
            request, "contributors/email_confirm.html", {"error": error.message, "code": error.code}, status=400
        )
    return render(request, "contributors/email_confirm.html", {"claim": claim, "done": request.method == "POST"})


@signed_in
@require_http_methods(["GET", "POST"])
def my_privacy(request: HttpRequest) -> HttpResponse:
    """My choices: a public profile or not, my data as a file, being forgotten."""
    person = person_for_user(user=request.user)
    form = None
    if person is not None:
        initial = {
            "public": person.profile_public,
            "name": person.profile_name,
            "show_usernames": person.profile_shows_usernames,
        }
        form = ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
        if request.method == "POST" and form.is_valid():
            claims.profile_update(
                person=person,
                public=form.cleaned_data["public"],
                name=form.cleaned_data["name"],
                show_usernames=form.cleaned_data["show_usernames"],
            )
            messages.success(request, _("Saved. You can change your mind any time."))
            return redirect("contributors:my-privacy")
    return render(request, "contributors/my_privacy.html", {"person": person, "form": form, "section": "privacy"})


@signed_in
def my_data(request: HttpRequest) -> HttpResponse:
    """Everything Baloo holds about me, as a JSON file."""
    data = person_export(person=person_for_user(user=request.user), user=request.user)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False, default=str), content_type="application/json; charset=utf-8"
    )
    filename = f"baloo-my-data-{timezone.now():%Y-%m-%d}.json"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@signed_in
@require_http_methods(["GET", "POST"])
def my_forget(request: HttpRequest) -> HttpResponse:
    """Ask Baloo to forget me: explained, then confirmed with a tick, then done."""
    person = person_for_user(user=request.user)
    form = ForgetForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        counts = claims.person_forget_on_request(
            user=request.user, delete_activities=form.cleaned_data["delete_activities"]
        )
        return render(request, "contributors/my_forget.html", {"done": True, "counts": counts, "section": "privacy"})
    return render(request, "contributors/my_forget.html", {"person": person, "form": form, "section": "privacy"})


def profile(request: HttpRequest, pk: int) -> HttpResponse:
    """A public profile: only for people who chose to have one."""
    data = public_profile(person_id=pk)
    if data is None:
        raise Http404
    return render(request, "contributors/profile.html", data)
