"""Ingestion asks the resolver the setting names for identities, and nothing in activities imports it."""

import inspect

import pytest
from django.test import override_settings
from django.utils.module_loading import import_string

from activities.actors import ActorResolver, placeholder_emails
from activities.models import Activity
from activities.services import activities_ingest
from activities.tests.factories import SourceFactory
from community.tests.factories import record
from contributors.models import PlaceholderAccount
from contributors.services import ResolvedActors

pytestmark = pytest.mark.django_db


class CountingResolver(ResolvedActors):
    """The real resolver, counting what ingestion asks of it."""

    asked: list[int] = []
    stored: list[tuple] = []

    def resolve(self, signatures, actor_at):
        CountingResolver.asked.append(len(signatures))
        return super().resolve(signatures, actor_at)

    def emails_stored(self, *, seen):
        seen = list(seen)
        CountingResolver.stored.extend(seen)
        super().emails_stored(seen=seen)


def test_the_configured_resolver_answers_everything_ingestion_asks():
    resolver = import_string("contributors.services.ResolvedActors")
    for name, _member in inspect.getmembers(ActorResolver, inspect.isfunction):
        if not name.startswith("_"):
            assert callable(getattr(resolver, name)), name


@override_settings(
    BALOO_ACTOR_RESOLVER="activities.tests.test_actors.CountingResolver", STAFF_EMAIL_DOMAINS=["corp.example"]
)
def test_ingestion_resolves_actors_and_hands_over_watched_addresses_through_the_setting():
    CountingResolver.asked.clear()
    CountingResolver.stored.clear()
    SourceFactory(slug="gh")
    result = activities_ingest(
        records=enumerate([record("gh", {"email": "ann@corp.example"}), record("gh", {"username": "bob"})])
    )
    assert result.created == 2
    assert CountingResolver.asked == [2]
    assert [email for _identity, email, _moment in CountingResolver.stored] == ["ann@corp.example"]
    assert Activity.objects.filter(identity__value="ann@corp.example").count() == 1


def test_placeholder_emails_come_from_the_resolver():
    PlaceholderAccount.objects.create(source_kind="bugzilla", kind="email", value="Nobody@Mozilla.org")
    assert "nobody@mozilla.org" in placeholder_emails()
