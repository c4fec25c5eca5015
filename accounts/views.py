"""Sign-in pages: the admin's login sends people to single sign-on; password sign-in only where allowed."""

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import BACKEND_SESSION_KEY, REDIRECT_FIELD_NAME
from django.contrib.auth.views import LoginView
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from mozilla_django_oidc.views import OIDCAuthenticationRequestView as BaseAuthenticationRequestView
from mozilla_django_oidc.views import OIDCLogoutView

from . import oidc


class OIDCAuthenticationRequestView(BaseAuthenticationRequestView):
    """Starts the code flow (state, nonce) at the provider's authorization endpoint, found by discovery if needed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The parent reads the endpoint here; ours may come from the discovery document, read when used.
        super(BaseAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.oidc_enabled():
            raise Http404
        self.OIDC_OP_AUTH_ENDPOINT = oidc.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


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
    sso = oidc.oidc_enabled()
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


def admin_logout(request: HttpRequest) -> HttpResponse:
    """The admin's log out: a single sign-on session also ends at the provider."""
    if oidc.oidc_enabled() and request.session.get(BACKEND_SESSION_KEY, "").endswith("OIDCBackend"):
        return OIDCLogoutView.as_view()(request)
    return admin.site.logout(request)


def sign_in_refused(request: HttpRequest) -> HttpResponse:
    """Where the provider's answer lands when Baloo did not let the person in."""
    return _message(
        request,
        title=_("Sign-in refused"),
        message=_(
            "The sign-in did not go through: your account may not be allowed to use Baloo yet, or the "
            "sign-in took too long. If you think you should have access, ask your community's Baloo administrators."
        ),
        status=403,
    )
