"""GET /api/v1/metrics/cohorts/ over HTTP, as CONTRACTS.md §5 describes it: JSON, CSV, the schema, bad input."""

import csv
import io

import pytest

from conversion_points.tests.factories import AreaFactory, small_computed_community, the_day_after_sunday
from metrics.engine import metrics_recompute

URL = "/api/v1/metrics/cohorts/"


@pytest.fixture
def computed(db):
    """Support: Ann (a volunteer, 19 May 2024) and Sam (staff, 2 June); Coding: Ann and Ben. Latest week: 2 June."""
    with the_day_after_sunday():
        yield small_computed_community()


def test_cohorts_have_the_contract_shape(client, computed):
    response = client.get(f"{URL}?scope=area:support", HTTP_ORIGIN="https://example.org")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    assert response.json() == {
        "scope": "area:support",
        "period": "quarter",
        "through": "2024-06-02",
        "cohorts": [{"start": "2024-04-01", "size": 1, "retained": [1], "partial": True}],
    }
    assert "Sam" not in response.content.decode()


def test_every_scope_answers_and_staff_count_only_when_asked(client, computed):
    assert client.get(URL).json()["cohorts"][0]["size"] == 2  # everything: Ann and Ben
    assert client.get(f"{URL}?scope=area:support&staff=include").json()["cohorts"][0]["size"] == 2
    assert client.get(f"{URL}?scope=source:github").json()["cohorts"][0]["retained"] == [2]
    assert client.get(f"{URL}?scope=cp:pr").json()["cohorts"][0]["size"] == 2


def test_a_known_scope_without_contributions_has_no_cohorts(client, computed):
    AreaFactory(slug="events", name="Events")
    metrics_recompute()
    assert client.get(f"{URL}?scope=area:events").json()["cohorts"] == []


def test_csv_has_one_row_per_cohort_and_quarter_after_it(client, computed):
    response = client.get(f"{URL}?scope=all&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == [
        {
            "scope": "all",
            "period": "quarter",
            "start": "2024-04-01",
            "size": "2",
            "partial": "true",
            "quarters_after": "0",
            "quarter_start": "2024-04-01",
            "quarter_partial": "true",
            "retained": "2",
        }
    ]


@pytest.mark.parametrize(
    "query",
    [
        "?scope=everything",
        "?scope=area:",
        "?scope==cmd|' /C calc'!A0",
        "?scope=area:sup%20port",
        "?staff=yes",
        "?scope=nope&format=csv",
    ],
)
def test_bad_parameters_get_a_clear_400(client, computed, query):
    response = client.get(f"{URL}{query}")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    assert response.json()


def test_an_unknown_scope_is_404(client, computed):
    response = client.get(f"{URL}?scope=area:nowhere")
    assert response.status_code == 404 and "area:nowhere" in response.json()["detail"]


def test_not_computed_yet_is_503(client, db):
    assert client.get(URL).status_code == 503


def test_the_schema_describes_the_cohorts(client, db):
    text = client.get("/api/v1/schema/").content.decode()
    assert "/api/v1/metrics/cohorts/" in text and "metrics_cohorts" in text and "retained" in text
