"""An occurred_at before 1970 (or more than a day ahead) is rejected with a reason on every way in
that shares activities/records.py — push, webhook, import, sync — and never costs its neighbours."""

import hashlib
import hmac

import orjson
import pytest

from activities.models import Activity, Source
from activities.sync import source_sync

from .builders import at, gh_issue, gh_user
from .standin import FakeGitHub, Server

pytestmark = pytest.mark.django_db
BAD_MOMENTS = ["0001-01-01T00:00+01:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"]


@pytest.mark.parametrize("created, updated", [(bad, None) for bad in BAD_MOMENTS] + [(None, bad) for bad in BAD_MOMENTS])
def test_a_sync_rejects_the_item_and_keeps_the_rest_of_its_page(created, updated):
    """The checkpoint's arithmetic overflowed on year 1: every sync of the source failed, for good."""
    api = FakeGitHub()
    repo = api.repo("example/app")
    repo["issues"].append(gh_issue("example/app", 3, user=gh_user("ann", 501), created=created or at(1), updated=updated))
    repo["issues"].append(gh_issue("example/app", 4, user=gh_user("bob", 502), created=at(2)))
    with Server(api) as url:
        source = Source.objects.create(slug="gh", kind="github", name="GitHub", base_url=url,
                                       options={"repos": ["example/app"], "backoff_seconds": 0})
        run = source_sync(source=source)
        again = source_sync(source=source)

    assert run.status == again.status == "succeeded", run.error
    expected = {"issue:example/app:4"} | ({"issue:example/app:3"} if created is None else set())
    assert set(Activity.objects.values_list("external_id", flat=True)) == expected
    assert {activity.occurred_at.year for activity in Activity.objects.all()} == {2024}
    if created:
        assert run.rejected == 1


def test_a_webhook_delivery_keeps_its_good_commits(client, monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_TEST_HOOK_SECRET", "s3cret")
    Source.objects.create(slug="github-example", kind="github", name="GitHub",
                          options={"repos": ["example/app"], "webhook_secret_env": "BALOO_TOKEN_TEST_HOOK_SECRET"})
    author = {"name": "Ann", "email": "ann@example.org", "username": "ann"}
    commits = [{"id": f"{n:040x}", "timestamp": moment, "author": author}
               for n, moment in enumerate(["2024-03-04T09:00:00+01:00", *BAD_MOMENTS])]
    body = orjson.dumps({"ref": "refs/heads/main", "repository": {"full_name": "example/app"}, "commits": commits})
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()

    response = client.post("/hooks/github/github-example/", data=body, content_type="application/json",
                           HTTP_X_GITHUB_EVENT="push", HTTP_X_HUB_SIGNATURE_256=signature)

    assert response.status_code == 200
    answer = response.json()
    assert answer["created"] == 1 and [rejection["position"] for rejection in answer["rejected"]] == [1, 2, 3, 4]
    assert all("occurred_at" in rejection["reason"] for rejection in answer["rejected"])
