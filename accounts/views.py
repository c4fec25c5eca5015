"""Sign-in and sign-out pages.

The admin's login sends people to single sign-on (password sign-in only where allowed). In
development without single sign-on, contributors sign in on a page of their own (`sign_in`). Whatever
goes wrong on the way — the provider down, a code used twice, a token Baloo does not trust, a person
Baloo's rules do not let in — ends on a page saying what happened and what to do, never a 500, and
is logged for operators.
"""

import logging
import re
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, auth
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import BACKEND_SESSION_KEY, REDIRECT_FIELD_NAME
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView as BaseCallbackView
from mozilla_django_oidc.views import OIDCAuthenticationRequestView as BaseAuthenticationRequestView

from baloo_site.sign_in import local_sign_in_enabled, oidc_enabled

from . import oidc
from .oidc import SignInFailed, SignInRefused

logger = logging.getLogger(__name__)

# What went wrong, in words for the person: (title, what happened and what to do, HTTP status).
FAILURES = {
    "provider-unreachable": (
        gettext_lazy("The sign-in service is not answering"),
        gettext_lazy(
            "Baloo could not reach the sign-in service just now, so nobody can sign in for the moment. The public "
            "pages still work. Try again in a few minutes; if it lasts, tell your community's Baloo administrators."
        ),
        503,
    ),
    "code-rejected": (
        gettext_lazy("This sign-in has expired"),
        gettext_lazy("The sign-in service did not accept this sign-in: it was used already, or it took too long. Sign in again."),
        400,
    ),
    "callback-invalid": (
        gettext_lazy("This sign-in did not start here"),
        gettext_lazy(
            "This answer from the sign-in service does not belong to a sign-in started in this browser, or it was "
            "used already (a page reloaded or opened twice). Sign in again."
        ),
        400,
    ),
    "token-expired": (
        gettext_lazy("The sign-in answer had expired"),
        gettext_lazy(
            "The sign-in service's answer was too old for Baloo to accept. Sign in again; if this happens every time, "
            "the clock of Baloo's server or of the sign-in service is wrong: tell your community's Baloo administrators."
        ),
        400,
    ),
    "token-early": (
        gettext_lazy("The clocks disagree"),
        gettext_lazy(
            "The sign-in service's answer is dated in the future, so the clock of Baloo's server or of the sign-in "
            "service is wrong. Tell your community's Baloo administrators; signing in again will not help until it is fixed."
        ),
        400,
    ),
    "token-invalid": (
        gettext_lazy("The sign-in answer could not be trusted"),
        gettext_lazy(
            "The sign-in service's answer was not meant for Baloo, not from the expected service, or not signed with "
            "its key, so Baloo did not accept it. Tell your community's Baloo administrators: their logs say what was wrong."
        ),
        400,
    ),
    "session-ended": (
        gettext_lazy("Your sign-in has ended"),
        gettext_lazy("You are no longer signed in at the sign-in service, so Baloo signed you out too. Sign in again to go on."),
        401,
    ),
    "provider-error": (
        gettext_lazy("You were not signed in"),
        gettext_lazy("The sign-in service did not sign you in (it answered “%(error)s”). If you cancelled, that is all; otherwise sign in again."),
        401,
    ),
}

# Why Baloo's rules did not let a person in, and what they can do about it.
REFUSALS = {
    "no-email": gettext_lazy(
        "The sign-in service did not tell Baloo your e-mail address, and Baloo needs it to know who you are. Allow "
        "sharing your e-mail address with Baloo at the sign-in service (or ask its administrators to), then sign in again."
    ),
    "unusable-email": gettext_lazy(
        "The sign-in service sent Baloo an e-mail address it cannot use (not one address, too long, or holding "
        "characters no address holds), so Baloo cannot tell who you are. Tell your community's Baloo administrators: "
        "the sign-in service's settings for Baloo need a look."
    ),
    "unverified-email": gettext_lazy(
        "Your e-mail address %(email)s is not verified at the sign-in service yet. Verify it there (look for its "
        "confirmation e-mail), then sign in again."
    ),
    "not-allowed": gettext_lazy(
        "Baloo lets in people whose address is in one of the community's e-mail domains, people in a group that "
        "gives them a role in Baloo, and, where the community allows it, people Baloo already knows as contributors. "
        "%(email)s is none of these. If you contribute under another address, sign in with that one; otherwise ask "
        "your community's Baloo administrators."
    ),
    "deactivated": gettext_lazy(
        "Your Baloo account (%(email)s) is deactivated. Ask your community's Baloo administrators if you think this is a mistake."
    ),
    "several-users": gettext_lazy(
        "More than one Baloo account has the address %(email)s, so Baloo cannot tell which one is yours. Ask your "
        "community's Baloo administrators to remove the extra one."
    ),
}
REFUSED_WITHOUT_REASON = gettext_lazy(
    "The sign-in did not go through: your account may not be allowed to use Baloo yet, or the "
    "sign-in took too long. If you think you should have access, ask your community's Baloo administrators."
)
REFUSAL_SESSION_KEY = "oidc_refusal"


