"""GitHub reviews through GraphQL: the same records as the REST API gives, for a fraction of the requests.

With a token, the reviews of every pull request on a page of the issues listing come in one
GraphQL query; without one (or with `"graphql": false`, or where the endpoint is not served),
one REST request per pull request, as before. Either way: the same external ids, types, actors,
times, containers, URLs and payloads, and the same rejections.
"""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.connectors import connector_for
from activities.connectors.github_graphql import PULLS_PER_QUERY, graphql_url
from activities.models import Activity, Source, SyncRun, SyncState

from .builders import at, gh_review, gh_user, github_repo
from .standin import FakeGitHub, Recorder, Server

pytestmark = pytest.mark.django_db

TOKEN = "ghp_graphql"


@pytest.fixture
def api():
    return FakeGitHub()


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_GH", TOKEN)
    return TOKEN


def make_source(url: str, **options) -> Source:
    return Source.objects.create(
        slug="github-example", kind="github", name="GitHub", base_url=url, token_env="BALOO_TOKEN_TEST_GH",
        options={"repos": ["example/app"], "backoff_seconds": 0, **options},
    )


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def graphql_requests(api: FakeGitHub) -> int:
    return sum(path == "/graphql" for path, _headers in api.requests)


def review_requests(api: FakeGitHub) -> int:
    return sum(path.endswith("/reviews") for path, _headers in api.requests)


def read_everything(url: str, **options) -> tuple[list[dict], list, int]:
    """Every record and rejection a connector reads from the stand-in at `url`, and the requests it took."""
    source = Source(slug="github-example", kind="github", name="GitHub", base_url=url, token_env="BALOO_TOKEN_TEST_GH",
                    options={"repos": ["example/app"], "backoff_seconds": 0, **options})
    connector = connector_for(source)
    records, rejected = [], []
    for page in connector.pages({}):
        records.extend(page.records)
        rejected.extend(page.rejected)
    return records, rejected, connector.client.requests_made


def a_repository_with_every_kind_of_review(api: FakeGitHub) -> None:
    """150 pull requests over two pages of issues, one with 230 reviews, reviews of every state and author."""
    github_repo(api, "example/app", issues=60, pulls=150, comments=30, commits=10)
    reviews = api.repo("example/app")["reviews"]
    bot = gh_user("dependabot[bot]", 49699333, "Bot")
    organisation = gh_user("example-org", 9919, "Organization")
    reviews[61] = [gh_review(700_000 + index, user=gh_user(f"reviewer{index % 7}", 20_000 + index % 7), submitted=at(index))
                   for index in range(230)]
    reviews[62] = [
        gh_review(62_001, user=gh_user("ann", 501), submitted=at(1), state="CHANGES_REQUESTED"),
        gh_review(62_002, user=gh_user("ann", 501), submitted=at(2), state="COMMENTED"),
        gh_review(62_003, user=gh_user("bob", 502), submitted=at(3), state="DISMISSED"),
        gh_review(62_004, user=gh_user("cy", 503), submitted=None, state="PENDING"),
        gh_review(62_005, user=None, submitted=at(4)),  # a deleted account
        gh_review(62_006, user=bot, submitted=at(5)),
        gh_review(62_007, user=organisation, submitted=at(6), state="COMMENTED"),
        gh_review(62_008, user={"login": "no-id", "type": "User"}, submitted=at(7)),  # an account without an id
        gh_review(62_009, user=gh_user("dee", 504), submitted=None, state="COMMENTED"),  # submitted, but no time
    ]
    reviews[62][1]["commit_id"] = None  # its commit was force-pushed away
    reviews[62][2]["author_association"] = "FIRST_TIME_CONTRIBUTOR"
    api.gone_pulls = {63}  # listed, then deleted: REST answers 404 for its reviews, GraphQL NOT_FOUND


