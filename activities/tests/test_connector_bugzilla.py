"""Bugzilla sync against a local stand-in of its REST API."""

from collections import Counter

import pytest

from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync
from contributors.models import Identity

from .builders import at, bugzilla_bugs, bz_comment
from .standin import FakeBugzilla, Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return FakeBugzilla()


@pytest.fixture
def server(api):
    with Server(api) as url:
        yield url


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
    # Three pages of bugs (40, 40, 20), each with one comment and one attachment request.
    assert run.requests == 9
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
    # Only the changed bug (and the one at the checkpoint) were asked for again.
    assert run.requests == 3


def test_an_empty_bugzilla_is_a_successful_sync(source):
    run = source_sync(source=source)
    assert (run.status, run.created, run.requests) == (SyncRun.Status.SUCCEEDED, 0, 1)


def test_a_bugzilla_error_answer_fails_the_run_and_the_next_run_resumes(api, source):
    expected = bugzilla_bugs(api, 100)
    api.fail("offset=40", status=200, times=1, body=b'{"error": true, "code": 51, "message": "Invalid component"}')

    failed = source_sync(source=source)
    resumed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED and "Bugzilla error 51: Invalid component" in failed.error
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected
