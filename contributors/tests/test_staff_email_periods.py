"""Staff periods from staff e-mail domains: only what is stored widens them, concurrent batches
widen one period, a rebuild reads them from the stored activities."""

import html
import importlib
import threading
import time
from datetime import UTC, date, datetime
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse

from activities.services import activities_ingest
from activities.tests.factories import SourceFactory
from baloo_site.bulk import is_postgresql
from contributors.models import Identity, Person, StaffPeriod
from contributors.staff import staff_periods_from_email_domains, staff_periods_rebuild, staff_periods_save

pytestmark = pytest.mark.django_db


def rec(ext, when, email="ann@mozilla.com", **actor):
    return {
        "source": "git",
        "external_id": ext,
        "type": "git.commit.authored",
        "occurred_at": when,
        "actor": {"email": email, **actor},
    }


def test_a_duplicate_record_not_stored_does_not_widen_a_staff_period(settings):
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    activities_ingest(records=enumerate([rec("c1", "2025-03-01T10:00:00Z")]))
    result = activities_ingest(records=enumerate([rec("c1", "2010-01-01T10:00:00Z")]))
    assert result.created == 0
    period = StaffPeriod.objects.get()
    assert str(period.staff_from) == "2025-03-01", f"period widened by a record that was not stored: {period}"


def test_a_record_stored_under_another_address_is_not_made_staff_by_a_repush(settings):
    """c1 was stored from a personal address; re-pushing it naming a staff address makes no period."""
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    activities_ingest(records=enumerate([rec("c1", "2025-03-01T10:00:00Z", email="ann@example.org", username="ann")]))
    result = activities_ingest(
        records=enumerate(
            [
                rec("c1", "2025-03-01T10:00:00Z", username="ann"),
                rec("c2", "2025-04-01T10:00:00Z", username="ann"),
            ]
        )
    )
    assert (result.created, result.duplicate) == (1, 1)
    assert list(StaffPeriod.objects.values_list("staff_from", "staff_until")) == [(date(2025, 4, 1), date(2025, 4, 1))]


def test_a_duplicate_within_one_batch_does_not_widen(settings):
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    result = activities_ingest(
        records=enumerate([rec("c1", "2025-03-01T10:00:00Z"), rec("c1", "2010-01-01T10:00:00Z")])
    )
    assert result.created == 1
    assert str(StaffPeriod.objects.get().staff_from) == "2025-03-01"


def test_domains_given_by_the_caller_widen_periods_instead_of_the_setting(settings):
    """The demo names its own staff domain: those addresses give periods, the setting's do not."""
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    activities_ingest(records=enumerate([rec("c1", "2025-03-01T10:00:00Z", email="cy@Demo.Example")]))
    ann = Identity.objects.create(person=Person.objects.create(), kind="email", namespace="", value="ann@mozilla.com")
    cy = Identity.objects.get(value="cy@demo.example")
    assert not StaffPeriod.objects.exists()
    moments = [datetime(2025, 3, 1, 10, tzinfo=UTC), datetime(2025, 4, 2, 23, 30, tzinfo=UTC)]
    seen = [(cy.pk, "cy@demo.example", moment) for moment in moments] + [(ann.pk, "ann@mozilla.com", moments[0])]

    assert staff_periods_from_email_domains(seen=seen, domains=["DEMO.example"]) == 1
    assert list(StaffPeriod.objects.values_list("person", "staff_from", "staff_until", "origin")) == [
        (cy.person_id, date(2025, 3, 1), date(2025, 4, 2), "email-domain")
    ]
    assert staff_periods_from_email_domains(seen=seen, domains=[]) == 0


# --------------------------------------------------------------------------- rebuilding from the activities


def _periods():
    return sorted(StaffPeriod.objects.values_list("person__display_name", "staff_from", "staff_until", "origin"))


