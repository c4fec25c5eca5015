"""Merge suggestions that find aliases: each signal with its reason and score, never applied by itself,
reviewed in bulk, and a rejected pair never suggested again (issue 16)."""

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from activities.services import activities_ingest
from activities.tests.factories import SourceFactory
from contributors.models import Identity, MergeSuggestion, Person, StaffPeriod
from contributors.services import persons_merge
from contributors.suggestions import suggestion_reject, suggestions_refresh

pytestmark = pytest.mark.django_db

counter = iter(range(1_000_000))


def commit(email: str, name: str = "") -> dict:
    return {
        "source": "git",
        "external_id": f"c{next(counter)}",
        "type": "git.commit.authored",
        "occurred_at": "2025-03-01T10:00:00Z",
        "actor": {"email": email, "name": name} if name else {"email": email},
    }


def ingest(*records: dict) -> None:
    result = activities_ingest(records=enumerate(records))
    assert not result.rejected, result.rejected


def person_of(email: str) -> Person:
    return Identity.objects.get(value=email).person


def suggested() -> dict[frozenset[int], MergeSuggestion]:
    return {
        frozenset((s.identity_a.person_id, s.identity_b.person_id)): s
        for s in MergeSuggestion.objects.select_related("identity_a", "identity_b")
    }


def suggestion_between(first: str, second: str) -> MergeSuggestion | None:
    return suggested().get(frozenset((person_of(first).pk, person_of(second).pk)))


@pytest.fixture(autouse=True)
def git():
    return SourceFactory(slug="git", kind="git")


# Each signal, with its own reason and score


@pytest.mark.parametrize(
    ("first", "second", "words"),
    [
        (("ann@old.example", "Example, Ann"), ("ann.e@new.example", "Ann Example"), "family name first"),
        (("ann@old.example", "Example Ann"), ("ann.e@new.example", "Ann Example"), "another order"),
        (("ann@old.example", "A. Example"), ("ann.e@new.example", "Ann Example"), "initials"),
        (("ann@old.example", "Ann B. Example"), ("ann.e@new.example", "Ann Example"), "initials"),
        (("jm@old.example", "Jürgen Müller"), ("jmu@new.example", "Juergen Mueller"), "transliterated"),
        (("so@old.example", "Søren Ødegård"), ("sod@new.example", "Soren Odegard"), "transliterated"),
    ],
)
def test_names_written_differently_are_suggested_with_their_reason(first, second, words):
    ingest(commit(*first), commit(*second))

    assert suggestions_refresh() == 1
    suggestion = suggestion_between(first[0], second[0])
    assert words in suggestion.reason.lower() and 0 < suggestion.score < 1
    assert Person.objects.count() == 2  # never merged by itself


def test_the_same_address_name_at_different_domains_is_suggested():
    ingest(commit("ann.example@work.example"), commit("Ann_Example@home.example"))

    assert suggestions_refresh() == 1
    assert "the same address name at different domains" in MergeSuggestion.objects.get().reason.lower()


@pytest.mark.parametrize("local", ["info", "admin", "root", "noreply", "dev", "me"])
def test_a_generic_address_name_suggests_nothing(local):
    ingest(commit(f"{local}@one.example"), commit(f"{local}@two.example"))
    assert suggestions_refresh() == 0


def test_an_address_name_that_is_only_a_given_name_suggests_nothing():
    ingest(commit("alex@one.example", "Alex One"), commit("alex@two.example", "Alex Two"), commit("x@three.example", "Alex Three"))
    assert suggestions_refresh() == 0


def test_a_github_login_from_a_noreply_address_and_the_name_of_another_address_are_suggested():
    ingest(commit("12345+annex@users.noreply.github.com"), commit("annex@example.org"))

    assert suggestions_refresh() == 1
    suggestion = suggestion_between("12345+annex@users.noreply.github.com", "annex@example.org")
    assert "login" in suggestion.reason


def test_a_name_written_as_a_login_is_suggested():
    ingest(commit("1+aexample@users.noreply.github.com"), commit("ann@example.org", "Ann Example"))

    assert suggestions_refresh() == 1
    assert "a name written as a login" in MergeSuggestion.objects.get().reason.lower()


def test_several_signals_make_a_stronger_suggestion_than_one():
    ingest(commit("ann.example@work.example", "Ann Example"), commit("ann.example@home.example", "Ann Example"))
    ingest(commit("bob@work.example", "Bob Example"), commit("b@home.example", "Bob Example"))
    suggestions_refresh()

    both = suggestion_between("ann.example@work.example", "ann.example@home.example")
    name_only = suggestion_between("bob@work.example", "b@home.example")
    assert both.score > name_only.score
    assert "the same full name" in both.reason.lower() and "address" in both.reason


def test_a_name_several_persons_carry_suggests_weakly_and_a_very_common_one_not_at_all():
    ingest(*(commit(f"r{n}@example.org", "Rohit Example") for n in range(4)))
    suggestions_refresh()
    assert MergeSuggestion.objects.count() == 6 and {s.score for s in MergeSuggestion.objects.all()} == {0.55}

    MergeSuggestion.objects.all().delete()
    ingest(*(commit(f"d{n}@example.org", "David Smith") for n in range(6)))
    suggestions_refresh()
    assert not MergeSuggestion.objects.filter(reason__icontains="david").exists()


