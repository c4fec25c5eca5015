"""Periodic jobs, declared in code (read by settings as CELERY_BEAT_SCHEDULE). Each has a command that runs it now."""

from celery.schedules import crontab

from activities.schedule import SYNC_BEAT_SCHEDULE

CELERY_BEAT_SCHEDULE = {
    # Source syncs (`manage.py sync_sources` runs them now): see activities/schedule.py.
    **SYNC_BEAT_SCHEDULE,
    # Nightly full recompute of every metric series, so merges, staff flags and rule changes
    # made during the day always show by morning (`manage.py recompute_metrics` runs it now).
    # With a broker it is shared by the metrics workers, one task per part of the scopes.
    "recompute-metrics-nightly": {
        "task": "metrics.recompute_nightly",
        "schedule": crontab(hour=2, minute=30),
    },
    # Every minute: a recompute asked for whose task was lost (the broker was down, no worker was
    # running yet, a worker was killed holding it) or whose worker died is sent again, so new
    # activities never wait for the next event to be counted (metrics/engine/liveness.py).
    "resend-stale-metric-requests": {
        "task": "metrics.requests_resend",
        "schedule": 60.0,
    },
    # Just after midnight UTC: a recompute, so the summary "as of today" is counted for the new day
    # (each run stores it for the day it runs on; until then readers answer with yesterday's,
    # dated yesterday). Debounced and coalesced with ingestion's (`manage.py recompute_metrics` runs one now).
    "recompute-metrics-new-day": {
        "task": "metrics.recompute_new_day",
        "schedule": crontab(hour=0, minute=0),
    },
    # Nightly merge suggestions for staff to review (`manage.py suggest_merges` runs it now).
    "suggest-merges-nightly": {
        "task": "contributors.suggest_merges",
        "schedule": crontab(hour=2, minute=0),
    },
    # Monday 06:00 UTC: each area owner's weekly digest of the week that just ended (new, about to
    # lapse, lapsed). Never sent twice for a week, however often it fires (`manage.py send_weekly_digest`).
    "send-weekly-digest": {
        "task": "desk.send_weekly_digest",
        "schedule": crontab(day_of_week="mon", hour=6, minute=0),
    },
}
