"""Widening inside a granted source, tried as the builder: a rule they write or change shows no one's record
until staff approve it as it is. The finding: a Support builder whose area may draw on SUMO writes a rule
matching every SUMO type (askers included) and reads all of SUMO's people. Staff, administrators and the
public counts are not held back by approval.
"""

from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.roles import BUILDER, STAFF
from accounts.services import user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import config_load, conversion_points_approve
from conversion_points.tests.test_area_sources import page_form
from dashboard.selectors import scope_conversion_points

pytestmark = pytest.mark.django_db

User = get_user_model()
D = date(2026, 3, 15)
SUMO_TYPES = ["sumo.question.asked", "sumo.answer.posted", "sumo.vote.cast"]
ALL_SUMO = '["sumo.question.asked", "sumo.answer.posted", "sumo.vote.cast"]'
ANSWERERS = {"Answerer0", "Answerer1", "Answerer2"}
WAITING = "Waiting for staff approval before its contributors appear in your lists."


@pytest.fixture
def world() -> SimpleNamespace:
    """Support may draw on SUMO; staff approved its rule "answers in Firefox". SUMO has many more people: askers,
    voters, answerers in Thunderbird. Another builder's area, Questions, counts the askers."""
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    support = Area.objects.create(slug="support", name_en="Support")
    forum = Area.objects.create(slug="forum", name_en="Forum")
    questions = Area.objects.create(slug="questions", name_en="Questions")
    support.sources.add(sumo, github)
    forum.sources.add(sumo)
    questions.sources.add(sumo)
    point = ConversionPoint.objects.create
    answer = point(area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], container="Firefox::*", name_en="Answered")
    casual = point(area=support, slug="sumo-casual", source=sumo, types=SUMO_TYPES, level="casual", name_en="Anything, casually")
    off = point(area=support, slug="sumo-off", source=sumo, types=SUMO_TYPES, enabled=False, name_en="Anything, switched off")
    issue = point(area=support, slug="gh-issue", source=github, types=["sumo.question.asked"], name_en="Filed a support issue")
    asked = point(area=questions, slug="sumo-asked", source=sumo, types=["sumo.question.asked"], name_en="Asked")
    conversion_points_approve(points=[answer, casual, off, issue, asked], by=None)
    builder = User.objects.create_user("builder", "builder@example.org")
    other_builder = User.objects.create_user("other-builder", "other@example.org")
    staff = User.objects.create_user("staffer", "staff@example.org")
    admin_user = User.objects.create_superuser("root", "root@example.org")
    user_roles_apply(user=builder, roles={BUILDER})
    user_roles_apply(user=other_builder, roles={BUILDER})
    user_roles_apply(user=staff, roles={STAFF})
    # What an administrator might give a builder by hand: the staff API's people and activities.
    builder.user_permissions.add(*Permission.objects.filter(codename__in=["view_person", "view_activity"]))
    support.owners.add(builder)
    forum.owners.add(builder)
    questions.owners.add(other_builder)
    n = iter(range(10_000))

    def person(name: str, kind: str, container: str = "Firefox::en-US") -> Person:
        p = Person.objects.create(display_name=name)
        identity = Identity.objects.create(person=p, kind="email", value=f"{name.lower()}@example.org")
        Activity.objects.create(
            source=sumo, external_id=f"x{next(n)}", type=kind, identity=identity, container=container,
            occurred_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        )
        return p

    answerers = [person(f"Answerer{i}", "sumo.answer.posted") for i in range(3)]
    askers = [person(f"Asker{i}", "sumo.question.asked") for i in range(12)]
    voters = [person(f"Voter{i}", "sumo.vote.cast") for i in range(4)]
    thunderbird = [person(f"Bird{i}", "sumo.answer.posted", "Thunderbird::en-US") for i in range(2)]
    return SimpleNamespace(**locals())


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_as(user: Any) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def what_they_read(user: Any, area: str = "support") -> set[str]:
    """Every name `user` reads: the area's contributors (JSON and CSV), the people list (JSON and CSV), the activities."""
    api = api_as(user)
    contributors = api.get(f"/api/v1/staff/areas/{area}/contributors/", {"date": D.isoformat(), "page_size": 1000})
    contributors_csv = api.get(f"/api/v1/staff/areas/{area}/contributors/", {"date": D.isoformat(), "format": "csv"})
    people = api.get("/api/v1/staff/people/", {"page_size": 1000})
    people_csv = api.get("/api/v1/staff/people/", {"format": "csv"})
    activities = api.get("/api/v1/staff/activities/", {"page_size": 1000})
    assert {r.status_code for r in (contributors, contributors_csv, people, people_csv, activities)} == {200}
    names = {c["display_name"] for c in contributors.json()["results"]}
    names |= {p["display_name"] for p in people.json()["results"]}
    names |= {a["person"] and Person.objects.get(pk=a["person"]).display_name for a in activities.json()["results"]} - {None}
    for response in (contributors_csv, people_csv):
        lines = b"".join(response.streaming_content).decode().splitlines()[1:]
        names |= {line.split(",")[1] for line in lines}
    return names


