"""The metrics tasks answer to their explicit names, and for one release to the names they had before."""

import pytest
from celery import current_app

from baloo_site.celery_beat import CELERY_BEAT_SCHEDULE
from metrics import tasks
from metrics.models import MetricRun

NAMES = {
    "metrics.recompute": "conversion_points.tasks.recompute_metrics",
    "metrics.recompute_nightly": "conversion_points.tasks.recompute_metrics_nightly",
    "metrics.recompute_new_day": "conversion_points.tasks.recompute_metrics_new_day",
    "metrics.recompute_part": "conversion_points.tasks.recompute_metrics_part",
    "metrics.recompute_queued": "conversion_points.tasks.recompute_metrics_queued",
}


def test_every_task_has_its_explicit_name_and_its_old_one():
    assert {tasks.recompute_metrics_queued.name, tasks.recompute_metrics_nightly.name} <= set(NAMES)
    for name, old_name in NAMES.items():
        assert current_app.tasks[name].run.__name__ == current_app.tasks[old_name].run.__name__


def test_the_beat_schedule_names_the_new_tasks():
    scheduled = {entry["task"] for key, entry in CELERY_BEAT_SCHEDULE.items() if "metrics" in key}
    assert scheduled == {"metrics.recompute_nightly", "metrics.recompute_new_day"}


@pytest.mark.django_db
def test_a_task_queued_under_its_old_name_before_the_upgrade_still_runs():
    queued = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
    result = current_app.tasks["conversion_points.tasks.recompute_metrics_queued"].apply(args=[queued.pk]).get()
    assert result == queued.pk
    assert MetricRun.objects.get(pk=queued.pk).status == MetricRun.Status.COMPLETE
