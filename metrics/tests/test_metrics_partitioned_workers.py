"""The partitioned recompute on real Celery workers (PostgreSQL and Redis): 1, 2 and 3 worker
processes share the shares of the persons and give exactly the one-task numbers; a worker killed
in the middle of its part has that part counted again by another, and nothing is counted twice.

To be sure every worker holds a part at once, the test locks the staff periods table while the
parts start: each part blocks on reading its persons' staff periods (after fetching its rows),
then all go on when the lock is released.
"""

import os
import re
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from baloo_site.tests.processes import (
    STARTED,
    needs_postgresql_and_redis,
    redis_server,
    sender,
    start_worker,
    wait_for,
)
from contributors.models import StaffPeriod
from metrics.engine import metrics_recompute
from metrics.models import MetricPart, MetricRun

from .test_metrics_partitioned import published

pytestmark = [pytest.mark.celery_worker, needs_postgresql_and_redis, pytest.mark.django_db(transaction=True)]

SHARES = 3
SECONDS = 120
RECEIVED = "Task metrics.recompute_part["


@pytest.fixture
def stop_workers() -> Iterator[None]:
    yield
    while STARTED:
        STARTED.pop().stop()


@pytest.fixture
def one_task(stop_workers) -> dict:
    """The demo community, counted by the one-task recompute (seed_demo's last step)."""
    with open(os.devnull, "w") as out:
        call_command("seed_demo", people=80, stdout=out)
    assert StaffPeriod.objects.exists()
    return published(MetricRun.objects.get(status=MetricRun.Status.COMPLETE))


def _partitioned_run() -> MetricRun | None:
    return MetricRun.objects.filter(status=MetricRun.Status.COMPLETE, parts__gt=0).first()


def _recompute_on_workers(tmp_path, workers: int, *, kill: bool = False) -> tuple[MetricRun | None, list, str]:
    """The nightly task sent to `workers` worker processes; with `kill`, the first is SIGKILLed while it holds a part."""
    with redis_server() as broker:
        env = {"CELERY_RESULT_BACKEND": "", "BALOO_METRICS_PARTS": str(SHARES)}
        started = [
            start_worker(broker, tmp_path / f"w{n}.log", queues="metrics", name=f"part{n}", **env)
            for n in range(1, workers + 1)
        ]
        app = sender(broker)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {StaffPeriod._meta.db_table} IN ACCESS EXCLUSIVE MODE")
                app.send_task("metrics.recompute_nightly")
                holding = min(workers, SHARES)
                assert wait_for(lambda: sum(w.text().count(RECEIVED) for w in started) >= holding, SECONDS), (
                    "the workers did not take the parts:\n" + "\n".join(w.text() for w in started)
                )
                if kill:
                    assert RECEIVED in started[0].text()
                    started[0].kill()  # mid-part: its staff periods not read yet, nothing counted
            finished = wait_for(lambda: _partitioned_run() is not None, SECONDS)
        finally:
            for worker in started:
                worker.stop()
            app.close()
    logs = "\n".join(worker.text() for worker in started)
    assert finished, f"the partitioned run was not swapped in:\n{logs}"
    return _partitioned_run(), started, logs


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_real_workers_share_the_persons_and_match_one_task(one_task, tmp_path, workers):
    run, started, logs = _recompute_on_workers(tmp_path, workers)
    assert run.stats["mode"] == "partitioned" and run.parts == SHARES and len(run.stats["parts"]) == SHARES
    assert published(run) == one_task, logs
    assert len(run.stats["workers"]) == workers, run.stats  # every worker counted a share
    # The plan read the rows once and split them: each worker read its share's file, none scanned the table.
    assert run.stats["split_s"] is not None and {part["rows_from"] for part in run.stats["parts"].values()} == {"split"}
    assert MetricRun.objects.exclude(status=MetricRun.Status.QUEUED).get() == run  # the one-task run is gone
    assert not MetricPart.objects.exists()
    for worker in started:
        assert "succeeded" in worker.text()
    # The parts left their shares of the incremental cache (the workers share the cache folder), and
    # the swap combined them: the next update starts from it, not from a full recompute in one worker.
    assert run.cache_key, logs
    update = metrics_recompute(incremental=True)
    assert (update.stats["mode"], update.stats["cache"]) == ("incremental", "disk"), update.stats
    assert published(update) == one_task


def test_a_worker_killed_mid_part_has_its_part_counted_again_and_nothing_twice(one_task, tmp_path):
    run, started, logs = _recompute_on_workers(tmp_path, 3, kill=True)
    assert published(run) == one_task, logs
    killed = started[0].text()
    # It may have run the nightly task that planned the parts; it finished no part.
    assert not re.search(r"recompute_part\[[^\]]*\] succeeded", killed) and RECEIVED in killed
    # Its part was redelivered to a surviving worker, which counted it: three parts, by the other two.
    assert len(run.stats["parts"]) == SHARES and sorted(run.stats["workers"]) == sorted(
        {one["worker"] for one in run.stats["parts"].values()}
    )
    assert not any(worker.startswith("part1@") for worker in run.stats["workers"]), run.stats
    assert len(run.stats["workers"]) == 2
