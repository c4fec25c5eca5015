"""Sign-ins, sign-outs and area owner changes are audited however they happen (SSO, password, admin)."""

from typing import Any

from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from conversion_points.models import Area

from .models import AuthAudit
from .services import audit_record


def _method(request: Any) -> str:
    backend = request.session.get(BACKEND_SESSION_KEY, "") if request is not None and hasattr(request, "session") else ""
    return "sso" if backend.endswith("OIDCBackend") else "password"


@receiver(user_logged_in, dispatch_uid="accounts_audit_login")
def _audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action=AuthAudit.Action.LOGIN, user=user, details={"method": _method(request)}, request=request)


@receiver(user_logged_out, dispatch_uid="accounts_audit_logout")
def _audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action=AuthAudit.Action.LOGOUT, user=user, request=request)


@receiver(user_login_failed, dispatch_uid="accounts_audit_login_failed")
def _audit_login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # Only password attempts reach here with a user name; SSO refusals are audited by the backend.
    username = str(credentials.get("username") or "")
    if username:
        audit_record(action=AuthAudit.Action.LOGIN_REFUSED, email=username, details={"method": "password"}, request=request)


@receiver(m2m_changed, sender=Area.owners.through, dispatch_uid="accounts_audit_area_owners")
def _audit_area_owners(sender: Any, instance: Any, action: str, pk_set: set | None, reverse: bool, **kwargs: Any) -> None:
    if action not in ("post_add", "post_remove", "post_clear") or reverse:
        return
    audit_record(
        action=AuthAudit.Action.AREA_OWNERS,
        details={"area": instance.slug, "change": action.removeprefix("post_"), "users": sorted(pk_set or [])},
    )
