"""Celery tasks of the metrics engine: thin wrappers that call one service each."""

from celery import shared_task

from metrics.models import MetricRun

from .metrics import metrics_recompute, metrics_recompute_part, metrics_recompute_partitioned, metrics_recompute_soon


@shared_task(acks_late=True)
def recompute_metrics() -> int | None:
    """Recompute every series now, in this one task (`manage.py recompute_metrics` does the same)."""
    run = metrics_recompute()
    return run.pk if run else None


@shared_task(bind=True, acks_late=True)
def recompute_metrics_nightly(self) -> int | None:
    """The nightly full recompute: shared by the workers (one task per part) when a broker is configured.

    With tasks run in-process (no broker) there is no one to share with: one task does it all,
    and leaves the cache the incremental updates start from.
    """
    run = metrics_recompute() if self.app.conf.task_always_eager else metrics_recompute_partitioned()
    return run.pk if run else None


@shared_task(acks_late=True)
def recompute_metrics_new_day() -> int:
    """A new UTC day: ask for a recompute, which counts the summary as of today (an incremental one
    when the cache allows; coalesced with any ingestion's)."""
    return metrics_recompute_soon().pk


@shared_task(bind=True, acks_late=True)
def recompute_metrics_part(self, run_id: int, part: str) -> bool:
    """Count one part of a partitioned recompute; the last part written swaps the run in.

    Redelivered (its worker was killed), it writes its part again; a part of a run that failed,
    was overtaken or removed does nothing.
    """
    return metrics_recompute_part(run_id, part, worker=self.request.hostname or "")


@shared_task(acks_late=True)
def recompute_metrics_queued(run_id: int) -> int | None:
    """Start a recompute asked for with `metrics_recompute_soon`; nothing to do if it has started or gone.

    Incremental: it updates the latest run with what changed since (new activities, merges, flags),
    or recomputes in full when that cannot be vouched for (rules changed, activities deleted…).
    """
    # A `running` run is passed on too: redelivered after its worker was killed, it starts again
    # (`metrics_recompute` tells a dead run from a live one under its lock).
    run = MetricRun.objects.filter(pk=run_id, status__in=[MetricRun.Status.QUEUED, MetricRun.Status.RUNNING]).first()
    if run is None:
        return None
    run = metrics_recompute(run=run, incremental=True)
    return run.pk if run else None
