"""Unified identity: one person per human, merges people can trust and undo (BRIEF: Identity)."""

import json
from datetime import UTC, date

import pytest
from django.db import connection
from django.utils import timezone

from activities.actors import Actor
from activities.keys import email_key
from activities.models import Activity, Source
from activities.tests.factories import SourceFactory
from community.tests.factories import ingest
from community.tests.factories import record as activity
from contributors.directory import people_directory_import
from contributors.models import (
    Identity,
    IdentityAudit,
    IdentityExclusion,
    MergeSuggestion,
    Person,
    PersonMerge,
    StaffPeriod,
)
from contributors.services import (
    ResolvedActors,
    identity_move,
    person_forget,
    person_set_flags,
    person_unmerge,
    persons_merge,
)
from contributors.suggestions import suggestion_accept, suggestion_reject, suggestions_refresh

pytestmark = pytest.mark.django_db


def staff(person: Person) -> list[tuple]:
    return list(person.staff_periods.order_by("pk").values_list("staff_from", "staff_until", "origin"))


def person_of(value: str) -> Person:
    return Identity.objects.get(value=value).person


def directory(*records: dict):
    return people_directory_import(records=[(n + 1, json.dumps(r)) for n, r in enumerate(records)])


@pytest.fixture(autouse=True)
def sources():
    SourceFactory(slug="github", kind="github", base_url="https://api.github.com")
    SourceFactory(slug="git-firefox", kind="git")
    SourceFactory(slug="sumo", kind="sumo")
    SourceFactory(slug="bugzilla", kind="bugzilla")


# Automatic merging on trustworthy keys


def test_everything_sharing_a_key_ends_up_as_one_person_however_the_chain_runs():
    ingest(
        activity("github", {"uid": "1", "username": "ann"}),
        activity("git-firefox", {"email": "ann@example.org"}),
        activity("bugzilla", {"email": "ann@corp.example"}, "bugzilla.bug.filed"),
        activity("git-firefox", {"email": "ANN@corp.example", "username": "a-n"}),  # joins nothing yet
    )
    assert Person.objects.count() == 3
    ingest(activity("github", {"username": "ann", "email": "Ann@Example.org"}, "github.commit.authored"))
    ingest(activity("git-firefox", {"email": "ann@example.org", "username": "a-n"}))

    assert Person.objects.count() == 1
    assert Person.objects.get().identities.count() == 5


@pytest.mark.parametrize("address", ["583231+Ann@users.noreply.github.com", "ann@users.noreply.github.com"])
def test_a_github_noreply_address_is_its_github_account_wherever_it_appears(address):
    ingest(activity("github", {"uid": "583231", "username": "ann"}))
    ingest(activity("git-firefox", {"email": address, "name": "Ann"}, "git.commit.authored"))

    assert Person.objects.count() == 1
    assert person_of(address.casefold()) == Identity.objects.get(value="ann", namespace="github").person


def test_the_same_username_in_sources_that_do_not_share_accounts_is_never_merged():
    ingest(activity("sumo", {"username": "ann"}, "sumo.answer.posted"), activity("github", {"username": "ann"}))
    assert Person.objects.count() == 2


def test_an_identity_remembers_where_it_was_first_seen_until_that_source_is_deleted():
    ingest(activity("sumo", {"username": "ann"}, "sumo.answer.posted"))
    Activity.objects.all().delete()  # a source with activities cannot be deleted

    assert Identity.objects.get(value="ann").source.slug == "sumo"
    Source.objects.get(slug="sumo").delete()
    assert Identity.objects.get(value="ann").source is None  # Django's SET_NULL, with no database constraint


def test_names_never_merge_anyone():
    ingest(
        activity("github", {"uid": "1", "name": "Dave Jones"}),
        activity("github", {"uid": "2", "name": "Dave Jones"}),
    )
    assert Person.objects.count() == 2


def test_an_excluded_value_never_merges_anyone():
    IdentityExclusion.objects.create(value="root@localhost")
    ingest(
        activity("git-firefox", {"email": "root@localhost", "username": "ann"}),
        activity("git-firefox", {"email": "Root@Localhost", "username": "bob"}),
        activity("git-firefox", {"email": "root@localhost"}),
    )
    assert person_of("ann") != person_of("bob")
    assert person_of("root@localhost") not in (person_of("ann"), person_of("bob"))
    # Activities with other keys point at those keys, not at the shared address.
    assert Activity.objects.filter(identity__value="root@localhost").count() == 1