def _sign_in_url(next_url: str = "") -> str:
    url = reverse("oidc_authentication_init")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _problem(
    request: HttpRequest, *, title: Any, message: Any, status: int, params: dict | None = None, sign_in: bool = True
) -> HttpResponse:
    """A page for a sign-in that did not go through, on the public site's layout, in the person's language.

    `title` and `message` may be lazy: they are translated here, in the person's language.
    """
    with _their_language(request):
        context = {
            "title": str(title),
            "message": str(message) % params if params else str(message),
            "sign_in_url": _sign_in_url() if sign_in and oidc_enabled() else "",
        }
        return render(request, "accounts/sign_in_problem.html", context, status=status)


def _their_language(request: HttpRequest) -> translation.override:
    """The person's language (URL prefix, cookie, then browser), for pages under /oidc/.

    /oidc/ has no language prefix, where the locale middleware always picks the default language;
    the rate limit answers before that middleware runs at all.
    """
    return translation.override(translation.get_language_from_request(request, check_path=True))


def sign_in_failed(request: HttpRequest, failure: SignInFailed) -> HttpResponse:
    """The page for a failed sign-in; the detail goes to the operators' log only."""
    logger.warning("single sign-on failed (%s): %s", failure.reason, failure.detail or "no detail")
    title, message, status = FAILURES.get(failure.reason, FAILURES["callback-invalid"])
    return _problem(request, title=title, message=message, status=status)


class OIDCAuthenticationRequestView(BaseAuthenticationRequestView):
    """Starts the code flow (state, nonce) at the provider's authorization endpoint, found by discovery if needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The parent reads the endpoint here; ours may come from the discovery document, read when used.
        super(BaseAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc_enabled():
            raise Http404
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        except SignInFailed as failure:
            return sign_in_failed(request, failure)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class OIDCCallbackView(BaseCallbackView):
    """Where the provider sends the browser back: signs the person in, or says kindly why not."""

    def get(self, request: HttpRequest) -> HttpResponse:
        error = request.GET.get("error")
        if error:
            # The parent forgets the state and ends any Baloo session: a provider that says no is obeyed.
            super().get(request)
            code = re.sub(r"[^a-z_]", "", error.lower())[:50]
            logger.info("single sign-on: the provider answered %s", code)
            if code in ("login_required", "interaction_required", "consent_required", "account_selection_required"):
                title, message, status = FAILURES["session-ended"]
                return _problem(request, title=title, message=message, status=status)
            title, message, status = FAILURES["provider-error"]
            return _problem(request, title=title, message=message, params={"error": code}, status=status)
        try:
            return super().get(request)
        except SignInRefused as refusal:
            # A session being checked again ends: what it was allowed before no longer holds.
            auth.logout(request)
            request.session[REFUSAL_SESSION_KEY] = {"reason": refusal.reason, "email": refusal.email[:320]}
            return HttpResponseRedirect(self.failure_url)
        except SignInFailed as failure:
            if failure.reason not in ("callback-invalid", "provider-unreachable"):
                # The check failed on the provider's own answer: a session being checked is not kept.
                # (An outage leaves the check due, so the next request tries again and trusts nothing meanwhile.)
                auth.logout(request)
            return sign_in_failed(request, failure)
        except SuspiciousOperation as exc:  # the state: unknown to this browser, or used already
            return sign_in_failed(request, SignInFailed("callback-invalid", str(exc)))

    def login_failure(self) -> HttpResponse:
        # No sign-in in progress in this browser, or no code: nothing Baloo's rules decided.
        return sign_in_failed(self.request, SignInFailed("callback-invalid", "no sign-in in progress, or no code"))


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return wanted
    return reverse("admin:index")


def _message(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    return render(request, "accounts/message.html", {**admin.site.each_context(request), "title": title, "message": message}, status=status)


@never_cache
@csrf_protect
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login page, in place of Django's own.

    With single sign-on and no password sign-in (production), it sends people to the provider.
    With both (development with a provider), it shows the password form and a single sign-on button.
    """
    next_url = _next_url(request)
    user = request.user
    if user.is_authenticated and user.is_active and user.is_staff:
        return HttpResponseRedirect(next_url)
    sso = oidc_enabled()
    sso_url = f"{reverse('oidc_authentication_init')}?{urlencode({'next': next_url})}" if sso else ""
    if user.is_authenticated and not settings.BALOO_PASSWORD_LOGIN:
        # Signing in again would give the same roles: say so rather than loop through the provider.
        return _message(
            request,
            title=_("No access to the admin"),
            message=_("You are signed in as %(user)s, but your roles do not include the admin. Ask an administrator if you need it.")
            % {"user": user.get_username()},
            status=403,
        )
    if not settings.BALOO_PASSWORD_LOGIN:
        if sso:
            return HttpResponseRedirect(sso_url)
        return _message(
            request,
            title=_("Sign-in is not set up"),
            message=_("Single sign-on is not configured and password sign-in is off. Set the OIDC_* settings (see the README)."),
            status=503,
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Log in"),
        "subtitle": None,
        "app_path": request.get_full_path(),
        "username": user.get_username(),
        REDIRECT_FIELD_NAME: next_url,
        "sso_url": sso_url,
    }
    return LoginView.as_view(
        authentication_form=AdminAuthenticationForm, extra_context=context, template_name="accounts/admin_login.html"
    )(request)


