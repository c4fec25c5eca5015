"""Staff periods from staff e-mail domains: only what is stored widens them, concurrent batches
widen one period, a rebuild reads them from the stored activities."""

from datetime import date

import pytest

from activities.services import activities_ingest
from activities.tests.factories import SourceFactory
from contributors.models import StaffPeriod

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