def test_a_locked_person_is_not_merged_automatically_and_a_human_is_asked():
    ingest(activity("github", {"username": "ann"}), activity("git-firefox", {"email": "ann@example.org"}))
    person_set_flags(person=person_of("ann"), locked=True)

    ingest(activity("github", {"email": "ann@example.org", "username": "ann"}, "github.commit.authored"))

    assert Person.objects.count() == 2
    assert MergeSuggestion.objects.filter(status=MergeSuggestion.Status.OPEN).count() == 1


# Merge, unmerge, move


def test_an_unmerge_restores_exactly_the_persons_as_they_were():
    ingest(activity("github", {"username": "ann", "name": "Ann"}), activity("git-firefox", {"email": "ann@example.org"}))
    ann, other = person_of("ann"), person_of("ann@example.org")
    StaffPeriod.objects.create(person=other, staff_until=date(2024, 1, 31), origin="admin")
    person_set_flags(person=other, is_bot=True)
    before = {p.pk: (p.display_name, staff(p), p.is_bot, sorted(p.identities.values_list("pk", flat=True))) for p in Person.objects.all()}

    ingest(activity("github", {"email": "ann@example.org", "username": "ann"}, "github.commit.authored"))
    assert Person.objects.count() == 1
    merge = PersonMerge.objects.get()
    assert staff(Person.objects.get()) == [(None, date(2024, 1, 31), "admin")]  # the period came along

    person_unmerge(merge=merge)

    after = {p.pk: (p.display_name, staff(p), p.is_bot, sorted(p.identities.values_list("pk", flat=True))) for p in Person.objects.all()}
    assert after == before
    assert {ann.pk, other.pk} == set(after)
    # The unmerge is remembered: the same record does not join them again.
    ingest(activity("github", {"email": "ann@example.org", "username": "ann"}, "github.commit.authored"))
    assert Person.objects.count() == 2
    assert IdentityAudit.objects.filter(action="unmerge").count() == 1


def test_a_staff_merge_is_audited_with_who_and_why(django_user_model):
    admin = django_user_model.objects.create_user("root-admin")
    ingest(activity("github", {"username": "ann"}), activity("sumo", {"username": "annex"}, "sumo.answer.posted"))
    persons_merge(into=person_of("ann"), others=[person_of("annex")], reason="She told us", by=admin)

    entry = IdentityAudit.objects.get(action="merge")
    assert (entry.by, entry.reason, entry.person_id) == (admin, "She told us", person_of("ann").pk)


def test_moving_an_identity_out_is_a_split_that_automatic_rules_respect():
    ingest(activity("github", {"username": "dave", "email": "dave@example.org"}, "github.commit.authored"))
    moved = identity_move(identity=Identity.objects.get(value="dave@example.org"), reason="Two different Daves")

    assert person_of("dave") != moved
    ingest(activity("github", {"username": "dave", "email": "dave@example.org"}, "github.commit.authored"))
    assert person_of("dave") != person_of("dave@example.org")
    assert IdentityAudit.objects.filter(action="move").count() == 1


# The people directory


def test_the_directory_joins_all_listed_keys_and_sets_staff():
    ingest(
        activity("git-firefox", {"email": "ann@example.org"}),
        activity("bugzilla", {"email": "ann@corp.example"}, "bugzilla.bug.filed"),
        activity("sumo", {"username": "annex"}, "sumo.answer.posted"),
    )
    result = directory(
        {"id": "E1", "name": "Ann Example", "emails": ["ann@example.org", "Ann@corp.example"], "usernames": {"sumo": "annex"}, "staff": True}
    )

    assert (result.created, result.merged, result.rejected) == (0, 2, [])
    person = Person.objects.get()
    assert (person.display_name, person.directory_id) == ("Ann Example", "E1")
    assert staff(person) == [(None, None, "directory")]  # the first import: staff since always


def test_reimporting_the_directory_changes_nothing():
    records = [
        {"id": "E1", "name": "Ann", "emails": ["ann@example.org"], "staff": True},
        {"id": "E2", "name": "Bob", "emails": ["bob@example.org", "bob@home.example"]},
    ]
    first = directory(*records)
    state = sorted(Person.objects.values_list("pk", "display_name", "staff_periods__staff_from", "directory_id"))
    second = directory(*records)

    assert (first.created, second.created, second.updated, second.merged, second.staff_periods) == (2, 0, 0, 0, 0)
    assert sorted(Person.objects.values_list("pk", "display_name", "staff_periods__staff_from", "directory_id")) == state
    assert Identity.objects.count() == 3


