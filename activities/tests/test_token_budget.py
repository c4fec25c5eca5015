"""One token, several syncs at once: they share its budget instead of each tripping its limits.

Two sources (or two repositories) syncing with the same token, in two workers, take turns request
by request (`BALOO_SYNC_CONCURRENCY_PER_TOKEN`, default 1, as GitHub asks), wait for the quota
the other found used up, and stop for a secondary limit the other met, until the time it named.
What they share goes through Django's cache (Redis in production; the tests' local memory is
shared by threads as Redis is by workers).
"""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from activities.connectors import connector_for
from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync

from .builders import github_repo
from .standin import FakeGitHub, Server

pytestmark = pytest.mark.django_db

SECONDARY = b'{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}'


@pytest.fixture
def api():
    return FakeGitHub()


@pytest.fixture
def tokens(monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_SHARED", "ghp_shared")
    monkeypatch.setenv("BALOO_TOKEN_TEST_OTHER", "ghp_other")


def a_source(url: str, slug: str, repo: str, token_env: str = "BALOO_TOKEN_TEST_SHARED", *, save: bool = True) -> Source:
    source = Source(slug=slug, kind="github", name=slug, base_url=url, token_env=token_env,
                    options={"repos": [repo], "backoff_seconds": 0})
    if save:
        source.save()
    return source


def two_repositories(api: FakeGitHub) -> Counter:
    expected = github_repo(api, "example/app", issues=150, pulls=40, comments=120, commits=60)
    expected += github_repo(api, "example/site", issues=130, pulls=30, comments=140, commits=50, offset=9000)
    return expected


def read_in_two_threads(url: str) -> list[list[dict]]:
    """Two connectors, each with its repository and the same token, read everything at the same time."""
    sources = [a_source(url, "app", "example/app", save=False), a_source(url, "site", "example/site", save=False)]
    results: list[list[dict]] = [[], []]
    failures: list[BaseException] = []

    def read(index: int) -> None:
        try:
            for page in connector_for(sources[index]).pages({}):
                results[index].extend(page.records)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    threads = [threading.Thread(target=read, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return results


def test_two_syncs_with_one_token_take_turns_request_by_request(api, tokens):
    expected = two_repositories(api)
    api.delay = 0.01  # every answer takes a moment, so two requests at once would overlap
    with Server(api) as url:
        app, site = read_in_two_threads(url)

    assert Counter(record["type"] for record in app + site) == expected
    assert api.max_in_flight["Bearer ghp_shared"] == 1
    # Both were under way at once, and took turns fairly: neither waited for the other to finish.
    order = [path.split("/")[3] for _moment, path, _token in api.arrivals if path.startswith("/repos/")]
    switches = sum(1 for before, after in zip(order, order[1:], strict=False) if before != after)
    assert switches >= len(order) // 2


def test_the_number_of_requests_under_way_per_token_is_a_setting(api, tokens, settings):
    settings.BALOO_SYNC_CONCURRENCY_PER_TOKEN = 2
    expected = two_repositories(api)
    api.delay = 0.01
    with Server(api) as url:
        app, site = read_in_two_threads(url)

    assert Counter(record["type"] for record in app + site) == expected
    assert api.max_in_flight["Bearer ghp_shared"] <= 2


def test_a_secondary_limit_met_by_one_sync_stops_the_other_until_the_time_it_named(api, tokens, server):
    github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    site = github_repo(api, "example/site", issues=5, pulls=0, comments=5, commits=5, offset=9000)
    api.fail("/repos/example/app/issues/comments", status=403, times=1, headers={"Retry-After": "300"}, body=SECONDARY)
    app_source = a_source(server, "app", "example/app")
    site_source = a_source(server, "site", "example/site")
    elsewhere = a_source(server, "elsewhere", "example/site", "BALOO_TOKEN_TEST_OTHER")

    first = source_sync(source=app_source)
    before = len(api.requests)
    second = source_sync(source=site_source)

    assert first.status == SyncRun.Status.DEFERRED and "secondary rate limit" in first.error
    # The other sync asked nothing at all: it waits until the time GitHub named for the token.
    assert second.status == SyncRun.Status.DEFERRED and second.requests == 0 and len(api.requests) == before
    assert abs(second.resume_at - first.resume_at) < timedelta(seconds=5)
    assert "secondary rate limit" in second.error
    # Another token is another budget: its sync goes on.
    other = source_sync(source=elsewhere)
    assert other.status == SyncRun.Status.SUCCEEDED and other.created == sum(site.values())


def test_a_short_secondary_limit_met_by_one_sync_pauses_the_other_meanwhile(api, tokens):
    """Threads: sync A meets a 1-second secondary limit; neither A nor B asks anything before it ends."""
    two_repositories(api)
    api.delay = 0.005
    api.fail("/repos/example/app/issues/comments", status=403, times=1, headers={"Retry-After": "1"}, body=SECONDARY)
    with Server(api) as url:
        app, site = read_in_two_threads(url)

    limited = next(moment for moment, path, _token in api.arrivals if path == "/repos/example/app/issues/comments")
    after = [moment for moment, _path, _token in api.arrivals if moment > limited]
    assert after, "both syncs went on after the pause"
    # Retry-After is whole seconds from the answer; the next request of either sync came no sooner.
    assert min(after) - limited >= 0.9
    assert len(app) and len(site)


def test_a_quota_one_sync_used_up_is_not_spent_again_by_another(api, tokens, server):
    github_repo(api, "example/app", issues=350, pulls=0, comments=10, commits=10)
    github_repo(api, "example/site", issues=5, pulls=0, comments=5, commits=5, offset=9000)
    api.rate_limit = api.remaining = 3
    api.reset_at = int((timezone.now() + timedelta(minutes=30)).timestamp())

    first = source_sync(source=a_source(server, "app", "example/app"))
    before = len(api.requests)
    second = source_sync(source=a_source(server, "site", "example/site"))

    assert first.status == SyncRun.Status.DEFERRED and first.requests == 3
    assert second.status == SyncRun.Status.DEFERRED and second.requests == 0 and len(api.requests) == before
    assert abs(second.resume_at - first.resume_at) < timedelta(seconds=5)


def test_the_cache_down_leaves_each_sync_counting_alone(api, tokens, server, settings, caplog):
    expected = github_repo(api, "example/app", issues=20, pulls=5, comments=10, commits=5)
    # Nothing listens on port 1: every cache call fails at once.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}}
    source = a_source(server, "app", "example/app")

    started = time.monotonic()
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Counter(Activity.objects.filter(source=source).values_list("type", flat=True)) == expected
    assert "shared token budget is unavailable" in caplog.text
    assert time.monotonic() - started < 60  # no stall waiting for slots the cache cannot give


def test_the_token_is_never_what_the_cache_keeps(api, tokens, server):
    from django.core.cache import cache

    github_repo(api, "example/app", issues=5, pulls=2, comments=5, commits=5)
    api.rate_limit = api.remaining = 1000
    api.reset_at = int((timezone.now() + timedelta(minutes=30)).timestamp())
    source_sync(source=a_source(server, "app", "example/app"))

    kept = repr(list(cache._cache.items()))  # the local-memory cache's entries, keys and values
    assert "baloo:token-budget:" in kept and "ghp_shared" not in kept


def test_a_time_named_far_ahead_holds_up_other_syncs_for_a_day_at_most(api, tokens, server):
    github_repo(api, "example/app", issues=5, pulls=0, comments=5, commits=5)
    github_repo(api, "example/site", issues=5, pulls=0, comments=5, commits=5, offset=9000)
    api.fail("/repos/example/app/issues/comments", status=429, times=1, headers={"Retry-After": "999999999"}, body=SECONDARY)

    source_sync(source=a_source(server, "app", "example/app"))
    other = source_sync(source=a_source(server, "site", "example/site"))

    assert other.status == SyncRun.Status.DEFERRED
    assert other.resume_at - timezone.now() <= timedelta(days=1, minutes=1)
