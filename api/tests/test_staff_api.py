"""The staff API as staff and builders use it: an area's contributors, people, activities, exports, the
de-duplication check; bad parameters, unknown objects, the schema. (Roles in the admin and API tokens:
accounts/tests/test_permissions.py.)"""

from datetime import timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import AuthAudit
from accounts.tests.worlds import D, at, roles_world
from activities.models import Activity

pytestmark = pytest.mark.django_db


@pytest.fixture
def world() -> dict:
    return roles_world()


# --------------------------------------------------------------------------- API: area contributors

def test_area_contributors_active_new_lapsed(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["builder_a"])

    active = api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat()}).json()
    lapsed = api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat(), "status": "lapsed"}).json()
    everyone = api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat(), "staff": "include"}).json()

    assert [(c["display_name"], c["status"]) for c in active["results"]] == [("Ann", "new"), ("Ben", "active")]
    assert [c["display_name"] for c in lapsed["results"]] == ["Cid"]
    assert {c["display_name"] for c in everyone["results"]} == {"Ann", "Ben", "Dot"}
    assert active["results"][0]["identities"][0]["value"] == "ann@example.org"


def test_builder_cannot_see_another_areas_contributors(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["builder_a"])

    assert api.get("/api/v1/staff/areas/coding/contributors/").status_code == 404
    assert [a["slug"] for a in api.get("/api/v1/staff/areas/").json()["results"]] == ["support"]
    assert api.get("/api/v1/staff/people/").status_code == 403
    assert api.get("/api/v1/staff/activities/").status_code == 403
    assert api.post("/api/v1/staff/dedup/", {"keys": ["ann@example.org"]}, format="json").status_code == 403

    api.force_authenticate(world["staff"])
    coding = api.get("/api/v1/staff/areas/coding/contributors/", {"date": D.isoformat()}).json()
    assert [c["display_name"] for c in coding["results"]] == ["Ann"]


# --------------------------------------------------------------------------- people, activities, exports, de-duplication

def test_people_and_activities_filter_paginate_and_export(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])

    people = api.get("/api/v1/staff/people/", {"q": "ann", "page_size": 1}).json()
    bots = api.get("/api/v1/staff/people/", {"bot": "true"}).json()
    activities = api.get("/api/v1/staff/activities/", {"source": "sumo", "since": (D - timedelta(days=11)).isoformat(), "page_size": 2}).json()
    page_two = api.get(activities["next"]).json()
    export = api.get("/api/v1/staff/activities/", {"format": "csv", "source": "github-mozilla"})

    assert [p["display_name"] for p in people["results"]] == ["Ann"]
    assert [p["display_name"] for p in bots["results"]] == ["Bot"]
    assert len(activities["results"]) == 2 and len(page_two["results"]) == 1
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    lines = b"".join(export.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("id,source,external_id,type") and len(lines) == 3
    audit = AuthAudit.objects.get(action="export")
    assert audit.user == world["staff"] and audit.details["what"] == "activities" and audit.details["rows"] == 2


def test_builder_exports_their_area_contributors(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["builder_a"])

    export = api.get("/api/v1/staff/areas/support/contributors/", {"format": "csv", "date": D.isoformat(), "status": "all"})

    rows = b"".join(export.streaming_content).decode().strip().splitlines()
    assert rows[0].startswith("person,display_name,status") and len(rows) == 4
    assert AuthAudit.objects.get(action="export").details["what"] == "area:support:contributors"


def test_dedup_check(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])

    response = api.post(
        "/api/v1/staff/dedup/",
        {"keys": ["ANN@example.org", "github-mozilla:Ann", "nobody@example.org", "ben@example.org", "gitlab:ann", "not a key"],
         "date": D.isoformat()},
        format="json",
    ).json()

    results = {r["key"]: r for r in response["results"]}
    ann_id = world["ann"].pk
    assert results["ANN@example.org"]["known"] and results["ANN@example.org"]["person"] == ann_id
    assert results["ANN@example.org"]["areas"] == ["coding", "support"]
    assert results["github-mozilla:Ann"]["person"] == ann_id
    assert not results["nobody@example.org"]["known"]
    assert results["ben@example.org"]["areas"] == ["support"]
    assert "unknown source" in results["gitlab:ann"]["error"] and "error" in results["not a key"]
    assert response["same_person"] == [{"person": ann_id, "keys": ["ANN@example.org", "github-mozilla:Ann"]}]


# --------------------------------------------------------------------------- API: bad parameters, unknown objects

def test_an_invalid_page_size_is_refused_not_ignored(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])
    lists = ["/api/v1/staff/people/", "/api/v1/staff/activities/", "/api/v1/staff/areas/", "/api/v1/staff/areas/support/contributors/"]

    refused = [api.get(url, {"page_size": size}) for url in lists for size in ("0", "1001", "ten", "2.5", "-1", "")]
    export = api.get("/api/v1/staff/people/", {"format": "csv", "page_size": "0"})
    largest = api.get("/api/v1/staff/people/", {"page_size": "1000"})

    assert {r.status_code for r in refused} == {400}
    assert all(r.json() == {"page_size": "Give a whole number from 1 to 1000."} for r in refused)
    assert export.status_code == 400 and export["Content-Type"].startswith("text/csv")
    assert export.content.decode().splitlines() == ["error", "page_size: Give a whole number from 1 to 1000."]
    assert not AuthAudit.objects.filter(action="export").exists()
    assert largest.status_code == 200 and largest.json()["count"] == 5


