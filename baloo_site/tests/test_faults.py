"""Faults, survived: a worker SIGKILLed mid-ingest, mid-sync and mid-recompute; the broker stopped
while the push API is used. Each ends with exactly the data that no fault would have left.

Real processes (see processes.py): a redis-server of the test's own on a spare port (the shared one
is never stopped), `celery worker` processes and a gunicorn web server on the PostgreSQL test database.
A PostgreSQL restart during an import is a script instead (bench/pg_restart.py): it needs a
cluster of its own, which is too heavy for the test suite.
"""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest
from django.utils import timezone

from activities.models import Activity, Source, SyncRun
from activities.services import activities_ingest
from activities.sync import LOCK_SECONDS, LOST_RUN
from activities.tests.builders import github_repo
from activities.tests.standin import FakeGitHub, Server
from activities.tokens import source_token_create
from contributors.models import Identity
from conversion_points.models import Area, ConversionPoint
from metrics.engine import metrics_recompute
from metrics.models import MetricPoint, MetricRun

from .processes import (
    PROJECT_DIR,
    free_port,
    needs_postgresql_and_redis,
    process_env,
    redis_server,
    sender,
    shared_test_database_url,
    start_worker,
    wait_for,
)

# How often beat runs `activities.enqueue_due_syncs` (activities/schedule.py).
BEAT_SECONDS = 30

pytestmark = [
    pytest.mark.celery_worker,
    needs_postgresql_and_redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_stray_workers"),
]

PEOPLE = 500
BIG_BATCH = 50_000  # three ingestion batches of 20,000: long enough to be killed in the middle
SECONDS = 180


def _records(count: int, *, prefix: str = "r") -> list[dict]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        {
            "source": "fault-git",
            "external_id": f"{prefix}{index}",
            "type": "git.commit.authored",
            "occurred_at": (start + timedelta(minutes=17 * index)).isoformat(),
            "actor": {"email": f"p{index % PEOPLE}@example.org"},
        }
        for index in range(count)
    ]


def _points(run: MetricRun) -> list[tuple]:
    return sorted(MetricPoint.objects.filter(run=run).values_list("scope", "population", "date", "active", "new", "lapsed"))


