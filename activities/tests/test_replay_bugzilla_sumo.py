"""Replay of Bugzilla REST 5.x and Kitsune API v2 payloads in their real shapes (older servers,
deleted and placeholder accounts, missing fields, unicode names) through the connectors: each item
stored once with its type, time, actor, container and URL, or rejected once with a reason."""

import pytest

from activities.models import Activity, RejectedItem, Source, SyncRun
from activities.sync import source_sync
from contributors.models import Identity

from .builders import bz_bug, bz_comment, sumo_answer, sumo_question
from .standin import FakeBugzilla, FakeKitsune, Server

pytestmark = pytest.mark.django_db


def sync_twice(source: Source) -> SyncRun:
    first = source_sync(source=source)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    second = source_sync(source=source)
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert (second.created, second.rejected) == (0, 0)
    return first


def person_keys(activity: Activity) -> set[tuple[str, str]]:
    return set(Identity.objects.filter(person=activity.identity.person_id).values_list("kind", "value"))


# ------------------------------------------------------------------ Bugzilla


@pytest.fixture
def bmo():
    api = FakeBugzilla()
    with Server(api) as url:
        yield api, Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=url,
                                         options={"page_size": 3, "backoff_seconds": 0})


def detail(uid: int, email: str, real_name: str, nick: str | None = None) -> dict:
    # Bugzilla 5.0 upstream: id, real_name, name (the login), email; BMO adds nick.
    found = {"id": uid, "real_name": real_name, "name": email, "email": email}
    if nick:
        found["nick"] = nick
    return found


def test_every_bug_of_a_page_brings_its_own_comments(bmo):
    api, source = bmo
    for bug_id in (101, 102, 103, 104):
        api.bugs.append(bz_bug(bug_id, created="2024-01-01T00:00:00Z", changed=f"2024-01-0{bug_id - 100}T00:00:00Z"))
        api.comments[bug_id] = [bz_comment(bug_id * 10, bug_id, 0, creator="filer@example.org", when="2024-01-01T00:00:00Z"),
                                bz_comment(bug_id * 10 + 1, bug_id, 1, creator="reply@example.org", when="2024-01-09T00:00:00Z")]

    sync_twice(source)

    comments = Activity.objects.filter(type="bugzilla.comment.created")
    assert sorted(comments.values_list("external_id", flat=True)) == [f"comment:{n * 10 + 1}" for n in (101, 102, 103, 104)]
    assert {c.url.rsplit("/", 1)[1] for c in comments} == {f"show_bug.cgi?id={n}#c1" for n in (101, 102, 103, 104)}


def test_older_bugzilla_shapes_unicode_names_private_comments_and_placeholders(bmo):
    api, source = bmo
    bug = bz_bug(7, created="2015-06-01T09:00:00Z", changed="2015-06-03T09:00:00Z", fixed=True)
    bug.update(creator="zoe@example.org", creator_detail=detail(41, "zoe@example.org", "Zoë Ñúñez [:zoe] (PTO)"),
               assigned_to="nobody@mozilla.org", assigned_to_detail=detail(1, "nobody@mozilla.org", "Nobody; OK to take it"))
    other = bz_bug(8, created="2015-06-02T09:00:00Z", changed="2015-06-02T10:00:00Z")
    other.update(creator="zoe@other.example", creator_detail=detail(42, "zoe@other.example", "Zoë Ñúñez"))
    api.bugs += [bug, other]
    old = {"id": 71, "bug_id": 7, "author": "Ann@Example.org", "time": "2015-06-02T09:00:00Z", "text": "…", "is_private": True}
    description = {"id": 70, "bug_id": 7, "creator": "zoe@example.org", "creation_time": "2015-06-01T09:00:00Z", "text": "…"}
    nameless = {"id": 72, "bug_id": 7, "creation_time": "2015-06-02T10:00:00Z", "text": "…"}
    api.comments[7] = [description, old, nameless]

    first = sync_twice(source)

    filed = Activity.objects.get(external_id="bug:7")
    assert filed.identity.person.display_name == "Zoë Ñúñez"
    assert {("email", "zoe@example.org"), ("uid", "41")} <= person_keys(filed)
    # The same real name with another address is someone else until a human says otherwise.
    assert Activity.objects.get(external_id="bug:8").identity.person_id != filed.identity.person_id
    comment = Activity.objects.get(external_id="comment:71")
    assert (comment.identity.value, comment.url.endswith("#c1")) == ("ann@example.org", True)
    assert comment.occurred_at.isoformat() == "2015-06-02T09:00:00+00:00"
    assert not Activity.objects.filter(external_id="comment:70").exists()
    assert set(RejectedItem.objects.values_list("external_id", flat=True)) == {"fixed:7", "comment:72"}
    assert first.rejected == 2


