"""Writes of the community app: integration requests."""

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import IntegrationRequest


def integration_request_create(
    *, system: str, what_counts: str, contact: str, url: str = "", by: AbstractBaseUser | None = None
) -> IntegrationRequest:
    """Store a request for a new integration; the team reviews it in the admin."""
    return IntegrationRequest.objects.create(
        system=system.strip(),
        url=url.strip(),
        what_counts=what_counts.strip(),
        contact=contact.strip(),
        requested_by=by if by is not None and by.is_authenticated else None,
    )


def integration_requests_set_status(*, requests: QuerySet[IntegrationRequest], status: str) -> int:
    """Move requests to a status (an admin action)."""
    return requests.update(status=status)