def edit_in_admin(user: Any, point: ConversionPoint, **changes: str) -> Any:
    client = as_user(user)
    url = reverse("admin:conversion_points_conversionpoint_change", args=[point.pk])
    data = page_form(client.get(url))
    if changes.pop("enabled", None) == "on":
        data["enabled"] = "on"
    return client.post(url, {**data, **changes})


def add_in_admin(user: Any, area: Area, source: Source, **fields: str) -> Any:
    data = {
        "area": str(area.pk), "slug": "catch-all", "name_en": "Helped in any way", "level": "active", "enabled": "on",
        "source": str(source.pk), "types": ALL_SUMO, "container": "*", **fields,
    }
    return as_user(user).post(reverse("admin:conversion_points_conversionpoint_add"), data)


def approve_in_admin(user: Any, *points: ConversionPoint) -> Any:
    return as_user(user).post(
        reverse("admin:conversion_points_conversionpoint_changelist"),
        {"action": "approve_for_builders", "_selected_action": [str(p.pk) for p in points], "index": "0"},
    )


# --------------------------------------------------------------------------- the finding, as the builder

def test_before_any_change_the_builder_reads_the_approved_rules_people(world: SimpleNamespace) -> None:
    assert what_they_read(world.builder) == ANSWERERS


@pytest.mark.parametrize(
    ("slug", "changes"),
    [
        ("sumo-answer", {"types": ALL_SUMO}),  # every SUMO type, askers included
        ("sumo-answer", {"container": "*"}),
        ("sumo-answer", {"container": ""}),
        ("sumo-answer", {"types": ALL_SUMO, "container": "*"}),
        ("sumo-casual", {"level": "active"}),  # a casual rule over everything made to count
        ("sumo-off", {"enabled": "on"}),  # a switched-off rule over everything switched on
        ("gh-issue", {"source": "sumo"}),  # an approved rule moved onto another granted source
    ],
)
def test_a_builder_widening_an_approved_rule_reads_no_one_new(world: SimpleNamespace, slug: str, changes: dict) -> None:
    point = ConversionPoint.objects.get(slug=slug)
    if changes.get("source") == "sumo":
        changes["source"] = str(world.sumo.pk)

    response = edit_in_admin(world.builder, point, **changes)

    assert response.status_code == 302, response.context["adminform"].form.errors
    # The widened rule shows no one (the answers rule itself, if that is the one changed, until staff approve it).
    assert what_they_read(world.builder) == (set() if slug == "sumo-answer" else ANSWERERS)
    point.refresh_from_db()
    assert not point.is_approved


@pytest.mark.parametrize("where", ["add page", "area page"])
def test_a_builder_adding_a_catch_all_rule_reads_no_one_new(world: SimpleNamespace, where: str) -> None:
    if where == "add page":
        response = add_in_admin(world.builder, world.support, world.sumo)
    else:
        client = as_user(world.builder)
        url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
        data = page_form(client.get(url))
        total = int(data["conversion_points-TOTAL_FORMS"])
        data.update({
            "conversion_points-TOTAL_FORMS": str(total + 1),
            f"conversion_points-{total}-slug": "catch-all", f"conversion_points-{total}-name_en": "Anything",
            f"conversion_points-{total}-level": "core", f"conversion_points-{total}-enabled": "on",
            f"conversion_points-{total}-source": str(world.sumo.pk), f"conversion_points-{total}-types": ALL_SUMO,
            f"conversion_points-{total}-container": "*",
        })
        response = client.post(url, data)

    assert response.status_code == 302
    assert not ConversionPoint.objects.get(slug="catch-all").is_approved
    assert what_they_read(world.builder) == ANSWERERS


