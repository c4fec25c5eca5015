"""Bugzilla sync against a local stand-in of its REST API."""

from collections import Counter

import pytest

from activities.models import Activity, RejectedItem, Source, SyncRun
from activities.sync import source_sync, source_sync_restart
from contributors.models import Identity

from .builders import at, bugzilla_bugs, bz_bug, bz_comment
from .standin import FakeBugzilla

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return FakeBugzilla()


@pytest.fixture
def source(server, monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_BMO", "bmo-key-123")
    return Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=server, token_env="BALOO_TOKEN_TEST_BMO",
                                 options={"page_size": 40, "backoff_seconds": 0})


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def test_bugs_comments_attachments_and_fixes_page_by_page(api, source):
    expected = bugzilla_bugs(api, 100)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    # Three pages of bugs (40, 40, 20), and for each page its bugs' comments in one request and
    # their attachments in another (`/rest/bug/<first>/comment?ids=…`): 3 + 2 * 3, not 3 + 2 * 100.
    # And once a day, Bugzilla's own count of the bugs (`count_only`, for the data quality page).
    assert run.requests == 3 + 2 * 3 + 1
    assert set(api.api_keys_seen) == {"bmo-key-123"}
    fixed = Activity.objects.get(source=source, external_id="fixed:3")
    assert fixed.container == "Firefox::General"
    assert "fay@example.com" in Identity.objects.filter(person=fixed.identity.person_id).values_list("value", flat=True)
    assert Activity.objects.get(source=source, external_id="bug:2").container == "Firefox::Downloads Panel"
    # Comment 0 is the description, counted as the filing, not as a comment.
    assert not Activity.objects.filter(source=source, external_id="comment:10").exists()


def test_incremental_on_last_change_time(api, source):
    bugzilla_bugs(api, 50)
    source_sync(source=source)
    before = stored(source)

    bug = api.bugs[10]
    bug["last_change_time"] = at(100_000)
    api.comments[bug["id"]].append(bz_comment(99_999, bug["id"], 2, creator="new@example.org", when=at(100_000)))
    run = source_sync(source=source)

    assert run.created == 1
    assert stored(source) - before == Counter({"bugzilla.comment.created": 1})
    # Only the changed bug (and the one at the checkpoint) were asked for again: one search, then
    # the comments of both in one request and their attachments in another.
    assert run.requests == 1 + 2


def test_an_empty_bugzilla_is_a_successful_sync(source):
    run = source_sync(source=source)
    # The empty listing, then Bugzilla's own count of its bugs (0).
    assert (run.status, run.created, run.requests) == (SyncRun.Status.SUCCEEDED, 0, 2)


def test_a_bugzilla_error_answer_fails_the_run_and_the_next_run_resumes(api, source):
    expected = bugzilla_bugs(api, 100)
    api.fail("offset=40", status=200, times=1, body=b'{"error": true, "code": 51, "message": "Invalid component"}')

    failed = source_sync(source=source)
    resumed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED and "Bugzilla error 51: Invalid component" in failed.error
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected


def without_count(comment: dict) -> dict:
    """A comment as some Bugzilla versions serve it: no `count`, its number is its place in the list."""
    comment = dict(comment)
    del comment["count"]
    return comment


def test_without_count_the_first_comment_is_the_description_and_urls_use_the_position(api, source):
    api.bugs.append(bz_bug(41, created=at(1), changed=at(30)))
    api.comments[41] = [without_count(bz_comment(410, 41, 0, creator="eve@example.net", when=at(1))),
                        without_count(bz_comment(411, 41, 0, creator="gus@example.org", when=at(10))),
                        without_count(bz_comment(412, 41, 0, creator="eve@example.net", when=at(20)))]

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == Counter({"bugzilla.bug.filed": 1, "bugzilla.comment.created": 2})
    comments = Activity.objects.filter(source=source, type="bugzilla.comment.created").order_by("external_id")
    assert [(c.external_id, c.url.rsplit("#", 1)[1]) for c in comments] == [("comment:411", "c1"), ("comment:412", "c2")]


def test_a_comment_url_never_ends_in_a_bare_anchor(api, source):
    bugzilla_bugs(api, 12)
    for comments in api.comments.values():
        comments[1] = without_count(comments[1])

    source_sync(source=source)

    urls = Activity.objects.filter(source=source, type="bugzilla.comment.created").values_list("url", flat=True)
    assert urls and all(url.endswith("#c1") for url in urls)


@pytest.mark.parametrize(("real_name", "shown"), [
    ("Ann Example [:ann] (PTO until 2 Jan)", "Ann Example"),
    ("Ann Example (:ann)", "Ann Example"),
    ("Ann Example :ann (NI me)", "Ann Example"),
    ("Ann Example [:ann, needinfo? me]", "Ann Example"),
    (":ann Example (he/him)", "ann Example"),
    ("Ann Example - away until March", "Ann Example"),
    ("Ann Example :ann: ⌚UTC+1", "Ann Example"),
    ("[:ann] Ann Example", "Ann Example"),
    ("Ann-Marie O'Example", "Ann-Marie O'Example"),
    ("[:ann]", ""),
])
def test_display_names_lose_their_nick_and_availability_notes(api, source, real_name, shown):
    bug = bz_bug(42, created=at(1), changed=at(2))
    bug["creator"] = "ann@example.org"
    bug["creator_detail"] = {"email": "ann@example.org", "id": 7100, "name": "ann@example.org", "nick": "ann", "real_name": real_name}
    api.bugs.append(bug)

    source_sync(source=source)

    identity = Activity.objects.get(source=source, external_id="bug:42").identity
    assert identity.name == shown


def test_items_without_an_author_or_a_time_are_rejected_once_with_a_reason(api, source):
    bugzilla_bugs(api, 3)
    api.bugs[0].update(creator=None, creator_detail=None)
    api.bugs[2]["assigned_to"] = api.bugs[2]["assigned_to_detail"]["email"] = "nobody@mozilla.org"
    api.comments[2][1].update(creator=None, author=None)
    api.attachments[3][0]["creation_time"] = None

    first = source_sync(source=source)
    api.bugs[1]["last_change_time"] = at(1_000)  # the next sync reads the bugs again
    again = source_sync(source=source)
    source_sync_restart(source=source)  # admin → "Start over": every bug is read again
    restarted = source_sync(source=source)

    reasons = {sample["external_id"]: sample["reason"] for sample in first.rejections}
    assert reasons == {"bug:1": "no author named", "comment:21": "no author named", "attachment:30": "no time given",
                       "fixed:3": "fixed with no assignee (the default assignee fixes nothing)"}
    assert first.rejected == 4 and first.status == SyncRun.Status.SUCCEEDED
    assert (again.rejected, restarted.rejected) == (0, 0)
    assert RejectedItem.objects.filter(source=source).count() == 4
