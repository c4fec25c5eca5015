"""No recompute request is ever stranded: beat resends the stale ones every minute.

A request for a recompute is a `queued` run plus a delayed task (`runs.metrics_recompute_soon`).
Two things can strand it, both seen in the production shape:
- the task never reaches a worker (the broker was down, or the worker was not yet running when
  `seed_demo` queued it, or a worker was killed while it held the delayed task: Redis gives it back
  only after its visibility timeout, an hour) — the run stays `queued`;
- the worker running a one-task recompute dies — the run stays `running`.

`metrics_requests_resend` (task `metrics.requests_resend`, every minute) sends the task again for
a queued run waiting longer than the debounce and a minute, and for a one-task run still `running`
while nobody holds the recompute lock (PostgreSQL frees an advisory lock with its session, so a free
lock means its worker is gone). If the lost task turns up after all, it finds the run started or
finished and does nothing. A partitioned run recovers by its own parts' redelivery (`partitioned`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from baloo_site.bulk import is_postgresql
from metrics.models import MetricRun

from .runs import LOCK_KEY, QUEUED_TASK, send_task_named

# How long past its debounce a queued run waits before its task is sent again; and how often a
# dead run's task is sent again while the first resend waits in a busy queue.
RESEND_AFTER = timedelta(seconds=60)


def metrics_requests_resend(*, now: datetime | None = None) -> list[int]:
    """Send again the task of every stranded recompute request; the ids of the runs resent."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.BALOO_METRICS_DEBOUNCE_SECONDS) - RESEND_AFTER
    resent = []
    for run_id in MetricRun.objects.filter(status=MetricRun.Status.QUEUED, requested_at__lt=stale).values_list("pk", flat=True):
        if MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.QUEUED, requested_at__lt=stale).update(requested_at=now):
            resent.append(run_id)
    resent.extend(_dead_runs_claim(now=now))
    for run_id in resent:
        transaction.on_commit(lambda run_id=run_id: send_task_named(QUEUED_TASK, args=[run_id]), robust=True)
    return resent


def _dead_runs_claim(*, now: datetime) -> list[int]:
    """One-task runs marked `running` whose worker is gone (PostgreSQL only: see the module's text)."""
    if not is_postgresql():
        # Embedded (SQLite): tasks run in the web process, so no worker dies apart from it.
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        (free,) = cursor.fetchone()
    if not free:
        return []
    try:
        # Holding the lock ourselves, no one-task recompute can be live: every `running` one is dead.
        dead = MetricRun.objects.filter(status=MetricRun.Status.RUNNING, parts=0, requested_at__lt=now - RESEND_AFTER)
        claimed = []
        for run_id in dead.values_list("pk", flat=True):
            if MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).update(requested_at=now):
                claimed.append(run_id)
        return claimed
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