def test_staff_and_bot_filters_want_true_or_false(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])

    refused = [api.get("/api/v1/staff/people/", {flag: value}) for flag in ("staff", "bot") for value in ("yes", "1", "True", "")]
    volunteers = api.get("/api/v1/staff/people/", {"staff": "false", "bot": "false"}).json()

    assert {r.status_code for r in refused} == {400}
    assert [r.json() for r in refused] == [{"staff": "Use true or false."}] * 4 + [{"bot": "Use true or false."}] * 4
    assert [p["display_name"] for p in volunteers["results"]] == ["Ann", "Ben", "Cid"]


def test_other_invalid_parameters_are_refused(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])

    answers = {
        "format": api.get("/api/v1/staff/people/", {"format": "xml"}),
        "page": api.get("/api/v1/staff/people/", {"page": "0"}),
        "staff": api.get("/api/v1/staff/areas/support/contributors/", {"staff": "yes"}),
        "status": api.get("/api/v1/staff/areas/support/contributors/", {"status": ""}),
        "date": api.get("/api/v1/staff/areas/support/contributors/", {"date": "2026-3-15"}),
        "person": api.get("/api/v1/staff/activities/", {"person": "12\n"}),
        "since": api.get("/api/v1/staff/activities/", {"since": ""}),
    }

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 400)
    assert all(list(r.json()) == [name] for name, r in answers.items())
    assert answers["format"].json() == {"format": "Use one of: json, csv."}


def test_dedup_check_refuses_keys_that_are_not_text_and_an_empty_date(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])

    numbers = api.post("/api/v1/staff/dedup/", {"keys": [692]}, format="json")
    empty_date = api.post("/api/v1/staff/dedup/", "keys=ann%40example.org&date=", content_type="application/x-www-form-urlencoded")
    form = api.post("/api/v1/staff/dedup/", "keys=ann%40example.org&keys=ben%40example.org", content_type="application/x-www-form-urlencoded")

    assert numbers.status_code == 400 and numbers.json() == {"keys": {"0": ["Not a valid string."]}}
    assert empty_date.status_code == 400 and list(empty_date.json()) == ["date"]
    assert form.status_code == 200 and [r["known"] for r in form.json()["results"]] == [True, True]


def test_unknown_objects_pages_and_cursors_are_404(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])

    person = api.get("/api/v1/staff/people/999999/")
    page = api.get("/api/v1/staff/people/", {"page": "9"})
    cursor = api.get("/api/v1/staff/activities/", {"cursor": "not-a-cursor"})
    area = api.get("/api/v1/staff/areas/nowhere/contributors/")
    area_export = api.get("/api/v1/staff/areas/nowhere/contributors/", {"format": "csv"})

    assert {r.status_code for r in (person, page, cursor, area, area_export)} == {404}
    assert [list(r.json()) for r in (person, page, cursor, area)] == [["detail"]] * 4
    assert area_export["Content-Type"].startswith("text/csv") and area_export.content.decode().splitlines()[0] == "error"


def test_an_identity_of_no_source_and_an_activity_of_no_identity_answer_null(world: dict) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])
    Activity.objects.create(source=world["sumo"], external_id="anonymous", type="sumo.answer.posted", occurred_at=at(D))

    ben = api.get(f"/api/v1/staff/people/{world['ben'].pk}/").json()
    newest = api.get("/api/v1/staff/activities/", {"page_size": 1}).json()["results"][0]

    assert ben["identities"][0]["source"] is None
    assert newest["external_id"] == "anonymous" and newest["identity"] is None and newest["person"] is None


def test_openapi_describes_the_staff_api_and_its_authentication() -> None:
    schema = SchemaGenerator().get_schema(request=None, public=True)

    assert {"/api/v1/staff/people/", "/api/v1/staff/activities/", "/api/v1/staff/areas/{slug}/contributors/", "/api/v1/staff/dedup/"} <= set(
        schema["paths"]
    )
    schemes = schema["components"]["securitySchemes"]
    assert schemes["oidcBearer"] == {**schemes["oidcBearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiToken"]["type"] == "apiKey"
    assert {"oidcBearer": []} in schema["paths"]["/api/v1/staff/people/"]["get"]["security"]
    staff_operations = [operation for path, item in schema["paths"].items() if path.startswith("/api/v1/staff/") for operation in item.values()]
    assert all("400" in operation["responses"] for operation in staff_operations)
    assert schema["paths"]["/api/v1/staff/people/{id}/"]["get"]["responses"]["404"]["content"]["application/json"]
    assert schema["components"]["schemas"]["Identity"]["properties"]["source"]["nullable"]
