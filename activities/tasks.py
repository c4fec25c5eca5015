"""Celery tasks for activities. Thin: look up, call one service."""

from celery import shared_task

from .services import activities_ingest


@shared_task(name="activities.ingest_records")
def ingest_records(records: list[dict], create_sources: bool = False) -> dict:
    """Ingest a batch of activity records (the common schema) and report what happened."""
    result = activities_ingest(records=enumerate(records), create_sources=create_sources)
    return result.as_dict()
