"""Placeholder accounts (Kitsune's AnonymousUser and SumoBot, Bugzilla's nobody@mozilla.org, GitHub's
ghost): their activities are stored and never counted, they never join or merge with anyone, and the
list staff keep in the admin applies to what is already stored at the next recompute.

Payloads are built in each API's documented shape (activities/tests/builders.py) and go through the
connectors and ingestion; the numbers come from the metrics engine itself.
"""

import importlib

import pytest
from django.apps import apps as django_apps
from django.test import Client
from django.urls import reverse

from accounts.auth import is_known_contributor
from accounts.roles import BUILDER_GROUP, STAFF_GROUP, role_groups_ensure
from activities.connectors.github import issue_records
from activities.models import Activity, Source
from activities.services import activities_ingest
from activities.sync import source_sync
from activities.tests.builders import at, bz_bug, bz_comment, gh_issue, gh_user, sumo_answer, sumo_question
from activities.tests.standin import FakeBugzilla, FakeKitsune, served
from contributors.claims import ClaimError, account_claim_submit
from contributors.directory import people_directory_import
from contributors.models import Identity, Person, PersonMerge, PlaceholderAccount
from contributors.placeholders import PlaceholderMergeError, persons_not_counted, placeholder_accounts_with_counts
from contributors.selectors import person_for_user
from contributors.services import persons_merge
from conversion_points.models import Area, ConversionPoint
from conversion_points.records import public_profile
from metrics.engine import metrics_recompute
from metrics.models import MetricPoint, MetricRun

pytestmark = pytest.mark.django_db


def counted_now(*, incremental: bool = False) -> tuple[int, int]:
    """(active volunteers at the latest week, contributors ever), by the engine: the requested run
    when one waits, else a new one."""
    queued = MetricRun.objects.filter(status=MetricRun.Status.QUEUED).first()
    run = metrics_recompute(run=queued, incremental=incremental)
    point = MetricPoint.objects.filter(run=run, scope="all", population="volunteers").order_by("date").last()
    return (point.active if point else 0), run.contributors_ever


def rule(source: Source, *types: str) -> ConversionPoint:
    area, _ = Area.objects.get_or_create(slug="support", defaults={"name": "Support"})
    return ConversionPoint.objects.create(
        slug=f"{source.slug}-rule", area=area, source=source, types=list(types), container="*", level="active", name="Rule"
    )


def person_of(kind: str, namespace: str, value: str) -> Person:
    return Identity.objects.select_related("person").get(kind=kind, namespace=namespace, value=value).person


def record(source: str, number: int, actor: dict, type_: str = "sumo.answer.posted") -> dict:
    return {"source": source, "external_id": f"r{number}", "type": type_, "occurred_at": at(number), "actor": actor}


def ingest(*records: dict) -> None:
    result = activities_ingest(records=list(enumerate(records)))
    assert not result.rejected, result.rejected


# --------------------------------------------------------------------------- SUMO


@pytest.fixture
def kitsune():
    with served(FakeKitsune()) as api:
        yield api


def test_sumo_answers_by_anonymoususer_and_sumobot_are_stored_never_counted_and_never_public(kitsune) -> None:
    kitsune.questions.append(sumo_question(1, user="asker", created=at(1)))
    # Kitsune's shared anonymous account wrote most answers; SumoBot holds a deleted user's.
    for number, user in enumerate(["AnonymousUser", "AnonymousUser", "AnonymousUser", "SumoBot", "helper"], start=1):
        kitsune.answers.append(sumo_answer(number, 1, user=user, created=at(10 + number)))
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=kitsune.url, options={"backoff_seconds": 0})
    rule(source, "sumo.answer.posted")

    source_sync(source=source)

    answers = Activity.objects.filter(source=source, type="sumo.answer.posted")
    assert answers.count() == 5  # all stored
    assert counted_now() == (1, 1)  # helper only
    anonymous, sumobot = person_of("username", "sumo", "anonymoususer"), person_of("username", "sumo", "sumobot")
    assert anonymous.identities.count() == 1 and sumobot.identities.count() == 1  # each its own person
    assert set(persons_not_counted().values_list("pk", flat=True)) >= {anonymous.pk, sumobot.pk}
    # Not public, even had someone set the profile on.
    Person.objects.filter(pk=anonymous.pk).update(profile_public=True, profile_name="Anonymous")
    assert public_profile(person_id=anonymous.pk) is None


