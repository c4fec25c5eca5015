"""Celery task of the weekly digest (scheduled in baloo_site/celery_beat.py; `send_weekly_digest` runs it now)."""

from celery import shared_task

from .digest import digest_send
from .forms import latest_complete_sunday


@shared_task(name="desk.send_weekly_digest")
def send_weekly_digest() -> dict[str, int]:
    """Send each area owner the digest of the latest complete week; safe to run twice (never sent twice)."""
    report = digest_send(week_end=latest_complete_sunday())
    return {"sent": len(report.sent), "nothing": len(report.nothing), "already": len(report.already), "failed": len(report.failed)}
