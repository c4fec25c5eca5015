"""Whether single sign-on is configured, and whether the development sign-in for contributors is on:
settings checks any app may ask (sign-in itself is `accounts`')."""

from django.conf import settings


def oidc_enabled() -> bool:
    """Single sign-on is on when a client id and the provider (issuer or endpoints) are configured."""
    return bool(
        getattr(settings, "OIDC_RP_CLIENT_ID", "")
        and (getattr(settings, "OIDC_OP_ISSUER", "") or getattr(settings, "OIDC_OP_AUTHORIZATION_ENDPOINT", ""))
    )


def local_sign_in_enabled() -> bool:
    """Contributors may sign in with a user name and password on Baloo's own page: in development
    only — `DEBUG` on, password sign-in allowed and no single sign-on configured — so that someone
    trying the demo can see "my contributions". Never in production, where contributors use SSO."""
    return bool(settings.DEBUG and settings.BALOO_PASSWORD_LOGIN and not oidc_enabled())
