"""GitHub webhooks: signed, idempotent, and sharing external ids with the sync."""

import hashlib
import hmac

import orjson
import pytest

from activities.models import Activity, RejectedItem, Source
from activities.sync import source_sync
from contributors.models import Identity

from .builders import at, gh_comment, gh_issue, gh_review, gh_user, sample
from .standin import FakeGitHub, Server

pytestmark = pytest.mark.django_db
URL = "/hooks/github/github-example/"
SECRET = "It's a Secret to Everybody"


@pytest.fixture
def source(monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_HOOK_SECRET", SECRET)
    return Source.objects.create(slug="github-example", kind="github", name="GitHub", base_url="http://127.0.0.1:9",
                                 options={"repos": ["example/app"], "webhook_secret_env": "BALOO_TOKEN_TEST_HOOK_SECRET", "backoff_seconds": 0})


def deliver(client, event: str, payload: dict, *, secret: str = SECRET, signature: str | None = None):
    body = orjson.dumps(payload)
    signature = signature or "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(URL, data=body, content_type="application/json", HTTP_X_GITHUB_EVENT=event,
                       HTTP_X_GITHUB_DELIVERY="72d3162e-cc78-11e3-81ab-4c9367dc0958", HTTP_X_HUB_SIGNATURE_256=signature)


REPO = {"id": 1296269, "full_name": "example/app", "name": "app"}


def test_an_opened_issue_is_stored_once_however_often_it_is_delivered(client, source):
    payload = {"action": "opened", "issue": gh_issue("example/app", 7, user=gh_user("ann", 501), created=at(1)), "repository": REPO}

    first = deliver(client, "issues", payload)
    again = deliver(client, "issues", payload)

    assert first.status_code == 200 and first.json()["created"] == 1
    assert again.json() == {"created": 0, "duplicate": 1, "rejected": []}
    assert Activity.objects.get().external_id == "issue:example/app:7"


def test_a_bad_signature_is_401_and_stores_nothing(client, source):
    payload = {"action": "opened", "issue": gh_issue("example/app", 7, user=gh_user("ann", 501), created=at(1)), "repository": REPO}
    assert deliver(client, "issues", payload, secret="wrong").status_code == 401
    assert deliver(client, "issues", payload, signature="sha256=").status_code == 401
    assert not Activity.objects.exists()


def test_a_source_without_a_secret_refuses_deliveries(client, source, monkeypatch):
    monkeypatch.delenv("BALOO_TOKEN_TEST_HOOK_SECRET")
    assert deliver(client, "ping", {"zen": "Keep it logically awesome."}).status_code == 401


def test_ping_and_unknown_events(client, source):
    assert deliver(client, "ping", {"zen": "Design for failure.", "hook_id": 1}).status_code == 200
    response = deliver(client, "star", {"action": "created", "repository": REPO})
    assert response.status_code == 202 and response.json() == {"ignored": "star"}


def test_a_caller_without_the_secret_cannot_tell_which_sources_exist(client, source, monkeypatch):
    """An unknown slug, a source of another kind, a source without a secret and a wrong signature
    answer alike, after the same signature check."""
    from activities import webhooks

    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    Source.objects.create(slug="github-quiet", kind="github", name="GitHub", options={"webhook_secret_env": "BALOO_TOKEN_TEST_UNSET"})
    checked = []
    signed = webhooks._signed
    monkeypatch.setattr(webhooks, "_signed", lambda *args: checked.append(True) or signed(*args))
    body = orjson.dumps({"zen": "Anything added dilutes everything else."})
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()

    def answer(slug: str, signature: str) -> tuple[int, bytes]:
        response = client.post(f"/hooks/github/{slug}/", data=body, content_type="application/json",
                               HTTP_X_GITHUB_EVENT="ping", HTTP_X_HUB_SIGNATURE_256=signature)
        return response.status_code, response.content

    refused = answer("github-example", "sha256=" + "0" * 64)
    assert refused[0] == 401
    assert answer("nope", signature) == answer("sumo", signature) == answer("github-quiet", signature) == refused
    assert answer("nope", "") == refused
    assert len(checked) == 5
    assert answer("github-example", signature)[0] == 200


