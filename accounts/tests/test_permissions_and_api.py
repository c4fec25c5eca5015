"""Roles and object-level rules in the admin and the staff API; tokens, exports, the de-duplication check."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import AuthAudit
from accounts.roles import BUILDER, STAFF
from accounts.services import api_token_create, api_token_revoke, user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import conversion_points_approve

pytestmark = pytest.mark.django_db

User = get_user_model()
D = date(2026, 3, 15)  # a Sunday


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


@pytest.fixture
def world() -> dict:
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    support = Area.objects.create(slug="support", name="Support")
    coding = Area.objects.create(slug="coding", name="Coding")
    answer = ConversionPoint.objects.create(area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name="Answered")
    pr = ConversionPoint.objects.create(
        area=coding, slug="gh-pr", source=github, types=["github.pull_request.opened"], container="mozilla/*", name="Opened a PR"
    )
    conversion_points_approve(points=[answer, pr], by=None)  # as staff approved them
    builder_a = User.objects.create_user("builder-a", "a@example.org")
    builder_b = User.objects.create_user("builder-b", "b@example.org")
    staff = User.objects.create_user("staffer", "staff@example.org")
    user_roles_apply(user=builder_a, roles={BUILDER})
    user_roles_apply(user=builder_b, roles={BUILDER})
    user_roles_apply(user=staff, roles={STAFF})
    support.owners.add(builder_a)
    coding.owners.add(builder_b)
    support.sources.add(sumo)
    coding.sources.add(github)

    def person(name: str, *, email: str, username: str | None = None, **flags: bool) -> Person:
        p = Person.objects.create(display_name=name, **flags)
        Identity.objects.create(person=p, kind="email", value=email)
        if username:
            Identity.objects.create(person=p, kind="username", namespace="github-mozilla", value=username)
        return p

    ann = person("Ann", email="ann@example.org", username="ann")
    ben = person("Ben", email="ben@example.org")
    cid = person("Cid", email="cid@example.org")
    dot = person("Dot", email="dot@example.org")
    dot.staff_periods.create(origin="admin")  # staff since always
    bot = person("Bot", email="bot@example.org", is_bot=True)
    n = iter(range(1000))

    def did(p: Person, source: Source, kind: str, day: date, container: str = "") -> None:
        identity = p.identities.order_by("kind").first()
        Activity.objects.create(source=source, external_id=f"x{next(n)}", type=kind, occurred_at=at(day), identity=identity, container=container)

    did(ann, sumo, "sumo.answer.posted", D - timedelta(days=3))  # new this week
    did(ben, sumo, "sumo.answer.posted", D - timedelta(days=200))  # active, not new
    did(cid, sumo, "sumo.answer.posted", D - timedelta(days=368))  # active at D-7, lapsed at D
    did(dot, sumo, "sumo.answer.posted", D - timedelta(days=10))  # staff
    did(bot, sumo, "sumo.answer.posted", D - timedelta(days=10))  # never counts
    did(ann, github, "github.pull_request.opened", D - timedelta(days=30), "mozilla/kitsune")
    did(ben, github, "github.pull_request.opened", D - timedelta(days=30), "elsewhere/repo")  # container does not match
    return locals()


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --------------------------------------------------------------------------- admin

def test_builder_sees_and_edits_only_their_areas_in_the_admin(world: dict) -> None:
    client = as_user(world["builder_a"])
    answer, pr, coding = world["answer"], world["pr"], world["coding"]

    points = client.get("/admin/conversion_points/conversionpoint/")
    areas = client.get("/admin/conversion_points/area/")

    assert [p.slug for p in points.context["cl"].result_list] == ["sumo-answer"]
    assert [a.slug for a in areas.context["cl"].result_list] == ["support"]
    assert client.get(f"/admin/conversion_points/conversionpoint/{answer.pk}/change/").status_code == 200
    # Another builder's area and rules answer as if they did not exist, and cannot be changed.
    assert client.get(f"/admin/conversion_points/conversionpoint/{pr.pk}/change/").status_code == 302
    assert client.get(f"/admin/conversion_points/area/{coding.pk}/change/").status_code == 302
    client.post(f"/admin/conversion_points/conversionpoint/{pr.pk}/delete/", {"post": "yes"})
    assert ConversionPoint.objects.filter(pk=pr.pk).exists()
    # A new point cannot be put in another builder's area.
    response = client.post(
        "/admin/conversion_points/conversionpoint/add/",
        {"area": coding.pk, "slug": "sneaky", "name_en": "Sneaky", "level": "active", "enabled": "on",
         "source": world["github"].pk, "types": '["github.issue.opened"]', "container": "*"},
    )
    assert response.status_code == 200 and "area" in response.context["adminform"].form.errors
    assert not ConversionPoint.objects.filter(slug="sneaky").exists()
    # No people, no sources to edit, no owners to hand out.
    assert client.get("/admin/contributors/person/").status_code == 403
    assert client.get(f"/admin/activities/source/{world['sumo'].pk}/change/").status_code == 200
    page = client.get(f"/admin/conversion_points/area/{world['support'].pk}/change/")
    assert "owners" not in page.context["adminform"].form.fields


def test_staff_see_every_area_read_only_and_the_people(world: dict) -> None:
    client = as_user(world["staff"])

    points = client.get("/admin/conversion_points/conversionpoint/")
    page = client.get(f"/admin/conversion_points/conversionpoint/{world['pr'].pk}/change/")

    assert {p.slug for p in points.context["cl"].result_list} == {"sumo-answer", "gh-pr"}
    assert page.status_code == 200 and not page.context["has_change_permission"]
    assert client.get("/admin/contributors/person/").status_code == 200


def test_contributors_have_no_admin(world: dict) -> None:
    user = User.objects.create_user("someone", "someone@example.org")
    assert as_user(user).get("/admin/").status_code == 302


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


# --------------------------------------------------------------------------- API: tokens, people, activities, exports

def test_api_tokens_authenticate_until_revoked(world: dict) -> None:
    token, secret = api_token_create(user=world["staff"], name="BI export")
    api = APIClient()

    ok = api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Token {secret}")
    also_bearer = api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    api_token_revoke(token=token)
    revoked = api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Token {secret}")

    assert ok.status_code == 200 and also_bearer.status_code == 200
    assert revoked.status_code == 401
    assert ok.json()["count"] == 5 and {i["value"] for i in ok.json()["results"][0]["identities"]} == {"ann@example.org", "ann"}
    assert AuthAudit.objects.filter(action__in=["token-created", "token-revoked"]).count() == 2
    assert token.token_hash != secret and not AuthAudit.objects.filter(details__icontains=secret).exists()


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


def test_staff_create_their_own_api_token_in_the_admin(world: dict) -> None:
    client = as_user(world["staff"])

    response = client.post("/admin/accounts/apitoken/add/", {"name": "BI export"}, follow=True)

    token = world["staff"].api_tokens.get()
    shown = [str(m) for m in response.context["messages"]]
    assert token.name == "BI export" and any(token.prefix in m for m in shown)
    assert client.get("/admin/accounts/authaudit/").status_code == 200


@pytest.mark.parametrize(
    ("day", "time"),
    [("0001-01-01", "00:00:00"), ("9999-12-31", "23:59:59"), ("1969-12-31", "23:00:00"), ("0000-00-00", "00:00"), ("2026-02-30", "25:61")],
)
def test_a_token_expiry_the_calendar_cannot_hold_is_refused_in_the_form(world: dict, settings, day: str, time: str) -> None:
    """Year 1 in a zone east of UTC answered 500, or was stored as a BC moment on PostgreSQL, after
    which every administrator's token list answered 500."""
    settings.TIME_ZONE = "Europe/Berlin"
    client = as_user(world["staff"])

    response = client.post("/admin/accounts/apitoken/add/", {"name": "far", "expires_at_0": day, "expires_at_1": time})

    assert response.status_code == 200 and not world["staff"].api_tokens.exists()
    assert "expires_at" in response.context["adminform"].form.errors
    assert client.get("/admin/accounts/apitoken/").status_code == 200


def test_a_token_expiring_next_month_is_created(world: dict) -> None:
    client = as_user(world["staff"])
    day = (timezone.now() + timedelta(days=30)).date().isoformat()

    client.post("/admin/accounts/apitoken/add/", {"name": "soon", "expires_at_0": day, "expires_at_1": "12:00:00"})

    assert world["staff"].api_tokens.get().expires_at.date().isoformat() == day
