"""The push API: POST /api/v1/activities/ with a per-source token."""

import orjson
import pytest

from activities.models import Activity, Source, SourceToken
from activities.tokens import source_token_create, source_token_revoke

pytestmark = pytest.mark.django_db
URL = "/api/v1/activities/"


@pytest.fixture
def source():
    return Source.objects.create(slug="reps", kind="reps", name="Reps")


@pytest.fixture
def secret(source):
    _token, secret = source_token_create(source=source, name="Reps portal")
    return secret


def record(external_id: str, **changes) -> dict:
    return {"source": "reps", "external_id": external_id, "type": "reps.event.organized", "occurred_at": "2024-05-01T12:03:00+02:00",
            "actor": {"email": "ann@example.org", "username": "ann"}, "container": "Berlin", **changes}


def push(client, body, secret: str | None, content_type: str = "application/json"):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(URL, data=data, content_type=content_type, **headers)


def test_created_duplicate_and_rejected_per_index(client, secret):
    body = [record("e1"), record("e2"), {"source": "reps", "external_id": "e3"}, record("e1"),
            record("e4", source="github-mozilla"), "not an object"]

    response = push(client, body, secret)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["created"], answer["duplicate"]) == (2, 1)
    assert [rejection["index"] for rejection in answer["rejected"]] == [2, 4, 5]
    assert "missing required field" in answer["rejected"][0]["reason"]
    assert "not this token's source" in answer["rejected"][1]["reason"]
    assert Activity.objects.count() == 2
    # Pushing again never counts twice.
    assert push(client, [record("e1")], secret).json() == {"created": 0, "duplicate": 1, "rejected": []}



@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic dXNlcjpwYXNz"])
def test_a_missing_or_bad_token_is_401(client, header):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.post(URL, data=b"[]", content_type="application/json", **headers)
    assert response.status_code == 401
    assert "token" in response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_is_401(client, source, secret):
    source_token_revoke(token=SourceToken.objects.get(source=source))
    assert push(client, [record("e1")], secret).status_code == 401


def test_the_token_is_stored_hashed(source, secret):
    token = SourceToken.objects.get(source=source)
    assert secret not in (token.token_hash, token.prefix) and secret.startswith(token.prefix)


def test_wrong_content_type_is_415(client, secret):
    response = push(client, b"external_id=e1", secret, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]


def test_more_than_1000_records_is_413(client, secret):
    response = push(client, [record(f"e{index}") for index in range(1001)], secret)
    assert response.status_code == 413
    assert Activity.objects.count() == 0


def test_an_oversized_body_is_413(client, secret, monkeypatch):
    monkeypatch.setattr("activities.api.MAX_BODY_BYTES", 1000)
    response = push(client, [record(f"e{index}") for index in range(20)], secret)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


def test_invalid_json_and_non_arrays_are_400(client, secret):
    assert push(client, b"[{", secret).status_code == 400
    assert push(client, {"source": "reps"}, secret).json()["error"].startswith("The body must be a JSON array")


def test_get_is_405_as_json(client):
    response = client.get(URL)
    assert response.status_code == 405 and "POST" in response.json()["error"]


def test_records_queued_for_a_worker_reach_the_counts_like_every_other_way_in(source, monkeypatch):
    from activities import tasks

    asked = []
    monkeypatch.setattr(tasks, "metrics_recompute_soon", lambda: asked.append(True))
    assert tasks.ingest_records([record("q-1")]) == {"created": 1, "duplicate": 0, "rejected": []}
    assert asked == [True]
    tasks.ingest_records([record("q-1")])  # nothing new: no recompute asked
    assert asked == [True]
