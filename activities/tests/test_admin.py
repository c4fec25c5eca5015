"""The sources and activities admin: pages render, search finds, activities stay read-only."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from activities.models import Activity, Source
from contributors.models import Identity, Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def source() -> Source:
    return Source.objects.create(slug="github-mozilla", kind="github", name="GitHub")


@pytest.fixture
def activity(source: Source) -> Activity:
    person = Person.objects.create(display_name="Ann Example")
    identity = Identity.objects.create(person=person, kind=Identity.Kind.EMAIL, value="ann@example.org", source=source)
    return Activity.objects.create(
        source=source,
        external_id="pr:mozilla/kitsune:5123",
        type="github.pull_request.opened",
        occurred_at=datetime(2024, 5, 1, 10, 3, tzinfo=UTC),
        identity=identity,
        container="mozilla/kitsune",
        url="https://github.com/mozilla/kitsune/pull/5123",
        title="Fix the search box",
        data={"body": "<script>alert('hi')</script>", "number": 5123},
    )


def test_source_changelist_shows_activity_counts(admin_client: Client, activity: Activity) -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")

    response = admin_client.get(reverse("admin:activities_source_changelist"))

    assert response.status_code == 200
    rows = {source.slug: source.activity_count for source in response.context["cl"].result_list}
    assert rows == {"github-mozilla": 1, "sumo": 0}


def test_source_search(admin_client: Client, source: Source) -> None:
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")

    response = admin_client.get(reverse("admin:activities_source_changelist"), {"q": "sumo"})

    assert [s.slug for s in response.context["cl"].result_list] == ["sumo"]


def test_source_add_and_change_pages_render(admin_client: Client, source: Source) -> None:
    assert admin_client.get(reverse("admin:activities_source_add")).status_code == 200
    response = admin_client.get(reverse("admin:activities_source_change", args=[source.pk]))
    assert response.status_code == 200
    # The slug is fixed once a source exists: import files and identities refer to it.
    assert 'name="slug"' not in response.content.decode()


def test_activity_changelist_renders_and_searches_by_account(admin_client: Client, activity: Activity) -> None:
    url = reverse("admin:activities_activity_changelist")
    assert admin_client.get(url).status_code == 200

    found = admin_client.get(url, {"q": "ann@example.org"})
    missed = admin_client.get(url, {"q": "bob@example.org"})

    assert list(found.context["cl"].result_list) == [activity]
    assert list(missed.context["cl"].result_list) == []


def test_activity_change_page_is_read_only_with_escaped_payload(admin_client: Client, activity: Activity) -> None:
    response = admin_client.get(reverse("admin:activities_activity_change", args=[activity.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "&lt;script&gt;alert(&#x27;hi&#x27;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "<pre>" in html
    assert 'name="_save"' not in html
    assert 'name="type"' not in html


def test_activities_cannot_be_added_or_changed(admin_client: Client, activity: Activity) -> None:
    assert admin_client.get(reverse("admin:activities_activity_add")).status_code == 403

    response = admin_client.post(
        reverse("admin:activities_activity_change", args=[activity.pk]), {"type": "github.pull_request.closed"}
    )

    assert response.status_code == 403
    activity.refresh_from_db()
    assert activity.type == "github.pull_request.opened"


def test_activity_link_is_only_clickable_for_web_urls(admin_client: Client, activity: Activity) -> None:
    activity.url = "javascript:alert(1)"
    activity.save(update_fields=["url"])

    html = admin_client.get(reverse("admin:activities_activity_change", args=[activity.pk])).content.decode()

    assert 'href="javascript:' not in html


def test_activity_changelist_queries_do_not_grow_with_rows(admin_client: Client, activity: Activity) -> None:
    url = reverse("admin:activities_activity_changelist")
    with CaptureQueriesContext(connection) as one_row:
        admin_client.get(url)
    for number in range(5):
        identity = Identity.objects.create(
            person=Person.objects.create(), kind=Identity.Kind.UID, namespace="github", value=str(number)
        )
        Activity.objects.create(
            source=activity.source,
            external_id=f"issue:{number}",
            type="github.issue.opened",
            occurred_at=activity.occurred_at,
            identity=identity,
        )

    with CaptureQueriesContext(connection) as six_rows:
        admin_client.get(url)

    assert len(six_rows) == len(one_row)


def test_rejected_items_are_listed_read_only(admin_client: Client, source: Source) -> None:
    from activities.models import RejectedItem

    RejectedItem.objects.create(source=source, external_id="issue:mozilla/kitsune:9", reason="deleted account")

    page = admin_client.get(reverse("admin:activities_rejecteditem_changelist"))

    assert page.status_code == 200
    assert b"issue:mozilla/kitsune:9" in page.content and b"deleted account" in page.content
    assert admin_client.get(reverse("admin:activities_rejecteditem_add")).status_code == 403
