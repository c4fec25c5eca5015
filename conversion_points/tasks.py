"""Celery tasks of the metrics engine: thin wrappers that call one service each."""

from celery import shared_task

from .metrics import metrics_recompute
from .models import MetricRun


@shared_task(acks_late=True)
def recompute_metrics() -> int | None:
    """Recompute every series now (the nightly full recompute)."""
    run = metrics_recompute()
    return run.pk if run else None


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
