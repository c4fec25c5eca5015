"""A sync's liveness: `schedule_minutes: 1` means every minute, a live sync keeps its lock, and a sync
that died with its worker is marked so and resumed at the next beat tick, not after ten minutes."""

import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from activities import sync
from activities.connectors import Page
from activities.models import Activity, Source, SyncRun, SyncState
from activities.sync import LOCK_SECONDS, LOST_RUN, source_sync, syncs_claim_due, syncs_resume_lost
from activities.tasks import enqueue_due_syncs

pytestmark = pytest.mark.django_db


def record(n: int) -> dict:
    return {"source": "slow", "external_id": f"item:{n}", "type": "slow.item.created", "occurred_at": "2026-11-02T10:00:00Z",
            "actor": {"username": f"user{n}"}}


class CountingClient:
    requests_made = 0
    not_modified = 0


class SlowConnector:
    """Two pages, and whatever the test wants to happen between them."""

    kind = "slow"

    def __init__(self, between) -> None:
        self.client = CountingClient()
        self.between = between

    def pages(self, checkpoint: dict):
        yield Page([record(1)], {"page": 1})
        self.between()
        yield Page([record(2)], {"page": 2})


@pytest.fixture
def slow(monkeypatch):
    source = Source.objects.create(slug="slow", kind="github", name="Slow", base_url="https://api.github.com", schedule_minutes=1)

    def use(between):
        monkeypatch.setattr(sync, "connector_for", lambda source, client=None: SlowConnector(between))
        return source

    return use


def test_schedule_minutes_1_syncs_every_minute(slow):
    source = slow(lambda: None)
    tick = timezone.now()
    assert syncs_claim_due(now=tick) == ["slow"]
    run = source_sync(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error

    # Beat ticks every 30 seconds; the run began a moment after the tick that enqueued it.
    assert syncs_claim_due(now=tick + timedelta(seconds=30)) == []
    assert syncs_claim_due(now=tick + timedelta(seconds=60)) == ["slow"]


def test_a_sync_that_lost_its_lock_stops_without_storing_more(slow, monkeypatch):
    def taken_over():
        # The lock was given up for dead and another sync took the source.
        SyncState.objects.filter(source__slug="slow").update(lock_owner="another-worker", locked_until=timezone.now() + timedelta(minutes=1))

    source = slow(taken_over)
    monkeypatch.setattr(sync, "LOCK_RENEW_SECONDS", 0)  # time enough has passed to renew after every page
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED and "another sync took over" in run.error
    assert SyncState.objects.get(source=source).lock_owner == "another-worker"
    assert not Activity.objects.filter(external_id="item:2").exists()


def test_a_dead_sync_is_marked_and_its_source_resumed_at_the_next_tick(slow, django_capture_on_commit_callbacks):
    source = slow(lambda: None)
    killed_at = timezone.now() - timedelta(seconds=LOCK_SECONDS + 5)
    dead = SyncRun.objects.create(source=source, started_at=killed_at)
    SyncState.objects.create(source=source, lock_owner="dead-worker", locked_until=killed_at + timedelta(seconds=LOCK_SECONDS),
                             checkpoint={"page": 1}, next_sync_at=timezone.now() + timedelta(minutes=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert enqueue_due_syncs() == ["slow"]

    dead.refresh_from_db()
    assert (dead.status, dead.error) == (SyncRun.Status.FAILED, LOST_RUN) and dead.finished_at is not None
    resumed = SyncRun.objects.exclude(pk=dead.pk).get()
    assert (resumed.status, resumed.trigger) == (SyncRun.Status.SUCCEEDED, "resume")
    assert Activity.objects.count() == 2
    # Once is enough: the next tick finds nothing lost.
    assert syncs_resume_lost() == []


def test_a_live_lock_and_a_sync_started_after_the_check_are_left_alone(slow):
    source = slow(lambda: None)
    state = SyncState.objects.create(source=source, lock_owner="live-worker", locked_until=timezone.now() + timedelta(seconds=20))
    live = SyncRun.objects.create(source=source)
    assert syncs_resume_lost() == []
    live.refresh_from_db()
    assert live.status == SyncRun.Status.RUNNING

    # The lock lapsed at `now`; a run that started after `now` belongs to a new sync.
    now = timezone.now()
    SyncState.objects.filter(pk=state.pk).update(locked_until=now - timedelta(seconds=1))
    SyncRun.objects.filter(pk=live.pk).update(started_at=now + timedelta(seconds=1))
    assert syncs_resume_lost(now=now) == ["slow"]
    live.refresh_from_db()
    assert live.status == SyncRun.Status.RUNNING


def test_a_disabled_sources_dead_sync_is_marked_but_not_resumed(slow):
    source = slow(lambda: None)
    Source.objects.filter(pk=source.pk).update(enabled=False)
    SyncState.objects.create(source=source, lock_owner="dead", locked_until=timezone.now() - timedelta(seconds=1))
    dead = SyncRun.objects.create(source=source, started_at=timezone.now() - timedelta(minutes=1))
    assert syncs_resume_lost() == []
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the heartbeat thread runs on PostgreSQL (separate workers)")
@pytest.mark.django_db(transaction=True)
def test_a_live_sync_keeps_its_lock_through_a_long_wait(slow):
    seen = {}

    def long_request():
        # A slow request (retries, a rate-limit wait, a long git command): longer than the lock.
        time.sleep(3.5)
        state = SyncState.objects.get(source__slug="slow")
        seen["locked_until"] = state.locked_until
        seen["now"] = timezone.now()

    source = slow(long_request)
    run = source_sync(source=source, lock_seconds=3)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    # Renewed by the heartbeat while the page waited: another sync could not have taken the source.
    assert seen["locked_until"] > seen["now"]
    assert Activity.objects.count() == 2
