"""The partitioned recompute: parts counted apart (on several workers) give exactly what one task gives.

A part that raises leaves the previous run the current one; a part written twice (redelivered) or in
any order changes nothing; parts of a run that was superseded do nothing. The last test starts two
real `celery worker` processes (PostgreSQL and Redis) and checks that both counted parts.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baloo_site.celery_beat import CELERY_BEAT_SCHEDULE
from conversion_points.models import ConversionPoint
from metrics import tasks
from metrics.engine import (
    metrics_partition_plan,
    metrics_recompute,
    metrics_recompute_part,
    metrics_recompute_partitioned,
    partitioned,
)
from metrics.models import AreaMovement, MetricPoint, MetricRun, Overlap
from metrics.selectors import metric_run_latest as latest_run

from .test_metrics import build, worlds
from .test_metrics_incremental import everything


def current() -> MetricRun:
    return MetricRun.objects.get(status=MetricRun.Status.COMPLETE)


def quiet() -> object:
    return open(os.devnull, "w")  # noqa: SIM115


@pytest.fixture
def demo(db):
    """The demo community (seed_demo), with its one-task run current."""
    with quiet() as out:
        call_command("seed_demo", people=60, stdout=out)
    return current()


def test_the_partitioned_recompute_equals_one_task_on_the_demo(demo):
    one_task = everything(metrics_recompute())
    points = ConversionPoint.objects.filter(enabled=True).count()
    run = metrics_recompute_partitioned(points_per_part=2)
    assert run.status == MetricRun.Status.COMPLETE and run.stats["mode"] == "partitioned"
    assert run.parts == 2 + (points + 1) // 2 and sorted(run.parts_done) == sorted(run.plan["parts"])
    assert everything(run) == one_task
    assert one_task["series"] and any(key[0].startswith("cp:") for key in one_task["series"])
    assert run.stats["points"] == MetricPoint.objects.filter(run=run).count()
    assert latest_run() == run  # swapped in, older runs removed (a queued request stays)
    assert MetricRun.objects.exclude(status=MetricRun.Status.QUEUED).get() == run
    # And back: the one-task recompute after it gives the same numbers again.
    assert everything(metrics_recompute()) == one_task


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds(), points_per_part=st.integers(1, 3))
def test_the_partitioned_recompute_equals_one_task_on_random_worlds(world, points_per_part):
    build(world)
    one_task = everything(metrics_recompute())
    run = metrics_recompute_partitioned(points_per_part=points_per_part)
    assert run.status == MetricRun.Status.COMPLETE
    assert everything(run) == one_task


def test_a_part_raising_an_error_leaves_the_previous_run_current(demo, monkeypatch):
    previous = everything(demo)
    count = partitioned.metrics_compute_state

    def sources_crash(**kwargs):
        if "source" in kwargs["families"]:
            raise RuntimeError("worker lost")
        return count(**kwargs)

    monkeypatch.setattr(partitioned, "metrics_compute_state", sources_crash)
    with pytest.raises(RuntimeError, match="worker lost"):
        metrics_recompute_partitioned(points_per_part=2)
    assert current() == demo and latest_run() == demo and everything(demo) == previous
    failed = MetricRun.objects.get(status=MetricRun.Status.FAILED)
    assert failed.error == "part sources: RuntimeError: worker lost"
    assert "all-areas" in failed.plan["parts"]  # written before the crash, then dropped with the run
    for model in (MetricPoint, Overlap, AreaMovement):
        assert not model.objects.filter(run=failed).exists()
    # The parts still in the queue find the run failed and do nothing.
    monkeypatch.undo()
    assert metrics_recompute_part(failed.pk, "points-1") is False
    assert current() == demo and MetricRun.objects.get(pk=failed.pk).status == MetricRun.Status.FAILED


def test_parts_in_any_order_and_written_twice_give_the_same_run(demo):
    one_task = everything(metrics_recompute())
    run = metrics_partition_plan(points_per_part=1)
    parts = list(reversed(run.plan["parts"]))
    assert parts[-1] == "all-areas"
    for part in parts[:-1]:
        assert metrics_recompute_part(run.pk, part, worker="w1")
    # Redelivered after its worker died having written: written again, never twice.
    assert metrics_recompute_part(run.pk, parts[0], worker="w2")
    run.refresh_from_db()
    assert run.status == MetricRun.Status.RUNNING and current() != run  # not every part is written yet
    assert metrics_recompute_part(run.pk, "all-areas", worker="w2")
    run.refresh_from_db()
    assert run.status == MetricRun.Status.COMPLETE and current() == run
    assert everything(run) == one_task
    assert run.stats["workers"] == ["w1", "w2"] and run.stats["parts"][parts[0]]["worker"] == "w2"
    # A part redelivered after the swap changes nothing.
    assert metrics_recompute_part(run.pk, parts[0]) is False
    assert everything(run) == one_task


def test_parts_of_a_superseded_run_do_nothing(demo):
    older = metrics_partition_plan()
    assert metrics_recompute_part(older.pk, "all-areas")
    newer = metrics_recompute()  # started after it: its swap removes the unfinished older run
    assert not MetricRun.objects.filter(pk=older.pk).exists()
    assert metrics_recompute_part(older.pk, "sources") is False
    assert current() == newer


def test_a_run_started_later_and_still_running_is_kept_by_a_swap(demo):
    later = metrics_partition_plan()
    MetricRun.objects.filter(pk=later.pk).update(started_at=timezone.now() + timedelta(seconds=5))
    one_task = metrics_recompute()
    assert MetricRun.objects.get(pk=later.pk).status == MetricRun.Status.RUNNING
    for part in later.plan["parts"]:
        metrics_recompute_part(later.pk, part)
    assert current().pk == later.pk and not MetricRun.objects.filter(pk=one_task.pk).exists()


def test_a_run_overtaken_by_a_newer_complete_one_is_dropped(demo):
    run = metrics_partition_plan()
    MetricRun.objects.filter(pk=demo.pk).update(started_at=timezone.now() + timedelta(seconds=5))
    for part in run.plan["parts"]:
        metrics_recompute_part(run.pk, part)
    assert not MetricRun.objects.filter(pk=run.pk).exists() and current() == demo


def test_a_rule_change_during_the_run_fails_it(demo):
    run = metrics_partition_plan()
    assert metrics_recompute_part(run.pk, "all-areas")
    ConversionPoint.objects.filter(pk=run.plan["parts"]["points-1"]["points"][0]).update(level="core")
    with pytest.raises(RuntimeError, match="the rules changed"):
        metrics_recompute_part(run.pk, "sources")
    assert MetricRun.objects.get(pk=run.pk).status == MetricRun.Status.FAILED and current() == demo


def test_an_empty_database_gives_a_complete_partitioned_run(db):
    run = metrics_recompute_partitioned()
    assert run.status == MetricRun.Status.COMPLETE and run.latest_week is None
    assert run.parts == 2 and not MetricPoint.objects.exists()


def test_the_nightly_task_is_shared_with_a_broker_and_one_task_without(demo, monkeypatch):
    assert CELERY_BEAT_SCHEDULE["recompute-metrics-nightly"]["task"] == tasks.recompute_metrics_nightly.name
    # Tasks in-process (no broker): one task does it all, and leaves the incremental cache.
    run = MetricRun.objects.get(pk=tasks.recompute_metrics_nightly.delay().get())
    assert run.stats["mode"] == "full" and run.parts == 0 and run.cache_key
    # With a broker: the partitioned recompute (here its parts are not sent anywhere).
    planned = []
    monkeypatch.setitem(tasks.recompute_metrics_nightly.app.conf, "task_always_eager", False)
    monkeypatch.setattr(tasks, "metrics_recompute_partitioned", lambda: planned.append(1) or metrics_partition_plan())
    tasks.recompute_metrics_nightly.apply()
    assert planned == [1]


# --------------------------------------------------------------------------- two real workers

BROKER_URL = os.environ.get("BALOO_TEST_BROKER_URL", "")


def _real_workers_possible() -> bool:
    return connection.vendor == "postgresql" and (bool(BROKER_URL) or shutil.which("redis-server") is not None)


@dataclass
class SharedBroker:
    """The broker BALOO_TEST_BROKER_URL names. Nothing on it is deleted: a task left there by an
    interrupted earlier run is a part of a run that is gone (it does nothing) or a nightly recompute
    (it counts the same data again)."""

    url: str


@pytest.fixture
def stop_workers() -> Iterator[None]:
    from baloo_site.tests.processes import STARTED

    yield
    while STARTED:
        STARTED.pop().stop()


@pytest.mark.celery_worker
@pytest.mark.skipif(
    not _real_workers_possible(),
    reason="needs PostgreSQL (DATABASE_URL=postgres://…) and a broker: BALOO_TEST_BROKER_URL or redis-server on the PATH",
)
@pytest.mark.django_db(transaction=True)
def test_two_celery_workers_share_the_parts_and_match_one_task(tmp_path, stop_workers):
    from celery import Celery
    from django.conf import settings as django_settings

    from baloo_site.tests.processes import redis_server, start_worker, wait_for

    with quiet() as out:
        call_command("seed_demo", people=80, stdout=out)  # its last step: the one-task recompute
    one_task_run = current()
    one_task = everything(one_task_run)

    with nullcontext(SharedBroker(BROKER_URL)) if BROKER_URL else redis_server() as broker:
        # No result backend: the test reads the outcome from the database.
        env = {"CELERY_RESULT_BACKEND": "", "BALOO_METRICS_PART_POINTS": "1"}
        workers = [
            start_worker(broker, tmp_path / f"w{n}.log", queues="metrics", name=f"part{n}", **env) for n in (1, 2)
        ]
        app = Celery("baloo-test-partitioned", broker=broker.url, set_as_current=False)
        app.conf.task_routes = django_settings.CELERY_TASK_ROUTES
        try:
            app.send_task("metrics.recompute_nightly")

            def swapped_in() -> bool:
                return MetricRun.objects.filter(status=MetricRun.Status.COMPLETE, parts__gt=0).exists()

            finished = wait_for(swapped_in, 120)
        finally:
            for worker in workers:
                worker.stop()
            app.close()
    logs = "\n".join(worker.text() for worker in workers)
    assert finished, f"the partitioned run was not swapped in:\n{logs}"
    run = current()
    assert run.pk != one_task_run.pk and run.parts >= 4
    assert not MetricRun.objects.filter(pk=one_task_run.pk).exists()
    assert everything(run) == one_task
    assert len(run.stats["workers"]) == 2, run.stats
    for worker in workers:
        assert "recompute_metrics_part" in worker.text() and "succeeded" in worker.text()
