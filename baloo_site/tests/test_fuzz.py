"""Bad input, rejected: the push API, the GitHub webhook and the import parser under hypothesis.

Whatever arrives, the answer is never a 500: a clear 4xx (always JSON, with a reason), or a 200
that lists every rejected record with its index and reason. Oversized and deeply nested bodies are
refused. HTML and script in names and titles come out escaped in the admin.
"""

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities import api
from activities.models import Activity, Source
from activities.records import RecordError, record_parse
from activities.tokens import source_token_create
from baloo_site.lines import OversizedRecord
from contributors.models import Identity, Person

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
SCRIPT = '<script>alert("owned")</script><img src=x onerror=alert(1)>'

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20
)
# Records near the contract, each field either plausible or arbitrary: the parser's edges.
plausible_records = st.fixed_dictionaries(
    {
        "source": st.sampled_from(["fuzz", "", "other"]) | json_values,
        "external_id": st.text(max_size=300) | json_values,
        "type": st.sampled_from(["git.commit.authored", "Git.Commit", "a.b", "x.y.z"]) | json_values,
        "occurred_at": st.sampled_from(["2024-05-01T12:03:00+02:00", "2024-05-01", "9999-01-01T00:00:00Z", "yesterday"])
        | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
        | json_values,
        "actor": st.fixed_dictionaries(
            {},
            optional={
                "email": st.sampled_from(["ann@example.org", "a@b@c", "dev@localhost", "=", " "]) | json_values,
                "username": st.text(max_size=400) | json_values,
                "uid": st.integers() | st.text(max_size=20) | json_values,
                "name": st.text(max_size=300) | json_values,
                "bot": json_values,
            },
        )
        | json_values,
    },
    optional={"container": json_values, "url": json_values, "title": st.text(max_size=600) | json_values, "data": json_values},
)


def _json(value: object) -> bytes:
    # The standard library writes any integer, even those past 64 bits that some parsers refuse.
    return json.dumps(value).encode()


@pytest.fixture
def secret() -> str:
    source = Source.objects.get_or_create(slug="fuzz", defaults={"kind": "manual", "name": "Fuzz"})[0]
    return source_token_create(source=source, name="fuzz")[1]


