"""Connectors keep in an activity's raw payload what Baloo needs (ids, states, times), never the people
it names or what they wrote: an erasure must not have to hunt for a person in others' payloads."""

import json

import pytest

from activities.connectors.github import comment_record, commit_record, issue_records, push_commit_record, review_record
from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync

from .builders import at, bugzilla_bugs, gh_user, kitsune_data, sample
from .standin import FakeBugzilla, FakeKitsune, Server

pytestmark = pytest.mark.django_db
PERSONAL_KEYS = {"login", "email", "name", "real_name", "display_name", "username", "nick", "body", "text", "content",
                 "creator", "author", "assigned_to", "message", "avatar", "avatar_url"}


def personal_values(item) -> set[str]:
    """Every string a payload holds under a key that names or quotes a person."""
    found: set[str] = set()
    if isinstance(item, dict):
        for key, value in item.items():
            if key in ("tags", "labels"):  # named things, not people
                continue
            if key in PERSONAL_KEYS and isinstance(value, str) and value:
                found.add(value)
            found |= personal_values(value)
    elif isinstance(item, list):
        for value in item:
            found |= personal_values(value)
    return found


def assert_keeps_nobody(data: dict, raw: dict) -> None:
    written = json.dumps(data, ensure_ascii=False)
    leaked = {value for value in personal_values(raw) if value in written}
    assert not leaked, (leaked, data)


def test_github_records_keep_ids_states_and_times_only():
    issue = sample("github_pull_issue")
    issue.update(user=gh_user("ann", 1), assignee=gh_user("bob", 2), assignees=[gh_user("bob", 2)], body="cc @carol")
    for record in issue_records("gh", "mozilla/kitsune", issue):
        assert_keeps_nobody(record["data"], issue)
        assert record["data"]["number"] == issue["number"]
    review = {**sample("github_review"), "user": gh_user("dan", 4), "body": "Thanks Erin Example!"}
    assert_keeps_nobody(review_record("gh", "mozilla/kitsune", 1, review)["data"], review)
    comment = {**sample("github_comment"), "user": gh_user("eve", 5), "body": "Ping fay@example.org"}
    assert_keeps_nobody(comment_record("gh", "mozilla/kitsune", comment)["data"], comment)
    commit = sample("github_commit")
    commit["committer"] = gh_user("gus", 7)
    commit["commit"]["committer"] = {"name": "Gus Committer", "email": "gus@example.org", "date": at(1)}
    stored = commit_record("gh", "mozilla/kitsune", commit)
    assert_keeps_nobody(stored["data"], commit)
    assert stored["data"]["sha"] == commit["sha"] and stored["actor"]["email"] == commit["commit"]["author"]["email"]
    pushed = {"id": "abc", "timestamp": at(2), "message": "Fix", "author": {"email": "hal@example.org", "name": "Hal"},
              "committer": {"email": "ivy@example.org", "name": "Ivy"}, "url": "https://github.com/x/y/commit/abc"}
    assert_keeps_nobody(push_commit_record("gh", "x/y", pushed)["data"], pushed)


def test_bugzilla_records_keep_no_assignee_creator_or_comment_text():
    api = FakeBugzilla()
    bugzilla_bugs(api, 6)
    with Server(api) as url:
        source = Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=url,
                                       options={"backoff_seconds": 0})
        assert source_sync(source=source).status == SyncRun.Status.SUCCEEDED
    raw = {"bugs": api.bugs, "comments": api.comments, "attachments": api.attachments}
    activities = Activity.objects.filter(source=source)
    assert {activity.type for activity in activities} >= {"bugzilla.bug.filed", "bugzilla.bug.fixed", "bugzilla.comment.created"}
    for activity in activities:
        assert_keeps_nobody(activity.data, raw)
        assert "@" not in json.dumps(activity.data)


def test_sumo_records_keep_no_solver_or_participants():
    api = FakeKitsune()
    kitsune_data(api, 8)
    with Server(api) as url:
        source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url, options={"backoff_seconds": 0})
        assert source_sync(source=source).status == SyncRun.Status.SUCCEEDED
    raw = {"questions": api.questions, "answers": api.answers}
    activities = Activity.objects.filter(source=source)
    assert "sumo.answer.solution" in {activity.type for activity in activities}
    for activity in activities:
        assert_keeps_nobody(activity.data, raw)
