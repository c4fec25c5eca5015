"""Goal plans in the summary, and `GET /api/v1/metrics/campaigns/`, over HTTP, as docs/contracts.md describes them.

Campaign effects are held to an oracle written from the definition (docs/common-language.md,
"Campaign effect"): the test's own list of first contributions, counted week by week.
"""

import csv
import io
from datetime import date, timedelta

import pytest

from activities.models import Source
from conversion_points.models import Area, Campaign
from conversion_points.tests.factories import (
    SUNDAY,
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    noon,
    the_day_after_sunday,
)
from metrics.engine import metrics_recompute

# First (and only) contribution days of the volunteers of each area. SUNDAY is 2024-06-02.
FIRSTS = {
    "support": [date(2024, 2, 14), date(2024, 3, 3), date(2024, 4, 2), date(2024, 5, 7), date(2024, 5, 8),
                date(2024, 5, 15), date(2024, 5, 20), date(2024, 6, 1)],
    "l10n": [date(2023, 12, 1), date(2024, 4, 10), date(2024, 5, 12)],
}
# Named by a builder who types whatever they like: pages escape it, the CSV writes it as text.
HOSTILE_NAME = '=HYPERLINK("https://evil.example","<b>Spring</b>")'


@pytest.fixture
def world(db):
    with the_day_after_sunday():
        sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
        areas = {}
        for position, slug in enumerate(FIRSTS):
            areas[slug] = AreaFactory(slug=slug, name=slug.title(), position=position)
            ConversionPointFactory(slug=f"{slug}-answer", area=areas[slug], source=sumo, types=[f"sumo.{slug}.done"])
            for day in FIRSTS[slug]:
                ActivityFactory(source=sumo, type=f"sumo.{slug}.done", identity=IdentityFactory(), occurred_at=noon(day))
        areas["support"].target, areas["support"].target_date = 40, date(2024, 9, 1)
        areas["support"].save()
        over = Campaign.objects.create(slug="may-push", name_en=HOSTILE_NAME, start=date(2024, 5, 6), end=date(2024, 5, 19))
        over.areas.add(areas["support"], areas["l10n"])
        running = Campaign.objects.create(slug="june", name_en="June", start=date(2024, 5, 27), end=date(2024, 6, 16))
        running.areas.add(areas["support"])
        planned = Campaign.objects.create(slug="autumn", name_en="Autumn", start=date(2024, 9, 2), end=date(2024, 9, 29))
        planned.areas.add(areas["l10n"])
        metrics_recompute()
        yield areas


def oracle_new(area: str, first_sunday: date, last_sunday: date) -> int:
    """First contributions in the weeks whose Sundays run from first_sunday to last_sunday (Monday to Sunday)."""
    return sum(1 for day in FIRSTS[area] if first_sunday - timedelta(days=6) <= day <= last_sunday)


def test_the_summary_gives_each_areas_target_date_and_goal_plan(client, world):
    areas = {area["slug"]: area for area in client.get("/api/v1/metrics/summary/").json()["areas"]}

    assert areas["support"]["target_date"] == "2024-09-01"
    plan = areas["support"]["goal_plan"]
    assert plan["status"] in {"on_track", "behind", "met"}
    assert {k: plan[k] for k in ("as_of", "from_week", "target", "target_date", "weeks_left", "pace_weeks")} == {
        "as_of": "2024-06-03", "from_week": "2024-06-02", "target": 40, "target_date": "2024-09-01", "weeks_left": 13,
        "pace_weeks": 12,
    }
    # Everyone of support is active at SUNDAY and still on 2024-09-01 (all contributed after 2023-09-03).
    assert plan["projected"] == 8 and plan["needed_per_week"] == 3  # ⌈32 ÷ 13⌉
    assert plan["pace_new"] == oracle_new("support", SUNDAY - timedelta(weeks=11), SUNDAY) == 6
    assert plan["pace_per_week"] == 0.5 and plan["pace_enough"] is False and plan["status"] == "behind"
    assert areas["l10n"]["target_date"] is None and areas["l10n"]["goal_plan"] is None


def test_a_past_days_summary_carries_no_plan(client, world):
    areas = client.get("/api/v1/metrics/summary/?date=2024-05-01").json()["areas"]

    assert [area["goal_plan"] for area in areas] == [None, None]
    assert areas[0]["target_date"] == "2024-09-01"


def test_the_summary_csv_gives_the_plan_in_its_last_columns(client, world):
    rows = list(csv.DictReader(io.StringIO(client.get("/api/v1/metrics/summary/?format=csv").content.decode())))
    support = next(row for row in rows if row["scope"] == "area:support")

    assert {k: support[k] for k in ("target_date", "goal_status", "goal_projected", "goal_weeks_left", "goal_needed_per_week",
                                     "goal_pace_per_week", "goal_pace_enough")} == {
        "target_date": "2024-09-01", "goal_status": "behind", "goal_projected": "8", "goal_weeks_left": "13",
        "goal_needed_per_week": "3", "goal_pace_per_week": "0.5", "goal_pace_enough": "false",
    }
    assert next(row for row in rows if row["scope"] == "all")["goal_status"] == ""


