"""A person's first and last contribution, as the admin and the staff people API (JSON and CSV) show them.

The dates are not stored: they are read from the activities when shown, so they are true after an
import, a merge, an unmerge and an erasure.
"""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.roles import STAFF
from accounts.services import user_roles_apply
from activities.models import Source
from activities.services import activities_ingest
from contributors.models import Identity, Person, PersonMerge
from contributors.services import person_forget, person_unmerge, persons_merge
from conversion_points.models import Area, ConversionPoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> tuple[APIClient, Client]:
    user = get_user_model().objects.create_user("staffer", "staff@example.org")
    user_roles_apply(user=user, roles={STAFF})
    api = APIClient()
    api.force_authenticate(user=user)
    admin = Client()
    admin.force_login(user)
    return api, admin


@pytest.fixture
def imported() -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    support = Area.objects.create(slug="support", name="Support")
    sumo = Source.objects.get(slug="sumo")
    ConversionPoint.objects.create(area=support, slug="answer", source=sumo, types=["sumo.answer.posted"], name="A")
    ConversionPoint.objects.create(
        area=support, slug="comment", source=sumo, types=["sumo.comment.posted"], level="casual", name="C"
    )
    records = [
        ("q1", "sumo.question.asked", "2025-10-01T08:00:00Z", "ann"),  # no conversion point: not a contribution
        ("a1", "sumo.answer.posted", "2026-01-10T09:30:00Z", "ann"),
        ("c1", "sumo.comment.posted", "2026-03-01T23:59:00Z", "ann"),  # casual: a contribution all the same
        ("a2", "sumo.answer.posted", "2025-11-20T12:00:00Z", "ben"),
        ("a3", "sumo.answer.posted", "2026-02-05T12:00:00Z", "ben"),
        ("a4", "sumo.answer.posted", "2026-02-06T12:00:00Z", "robot[bot]"),  # bots never contribute
    ]
    result = activities_ingest(
        records=enumerate(
            {"source": "sumo", "external_id": key, "type": kind, "occurred_at": when, "actor": {"username": who}}
            for key, kind, when, who in records
        )
    )
    assert not result.rejected


def person(username: str) -> Person:
    return Identity.objects.get(namespace="sumo", value=username).person


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def shown(api: APIClient, admin: Client) -> dict[int, tuple]:
    """(first, last) of every person, from the API's JSON, checked against its CSV and the admin."""
    people = api.get("/api/v1/staff/people/", {"page_size": 100}).json()["results"]
    from_json = {
        p["id"]: (
            p["first_contribution_at"] and when(p["first_contribution_at"][:19]),
            p["last_contribution_at"] and when(p["last_contribution_at"][:19]),
        )
        for p in people
    }
    rows = csv.DictReader(io.StringIO(b"".join(api.get("/api/v1/staff/people/?format=csv").streaming_content).decode()))
    from_csv = {
        int(row["id"]): (
            row["first_contribution_at"] and when(row["first_contribution_at"][:19]) or None,
            row["last_contribution_at"] and when(row["last_contribution_at"][:19]) or None,
        )
        for row in rows
    }
    assert from_csv == {pk: (first or None, last or None) for pk, (first, last) in from_json.items()}
    changelist = admin.get("/admin/contributors/person/")
    assert changelist.status_code == 200
    from_admin = {p.pk: (p.first_contribution_at, p.last_contribution_at) for p in changelist.context["cl"].result_list}
    assert from_admin == {pk: (first or None, last or None) for pk, (first, last) in from_json.items()}
    return {pk: (first or None, last or None) for pk, (first, last) in from_json.items()}


def test_dates_are_true_after_import_merge_unmerge_and_erasure(staff, imported) -> None:
    api, admin = staff
    ann, ben, bot = person("ann"), person("ben"), person("robot[bot]")
    ann_dates = (when("2026-01-10T09:30:00"), when("2026-03-01T23:59:00"))
    ben_dates = (when("2025-11-20T12:00:00"), when("2026-02-05T12:00:00"))
    assert shown(api, admin) == {ann.pk: ann_dates, ben.pk: ben_dates, bot.pk: (None, None)}
    page = admin.get(f"/admin/contributors/person/{ann.pk}/change/")
    assert page.status_code == 200 and "Jan. 10, 2026" in page.content.decode()

    persons_merge(into=ann, others=[ben], reason="the same human")
    assert shown(api, admin) == {ann.pk: (ben_dates[0], ann_dates[1]), bot.pk: (None, None)}
    detail = api.get(f"/api/v1/staff/people/{ann.pk}/").json()
    assert detail["first_contribution_at"].startswith("2025-11-20T12:00:00")

    person_unmerge(merge=PersonMerge.objects.get())
    ben = person("ben")
    assert shown(api, admin) == {ann.pk: ann_dates, ben.pk: ben_dates, bot.pk: (None, None)}

    person_forget(person=ben, delete_activities=True)
    assert shown(api, admin) == {ann.pk: ann_dates, bot.pk: (None, None)}
