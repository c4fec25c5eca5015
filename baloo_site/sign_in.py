"""Whether single sign-on is configured: a settings check any app may ask (sign-in itself is `accounts`')."""

from django.conf import settings


def oidc_enabled() -> bool:
    """Single sign-on is on when a client id and the provider (issuer or endpoints) are configured."""
    return bool(
        getattr(settings, "OIDC_RP_CLIENT_ID", "")
        and (getattr(settings, "OIDC_OP_ISSUER", "") or getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", ""))
    )
