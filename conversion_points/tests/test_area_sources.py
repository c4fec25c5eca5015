"""The sources an area may draw on: staff grant them, a community builder's rules stay within them.

Written from the builder's side: every way to widen what their rules reach (and so whose records they
read) is refused with a message they understand; staff and administrators decide the sources.
"""

from types import SimpleNamespace
from typing import Any

import pytest
from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.test import Client
from django.urls import reverse

from accounts.roles import BUILDER, STAFF
from accounts.services import user_roles_apply
from activities.models import Source
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import ConfigError, config_dump, config_load

pytestmark = pytest.mark.django_db

User = get_user_model()
SUMO_TYPES = ["sumo.question.asked", "sumo.answer.posted", "sumo.answer.solution", "sumo.revision.created", "sumo.vote.cast"]
GITHUB_TYPES = ["github.issue.opened", "github.comment.created", "github.pull_request.opened", "github.commit.authored"]


@pytest.fixture
def world() -> SimpleNamespace:
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")
    support = Area.objects.create(slug="support", name_en="Support")
    l10n = Area.objects.create(slug="l10n", name_en="Localization")
    coding = Area.objects.create(slug="coding", name_en="Coding")
    support.sources.add(sumo)
    l10n.sources.add(github)
    coding.sources.add(github)
    answer = ConversionPoint.objects.create(area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name_en="Answered")
    builder = User.objects.create_user("builder", "builder@example.org")
    other_builder = User.objects.create_user("other-builder", "other@example.org")
    staff = User.objects.create_user("staffer", "staff@example.org")
    admin = User.objects.create_superuser("root", "root@example.org")
    user_roles_apply(user=builder, roles={BUILDER})
    user_roles_apply(user=other_builder, roles={BUILDER})
    user_roles_apply(user=staff, roles={STAFF})
    support.owners.add(builder)
    l10n.owners.add(builder)
    coding.owners.add(other_builder)
    return SimpleNamespace(**locals())


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def point_form(area: Area, source: Source, **overrides: str) -> dict[str, str]:
    return {
        "area": str(area.pk), "slug": "catch-all", "name_en": "Did anything at all", "level": "active", "enabled": "on",
        "source": str(source.pk), "types": '["github.issue.opened"]', "container": "*", **overrides,
    }


