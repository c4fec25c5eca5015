"""Who is signing in: OpenID Connect single sign-on, password sign-in for development, API tokens.

- `OIDCBackend` signs people in through the provider (mozilla-django-oidc's code flow): the id
  token must be RS256-signed by the provider's key, for Baloo (`aud`), from the issuer (`iss`),
  and current (`exp`, `iat`, within `OIDC_CLOCK_LEEWAY_SECONDS`); a user is matched by verified
  e-mail, case-insensitively; a new user is created only when the provider says they may use
  Baloo (an allowed e-mail domain or a group mapped to a role) or, where
  `OIDC_ALLOW_KNOWN_CONTRIBUTORS` is on, when Baloo already knows the address as a contributor's;
  roles follow the group claim on every sign-in and every session check. Anything that goes wrong
  raises `oidc.SignInFailed` (or `SignInRefused`) naming the reason the person is shown.
- `PasswordBackend` is Django's own, refused unless `BALOO_PASSWORD_LOGIN` allows it; it also
  answers permission checks for everyone, however they signed in.
- `ApiTokenAuthentication` and `OIDCBearerAuthentication` authenticate the staff API.
"""

import logging
import re
from datetime import timedelta
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone
from django.utils.encoding import smart_str
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from mozilla_django_oidc.auth import OIDCAuthenticationBackend, default_username_algo
from mozilla_django_oidc.contrib.drf import OIDCAuthentication
from rest_framework import authentication, exceptions, status

from activities.keys import sign_in_email_key
from baloo_site.emails import email_lowercase
from baloo_site.sign_in import oidc_enabled
from contributors.models import Identity
from contributors.placeholders import counted
from contributors.services import excluded_values

from . import oidc
from .models import AuthAudit
from .oidc import SignInFailed, SignInRefused
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


# Control characters (NUL among them, which PostgreSQL refuses to store) are no part of an address
# or a name.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _unusable_email(value: object, *, max_length: int) -> str:
    """Why the provider's `email` claim cannot be anyone's address in Baloo, or "" when it can be:
    one text, within the user's e-mail column, with something on each side of its last `@`, and no
    spaces or control characters."""
    if not isinstance(value, str):
        return f"the e-mail claim is {type(value).__name__}, not text"
    email = value.strip()
    if len(email) > max_length:
        return f"the e-mail address is {len(email)} characters long; the limit is {max_length}"
    if CONTROL_CHARACTERS.search(email) or any(char.isspace() for char in email):
        return "the e-mail address holds control characters or spaces"
    local, _, domain = email.rpartition("@")
    if not local or not domain:
        return "the e-mail address has no local part or no domain"
    return ""


def _provider_failure(exc: Exception, *, where: str) -> SignInFailed:
    """A failed call to the provider as a reason: a 4xx is the provider saying no, anything else an outage."""
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(exc, requests.HTTPError) and code is not None and 400 <= code < 500:
        reason = "code-rejected" if where == "token" else "token-invalid"
        return SignInFailed(reason, f"{where} endpoint answered {code}")
    return SignInFailed("provider-unreachable", f"{where} endpoint: {str(exc)[:300]}")