def test_a_placeholder_added_after_import_stops_counting_and_counts_again_when_removed(
    admin_client: Client, django_capture_on_commit_callbacks
) -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    source = Source.objects.get(slug="sumo")
    rule(source, "sumo.answer.posted")
    ingest(
        record("sumo", 1, {"username": "helper"}),
        record("sumo", 2, {"username": "SharedDesk"}),
        record("sumo", 3, {"username": "SharedDesk"}),
    )
    assert counted_now() == (2, 2)
    desk = person_of("username", "sumo", "shareddesk")

    with django_capture_on_commit_callbacks() as once_committed:
        response = admin_client.post(
            reverse("admin:contributors_placeholderaccount_add"),
            {"source_kind": "SUMO", "kind": "username", "value": "  SharedDesk ", "note": "the help desk's shared login"},
        )
    assert response.status_code == 302
    for callback in once_committed:  # what the commit runs (a test's transaction never commits)
        callback()
    added = PlaceholderAccount.objects.get(value="shareddesk")
    assert added.source_kind == "sumo"
    assert MetricRun.objects.filter(status=MetricRun.Status.QUEUED).exists()  # the change asked for a recompute
    assert counted_now(incremental=True) == (1, 1)
    assert counted_now() == (1, 1)  # a full recompute agrees
    assert Activity.objects.filter(identity__person=desk).count() == 2  # still stored

    with django_capture_on_commit_callbacks() as once_committed:
        response = admin_client.post(reverse("admin:contributors_placeholderaccount_delete", args=[added.pk]), {"post": "yes"})
    assert response.status_code == 302
    for callback in once_committed:
        callback()
    assert MetricRun.objects.filter(status=MetricRun.Status.QUEUED).exists()
    assert counted_now(incremental=True) == (2, 2)
    assert counted_now() == (2, 2)


def test_a_placeholder_never_merges_two_real_people() -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    # The same shared account in a second source of the same kind, sharing its accounts.
    Source.objects.create(slug="sumo-eu", kind="sumo", name="SUMO (EU)", account_namespace="sumo")
    ingest(
        record("sumo", 1, {"username": "ann", "email": "ann@example.org"}),
        record("sumo-eu", 2, {"username": "ben", "email": "ben@example.org"}),
        # Records that name a real address beside the shared account: without the list, Ann and
        # Ben would become one person through AnonymousUser.
        record("sumo", 3, {"username": "AnonymousUser", "email": "ann@example.org"}),
        record("sumo-eu", 4, {"username": "AnonymousUser", "email": "ben@example.org"}),
    )

    ann, ben = person_of("email", "", "ann@example.org"), person_of("email", "", "ben@example.org")
    anonymous = person_of("username", "sumo", "anonymoususer")
    assert len({ann.pk, ben.pk, anonymous.pk}) == 3
    assert list(anonymous.identities.values_list("value", flat=True)) == ["anonymoususer"]
    assert not PersonMerge.objects.exists()
    # The records naming it are its activities, never counted for Ann or Ben.
    assert set(Activity.objects.filter(identity__person=anonymous).values_list("external_id", flat=True)) == {"r3", "r4"}

    with pytest.raises(PlaceholderMergeError):
        persons_merge(into=ann, others=[anonymous], reason="by hand")
    assert Person.objects.filter(pk=anonymous.pk).exists()


def test_staff_merging_a_placeholder_by_hand_is_refused_with_a_message(admin_client: Client) -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ingest(record("sumo", 1, {"username": "ann"}), record("sumo", 2, {"username": "sumobot"}))
    ann, bot = person_of("username", "sumo", "ann"), person_of("username", "sumo", "sumobot")

    response = admin_client.post(
        reverse("admin:contributors_person_changelist"),
        {"action": "merge_people", "_selected_action": [ann.pk, bot.pk], "confirmed": "yes", "reason": "same"},
        follow=True,
    )

    assert "placeholder account" in response.content.decode()
    assert Person.objects.filter(pk=bot.pk).exists() and not PersonMerge.objects.exists()


def test_nobody_can_claim_a_placeholder_account(django_user_model) -> None:
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ingest(record("sumo", 1, {"username": "AnonymousUser"}))
    eve = django_user_model.objects.create_user(username="eve", email="eve@example.org")

    with pytest.raises(ClaimError) as refused:
        account_claim_submit(user=eve, source=source, username="anonymoususer", evidence="it's me")

    assert refused.value.code == "placeholder"


