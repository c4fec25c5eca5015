"""The database counts what a larger activity id cannot show (`EditCount`), on SQLite and PostgreSQL alike.

The incremental update trusts its cache only while these counts stay as its cache saw them, so the
triggers must count every deletion and in-place change of what the engine counts (an activity's
identity, source, type, date, container; an identity's person) and nothing else: ingestion and the
erasure of personal fields must not turn every update into a full recompute.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection

from activities.models import Activity, Source
from contributors.models import Identity
from conversion_points.tests.factories import ActivityFactory, IdentityFactory, PersonFactory
from metrics.engine.fetch import edit_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored():
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    identity = IdentityFactory()
    for number in range(3):
        ActivityFactory(source=source, identity=identity, type="sumo.answer.posted", external_id=f"a{number}", occurred_at=datetime(2025, 3, 1 + number, tzinfo=UTC))
    return source, identity


def test_ingestion_counts_nothing(stored):
    source, _identity = stored
    before = edit_counts()
    ActivityFactory(source=source, identity=IdentityFactory(person=PersonFactory()), type="sumo.answer.posted", occurred_at=datetime(2025, 4, 1, tzinfo=UTC))
    Activity.objects.filter(source=source).update(title="", url="", data={})  # erasure of personal fields
    Identity.objects.update(name="Someone")
    assert edit_counts() == before


@pytest.mark.parametrize(
    "change",
    ["identity", "source", "type", "occurred_at", "container"],
)
def test_an_activity_changed_in_place_is_counted(stored, change):
    source, identity = stored
    values = {
        "identity": IdentityFactory(),
        "source": Source.objects.create(slug="other", kind="manual", name="Other"),
        "type": "sumo.question.asked",
        "occurred_at": datetime(2020, 1, 1, tzinfo=UTC),
        "container": "moved",
    }
    before = edit_counts()
    Activity.objects.filter(identity=identity).update(**{change: values[change]})
    assert edit_counts()[0] > before[0]
    assert edit_counts()[1] == before[1]


def test_deleting_activities_is_counted_and_deleting_none_is_not(stored):
    source, identity = stored
    before = edit_counts()
    Activity.objects.filter(type="no such type").delete()
    assert edit_counts() == before
    Activity.objects.filter(identity=identity).delete()
    assert edit_counts()[0] > before[0]


def test_an_identity_moving_or_going_is_counted(stored):
    _source, identity = stored
    before = edit_counts()
    Identity.objects.filter(pk=identity.pk).update(person=identity.person)  # the same person: no move
    assert edit_counts() == before
    Identity.objects.filter(pk=identity.pk).update(person=PersonFactory())
    moved = edit_counts()
    assert moved[1] > before[1]
    lonely = IdentityFactory()
    Identity.objects.filter(pk=lonely.pk).delete()
    assert edit_counts()[1] > moved[1]


def test_forgetting_a_prolific_person_counts_once_per_statement_on_postgresql(stored):
    """A row trigger would update the count's row once per activity, each update walking the versions
    the ones before left in the same transaction: minutes for a person with a hundred thousand activities."""
    source, identity = stored
    Activity.objects.bulk_create(
        Activity(source=source, identity=identity, type="sumo.answer.posted", external_id=f"bulk{number}",
                 occurred_at=datetime(2025, 5, 1, tzinfo=UTC))
        for number in range(3000)
    )  # fmt: skip
    before = edit_counts()
    changed = Activity.objects.filter(identity=identity).update(identity=IdentityFactory())
    assert changed == 3003
    added = edit_counts()[0] - before[0]
    assert added == (1 if connection.vendor == "postgresql" else changed)