def test_someone_who_leaves_the_directory_keeps_identities_and_their_staff_period_ends_that_day():
    directory({"id": "E1", "name": "Ann", "emails": ["ann@example.org"], "staff": True})
    directory({"id": "E2", "name": "Bob", "emails": ["bob@example.org"]})

    ann = person_of("ann@example.org")
    assert ann.directory_id is None
    assert staff(ann) == [(None, timezone.now().astimezone(UTC).date(), "directory")]


def test_a_directory_record_joining_people_an_admin_split_is_reported_not_applied():
    ingest(activity("github", {"username": "dave", "email": "dave@example.org"}, "github.commit.authored"))
    identity_move(identity=Identity.objects.get(value="dave@example.org"))

    result = directory({"id": "E9", "name": "Dave", "emails": ["dave@example.org"], "usernames": {"github": "dave"}})

    assert Person.objects.count() == 2
    assert result.rejected and "separated or locked" in result.rejected[0][1]


def test_bad_directory_records_are_rejected_by_line_and_the_rest_applied():
    lines = [
        (1, json.dumps({"name": "No Id", "emails": ["x@example.org"]})),
        (2, json.dumps({"id": "E2", "name": "No e-mail", "emails": []})),
        (3, json.dumps({"id": "E3", "name": "Ok", "emails": ["ok@example.org"]})),
        (4, json.dumps({"id": "E3", "name": "Again", "emails": ["again@example.org"]})),
        (5, json.dumps({"id": "E5", "name": "Bad", "emails": ["not an email"]})),
        (6, "{oops"),
        (7, json.dumps({"id": "E7", "emails": ["q@example.org"], "usernames": {"nowhere": "q"}})),
    ]
    result = people_directory_import(records=lines)

    reasons = dict(result.rejected)
    assert reasons[1] == "the record has no id; no id could be read, so nobody leaves the directory on this import"
    assert "no e-mail" in reasons[2] and reasons[2].endswith("; 'E2' is left as they were")
    assert reasons[4] == "duplicate id 'E3' (first on line 3)"
    assert "is not an e-mail address" in reasons[5]
    assert reasons[6].startswith("not valid JSON")
    assert "unknown source 'nowhere'" in reasons[7]
    assert result.created == 1 and Person.objects.get().directory_id == "E3"


def test_a_directory_record_that_would_merge_two_locked_persons_is_rejected():
    ingest(activity("git-firefox", {"email": "a@example.org"}), activity("git-firefox", {"email": "b@example.org"}))
    for value in ("a@example.org", "b@example.org"):
        person_set_flags(person=person_of(value), locked=True)

    result = directory({"id": "E1", "emails": ["a@example.org", "b@example.org"]})

    assert Person.objects.count() == 2 and len(result.rejected) == 1


# Suggestions for humans


def test_the_same_full_name_with_accents_and_case_folded_is_suggested_never_applied():
    ingest(
        activity("github", {"uid": "1", "name": "José García"}),
        activity("sumo", {"username": "jgarcia", "name": "jose  GARCIA"}, "sumo.answer.posted"),
    )
    assert suggestions_refresh() == 1
    suggestion = MergeSuggestion.objects.get()
    assert "jose garcia" in suggestion.reason and 0 < suggestion.score < 1
    assert Person.objects.count() == 2  # nothing applied by itself


def test_suggestions_are_made_every_night_by_the_scheduler():
    from baloo_site.celery_beat import CELERY_BEAT_SCHEDULE
    from contributors.tasks import suggest_merges

    ingest(
        activity("github", {"uid": "1", "name": "José García"}),
        activity("sumo", {"username": "jgarcia", "name": "jose  GARCIA"}, "sumo.answer.posted"),
    )
    assert CELERY_BEAT_SCHEDULE["suggest-merges-nightly"]["task"] == suggest_merges.name
    assert suggest_merges() == 1 and MergeSuggestion.objects.count() == 1


@pytest.mark.parametrize("name", ["Dave", "John Doe", "root"])
def test_single_word_and_generic_names_are_never_suggested(name):
    ingest(activity("github", {"uid": "1", "name": name}), activity("github", {"uid": "2", "name": name}))
    assert suggestions_refresh() == 0


def test_a_very_common_name_is_never_suggested():
    # Five persons may be one human's five addresses (suggested, weakly); six are not.
    ingest(*(activity("github", {"uid": str(n), "name": "David Smith"}) for n in range(6)))
    assert suggestions_refresh() == 0


def test_the_same_username_in_different_systems_is_suggested():
    ingest(activity("github", {"username": "ann-example"}), activity("sumo", {"username": "ann-example"}, "sumo.answer.posted"))
    assert suggestions_refresh() == 1


