"""Every answer on machine-facing URLs is JSON, errors included: a database dropping under the push
API gives 503 JSON with Retry-After (nothing stored, resending is safe), any other failure 500 JSON.
People's pages keep Django's HTML error page."""

import pytest
from django.db import OperationalError
from django.test import Client

from activities import api as push_api
from activities.models import Activity, Source
from activities.tokens import source_token_create
from baloo_site.errors import DATABASE_DOWN, SERVER_ERROR

pytestmark = pytest.mark.django_db

RECORD = {"source": "reps", "external_id": "event:1", "type": "reps.event.organized", "occurred_at": "2026-11-02T10:00:00Z",
          "actor": {"username": "ann"}}


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def secret() -> str:
    source = Source.objects.create(slug="reps", kind="reps", name="Reps")
    return source_token_create(source=source, name="portal")[1]


def push(client: Client, secret: str):
    return client.post("/api/v1/activities/", [RECORD], content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")


def failing(error: Exception):
    def ingest(**_kwargs):
        raise error

    return ingest


def test_a_database_failure_under_a_push_answers_503_json(client, secret, monkeypatch):
    monkeypatch.setattr(push_api, "activities_ingest", failing(OperationalError("server closed the connection unexpectedly")))
    response = push(client, secret)

    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "30"
    assert response.json() == {"detail": DATABASE_DOWN}
    # The database's own words (hosts, queries) are the operator's log's, not the caller's.
    assert b"closed the connection" not in response.content
    assert not Activity.objects.exists()


def test_any_other_failure_under_a_push_answers_500_json(client, secret, monkeypatch):
    monkeypatch.setattr(push_api, "activities_ingest", failing(RuntimeError("secret internals")))
    response = push(client, secret)

    assert (response.status_code, response["Content-Type"]) == (500, "application/json")
    assert response.json() == {"detail": SERVER_ERROR}
    assert b"secret internals" not in response.content


def test_a_failure_before_the_view_still_answers_json_on_machine_urls(client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "baloo_site.tests.test_machine_errors.Exploding"]
    for path in ("/api/v1/metrics/summary/", "/hooks/github/anything/"):
        response = client.get(path)
        assert (response.status_code, response["Content-Type"]) == (500, "application/json"), path
        assert response.json() == {"detail": SERVER_ERROR}


def test_peoples_pages_keep_the_html_error_page(client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "baloo_site.tests.test_machine_errors.Exploding"]
    response = client.get("/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


class Exploding:
    """A middleware that fails on every request (as one reading a database that dropped would)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("the database dropped")
