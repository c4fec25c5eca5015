"""What a community builder can read, tried as the builder: only what their own areas' conversion points
find over the sources staff let those areas draw on — through the staff API, its exports, their API
tokens and the admin. Staff and administrators still see everything.
"""

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.roles import BUILDER, STAFF
from accounts.services import api_token_create, user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import conversion_points_approve

pytestmark = pytest.mark.django_db

User = get_user_model()
D = date(2026, 3, 15)
SUMO_TYPES = ["sumo.question.asked", "sumo.answer.posted", "sumo.vote.cast"]


@pytest.fixture
def world() -> SimpleNamespace:
    """Support draws on SUMO (answers count); Coding, another builder's, on GitHub. SUMO has many more people."""
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    support = Area.objects.create(slug="support", name="Support")
    coding = Area.objects.create(slug="coding", name="Coding")
    support.sources.add(sumo)
    coding.sources.add(github)
    answer = ConversionPoint.objects.create(area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name="Answered")
    pr = ConversionPoint.objects.create(area=coding, slug="gh-pr", source=github, types=["github.pull_request.opened"], name="PR")
    conversion_points_approve(points=[answer, pr], by=None)  # as staff approved them
    builder = User.objects.create_user("builder", "builder@example.org")
    other_builder = User.objects.create_user("other-builder", "other@example.org")
    staff = User.objects.create_user("staffer", "staff@example.org")
    user_roles_apply(user=builder, roles={BUILDER})
    user_roles_apply(user=other_builder, roles={BUILDER})
    user_roles_apply(user=staff, roles={STAFF})
    support.owners.add(builder)
    coding.owners.add(other_builder)
    n = iter(range(10_000))

    def person(name: str, source: Source, kind: str) -> Person:
        p = Person.objects.create(display_name=name)
        identity = Identity.objects.create(person=p, kind="email", value=f"{name.lower()}@example.org")
        Activity.objects.create(
            source=source, external_id=f"x{next(n)}", type=kind, identity=identity, container="Firefox::en-US",
            occurred_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        )
        return p

    answerers = [person(f"Answerer{i}", sumo, "sumo.answer.posted") for i in range(3)]
    askers = [person(f"Asker{i}", sumo, "sumo.question.asked") for i in range(5)]
    coders = [person(f"Coder{i}", github, "github.pull_request.opened") for i in range(4)]
    return SimpleNamespace(**locals())


