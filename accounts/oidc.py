"""The OpenID Connect provider's endpoints: set one by one, or read from its discovery document.

mozilla-django-oidc reads each endpoint from a setting. Baloo also accepts only the issuer
(`OIDC_OP_ISSUER`): the endpoints are then read from `<issuer>/.well-known/openid-configuration`
the first time they are needed and kept for an hour. An endpoint set explicitly always wins.
"""

import logging
import threading
import time
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.http import HttpRequest

from baloo_site.site_url import site_url

logger = logging.getLogger(__name__)

# Setting name → the discovery document's key.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_TTL_SECONDS = 3600


class SignInFailed(Exception):
    """A sign-in (or a session check) that could not go through; `reason` names why for the person.

    Reasons: `provider-unreachable` (the provider did not answer, or not as a provider does),
    `code-rejected` (the provider refused the one-time code: used already, or too old),
    `callback-invalid` (an answer that belongs to no sign-in started in this browser),
    `token-expired`, `token-early` (a clock out of step), `token-invalid` (not for Baloo, not from
    the issuer, or not signed with the provider's key), `provider-error` (the provider said no).
    `detail` is for operators' logs only, never shown.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class SignInRefused(SignInFailed):
    """The provider vouched for the person, and Baloo's rules do not let them in (`reason` says which)."""

    def __init__(self, reason: str, detail: str = "", email: str = "") -> None:
        super().__init__(reason, detail)
        self.email = email


_cache: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def discovery_document(issuer: str) -> dict:
    """The provider's discovery document (cached), checked to be for this issuer."""
    issuer = issuer.rstrip("/")
    with _lock:
        cached = _cache.get(issuer)
        if cached and cached[0] > time.monotonic():
            return cached[1]
    try:
        response = requests.get(
            f"{issuer}/.well-known/openid-configuration",
            timeout=getattr(settings, "OIDC_TIMEOUT", None) or 10,
            verify=getattr(settings, "OIDC_VERIFY_SSL", True),
        )
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("single sign-on: the discovery document at %s could not be read: %.300s", issuer, exc)
        raise SignInFailed("provider-unreachable", f"discovery at {issuer}: {exc}") from exc
    if not isinstance(document, dict) or str(document.get("issuer", "")).rstrip("/") != issuer:
        found = document.get("issuer") if isinstance(document, dict) else None
        logger.error("single sign-on: the discovery document at %s names another issuer: %.300r", issuer, found)
        raise SignInFailed("provider-unreachable", f"the discovery document at {issuer} names another issuer: {found!r}")
    with _lock:
        _cache[issuer] = (time.monotonic() + DISCOVERY_TTL_SECONDS, document)
    return document


def endpoint(setting: str) -> str:
    """One provider endpoint: its setting if set, else the discovery document's value ("" if none)."""
    value = getattr(settings, setting, "") or ""
    if value:
        return value
    issuer = getattr(settings, "OIDC_OP_ISSUER", "")
    if not issuer:
        return ""
    return discovery_document(issuer).get(ENDPOINTS[setting], "") or ""


def provider_logout_url(request: HttpRequest) -> str:
    """Where signing out sends the browser: the provider's end-session endpoint when it has one.

    Called before the Baloo session ends, so the id token is still in the session to tell the
    provider whose session to end. A provider that cannot be reached does not keep anyone signed
    in to Baloo: the Baloo session still ends, and the browser goes back to Baloo.
    """
    after = site_url(settings.LOGOUT_REDIRECT_URL or "/", request=request)
    try:
        end_session = endpoint("OIDC_OP_LOGOUT_ENDPOINT")
    except SignInFailed:
        return after
    if not end_session:
        return after
    params = {"post_logout_redirect_uri": after, "client_id": settings.OIDC_RP_CLIENT_ID}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{end_session}?{urlencode(params)}"