# ------------------------------------------------------------------ SUMO


@pytest.fixture
def sumo():
    api = FakeKitsune()
    api.page_size = 2
    with Server(api) as url:
        yield api, Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url, options={"backoff_seconds": 0})


def test_sumo_deleted_spam_anonymous_and_gone(sumo):
    api, source = sumo
    asked = sumo_question(1, user="AnonymousUser", created="2024-04-01T10:00:00Z", solution=12, solver="Élodie")
    spam = sumo_question(2, user="spammer", created="2024-04-01T11:00:00Z")
    spam["is_spam"] = True
    deleted = sumo_question(3, user="x", created="2024-04-01T12:00:00Z")
    deleted["creator"] = None
    api.questions += [asked, spam, deleted]
    anon = sumo_answer(11, 1, user="AnonymousUser", created="2024-04-01T10:30:00Z")
    solution = sumo_answer(12, 1, user="Élodie", created="2024-04-01T10:40:00Z")
    bot = sumo_answer(13, 3, user="SumoBot", created="2024-04-01T12:30:00Z")
    orphan = sumo_answer(14, 999, user="helper", created="2024-04-01T13:00:00Z")
    nobody = sumo_answer(15, 1, user="helper", created="2024-04-01T13:30:00Z")
    nobody["creator"] = None
    api.answers += [anon, solution, bot, orphan, nobody]

    first = sync_twice(source)

    assert set(Activity.objects.values_list("external_id", flat=True)) == {
        "question:1", "answer:11", "answer:12", "answer:13", "solution:1:12"}
    assert dict(RejectedItem.objects.values_list("external_id", "reason")) == {
        "question:2": "marked as spam", "question:3": "deleted account", "answer:14": "question not served (hidden or deleted)",
        "answer:15": "deleted account"}
    assert first.rejected == 4
    solved = Activity.objects.get(external_id="solution:1:12")
    assert solved.identity.person_id == Activity.objects.get(external_id="answer:12").identity.person_id
    assert solved.identity.person.display_name == "Élodie"
    assert Activity.objects.get(external_id="answer:12").url.endswith("/questions/1#answer-12")


def test_a_bugzilla_without_cf_last_resolved_dates_a_fix_by_the_bug_history(bmo):
    """Upstream Bugzilla has no `cf_last_resolved`: a comment after the fix moves `last_change_time`."""
    api, source = bmo
    bug = bz_bug(9, created="2016-01-01T00:00:00Z", changed="2016-03-01T00:00:00Z", fixed=True)
    del bug["cf_last_resolved"]
    bug.update(assigned_to="dev@example.org", assigned_to_detail=detail(5, "dev@example.org", "Dev"))
    api.bugs.append(bug)
    api.history[9] = [
        {"when": "2016-01-05T08:00:00Z", "who": "dev@example.org",
         "changes": [{"field_name": "status", "removed": "NEW", "added": "RESOLVED"},
                     {"field_name": "resolution", "removed": "", "added": "FIXED"}]},
        {"when": "2016-01-06T08:00:00Z", "who": "qa@example.org",
         "changes": [{"field_name": "status", "removed": "RESOLVED", "added": "VERIFIED"}]},
    ]

    sync_twice(source)

    fixed = Activity.objects.get(external_id="fixed:9")
    assert fixed.occurred_at.isoformat() == "2016-01-05T08:00:00+00:00"
    assert person_keys(fixed) >= {("email", "dev@example.org"), ("uid", "5")}
    # Read again (it changed), the stored fix asks for no history.
    bug["last_change_time"] = "2016-04-01T00:00:00Z"
    requests = len(api.requests)
    assert source_sync(source=source).created == 0
    assert not any(path.endswith("/history") for path, _headers in api.requests[requests:])
