"""Beat entries for syncing sources, for baloo_site/celery_beat.py to merge into its schedule."""

SYNC_BEAT_SCHEDULE = {
    # Every 30 seconds: resume the sources whose sync died with its worker (its lock lapsed), and
    # enqueue a sync for each source whose own schedule (`schedule_minutes`) is due.
    "activities-enqueue-due-syncs": {"task": "activities.enqueue_due_syncs", "schedule": 30.0},
}
