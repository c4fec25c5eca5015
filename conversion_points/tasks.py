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
    """Start a recompute asked for with `metrics_recompute_soon`; nothing to do if it has started or gone."""
    run = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.QUEUED).first()
    if run is None:
        return None
    run = metrics_recompute(run=run)
    return run.pk if run else None