@never_cache
@csrf_protect
def sign_in(request: HttpRequest) -> HttpResponse:
    """The contributors' password sign-in, in development only (`local_sign_in_enabled`): anyone
    with an active account, staff or not, so the demo's contributor login opens "my contributions".
    With single sign-on, or in production, the page does not exist."""
    if not local_sign_in_enabled():
        raise Http404
    wanted = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    safe = url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    next_url = wanted if safe else reverse("contributors:my-contributions")
    return LoginView.as_view(
        authentication_form=AuthenticationForm,
        template_name="accounts/sign_in.html",
        extra_context={REDIRECT_FIELD_NAME: next_url},
        redirect_authenticated_user=True,
        next_page=next_url,
    )(request)


@never_cache
@require_http_methods(["GET", "POST"])
def sign_out(request: HttpRequest) -> HttpResponse:
    """Sign out, for everyone: GET asks to confirm (a link cannot sign anyone out), POST signs out.

    A single sign-on session also ends at the provider when it has an end-session endpoint; the
    POST is CSRF-checked like every form.
    """
    if request.method == "GET":
        with _their_language(request):
            return render(request, "accounts/sign_out.html")
    after = settings.LOGOUT_REDIRECT_URL or "/"
    if request.user.is_authenticated:
        if oidc_enabled() and request.session.get(BACKEND_SESSION_KEY, "").endswith("OIDCBackend"):
            after = oidc.provider_logout_url(request)
        auth.logout(request)
    return HttpResponseRedirect(after)


def sign_in_refused(request: HttpRequest) -> HttpResponse:
    """Where the provider's answer lands when Baloo's rules did not let the person in: it says why."""
    refusal = request.session.pop(REFUSAL_SESSION_KEY, None) or {}
    message = REFUSALS.get(str(refusal.get("reason", "")), REFUSED_WITHOUT_REASON)
    params = {"email": refusal.get("email") or gettext_lazy("your address")}
    return _problem(request, title=gettext_lazy("Sign-in refused"), message=message, params=params, status=403)


def login_throttled(request: HttpRequest, *, retry_after: int) -> HttpResponse:
    """The password form's answer once too many passwords were tried from one address."""
    response = _problem(
        request,
        title=gettext_lazy("Too many sign-in attempts"),
        message=ngettext_lazy(
            "Too many passwords were tried from your address in a short time. Wait %(seconds)s second, then try again.",
            "Too many passwords were tried from your address in a short time. Wait %(seconds)s seconds, then try again.",
            retry_after,
        ),
        params={"seconds": retry_after},
        status=429,
        sign_in=False,
    )
    response["Retry-After"] = str(retry_after)
    return response


# The admin's "Log out" (a POST form) and a typed /admin/logout/ are the same sign-out as everyone's.
admin_logout = sign_out
