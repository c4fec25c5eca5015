"""Runs: a recompute written beside the current one and swapped in whole, and asking for one soon.

A run is written while `running`, then marked `complete` and older runs removed in one transaction
(under an advisory lock on PostgreSQL, so runs swap in the order they started): readers see the old
numbers or the new ones, never a mix, and a crash leaves the previous run. `metrics_recompute_soon`
keeps at most one `queued` run and sends its task after the commit, so many requests share one
recompute; it is what `metrics.services.counts_out_of_date`, the one door, calls.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.core.cache import cache as django_cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from baloo_site.bulk import copy_rows, is_postgresql
from conversion_points.models import Population
from metrics.calendar import week_sunday
from metrics.models import AreaMovement, CohortTable, MetricPoint, MetricRun, Overlap

from .as_of import as_of_public
from .cache import Cache, CacheUnusable, cache_clear, cache_dir, cache_held, cache_hold, count_full, count_incremental
from .cohorts import Cohorts
from .fetch import Rules
from .pathways import pathways_write
from .sweep import MetricsResult, Series

logger = logging.getLogger(__name__)

# Any number will do as long as every recompute uses the same one.
LOCK_KEY = 0x6A1B_0005
# The current run, looked up at most every few seconds by readers (`selectors.metric_run_current`).
LATEST_RUN_KEY = "metrics:latest-run"
# The task a queued run waits for (`metrics.tasks.recompute_metrics_queued`).
QUEUED_TASK = "metrics.recompute_queued"


@contextmanager
def recompute_lock() -> Iterator[None]:
    """One recompute at a time (PostgreSQL advisory lock): runs swap in the order they started."""
    if not is_postgresql():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


POINT_COLUMNS = (
    "run_id",
    "scope",
    "population",
    "date",
    "active",
    "new",
    "lapsed",
    "level_casual",
    "level_active",
    "level_core",
)


def _point_rows(run_id: int, series: Series) -> Iterator[tuple]:
    for index in range(len(series.active)):
        levels = (None, None, None) if series.levels is None else tuple(int(level[index]) for level in series.levels)
        yield (
            run_id,
            series.scope,
            series.population,
            week_sunday(series.first + index),
            int(series.active[index]),
            int(series.new[index]),
            int(series.lapsed[index]),
            *levels,
        )


def points_write(run_id: int, series: list[Series]) -> int:
    rows = [row for one in series for row in _point_rows(run_id, one)]
    if is_postgresql():
        copy_rows(MetricPoint._meta.db_table, POINT_COLUMNS, [(*row[:3], row[3].isoformat(), *row[4:]) for row in rows])
    else:
        MetricPoint.objects.bulk_create(
            (MetricPoint(**dict(zip(POINT_COLUMNS, row, strict=True))) for row in rows), batch_size=2000
        )
    return len(rows)


def _snapshots_write(run: MetricRun, result: MetricsResult) -> int:
    points = points_write(run.pk, result.series)
    area_results_write(run, result)
    cohorts_write(run, result.cohorts)
    pathways_write(run, result.pathways)
    return points


def cohorts_write(run: MetricRun, cohorts: list[Cohorts]) -> None:
    """One row per scope and population, holding its cohorts as the API gives them."""
    CohortTable.objects.bulk_create(
        (CohortTable(run=run, scope=one.scope, population=one.population, cohorts=one.cohorts) for one in cohorts),
        batch_size=500,
    )


def area_results_write(run: MetricRun, result: MetricsResult) -> None:
    Overlap.objects.bulk_create(
        Overlap(run=run, population=population, area_a=a, area_b=b, shared=shared)
        for population, a, b, shared in result.overlaps
    )
    AreaMovement.objects.bulk_create(
        AreaMovement(run=run, population=population, area=area, lapsed=lapsed, moved=moved, left=left)
        for population, area, lapsed, moved, left in result.movements
    )


def runs_remove_others(run: MetricRun) -> None:
    """Remove every run but `run` (just swapped in), queued ones and partitioned ones started after it.

    Their rows are locked first, so a part writing into one of them finishes before it goes (and a
    part that comes later finds it gone). A partitioned run started after `run` is left to finish: it
    counts newer data. Called under the recompute lock, so any other run in progress is a dead one.
    """
    others = (
        MetricRun.objects.exclude(pk=run.pk)
        .exclude(status=MetricRun.Status.QUEUED)
        .exclude(status=MetricRun.Status.RUNNING, parts__gt=0, started_at__gt=run.started_at)
    )
    doomed = list(others.select_for_update().values_list("pk", flat=True))
    if doomed:
        MetricRun.objects.filter(pk__in=doomed).delete()


def cache_save_with_run(cache: Cache | None, directory: Path, run: MetricRun) -> None:
    """Keep the cache for the next incremental update, after the run it belongs to is committed.

    A failure here costs only speed: the next update finds no cache (or one of another run) and
    recomputes in full.
    """
    if cache is None:
        cache_clear()
        return
    clock = time.perf_counter()
    try:
        cache.save(directory)
    except Exception:
        logger.exception("metrics: could not save the cache in %s", directory)
        cache_clear()
        return
    cache_hold(directory, cache)
    run.stats["cache_save_s"] = round(time.perf_counter() - clock, 3)
    MetricRun.objects.filter(pk=run.pk).update(stats=run.stats)


def metrics_recompute(*, run: MetricRun | None = None, incremental: bool = False) -> MetricRun | None:
    """Recompute every series of every scope and swap the new snapshots in.

    Writes a new run in bulk while it is `running`, then marks it complete and removes older runs
    in one transaction: readers see the old snapshots or the new ones, never a mix, and a crash
    leaves the previous snapshots in place. Re-running gives the same numbers. Passing a `queued`
    run starts that one; None is returned when it has been started by someone else already.

    `incremental` updates the latest run's numbers from what changed since (`metrics.engine.cache`) when its cache can vouch for it, and recomputes in full otherwise: both give
    the same numbers. Every run leaves a cache for the next one.

    Each run also counts the summary as of the day it runs on (`as_of`) and stores it with the run.
    """
    with recompute_lock():
        if run is None:
            run = MetricRun.objects.create(status=MetricRun.Status.RUNNING, started_at=timezone.now())
        else:
            # Under the lock a `running` run is one whose worker died mid-way (PostgreSQL frees the
            # lock with the session): its redelivered task starts it again.
            restartable = [MetricRun.Status.QUEUED] + ([MetricRun.Status.RUNNING] if is_postgresql() else [])
            started = MetricRun.objects.filter(pk=run.pk, status__in=restartable).update(
                status=MetricRun.Status.RUNNING, started_at=timezone.now()
            )
            if not started:
                return None
            run.refresh_from_db()
        try:
            clock = time.perf_counter()
            rules = Rules.load()
            directory = cache_dir()
            outcome, reason = None, "asked for in full"
            if incremental:
                try:
                    held = cache_held(directory)
                    cache = held if held is not None else Cache.load(directory)
                    if cache is None:
                        raise CacheUnusable("no cache")
                    loaded = time.perf_counter() - clock
                    outcome = count_incremental(rules, cache)
                    outcome[2]["load_s"] = round(loaded, 3)
                    outcome[2]["cache"] = "memory" if held is not None else "disk"
                    del cache
                except CacheUnusable as why:
                    reason = str(why)
                except Exception:
                    # A damaged or unreadable cache must never stop the numbers: count in full.
                    logger.exception("metrics: incremental update failed, recomputing in full")
                    reason = "the incremental update failed"
            if outcome is None:
                outcome = count_full(rules)
                if incremental:
                    outcome[2]["fallback"] = reason
            result, cache, mode_stats = outcome
            del outcome
            last = result.last
            computed = time.perf_counter() - clock
            fetched = mode_stats.pop("fetch_s")
            with transaction.atomic():
                points = _snapshots_write(run, result)
                run.status = MetricRun.Status.COMPLETE
                run.finished_at = timezone.now()
                metric_run_current_forget()  # now, and again once the swap is visible to every reader
                transaction.on_commit(metric_run_current_forget)
                run.latest_week = week_sunday(last) if last is not None else None
                run.contributors_ever = result.contributors_ever.get(Population.VOLUNTEERS, 0)
                run.contributors_ever_everyone = result.contributors_ever.get(Population.EVERYONE, 0)
                run.cache_key = cache.key if cache is not None else ""
                run.as_of = as_of_public(result.as_of)
                run.stats = {
                    **result.stats,
                    **mode_stats,
                    "fetch_s": fetched,
                    "compute_s": round(computed - fetched, 3),
                    "write_s": round(time.perf_counter() - clock - computed, 3),
                    "points": points,
                }
                run.save(
                    update_fields=[
                        "status",
                        "finished_at",
                        "latest_week",
                        "contributors_ever",
                        "contributors_ever_everyone",
                        "stats",
                        "cache_key",
                        "as_of",
                    ]
                )
                # Under the lock no other one-task run is in progress: every other finished or crashed run goes.
                runs_remove_others(run)
            cache_save_with_run(cache, directory, run)
        except Exception as error:
            MetricRun.objects.filter(pk=run.pk).update(
                status=MetricRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"{type(error).__name__}: {error}"[:2000],
            )
            logger.exception("metrics recompute %s failed", run.pk)
            raise
    logger.info("metrics recompute %s done: %s", run.pk, run.stats)
    return run


def metric_run_current_forget() -> None:
    """A new run is current: the cached lookup of the current run (`selectors.metric_run_current`) must not outlive it."""
    django_cache.delete(LATEST_RUN_KEY)


def metrics_recompute_soon() -> MetricRun:
    """Ask for a recompute shortly: many calls before it starts (many ingestion batches) give one recompute.

    A `queued` run stands for the request; at most one exists (a database constraint), so asking
    again while one waits changes nothing. The task is sent after the current transaction commits.
    """
    with transaction.atomic():
        existing = MetricRun.objects.filter(status=MetricRun.Status.QUEUED).first()
        if existing is not None:
            stale = timezone.now() - timedelta(seconds=2 * settings.BALOO_METRICS_DEBOUNCE_SECONDS + 60)
            # Waiting far longer than the debounce: its task never reached the broker (down at the
            # time) or was lost. Send it again; if both arrive, the second finds it started and stops.
            if MetricRun.objects.filter(pk=existing.pk, requested_at__lt=stale).update(requested_at=timezone.now()):
                transaction.on_commit(lambda: _recompute_send(existing.pk, countdown=0), robust=True)
            return existing
        try:
            with transaction.atomic():
                run = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
        except IntegrityError:
            # Another process queued one between our read and our write: that one will do.
            queued = MetricRun.objects.filter(status=MetricRun.Status.QUEUED).first()
            if queued is None:
                raise
            return queued
        # Robust: with the broker down the caller's data is already committed and must not turn
        # into an error; the queued run stays, and the next request after it goes stale resends it.
        transaction.on_commit(
            lambda: _recompute_send(run.pk, countdown=settings.BALOO_METRICS_DEBOUNCE_SECONDS), robust=True
        )
    return run


def _recompute_send(run_id: int, *, countdown: int) -> None:
    send_task_named(QUEUED_TASK, args=[run_id], countdown=countdown)


def send_task_named(name: str, **options: Any) -> None:
    """Send one of `metrics.tasks` by its name (registered when the app is ready, `metrics.apps`).

    The tasks call the engine, so the engine names them instead of importing them: run in-process
    (no broker) the task runs at once, as `apply_async` on the task itself would.
    """
    current_app.tasks[name].apply_async(**options)