def _push(client: Client, body: bytes, secret: str, content_type: str = "application/json"):
    return client.generic("POST", "/api/v1/activities/", body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _clear_4xx_or_ok(response) -> dict:
    assert response.status_code < 500, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    answer = response.json()
    if response.status_code >= 400:
        assert answer["error"].strip()
    return answer


@FUZZ
@given(body=json_values)
def test_push_any_json_body(client, secret, body):
    answer = _clear_4xx_or_ok(_push(client, _json(body), secret))
    if isinstance(body, list) and "created" in answer:
        assert all(rejection["reason"] for rejection in answer["rejected"])


@FUZZ
@given(records=st.lists(plausible_records, max_size=5))
def test_push_records_near_the_contract(client, secret, records):
    response = _push(client, _json(records), secret)
    answer = _clear_4xx_or_ok(response)
    assert response.status_code == 200, answer
    # Every record is accounted for: stored, a duplicate, or rejected with its index and a reason.
    assert answer["created"] + answer["duplicate"] + len(answer["rejected"]) == len(records)
    assert {rejection["index"] for rejection in answer["rejected"]} <= set(range(len(records)))


@FUZZ
@given(body=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"]))
def test_push_any_bytes(client, secret, body, content_type):
    _clear_4xx_or_ok(_push(client, body, secret, content_type))


def test_push_refuses_oversized_and_deeply_nested_bodies(client, secret, monkeypatch):
    monkeypatch.setattr(api, "MAX_BODY_BYTES", 10_000)
    response = _push(client, b"[" + b'"x",' * 5000 + b'"x"]', secret)
    assert response.status_code == 413 and "larger than" in response.json()["error"]

    nested = _push(client, b"[" * 100_000 + b"]" * 100_000, secret)
    assert nested.status_code == 413  # refused by size before it is parsed

    monkeypatch.setattr(api, "MAX_BODY_BYTES", 10 * 1024 * 1024)
    nested = _push(client, b"[" * 100_000 + b"]" * 100_000, secret)
    assert nested.status_code == 400 and "not valid JSON" in nested.json()["error"]

    deep_data: object = "bottom"
    for _ in range(300):
        deep_data = {"d": deep_data}
    record = {
        "source": "fuzz", "external_id": "deep", "type": "manual.thing.done",
        "occurred_at": "2024-05-01T12:00:00Z", "actor": {"username": "ann"}, "data": deep_data,
    }
    answer = _clear_4xx_or_ok(_push(client, _json([record]), secret))
    assert answer["created"] == 0 and answer["rejected"][0]["index"] == 0


@FUZZ
@given(record=plausible_records | json_values, as_text=st.booleans())
def test_import_parser_accepts_or_explains(record, as_text):
    raw = _json(record) if as_text else record
    try:
        parsed = record_parse(raw, now=datetime(2026, 1, 1, tzinfo=UTC))
    except RecordError as error:
        assert str(error).strip()
    else:
        assert parsed.external_id and parsed.type and (parsed.email or parsed.username or parsed.uid)


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_import_parser_any_line(text):
    try:
        record_parse(text, now=datetime(2026, 1, 1, tzinfo=UTC))
    except RecordError:
        pass
    with pytest.raises(RecordError):
        record_parse(OversizedRecord(size=10**9), now=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture
def webhook_source(monkeypatch) -> str:
    monkeypatch.setenv("BALOO_TOKEN_FUZZ_WEBHOOK_SECRET", "fuzz-webhook-secret")
    Source.objects.get_or_create(
        slug="github-fuzz", defaults={"kind": "github", "name": "GitHub", "options": {"webhook_secret_env": "BALOO_TOKEN_FUZZ_WEBHOOK_SECRET"}}
    )
    return "fuzz-webhook-secret"


def _deliver(client: Client, event: str, body: bytes, secret: str):
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.generic(
        "POST", "/hooks/github/github-fuzz/", body, content_type="application/json",
        HTTP_X_GITHUB_EVENT=event, HTTP_X_HUB_SIGNATURE_256=signature,
    )


github_like = st.fixed_dictionaries(
    {"action": st.sampled_from(["opened", "created", "submitted", "closed", "edited"]) | json_values},
    optional={
        "repository": st.fixed_dictionaries({"full_name": st.text(max_size=30) | json_values}) | json_values,
        "issue": json_values, "pull_request": json_values, "review": json_values, "comment": json_values,
        "commits": st.lists(json_values, max_size=3) | json_values,
        "sender": json_values,
    },
)


@FUZZ
@given(
    event=st.sampled_from(["issues", "pull_request", "pull_request_review", "issue_comment", "pull_request_review_comment", "push", "ping", "star"]),
    payload=github_like | json_values,
)
def test_webhook_signed_garbage(client, webhook_source, event, payload):
    _clear_4xx_or_ok(_deliver(client, event, _json(payload), webhook_source))


@FUZZ
@given(body=st.binary(max_size=200), signature=st.text(max_size=80))
def test_webhook_unsigned_garbage(client, webhook_source, body, signature):
    response = client.generic(
        "POST", "/hooks/github/github-fuzz/", body, content_type="application/json",
        HTTP_X_GITHUB_EVENT="issues", HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 401


def test_html_in_names_and_titles_is_escaped_in_the_admin(admin_client, secret):
    record = {
        "source": "fuzz", "external_id": "xss-1", "type": "manual.thing.done", "occurred_at": "2024-05-01T12:00:00Z",
        "actor": {"username": "mallory", "name": SCRIPT}, "title": SCRIPT, "container": SCRIPT,
    }
    assert _push(Client(), _json([record]), secret).json()["created"] == 1
    activity = Activity.objects.get(external_id="xss-1")
    person = Identity.objects.get(value="mallory").person
    Person.objects.filter(pk=person.pk).update(display_name=SCRIPT)
    pages = [
        "/admin/activities/activity/",
        f"/admin/activities/activity/{activity.pk}/change/",
        "/admin/contributors/person/",
        f"/admin/contributors/person/{person.pk}/change/",
        "/admin/contributors/identity/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert "<script>alert" not in html and "<img src=x" not in html, page
        assert "&lt;script&gt;alert" in html, f"{page} should show the name, escaped"