def test_merged_pull_request_review_comment_and_push(client, source):
    pull = {"number": 9, "user": gh_user("bob", 502), "created_at": at(1), "merged_at": at(5), "merged": True,
            "html_url": "https://github.com/example/app/pull/9", "title": "Fix it"}
    assert deliver(client, "pull_request", {"action": "closed", "pull_request": pull, "repository": REPO}).json()["created"] == 2
    review = gh_review(44, user=gh_user("dee", 504), submitted=at(3))
    assert deliver(client, "pull_request_review", {"action": "submitted", "review": review, "pull_request": pull, "repository": REPO}).json()["created"] == 1
    comment = gh_comment("example/app", 55, user=gh_user("cat", 503), created=at(4))
    assert deliver(client, "issue_comment", {"action": "created", "comment": comment, "issue": {}, "repository": REPO}).json()["created"] == 1
    commit = sample("github_commit")
    push = {"ref": "refs/heads/main", "repository": REPO, "commits": [
        {"id": commit["sha"], "message": "Keep the query", "timestamp": "2024-03-04T09:00:00+01:00",
         "url": commit["html_url"], "author": {"name": "Ann Example", "email": "ann@example.org", "username": "ann"}}]}
    assert deliver(client, "push", push).json()["created"] == 1

    assert set(Activity.objects.values_list("external_id", flat=True)) == {
        "pr:example/app:9", "merged:example/app:9", "review:example/app:44", "comment:example/app:55",
        f"commit:example/app:{commit['sha']}"}


def test_webhook_and_sync_share_external_ids(client, source):
    api = FakeGitHub()
    repo = api.repo("example/app")
    issue = gh_issue("example/app", 3, user=gh_user("ann", 501), created=at(1))
    comment = gh_comment("example/app", 66, user=gh_user("cat", 503), created=at(2))
    commit = sample("github_commit")
    repo["issues"].append(issue)
    repo["comments"].append(comment)
    repo["commits"].append(commit)
    deliver(client, "issues", {"action": "opened", "issue": issue, "repository": REPO})
    deliver(client, "issue_comment", {"action": "created", "comment": comment, "repository": REPO})
    deliver(client, "push", {"repository": REPO, "commits": [{"id": commit["sha"], "timestamp": commit["commit"]["author"]["date"],
                                                               "author": {"email": "ann@example.org", "username": "ann", "name": "Ann"}}]})

    with Server(api) as url:
        Source.objects.filter(pk=source.pk).update(base_url=url)
        source.refresh_from_db()
        run = source_sync(source=source)

    assert (run.created, run.duplicate) == (0, 3)
    assert Activity.objects.count() == 3


