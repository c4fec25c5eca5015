"""GitHub accounts: the uid is the account, and noreply addresses are their account everywhere (issue 16)."""

import pytest

from activities.tests.factories import SourceFactory
from community.tests.factories import ingest
from community.tests.factories import record as activity
from contributors.models import Identity, MergeSuggestion, Person

pytestmark = pytest.mark.django_db


def person_of(value: str, kind: str | None = None) -> Person:
    identities = Identity.objects.filter(value=value)
    if kind:
        identities = identities.filter(kind=kind)
    return identities.select_related("person").first().person


@pytest.fixture
def github():
    return SourceFactory(slug="github", kind="github", base_url="https://api.github.com")


# The uid is the account


def test_two_accounts_that_carried_the_same_login_in_one_batch_stay_two_people(github):
    ingest(
        activity("github", {"uid": "1", "username": "ann", "name": "Ann Old"}),
        activity("github", {"uid": "2", "username": "ann", "name": "Ann New"}),
    )

    assert Person.objects.count() == 2
    assert person_of("1", "uid") != person_of("2", "uid")
    assert person_of("ann", "username") == person_of("1", "uid")  # the login stays with its first account


def test_two_accounts_that_carried_the_same_login_across_two_syncs_stay_two_people(github):
    ingest(activity("github", {"uid": "1", "username": "Ann"}))
    ingest(activity("github", {"uid": "2", "username": "ann"}))
    ingest(activity("github", {"uid": "1", "username": "ann"}), activity("github", {"uid": "2", "username": "ann"}))

    assert Person.objects.count() == 2
    assert person_of("1", "uid") != person_of("2", "uid")


def test_a_reused_login_is_left_to_a_human_with_a_reason_never_merged(github):
    ingest(activity("github", {"uid": "1", "username": "ann"}))
    ingest(activity("github", {"uid": "2", "username": "ann"}))

    suggestion = MergeSuggestion.objects.get()
    assert {suggestion.identity_a.person_id, suggestion.identity_b.person_id} == {
        person_of("1", "uid").pk,
        person_of("2", "uid").pk,
    }
    assert "login" in suggestion.reason and suggestion.score < 0.5
    assert Person.objects.count() == 2


def test_a_reused_login_rejected_once_is_not_suggested_again(github):
    from contributors.suggestions import suggestion_reject

    ingest(activity("github", {"uid": "1", "username": "ann"}))
    ingest(activity("github", {"uid": "2", "username": "ann"}))
    suggestion_reject(suggestion=MergeSuggestion.objects.get())
    ingest(activity("github", {"uid": "2", "username": "ann", "email": "two@example.org"}))

    assert MergeSuggestion.objects.get().status == MergeSuggestion.Status.REJECTED


def test_a_login_that_joined_an_account_through_an_address_is_not_a_bridge_to_another_uid(github):
    ingest(
        activity("github", {"uid": "1", "email": "ann@example.org"}),
        activity("github", {"username": "ann", "email": "ann@example.org"}, "github.commit.authored"),
        activity("github", {"uid": "2", "username": "ann"}),
    )
    assert Person.objects.count() == 2
    assert person_of("ann@example.org") == person_of("1", "uid") != person_of("2", "uid")


def test_a_rename_keeps_the_uid_and_so_the_person(github):
    ingest(activity("github", {"uid": "1", "username": "ann"}))
    ingest(activity("github", {"uid": "1", "username": "ann-example"}))
    ingest(activity("github", {"username": "ann"}), activity("github", {"username": "ann-example"}))

    assert Person.objects.count() == 1
    assert set(Person.objects.get().identities.values_list("value", flat=True)) == {"1", "ann", "ann-example"}


def test_noreply_addresses_of_two_accounts_with_the_same_login_stay_two_people():
    SourceFactory(slug="git", kind="git")
    ingest(
        activity("git", {"email": "1+ann@users.noreply.github.com"}, "git.commit.authored"),
        activity("git", {"email": "2+ann@users.noreply.github.com"}, "git.commit.authored"),
    )
    assert Person.objects.count() == 2


# Noreply addresses, with no GitHub source


def test_noreply_addresses_with_and_without_the_id_are_one_person_with_only_a_git_source():
    SourceFactory(slug="git", kind="git")
    ingest(activity("git", {"email": "12345+Ann@users.noreply.github.com", "name": "Ann"}, "git.commit.authored"))
    ingest(activity("git", {"email": "ann@users.noreply.github.com", "name": "Ann E."}, "git.commit.authored"))

    assert Person.objects.count() == 1
    assert person_of("12345+ann@users.noreply.github.com") == person_of("ann@users.noreply.github.com")


def test_noreply_addresses_seen_before_a_github_source_existed_join_its_accounts_later():
    SourceFactory(slug="git", kind="git")
    ingest(activity("git", {"email": "12345+ann@users.noreply.github.com"}, "git.commit.authored"))
    SourceFactory(slug="github", kind="github", base_url="https://api.github.com")
    ingest(activity("github", {"uid": "12345", "username": "ann"}))
    ingest(activity("git", {"email": "ann@users.noreply.github.com"}, "git.commit.authored"))
    ingest(activity("git", {"email": "12345+ann@users.noreply.github.com"}, "git.commit.authored"))

    assert Person.objects.count() == 1
