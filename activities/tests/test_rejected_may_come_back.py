"""Items rejected for a reason that may change (a spam flag, a question Kitsune hides, a bug fixed by
nobody) are counted as rejected once, read again by later syncs, and stored the day the system
serves them properly; their rejection then goes. Lasting reasons (a deleted account) stay, once.
Payloads in the shapes of Kitsune API v2, Bugzilla REST and GitHub REST (see builders.py)."""

import pytest

from activities.connectors import base
from activities.connectors.base import rejections_to_recheck
from activities.models import Activity, RejectedItem, Source, SyncRun
from activities.sync import source_sync
from activities.tests.test_push_api import push, record
from activities.tokens import source_token_create

from .builders import bz_bug, gh_issue, gh_review, gh_user, sumo_answer, sumo_question
from .standin import FakeBugzilla, FakeGitHub, FakeKitsune, Server

pytestmark = pytest.mark.django_db


def synced(source: Source) -> SyncRun:
    run = source_sync(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def rejected(source: Source) -> dict[str, tuple[str, bool]]:
    return {row.external_id: (row.reason, row.lasting) for row in RejectedItem.objects.filter(source=source)}


def stored_ids(source: Source) -> set[str]:
    return set(Activity.objects.filter(source=source).values_list("external_id", flat=True))


# ------------------------------------------------------------------ SUMO


@pytest.fixture
def kitsune():
    api = FakeKitsune()
    with Server(api) as url:
        yield api, Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url, options={"backoff_seconds": 0})


def test_an_answer_to_a_question_kitsune_hides_is_stored_when_the_question_is_shown_again(kitsune):
    """Kitsune answers 404 for a hidden question (waiting for moderation) as for a deleted one: the
    answer must not be lost for good because the answers listing has moved past its `created`."""
    api, source = kitsune
    api.questions.append(sumo_question(1, user="asker", created="2024-04-01T10:00:00Z"))
    api.answers.append(sumo_answer(11, 1, user="helper", created="2024-04-01T10:30:00Z"))
    api.hidden_questions.add(1)

    first = synced(source)
    api.answers.append(sumo_answer(12, 2, user="other", created="2024-04-02T10:00:00Z"))
    api.questions.append(sumo_question(2, user="asker", created="2024-04-02T09:00:00Z"))
    still_hidden = synced(source)

    assert first.rejected == 1 and still_hidden.rejected == 0
    assert rejected(source) == {"answer:11": ("question not served (hidden or deleted)", False)}
    assert RejectedItem.objects.get(external_id="answer:11").checked_at is not None
    assert "answer:11" not in stored_ids(source)

    api.hidden_questions.discard(1)  # shown again; its `updated` did not move
    shown = synced(source)

    assert (shown.created, shown.rejected) == (2, 0)
    assert {"answer:11", "question:1"} <= stored_ids(source)
    assert Activity.objects.get(source=source, external_id="answer:11").container == "firefox::en-US"
    assert rejected(source) == {}
    assert synced(source).rejected == 0


def test_an_answer_marked_as_spam_then_not_is_stored_and_its_rejection_goes(kitsune):
    api, source = kitsune
    api.questions.append(sumo_question(1, user="asker", created="2024-04-01T10:00:00Z"))
    answer = sumo_answer(11, 1, user="helper", created="2024-04-01T10:30:00Z")
    answer["is_spam"] = True
    api.answers.append(answer)

    first = synced(source)
    again = synced(source)
    assert (first.rejected, again.rejected) == (1, 0)
    assert rejected(source) == {"answer:11": ("marked as spam", False)}

    answer["is_spam"] = False  # a moderator reverted the flag; the answer's `created` never moves
    reverted = synced(source)

    assert (reverted.created, reverted.rejected) == (1, 0)
    assert "answer:11" in stored_ids(source)
    assert rejected(source) == {}


def test_a_question_marked_as_spam_then_not_is_stored_with_its_solution(kitsune):
    api, source = kitsune
    question = sumo_question(1, user="asker", created="2024-04-01T10:00:00Z", updated="2024-04-01T12:00:00Z",
                             solution=11, solver="helper")
    question["is_spam"] = True
    api.questions.append(question)
    api.questions.append(sumo_question(2, user="later", created="2024-04-03T10:00:00Z"))

    assert synced(source).rejected == 1
    assert rejected(source) == {"question:1": ("marked as spam", False)}

    question["is_spam"] = False  # `updated` unchanged: the questions listing does not bring it back
    reverted = synced(source)

    assert reverted.rejected == 0
    assert {"question:1", "solution:1:11"} <= stored_ids(source)
    assert rejected(source) == {}