def test_worker_killed_mid_ingest_and_mid_recompute_loses_and_doubles_nothing(tmp_path):
    source = Source.objects.create(slug="fault-git", kind="git", name="Git")
    area = Area.objects.create(slug="code", name="Code")
    ConversionPoint.objects.create(slug="commits", area=area, source=source, types=["git.commit.authored"], level="active", name="Commits")
    records = _records(BIG_BATCH)

    with redis_server() as broker:
        app = sender(broker)
        worker = start_worker(broker, tmp_path / "first.log", name="first")
        result = app.send_task("activities.ingest_records", args=[records])
        # Killed once the first batch is committed and before the last one is.
        assert wait_for(lambda: Activity.objects.exists(), SECONDS, interval=0.05), worker.text()
        worker.kill()
        stored_at_kill = Activity.objects.count()
        assert 0 < stored_at_kill < BIG_BATCH, f"the kill came too late to be mid-ingest ({stored_at_kill} stored)"

        # The message was never acknowledged: the next worker gets it again and finishes the work.
        survivor = start_worker(broker, tmp_path / "second.log", name="second")
        outcome = result.get(timeout=SECONDS)
        assert outcome["created"] == BIG_BATCH - stored_at_kill
        assert outcome["duplicate"] == stored_at_kill
        assert sorted(Activity.objects.values_list("external_id", flat=True)) == sorted(r["external_id"] for r in records)
        assert Identity.objects.count() == PEOPLE
        # Like every way in, the finished ingest asked for a recompute: it runs to completion first.
        settled = wait_for(
            lambda: MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).exists()
            and not MetricRun.objects.filter(status__in=[MetricRun.Status.QUEUED, MetricRun.Status.RUNNING]).exists(),
            SECONDS,
        )
        assert settled, survivor.text()

        # A recompute asked for (queued), killed while running, is started again on redelivery. The
        # snapshot table is held locked meanwhile, so the kill lands after the counting and before
        # the writing, every time.
        survivor.kill()
        run = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
        blocker = psycopg2.connect(shared_test_database_url())
        blocker.cursor().execute(f"LOCK TABLE {MetricPoint._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        try:
            worker = start_worker(broker, tmp_path / "third.log", name="third")
            app.send_task("metrics.recompute_queued", args=[run.pk])
            running = wait_for(lambda: MetricRun.objects.filter(pk=run.pk, status=MetricRun.Status.RUNNING).exists(), SECONDS)
            assert running, worker.text()
            time.sleep(2)  # counting done, waiting to write
            worker.kill()
        finally:
            blocker.rollback()
            blocker.close()
        assert MetricRun.objects.get(pk=run.pk).status == MetricRun.Status.RUNNING

        worker = start_worker(broker, tmp_path / "fourth.log", name="fourth")
        finished = wait_for(lambda: MetricRun.objects.filter(pk=run.pk, status=MetricRun.Status.COMPLETE).exists(), SECONDS)
        worker.stop()
        app.close()
    assert finished, worker.text()
    recovered = _points(MetricRun.objects.get(pk=run.pk))
    reference = metrics_recompute()
    assert recovered and recovered == _points(reference)


def test_a_worker_killed_holding_the_delayed_recompute_task_strands_nothing(tmp_path):
    """Production shape: the broker gives a killed worker's unacknowledged task back only after its
    visibility timeout (an hour). Beat's resend check counts the waiting request anyway."""
    source = Source.objects.create(slug="fault-git", kind="git", name="Git")
    area = Area.objects.create(slug="code", name="Code")
    ConversionPoint.objects.create(slug="commits", area=area, source=source, types=["git.commit.authored"], level="active", name="Commits")
    activities_ingest(records=enumerate(_records(200)))
    MetricRun.objects.all().delete()  # the request ingestion made, sent to no broker
    hour = {"CELERY_VISIBILITY_TIMEOUT": "3600"}

    with redis_server() as broker:
        app = sender(broker)
        worker = start_worker(broker, tmp_path / "holder.log", name="holder", **hour)
        run = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
        # The delayed task (debounce): the worker holds it, unacknowledged, until its time comes.
        app.send_task("metrics.recompute_queued", args=[run.pk], countdown=30)
        assert wait_for(lambda: "metrics.recompute_queued[" in worker.text() and "] received" in worker.text(), SECONDS), worker.text()
        worker.kill()

        survivor = start_worker(broker, tmp_path / "survivor.log", name="survivor", **hour)
        # Stranded: nobody will run it for an hour.
        time.sleep(35)
        assert MetricRun.objects.get(pk=run.pk).status == MetricRun.Status.QUEUED

        # A minute past the debounce (made to pass here), beat's check sends the task again.
        MetricRun.objects.filter(pk=run.pk).update(requested_at=timezone.now() - timedelta(minutes=5))
        app.send_task("metrics.requests_resend")
        done = wait_for(lambda: MetricRun.objects.filter(pk=run.pk, status=MetricRun.Status.COMPLETE).exists(), SECONDS)
        survivor.stop()
        app.close()
    assert done, survivor.text()
    assert MetricPoint.objects.filter(run_id=run.pk, scope="all").exists()


def test_worker_killed_mid_sync_resumes_from_its_checkpoint(tmp_path):
    api = FakeGitHub()
    expected = github_repo(api, "fault/app", issues=3000, pulls=200, comments=3000, commits=1000)
    with Server(api) as url, redis_server() as broker:
        source = Source.objects.create(
            slug="github-fault", kind="github", name="GitHub", base_url=url, options={"repos": ["fault/app"], "backoff_seconds": 0}
        )
        app = sender(broker)
        worker = start_worker(broker, tmp_path / "first.log", name="first")
        app.send_task("activities.sync_source", args=["github-fault"])
        assert wait_for(lambda: Activity.objects.exists(), SECONDS, interval=0.05), worker.text()
        worker.kill()
        stored_at_kill = Activity.objects.count()
        assert 0 < stored_at_kill < sum(expected.values()), f"the kill came too late ({stored_at_kill} stored)"

        # Redelivered at once, the task finds the killed sync's lock still held and does nothing…
        worker = start_worker(broker, tmp_path / "second.log", name="second")
        assert wait_for(lambda: SyncRun.objects.filter(source=source, status=SyncRun.Status.SKIPPED).exists(), SECONDS)
        # …until the dead sync's lock lapses (nobody renews it: LOCK_SECONDS), when beat's task, every
        # 30 seconds, marks the dead run failed, saying why, and resumes the source from the last
        # committed checkpoint. Nobody touches the lock here.
        killed = time.monotonic()

        def beat_tick_resumed() -> bool:
            app.send_task("activities.enqueue_due_syncs")
            return SyncRun.objects.filter(source=source, status=SyncRun.Status.SUCCEEDED).exists()

        done = wait_for(beat_tick_resumed, LOCK_SECONDS + SECONDS, interval=BEAT_SECONDS)
        resumed_after = time.monotonic() - killed
        worker.stop()
        app.close()
    assert done, worker.text()
    # Within the lock's lapse and one beat tick, not after ten minutes.
    assert resumed_after < LOCK_SECONDS + 2 * BEAT_SECONDS + 30, resumed_after
    assert SyncRun.objects.filter(source=source, status=SyncRun.Status.FAILED, error=LOST_RUN).count() == 1
    assert not SyncRun.objects.filter(source=source, status=SyncRun.Status.RUNNING).exists()
    # Every activity of the repository, each once.
    assert Counter(Activity.objects.filter(source=source).values_list("type", flat=True)) == expected


def _post(url: str, body: list, token: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_push_while_the_broker_is_down_is_stored_and_the_recompute_is_sent_later(tmp_path):
    source = Source.objects.create(slug="fault-git", kind="git", name="Git")
    _token, secret = source_token_create(source=source, name="test")
    port = free_port()
    with redis_server() as broker:
        env = process_env(
            broker, DJANGO_DEBUG="false", DJANGO_SECRET_KEY="fault-test-" + "x" * 50, DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_SECURE_SSL_REDIRECT="false", BALOO_METRICS_DEBOUNCE_SECONDS="60", BALOO_RATE_LIMIT_PUSH="off",
        )
        log = (tmp_path / "web.log").open("w")
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "baloo_site.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            assert wait_for(lambda: _healthz(base) == 200, 60), (tmp_path / "web.log").read_text()
            status, answer = _post(f"{base}/api/v1/activities/", _records(100, prefix="up"), secret)
            assert (status, answer["created"]) == (200, 100)
            queued = MetricRun.objects.get(status=MetricRun.Status.QUEUED)

            broker.stop()
            assert _healthz(base) == 503  # the load balancer is told
            status, answer = _post(f"{base}/api/v1/activities/", _records(100, prefix="down"), secret)
            # Accepted and stored: the data are safe in PostgreSQL; only the recompute waits.
            assert (status, answer["created"]) == (200, 100), answer
            assert Activity.objects.filter(external_id__startswith="down").count() == 100

            # The broker lost its queue with it (no disk). Once it is back, the next push after the
            # queued recompute went stale sends it again.
            broker.start()
            MetricRun.objects.filter(pk=queued.pk).update(requested_at=timezone.now() - timedelta(hours=1))
            status, answer = _post(f"{base}/api/v1/activities/", _records(10, prefix="back"), secret)
            assert (status, answer["created"]) == (200, 10)
            worker = start_worker(broker, tmp_path / "worker.log")
            recomputed = wait_for(lambda: MetricRun.objects.filter(pk=queued.pk, status=MetricRun.Status.COMPLETE).exists(), SECONDS)
            worker.stop()
            assert recomputed, worker.text()
        finally:
            web.terminate()
            web.wait(timeout=30)
    assert Activity.objects.count() == 210


def _healthz(base: str) -> int:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0
