"""Real processes for the scale-out and fault tests: a Redis server of their own, Celery workers, a web server.

Nothing here touches the machine's shared services: Redis runs on a free port with no disk, and
every process talks to pytest-django's PostgreSQL test database (`test_<name>`), which a second
process can open (the SQLite test database lives in memory, so these tests need PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.db import connection

PROJECT_DIR = Path(__file__).resolve().parents[2]
READY_SECONDS = 60
STARTED: list[Worker] = []  # every worker started, for no_stray_workers to stop

needs_postgresql_and_redis = pytest.mark.skipif(
    connection.vendor != "postgresql" or shutil.which("redis-server") is None,
    reason="needs PostgreSQL (DATABASE_URL=postgres://…) for other processes to share the test database, "
    "and redis-server on the PATH",
)


def wait_for(condition: Callable[[], bool], seconds: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def shared_test_database_url() -> str:
    """The URL of pytest-django's test database, for other processes."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}{port}/{quote(db['NAME'], safe='')}"


@dataclass
class RedisServer:
    """A throw-away redis-server on a free port: it can be stopped and started without harming anyone."""

    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        assert wait_for(self.ping, 10), "the test's redis-server did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def ping(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_connect_timeout=0.5) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def process_env(broker: RedisServer, **extra: str) -> dict[str, str]:
    """The environment of a worker or web process: the test database, the test broker, quick redelivery."""
    return {
        **os.environ,
        "DATABASE_URL": shared_test_database_url(),
        "CELERY_BROKER_URL": broker.url,
        "CELERY_RESULT_BACKEND": broker.url.rsplit("/", 1)[0] + "/1",
        # A task whose worker was killed comes back after 3 s (production: an hour), swept every second.
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_BROKER_TRANSPORT_OPTIONS": '{"unacked_restore_interval": 1, "unacked_restore_throttle": 1}',
        "BALOO_METRICS_DEBOUNCE_SECONDS": "0",
        "DJANGO_LOG_FORMAT": "plain",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no chance to finish, acknowledge or give anything back."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(broker: RedisServer, log: Path, *, queues: str = "sync,ingest,metrics,celery", name: str = "w1", **env: str) -> Worker:
    """One `celery worker` process (solo pool: one task at a time, so SIGKILL hits the task itself)."""
    handle = log.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "baloo_site", "worker", "--pool=solo", "--queues", queues,
         "--hostname", f"{name}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=PROJECT_DIR, env=process_env(broker, **env), stdout=handle, stderr=subprocess.STDOUT,
    )
    worker = Worker(process, log)
    STARTED.append(worker)
    ready = wait_for(lambda: "ready." in worker.text() or process.poll() is not None, READY_SECONDS)
    assert ready and process.poll() is None, f"worker {name} did not start:\n{worker.text()}"
    return worker


def sender(broker: RedisServer) -> Celery:
    """A Celery app of the test's own, for sending tasks and reading results (the project's is eager in tests)."""
    app = Celery("baloo-test-sender", broker=broker.url, backend=broker.url.rsplit("/", 1)[0] + "/1", set_as_current=False)
    app.conf.task_routes = settings.CELERY_TASK_ROUTES  # the production queues
    return app
