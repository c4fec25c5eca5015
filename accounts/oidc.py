"""The OpenID Connect provider's endpoints: set one by one, or read from its discovery document.

mozilla-django-oidc reads each endpoint from a setting. Baloo also accepts only the issuer
(`OIDC_OP_ISSUER`): the endpoints are then read from `<issuer>/.well-known/openid-configuration`
the first time they are needed and kept for an hour. An endpoint set explicitly always wins.
"""

import threading
import time
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

# Setting name → the discovery document's key.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_TTL_SECONDS = 3600

_cache: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def oidc_enabled() -> bool:
    """Single sign-on is on when a client id and the provider (issuer or endpoints) are configured."""
    return bool(
        getattr(settings, "OIDC_RP_CLIENT_ID", "")
        and (getattr(settings, "OIDC_OP_ISSUER", "") or getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", ""))
    )


def discovery_document(issuer: str) -> dict:
    """The provider's discovery document (cached), checked to be for this issuer."""
    issuer = issuer.rstrip("/")
    with _lock:
        cached = _cache.get(issuer)
        if cached and cached[0] > time.monotonic():
            return cached[1]
    response = requests.get(
        f"{issuer}/.well-known/openid-configuration",
        timeout=getattr(settings, "OIDC_TIMEOUT", None) or 10,
        verify=getattr(settings, "OIDC_VERIFY_SSL", True),
    )
    response.raise_for_status()
    document = response.json()
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise ImproperlyConfigured(f"The discovery document at {issuer} names another issuer: {document.get('issuer')!r}.")
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

    mozilla-django-oidc calls this (`OIDC_OP_LOGOUT_URL_METHOD`) before ending the Baloo session,
    so the id token is still in the session to tell the provider whose session to end.
    """
    after = request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL or "/")
    end_session = endpoint("OIDC_OP_LOGOUT_ENDPOINT")
    if not end_session:
        return after
    params = {"post_logout_redirect_uri": after, "client_id": settings.OIDC_RP_CLIENT_ID}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{end_session}?{urlencode(params)}"
