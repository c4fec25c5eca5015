"""Celery tasks for people. Thin: call one service."""

from celery import shared_task

from .suggestions import suggestions_refresh


@shared_task(name="contributors.suggest_merges")
def suggest_merges() -> int:
    """Nightly: new merge suggestions for staff to review."""
    return suggestions_refresh()