def test_a_deleted_account_is_lasting_and_never_read_again(kitsune):
    api, source = kitsune
    question = sumo_question(1, user="gone", created="2024-04-01T10:00:00Z")
    question["creator"] = None
    api.questions.append(question)

    assert synced(source).rejected == 1
    requests = len(api.requests)
    assert synced(source).rejected == 0
    assert rejected(source) == {"question:1": ("deleted account", True)}
    assert rejections_to_recheck(source=source, prefix="question:") == []
    assert not any(path.rstrip("/").endswith("/question/1") for path, _headers in api.requests[requests:])


def test_rechecks_are_bounded_per_sync_and_each_item_gets_its_turn(kitsune, monkeypatch):
    api, source = kitsune
    api.questions.append(sumo_question(1, user="asker", created="2024-04-01T10:00:00Z"))
    for answer_id in (11, 12, 13):
        answer = sumo_answer(answer_id, 1, user="helper", created=f"2024-04-01T10:{answer_id}:00Z")
        answer["is_spam"] = True
        api.answers.append(answer)
    assert synced(source).rejected == 3
    monkeypatch.setattr(base.rejections_to_recheck, "__kwdefaults__", {"limit": 1})

    turns = []
    for _ in range(3):
        before = dict(RejectedItem.objects.values_list("external_id", "checked_at"))
        assert synced(source).rejected == 0
        after = dict(RejectedItem.objects.values_list("external_id", "checked_at"))
        turns.append({key for key in after if after[key] != before[key]})

    assert sorted(next(iter(turn)) for turn in turns) == ["answer:11", "answer:12", "answer:13"]
    assert all(len(turn) == 1 for turn in turns)


# ------------------------------------------------------------------ Bugzilla


def test_a_fix_rejected_as_by_nobody_is_stored_once_the_bug_is_reassigned():
    api = FakeBugzilla()
    with Server(api) as url:
        source = Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=url,
                                       options={"backoff_seconds": 0})
        bug = bz_bug(7, created="2024-01-01T00:00:00Z", changed="2024-01-05T00:00:00Z", fixed=True)
        bug["assigned_to"] = "nobody@mozilla.org"
        bug["assigned_to_detail"] = {"id": 1, "real_name": "Nobody; OK to take it and work on it",
                                     "name": "nobody@mozilla.org", "email": "nobody@mozilla.org"}
        api.bugs.append(bug)

        first = synced(source)
        assert first.rejected == 1
        assert rejected(source) == {"fixed:7": ("fixed with no assignee (the default assignee fixes nothing)", False)}

        # Reassigned to who fixed it: Bugzilla moves `last_change_time`, the listing brings the bug back.
        bug.update(assigned_to="ann@example.org", last_change_time="2024-02-01T00:00:00Z",
                   assigned_to_detail={"id": 41, "real_name": "Ann Example", "name": "ann@example.org",
                                       "email": "ann@example.org"})
        reassigned = synced(source)

    assert (reassigned.created, reassigned.rejected) == (1, 0)
    fix = Activity.objects.get(source=source, external_id="fixed:7")
    assert fix.identity.value == "41"  # Ann's Bugzilla account
    assert rejected(source) == {}


# ------------------------------------------------------------------ GitHub


def test_github_deleted_accounts_are_lasting_rejections():
    api = FakeGitHub()
    repo = "mozilla/kitsune"
    data = api.repo(repo)
    data["issues"] = [gh_issue(repo, 3, user=gh_user("ann", 1), created="2024-01-01T00:00:00Z", pull=True)]
    data["reviews"][3] = [gh_review(34, user=None, submitted="2024-01-04T00:00:00Z")]
    with Server(api) as url:
        source = Source.objects.create(slug="gh", kind="github", name="GitHub", base_url=url,
                                       options={"repos": [repo], "backoff_seconds": 0})
        assert synced(source).rejected == 1
        data["issues"][0]["updated_at"] = "2024-02-01T00:00:00Z"  # brings its reviews back
        assert synced(source).rejected == 0
    assert rejected(source) == {f"review:{repo}:34": ("deleted account", True)}


# ------------------------------------------------------------------ stored later, by any way in


def test_an_item_pushed_after_it_was_rejected_is_no_longer_rejected(client):
    source = Source.objects.create(slug="reps", kind="reps", name="Reps")
    _token, secret = source_token_create(source=source, name="Reps portal")
    RejectedItem.objects.create(source=source, external_id="e1", reason="marked as spam", lasting=False)
    RejectedItem.objects.create(source=source, external_id="e2", reason="deleted account")

    answer = push(client, [record("e1"), {"source": "reps", "external_id": "e2"}], secret).json()

    assert answer["created"] == 1
    assert rejected(source) == {"e2": ("deleted account", True)}  # e2 was malformed: not stored, still rejected
