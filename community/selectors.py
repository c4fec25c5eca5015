"""Reads of the community app."""

from django.db.models import QuerySet

from .models import IntegrationRequest


def integration_requests_public() -> QuerySet[IntegrationRequest]:
    """Requested and planned integrations as the public list shows them: newest first, no contact."""
    return IntegrationRequest.objects.public().only(
        "system", "url", "what_counts", "status", "public_note", "created_at"
    )