def test_graphql_and_rest_read_exactly_the_same_records_and_rejections(api, token):
    a_repository_with_every_kind_of_review(api)
    with Server(api) as url:
        rest_records, rest_rejected, rest_requests = read_everything(url, graphql=False)
        api.requests.clear()
        records, rejected, requests = read_everything(url)

    assert records == rest_records
    assert rejected == rest_rejected
    types = Counter(record["type"] for record in records)
    # 147 pull requests with one review, 230 reviews of #61, 5 of #62 (3 rejected, 1 pending), none of #63 (gone).
    assert types["github.review.submitted"] == 147 + 230 + 5
    assert {item.reason for item in rejected} == {"deleted account", "account without an id", "no time given"}
    bot_review = next(record for record in records if record["external_id"] == "review:example/app:62006")
    assert bot_review["actor"] == {"uid": "49699333", "username": "dependabot[bot]", "bot": True}
    # Two pages of issues hold the 150 pull requests: a query each, and two more for the reviews of
    # #61 past its first 100 (101-200, 201-230). REST: one request per pull request, three for #61.
    assert (graphql_requests(api), review_requests(api)) == (2 + 2, 0)
    assert rest_requests - requests == 152 - 4


def test_a_first_sync_costs_under_two_requests_per_hundred_items_and_a_repeat_almost_none(api, server, token):
    expected = github_repo(api, "example/app", issues=600, pulls=300, comments=800, commits=300)
    source = make_source(server)

    first = source_sync_checked(source)
    repeat = source_sync_checked(source)
    again = source_sync_checked(source)

    assert stored(source) == expected
    items = sum(expected.values())
    assert 100 * first.requests / items < 2
    # The repeat reads each listing from its latest item again (`since` is inclusive), the newest
    # pull request's reviews with it; after that, an unchanged repository costs its four listings
    # answered 304 (no quota spent) and no GraphQL query.
    assert repeat.created == 0 and 100 * repeat.requests / items < 0.5
    assert (again.requests, again.not_modified, again.created) == (4, 4, 0)