def page_form(response: Any) -> dict[str, Any]:
    """What the browser would send back from an admin change page, unchanged (read-only fields are not inputs)."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name, field in form.fields.items():
            value, key = form[name].value(), form.add_prefix(name)
            if isinstance(field.widget, forms.CheckboxInput):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            elif value is not None:
                data[key] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


# --------------------------------------------------------------------------- the widening attack, in the admin

@pytest.mark.parametrize(
    ("types", "container"),
    [
        (GITHUB_TYPES, "*"),  # a catch-all rule over a source staff did not grant
        (["github.issue.opened"], ""),  # any container, written empty
        (GITHUB_TYPES, "mozilla/*"),  # every type of the source
    ],
)
def test_a_builder_cannot_write_a_rule_over_a_source_staff_did_not_grant(world: SimpleNamespace, types: list, container: str) -> None:
    client = as_user(world.builder)

    response = client.post(
        reverse("admin:conversion_points_conversionpoint_add"),
        point_form(world.support, world.github, types=str(types).replace("'", '"'), container=container),
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["source"]
    assert errors == ["This area may not draw on “GitHub”: its conversion points can use “SUMO”. Staff decide which sources "
                      "an area may draw on: ask them if this one should be added."]
    assert not ConversionPoint.objects.filter(slug="catch-all").exists()


def test_a_preview_over_a_source_staff_did_not_grant_shows_nothing(world: SimpleNamespace) -> None:
    response = as_user(world.builder).post(
        reverse("admin:conversion_points_conversionpoint_add"), {**point_form(world.support, world.github), "_preview": "1"}
    )

    assert "may not draw on" in response.content.decode() and "this rule matches" not in response.content.decode()


def test_an_area_with_no_source_yet_says_so(world: SimpleNamespace) -> None:
    world.l10n.sources.clear()

    response = as_user(world.builder).post(reverse("admin:conversion_points_conversionpoint_add"), point_form(world.l10n, world.sumo))

    assert "This area may not draw on any source yet" in response.context["adminform"].form.errors["source"][0]


def test_a_builder_cannot_move_a_rule_to_an_area_that_may_not_draw_on_its_source(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    url = reverse("admin:conversion_points_conversionpoint_change", args=[world.answer.pk])
    data = page_form(client.get(url))

    response = client.post(url, {**data, "area": str(world.l10n.pk)})

    assert response.status_code == 200 and "may not draw on “SUMO”" in response.context["adminform"].form.errors["source"][0]
    world.answer.refresh_from_db()
    assert world.answer.area == world.support


def test_a_builder_cannot_put_a_rule_in_another_builders_area(world: SimpleNamespace) -> None:
    response = as_user(world.builder).post(reverse("admin:conversion_points_conversionpoint_add"), point_form(world.coding, world.github))

    assert "area" in response.context["adminform"].form.errors
    assert not ConversionPoint.objects.filter(slug="catch-all").exists()


def test_a_builder_cannot_add_a_rule_over_another_source_in_the_areas_page(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    data = page_form(client.get(url))
    data.update({
        "conversion_points-TOTAL_FORMS": "2",
        "conversion_points-1-slug": "catch-all", "conversion_points-1-name_en": "Anything", "conversion_points-1-level": "active",
        "conversion_points-1-enabled": "on", "conversion_points-1-source": str(world.github.pk),
        "conversion_points-1-types": '["github.issue.opened"]', "conversion_points-1-container": "*",
    })

    response = client.post(url, data)

    assert response.status_code == 200
    assert "may not draw on “GitHub”" in response.content.decode()
    assert not ConversionPoint.objects.filter(slug="catch-all").exists()


def test_a_builder_cannot_grant_their_area_a_source(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    page = client.get(url)
    assert "sources" not in page.context["adminform"].form.fields
    assert "SUMO" in page.content.decode()  # shown read-only

    response = client.post(url, {**page_form(page), "sources": [str(world.sumo.pk), str(world.github.pk)], "target": "12"})

    assert response.status_code == 302
    world.support.refresh_from_db()
    assert list(world.support.sources.all()) == [world.sumo] and world.support.target == 12


def test_a_builder_keeps_the_rules_they_have_within_the_granted_sources(world: SimpleNamespace) -> None:
    response = as_user(world.builder).post(
        reverse("admin:conversion_points_conversionpoint_add"),
        point_form(world.support, world.sumo, slug="sumo-question", types='["sumo.question.asked"]'),
    )

    assert response.status_code == 302 and ConversionPoint.objects.filter(slug="sumo-question").exists()


# --------------------------------------------------------------------------- staff and administrators decide

def test_staff_grant_sources_and_change_nothing_else_of_an_area(world: SimpleNamespace) -> None:
    client = as_user(world.staff)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    page = client.get(url)
    assert set(page.context["adminform"].form.fields) == {"sources"}

    response = client.post(url, {**page_form(page), "sources": [str(world.sumo.pk), str(world.github.pk)], "name_en": "Mine now"})

    assert response.status_code == 302
    world.support.refresh_from_db()
    assert set(world.support.sources.all()) == {world.sumo, world.github} and world.support.name_en == "Support"
    # Staff still change no conversion point.
    point_page = client.get(reverse("admin:conversion_points_conversionpoint_change", args=[world.answer.pk]))
    assert not point_page.context["has_change_permission"]


def test_a_source_in_use_cannot_be_taken_away_from_an_area(world: SimpleNamespace) -> None:
    client = as_user(world.staff)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])

    response = client.post(url, {**page_form(client.get(url)), "sources": []})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["sources"] == [
        "This area's conversion points still use “SUMO”. Move them to another source or delete them first, then take the source away."
    ]
    assert list(world.support.sources.all()) == [world.sumo]


def test_an_administrator_grants_a_source_and_adds_its_rule_in_one_go(world: SimpleNamespace) -> None:
    client = as_user(world.admin)
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    data = page_form(client.get(url))
    data.update({
        "sources": [str(world.sumo.pk), str(world.github.pk)],
        "conversion_points-TOTAL_FORMS": "2",
        "conversion_points-1-slug": "support-site-pr", "conversion_points-1-name_en": "Improved the support site",
        "conversion_points-1-level": "core", "conversion_points-1-enabled": "on", "conversion_points-1-source": str(world.github.pk),
        "conversion_points-1-types": '["github.pull_request.opened"]', "conversion_points-1-container": "mozilla/kitsune",
    })

    response = client.post(url, data)

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    assert ConversionPoint.objects.get(slug="support-site-pr").area == world.support
    assert set(world.support.sources.all()) == {world.sumo, world.github}


def test_a_builder_cannot_change_a_source(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    url = reverse("admin:activities_source_change", args=[world.github.pk])
    page = client.get(url)
    assert page.status_code == 200 and not page.context["has_change_permission"]

    response = client.post(url, {"slug": "github-mozilla", "name": "Mine", "kind": "github", "base_url": "https://evil.example"})

    assert response.status_code == 403
    world.github.refresh_from_db()
    assert (world.github.name, world.github.base_url) == ("GitHub", "")


# --------------------------------------------------------------------------- configuration as code

def config(*, sources: list[str] | None = None, points: list[dict] | None = None) -> dict:
    area: dict[str, Any] = {"slug": "support", "name": "Support", "conversion_points": points or [
        {"slug": "sumo-answer", "source": "sumo", "types": ["sumo.answer.posted"], "name": "Answered"},
    ]}
    if sources is not None:
        area["sources"] = sources
    return {"sources": [{"slug": "sumo", "kind": "sumo"}, {"slug": "github-mozilla", "kind": "github"}], "areas": [area]}


def test_an_area_without_sources_in_the_file_draws_on_those_its_points_name() -> None:
    config_load(config=config())
    support = Area.objects.get(slug="support")
    assert [s.slug for s in support.sources.all()] == ["sumo"]

    # A grant made in the admin stays when a file that does not list sources is loaded again.
    support.sources.add(Source.objects.get(slug="github-mozilla"))
    config_load(config=config())
    assert {s.slug for s in support.sources.all()} == {"sumo", "github-mozilla"}


def test_an_area_draws_on_exactly_the_sources_the_file_lists() -> None:
    config_load(config=config(sources=["sumo", "github-mozilla"]))
    config_load(config=config(sources=["sumo"]))

    assert [s.slug for s in Area.objects.get(slug="support").sources.all()] == ["sumo"]
    assert config_dump()["areas"][0]["sources"] == ["sumo"]


@pytest.mark.parametrize(
    ("area_sources", "message"),
    [
        (["github-mozilla"], "areas[0]: conversion point 'sumo-answer' uses source 'sumo', which the area's \"sources\" do not list"),
        ([], "areas[0]: conversion point 'sumo-answer' uses source 'sumo'"),
        (["nope"], "areas[0].sources: unknown source 'nope'"),
        ("sumo", "areas[0].sources: give a list of source slugs"),
        ([3], "areas[0].sources: give a list of source slugs"),
    ],
)
def test_a_file_whose_rules_go_beyond_the_areas_sources_is_refused(area_sources: Any, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        config_load(config=config(sources=area_sources))

    assert message in str(refused.value)
    assert not Area.objects.exists()


def test_a_file_cannot_move_a_rule_into_an_area_that_does_not_list_its_source() -> None:
    config_load(config=config())
    moved = config(sources=["sumo"])
    moved["areas"].append({
        "slug": "coding", "name": "Coding", "sources": ["github-mozilla"],
        "conversion_points": [{"slug": "sumo-answer", "source": "sumo", "types": ["sumo.answer.posted"], "name": "Answered"}],
    })
    moved["areas"][0]["conversion_points"] = []

    with pytest.raises(ConfigError, match=r"areas\[1\]: conversion point 'sumo-answer' uses source 'sumo'"):
        config_load(config=moved)
    assert ConversionPoint.objects.get(slug="sumo-answer").area.slug == "support"


def test_a_dump_with_sources_loads_back_to_the_same_state() -> None:
    config_load(config=config(sources=["github-mozilla", "sumo"]))
    Area.objects.create(slug="empty", name_en="Nothing yet")
    dumped = config_dump()

    Area.objects.all().delete()
    config_load(config=dumped)

    assert config_dump() == dumped
    assert [a["sources"] for a in dumped["areas"]] == [[], ["github-mozilla", "sumo"]]


# --------------------------------------------------------------------------- existing installs

@pytest.mark.django_db(transaction=True)
def test_existing_areas_may_draw_on_the_sources_their_points_use_after_the_upgrade() -> None:
    loader = MigrationLoader(connection)
    upgrade = next(key for key in loader.disk_migrations if key[0] == "conversion_points" and key[1].endswith("area_sources"))
    before = next(key for key in loader.disk_migrations[upgrade].dependencies if key[0] == "conversion_points")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = executor.loader.project_state([before]).apps
        source, area = old.get_model("activities", "Source"), old.get_model("conversion_points", "Area")
        point = old.get_model("conversion_points", "ConversionPoint")
        sumo, github = source.objects.create(slug="sumo", kind="sumo"), source.objects.create(slug="gh", kind="github")
        support, coding, empty = (area.objects.create(slug=slug, name=slug) for slug in ("support", "coding", "empty"))
        for slug, where, what in (("a", support, sumo), ("b", support, sumo), ("c", coding, github), ("d", coding, sumo)):
            point.objects.create(slug=slug, area=where, source=what, types=["sumo.answer.posted"], name=slug)

        executor = MigrationExecutor(connection)
        executor.migrate([upgrade])
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

    assert {(a.slug, s.slug) for a in Area.objects.all() for s in a.sources.all()} == {
        ("support", "sumo"), ("coding", "gh"), ("coding", "sumo"),
    }
