"""GitHub sync against a local stand-in of the REST API: every activity once, whatever goes wrong on the way."""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.models import Activity, Source, SyncRun, SyncState
from activities.sync import source_sync, source_sync_restart
from contributors.models import Identity

from .builders import at, gh_comment, gh_user, github_repo
from .standin import FakeGitHub

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return FakeGitHub()


def make_source(url: str, **options) -> Source:
    return Source.objects.create(
        slug="github-example", kind="github", name="GitHub", base_url=url, token_env="BALOO_TOKEN_TEST_GH",
        options={"repos": ["example/app"], "backoff_seconds": 0, **options},
    )


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def test_first_sync_stores_every_activity_once(api, server, monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_GH", "ghp_first")
    expected = github_repo(api, "example/app", issues=130, pulls=90, comments=250, commits=150)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    assert run.created == sum(expected.values())
    # 100 items a page: issues 3 pages, comments 3, review comments 1, commits 2; with a token, the
    # reviews of the 90 pull requests (all on the first page of issues) in one GraphQL query, not
    # one REST request each (3 + 90 + 3 + 1 + 2 before).
    assert run.requests == 3 + 1 + 3 + 1 + 2
    assert sum(path == "/graphql" for path, _headers in api.requests) == 1
    assert all(token == "Bearer ghp_first" for token in api.tokens_seen)


def test_resync_adds_nothing_and_an_unchanged_source_costs_one_conditional_request_per_listing(api, server):
    github_repo(api, "example/app", issues=30, pulls=10, comments=40, commits=20)
    source = make_source(server)
    first = source_sync(source=source)
    total = Activity.objects.count()

    second = source_sync(source=source)
    third = source_sync(source=source)

    assert Activity.objects.count() == total
    assert second.created == 0 and third.created == 0
    assert second.requests < first.requests
    # Four listings (issues, comments, review comments, commits), each answered 304.
    assert (third.requests, third.not_modified) == (4, 4)


def test_new_comments_add_exactly_themselves(api, server):
    github_repo(api, "example/app", issues=20, pulls=0, comments=20, commits=5)
    source = make_source(server)
    source_sync(source=source)
    before = stored(source)

    later = at(60 * 24 * 30)
    api.repo("example/app")["comments"] += [gh_comment("example/app", 90_001, user=gh_user("newbie", 99), created=later),
                                            gh_comment("example/app", 90_002, user=gh_user("newbie", 99), created=later)]
    run = source_sync(source=source)

    assert run.created == 2
    assert stored(source) - before == Counter({"github.comment.created": 2})


def test_commit_author_email_and_login_are_one_person(api, server):
    github_repo(api, "example/app", issues=5, pulls=0, comments=0, commits=3)
    source = make_source(server)
    source_sync(source=source)

    email = Identity.objects.get(kind=Identity.Kind.EMAIL, value="user1@example.org")
    login = Identity.objects.get(kind=Identity.Kind.USERNAME, value="user1")
    assert email.person_id == login.person_id


def test_bots_are_flagged(api, server):
    repo = api.repo("example/app")
    from .builders import gh_issue

    repo["issues"] += [gh_issue("example/app", 1, user=gh_user("dependabot[bot]", 49699333, "Bot"), created=at(1)),
                       gh_issue("example/app", 2, user=gh_user("release-robot", 777, "Bot"), created=at(2)),
                       gh_issue("example/app", 3, user=gh_user("ann", 501), created=at(3))]
    source = make_source(server)
    source_sync(source=source)

    bots = {identity.value: identity.person.is_bot for identity in Identity.objects.filter(kind=Identity.Kind.USERNAME).select_related("person")}
    assert bots == {"dependabot[bot]": True, "release-robot": True, "ann": False}


def test_a_502_on_one_page_is_retried(api, server):
    expected = github_repo(api, "example/app", issues=250, pulls=0, comments=10, commits=10)
    api.fail("/issues", status=502, times=1)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected


def test_a_lasting_5xx_fails_the_run_clearly_and_the_next_run_resumes(api, server):
    expected = github_repo(api, "example/app", issues=250, pulls=0, comments=10, commits=10)
    source = make_source(server, max_retries=2)
    # The second page of issues keeps failing.
    api.fail("page=2", status=502, times=3)

    failed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED
    assert "HTTP 502 after 3 attempts" in failed.error and "/repos/example/app/issues" in failed.error
    assert failed.created == 100  # the first page was committed and stays
    resumed = source_sync(source=source)
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected
    assert failed.created + resumed.created == sum(expected.values())


def test_malformed_json_fails_the_run_and_nothing_is_lost(api, server):
    expected = github_repo(api, "example/app", issues=10, pulls=0, comments=150, commits=10)
    api.fail("/issues/comments", status=200, times=1, body=b'[{"id": 1, "user": ')
    source = make_source(server)

    failed = source_sync(source=source)
    assert failed.status == SyncRun.Status.FAILED
    assert "not valid JSON" in failed.error
    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected


def test_a_deleted_repository_is_reported_and_the_others_still_sync(api, server):
    expected = github_repo(api, "example/app", issues=10, pulls=2, comments=5, commits=5)
    source = make_source(server, repos=["example/gone", "example/app"])

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "example/gone: repository not found (HTTP 404)" in run.error
    assert stored(source) == expected


def test_rate_limit_exhaustion_defers_the_run_until_the_reset_then_resumes(server, api):
    expected = github_repo(api, "example/app", issues=350, pulls=0, comments=120, commits=10)
    api.rate_limit = api.remaining = 3
    api.reset_at = int((timezone.now() + timedelta(minutes=30)).timestamp())
    source = make_source(server)

    deferred = source_sync(source=source)

    assert deferred.status == SyncRun.Status.DEFERRED
    assert "rate limited until" in deferred.error
    assert abs((deferred.resume_at - timezone.now()) - timedelta(minutes=30)) < timedelta(seconds=30)
    assert deferred.created == 300
    # The last answer said "0 remaining": the client did not spend a request on a certain 403.
    assert deferred.requests == 3
    assert SyncState.objects.get(source=source).next_sync_at >= deferred.resume_at
    # Before the reset, a sync (this source's, or any other with the same token, in any worker)
    # knows the quota is used up and spends no request on it.
    early = source_sync(source=source)
    assert (early.status, early.requests) == (SyncRun.Status.DEFERRED, 0)

    api.remaining = 5000  # the reset
    with time_machine.travel(deferred.resume_at):
        resumed = source_sync(source=source)
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected


def test_a_pool_of_tokens_moves_on_when_one_is_used_up(api, server, monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_GH", "ghp_one")
    monkeypatch.setenv("BALOO_TOKEN_TEST_GH_2", "ghp_two,ghp_three")
    expected = github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    api.exhausted_tokens = {"Bearer ghp_one"}
    api.reset_at = int((timezone.now() + timedelta(minutes=30)).timestamp())
    source = make_source(server)
    source.token_env = "BALOO_TOKEN_TEST_GH, BALOO_TOKEN_TEST_GH_2"
    source.save()

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected
    assert api.tokens_seen[0] == "Bearer ghp_one" and set(api.tokens_seen[1:]) == {"Bearer ghp_two"}


def test_a_secondary_rate_limit_with_retry_after_defers_the_run(api, server):
    github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    api.fail("/issues/comments", status=403, times=1, headers={"Retry-After": "120"},
             body=b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}')
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.DEFERRED
    assert timedelta(seconds=100) < run.resume_at - timezone.now() < timedelta(seconds=140)
    assert stored(source)["github.issue.opened"] == 5  # the listing before it was committed


def test_every_repository_of_an_organisation(api, server):
    expected = github_repo(api, "example/app", issues=3, pulls=1, comments=2, commits=2)
    expected += github_repo(api, "example/site", issues=4, pulls=0, comments=1, commits=1, offset=5000)
    api.orgs["example"] = ["example/app", "example/site"]
    source = make_source(server, repos=[], org="example")

    run = source_sync(source=source)
    again = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected
    assert again.created == 0


def test_a_worker_killed_mid_sync_resumes_from_the_checkpoint(api, server, monkeypatch):
    expected = github_repo(api, "example/app", issues=450, pulls=0, comments=10, commits=10)
    source = make_source(server)
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 100)  # commit every page

    class Killed(BaseException):
        pass

    from activities.connectors import http

    real_get = http.HttpClient.get
    calls = {"n": 0}

    def dying_get(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(http.HttpClient, "get", dying_get)
    with pytest.raises(Killed):
        source_sync(source=source)
    monkeypatch.setattr(http.HttpClient, "get", real_get)
    assert Activity.objects.filter(source=source).count() == 200
    # A killed process never releases its lock: a sync meanwhile is skipped…
    SyncState.objects.filter(source=source).update(lock_owner="dead-worker", locked_until=timezone.now() + timedelta(minutes=5))
    assert source_sync(source=source).status == SyncRun.Status.SKIPPED
    # …until the lock expires, then the next one resumes from the checkpoint.
    SyncState.objects.filter(source=source).update(locked_until=timezone.now() - timedelta(seconds=1))
    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert resumed.duplicate == 0
    assert stored(source) == expected


ABUSE = (b'{"message": "You have triggered an abuse detection mechanism. Please wait a few minutes before you try again.",'
         b' "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#abuse-rate-limits"}')


def test_an_abuse_detection_403_without_retry_after_defers_and_backs_off_on_repeats(api, server):
    expected = github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    # The words "rate limit" appear nowhere in this answer, and no header says when to come back.
    api.fail("/issues/comments", status=403, times=3, body=ABUSE)
    source = make_source(server)

    waits = []
    moment = timezone.now()
    for _ in range(3):
        # Each run when the last one said to come back (before that, every sync with the token waits).
        with time_machine.travel(moment):
            run = source_sync(source=source)
            assert run.status == SyncRun.Status.DEFERRED, run.error
            assert "secondary rate limit" in run.error and "abuse detection" in run.error
            waits.append((run.resume_at - timezone.now()).total_seconds())
        moment = run.resume_at
    with time_machine.travel(moment):
        resumed = source_sync(source=source)

    # At least a minute, then twice as long for each run in a row the limit stops.
    assert 60 <= waits[0] < 70 and 120 <= waits[1] < 130 and 240 <= waits[2] < 250
    assert resumed.status == SyncRun.Status.SUCCEEDED and stored(source) == expected
    assert SyncState.objects.get(source=source).secondary_limits == 0


def test_a_secondary_limit_honours_the_reset_when_nothing_remains(api, server):
    github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    reset = int((timezone.now() + timedelta(minutes=10)).timestamp())
    api.fail("/issues/comments", status=429, times=1, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
             body=b'{"message": "You have exceeded a secondary rate limit."}')
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.DEFERRED
    assert timedelta(minutes=9) < run.resume_at - timezone.now() < timedelta(minutes=11)


def test_a_secondary_limit_does_not_move_on_to_another_token(api, server, monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_GH", "ghp_one,ghp_two")
    github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    api.fail("/issues/comments", status=403, times=1, body=ABUSE)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.DEFERRED
    # Asked once, with the first token: a second token would dodge the limit, which GitHub forbids.
    assert [path for path, _headers in api.requests if path.endswith("/issues/comments")] == ["/repos/example/app/issues/comments"]


@pytest.mark.parametrize("body", [b'{"message": "Resource not accessible by personal access token"}',
                                  b'{"message": "Must have admin rights to Repository."}'])
def test_a_plain_403_fails_the_run_with_the_reason(api, server, body):
    github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    api.fail("/issues", status=403, times=1, body=body)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED and run.resume_at is None
    assert "HTTP 403" in run.error and body.decode().split('"')[3] in run.error


def as_older_api_versions_serve_it(api: FakeGitHub, repo: str) -> None:
    """The issues listing as older API versions (and some items still) serve it: no `merged_at` at all."""
    for item in api.repo(repo)["issues"]:
        if item.get("pull_request"):
            del item["pull_request"]["merged_at"]


def test_merges_missing_from_the_issues_listing_come_from_the_pulls_listing(api, server):
    expected = github_repo(api, "example/app", issues=130, pulls=150, comments=10, commits=10)
    as_older_api_versions_serve_it(api, "example/app")
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected and expected["github.pull_request.merged"] == 75
    pulls = {pull["number"]: pull for pull in api.repo("example/app")["pulls"]}
    for merge in Activity.objects.filter(source=source, type="github.pull_request.merged"):
        number = int(merge.external_id.rsplit(":", 1)[1])
        assert merge.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ") == pulls[number]["merged_at"]
    # The pulls listing is read page by page as the issues need it (150 closed pulls: 2 pages),
    # never one request per pull request.
    assert run.requests == 3 + 150 + 2 + 1 + 1 + 1
    assert sum(path.endswith("/pulls") for path, _headers in api.requests) == 2


def test_a_pull_request_merged_later_is_found_with_one_page_of_the_pulls_listing(api, server):
    github_repo(api, "example/app", issues=10, pulls=5, comments=0, commits=0)
    as_older_api_versions_serve_it(api, "example/app")
    source = make_source(server)
    source_sync(source=source)
    repo = api.repo("example/app")
    issue = next(item for item in repo["issues"] if item["number"] == 11)
    pull = next(item for item in repo["pulls"] if item["number"] == 11)
    issue["updated_at"] = pull["updated_at"] = pull["merged_at"] = at(5_000)
    requests_before = len(api.requests)

    run = source_sync(source=source)

    assert run.created == 1
    merge = Activity.objects.get(source=source, external_id="merged:example/app:11")
    assert merge.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ") == at(5_000)
    assert sum(path.endswith("/pulls") for path, _headers in api.requests[requests_before:]) == 1


def test_a_merged_pull_request_without_a_date_is_rejected_and_said_once(api, server):
    github_repo(api, "example/app", issues=2, pulls=2, comments=0, commits=0)
    as_older_api_versions_serve_it(api, "example/app")
    pull = next(item for item in api.repo("example/app")["pulls"] if item["number"] == 4)
    pull.update(merged_at=None, merged=True)
    source = make_source(server)

    first = source_sync(source=source)
    source_sync_restart(source=source)
    again = source_sync(source=source)

    assert first.rejections == [{"external_id": "merged:example/app:4", "reason": "merged pull request without a merge date"}]
    assert (first.rejected, again.rejected) == (1, 0)
    assert not Activity.objects.filter(external_id="merged:example/app:4").exists()


def test_items_of_deleted_accounts_are_rejected_once_and_the_sync_moves_past_them(api, server):
    from .builders import gh_issue, gh_review

    github_repo(api, "example/app", issues=3, pulls=2, comments=3, commits=2)
    repo = api.repo("example/app")
    repo["issues"][0]["user"] = None
    repo["comments"][0]["user"] = None
    repo["reviews"][5].append(gh_review(999, user=None, submitted=at(4)))
    source = make_source(server)

    first = source_sync(source=source)
    # New activity on the pull request brings its reviews back, the deleted reviewer's included.
    repo["issues"].append(gh_issue("example/app", 6, user=gh_user("ann", 501), created=at(10)))
    next(item for item in repo["issues"] if item["number"] == 5)["updated_at"] = at(11)
    second = source_sync(source=source)

    reasons = {sample["external_id"]: sample["reason"] for sample in first.rejections}
    assert reasons == {"issue:example/app:1": "deleted account", "comment:example/app:1": "deleted account",
                       "review:example/app:999": "deleted account"}
    assert first.status == SyncRun.Status.SUCCEEDED and first.rejected == 3
    assert (second.created, second.rejected) == (1, 0)
    assert SyncState.objects.get(source=source).checkpoint["repos"]["example/app"]["issues"]["since"] == at(11)


def test_every_github_actor_is_its_uid_with_the_login_as_user_name(api, server):
    expected = github_repo(api, "example/app", issues=5, pulls=4, comments=5, commits=5)
    source = make_source(server)

    source_sync(source=source)

    activities = Activity.objects.filter(source=source).select_related("identity")
    assert activities.count() == sum(expected.values())
    assert {activity.identity.kind for activity in activities} == {Identity.Kind.UID}
    uid = Identity.objects.get(kind=Identity.Kind.UID, value="10001")
    assert Identity.objects.get(kind=Identity.Kind.USERNAME, value="user1").person_id == uid.person_id
