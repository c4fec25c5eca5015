"""Bugzilla: comments, attachments and histories for a page of bugs in one request each (`ids=`).

Bugzilla's REST server adds the query's `ids` to the bug of the path; one that answers for the
path's bug only (before Bugzilla 5.0, BMO before November 2014) loses nothing: the others are
asked for one by one. The records are the same either way, and the same as when every field
was asked for.
"""

from collections import Counter

import pytest

from activities.connectors import connector_for
from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync

from .builders import at, bugzilla_bugs, bz_comment
from .standin import FakeBugzilla, Server

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


def paths(api: FakeBugzilla, what: str) -> list[str]:
    return [path for path, _headers in api.requests if path.endswith(f"/{what}")]


def read_everything(url: str) -> tuple[list[dict], list]:
    source = Source(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=url, options={"page_size": 40})
    records, rejected = [], []
    for page in connector_for(source).pages({}):
        records.extend(page.records)
        rejected.extend(page.rejected)
    return records, rejected


def test_a_page_of_bugs_costs_one_request_for_comments_and_one_for_attachments(api, source):
    expected = bugzilla_bugs(api, 100)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    assert (len(paths(api, "comment")), len(paths(api, "attachment"))) == (3, 3)
    items = sum(expected.values())
    assert 100 * run.requests / items < 4  # was 2 requests per bug: 75 per 100 items here


def test_the_same_records_as_one_bug_a_request_with_every_field(api):
    bugzilla_bugs(api, 90)
    api.comments[7].append(bz_comment(79, 7, 2, creator="ann@example.org", when=at(50)))
    with Server(api) as url:
        batched = read_everything(url)
        api.path_id_only = True  # one bug a request…
        api.include_fields = False  # …and every field of every comment, as the connector asked before
        one_by_one = read_everything(url)

    assert batched == one_by_one
    assert any(record["external_id"] == "comment:79" for record in batched[0])


def test_a_server_that_answers_for_the_path_s_bug_only_has_the_others_asked_alone(api, source):
    expected = bugzilla_bugs(api, 50)
    api.path_id_only = True

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    # Two pages (40, 10): per page one request for all, answered for the first bug only, then one per other bug.
    assert len(paths(api, "comment")) == len(paths(api, "attachment")) == 50


def test_comments_are_asked_without_their_text(api, source):
    bugzilla_bugs(api, 3)

    source_sync(source=source)

    asked = [headers for path, headers in api.requests if path.endswith("/comment")]
    assert len(asked) == 1
    comments = [query for query in api.queries if query.get("include_fields") and "/comment" in query["path"]]
    fields = set(comments[0]["include_fields"][0].split(","))
    assert "text" not in fields and {"id", "creator", "creation_time", "count"} <= fields


def test_fix_times_of_a_bugzilla_without_cf_last_resolved_come_from_one_history_request_per_page(api, source):
    bugzilla_bugs(api, 40)
    for bug in api.bugs:
        bug.pop("cf_last_resolved", None)
        if bug["resolution"] == "FIXED":
            # Resolved FIXED once, at a time of its own, then commented on later.
            api.history[bug["id"]] = [{"when": at(bug["id"] + 3), "who": "fay@example.com",
                                       "changes": [{"field_name": "resolution", "removed": "", "added": "FIXED"}]}]

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert len(paths(api, "history")) == 1
    fixes = Activity.objects.filter(source=source, type="bugzilla.bug.fixed")
    assert fixes.count() == 13
    for fix in fixes:
        bug_id = int(fix.external_id.split(":")[1])
        assert fix.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ") == at(bug_id + 3)


def test_an_answer_about_bugs_not_asked_for_stores_nothing_of_them(api, source):
    bugzilla_bugs(api, 2)
    hostile = (b'{"bugs": {"1": {"comments": []}, "2": {"comments": []}, "999": {"comments": [{"id": 9990, "bug_id": 999, '
               b'"count": 1, "creator": "mallory@example.net", "creation_time": "2024-01-01T00:00:00Z"}]}}, "comments": {}}')
    api.fail("/comment", status=200, times=1, body=hostile)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert not Activity.objects.filter(source=source, external_id="comment:9990").exists()
    assert not Activity.objects.filter(source=source, type="bugzilla.comment.created").exists()


@pytest.mark.parametrize("body", [b'{"bugs": [1, 2, 3], "comments": {}}', b'{"bugs": "all of them"}'])
def test_a_malformed_answer_fails_the_run_clearly_and_the_next_run_resumes(api, source, body):
    expected = bugzilla_bugs(api, 10)
    api.fail("/comment", status=200, times=1, body=body)

    failed = source_sync(source=source)
    resumed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED and "comment" in failed.error
    assert resumed.status == SyncRun.Status.SUCCEEDED and stored(source) == expected
