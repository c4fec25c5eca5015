"""Keeps single sign-on sessions honest: an expired id token is renewed silently with the provider."""

from typing import Any

from django.utils.deprecation import MiddlewareMixin
from mozilla_django_oidc.middleware import SessionRefresh as BaseSessionRefresh

from . import oidc


class SessionRefresh(BaseSessionRefresh):
    """mozilla-django-oidc's SessionRefresh, idle when single sign-on is off.

    Only sessions that signed in through the provider are refreshed (the parent checks the session's
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

    def process_request(self, request: Any):
        if not oidc.oidc_enabled():
            return None
        self._read_settings()
        return super().process_request(request)

    def is_refreshable_url(self, request: Any) -> bool:
        # API clients cannot follow a redirect to the provider; an API session simply lasts its age.
        return not request.path.startswith("/api/") and super().is_refreshable_url(request)
