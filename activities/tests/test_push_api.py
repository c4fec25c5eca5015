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


def test_records_queued_for_a_worker_reach_the_counts_like_every_other_way_in(
    source, monkeypatch, django_capture_on_commit_callbacks
):
    from activities import tasks
    from metrics import services

    asked = []
    monkeypatch.setattr(services, "metrics_recompute_soon", lambda: asked.append(True))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.ingest_records([record("q-1")]) == {"created": 1, "duplicate": 0, "rejected": []}
    assert asked == [True]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.ingest_records([record("q-1")])  # nothing new: no recompute asked
    assert asked == [True]


# --------------------------------------------------------------------------- a token holder writes only into its source


def test_a_token_writes_only_into_its_own_source_whatever_the_shape_of_a_record(client, secret):
    """An element that is JSON text holding a record was decoded as a record, and its source never
    checked against the token's: any token wrote into any source."""
    Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    elsewhere = record("x1", source="github-mozilla")
    body = [
        orjson.dumps(elsewhere).decode(),  # a record of another source, as a string
        orjson.dumps(record("x2")).decode(),  # even one of its own source: a record is an object
        record("x3", source=" github-mozilla "),
        record("x4", source=["reps"]),
        None, 7, [record("x5")],
        record("ok", source=" reps "),
    ]

    answer = push(client, body, secret).json()

    assert answer["created"] == 1
    reasons = {rejection["index"]: rejection["reason"] for rejection in answer["rejected"]}
    assert sorted(reasons) == [0, 1, 2, 3, 4, 5, 6]
    assert reasons[0] == reasons[1] == "a record must be a JSON object, not a string"
    assert "not this token's source 'reps'" in reasons[2] and "not this token's source" in reasons[3]
    assert (reasons[4], reasons[5], reasons[6]) == (
        "a record must be a JSON object, not null", "a record must be a JSON object, not a number",
        "a record must be a JSON object, not a list")
    assert list(Activity.objects.values_list("source__slug", "external_id")) == [("reps", "ok")]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize("occurred_at", [
    "0001-01-01T00:00+01:00",  # moving it to UTC overflowed: a 500, the whole batch lost
    "0001-01-01T00:00:00+01:00",  # kept as text, PostgreSQL stored it as 1 BC
    "9999-12-31T23:59:59-01:00",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:30:00+01:00",
    "1970-01-01T00:00:00+00:00:01",
    "0001-W01-1T00:00:00+05:00",
    "2024-05-01T12:03:60Z",  # a leap second: neither Python nor most systems read it
    "2024-05-01T12:03:00+24:00",
])
def test_a_moment_python_cannot_read_back_costs_only_its_own_record(client, secret, occurred_at):
    body = [record("before"), record("bad", occurred_at=occurred_at), record("after")]

    response = push(client, body, secret)

    assert response.status_code == 200
    answer = response.json()
    assert answer["created"] == 2 and [rejection["index"] for rejection in answer["rejected"]] == [1]
    assert "occurred_at" in answer["rejected"][0]["reason"]
    assert sorted(Activity.objects.values_list("external_id", flat=True)) == ["after", "before"]


@pytest.mark.parametrize("occurred_at", [
    "2024-05-01T12:03:00+15:59",
    "2024-05-01T12:03:00-23:59",  # Python reads it; PostgreSQL refused the text (the batch was lost)
    "2024-W18-3T12:03:00Z",  # a week date
    "1970-01-01T00:00:00Z",
    "1970-01-02T00:00:00+23:59",
])
def test_any_moment_python_reads_from_1970_on_is_stored_as_that_moment(client, secret, occurred_at):
    from datetime import datetime

    answer = push(client, [record("e1", occurred_at=occurred_at), record("e2")], secret).json()

    assert (answer["created"], answer["rejected"]) == (2, [])
    assert Activity.objects.get(external_id="e1").occurred_at == datetime.fromisoformat(occurred_at)


# --------------------------------------------------------------------------- identity keys


