"""Writes of the accounts app: audit entries, API tokens and roles."""

import hashlib
import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from . import roles as r
from .models import ApiToken, AuthAudit

TOKEN_PREFIX = "baloo_"


def client_ip(request: HttpRequest | None) -> str | None:
    """The address the request came from (REMOTE_ADDR; a proxy in front sets it with its own headers)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *, action: str, user: AbstractBaseUser | None = None, email: str = "", details: dict | None = None,
    request: HttpRequest | None = None,
) -> AuthAudit:
    """Record one sign-in, refusal, sign-out, role change, export or token change."""
    return AuthAudit.objects.create(
        action=action,
        user=user if user is not None and user.pk else None,
        email=email or (getattr(user, "email", "") or ""),
        details=details or {},
        ip=client_ip(request),
    )


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(
    *, user: AbstractBaseUser, name: str, expires_at: datetime | None = None, by: AbstractBaseUser | None = None
) -> tuple[ApiToken, str]:
    """Create a staff API token for `user`; returns it and its secret, which is never shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=secret[: len(TOKEN_PREFIX) + 6], token_hash=token_hash(secret), expires_at=expires_at
    )
    audit_record(
        action=AuthAudit.Action.TOKEN_CREATED, user=by or user, details={"token": token.pk, "for_user": user.pk, "name": name}
    )
    return token, secret


def api_token_revoke(*, token: ApiToken, by: AbstractBaseUser | None = None) -> ApiToken:
    """Refuse a token from now on (kept, so the audit still names it)."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(action=AuthAudit.Action.TOKEN_REVOKED, user=by or token.user, details={"token": token.pk, "for_user": token.user_id})
    return token


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The live token with this secret, its last use noted (at most once a minute), or None."""
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(secret), revoked_at__isnull=True).first()
    now = timezone.now()
    if token is None or (token.expires_at and token.expires_at <= now) or not token.user.is_active:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        token.last_used_at = now
        token.save(update_fields=["last_used_at"])
    return token


@transaction.atomic
def user_roles_apply(*, user: AbstractBaseUser, roles: set[str], request: HttpRequest | None = None) -> bool:
    """Give `user` exactly these roles (flags and managed groups); audit and return whether anything changed.

    Administrators are superusers; staff and community builders get the admin (is_staff) through
    their group's permissions; contributors get neither.
    """
    before = r.roles_of(user)
    is_superuser = r.ADMIN in roles
    is_staff = bool(roles & {r.ADMIN, r.STAFF, r.BUILDER})
    fields = [name for name, value in (("is_superuser", is_superuser), ("is_staff", is_staff)) if getattr(user, name) != value]
    for name in fields:
        setattr(user, name, not getattr(user, name))
    if fields:
        user.save(update_fields=fields)
    groups = {group.name: group for group in Group.objects.filter(name__in=r.MANAGED_GROUPS.values())}
    if len(groups) < len(r.MANAGED_GROUPS):
        groups = r.role_groups_ensure()
    wanted = {name for role, name in r.MANAGED_GROUPS.items() if role in roles}
    user.groups.remove(*[group for name, group in groups.items() if name not in wanted])
    user.groups.add(*[group for name, group in groups.items() if name in wanted])
    after = r.roles_of(user)
    if after != before or fields:
        audit_record(
            action=AuthAudit.Action.ROLE_CHANGE,
            user=user,
            details={"before": sorted(before), "after": sorted(after), "source": "sign-in claims"},
            request=request,
        )
        return True
    return False