def source_sync_checked(source: Source) -> SyncRun:
    from activities.sync import source_sync

    run = source_sync(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    return run


def test_a_checkpoint_written_by_the_rest_sync_resumes_with_graphql_exactly_once(api, server, monkeypatch):
    """Reviews were never in the checkpoint: a sync stopped mid-listing under REST resumes under GraphQL."""
    from activities.connectors import http
    from activities.sync import source_sync

    expected = github_repo(api, "example/app", issues=150, pulls=250, comments=20, commits=20)
    source = make_source(server)
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 100)  # commit every page
    real_get = http.HttpClient.get
    calls = {"n": 0}

    class Killed(BaseException):
        pass

    def dying_get(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 150:  # the second page of issues, its pull requests' reviews half read
            raise Killed
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(http.HttpClient, "get", dying_get)
    with pytest.raises(Killed):
        source_sync(source=source)  # anonymous: REST, one request per pull request
    monkeypatch.setattr(http.HttpClient, "get", real_get)
    checkpoint = SyncState.objects.get(source=source).checkpoint
    assert checkpoint["repos"]["example/app"]["issues"]["next"], "stopped in the middle of the issues listing"
    SyncState.objects.filter(source=source).update(lock_owner="", locked_until=None)

    monkeypatch.setenv("BALOO_TOKEN_TEST_GH", TOKEN)
    api.requests.clear()
    resumed = source_sync_checked(source)

    assert resumed.duplicate == 0
    assert stored(source) == expected
    assert graphql_requests(api) >= 1 and review_requests(api) == 0


def test_without_a_token_or_with_graphql_off_reviews_come_from_rest(api, server, monkeypatch):
    expected = github_repo(api, "example/app", issues=10, pulls=20, comments=5, commits=5)
    anonymous = source_sync_checked(make_source(server))
    assert (graphql_requests(api), review_requests(api)) == (0, 20)

    monkeypatch.setenv("BALOO_TOKEN_TEST_GH", TOKEN)
    api.requests.clear()
    off = Source.objects.create(slug="github-rest", kind="github", name="GitHub REST", base_url=server,
                                token_env="BALOO_TOKEN_TEST_GH", options={"repos": ["example/app"], "graphql": False})
    run = source_sync_checked(off)

    assert (graphql_requests(api), review_requests(api)) == (0, 20)
    assert anonymous.created == run.created == sum(expected.values())


def test_a_github_without_graphql_falls_back_to_rest_for_the_rest_of_the_sync(api, server, token):
    expected = github_repo(api, "example/app", issues=120, pulls=130, comments=5, commits=5)
    api.fail("/graphql", status=404, times=100, body=b'{"message": "Not Found"}')
    source = make_source(server)

    source_sync_checked(source)

    assert stored(source) == expected
    assert (graphql_requests(api), review_requests(api)) == (1, 130)


def test_a_pull_request_gone_since_the_listing_has_no_reviews_and_the_rest_counts(api, server, token):
    github_repo(api, "example/app", issues=3, pulls=3, comments=0, commits=0)
    api.gone_pulls = {5}
    source = make_source(server)

    run = source_sync_checked(source)

    reviews = set(Activity.objects.filter(source=source, type="github.review.submitted").values_list("external_id", flat=True))
    assert reviews == {"review:example/app:401", "review:example/app:601"}
    assert run.created == 3 + 3 + 2 + 2  # issues, pull requests, merges (#4, #6), reviews


def test_graphql_endpoint_of_github_and_of_github_enterprise_server():
    assert graphql_url("https://api.github.com/") == "https://api.github.com/graphql"
    assert graphql_url("https://ghe.example.org/api/v3") == "https://ghe.example.org/api/graphql"


# --------------------------------------------------------------------------- limits


def test_graphql_s_own_quota_used_up_defers_the_run_until_its_reset_then_resumes(api, server, token):
    expected = github_repo(api, "example/app", issues=150, pulls=120, comments=10, commits=10)
    api.graphql_remaining = 1  # one query left: the first page's
    api.reset_at = int((timezone.now() + timedelta(minutes=20)).timestamp())
    source = make_source(server)

    from activities.sync import source_sync

    deferred = source_sync(source=source)

    assert deferred.status == SyncRun.Status.DEFERRED, deferred.error
    assert abs((deferred.resume_at - timezone.now()) - timedelta(minutes=20)) < timedelta(seconds=30)
    # The first page (100 pull requests, 50 merges) and its reviews were stored; the GraphQL answer
    # said "0 remaining", so no request was spent on a sure RATE_LIMITED.
    assert deferred.created == 100 + 50 + 100
    assert graphql_requests(api) == 1

    api.graphql_remaining = 5000  # the reset
    with time_machine.travel(deferred.resume_at):
        resumed = source_sync(source=source)
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected


def test_a_rate_limited_graphql_answer_is_a_primary_limit(api, server, token):
    github_repo(api, "example/app", issues=5, pulls=5, comments=0, commits=0)
    reset = int((timezone.now() + timedelta(minutes=40)).timestamp())
    api.fail("/graphql", status=200, times=1, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
             body=b'{"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}')
    source = make_source(server)

    from activities.sync import source_sync

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.DEFERRED and run.created == 0
    assert timedelta(minutes=39) < run.resume_at - timezone.now() < timedelta(minutes=41)
    assert SyncState.objects.get(source=source).secondary_limits == 0


@pytest.mark.parametrize(("status", "headers", "least"), [
    (403, {"Retry-After": "90"}, 90),
    (200, {}, 60),  # a secondary limit said in `errors`, with no time: at least a minute, doubled on repeats
])
def test_a_secondary_limit_on_graphql_defers_like_rest_s(api, server, token, status, headers, least):
    github_repo(api, "example/app", issues=5, pulls=5, comments=0, commits=0)
    api.fail("/graphql", status=status, times=1, headers=headers,
             body=b'{"errors": [{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}]}'
             if status == 200 else b'{"message": "You have exceeded a secondary rate limit."}')
    source = make_source(server)

    from activities.sync import source_sync

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.DEFERRED, run.error
    assert "secondary rate limit" in run.error
    assert least <= (run.resume_at - timezone.now()).total_seconds() < least + 15
    assert SyncState.objects.get(source=source).secondary_limits == 1


# --------------------------------------------------------------------------- hostile or broken answers


@pytest.mark.parametrize(("body", "said"), [
    (b'{"data": null, "errors": [{"type": "INTERNAL", "message": "Something went wrong while executing your query."}]}',
     "GraphQL error INTERNAL: Something went wrong while executing your query."),
    # Partial data: one pull request's reviews missing, with an error that is no NOT_FOUND. Never
    # stored as "no reviews": the page waits for the next sync.
    (b'{"data": {"repository": {"p6": null}}, "errors": [{"type": "SERVICE_UNAVAILABLE", "path": ["repository", "p6"],'
     b' "message": "timedout\\u001b[31m"}]}', "GraphQL error SERVICE_UNAVAILABLE: timedout"),
    (b'{"data": {"repository": {"p6": {"reviews": "many"}}}}', "no reviews for pull request 6"),
    (b'{"data": {"repository": {"p6": {"reviews": {"nodes": [{"state": "APPROVED"}], "pageInfo": {}}}}}}',
     "a review without its databaseId"),
    (b'[1, 2, 3]', "expected a GraphQL answer"),
    (b'{"data": {"viewer": {"login": "mallory"}}}', "has no repository"),
    (b'{"data": {"repository": ', "not valid JSON"),
])
def test_a_graphql_answer_that_is_no_limit_and_no_data_fails_the_run_clearly_and_the_next_resumes(api, server, token, body, said):
    expected = github_repo(api, "example/app", issues=5, pulls=1, comments=3, commits=2)
    api.fail("/graphql", status=200, times=1, body=body)
    source = make_source(server)

    from activities.sync import source_sync

    failed = source_sync(source=source)
    resumed = source_sync_checked(source)

    assert failed.status == SyncRun.Status.FAILED
    assert said in failed.error and "\x1b" not in failed.error
    assert failed.created == 0  # the page waits whole for the next sync: nothing half stored
    assert stored(source) == expected and resumed.duplicate == 0


@pytest.mark.parametrize(("paging", "said", "queries"), [
    ("circle", "example/app#30: GitHub's reviews went round in a circle: the server named the cursor 'cursor:100', "
               "a page it had already served", 2),
    ("endless", "example/app#30: GitHub's reviews went on past 5 pages, more than any real one has", 5),
])
def test_reviews_that_never_end_stop_the_sync_and_keep_what_was_stored(api, server, token, monkeypatch, paging, said, queries):
    from activities.sync import source_sync

    expected = github_repo(api, "example/app", issues=10, pulls=20, comments=5, commits=5)
    source = make_source(server)
    source_sync_checked(source)
    checkpoint = SyncState.objects.get(source=source).checkpoint
    monkeypatch.setattr("activities.connectors.github_graphql.REVIEW_PAGES_PER_PULL", 5)
    api.review_paging = paging
    api.requests.clear()

    # The next sync reads the newest pull request (#30) again, with its reviews.
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert said in run.error
    assert graphql_requests(api) == queries  # no page read twice; no more than the limit
    assert stored(source) == expected
    assert SyncState.objects.get(source=source).checkpoint == checkpoint


def test_a_redirected_graphql_query_is_refused_and_the_token_goes_nowhere_else(api, server, token):
    github_repo(api, "example/app", issues=2, pulls=2, comments=0, commits=0)
    elsewhere = Recorder()
    with Server(elsewhere) as other:
        api.fail("/graphql", status=307, times=1, headers={"Location": f"{other}/graphql"}, body=b"")
        source = make_source(server)

        from activities.sync import source_sync

        run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED and "redirected (HTTP 307)" in run.error
    assert elsewhere.requests == []


def test_pull_requests_per_query_stay_within_github_s_node_limit():
    # Each pull request asks for at most 100 reviews: 100 pull requests + 100 x 100 reviews.
    assert PULLS_PER_QUERY + PULLS_PER_QUERY * 100 <= 500_000