def test_rebuild_reads_periods_from_stored_activities_and_leaves_others_alone(settings):
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    activities_ingest(
        records=enumerate(
            [
                rec("c1", "2024-02-01T10:00:00Z", name="Ann"),
                rec("c2", "2024-05-01T23:30:00-03:00", name="Ann"),  # 2024-05-02 in UTC
                rec("c3", "2024-03-01T10:00:00Z", email="bob@mozilla.com", name="Bob"),
                rec("c4", "2024-03-01T10:00:00Z", email="cy@example.org", name="Cy"),
            ]
        )
    )
    ann = Person.objects.get(identities__value="ann@mozilla.com")
    bob = Person.objects.get(identities__value="bob@mozilla.com")
    cy = Person.objects.get(identities__value="cy@example.org")
    Person.objects.filter(pk=ann.pk).update(display_name="Ann")
    Person.objects.filter(pk=bob.pk).update(display_name="Bob")
    Person.objects.filter(pk=cy.pk).update(display_name="Cy")
    # Wrong periods: Ann's too wide and open (as the old migration left them), Bob's gone, one for Cy.
    StaffPeriod.objects.filter(person=ann).update(staff_from=None, staff_until=None)
    StaffPeriod.objects.filter(person=bob).delete()
    StaffPeriod.objects.create(person=cy, origin="email-domain", staff_from=date(2020, 1, 1))
    StaffPeriod.objects.create(person=cy, origin="admin", staff_from=date(2019, 1, 1), staff_until=date(2019, 2, 1))
    StaffPeriod.objects.create(person=cy, origin="directory", staff_from=date(2018, 1, 1))

    out = StringIO()
    call_command("staff_periods_rebuild", stdout=out)

    assert "persons whose e-mail-domain period changed: 3" in out.getvalue()
    assert _periods() == [
        ("Ann", date(2024, 2, 1), date(2024, 5, 2), "email-domain"),
        ("Bob", date(2024, 3, 1), date(2024, 3, 1), "email-domain"),
        ("Cy", date(2018, 1, 1), None, "directory"),
        ("Cy", date(2019, 1, 1), date(2019, 2, 1), "admin"),
    ]
    assert staff_periods_rebuild() == 0  # idempotent

    # The setting changes: Bob's domain is no longer staff, Cy's is.
    settings.STAFF_EMAIL_DOMAINS = ["example.org"]
    assert staff_periods_rebuild() == 3
    assert _periods() == [
        ("Cy", date(2018, 1, 1), None, "directory"),
        ("Cy", date(2019, 1, 1), date(2019, 2, 1), "admin"),
        ("Cy", date(2024, 3, 1), date(2024, 3, 1), "email-domain"),
    ]


def test_migration_0009_gives_email_domain_staff_the_span_of_their_activities(settings):
    """The data step of 0009 (with the historical models) makes no period open at both ends."""
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    activities_ingest(records=enumerate([rec("c1", "2024-02-01T10:00:00Z"), rec("c2", "2024-04-01T10:00:00Z")]))
    StaffPeriod.objects.all().delete()
    migration = importlib.import_module("contributors.migrations.0009_staff_periods")
    migration.email_domain_periods(django_apps, None)
    assert list(StaffPeriod.objects.values_list("staff_from", "staff_until", "origin")) == [
        (date(2024, 2, 1), date(2024, 4, 1), "email-domain")
    ]
    migration.email_domain_periods(django_apps, None)
    assert StaffPeriod.objects.count() == 1


# --------------------------------------------------------------------------- batches stored at the same time


@pytest.mark.skipif(not is_postgresql(), reason="row locks: PostgreSQL (SQLite writers take turns)")
@pytest.mark.django_db(transaction=True)
def test_two_batches_stored_at_the_same_time_widen_one_period(settings):
    """Batch A widens the period and has not committed; batch B, on its own connection, waits for it
    and then widens A's period: one period from the first to the last day, not one each."""
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    ann = Person.objects.create(display_name="Ann")
    identity = Identity.objects.create(person=ann, kind="email", value="ann@mozilla.com")
    a_wrote, a_may_commit = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def batch(day: datetime, *, first: bool) -> None:
        try:
            with transaction.atomic():
                staff_periods_from_email_domains(seen=[(identity.pk, "ann@mozilla.com", day)])
                if first:
                    a_wrote.set()
                    assert a_may_commit.wait(10)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    a = threading.Thread(target=batch, args=(datetime(2025, 3, 1, tzinfo=UTC),), kwargs={"first": True})
    b = threading.Thread(target=batch, args=(datetime(2025, 6, 1, tzinfo=UTC),), kwargs={"first": False})
    a.start()
    assert a_wrote.wait(10)
    b.start()
    time.sleep(0.5)  # B reads the periods now, unless A's lock holds it back
    a_may_commit.set()
    a.join(10)
    b.join(10)

    assert errors == []
    assert list(StaffPeriod.objects.values_list("staff_from", "staff_until")) == [(date(2025, 3, 1), date(2025, 6, 1))]


# --------------------------------------------------------------------------- an admin deletes one


def test_an_email_domain_period_an_admin_deletes_comes_back_and_the_admin_page_says_so(settings, admin_client):
    settings.STAFF_EMAIL_DOMAINS = ["mozilla.com"]
    SourceFactory(slug="git", kind="import")
    activities_ingest(records=enumerate([rec("c1", "2025-03-01T10:00:00Z")]))
    ann = Person.objects.get(identities__value="ann@mozilla.com")
    staff_periods_save(person_id=ann.pk, saved=[], deleted=list(ann.staff_periods.all()))
    assert not ann.staff_periods.exists()

    # The domain is not stopped: the next activity starts a period again, a rebuild gives it all back.
    activities_ingest(records=enumerate([rec("c2", "2025-05-01T10:00:00Z")]))
    assert list(ann.staff_periods.values_list("staff_from", "staff_until")) == [(date(2025, 5, 1), date(2025, 5, 1))]
    staff_periods_rebuild()
    assert list(ann.staff_periods.values_list("staff_from", "staff_until")) == [(date(2025, 3, 1), date(2025, 5, 1))]

    page = admin_client.get(reverse("admin:contributors_person_change", args=[ann.pk])).content.decode()
    assert "deleting or changing that period does not stop the domain" in html.unescape(page)