def test_a_webhook_secret_is_read_only_from_a_baloo_token_variable(client, monkeypatch, settings):
    """Staff edit a source's options: naming Django's secret key as the webhook secret must not make
    Baloo accept deliveries signed with it (nor check signatures against any other setting)."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "the-servers-own-secret")
    Source.objects.create(slug="github-forged", kind="github", name="GitHub", options={"webhook_secret_env": "DJANGO_SECRET_KEY"})
    body = orjson.dumps({"zen": "hello"})
    signature = "sha256=" + hmac.new(b"the-servers-own-secret", body, hashlib.sha256).hexdigest()

    response = client.post(
        "/hooks/github/github-forged/", body, content_type="application/json",
        headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": signature},
    )

    assert response.status_code == 401


def test_events_of_a_repository_the_source_does_not_name_are_acknowledged_and_stored_nowhere(client, source):
    """A webhook may be installed on more repositories than the source counts (an organisation's, say):
    their deliveries are answered 202, so GitHub's log shows no failure, and count for nobody."""
    other = {"id": 2, "full_name": "evil/other", "name": "other"}
    issue = gh_issue("evil/other", 7, user=gh_user("ann", 501), created=at(1))
    push = {"repository": other, "commits": [{"id": "c0ffee", "timestamp": at(1), "author": {"email": "ann@example.org"}}]}

    for event, payload in (("issues", {"action": "opened", "issue": issue, "repository": other}), ("push", push),
                           ("issues", {"action": "opened", "issue": issue, "repository": {**other, "full_name": "example/app-2"}})):
        response = deliver(client, event, payload)
        assert response.status_code == 202
        assert response.json() == {"ignored": "not a repository of this source"}
    assert not Activity.objects.exists()


@pytest.mark.parametrize("repository", [None, "example/app", {}, {"full_name": ""}, {"full_name": ["example/app"]}])
def test_a_delivery_without_a_repository_is_refused_and_the_sync_still_counts_the_issue_once(client, source, repository):
    """Every event Baloo counts names its repository: without one, the activity has no container and
    no external id the sync would share (`issue::7`), so it is refused, saying why, and stores nothing."""
    issue = gh_issue("example/app", 7, user=gh_user("ann", 501), created=at(1))
    payload = {"action": "opened", "issue": issue} | ({} if repository == {} else {"repository": repository})

    response = deliver(client, "issues", payload)

    assert response.status_code == 400
    assert "repository" in response.json()["error"]
    assert not Activity.objects.exists()
    api = FakeGitHub()
    api.repo("example/app")["issues"].append(issue)
    with Server(api) as url:
        Source.objects.filter(pk=source.pk).update(base_url=url)
        source.refresh_from_db()
        source_sync(source=source)
    assert list(Activity.objects.values_list("external_id", flat=True)) == ["issue:example/app:7"]


def test_events_of_an_unrelated_kind_are_ignored_with_or_without_a_repository(client, source):
    assert deliver(client, "star", {"action": "created"}).json() == {"ignored": "star"}
    assert deliver(client, "member", {"action": "added", "repository": {"full_name": "evil/other"}}).json() == {"ignored": "member"}


@pytest.mark.parametrize("configured", ["Example/App", "EXAMPLE/app"])
def test_webhook_and_sync_count_once_when_the_repo_is_configured_in_another_case(client, monkeypatch, configured):
    """GitHub's owner and repository names ignore case: an operator writes `Example/App`, GitHub's deliveries
    say `example/app`. Both store the item under the configured spelling, as the sync always has."""
    monkeypatch.setenv("BALOO_TOKEN_TEST_HOOK_SECRET", SECRET)
    source = Source.objects.create(slug="github-example", kind="github", name="GitHub", base_url="http://127.0.0.1:9",
                                   options={"repos": [configured], "webhook_secret_env": "BALOO_TOKEN_TEST_HOOK_SECRET", "backoff_seconds": 0})
    api = FakeGitHub()
    repo = api.repo(configured)
    issue = gh_issue("example/app", 3, user=gh_user("ann", 501), created=at(1))
    comment = gh_comment("example/app", 66, user=gh_user("cat", 503), created=at(2))
    commit = sample("github_commit")
    repo["issues"].append(issue)
    repo["comments"].append(comment)
    repo["commits"].append(commit)
    deliver(client, "issues", {"action": "opened", "issue": issue, "repository": REPO})
    deliver(client, "issue_comment", {"action": "created", "comment": comment, "repository": REPO})
    deliver(client, "push", {"repository": REPO, "commits": [{"id": commit["sha"], "timestamp": commit["commit"]["author"]["date"],
                                                               "author": {"email": "ann@example.org", "username": "ann"}}]})

    with Server(api) as url:
        Source.objects.filter(pk=source.pk).update(base_url=url)
        source.refresh_from_db()
        run = source_sync(source=source)

    assert (run.created, run.duplicate) == (0, 3)
    assert set(Activity.objects.values_list("external_id", "container")) == {
        (f"issue:{configured}:3", configured), (f"comment:{configured}:66", configured), (f"commit:{configured}:{commit['sha']}", configured)}


def test_every_repository_of_the_sources_organisation_counts_in_githubs_spelling(client, monkeypatch):
    """With `org`, the sync names each repository as GitHub's listing spells it, whatever case the option
    uses; the webhook names it as GitHub's delivery does, which is the same spelling."""
    monkeypatch.setenv("BALOO_TOKEN_TEST_HOOK_SECRET", SECRET)
    source = Source.objects.create(slug="github-example", kind="github", name="GitHub", base_url="http://127.0.0.1:9",
                                   options={"org": "EXAMPLE", "webhook_secret_env": "BALOO_TOKEN_TEST_HOOK_SECRET", "backoff_seconds": 0})
    api = FakeGitHub()
    api.orgs["EXAMPLE"] = ["Example/App"]
    issue = gh_issue("Example/App", 3, user=gh_user("ann", 501), created=at(1))
    api.repo("Example/App")["issues"].append(issue)
    repository = {**REPO, "full_name": "Example/App"}

    assert deliver(client, "issues", {"action": "opened", "issue": issue, "repository": repository}).json()["created"] == 1
    assert deliver(client, "issues", {"action": "opened", "issue": issue, "repository": {"full_name": "examples/app"}}).status_code == 202
    with Server(api) as url:
        Source.objects.filter(pk=source.pk).update(base_url=url)
        source.refresh_from_db()
        run = source_sync(source=source)

    assert (run.created, run.duplicate) == (0, 1)
    assert list(Activity.objects.values_list("external_id", "container")) == [("issue:Example/App:3", "Example/App")]


def test_a_repository_named_by_repos_and_by_the_organisation_in_another_case_counts_once(client, monkeypatch):
    """`repos` spells it `example/app`, the organisation's listing `Example/App`: the sync reads it once,
    under the spelling `repos` gives, and the webhook stores it there too."""
    monkeypatch.setenv("BALOO_TOKEN_TEST_HOOK_SECRET", SECRET)
    source = Source.objects.create(slug="github-example", kind="github", name="GitHub", base_url="http://127.0.0.1:9",
                                   options={"repos": ["example/app"], "org": "Example", "webhook_secret_env": "BALOO_TOKEN_TEST_HOOK_SECRET",
                                            "backoff_seconds": 0})
    api = FakeGitHub()
    api.orgs["Example"] = ["Example/App"]
    issue = gh_issue("Example/App", 3, user=gh_user("ann", 501), created=at(1))
    api.repo("example/app")["issues"].append(issue)
    api.repo("Example/App")["issues"].append(issue)

    deliver(client, "issues", {"action": "opened", "issue": issue, "repository": {**REPO, "full_name": "Example/App"}})
    with Server(api) as url:
        Source.objects.filter(pk=source.pk).update(base_url=url)
        source.refresh_from_db()
        run = source_sync(source=source)
        again = source_sync(source=source)

    assert run.status == again.status == "succeeded", run.error
    assert list(Activity.objects.values_list("external_id", flat=True)) == ["issue:example/app:3"]


def test_items_of_deleted_accounts_are_explained_rejections_kept_once(client, source):
    issue = gh_issue("example/app", 8, user=None, created=at(1))
    comment = gh_comment("example/app", 77, user=None, created=at(2))

    answers = [deliver(client, "issues", {"action": "opened", "issue": issue, "repository": REPO}),
               deliver(client, "issue_comment", {"action": "created", "comment": comment, "repository": REPO}),
               deliver(client, "issues", {"action": "edited", "issue": issue, "repository": REPO})]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].json() == {"created": 0, "duplicate": 0,
                                 "rejected": [{"external_id": "issue:example/app:8", "reason": "deleted account"}]}
    assert answers[1].json()["rejected"] == [{"external_id": "comment:example/app:77", "reason": "deleted account"}]
    assert not Activity.objects.exists()
    assert sorted(RejectedItem.objects.values_list("external_id", "reason")) == [
        ("comment:example/app:77", "deleted account"), ("issue:example/app:8", "deleted account")]


