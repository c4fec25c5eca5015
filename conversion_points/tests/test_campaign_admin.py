"""Campaigns and target dates in the admin: a community builder plans for the areas they own, and only those.

Written from the builder's side too: another builder's campaign cannot be read, changed or deleted,
a campaign cannot be put on an area they do not own (not even by a forged POST), and hostile dates
are refused with a message a person understands.
"""

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.roles import BUILDER, STAFF
from accounts.services import user_roles_apply
from conversion_points.models import Area, Campaign

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def world() -> SimpleNamespace:
    support = Area.objects.create(slug="support", name_en="Support", target=100)
    l10n = Area.objects.create(slug="l10n", name_en="Localization")
    coding = Area.objects.create(slug="coding", name_en="Coding")
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
    theirs = Campaign.objects.create(slug="coding-sprint", name_en="Coding sprint", start=date(2024, 3, 4), end=date(2024, 3, 31))
    theirs.areas.add(coding)
    shared = Campaign.objects.create(slug="everyone-week", name_en="Everyone week", start=date(2024, 4, 1), end=date(2024, 4, 7))
    shared.areas.add(support, coding)
    return SimpleNamespace(**locals())


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def campaign_form(*areas: Area, **overrides: str) -> dict[str, Any]:
    return {
        "slug": "spring-push",
        "name_en": "Spring push",
        "description_en": "",
        "start": "2024-05-06",
        "end": "2024-05-26",
        "areas": [str(area.pk) for area in areas],
        **overrides,
    }


ADD = reverse("admin:conversion_points_campaign_add")


def change_url(campaign: Campaign) -> str:
    return reverse("admin:conversion_points_campaign_change", args=[campaign.pk])


def test_a_builder_adds_a_campaign_for_their_own_areas(world: SimpleNamespace) -> None:
    response = as_user(world.builder).post(ADD, campaign_form(world.support, world.l10n))

    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get(slug="spring-push")
    assert set(campaign.areas.values_list("slug", flat=True)) == {"support", "l10n"}


def test_a_builder_cannot_put_a_campaign_on_another_builders_area_even_by_a_forged_post(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    page = client.get(ADD).content.decode()
    assert "Localization" in page and "Coding" not in page

    response = client.post(ADD, campaign_form(world.support, world.coding))

    assert response.status_code == 200
    assert "areas" in response.context["adminform"].form.errors
    assert not Campaign.objects.filter(slug="spring-push").exists()


def test_a_builder_cannot_read_change_or_delete_a_campaign_of_an_area_they_do_not_own(world: SimpleNamespace) -> None:
    client = as_user(world.builder)
    listed = client.get(reverse("admin:conversion_points_campaign_changelist"))
    assert [c.slug for c in listed.context["cl"].result_list] == []

    for campaign in (world.theirs, world.shared):  # wholly theirs, or shared with an area of someone else
        assert client.get(change_url(campaign)).status_code in (302, 403, 404)
        client.post(change_url(campaign), campaign_form(world.support, slug=campaign.slug, name_en="Mine now"))
        client.post(reverse("admin:conversion_points_campaign_delete", args=[campaign.pk]), {"post": "yes"})
        campaign.refresh_from_db()
        assert campaign.name != "Mine now"
    assert Campaign.objects.count() == 2
    assert set(world.shared.areas.values_list("slug", flat=True)) == {"support", "coding"}


def test_the_other_builder_sees_only_their_own_campaign(world: SimpleNamespace) -> None:
    listed = as_user(world.other_builder).get(reverse("admin:conversion_points_campaign_changelist"))

    assert [c.slug for c in listed.context["cl"].result_list] == ["coding-sprint"]


def test_staff_read_every_campaign_and_change_none(world: SimpleNamespace) -> None:
    client = as_user(world.staff)
    listed = client.get(reverse("admin:conversion_points_campaign_changelist"))
    assert {c.slug for c in listed.context["cl"].result_list} == {"coding-sprint", "everyone-week"}

    client.post(change_url(world.theirs), campaign_form(world.coding, slug="coding-sprint", name_en="Renamed"))
    assert client.post(ADD, campaign_form(world.coding)).status_code == 403

    world.theirs.refresh_from_db()
    assert world.theirs.name == "Coding sprint"
    assert not Campaign.objects.filter(slug="spring-push").exists()


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2024-05-26", "2024-05-06", "comes before the first"),
        ("2020-01-01", "2029-12-31", "A campaign lasts at most a year"),
        ("2024-02-30", "2024-03-01", "Enter a valid date"),
        ("0001-01-01", "0001-01-02", "Give days from"),
    ],
    ids=["end-before-start", "ten-years", "no-such-day", "before-1970"],
)
def test_hostile_dates_are_refused_with_a_reason(world: SimpleNamespace, start: str, end: str, message: str) -> None:
    response = as_user(world.admin).post(ADD, campaign_form(world.support, start=start, end=end))

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors)
    assert not Campaign.objects.filter(slug="spring-push").exists()


def test_a_name_with_html_is_kept_as_text_in_the_admin(world: SimpleNamespace) -> None:
    client = as_user(world.admin)
    client.post(ADD, campaign_form(world.support, name_en="<script>alert(1)</script>"))

    page = client.get(reverse("admin:conversion_points_campaign_changelist")).content.decode()

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_builder_sets_a_target_date_and_staff_cannot(world: SimpleNamespace) -> None:
    url = reverse("admin:conversion_points_area_change", args=[world.support.pk])
    builder_page = as_user(world.builder).get(url).content.decode()
    staff_page = as_user(world.staff).get(url).content.decode()

    assert 'name="target_date"' in builder_page
    assert 'name="target_date"' not in staff_page


def test_saving_a_campaign_asks_for_a_new_run_so_the_dashboard_draws_it(world: SimpleNamespace) -> None:
    from conversion_points.signals import rules_changed

    heard = []

    def listener(**kwargs: Any) -> None:
        heard.append(kwargs["sender"])

    rules_changed.connect(listener)
    try:
        as_user(world.builder).post(ADD, campaign_form(world.support))
    finally:
        rules_changed.disconnect(listener)

    assert heard == [Campaign]
