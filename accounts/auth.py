"""Who is signing in: OpenID Connect single sign-on, password sign-in for development, API tokens.

- `OIDCBackend` signs people in through the provider (mozilla-django-oidc's code flow): a user is
  matched by verified e-mail, case-insensitively; a new user is created only when the provider says
  they may use Baloo (an allowed e-mail domain or a group mapped to a role); roles follow the group
  claim on every sign-in.
- `PasswordBackend` is Django's own, refused unless `BALOO_PASSWORD_LOGIN` allows it; it also
  answers permission checks for everyone, however they signed in.
- `ApiTokenAuthentication` and `OIDCBearerAuthentication` authenticate the staff API.
"""

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.utils.translation import gettext_lazy as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo
from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from rest_framework import authentication, exceptions

from . import oidc
from .models import AuthAudit
from .roles import claim_groups, role_mapping, roles_from_claims
from .services import TOKEN_PREFIX, api_token_authenticate, audit_record, user_roles_apply

logger = logging.getLogger(__name__)


class PasswordBackend(ModelBackend):
    """Django's user name and password sign-in, only where `BALOO_PASSWORD_LOGIN` allows it."""

    def authenticate(self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any):
        if not settings.BALOO_PASSWORD_LOGIN:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def _endpoint_property(setting: str) -> property:
    return property(lambda self: oidc.endpoint(setting))


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() == "true"


class OIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, configured lazily so Baloo runs without any provider set."""

    OIDC_OP_TOKEN_ENDPOINT = _endpoint_property("OIDC_OP_TOKEN_ENDPOINT")
    OIDC_OP_USER_ENDPOINT = _endpoint_property("OIDC_OP_USER_ENDPOINT")
    OIDC_OP_JWKS_ENDPOINT = _endpoint_property("OIDC_OP_JWKS_ENDPOINT")
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_RP_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_RP_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = property(lambda self: settings.OIDC_RP_SIGN_ALGO)
    OIDC_RP_IDP_SIGN_KEY = property(lambda self: getattr(settings, "OIDC_RP_IDP_SIGN_KEY", None) or None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The parent reads every endpoint here and fails when none is set; ours are read when used.
        from django.contrib.auth import get_user_model

        self.UserModel = get_user_model()
        self.request = None

    def authenticate(self, request: Any, **kwargs: Any):
        if not oidc.oidc_enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id: int):
        # The parent returns inactive users too; a deactivated user's session must end.
        return ModelBackend.get_user(self, user_id)

    def _refuse(self, claims: dict, reason: str) -> None:
        audit_record(
            action=AuthAudit.Action.LOGIN_REFUSED,
            email=str(claims.get("email") or ""),
            details={"reason": reason, "groups": sorted(claim_groups(claims))},
            request=getattr(self, "request", None),
        )
        raise SuspiciousOperation(f"Sign-in refused: {reason}")

    def verify_claims(self, claims: dict) -> bool:
        if not claims.get("email"):
            self._refuse(claims, "the provider sent no e-mail address")
        if settings.OIDC_REQUIRE_VERIFIED_EMAIL and not _truthy(claims.get("email_verified")):
            self._refuse(claims, "the provider has not verified this e-mail address")
        return True

    def may_create(self, claims: dict) -> bool:
        """A new user only when their e-mail domain is allowed or they hold a group mapped to a role."""
        domain = str(claims["email"]).rsplit("@", 1)[-1].casefold()
        allowed = {d.strip().casefold().lstrip("@") for d in settings.OIDC_ALLOWED_EMAIL_DOMAINS if d.strip()}
        mapped = set().union(*role_mapping().values())
        return domain in allowed or bool(claim_groups(claims) & mapped)

    def get_or_create_user(self, access_token: str, id_token: str | None, payload: dict | None):
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is not None and not user.is_active:
            self._refuse({"email": user.email}, "this account is deactivated")
        return user

    def get_username(self, claims: dict) -> str:
        # The e-mail reads well in the admin; the parent's hash is kept for the rare clash.
        email = str(claims["email"]).strip().lower()[:150]
        if not self.UserModel.objects.filter(username=email).exists():
            return email
        return default_username_algo(email, claims)

    def _names(self, claims: dict) -> dict[str, str]:
        first = str(claims.get("given_name") or "")[:150]
        last = str(claims.get("family_name") or "")[:150]
        if not first and not last and claims.get("name"):
            first = str(claims["name"])[:150]
        return {"first_name": first, "last_name": last}

    def create_user(self, claims: dict):
        if not self.may_create(claims):
            self._refuse(claims, "neither the e-mail domain nor a group allows this person to use Baloo")
        user = self.UserModel.objects.create_user(self.get_username(claims), email=claims["email"], **self._names(claims))
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user_roles_apply(user=user, roles=roles_from_claims(claims), request=self.request)
        return user

    def update_user(self, user, claims: dict):
        changed = [name for name, value in self._names(claims).items() if value and getattr(user, name) != value]
        for name in changed:
            setattr(user, name, self._names(claims)[name])
        if changed:
            user.save(update_fields=changed)
        user_roles_apply(user=user, roles=roles_from_claims(claims), request=self.request)
        return user


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Token <token>` (or `Bearer <token>` for a token starting with `baloo_`)."""

    keyword = "Token"

    def authenticate(self, request: Any):
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2:
            return None
        scheme, secret = parts[0].decode().lower(), parts[1].decode(errors="replace")
        if scheme == "bearer" and not secret.startswith(TOKEN_PREFIX):
            return None  # an OpenID Connect access token
        if scheme not in ("token", "bearer"):
            return None
        token = api_token_authenticate(secret=secret)
        if token is None:
            raise exceptions.AuthenticationFailed(_("This API token is unknown, expired or revoked."))
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class OIDCBearerAuthentication(OIDCAuthentication):
    """An access token from the OpenID Connect provider, checked at its userinfo endpoint."""

    def __init__(self, backend: OIDCAuthenticationBackend | None = None) -> None:
        # The parent looks the backend up among AUTHENTICATION_BACKENDS and fails if none is set.
        self.backend = backend or OIDCBackend()

    def authenticate(self, request: Any):
        if not oidc.oidc_enabled():
            return None
        token = self.get_access_token(request)
        if not token or token.startswith(TOKEN_PREFIX):
            return None
        self.backend.request = request
        return super().authenticate(request)
