"""GET /api/v1/metrics/data-quality/: JSON and CSV, in the OpenAPI schema, nothing personal, cheap."""

import csv
import io

import pytest
import time_machine

from .quality_history import HIDDEN_SOURCE, NOW, PLANTED, quality_history

pytestmark = pytest.mark.django_db
URL = "/api/v1/metrics/data-quality/"


@pytest.fixture
def history(settings):
    settings.SECURE_SSL_REDIRECT = False
    with time_machine.travel(NOW, tick=False):
        yield quality_history()


def test_json_answers_every_source_and_identity(client, history):
    response = client.get(URL, HTTP_ORIGIN="https://example.org")

    assert response.status_code == 200
    # Public and open to other sites, as the rest of the metrics API.
    assert response["Access-Control-Allow-Origin"] == "*"
    data = response.json()
    assert data["runs_considered"] == 10
    sources = {source["slug"]: source for source in data["sources"]}
    assert set(sources) == {"bmo", "sumo", "git-app", "github-old", "discourse"}
    assert sources["bmo"]["behind_seconds"] == 3 * 3600 - 120
    assert sources["bmo"]["totals"][0]["items"] == "bug"
    assert data["identity"]["one_identity_share"] == 0.75


def test_csv_gives_the_same_figures_one_a_row(client, history):
    response = client.get(URL, {"format": "csv"})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    figures = {(row["section"], row["source"], row["figure"], row["detail"]): row["value"] for row in rows}
    assert figures[("source", "bmo", "behind_seconds", "")] == str(3 * 3600 - 120)
    assert figures[("source", "bmo", "total_reported", "bug")] == "12"
    assert figures[("source", "bmo", "rejected_by_reason", "no author named")] == "2"
    assert figures[("source", "discourse", "last_success_at", "")] == ""
    assert figures[("identity", "", "merge_suggestions_open", "")] == "1"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_nothing_personal_or_remote_in_the_answer(client, history, fmt):
    text = client.get(URL, {"format": fmt}).content.decode().lower()
    for planted in PLANTED:
        assert planted.lower() not in text
    assert "server said" not in text


def test_answers_before_any_recompute_and_from_the_cache(client, history, django_assert_max_num_queries):
    with django_assert_max_num_queries(16):
        first = client.get(URL).json()
    with django_assert_max_num_queries(0):
        assert client.get(URL, {"format": "json"}).json() == first


def test_only_get(client, history):
    assert client.post(URL).status_code == 405


def test_the_schema_describes_it(client, db):
    text = client.get("/api/v1/schema/").content.decode()
    assert "/api/v1/metrics/data-quality/" in text
    assert "metrics_data_quality" in text and "one_identity_share" in text and "behind_seconds" in text


@pytest.mark.parametrize("path", ["/api/v1/metrics/data-quality/", "/api/v1/metrics/data-quality/?format=csv", "/data-quality/"])
def test_a_source_no_rule_counts_is_never_named(client, history, path):
    """Which sources exist (a disabled intake, a webhook's slug) is not for anonymous visitors: only
    the sources the dashboard already names are listed."""
    response = client.get(path)
    assert response.status_code == 200
    assert HIDDEN_SOURCE.encode() not in response.content and b"Hidden intake" not in response.content
