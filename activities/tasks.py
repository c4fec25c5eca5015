"""Celery tasks for activities. Thin: look up, call one service."""

from functools import partial

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from .connectors import has_connector
from .models import Source, SyncRun
from .services import activities_ingest
from .sync import run_summary, source_sync, syncs_claim_due, syncs_resume_lost


@shared_task(name="activities.ingest_records")
def ingest_records(records: list[dict], create_sources: bool = False) -> dict:
    """Ingest a batch of activity records (the common schema) and report what happened."""
    return activities_ingest(records=enumerate(records), create_sources=create_sources).as_dict()


@shared_task(bind=True, name="activities.sync_source", max_retries=None, acks_late=True)
def sync_source(self, slug: str, trigger: str = "schedule") -> dict | None:
    """Sync one source now; after a rate limit, come back at its reset instead of waiting in a worker."""
    source = Source.objects.filter(slug=slug, enabled=True).first()
    if source is None or not has_connector(source.kind):
        return None
    run = source_sync(source=source, trigger=trigger)
    # In-process runs (eager, or called directly) report the deferral instead.
    in_worker = not (self.request.is_eager or self.request.called_directly)
    if run.status == SyncRun.Status.DEFERRED and run.resume_at and in_worker:
        raise self.retry(countdown=max(1, int((run.resume_at - timezone.now()).total_seconds())))
    return run_summary(run)


@shared_task(name="activities.enqueue_due_syncs")
def enqueue_due_syncs() -> list[str]:
    """Beat runs this every 30 seconds: it resumes the sources whose sync died with its worker, and
    enqueues one `sync_source` per source whose schedule is due."""
    lost = syncs_resume_lost()
    for slug in lost:
        transaction.on_commit(partial(sync_source.delay, slug, "resume"))
    slugs = syncs_claim_due()
    for slug in slugs:
        transaction.on_commit(partial(sync_source.delay, slug))
    return [*lost, *slugs]
