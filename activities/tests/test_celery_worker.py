"""A real Celery worker, fed through a real broker, ingests activities into the database.

Every other test runs tasks in-process (see the root conftest.py); this one proves the deployed path:
a message on the broker, a separate `celery -A baloo_site worker` process, rows committed in
PostgreSQL. It needs a database a second process can open (pytest-django's SQLite test database
lives in memory) and a broker: `.ci/run` gives both.
"""

import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.db import connection

from activities.models import Activity, Source

BROKER_URL = os.environ.get("BALOO_TEST_BROKER_URL", "")
PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKER_READY_SECONDS = 60
INGEST_SECONDS = 60

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(
        not BROKER_URL or connection.vendor != "postgresql",
        reason="needs PostgreSQL and a broker: set DATABASE_URL=postgres://… and "
        "BALOO_TEST_BROKER_URL=redis://… (the second run of .ci/run does)",
    ),
]


def _test_database_url() -> str:
    """The URL of pytest-django's test database (`test_<name>`), for the worker process."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return condition()


def _forget_queue(queue: str) -> None:
    """Remove what the throw-away queue left on a Redis broker (kombu keeps its bindings in keys)."""
    if BROKER_URL.startswith(("redis://", "rediss://")):
        # Tidying must never hide the test's own failure, such as a broker that is down.
        with contextlib.suppress(redis.RedisError), redis.Redis.from_url(BROKER_URL) as broker:
            broker.delete(queue, *broker.keys(f"_kombu.binding*.{queue}"))


def _record(external_id: str, email: str, occurred_at: str) -> dict:
    return {
        "source": "git-demo",
        "external_id": external_id,
        "type": "git.commit.authored",
        "occurred_at": occurred_at,
        "actor": {"email": email, "name": email.split("@")[0].title()},
        "container": "mozilla/baloo",
        "url": f"https://example.org/mozilla/baloo/commit/{external_id}",
        "title": "A commit",
        "data": {"sha": external_id},
    }


@pytest.mark.django_db(transaction=True)
def test_worker_ingests_records_sent_through_the_broker(tmp_path):
    source = Source.objects.create(slug="git-demo", kind="git", name="Git")
    records = [
        _record("c0ffee01", "ann@example.org", "2024-05-01T12:03:00+02:00"),
        _record("c0ffee02", "bob@example.org", "2024-05-02T08:00:00Z"),
    ]
    # A queue of its own: messages left on the broker by an earlier, interrupted run are never read.
    queue = f"baloo-test-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "baloo_site", "worker", "--pool=solo", "--concurrency=1",
             "--queues", queue, "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    # A sender of its own, so the project's app (eager in tests) is left untouched.
    sender = Celery("baloo-test-sender", broker=BROKER_URL, set_as_current=False)
    try:
        ready = _wait_for(lambda: "ready." in log_path.read_text() or worker.poll() is not None, WORKER_READY_SECONDS)
        assert ready and worker.poll() is None, f"the worker did not start; its log:\n{log_path.read_text()}"

        sender.send_task("activities.ingest_records", args=[records], kwargs={"create_sources": False}, queue=queue)

        ingested = _wait_for(lambda: Activity.objects.filter(source=source).count() >= len(records), INGEST_SECONDS)
        assert ingested, f"no activities after {INGEST_SECONDS} s; worker log:\n{log_path.read_text()}"
        assert sorted(Activity.objects.filter(source=source).values_list("external_id", flat=True)) == [
            "c0ffee01",
            "c0ffee02",
        ]
        assert Activity.objects.count() == 2
        assert not Activity.objects.filter(identity=None).exists(), "every activity belongs to its actor's identity"
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        sender.close()
        _forget_queue(queue)
