"""Replay of GitHub REST payloads in the shapes the real API has sent over the years, through the
connector and a stand-in of the API: each item stored once with its type, time, actor, container
and URL, or rejected once with a reason; a second sync adds and rejects nothing."""

import pytest

from activities.models import Activity, RejectedItem, Source, SyncRun
from activities.sync import source_sync
from contributors.models import Identity, Person

from .builders import gh_comment, gh_commit, gh_issue, gh_pull, gh_review, gh_user
from .standin import FakeGitHub

pytestmark = pytest.mark.django_db
REPO = "example/app"


@pytest.fixture
def api():
    return FakeGitHub()


def make_source(url: str) -> Source:
    return Source.objects.create(slug="gh", kind="github", name="GitHub", base_url=url,
                                 options={"repos": [REPO], "backoff_seconds": 0})


def keys(activity: Activity) -> set[tuple[str, str]]:
    return set(Identity.objects.filter(person=activity.identity.person_id).values_list("kind", "value"))


def sync_twice(source: Source) -> tuple[SyncRun, SyncRun]:
    first = source_sync(source=source)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    second = source_sync(source=source)
    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert (second.created, second.rejected) == (0, 0)
    return first, second


def test_an_old_api_issue_whose_pull_request_object_is_all_nulls_is_an_issue(api, server):
    """GitHub once gave every issue a `pull_request` object, all null for an issue that is not one."""
    issue = gh_issue(REPO, 5, user=gh_user("ann", 1), created="2013-05-01T10:00:00Z")
    issue["pull_request"] = {"html_url": None, "diff_url": None, "patch_url": None}
    api.repo(REPO)["issues"] = [issue]
    source = make_source(server)

    sync_twice(source)

    stored = Activity.objects.get(source=source)
    assert (stored.external_id, stored.type) == (f"issue:{REPO}:5", "github.issue.opened")
    assert not RejectedItem.objects.exists()


def test_reviews_not_served_for_one_pull_request_do_not_stop_the_repository(api, server):
    """An older GitHub Enterprise has no reviews API (404): the pull request and the rest still count."""
    data = api.repo(REPO)
    data["issues"] = [gh_issue(REPO, 7, user=gh_user("ann", 1), created="2020-01-01T00:00:00Z", pull=True),
                      gh_issue(REPO, 8, user=gh_user("bob", 2), created="2020-01-02T00:00:00Z")]
    data["comments"] = [gh_comment(REPO, 70, user=gh_user("cy", 3), created="2020-01-03T00:00:00Z")]
    api.fail("/pulls/7/reviews", status=404, times=10, body=b'{"message": "Not Found"}')
    source = make_source(server)

    sync_twice(source)

    assert set(Activity.objects.values_list("external_id", flat=True)) == {
        f"pr:{REPO}:7", f"issue:{REPO}:8", f"comment:{REPO}:70"}


def test_ghost_bot_and_app_actors(api, server):
    data = api.repo(REPO)
    ghost = {"login": "ghost", "id": 10137, "type": "User", "site_admin": False}
    app = gh_user("dependabot[bot]", 49699333, kind="Bot")
    issue = gh_issue(REPO, 1, user=app, created="2024-02-01T08:00:00Z")
    issue["performed_via_github_app"] = {"id": 29110, "slug": "dependabot", "owner": gh_user("github", 9919, kind="Organization")}
    data["issues"] = [issue, gh_issue(REPO, 2, user=ghost, created="2024-02-02T08:00:00Z")]
    source = make_source(server)

    sync_twice(source)

    bot = Activity.objects.get(external_id=f"issue:{REPO}:1")
    assert bot.identity.person.is_bot and (bot.identity.kind, bot.identity.value) == ("uid", "49699333")
    ghosted = Activity.objects.get(external_id=f"issue:{REPO}:2")
    assert (ghosted.identity.kind, ghosted.identity.value) in {("uid", "10137"), ("username", "ghost")}
    assert Person.objects.count() == 2


def test_a_renamed_login_and_a_reused_login(api, server):
    data = api.repo(REPO)
    data["comments"] = [
        gh_comment(REPO, 1, user=gh_user("ann", 1), created="2021-01-01T00:00:00Z"),
        gh_comment(REPO, 2, user=gh_user("ann-new", 1), created="2022-01-01T00:00:00Z"),  # renamed
        gh_comment(REPO, 3, user=gh_user("ann", 2), created="2023-01-01T00:00:00Z"),  # the login reused
    ]
    source = make_source(server)

    sync_twice(source)

    first, renamed, reused = (Activity.objects.get(external_id=f"comment:{REPO}:{n}") for n in (1, 2, 3))
    assert first.identity.person_id == renamed.identity.person_id
    assert reused.identity.person_id != first.identity.person_id