def api_as(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def contributors(api: APIClient, slug: str = "support") -> set[str]:
    response = api.get(f"/api/v1/staff/areas/{slug}/contributors/", {"date": D.isoformat(), "page_size": 1000})
    assert response.status_code == 200, response.content
    return {c["display_name"] for c in response.json()["results"]}


def may_read_people(user: Any) -> None:
    """What an administrator might give a builder by hand: the people and activities permissions."""
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_person", "view_activity"]))


# --------------------------------------------------------------------------- the widening attack, as found

@pytest.mark.parametrize(
    ("source", "types", "container"),
    [
        ("github", ["github.pull_request.opened"], "*"),  # a catch-all rule over a source staff did not grant
        ("github", ["github.pull_request.opened"], ""),
        ("sumo", SUMO_TYPES, "*"),  # every SUMO type, in another builder's area that may not draw on SUMO
    ],
)
def test_a_rule_over_a_source_the_area_may_not_draw_on_shows_nobody(world: SimpleNamespace, source: str, types: list, container: str) -> None:
    # However such a rule got there (written before the grant was taken away, by a script…), it shows no one.
    area = world.support if source == "github" else world.coding
    point = ConversionPoint.objects.create(area=area, slug="catch-all", source=getattr(world, source), types=types, container=container, name="All")
    conversion_points_approve(points=[point], by=world.staff)  # even approved by mistake
    owner = world.builder if area == world.support else world.other_builder

    names = contributors(api_as(owner), area.slug)

    assert names == ({"Answerer0", "Answerer1", "Answerer2"} if area == world.support else {f"Coder{i}" for i in range(4)})


def test_a_rule_moved_to_another_area_shows_nobody_there(world: SimpleNamespace) -> None:
    ConversionPoint.objects.filter(slug="sumo-answer").update(area=world.coding)
    conversion_points_approve(points=ConversionPoint.objects.filter(slug="sumo-answer"), by=world.staff)

    assert contributors(api_as(world.other_builder), "coding") == {f"Coder{i}" for i in range(4)}
    assert contributors(api_as(world.builder)) == set()


def test_a_builder_cannot_read_another_builders_area(world: SimpleNamespace) -> None:
    api = api_as(world.builder)

    assert api.get("/api/v1/staff/areas/coding/contributors/").status_code == 404
    assert api.get("/api/v1/staff/areas/coding/contributors/", {"format": "csv"}).status_code == 404


def test_a_disabled_or_casual_rule_over_a_granted_source_widens_nothing(world: SimpleNamespace) -> None:
    asked = ConversionPoint.objects.create(area=world.support, slug="asked", source=world.sumo, types=SUMO_TYPES, level="casual", name="Asked")
    off = ConversionPoint.objects.create(area=world.support, slug="off", source=world.sumo, types=SUMO_TYPES, enabled=False, name="Off")
    conversion_points_approve(points=[asked, off], by=world.staff)

    assert contributors(api_as(world.builder)) == {"Answerer0", "Answerer1", "Answerer2"}


# --------------------------------------------------------------------------- people, activities and exports

def test_a_builder_given_the_people_permissions_reads_only_their_areas_contributors(world: SimpleNamespace) -> None:
    may_read_people(world.builder)
    point = ConversionPoint.objects.create(area=world.support, slug="catch-all", source=world.github, types=["github.pull_request.opened"], name="All")
    conversion_points_approve(points=[point], by=world.staff)  # approval never reaches past the area's sources
    api = api_as(world.builder)
    answerers = {"Answerer0", "Answerer1", "Answerer2"}

    people = api.get("/api/v1/staff/people/", {"page_size": 1000}).json()
    searched = api.get("/api/v1/staff/people/", {"q": "coder"}).json()
    people_csv = b"".join(api.get("/api/v1/staff/people/", {"format": "csv"}).streaming_content).decode().splitlines()
    activities = api.get("/api/v1/staff/activities/", {"page_size": 1000}).json()
    activities_csv = b"".join(api.get("/api/v1/staff/activities/", {"format": "csv"}).streaming_content).decode().splitlines()
    asker, answerer = world.askers[0], world.answerers[0]

    assert {p["display_name"] for p in people["results"]} == answerers and people["count"] == 3
    assert searched["count"] == 0
    assert len(people_csv) == 4 and not any("asker" in line or "coder" in line for line in people_csv)
    assert {a["type"] for a in activities["results"]} == {"sumo.answer.posted"} and len(activities["results"]) == 3
    assert len(activities_csv) == 4
    assert api.get(f"/api/v1/staff/people/{answerer.pk}/").status_code == 200
    # Someone the builder's areas do not reach answers exactly like someone who does not exist.
    assert api.get(f"/api/v1/staff/people/{asker.pk}/").status_code == 404
    assert api.get("/api/v1/staff/activities/", {"person": asker.pk}).json()["results"] == []
    assert api.post("/api/v1/staff/dedup/", {"keys": ["asker0@example.org"]}, format="json").status_code == 403


def _known_elsewhere(world: SimpleNamespace) -> Person:
    """Answerer0 (found by Support's SUMO rule) also holds a GitHub login and a private address, and is
    named by their GitHub account: all known only from GitHub, a source staff never granted Support."""
    answerer = world.answerers[0]
    Identity.objects.create(person=answerer, kind="username", namespace="github-mozilla", value="secret-gh-login", source=world.github)
    Identity.objects.create(person=answerer, kind="email", value="private.work@corp.example", source=world.github, name="Ann Private")
    answerer.display_name = "Ann Private"
    answerer.save(update_fields=["display_name"])
    return answerer


ELSEWHERE = ("private.work@corp.example", "secret-gh-login", "Ann Private")


def test_a_builder_reads_no_identity_or_name_their_areas_sources_do_not_know(world: SimpleNamespace) -> None:
    answerer = _known_elsewhere(world)
    may_read_people(world.builder)
    api = api_as(world.builder)

    answers = {
        "contributors": api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat()}),
        "contributors.csv": api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat(), "format": "csv"}),
        "people": api.get("/api/v1/staff/people/"),
        "people.csv": api.get("/api/v1/staff/people/", {"format": "csv"}),
        "person": api.get(f"/api/v1/staff/people/{answerer.pk}/"),
    }
    bodies = {
        name: (b"".join(r.streaming_content) if r.streaming else r.content).decode() for name, r in answers.items()
    }

    assert {name: r.status_code for name, r in answers.items()} == dict.fromkeys(answers, 200)
    for name, body in bodies.items():
        assert not [secret for secret in ELSEWHERE if secret in body], name
        assert "answerer0@example.org" in body, name  # what SUMO knows of them is still there
    assert [i["value"] for i in answers["person"].json()["identities"]] == ["answerer0@example.org"]
    assert answers["person"].json()["display_name"] == ""


def test_a_builder_cannot_find_anyone_by_what_other_sources_know(world: SimpleNamespace) -> None:
    # A search that finds someone confirms who holds the address, login or name searched for.
    _known_elsewhere(world)
    may_read_people(world.builder)
    api = api_as(world.builder)

    found = [
        api.get("/api/v1/staff/people/", params).json()["count"]
        for params in ({"q": "private.work@corp"}, {"q": "secret-gh"}, {"q": "Ann Private"}, {"source": "github-mozilla"})
    ]

    assert found == [0, 0, 0, 0]
    assert api.get("/api/v1/staff/people/", {"q": "answerer0@"}).json()["count"] == 1


