"""Keeps single sign-on sessions honest: roles are re-read from the provider every few minutes.

A single sign-on session is checked with the provider once its id token is older than
`OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS` (15 minutes by default): the browser goes to the provider
silently (`prompt=none`), comes back through the callback, and the roles are applied again from
the groups the provider sends. A role removed at the provider is gone within that interval.

The staff API is held to the same interval. A browser reading the API is sent through the same
silent check; a script using a session cookie, which cannot follow the provider's redirects, is
refused with 401 and the URL that renews the session, until a browser renews it (scripts should
use an API token or the provider's access token, which are checked on every request). Re-reading
the roles from the provider's userinfo instead would need an access token that outlives the
interval, which providers do not promise, so the silent check is the one mechanism for both.

When the provider cannot be reached for a check that is due, the session is not trusted: the
request goes on as an anonymous one (public pages still work, private ones ask to sign in, which
says the provider is down), and the session is checked again once the provider answers.
"""

import logging
import time
from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh as BaseSessionRefresh

from baloo_site.sign_in import oidc_enabled

from . import oidc

logger = logging.getLogger(__name__)

STAFF_API = "/api/v1/staff/"


def _signed_in_with_sso(request: HttpRequest) -> bool:
    backend = request.session.get(BACKEND_SESSION_KEY)
    if not backend or not request.user.is_authenticated:
        return False
    try:
        return issubclass(import_string(backend), OIDCAuthenticationBackend)
    except ImportError:
        return False


def _wants_a_page(request: HttpRequest) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("Accept", "")


class SessionRefresh(BaseSessionRefresh):
    """mozilla-django-oidc's SessionRefresh, idle when single sign-on is off, covering the staff API too.

    Only sessions that signed in through the provider are checked (the parent reads the session's
    backend), so a development password sign-in, or a test's `force_login`, is never redirected.
    """

    def __init__(self, get_response: Any) -> None:
        MiddlewareMixin.__init__(self, get_response)
        self._settings_read = False

    def _read_settings(self) -> None:
        # The parent reads its settings at start-up and fails without a provider; read them when used.
        if not self._settings_read:
            super().__init__(self.get_response)
            self._settings_read = True

    @property
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self) -> str:  # noqa: N802 - the parent's attribute name
        return oidc.endpoint("OIDC_OP_AUTHORIZATION_ENDPOINT")

    @OIDC_OP_AUTHORIZATION_ENDPOINT.setter
    def OIDC_OP_AUTHORIZATION_ENDPOINT(self, value: str) -> None:  # noqa: N802
        pass

    def process_request(self, request: HttpRequest) -> HttpResponse | None:
        if not oidc_enabled():
            return None
        self._read_settings()
        api = request.path.startswith(STAFF_API) and "HTTP_AUTHORIZATION" not in request.META
        try:
            if api and request.method != "GET" and self._check_due(request):
                return self._renew_first(request, refresh_url="")
            response = super().process_request(request)
        except oidc.SignInFailed as failure:
            logger.warning("single sign-on: a session check is due and the provider cannot be reached (%s)", failure.detail)
            request.user = AnonymousUser()
            return None
        if api and response is not None and not _wants_a_page(request):
            return self._renew_first(request, refresh_url=response.get("Location") or response.get("refresh_url") or "")
        return response

    def _check_due(self, request: HttpRequest) -> bool:
        return _signed_in_with_sso(request) and request.session.get("oidc_id_token_expiration", 0) <= time.time()

    def _renew_first(self, request: HttpRequest, *, refresh_url: str) -> JsonResponse:
        response = JsonResponse(
            {
                "detail": _(
                    "Your sign-in must be checked with the sign-in service again: open Baloo in your browser "
                    "(or the refresh_url), or use an API token."
                ),
                "refresh_url": refresh_url,
            },
            status=401,
        )
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response

    def is_refreshable_url(self, request: HttpRequest) -> bool:
        # The staff API is checked like pages; the rest of the API (public metrics, push) holds no
        # session's rights, and a check there would only make the dashboard's own requests fail.
        api = request.path.startswith("/api/")
        if api and (not request.path.startswith(STAFF_API) or "HTTP_AUTHORIZATION" in request.META):
            return False
        return super().is_refreshable_url(request)