def test_the_people_directory_leaves_a_placeholder_out_and_applies_the_rest() -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ingest(record("sumo", 1, {"username": "AnonymousUser"}))
    line = {"id": "E1", "name": "Ann", "emails": ["ann@example.org"], "usernames": {"sumo": "AnonymousUser"}, "staff": True}

    result = people_directory_import(records=[(1, line)])

    assert result.created == 1 and not result.rejected
    assert result.left_out and "anonymoususer" in result.left_out[0][1]
    ann = Person.objects.get(directory_id="E1")
    assert list(ann.identities.values_list("value", flat=True)) == ["ann@example.org"]


# --------------------------------------------------------------------------- Bugzilla


@pytest.fixture
def bugzilla():
    with served(FakeBugzilla()) as api:
        yield api


NOBODY = {"email": "nobody@mozilla.org", "id": 1, "name": "nobody@mozilla.org", "nick": "nobody", "real_name": "Nobody; OK to take it and work on it"}


def test_bugzilla_nobody_is_stored_alone_and_never_counted(bugzilla) -> None:
    filed_by_nobody = bz_bug(1, created=at(1), changed=at(5), fixed=True)
    filed_by_nobody.update(creator="nobody@mozilla.org", creator_detail=NOBODY, assigned_to="nobody@mozilla.org", assigned_to_detail=NOBODY)
    real = bz_bug(2, created=at(2), changed=at(6), fixed=True)
    bugzilla.bugs += [filed_by_nobody, real]
    bugzilla.comments[1] = [bz_comment(10, 1, 0, creator="nobody@mozilla.org", when=at(1)),
                            bz_comment(11, 1, 1, creator="nobody@mozilla.org", when=at(3))]
    source = Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=bugzilla.url, options={"backoff_seconds": 0})
    rule(source, "bugzilla.bug.filed", "bugzilla.comment.created", "bugzilla.bug.fixed")

    source_sync(source=source)

    nobody = person_of("email", "", "nobody@mozilla.org")
    # Its uid and nick are left out: the records are the placeholder's alone.
    assert list(nobody.identities.values_list("value", flat=True)) == ["nobody@mozilla.org"]
    assert set(Activity.objects.filter(identity__person=nobody).values_list("type", flat=True)) == {
        "bugzilla.bug.filed",
        "bugzilla.comment.created",
    }
    assert not Activity.objects.filter(external_id="fixed:1").exists()  # a bug nobody fixed, as before
    assert counted_now() == (2, 2)  # eve filed, fay fixed


def test_the_bugzilla_nobody_option_still_works_and_is_folded_into_the_list(bugzilla) -> None:
    bug = bz_bug(3, created=at(1), changed=at(5), fixed=True)
    bug.update(assigned_to="triage@example.org", assigned_to_detail={"email": "triage@example.org", "id": 9, "nick": "triage"})
    bugzilla.bugs.append(bug)
    source = Source.objects.create(
        slug="bmo", kind="bugzilla", name="Bugzilla", base_url=bugzilla.url,
        options={"backoff_seconds": 0, "nobody": ["Triage@Example.org"]},
    )

    source_sync(source=source)
    assert not Activity.objects.filter(external_id="fixed:3").exists()

    # The migration that brings the list copies each Bugzilla source's option into it.
    defaults = importlib.import_module("contributors.migrations.0007_placeholder_accounts_defaults")
    defaults.add_defaults(django_apps, None)
    assert PlaceholderAccount.objects.filter(source_kind="bugzilla", kind="email", value="triage@example.org").exists()
    assert PlaceholderAccount.objects.filter(source_kind="bugzilla", kind="email", value="nobody@mozilla.org").exists()


# --------------------------------------------------------------------------- GitHub


def test_github_ghost_is_its_own_person_and_never_counted() -> None:
    source = Source.objects.create(slug="gh", kind="github", name="GitHub")
    rule(source, "github.issue.opened")
    ghost, ann = gh_user("ghost", 10137), gh_user("ann", 501)
    records = [
        *issue_records("gh", "mozilla/kitsune", gh_issue("mozilla/kitsune", 1, user=ghost, created=at(1))),
        *issue_records("gh", "mozilla/kitsune", gh_issue("mozilla/kitsune", 2, user=ghost, created=at(2))),
        *issue_records("gh", "mozilla/kitsune", gh_issue("mozilla/kitsune", 3, user=ann, created=at(3))),
    ]
    ingest(*records)

    ghosts = Person.objects.filter(identities__namespace="gh", identities__value__in=["ghost", "10137"]).distinct()
    assert ghosts.count() >= 1
    assert not Identity.objects.filter(person__in=ghosts).exclude(value__in=["ghost", "10137"]).exists()
    assert Activity.objects.filter(identity__person__in=ghosts).count() == 2
    assert counted_now() == (1, 1)