def is_known_contributor(email: str) -> bool:
    """Whether Baloo holds a person's e-mail identity for this address (one not forgotten, not a shared address)."""
    key = sign_in_email_key(email)
    if key is None:
        return False
    kind, namespace, value = key
    if (kind, value) in excluded_values():
        return False
    return Identity.objects.by_key(key).filter(counted("person")).exists()


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
        if not oidc_enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id: int):
        # The parent returns inactive users too; a deactivated user's session must end.
        return ModelBackend.get_user(self, user_id)

    def _refuse(self, claims: dict, reason: str, detail: str) -> None:
        # Recorded as far as it can be: the claims are the provider's, whatever they hold.
        email = claims.get("email")
        email = CONTROL_CHARACTERS.sub("", email)[:320] if isinstance(email, str) else ""
        groups = sorted(CONTROL_CHARACTERS.sub("", group)[:200] for group in claim_groups(claims))
        audit_record(
            action=AuthAudit.Action.LOGIN_REFUSED,
            email=email,
            details={"reason": detail, "groups": groups},
            request=getattr(self, "request", None),
        )
        logger.info("single sign-on refused %s: %s", email or "a person without an e-mail", detail)
        raise SignInRefused(reason, detail, email=email)

    def get_token(self, payload: dict) -> dict:
        try:
            token_info = super().get_token(payload)
        except (requests.RequestException, ValueError) as exc:
            raise _provider_failure(exc, where="token") from exc
        if not isinstance(token_info, dict):
            raise SignInFailed("provider-unreachable", "the token endpoint answered something other than a JSON object")
        return token_info

    def get_userinfo(self, access_token: str, id_token: str | None, payload: dict | None) -> dict:
        try:
            claims = super().get_userinfo(access_token, id_token, payload)
        except (requests.RequestException, ValueError) as exc:
            raise _provider_failure(exc, where="userinfo") from exc
        if not isinstance(claims, dict):
            raise SignInFailed("provider-unreachable", "userinfo is not a JSON object")
        # The userinfo answer must be about the person the id token names (OpenID Connect Core 5.3.2).
        if payload is not None and str(claims.get("sub")) != str(payload.get("sub")):
            raise SignInFailed("token-invalid", "userinfo names another subject than the id token")
        return claims

    def retrieve_matching_jwk(self, token: str) -> jwt.PyJWK:
        """The provider's published key that signed `token`: by `kid`, or its only key of that algorithm.

        Some providers leave `kid` out when they publish one key; with several candidates and no
        `kid`, there is no telling which signed the token, and it is refused.
        """
        try:
            response = requests.get(
                self.OIDC_OP_JWKS_ENDPOINT,
                verify=self.get_settings("OIDC_VERIFY_SSL", True),
                timeout=self.get_settings("OIDC_TIMEOUT", None),
                proxies=self.get_settings("OIDC_PROXY", None),
            )
            response.raise_for_status()
            keys = response.json()["keys"]
            header = jwt.get_unverified_header(token)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            raise _provider_failure(exc, where="jwks") from exc
        except jwt.PyJWTError as exc:
            raise SignInFailed("token-invalid", f"unreadable id token header: {exc}") from exc
        alg, kid = smart_str(header.get("alg", "")), header.get("kid")
        candidates = [
            key for key in keys
            if isinstance(key, dict) and key.get("alg", alg) == alg and key.get("use", "sig") == "sig"
            and (kid is None or key.get("kid") == smart_str(kid))
        ]
        if len(candidates) != 1:
            found = "no published key" if not candidates else "several published keys and no kid"
            raise SignInFailed("token-invalid", f"{found} for the id token (kid {kid!r}, alg {alg!r})")
        try:
            return jwt.PyJWK(candidates[0])
        except jwt.PyJWTError as exc:
            raise SignInFailed("token-invalid", f"the provider's key cannot be used: {exc}") from exc

    def _verify_jws(self, payload: str, key: Any) -> dict:
        """The id token's claims, once its signature, algorithm, audience, issuer and times are checked."""
        try:
            alg = jwt.get_unverified_header(payload).get("alg")
        except jwt.PyJWTError as exc:
            raise SignInFailed("token-invalid", f"unreadable id token: {exc}") from exc
        if alg != self.OIDC_RP_SIGN_ALGO:
            raise SignInFailed("token-invalid", f"id token signed with {alg!r}, not {self.OIDC_RP_SIGN_ALGO}")
        try:
            claims = jwt.decode(
                payload, key, algorithms=[alg], audience=self.OIDC_RP_CLIENT_ID,
                leeway=settings.OIDC_CLOCK_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_iss": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise SignInFailed("token-expired", str(exc)) from exc
        except jwt.ImmatureSignatureError as exc:
            raise SignInFailed("token-early", str(exc)) from exc
        except jwt.PyJWTError as exc:
            raise SignInFailed("token-invalid", str(exc)) from exc
        issuer = str(getattr(settings, "OIDC_OP_ISSUER", "") or "").rstrip("/")
        # The issuer as configured; a provider set up by endpoints alone names no issuer to compare.
        if issuer and str(claims.get("iss", "")).rstrip("/") != issuer:
            raise SignInFailed("token-invalid", f"id token from issuer {str(claims.get('iss'))[:200]!r}, not {issuer!r}")
        return claims

    def verify_token(self, token: str, **kwargs: Any) -> dict:
        if not token:
            raise SignInFailed("token-invalid", "the provider sent no id token")
        try:
            claims = super().verify_token(token, **kwargs)
        except SuspiciousOperation as exc:  # the nonce: this answer belongs to another sign-in
            raise SignInFailed("callback-invalid", str(exc)) from exc
        if not isinstance(claims, dict):
            raise SignInFailed("token-invalid", "the id token holds no claims")
        return claims

    def verify_claims(self, claims: dict) -> bool:
        if claims.get("email") in (None, ""):
            self._refuse(claims, "no-email", "the provider sent no e-mail address")
        unusable = _unusable_email(claims["email"], max_length=self.UserModel._meta.get_field("email").max_length)
        if unusable:
            self._refuse(claims, "unusable-email", unusable)
        claims["email"] = claims["email"].strip()
        if settings.OIDC_REQUIRE_VERIFIED_EMAIL and not _truthy(claims.get("email_verified")):
            self._refuse(claims, "unverified-email", "the provider has not verified this e-mail address")
        return True

    def may_create(self, claims: dict) -> bool:
        """A new user only when their e-mail domain is allowed, they hold a group mapped to a role, or
        (with `OIDC_ALLOW_KNOWN_CONTRIBUTORS`) Baloo knows their verified address as a contributor's."""
        # In lower case, as e-mail keys are: case-folded, `straße.example` would pass for `strasse.example`.
        domain = email_lowercase(claims["email"].rsplit("@", 1)[-1])
        allowed = {email_lowercase(d.strip().lstrip("@")) for d in settings.OIDC_ALLOWED_EMAIL_DOMAINS if d.strip()}
        mapped = set().union(*role_mapping().values())
        if domain in allowed or claim_groups(claims) & mapped:
            return True
        # A verified address only: verify_claims has refused an unverified one when verification is
        # required; where it is not, an unverified address never stands for a contributor.
        return bool(
            settings.OIDC_ALLOW_KNOWN_CONTRIBUTORS
            and _truthy(claims.get("email_verified"))
            and is_known_contributor(claims["email"])
        )

    def get_or_create_user(self, access_token: str, id_token: str | None, payload: dict | None):
        claims = self.get_userinfo(access_token, id_token, payload)
        self.verify_claims(claims)
        users = list(self.filter_users_by_claims(claims)[:2])
        if len(users) > 1:
            self._refuse(claims, "several-users", "several Baloo users have this e-mail address")
        if not users:
            return self.create_user(claims)
        if not users[0].is_active:
            self._refuse(claims, "deactivated", "this account is deactivated")
        return self.update_user(users[0], claims)

    def get_username(self, claims: dict) -> str:
        # The e-mail reads well in the admin; the parent's hash is kept for the rare clash.
        email = claims["email"].lower()[:150]
        if not self.UserModel.objects.filter(username=email).exists():
            return email
        return default_username_algo(email, claims)

    def _names(self, claims: dict) -> dict[str, str]:
        """The person's names as the provider gives them, without control characters, cut to fit."""

        def text(claim: str, field: str) -> str:
            value = claims.get(claim)
            if not isinstance(value, str):
                return ""
            return CONTROL_CHARACTERS.sub("", value).strip()[: self.UserModel._meta.get_field(field).max_length]

        first, last = text("given_name", "first_name"), text("family_name", "last_name")
        if not first and not last:
            first = text("name", "first_name")
        return {"first_name": first, "last_name": last}

    def create_user(self, claims: dict):
        if not self.may_create(claims):
            self._refuse(claims, "not-allowed", "neither the e-mail domain, a group nor known contributions let this person in")
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


def roles_confirmed_recently(user: Any) -> bool:
    """Whether the provider confirmed `user`'s roles (at a sign-in or a session check, both of which
    set `last_login`) within BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS. Roles live at the provider: a token
    must not keep the rights of someone demoted there who simply never signs in again."""
    days = settings.BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS
    if not oidc_enabled() or not days:
        return True
    return user.last_login is not None and user.last_login >= timezone.now() - timedelta(days=days)


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
        if not roles_confirmed_recently(token.user):
            days = settings.BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS
            raise exceptions.AuthenticationFailed(
                ngettext(
                    "Your roles have not been confirmed by single sign-on for %(days)d day: sign in to Baloo "
                    "once, and this token works again.",
                    "Your roles have not been confirmed by single sign-on for %(days)d days: sign in to Baloo "
                    "once, and this token works again.",
                    days,
                )
                % {"days": days}
            )
        return token.user, token

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="api"'


class OIDCBearerAuthentication(OIDCAuthentication):
    """An access token from the OpenID Connect provider, checked at its userinfo endpoint."""

    def __init__(self, backend: OIDCAuthenticationBackend | None = None) -> None:
        # The parent looks the backend up among AUTHENTICATION_BACKENDS and fails if none is set.
        self.backend = backend or OIDCBackend()

    def authenticate(self, request: Any):
        if not oidc_enabled():
            return None
        token = self.get_access_token(request)
        if not token or token.startswith(TOKEN_PREFIX):
            return None
        self.backend.request = request
        try:
            return super().authenticate(request)
        except SignInFailed as exc:
            if exc.reason == "provider-unreachable":
                raise ProviderUnavailable() from exc
            raise exceptions.AuthenticationFailed(_("This access token is not accepted: %(reason)s.") % {"reason": exc.reason}) from exc


class ProviderUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The sign-in service cannot be reached to check this access token. Try again in a few minutes.")
    default_code = "provider_unavailable"
