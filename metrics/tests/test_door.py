"""Every change the counts depend on asks for a recompute through one door, once it is committed."""

import pytest
from django.db import transaction

from activities.models import Source
from activities.services import activities_ingest
from contributors.signals import people_changed
from conversion_points.signals import rules_changed
from metrics import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(monkeypatch) -> list[bool]:
    requests: list[bool] = []
    monkeypatch.setattr(services, "metrics_recompute_soon", lambda: requests.append(True))
    return requests


def record(external_id: str) -> dict:
    return {
        "source": "sumo",
        "external_id": external_id,
        "type": "sumo.answer.posted",
        "occurred_at": "2026-11-02T10:00:00Z",
        "actor": {"username": "helper"},
    }


@pytest.fixture
def sumo() -> Source:
    return Source.objects.create(slug="sumo", kind="sumo", name="SUMO")


def test_new_activities_ask_once_per_ingestion_whatever_the_way_in(sumo, asked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = activities_ingest(records=enumerate([record("a-1"), record("a-2")]))
    assert result.created == 2 and asked == [True]


def test_records_already_stored_or_rejected_ask_nothing(sumo, asked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        activities_ingest(records=enumerate([record("a-1")]))
    with django_capture_on_commit_callbacks(execute=True):
        result = activities_ingest(records=enumerate([record("a-1"), {"source": "sumo"}]))
    assert (result.created, result.duplicate, len(result.rejected)) == (0, 1, 1)
    assert asked == [True]


def test_a_change_rolled_back_asks_nothing(sumo, asked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            activities_ingest(records=enumerate([record("a-1")]))
            raise RuntimeError("the caller's transaction fails after the ingestion")
    assert asked == []


@pytest.mark.parametrize("signal", [people_changed, rules_changed], ids=["people", "rules"])
def test_people_and_rules_changing_ask_too(signal, asked, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        signal.send(sender=None)
    assert asked == [True]