def test_a_builder_widening_an_approved_rule_in_the_areas_page_reads_no_one_new(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    data = page_form(client.get(url))
    index = next(key for key, value in data.items() if key.endswith("-slug") and value == "gh-issue").split("-")[1]
    data.update({f"conversion_points-{index}-source": str(world.sumo.pk), f"conversion_points-{index}-types": ALL_SUMO})

    assert client.post(url, data).status_code == 302
    assert ConversionPoint.objects.get(slug="gh-issue").source == world.sumo
    assert what_they_read(world.builder) == ANSWERERS


def test_a_builder_cannot_post_an_approval_with_their_rule(world: SimpleNamespace) -> None:
    forged = '{"area": %d, "source": %d, "types": %s, "container": "*", "level": "active", "enabled": true}'
    response = add_in_admin(
        world.builder, world.support, world.sumo,
        approved_definition=forged % (world.support.pk, world.sumo.pk, ALL_SUMO), approved_by=str(world.staff.pk),
    )

    assert response.status_code == 302
    point = ConversionPoint.objects.get(slug="catch-all")
    assert point.approved_definition is None and point.approved_by is None
    assert what_they_read(world.builder) == ANSWERERS


def test_a_rule_created_switched_off_and_then_switched_on_shows_no_one(world: SimpleNamespace) -> None:
    add_in_admin(world.builder, world.support, world.sumo, enabled="")
    point = ConversionPoint.objects.get(slug="catch-all")
    assert not point.enabled

    edit_in_admin(world.builder, point, enabled="on")

    assert what_they_read(world.builder) == ANSWERERS
    point.refresh_from_db()
    assert point.enabled and not point.is_approved


def test_a_rule_moved_in_from_another_builders_area_shows_no_one(world: SimpleNamespace) -> None:
    # However it got there (a script, an old admin page): approved for Questions is not approved for Support.
    ConversionPoint.objects.filter(slug="sumo-asked").update(area=world.support)

    assert what_they_read(world.builder) == ANSWERERS


def test_a_builder_cannot_pull_another_areas_rule_into_their_areas_page(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    data = page_form(client.get(url))
    data["conversion_points-0-id"] = str(world.asked.pk)

    client.post(url, data)

    world.asked.refresh_from_db()
    assert world.asked.area == world.questions and world.asked.is_approved
    assert what_they_read(world.builder) == ANSWERERS


def test_a_rule_moved_between_the_builders_own_areas_waits_for_approval(world: SimpleNamespace) -> None:
    edit_in_admin(world.builder, world.answer, area=str(world.forum.pk))

    assert what_they_read(world.builder, "forum") == set()
    world.answer.refresh_from_db()
    assert world.answer.area == world.forum and not world.answer.is_approved


def test_a_bulk_update_cannot_keep_an_approval(world: SimpleNamespace) -> None:
    ConversionPoint.objects.filter(slug="sumo-answer").update(types=SUMO_TYPES, container="*")

    assert what_they_read(world.builder) == set()


def test_a_builder_cannot_approve(world: SimpleNamespace) -> None:
    add_in_admin(world.builder, world.support, world.sumo)
    point = ConversionPoint.objects.get(slug="catch-all")

    approve_in_admin(world.builder, point)

    point.refresh_from_db()
    assert not point.is_approved and point.approved_at is None
    assert what_they_read(world.builder) == ANSWERERS


def test_the_builder_sees_that_their_rule_waits_for_approval(world: SimpleNamespace) -> None:
    add_in_admin(world.builder, world.support, world.sumo)
    point = ConversionPoint.objects.get(slug="catch-all")
    client = as_user(world.builder)

    page = client.get(reverse("admin:conversion_points_conversionpoint_change", args=[point.pk])).content.decode()
    listed = client.get(reverse("admin:conversion_points_conversionpoint_changelist")).content.decode()
    area_page = client.get(reverse("admin:conversion_points_area_change", args=[world.support.pk])).content.decode()

    assert WAITING in page and WAITING in listed and WAITING in area_page
    assert "The public counts and the dashboard use every enabled rule" in page


# --------------------------------------------------------------------------- staff approve

@pytest.mark.parametrize("approver", ["staff", "admin_user"])
def test_staff_approval_makes_the_rules_contributors_appear(world: SimpleNamespace, approver: str) -> None:
    add_in_admin(world.builder, world.support, world.sumo)
    point = ConversionPoint.objects.get(slug="catch-all")
    user = getattr(world, approver)
    client = as_user(user)
    awaiting = client.get(reverse("admin:conversion_points_conversionpoint_changelist"), {"approval": "awaiting"})
    assert [p.slug for p in awaiting.context["cl"].result_list] == ["catch-all"]

    response = approve_in_admin(user, point)

    assert response.status_code == 302
    point.refresh_from_db()
    assert point.is_approved and point.approved_by == user and point.approved_at is not None
    entry = LogEntry.objects.get(object_id=str(point.pk), user=user)
    assert "Approved for builders' lists" in entry.get_change_message()
    assert what_they_read(world.builder) == {p.display_name for p in Person.objects.all()}
    # Changed again by the builder, it waits again.
    edit_in_admin(world.builder, point, container="Firefox::*")
    assert what_they_read(world.builder) == ANSWERERS


def test_staff_and_administrators_read_everyone_whatever_is_approved(world: SimpleNamespace) -> None:
    add_in_admin(world.builder, world.support, world.sumo)
    everyone = {p.display_name for p in Person.objects.all()}
    for user in (world.staff, world.admin_user):
        api = api_as(user)
        contributors = api.get("/api/v1/staff/areas/support/contributors/", {"date": D.isoformat(), "page_size": 1000}).json()

        assert {c["display_name"] for c in contributors["results"]} == everyone
        assert api.get("/api/v1/staff/people/").json()["count"] == len(everyone)


def test_a_rule_an_administrator_writes_is_approved_as_it_is(world: SimpleNamespace) -> None:
    response = add_in_admin(world.admin_user, world.support, world.sumo, types='["sumo.vote.cast"]')

    assert response.status_code == 302
    point = ConversionPoint.objects.get(slug="catch-all")
    assert point.is_approved and point.approved_by == world.admin_user
    assert what_they_read(world.builder) == ANSWERERS | {f"Voter{i}" for i in range(4)}


def test_load_config_approves_what_the_operator_loads(world: SimpleNamespace) -> None:
    ConversionPoint.objects.filter(slug="sumo-answer").update(types=SUMO_TYPES)
    config = {"sources": [], "areas": [{"slug": "support", "name": "Support", "conversion_points": [
        {"slug": "sumo-answer", "name": "Answered", "source": "sumo", "types": ["sumo.vote.cast"]},
    ]}]}

    config_load(config=config)

    point = ConversionPoint.objects.get(slug="sumo-answer")
    assert point.is_approved and point.approved_by is None
    assert what_they_read(world.builder) == {f"Voter{i}" for i in range(4)}


def test_approval_holds_back_no_public_count(world: SimpleNamespace) -> None:
    add_in_admin(world.builder, world.support, world.sumo)

    assert "catch-all" in {p.slug for p in scope_conversion_points(scope="area:support")}


# --------------------------------------------------------------------------- existing installs

@pytest.mark.django_db(transaction=True)
def test_every_existing_rule_is_approved_by_the_upgrade() -> None:
    loader = MigrationLoader(connection)
    upgrade = next(key for key in loader.disk_migrations if key[0] == "conversion_points" and key[1].endswith("conversion_point_approval"))
    before = next(key for key in loader.disk_migrations[upgrade].dependencies if key[0] == "conversion_points")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = executor.loader.project_state([before]).apps
        source, area = old.get_model("activities", "Source"), old.get_model("conversion_points", "Area")
        point = old.get_model("conversion_points", "ConversionPoint")
        sumo = source.objects.create(slug="sumo", kind="sumo")
        support = area.objects.create(slug="support", name="support")
        support.sources.add(sumo)
        point.objects.create(slug="a", area=support, source=sumo, types=["sumo.answer.posted"], name="a")
        point.objects.create(slug="b", area=support, source=sumo, types=SUMO_TYPES, container="", level="casual", enabled=False, name="b")

        executor = MigrationExecutor(connection)
        executor.migrate([upgrade])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert [(p.slug, p.is_approved, p.approved_at is not None) for p in ConversionPoint.objects.order_by("slug")] == [
        ("a", True, True), ("b", True, True),
    ]