def test_look_alike_e_mails_are_one_identity_and_longer_folded_keys_are_refused(client, secret):
    from contributors.models import Identity

    body = [
        record("e1", actor={"email": "ann@example.org"}),
        record("e2", actor={"email": "ＡＮＮ＠ｅｘａｍｐｌｅ．ｏｒｇ"}),  # full width
        record("e3", actor={"email": "ann\u200b@exam\u2060ple.org\u200e"}),  # zero-width, word joiner, bidi mark
        record("e4", actor={"email": "\u202eann@example.org\u202c"}),  # bidi override
        record("e5", actor={"email": "\u200b\u200c"}),  # nothing left: no e-mail, nothing else to identify
        record("e6", actor={"email": "\u200b", "username": "bea"}),
        record("e7", actor={"username": "ß" * 200}),  # 400 characters once case-folded: PostgreSQL refused the batch
    ]

    answer = push(client, body, secret).json()

    assert answer["created"] == 5
    reasons = {rejection["index"]: rejection["reason"] for rejection in answer["rejected"]}
    assert sorted(reasons) == [4, 6]
    assert "nothing to identify" in reasons[4] and "400 characters" in reasons[6]
    emails = set(Identity.objects.filter(kind="email").values_list("value", flat=True))
    assert emails == {"ann@example.org"}
    assert Activity.objects.filter(identity__value="ann@example.org").count() == 4


# --------------------------------------------------------------------------- a chunked body, through real HTTP servers


@pytest.fixture
def decoding_server(transactional_db, settings):
    """Baloo behind a real HTTP server that decodes chunked bodies and says so in
    `wsgi.input_terminated`, as gunicorn does (werkzeug's, here: it runs in a thread, so it shares
    the in-memory SQLite test database as Django's live server does)."""
    import threading

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connections
    from werkzeug.serving import make_server

    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    shared = {conn.alias: conn for conn in connections.all() if conn.vendor == "sqlite" and conn.is_in_memory_db()}
    for conn in shared.values():
        conn.inc_thread_sharing()
    server = make_server("127.0.0.1", 0, WSGIHandler())

    def serve() -> None:
        for alias, conn in shared.items():
            connections[alias] = conn
        server.serve_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()
    for conn in shared.values():
        conn.dec_thread_sharing()


def push_chunked(base_url: str, secret: str, parts: list[bytes]) -> tuple[int, dict]:
    """POST the parts as a chunked body (http.client sends an iterable so, with no Content-Length)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request("POST", URL, body=iter(parts), headers={
            "Authorization": f"Bearer {secret}", "Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.getheader("Content-Length") is None or "chunked" not in (response.getheader("Transfer-Encoding") or "")
        return response.status, orjson.loads(response.read())
    finally:
        connection.close()


def test_a_chunked_body_is_read_whole_and_still_bounded(decoding_server, secret, monkeypatch):
    """It was read as empty (Django reads a body without Content-Length so): the push was refused."""
    body = orjson.dumps([record(f"c{index}") for index in range(30)])
    parts = [body[start:start + 100] for start in range(0, len(body), 100)]

    assert push_chunked(decoding_server, secret, parts) == (200, {"created": 30, "duplicate": 0, "rejected": []})

    monkeypatch.setattr("activities.api.MAX_BODY_BYTES", len(body) - 1)
    status, answer = push_chunked(decoding_server, secret, parts)
    assert status == 413 and "larger than" in answer["error"]


def test_a_server_that_cannot_read_a_chunked_body_says_so(live_server, secret):
    """Django's own server hands the application no chunked body: a clear 411, not an empty push."""
    status, answer = push_chunked(live_server.url, secret, [orjson.dumps([record("c1")])])
    assert status == 411 and "Content-Length" in answer["error"]
    assert not Activity.objects.exists()


def test_an_external_id_postgresql_cannot_hold_is_a_rejection_not_a_server_error(client):
    """A NUL inside an external id (or one past its 255 characters) is refused by ingestion with its
    reason; checking whether it was a rejected item before must not ask the database about it."""
    source = Source.objects.create(slug="reps-nul", kind="reps", name="Reps")
    secret = source_token_create(source=source, name="portal")[1]
    records = [{"source": "reps-nul", "external_id": "event:\x001", "type": "reps.event.organized",
                "occurred_at": "2026-11-02T10:00:00Z", "actor": {"username": "ann"}},
               {"source": "reps-nul", "external_id": "e" * 300, "type": "reps.event.organized",
                "occurred_at": "2026-11-02T10:00:00Z", "actor": {"username": "ann"}}]
    response = client.post("/api/v1/activities/", records, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert [rejection["index"] for rejection in response.json()["rejected"]] == [0, 1]
