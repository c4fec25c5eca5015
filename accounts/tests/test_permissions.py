"""Roles and object-level rules in the admin; API tokens (the staff API itself: api/tests/test_staff_api.py)."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuthAudit
from accounts.services import api_token_create, api_token_revoke
from conversion_points.models import ConversionPoint

from .worlds import roles_world

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def world() -> dict:
    return roles_world()


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


# --------------------------------------------------------------------------- API tokens

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