def test_commits_with_noreply_addresses_unicode_names_and_no_account(api, server):
    data = api.repo(REPO)
    data["commits"] = [
        gh_commit(REPO, "a" * 40, user=gh_user("zoe", 77), email="77+zoe@users.noreply.github.com",
                  name="Zoë Ñúñez", date="2024-03-01T10:00:00Z"),
        gh_commit(REPO, "b" * 40, user=None, email="Zoe@Example.ORG", name="Zoë Ñúñez", date="2024-03-02T10:00:00Z"),
        gh_commit(REPO, "c" * 40, user=None, email="zoe@example.org", name="Zoe Nunez", date="2024-03-03T10:00:00Z"),
        gh_commit(REPO, "d" * 40, user=None, email="zoe@users.noreply.github.com", name="zoe", date="2024-03-04T10:00:00Z"),
    ]
    source = make_source(server)

    sync_twice(source)

    by_sha = {a.external_id[-40:]: a for a in Activity.objects.filter(type="github.commit.authored")}
    assert len(by_sha) == 4
    assert by_sha["a" * 40].identity.person_id == by_sha["d" * 40].identity.person_id
    assert by_sha["b" * 40].identity.person_id == by_sha["c" * 40].identity.person_id
    # A name alone never joins: the account and the plain address stay two persons.
    assert by_sha["a" * 40].identity.person_id != by_sha["b" * 40].identity.person_id
    assert by_sha["a" * 40].occurred_at.isoformat() == "2024-03-01T10:00:00+00:00"


def test_an_item_updated_between_pages_is_stored_once(api, server):
    data = api.repo(REPO)
    data["issues"] = [gh_issue(REPO, n, user=gh_user(f"u{n}", 100 + n), created=f"2024-01-{n:02d}T00:00:00Z")
                      for n in range(1, 21)]
    source = make_source(server)
    first = source_sync(source=source)
    assert first.status == SyncRun.Status.SUCCEEDED
    # The same issue read again after an update (it moves to the first page of the next walk).
    data["issues"][3]["updated_at"] = "2024-02-01T00:00:00Z"
    second = source_sync(source=source)
    assert (second.created, second.rejected) == (0, 0)
    assert Activity.objects.count() == 20


def test_a_review_dismissed_commented_and_pending(api, server):
    data = api.repo(REPO)
    data["issues"] = [gh_issue(REPO, 3, user=gh_user("ann", 1), created="2024-01-01T00:00:00Z", pull=True)]
    data["reviews"][3] = [
        gh_review(31, user=gh_user("bob", 2), submitted="2024-01-02T00:00:00Z", state="DISMISSED"),
        gh_review(32, user=gh_user("bob", 2), submitted="2024-01-03T00:00:00Z", state="COMMENTED"),
        gh_review(33, user=gh_user("cy", 3), submitted=None, state="PENDING"),
        gh_review(34, user=None, submitted="2024-01-04T00:00:00Z", state="APPROVED"),
    ]
    source = make_source(server)

    first, _second = sync_twice(source)

    assert set(Activity.objects.filter(type="github.review.submitted").values_list("external_id", flat=True)) == {
        f"review:{REPO}:31", f"review:{REPO}:32"}
    assert set(RejectedItem.objects.values_list("external_id", "reason")) == {(f"review:{REPO}:34", "deleted account")}
    assert first.rejected == 1


def test_merged_pull_requests_from_the_pulls_listing_dated_by_merged_at(api, server):
    data = api.repo(REPO)
    issue = gh_issue(REPO, 9, user=gh_user("ann", 1), created="2024-01-01T00:00:00Z", updated="2024-01-05T00:00:00Z", pull=True)
    del issue["pull_request"]["merged_at"]  # an older API version
    issue["state"] = "closed"
    data["issues"] = [issue]
    data["pulls"] = [gh_pull(REPO, 9, user=gh_user("ann", 1), created="2024-01-01T00:00:00Z",
                             updated="2024-01-05T00:00:00Z", merged_at="2024-01-04T12:30:00Z")]
    source = make_source(server)

    sync_twice(source)

    merged = Activity.objects.get(type="github.pull_request.merged")
    assert merged.occurred_at.isoformat() == "2024-01-04T12:30:00+00:00"
    assert (merged.container, merged.url) == (REPO, f"https://github.com/{REPO}/pull/9")
