"""The public metrics API, over HTTP, exactly as CONTRACTS.md §5 describes it."""

import csv
import io

import pytest

from activities.models import Source
from conversion_points.tests.factories import SUNDAY, ActivityFactory, small_computed_community, the_day_after_sunday
from conversion_points.tests.factories import noon as at
from metrics.engine import metrics_recompute


@pytest.fixture
def computed(db):
    with the_day_after_sunday():
        yield small_computed_community()


def test_summary_has_the_contract_shape(client, computed):
    response = client.get("/api/v1/metrics/summary/", HTTP_ORIGIN="https://example.org")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    data = response.json()
    assert {k: data[k] for k in ("date", "window_days", "active", "sum_of_areas", "contributors_ever")} == {
        "date": "2024-06-03",  # as of today
        "window_days": 365,
        "active": 2,
        "sum_of_areas": 3,
        "contributors_ever": 2,
    }
    # `target_date` and `goal_plan` were added compatibly (#20); the plan is test_goals_api.py's.
    assert [{k: v for k, v in area.items() if k != "goal_plan"} for area in data["areas"]] == [
        {"slug": "support", "name": "Support", "active": 1, "new": 0, "target": 1500, "target_date": None},
        {"slug": "coding", "name": "Coding", "active": 2, "new": 2, "target": None, "target_date": None},
    ]
    assert [area["goal_plan"] is None for area in data["areas"]] == [False, True]
    assert data["sources"] == [
        {"slug": "github", "name": "GitHub", "active": 2, "new": 2},
        {"slug": "sumo", "name": "SUMO", "active": 1, "new": 0},
    ]
    assert "Sam" not in response.content.decode()


def test_summary_counts_staff_when_asked_and_takes_a_date(client, computed):
    assert client.get("/api/v1/metrics/summary/?staff=include").json()["active"] == 3
    earlier = client.get("/api/v1/metrics/summary/?date=2024-05-20").json()  # as of that day, not its week's Sunday
    assert (earlier["date"], earlier["active"], earlier["new"]) == ("2024-05-20", 1, 1)


def test_series_lists_every_week_oldest_first_with_zeros(client, computed):
    data = client.get("/api/v1/metrics/series/?scope=area:support").json()
    assert data["scope"] == "area:support" and data["window_days"] == 365
    assert [p["date"] for p in data["points"]] == ["2024-05-19", "2024-05-26", "2024-06-02"]
    assert data["points"][0] == {
        "date": "2024-05-19",
        "active": 1,
        "new": 1,
        "lapsed": 0,
        "levels": {"casual": 0, "active": 1, "core": 0},
    }
    everything = client.get("/api/v1/metrics/series/").json()
    assert everything["scope"] == "all" and [p["active"] for p in everything["points"]] == [1, 1, 2]
    window = client.get("/api/v1/metrics/series/?scope=cp:pr&start=2024-06-01&end=2024-06-02").json()
    assert window["points"] == [{"date": "2024-06-02", "active": 2, "new": 2, "lapsed": 0}]
    staff = client.get("/api/v1/metrics/series/?scope=source:sumo&staff=include").json()
    assert staff["points"][-1]["active"] == 2


def test_csv_gives_the_same_data(client, computed):
    response = client.get("/api/v1/metrics/series/?scope=all&format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["date"], r["active"], r["new"], r["lapsed"]) for r in rows] == [
        ("2024-05-19", "1", "1", "0"),
        ("2024-05-26", "1", "0", "0"),
        ("2024-06-02", "2", "1", "0"),
    ]
    summary = list(csv.DictReader(io.StringIO(client.get("/api/v1/metrics/summary/?format=csv").content.decode())))
    assert [(r["scope"], r["active"]) for r in summary] == [
        ("all", "2"),
        ("area:support", "1"),
        ("area:coding", "2"),
        ("source:github", "2"),
        ("source:sumo", "1"),
    ]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/metrics/series/?scope=everything",
        "/api/v1/metrics/series/?start=2024-13-01",
        "/api/v1/metrics/series/?start=2024-06-02&end=2024-01-01",
        "/api/v1/metrics/series/?staff=yes",
        "/api/v1/metrics/summary/?date=yesterday",
        "/api/v1/metrics/summary/?date=2030-01-06",
        "/api/v1/metrics/summary/?date=nope&format=csv",
    ],
)
def test_bad_parameters_get_a_clear_400(client, computed, url):
    response = client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()


def test_unknown_scope_is_404(client, computed):
    assert client.get("/api/v1/metrics/series/?scope=area:nowhere").status_code == 404


def test_no_metrics_yet_is_503(client, db):
    assert client.get("/api/v1/metrics/summary/").status_code == 503


def test_responses_follow_the_next_recompute(client, computed):
    assert client.get("/api/v1/metrics/summary/").json()["active"] == 2
    ActivityFactory(source=Source.objects.get(slug="sumo"), type="sumo.answer.posted", occurred_at=at(SUNDAY))
    metrics_recompute()
    assert client.get("/api/v1/metrics/summary/").json()["active"] == 3


def test_schema_describes_both_endpoints(client, db):
    response = client.get("/api/v1/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/metrics/summary/" in text and "/api/v1/metrics/series/" in text and "sum_of_areas" in text
