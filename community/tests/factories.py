"""Test data for the community and contributor pages: integration requests, users, activities."""

import itertools
from typing import Any

import factory
from django.contrib.auth import get_user_model

from activities.services import activities_ingest

from ..models import IntegrationRequest

_ids = itertools.count(1)


class IntegrationRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntegrationRequest

    system = factory.Sequence(lambda n: f"System {n}")
    what_counts = "Posting answers"
    contact = factory.Sequence(lambda n: f"asker{n}@example.org")


class UserFactory(factory.django.DjangoModelFactory):
    """A signed-in contributor: single sign-on gives Baloo users a verified e-mail."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.LazyAttribute(lambda user: user.email)
    email = factory.Sequence(lambda n: f"user{n}@example.org")
    first_name = "Ann"


def record(
    source: str,
    actor: dict[str, Any],
    type_: str = "github.comment.created",
    when: str = "2025-03-01T10:00:00Z",
    **extra: Any,
) -> dict[str, Any]:
    """One activity record of the common schema (CONTRACTS.md §1); a GitHub comment unless `type_` says."""
    return {
        "source": source,
        "external_id": f"x{next(_ids)}",
        "type": type_,
        "occurred_at": when,
        "actor": actor,
        **extra,
    }


def ingest(*records: dict[str, Any]) -> None:
    """Store records through the one ingestion path, resolving identities as a sync would."""
    result = activities_ingest(records=enumerate(records))
    assert not result.rejected, result.rejected