# --------------------------------------------------------------------------- the admin


def test_the_admin_lists_how_many_activities_each_placeholder_holds(admin_client: Client, django_assert_max_num_queries) -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    Source.objects.create(slug="gh", kind="github", name="GitHub")
    ingest(
        record("sumo", 1, {"username": "AnonymousUser"}),
        record("sumo", 2, {"username": "anonymoususer"}),
        record("sumo", 3, {"username": "SumoBot"}),
        record("gh", 4, {"username": "ghost"}, "github.issue.opened"),
        # The same login in another system is someone else, not SUMO's placeholder.
        record("gh", 5, {"username": "sumobot"}, "github.issue.opened"),
        record("sumo", 6, {"email": "nobody@mozilla.org"}),
    )

    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:contributors_placeholderaccount_changelist"))

    assert response.status_code == 200
    counts = {(p.source_kind, p.value): p.activity_count for p in response.context["cl"].result_list}
    assert counts == {
        ("bugzilla", "nobody@mozilla.org"): 1,
        ("github", "10137"): 0,
        ("github", "ghost"): 1,
        ("sumo", "anonymoususer"): 2,
        ("sumo", "sumobot"): 1,
    }
    assert {(p.value, p.activity_count) for p in placeholder_accounts_with_counts()} == {(v, c) for (_k, v), c in counts.items()}


def test_the_same_account_cannot_be_listed_twice_in_two_spellings(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:contributors_placeholderaccount_add"), {"source_kind": "sumo", "kind": "username", "value": "ANONYMOUSUSER"}
    )

    assert response.status_code == 200 and response.context["adminform"].form.errors
    assert PlaceholderAccount.objects.filter(value="anonymoususer").count() == 1


def _client_in(group: str, django_user_model) -> Client:
    user = django_user_model.objects.create_user(username=group.replace(" ", ""), email=f"{group[:4]}@example.org", is_staff=True)
    user.groups.add(role_groups_ensure()[group])
    client = Client()
    client.force_login(user)
    return client


def test_a_community_builder_cannot_read_or_change_the_list(django_user_model) -> None:
    builder = _client_in(BUILDER_GROUP, django_user_model)
    listed = PlaceholderAccount.objects.get(source_kind="sumo", value="anonymoususer")

    assert builder.get(reverse("admin:contributors_placeholderaccount_changelist")).status_code == 403
    add = builder.post(reverse("admin:contributors_placeholderaccount_add"), {"source_kind": "sumo", "kind": "username", "value": "ann"})
    change = builder.post(
        reverse("admin:contributors_placeholderaccount_change", args=[listed.pk]),
        {"source_kind": "sumo", "kind": "username", "value": "helper"},
    )
    delete = builder.post(reverse("admin:contributors_placeholderaccount_delete", args=[listed.pk]), {"post": "yes"})

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert not PlaceholderAccount.objects.filter(value__in=["ann", "helper"]).exists()
    assert PlaceholderAccount.objects.filter(pk=listed.pk, value="anonymoususer").exists()


def test_staff_keep_the_list(django_user_model) -> None:
    staff = _client_in(STAFF_GROUP, django_user_model)

    response = staff.post(
        reverse("admin:contributors_placeholderaccount_add"), {"source_kind": "github", "kind": "username", "value": "Copilot"}
    )

    assert response.status_code == 302
    assert PlaceholderAccount.objects.filter(source_kind="github", value="copilot").exists()


def test_signing_in_as_a_placeholder_address_opens_no_record(django_user_model) -> None:
    """Someone whose sign-in address is Bugzilla's nobody@ (a provider that verified it, a test
    account) is not shown the placeholder's activities as their own, nor let in as a contributor."""
    Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla")
    ingest(record("bmo", 1, {"email": "nobody@mozilla.org"}, "bugzilla.comment.created"))
    assert Identity.objects.filter(kind="email", value="nobody@mozilla.org").exists()
    someone = django_user_model.objects.create_user(username="n", email="Nobody@mozilla.org")

    assert person_for_user(user=someone) is None
    assert not is_known_contributor("nobody@mozilla.org")
