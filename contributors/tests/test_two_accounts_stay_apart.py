"""The uid is the account: two accounts (different uids of one system) never become one person
without a human, whatever key a record names them by and whatever path brings it (docs/identity.md,
rule 4; issue 16, finding 3). At most a merge suggestion, with its reason."""

import json

import pytest

from activities.services import activities_ingest
from activities.tests.factories import SourceFactory
from contributors.directory import people_directory_import
from contributors.models import Identity, MergeSuggestion, PersonMerge
from contributors.services import REUSED_LOGIN_REASON, TWO_ACCOUNTS_REASON
from contributors.suggestions.review import suggestions_accept_many, suggestions_bulk_plan

pytestmark = pytest.mark.django_db
counter = iter(range(1_000_000))


def activity(source, actor, type_="github.comment.created"):
    return {"source": source, "external_id": f"a{next(counter)}", "type": type_,
            "occurred_at": "2025-03-01T10:00:00Z", "actor": actor}


def ingest(*records):
    result = activities_ingest(records=enumerate(records))
    assert not result.rejected, result.rejected


def person_of(value, kind="uid", namespace="github"):
    return Identity.objects.get(value=value, kind=kind, namespace=namespace).person_id


def suggested(person_a, person_b):
    """The reasons of the suggestions between two persons."""
    return [
        s.reason for s in MergeSuggestion.objects.select_related("identity_a", "identity_b")
        if {s.identity_a.person_id, s.identity_b.person_id} == {person_a, person_b}
    ]


@pytest.fixture
def github():
    SourceFactory(slug="github", kind="github", base_url="https://api.github.com")
    SourceFactory(slug="git", kind="import")


def test_a_reused_login_does_not_join_two_accounts_through_noreply_addresses(github):
    """GitHub's namespaces are one account space: a noreply address names the account in github.com's
    own namespace, the sync in the source's; the login reused by uid 2 joins neither to the other."""
    ingest(activity("github", {"uid": "1", "username": "ann"}))
    ingest(activity("git", {"email": "ann@users.noreply.github.com"}, "git.commit.authored"))
    ingest(activity("github", {"uid": "2", "username": "ann"}))  # GitHub handed the released login on
    assert person_of("1") != person_of("2")

    ingest(activity("git", {"email": "2+ann@users.noreply.github.com"}, "git.commit.authored"))

    assert person_of("1") != person_of("2")
    assert person_of("2", namespace="github.com") == person_of("2")  # the address is uid 2's
    assert person_of("2+ann@users.noreply.github.com", kind="email", namespace="") == person_of("2")
    assert not PersonMerge.objects.exists()
    assert REUSED_LOGIN_REASON in suggested(person_of("1"), person_of("2"))


def test_a_record_with_a_login_and_an_address_but_no_uid_does_not_join_two_accounts(github):
    ingest(activity("github", {"uid": "1", "username": "ann"}))
    ingest(activity("github", {"uid": "2", "username": "ann", "email": "ann2@example.org"}))
    assert person_of("1") != person_of("2")

    # An imported record naming the login (uid 1's) and uid 2's address, without a uid.
    ingest(activity("github", {"username": "ann", "email": "ann2@example.org"}))

    assert person_of("1") != person_of("2")
    assert not PersonMerge.objects.exists()
    assert suggested(person_of("1"), person_of("2"))


def test_one_address_on_two_accounts_records_leaves_two_persons_and_a_suggestion(github):
    ingest(
        activity("github", {"uid": "1", "username": "ann", "email": "shared@example.org"}),
        activity("github", {"uid": "2", "username": "bob", "email": "shared@example.org"}),
    )
    assert person_of("1") != person_of("2")
    assert TWO_ACCOUNTS_REASON in suggested(person_of("1"), person_of("2"))


def test_a_rename_keeps_the_account_and_a_login_without_uid_still_joins_it(github):
    ingest(activity("github", {"uid": "1", "username": "ann"}))
    ingest(activity("github", {"uid": "1", "username": "ann-example"}))
    ingest(activity("github", {"username": "ann-example", "email": "ann@example.org"}))
    ingest(activity("git", {"email": "1+ann-example@users.noreply.github.com"}, "git.commit.authored"))

    person = person_of("1")
    assert person_of("ann", kind="username") == person
    assert person_of("ann@example.org", kind="email", namespace="") == person
    assert person_of("1", namespace="github.com") == person


def test_the_people_directory_does_not_join_two_accounts(github):
    ingest(activity("github", {"uid": "1", "username": "ann", "email": "ann@example.org"}))
    ingest(activity("github", {"uid": "2", "username": "ann-other", "email": "ann2@example.org"}))

    result = people_directory_import(records=[
        (1, json.dumps({"id": "E1", "emails": ["ann@example.org"], "usernames": {"github": "ann-other"}})),
    ])

    assert person_of("1") != person_of("2")
    assert [line for line, _reason in result.rejected] == [1]


def test_accepting_suggestions_in_bulk_does_not_chain_two_accounts_into_one_person(github):
    """A–B and B–C, where A and C are two accounts: the second stays for one-by-one review."""
    ingest(
        activity("github", {"uid": "1", "username": "ann"}),
        activity("git", {"email": "ann@example.org", "name": "Ann Example"}, "git.commit.authored"),
        activity("github", {"uid": "2", "username": "annex"}),
    )
    a, b, c = (Identity.objects.get(value=v) for v in ("1", "ann@example.org", "2"))
    first = MergeSuggestion.objects.create(identity_a=a, identity_b=b, reason="r", score=0.9)
    second = MergeSuggestion.objects.create(identity_a=b, identity_b=c, reason="r", score=0.8)

    plan = suggestions_bulk_plan(suggestions=[first, second])
    assert plan.accepted == [first] and plan.left == [second]

    suggestions_accept_many(suggestions=[first, second], reason="bulk")
    assert person_of("1") == person_of("ann@example.org", kind="email", namespace="") != person_of("2")
    second.refresh_from_db()
    assert second.status == MergeSuggestion.Status.OPEN