def test_campaigns_give_new_contributors_during_and_before_by_the_definition(client, world):
    data = client.get("/api/v1/metrics/campaigns/").json()

    assert data["before_weeks"] == 12
    assert [c["slug"] for c in data["campaigns"]] == ["may-push", "june", "autumn"]
    may, june, autumn = data["campaigns"]
    assert (may["first_week"], may["last_week"], may["status"], may["partial"]) == ("2024-05-12", "2024-05-19", "over", False)
    for area in may["areas"]:
        during = oracle_new(area["slug"], date(2024, 5, 12), date(2024, 5, 19))
        before = oracle_new(area["slug"], date(2024, 2, 18), date(2024, 5, 5))
        assert area["during"] == {"weeks": 2, "new": during, "per_week": round(during / 2, 2)}
        assert area["before"] == {"weeks": 12, "new": before, "per_week": round(before / 12, 2)}
    assert [(a["slug"], a["during"]["new"], a["before"]["new"]) for a in may["areas"]] == [("support", 3, 3), ("l10n", 1, 1)]
    # In progress: its weeks up to the latest computed one only, and marked partial.
    assert (june["status"], june["partial"], june["first_week"], june["last_week"]) == ("in_progress", True, "2024-06-02", "2024-06-16")
    assert june["areas"][0]["during"] == {"weeks": 1, "new": 1, "per_week": 1.0}
    assert june["areas"][0]["before"]["new"] == oracle_new("support", date(2024, 3, 10), date(2024, 5, 26)) == 5
    # Planned: no figures yet.
    assert (autumn["status"], autumn["partial"], autumn["areas"][0]["during"], autumn["areas"][0]["before"]) == ("planned", True, None, None)


def test_an_areas_campaigns_only_with_its_figures_only(client, world):
    data = client.get("/api/v1/metrics/campaigns/?area=l10n").json()

    assert [c["slug"] for c in data["campaigns"]] == ["may-push", "autumn"]
    assert [[a["slug"] for a in c["areas"]] for c in data["campaigns"]] == [["l10n"], ["l10n"]]


def test_the_campaigns_csv_has_a_row_per_campaign_and_area_and_no_formula(client, world):
    response = client.get("/api/v1/metrics/campaigns/?format=csv")

    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(row["campaign"], row["area"]) for row in rows] == [("may-push", "support"), ("may-push", "l10n"), ("june", "support"), ("autumn", "l10n")]
    assert rows[0]["name"] == "'" + HOSTILE_NAME
    assert (rows[0]["weeks"], rows[0]["new"], rows[0]["per_week"], rows[0]["new_before"]) == ("2", "3", "1.5", "3")
    assert (rows[3]["status"], rows[3]["partial"], rows[3]["new"]) == ("planned", "true", "")


@pytest.mark.parametrize(
    ("query", "status"),
    [("area=nowhere", 404), ("area=../etc", 400), ("area=" + "a" * 101, 400), ("area=%00", 400), ("staff=yes", 400)],
)
def test_hostile_queries_get_a_clear_answer(client, world, query, status):
    for fmt in ("", "&format=csv"):
        response = client.get(f"/api/v1/metrics/campaigns/?{query}{fmt}")
        assert response.status_code == status
        assert response["Content-Type"].startswith("application/json")


def test_staff_count_in_campaigns_only_when_asked(client, world):
    staff_first = IdentityFactory(person__staff_periods=True)
    ActivityFactory(source=Source.objects.get(), type="sumo.l10n.done", identity=staff_first, occurred_at=noon(date(2024, 5, 14)))
    with the_day_after_sunday():
        metrics_recompute()

    volunteers = client.get("/api/v1/metrics/campaigns/?area=l10n").json()["campaigns"][0]["areas"][0]["during"]["new"]
    everyone = client.get("/api/v1/metrics/campaigns/?area=l10n&staff=include").json()["campaigns"][0]["areas"][0]["during"]["new"]
    assert (volunteers, everyone) == (1, 2)


def test_the_schema_describes_campaigns_and_goal_plans(client, db):
    text = client.get("/api/v1/schema/").content.decode()

    assert "/api/v1/metrics/campaigns/" in text and "metrics_campaigns" in text
    assert "goal_plan" in text and "needed_per_week" in text and "target_date" in text


def test_no_answer_names_a_person(client, world):
    for url in ("/api/v1/metrics/campaigns/", "/api/v1/metrics/campaigns/?format=csv", "/api/v1/metrics/summary/"):
        text = client.get(url).content.decode()
        assert "user" not in text and "@" not in text
    assert Area.objects.count() == 2
