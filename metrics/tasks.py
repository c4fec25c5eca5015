"""Celery tasks of the metrics engine: thin wrappers that call one service each.

Each task has an explicit name, `metrics.<what it does>`, routed to the `metrics` queue. Until #17
they lived in `conversion_points.tasks` under the names Celery gave them there
(`conversion_points.tasks.recompute_metrics_queued`…): every task is registered under its old name
too, for one release, so tasks queued before an upgrade still run.
"""

from collections.abc import Callable
from typing import Any

from celery import shared_task

from .engine import (
    metrics_recompute,
    metrics_recompute_part,
    metrics_recompute_partitioned,
    metrics_recompute_soon,
    metrics_requests_resend,
    metrics_update_queued,
)

OLD_NAMES_PREFIX = "conversion_points.tasks."


def metrics_task(name: str, *, old_name: str, **options: Any) -> Callable:
    """`shared_task` named `name`, also registered as `old_name` (remove the old names after one release)."""

    def register(function: Callable) -> Any:
        shared_task(name=OLD_NAMES_PREFIX + old_name, **options)(function)
        return shared_task(name=name, **options)(function)

    return register


@metrics_task("metrics.recompute", old_name="recompute_metrics", acks_late=True)
def recompute_metrics() -> int | None:
    """Recompute every series now, in this one task (`manage.py recompute_metrics` does the same)."""
    run = metrics_recompute()
    return run.pk if run else None


@metrics_task("metrics.recompute_nightly", old_name="recompute_metrics_nightly", bind=True, acks_late=True)
def recompute_metrics_nightly(self) -> int | None:
    """The nightly full recompute: shared by the workers (one task per part) when a broker is configured.

    With tasks run in-process (no broker) there is no one to share with: one task does it all,
    and leaves the cache the incremental updates start from.
    """
    run = metrics_recompute() if self.app.conf.task_always_eager else metrics_recompute_partitioned()
    return run.pk if run else None


@metrics_task("metrics.recompute_new_day", old_name="recompute_metrics_new_day", acks_late=True)
def recompute_metrics_new_day() -> int:
    """A new UTC day: ask for a recompute, which counts the summary as of today (an incremental one
    when the cache allows; coalesced with any ingestion's)."""
    return metrics_recompute_soon().pk


@metrics_task("metrics.recompute_part", old_name="recompute_metrics_part", bind=True, acks_late=True)
def recompute_metrics_part(self, run_id: int, part: str) -> bool:
    """Count one part of a partitioned recompute; the last part written swaps the run in.

    Redelivered (its worker was killed), it writes its part again; a part of a run that failed,
    was overtaken or removed does nothing.
    """
    return metrics_recompute_part(run_id, part, worker=self.request.hostname or "")


@metrics_task("metrics.recompute_queued", old_name="recompute_metrics_queued", acks_late=True)
def recompute_metrics_queued(run_id: int) -> int | None:
    """Start a recompute asked for with `metrics_recompute_soon`; nothing to do if it has started or gone.

    Incremental: it updates the latest run with what changed since (new activities, merges, flags),
    or recomputes in full when that cannot be vouched for (rules changed, activities deleted…).
    While the nightly partitioned run is being counted it asks again a few seconds later instead.
    """
    run = metrics_update_queued(run_id)
    return run.pk if run else None


@shared_task(name="metrics.requests_resend")
def requests_resend() -> list[int]:
    """Beat, every minute: send again the task of a recompute request stranded by a lost task or a dead worker."""
    return metrics_requests_resend()