def test_a_merged_pull_request_without_a_merge_date_is_said_plainly(client, source):
    pull = {"number": 10, "user": gh_user("bob", 502), "created_at": at(1), "merged_at": None, "merged": True,
            "html_url": "https://github.com/example/app/pull/10", "title": "Fix it"}

    answer = deliver(client, "pull_request", {"action": "closed", "pull_request": pull, "repository": REPO}).json()

    assert answer["created"] == 1
    assert answer["rejected"] == [{"external_id": "merged:example/app:10", "reason": "merged pull request without a merge date"}]


def test_a_push_names_no_account_by_login_alone(client, source):
    """A push gives the author's login but not the account's uid: the login could be another account's by now."""
    commit = sample("github_commit")
    push = {"ref": "refs/heads/main", "repository": REPO, "commits": [
        {"id": commit["sha"], "message": "Keep the query", "timestamp": "2024-03-04T09:00:00+01:00",
         "url": commit["html_url"], "author": {"name": "Ann Example", "email": "ann@example.org", "username": "ann"}}]}

    deliver(client, "push", push)

    activity = Activity.objects.select_related("identity").get()
    assert (activity.identity.kind, activity.identity.value) == (Identity.Kind.EMAIL, "ann@example.org")
    assert not Identity.objects.filter(kind=Identity.Kind.USERNAME).exists()