def test_not_the_same_person_is_remembered():
    ingest(activity("github", {"uid": "1", "name": "Ann Example"}), activity("github", {"uid": "2", "name": "Ann Example"}))
    suggestions_refresh()
    suggestion_reject(suggestion=MergeSuggestion.objects.get())

    assert suggestions_refresh() == 0
    assert Person.objects.count() == 2


def test_accepting_a_suggestion_merges_the_two():
    ingest(activity("github", {"uid": "1", "name": "Ann Example"}), activity("github", {"uid": "2", "name": "Ann Example"}))
    suggestions_refresh()
    suggestion_accept(suggestion=MergeSuggestion.objects.get())
    assert Person.objects.count() == 1


# Erasure


def test_forgetting_a_person_keeps_their_activities_anonymous_so_past_totals_hold():
    ingest(
        activity("github", {"username": "ann", "email": "ann@example.org", "name": "Ann"}, title="Ann's PR", url="https://x/1", data={"author": "ann"}),
        activity("github", {"username": "ann"}),
        activity("github", {"username": "bob"}),
    )
    counts = person_forget(person=person_of("ann"))

    assert counts == {"identities": 2, "activities_anonymised": 2, "activities_deleted": 0, "claims": 0, "mentions_erased": 0}
    assert not Identity.objects.filter(value__in=["ann", "ann@example.org"]).exists()
    anonymous = Activity.objects.exclude(identity__value="bob")
    assert anonymous.count() == 2
    assert {(a.title, a.url, json.dumps(a.data)) for a in anonymous} == {("", "", "{}")}
    assert len({a.identity.person_id for a in anonymous}) == 1  # still one (anonymous) contributor
    audit = IdentityAudit.objects.get(action="forget")
    assert "ann" not in json.dumps(audit.details).casefold()


def test_forgetting_with_full_deletion_removes_the_activities():
    ingest(activity("github", {"username": "ann"}), activity("github", {"username": "bob"}))
    person_forget(person=person_of("ann"), delete_activities=True)
    assert Activity.objects.count() == 1


# One ingestion remembers the actors it resolved


def resolve_with(resolved: ResolvedActors, *emails: str) -> tuple[list[int], list[str]]:
    """Resolve actors known by e-mail; also return which ones had to be resolved from scratch."""
    from django.db import transaction

    asked = []

    def actor_at(position: int) -> Actor:
        asked.append(emails[position])
        return Actor(keys=(email_key(emails[position]),), name="", source_id=None, is_bot=False)

    with transaction.atomic():
        return resolved.resolve([("import", email, None, None, False) for email in emails], actor_at), asked


def test_an_actor_seen_again_in_the_same_ingestion_is_not_resolved_again():
    resolved = ResolvedActors()
    first, asked_first = resolve_with(resolved, "ann@example.org", "ben@example.org")
    again, asked_again = resolve_with(resolved, "ben@example.org", "ann@example.org", "cy@example.org")
    assert asked_first == ["ann@example.org", "ben@example.org"] and asked_again == ["cy@example.org"]
    assert again[:2] == [first[1], first[0]]
    assert Identity.objects.count() == 3


def test_what_an_ingestion_remembers_is_dropped_when_someone_else_changes_identities():
    resolved = ResolvedActors()
    (ann,), _asked = resolve_with(resolved, "ann@example.org")
    person_forget(person=Identity.objects.get(pk=ann).person)  # an erasure request meanwhile
    (again,), asked = resolve_with(resolved, "ann@example.org")
    assert asked == ["ann@example.org"] and again != ann
    assert Identity.objects.filter(pk=again, value="ann@example.org").exists()


def test_what_an_ingestion_remembers_is_dropped_when_the_exclusion_list_changes():
    resolved = ResolvedActors()
    resolve_with(resolved, "ann@example.org")
    IdentityExclusion.objects.create(kind="email", value="none@none")
    _ids, asked = resolve_with(resolved, "ann@example.org")
    assert asked == ["ann@example.org"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics")
def test_a_large_ingestion_keeps_the_planner_statistics_of_identities_fresh(monkeypatch):
    monkeypatch.setattr(ResolvedActors, "ANALYZE_AFTER", 3)
    resolved = ResolvedActors()
    resolve_with(resolved, "a@example.org", "b@example.org")  # 2 resolved: not yet
    resolve_with(resolved, "c@example.org", "d@example.org")  # 4: measured
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Identity._meta.db_table])
        assert cursor.fetchone()[0] == 4
    resolve_with(resolved, "e@example.org")  # next after 6
    resolve_with(resolved, "f@example.org", "g@example.org")
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Identity._meta.db_table])
        assert cursor.fetchone()[0] == 7