def test_finding_suggestions_reads_each_table_a_fixed_number_of_times(django_assert_max_num_queries):
    ingest(*(commit(f"person{n}@one.example", f"Person Number{n}") for n in range(60)))
    ingest(*(commit(f"person{n}@two.example") for n in range(60)))

    with django_assert_max_num_queries(6):
        assert suggestions_refresh() == 60


# A rejected pair is never suggested again


def test_a_rejected_pair_is_not_suggested_again_even_through_another_signal():
    ingest(commit("ann.example@work.example"), commit("ann.example@home.example"))
    suggestions_refresh()
    suggestion_reject(suggestion=MergeSuggestion.objects.get())
    ingest(commit("ann.example@work.example", "Ann Example"), commit("annex@home.example", "Ann Example"))
    persons_merge(into=person_of("ann.example@home.example"), others=[person_of("annex@home.example")], reason="test")

    assert suggestions_refresh() == 0
    assert MergeSuggestion.objects.get().status == MergeSuggestion.Status.REJECTED


def test_a_rejected_pair_stays_rejected_after_either_person_is_merged_with_someone_else():
    ingest(commit("ann.example@work.example", "Ann Example"), commit("ann.example@home.example"))
    suggestions_refresh()
    suggestion_reject(suggestion=MergeSuggestion.objects.get())
    ingest(commit("other@elsewhere.example"))
    # The person of the rejected identity changes: merged into another one.
    persons_merge(into=person_of("other@elsewhere.example"), others=[person_of("ann.example@work.example")], reason="test")

    assert suggestions_refresh() == 0


# Bulk review in the admin


@pytest.fixture
def three_suggestions():
    ingest(
        commit("ann.example@work.example", "Ann Example"),
        commit("ann.example@home.example", "Ann Example"),  # name and address name: strong
        commit("bob@work.example", "Bob Example"),
        commit("b@home.example", "Bob Example"),  # the same name: 0.7
        commit("1+cexample@users.noreply.github.com"),
        commit("cee@example.org", "Cee Example"),  # a name written as a login: 0.5
    )
    assert suggestions_refresh() == 3


def test_accept_above_a_score_shows_what_would_be_merged_before_merging_anything(admin_client: Client, three_suggestions):
    url = reverse("admin:contributors_mergesuggestion_accept_above")

    response = admin_client.get(url, {"score": "0.7"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "ann.example@home.example" in html and "bob@work.example" in html and "b@home.example" in html
    assert "cee@example.org" not in html
    assert Person.objects.count() == 6
    assert 'href="/admin/contributors/mergesuggestion/accept-above/"' in admin_client.get(
        reverse("admin:contributors_mergesuggestion_changelist")
    ).content.decode()


def test_accept_above_a_score_merges_what_the_preview_showed_and_nothing_else(admin_client: Client, three_suggestions):
    url = reverse("admin:contributors_mergesuggestion_accept_above")
    preview = admin_client.get(url, {"score": "0.7"})
    shown = preview.context["suggestion_ids"]
    ingest(commit("ann.example@third.example"))  # a suggestion made after the preview…
    suggestions_refresh()

    response = admin_client.post(url, {"score": "0.7", "suggestion_ids": shown, "confirmed": "yes"})

    assert response.status_code == 302
    assert person_of("ann.example@work.example") == person_of("ann.example@home.example")
    assert person_of("bob@work.example") == person_of("b@home.example")
    assert person_of("cee@example.org") != person_of("1+cexample@users.noreply.github.com")
    assert person_of("ann.example@third.example") != person_of("ann.example@work.example")  # …is not accepted
    assert MergeSuggestion.objects.filter(status=MergeSuggestion.Status.MERGED).count() == 2
    assert MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN).count() == 3  # cee, and twice third


def test_accept_above_a_score_leaves_locked_persons_for_one_by_one_review(admin_client: Client, three_suggestions):
    Person.objects.filter(pk=person_of("bob@work.example").pk).update(locked=True)
    url = reverse("admin:contributors_mergesuggestion_accept_above")
    shown = admin_client.get(url, {"score": "0.7"}).context["suggestion_ids"]

    admin_client.post(url, {"score": "0.7", "suggestion_ids": shown, "confirmed": "yes"})

    assert person_of("bob@work.example") != person_of("b@home.example")
    assert person_of("ann.example@work.example") == person_of("ann.example@home.example")


def test_accept_above_a_score_needs_the_right_to_change_people(client: Client, django_user_model, three_suggestions):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(user)
    response = client.get(reverse("admin:contributors_mergesuggestion_accept_above"))
    assert response.status_code == 403


def test_the_bulk_preview_says_who_is_staff_today(admin_client: Client, three_suggestions):
    """Staff is a set of periods: the preview names a person whose period holds today, not one whose ended."""
    StaffPeriod.objects.create(person=person_of("bob@work.example"), staff_from=None, staff_until=None, origin="admin")
    StaffPeriod.objects.create(
        person=person_of("ann.example@work.example"), staff_from=date(2020, 1, 1), staff_until=date(2021, 1, 1), origin="admin"
    )

    html = admin_client.get(reverse("admin:contributors_mergesuggestion_accept_above"), {"score": "0.7"}).content.decode()

    staff_items = [item for item in html.split("<li>") if "· staff today" in item]
    assert len(staff_items) == 1 and "bob@work.example" in staff_items[0]