def test_staff_still_read_every_identity_and_name(world: SimpleNamespace) -> None:
    answerer = _known_elsewhere(world)
    api = api_as(world.staff)

    person = api.get(f"/api/v1/staff/people/{answerer.pk}/").json()
    contributors_csv = b"".join(
        api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat(), "format": "csv"}).streaming_content
    ).decode()

    assert person["display_name"] == "Ann Private" and len(person["identities"]) == 3
    assert all(secret in contributors_csv for secret in ELSEWHERE)
    assert api.get("/api/v1/staff/people/", {"q": "secret-gh"}).json()["count"] == 1


def test_a_builders_lists_cost_the_same_queries_however_many_contributors(world: SimpleNamespace) -> None:
    may_read_people(world.builder)
    api = api_as(world.builder)
    urls = ["/api/v1/staff/areas/support/contributors/", "/api/v1/staff/people/"]

    def queries() -> list[int]:
        counts = []
        for url in urls:
            for params in ({"date": D.isoformat()}, {"date": D.isoformat(), "format": "csv"}):
                with CaptureQueriesContext(connection) as captured:
                    response = api.get(url, params)
                    if response.streaming:
                        b"".join(response.streaming_content)
                counts.append(len(captured))
        return counts

    queries()  # the user's permissions are read once, then cached
    before = queries()
    for i in range(5):  # more contributors, each with more identities
        person = Person.objects.create(display_name=f"Later{i}")
        for value in (f"later{i}@example.org", f"later{i}@elsewhere.example"):
            identity = Identity.objects.create(person=person, kind="email", value=value, source=world.sumo)
            Activity.objects.create(
                source=world.sumo, external_id=value, type="sumo.answer.posted", identity=identity,
                occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
            )

    assert queries() == before
    assert contributors(api) == {"Answerer0", "Answerer1", "Answerer2"} | {f"Later{i}" for i in range(5)}


def test_staff_and_administrators_still_read_everyone(world: SimpleNamespace) -> None:
    admin_user = User.objects.create_superuser("root", "root@example.org")
    for user in (world.staff, admin_user):
        api = api_as(user)

        assert api.get("/api/v1/staff/people/").json()["count"] == 12
        assert len(api.get("/api/v1/staff/activities/", {"page_size": 1000}).json()["results"]) == 12
        assert api.get(f"/api/v1/staff/people/{world.askers[0].pk}/").status_code == 200
        assert contributors(api, "coding") == {f"Coder{i}" for i in range(4)}
        assert api.post("/api/v1/staff/dedup/", {"keys": ["asker0@example.org"]}, format="json").json()["results"][0]["known"]


# --------------------------------------------------------------------------- API tokens

def test_a_builders_token_reads_what_the_builder_reads_and_no_more(world: SimpleNamespace) -> None:
    _, secret = api_token_create(user=world.builder, name="my dashboard")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {secret}")

    assert api.get("/api/v1/staff/people/").status_code == 403
    assert api.get("/api/v1/staff/activities/").status_code == 403
    assert api.get("/api/v1/staff/areas/coding/contributors/").status_code == 404
    assert contributors(api) == {"Answerer0", "Answerer1", "Answerer2"}

    # Taken off the area, the builder's token reads nothing of it any more.
    world.support.owners.remove(world.builder)
    assert api.get("/api/v1/staff/areas/support/contributors/").status_code == 404
    assert api.get("/api/v1/staff/areas/").json()["results"] == []


def test_a_builder_creates_tokens_only_for_themselves(world: SimpleNamespace) -> None:
    client = Client()
    client.force_login(world.builder)

    response = client.post(reverse("admin:accounts_apitoken_add"), {"name": "sneaky", "user": str(world.staff.pk), "expires_at": ""})

    assert response.status_code == 302
    assert ApiToken.objects.get(name="sneaky").user == world.builder
    assert [t.user for t in client.get(reverse("admin:accounts_apitoken_changelist")).context["cl"].result_list] == [world.builder]


# --------------------------------------------------------------------------- the admin

def test_a_builder_reaches_only_areas_conversion_points_campaigns_sources_and_their_tokens_in_the_admin(world: SimpleNamespace) -> None:
    client = Client()
    client.force_login(world.builder)
    reachable = set()
    for model in admin.site._registry:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        status = client.get(url).status_code
        assert status in (200, 403), (url, status)
        if status == 200:
            reachable.add(f"{model._meta.app_label}.{model._meta.model_name}")

    # Campaigns: only those of areas the builder owns (conversion_points/tests/test_campaign_admin.py).
    assert reachable == {"conversion_points.area", "conversion_points.conversionpoint", "conversion_points.campaign",
                         "activities.source", "accounts.apitoken"}
    # Sources are read-only for builders, and their add and change pages refuse them.
    assert client.get(reverse("admin:activities_source_add")).status_code == 403
    assert client.post(reverse("admin:activities_source_add"), {"slug": "mine", "kind": "manual", "name": "Mine"}).status_code == 403
    assert not Source.objects.filter(slug="mine").exists()
