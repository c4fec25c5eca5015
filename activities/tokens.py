"""Writes about push API tokens: created (shown once), checked, revoked. Only a hash is stored."""

import hashlib
import secrets

from django.utils import timezone

from .models import Source, SourceToken

TOKEN_PREFIX = "baloo_"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_secret(authorization: str) -> str:
    """The secret in an `Authorization: Bearer <token>` header (or `token <token>`), the scheme in
    any case and any whitespace around; empty when there is none. Rate limits key on the same answer."""
    parts = authorization.split(None, 1)
    return parts[1].strip() if len(parts) == 2 and parts[0].lower() in ("bearer", "token") else ""


def source_token_create(*, source: Source, name: str) -> tuple[SourceToken, str]:
    """A new token for pushing activities to `source`; the secret is returned here and never again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = SourceToken.objects.create(source=source, name=name, prefix=secret[: len(TOKEN_PREFIX) + 6], token_hash=_hash(secret))
    return token, secret


def source_token_authenticate(*, secret: str) -> SourceToken | None:
    """The live token matching `secret`, or None. Looked up by hash, so no secret is ever compared."""
    if not secret:
        return None
    token = SourceToken.objects.select_related("source").filter(token_hash=_hash(secret), revoked_at__isnull=True).first()
    if token is not None:
        SourceToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


def source_token_revoke(*, token: SourceToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
