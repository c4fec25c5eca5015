"""A placeholder account (Kitsune's shared accounts, Bugzilla's nobody, GitHub's ghost) is no human:
it merges with nobody, in bulk as one by one, and no suggestion about it stays to review
(docs/identity.md, *Placeholder accounts*; issue 16, finding 5)."""

import pytest

from activities.services import activities_ingest
from activities.tests.factories import SourceFactory
from contributors.models import Identity, MergeSuggestion, PersonMerge, PlaceholderAccount
from contributors.placeholders import PlaceholderMergeError, placeholder_account_save
from contributors.services import persons_merge_groups
from contributors.suggestions.refresh import suggestions_refresh
from contributors.suggestions.review import suggestions_accept_many, suggestions_bulk_plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def helpdesk_and_ann():
    """A shared SUMO account and a human, both answering as "Ann Smith", and a suggestion made
    before staff listed the shared account as a placeholder."""
    SourceFactory(slug="sumo", kind="sumo")
    records = [
        {"source": "sumo", "external_id": external_id, "type": "sumo.answer.posted",
         "occurred_at": "2025-03-01T10:00:00Z", "actor": {"username": username, "name": "Ann Smith"}}
        for external_id, username in (("a1", "helpdesk"), ("a2", "annsmith"))
    ]
    activities_ingest(records=enumerate(records))
    helpdesk, ann = Identity.objects.get(value="helpdesk"), Identity.objects.get(value="annsmith")
    suggestion = MergeSuggestion.objects.create(identity_a=helpdesk, identity_b=ann, reason="same name", score=0.9)
    return helpdesk, ann, suggestion


def list_helpdesk():
    placeholder_account_save(account=PlaceholderAccount(source_kind="sumo", kind="username", value="helpdesk"))


def test_bulk_acceptance_leaves_a_placeholder_for_one_by_one_review(helpdesk_and_ann):
    helpdesk, ann, suggestion = helpdesk_and_ann
    PlaceholderAccount.objects.create(source_kind="sumo", kind="username", value="helpdesk")  # not via save

    plan = suggestions_bulk_plan(suggestions=[suggestion])
    assert plan.groups == [] and plan.accepted == [] and plan.left == [suggestion]

    suggestions_accept_many(suggestions=[suggestion], reason="bulk")
    helpdesk.refresh_from_db()
    ann.refresh_from_db()
    assert helpdesk.person_id != ann.person_id
    assert not PersonMerge.objects.exists()


def test_merging_groups_refuses_a_group_holding_a_placeholder(helpdesk_and_ann):
    helpdesk, ann, _suggestion = helpdesk_and_ann
    PlaceholderAccount.objects.create(source_kind="sumo", kind="username", value="helpdesk")

    with pytest.raises(PlaceholderMergeError):
        persons_merge_groups(merges=[(helpdesk.person_id, [ann.person_id])], reason="bulk")
    assert not PersonMerge.objects.exists()


def test_listing_a_placeholder_closes_the_suggestions_about_it(helpdesk_and_ann):
    _helpdesk, _ann, suggestion = helpdesk_and_ann
    list_helpdesk()
    assert not MergeSuggestion.objects.filter(pk=suggestion.pk).exists()


def test_the_suggestions_refresh_closes_those_left_open_before(helpdesk_and_ann):
    """Open at upgrade, or the account listed by another way than the admin (a Bugzilla source's
    nobody option): the nightly refresh closes them, and never makes new ones."""
    _helpdesk, _ann, suggestion = helpdesk_and_ann
    PlaceholderAccount.objects.create(source_kind="sumo", kind="username", value="helpdesk")

    suggestions_refresh()

    assert not MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN).exists()


def test_a_decided_suggestion_stays_as_history(helpdesk_and_ann):
    _helpdesk, _ann, suggestion = helpdesk_and_ann
    suggestion.status = MergeSuggestion.Status.REJECTED
    suggestion.save()
    list_helpdesk()
    assert MergeSuggestion.objects.filter(pk=suggestion.pk).exists()
