"""No recompute request is stranded: beat sends again the task of a queued run whose task was lost,
and of a run whose worker died, once, and leaves live and fresh ones alone."""

from datetime import timedelta

import psycopg2
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from metrics.engine import liveness, metrics_requests_resend
from metrics.engine.runs import LOCK_KEY
from metrics.models import MetricRun

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="a dead worker is told by PostgreSQL's advisory lock")


@pytest.fixture
def sent(monkeypatch) -> list[tuple]:
    tasks: list[tuple] = []
    monkeypatch.setattr(liveness, "send_task_named", lambda name, **options: tasks.append((name, options["args"])))
    return tasks


def aged(run: MetricRun, seconds: float) -> MetricRun:
    MetricRun.objects.filter(pk=run.pk).update(requested_at=timezone.now() - timedelta(seconds=seconds))
    return run


def test_a_queued_request_whose_task_was_lost_is_sent_again_once(sent, django_capture_on_commit_callbacks):
    lost = aged(MetricRun.objects.create(status=MetricRun.Status.QUEUED), settings.BALOO_METRICS_DEBOUNCE_SECONDS + 61)

    with django_capture_on_commit_callbacks(execute=True):
        assert metrics_requests_resend() == [lost.pk]
    assert sent == [("metrics.recompute_queued", [lost.pk])]

    # The next tick, a minute later at most, does not send it again while the resent task waits.
    with django_capture_on_commit_callbacks(execute=True):
        assert metrics_requests_resend() == []
    assert len(sent) == 1


def test_a_fresh_request_waits_for_its_own_task(sent, django_capture_on_commit_callbacks):
    aged(MetricRun.objects.create(status=MetricRun.Status.QUEUED), settings.BALOO_METRICS_DEBOUNCE_SECONDS + 5)
    with django_capture_on_commit_callbacks(execute=True):
        assert metrics_requests_resend() == []
    assert sent == []


def test_the_beat_task_is_scheduled_every_minute_off_the_metrics_queue():
    entry = settings.CELERY_BEAT_SCHEDULE["resend-stale-metric-requests"]
    assert (entry["task"], entry["schedule"]) == ("metrics.requests_resend", 60.0)
    assert settings.CELERY_TASK_ROUTES["metrics.requests_resend"] == {"queue": "celery"}


@on_postgresql
def test_a_running_run_whose_worker_died_is_sent_again(sent, django_capture_on_commit_callbacks):
    dead = aged(MetricRun.objects.create(status=MetricRun.Status.RUNNING, started_at=timezone.now()), 120)
    partitioned = aged(MetricRun.objects.create(status=MetricRun.Status.RUNNING, parts=3), 120)

    with django_capture_on_commit_callbacks(execute=True):
        assert metrics_requests_resend() == [dead.pk]
    # A partitioned run recovers through its parts' own redelivery.
    assert sent == [("metrics.recompute_queued", [dead.pk])]
    assert partitioned.pk not in [args[0] for _name, args in sent]


@on_postgresql
def test_a_running_run_whose_worker_lives_is_left_alone(sent, django_capture_on_commit_callbacks):
    aged(MetricRun.objects.create(status=MetricRun.Status.RUNNING, started_at=timezone.now()), 120)
    worker = psycopg2.connect(
        dbname=connection.settings_dict["NAME"], user=connection.settings_dict["USER"],
        host=connection.settings_dict["HOST"], port=connection.settings_dict["PORT"] or 5432,
        password=connection.settings_dict["PASSWORD"] or None,
    )
    try:
        # The live worker holds the recompute lock while it counts.
        worker.cursor().execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        with django_capture_on_commit_callbacks(execute=True):
            assert metrics_requests_resend() == []
    finally:
        worker.close()
    assert sent == []
