"""The partitioned recompute: the nightly full recompute shared by several Celery workers, swapped in whole.

The design is in `metrics_recompute_partitioned`'s docstring: a plan fixes what the run counts, one
task per part counts its scopes with the same code as the one-task recompute (`sweep`), and the part
that completes the run swaps it in under the same lock as `runs.metrics_recompute`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from activities.models import Activity
from conversion_points.models import Population
from metrics import calendar
from metrics.calendar import capped_week, week_sunday
from metrics.models import AreaMovement, CohortTable, MetricPoint, MetricRun, Overlap, Pathway

from .as_of import as_of_counts, as_of_public
from .cache import rules_fingerprint
from .cohorts import cohorts_compute_state, cohorts_result
from .fetch import People, Rules, activities_between, fetch_rows, settled_watermark, snapshot
from .pathways import pathways_compute_state, pathways_result, pathways_write
from .runs import (
    area_results_write,
    cohorts_write,
    metric_run_current_forget,
    points_write,
    recompute_lock,
    runs_remove_others,
    send_task_named,
)
from .sweep import metrics_compute_state, state_result

logger = logging.getLogger(__name__)

# The task counting one part (`metrics.tasks.recompute_metrics_part`).
PART_TASK = "metrics.recompute_part"


def _points_per_part() -> int:
    """Conversion points per part (setting `BALOO_METRICS_PART_POINTS`, default 10)."""
    return max(1, settings.BALOO_METRICS_PART_POINTS)


def metrics_partition_plan(*, points_per_part: int | None = None) -> MetricRun:
    """Start a partitioned run: fix what every part counts, and write nothing else (see `metrics_recompute_partitioned`)."""
    rules = Rules.load()
    watermark = settled_watermark()
    if watermark is None:
        # Ingestion kept the table busy: an activity in flight below this id shows in the next recompute
        # (its ingestion asks for one).
        watermark = Activity.objects.aggregate(top=Max("pk"))["top"] or 0
    _count, latest_day = activities_between(0, watermark)
    last = capped_week(latest_day)
    size = points_per_part or _points_per_part()
    pks = [point.pk for point in rules.points]
    parts: dict[str, dict] = {"all-areas": {"families": ["all", "area"]}, "sources": {"families": ["source"]}}
    for begin in range(0, len(pks), size):
        parts[f"points-{begin // size + 1}"] = {"families": ["cp"], "points": pks[begin : begin + size]}
    return MetricRun.objects.create(
        status=MetricRun.Status.RUNNING,
        started_at=timezone.now(),
        latest_week=week_sunday(last) if last is not None else None,
        parts=len(parts),
        plan={"watermark": watermark, "last": last, "fingerprint": rules_fingerprint(rules), "parts": parts},
    )


def metrics_recompute_partitioned(*, points_per_part: int | None = None) -> MetricRun:
    """A full recompute shared by several Celery workers: one task per part of the scopes, swapped in whole.

    The design, kept boring:
    - **Plan** (this function, the nightly task): one `running` MetricRun fixes what the run counts
      and stores it in `plan`: the rules (their fingerprint), the activities (ids up to a settled
      watermark, as the one-task recompute reads them), the latest week, and the parts: `all-areas`
      (`all` and every area, with overlap, movement and contributors ever), `sources` (every source)
      and `points-1`, `points-2`… (the conversion point scopes, `points_per_part` points each). Then
      it sends one `metrics.recompute_part` task per part. With eager tasks (no broker) they run
      here, one after another.
    - **Part** (`metrics_recompute_part`, on any worker): reads the contributions it needs straight
      from the database (the families parts every rule's rows, a points part its own rules' rows),
      resolves persons now, counts its scopes with the same code as the one-task recompute
      (`metrics_compute_state` with its families only) and writes their points into the run, which
      no reader sees yet. In the same transaction, under a row lock of the run, it first deletes
      what it may have written before (a redelivered part rewrites, never duplicates) and adds its
      name to `parts_done`, the counter: no chord and no result backend needed.
    - **Swap** (`_partitioned_finish`, by the part that completes `parts_done`, or a redelivery of
      it): under the recompute lock it marks the run complete and removes the older runs, in one
      transaction, as the one-task recompute does. A run that a newer complete run overtook is
      dropped instead: the current numbers never go back in time.
    - **Crash**: a part raising an error marks the run failed and deletes its rows; the other parts
      then find it failed and do nothing, and the previous run stays the current one. A worker
      killed mid-part gives its task back (late acknowledgement) and the part is written again. A
      run removed by a newer one's swap (superseded) makes its remaining parts do nothing.
    - **Consistency**: every part counts the same activities and latest week; persons are
      resolved when each part runs, so a merge committed in between may show in some scopes first:
      the merge asks for a recompute of its own, which settles it. Rules changed during the run
      fail it, and their change asks for a recompute too.
    - **Cost**: the two families parts each read every contribution (a second read, in parallel),
      and a partitioned run leaves no incremental cache: the next incremental update after it
      recomputes in full, in one task, and leaves the cache again.

    Call it outside a transaction when a broker is configured: workers must see the run.
    """
    run = metrics_partition_plan(points_per_part=points_per_part)
    try:
        for part in run.plan["parts"]:
            send_task_named(PART_TASK, args=[run.pk, part])
    except Exception as error:
        _partitioned_fail(run.pk, "(sending)", error)
        raise
    run.refresh_from_db()
    return run


def _part_scopes(families: Collection[str], rules: Rules) -> Q:
    """The scopes a part writes, as a filter on MetricPoint (and CohortTable)."""
    query = Q(pk__in=[])
    if "all" in families:
        query |= Q(scope="all")
    if "area" in families:
        query |= Q(scope__startswith="area:")
    if "source" in families:
        query |= Q(scope__startswith="source:")
    if "cp" in families:
        query |= Q(scope__in=[f"cp:{point.slug}" for point in rules.points])
    return query


def metrics_recompute_part(run_id: int, part: str, *, worker: str = "") -> bool:
    """Count one part of a partitioned run and write it (see `metrics_recompute_partitioned`).

    False when there is nothing to do: the run is complete, failed, superseded or gone.
    """
    run = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
    if run is None or part not in run.plan.get("parts", {}):
        logger.info("metrics run %s part %s: the run is no longer running, nothing to do", run_id, part)
        return False
    plan, spec = run.plan, run.plan["parts"][part]
    families = spec["families"]
    try:
        clock = time.perf_counter()
        rules = Rules.load()
        if rules_fingerprint(rules) != plan["fingerprint"]:
            raise RuntimeError("the rules changed during the recompute (their change asks for another one)")
        counted = rules.subset(spec["points"]) if "points" in spec else rules
        with snapshot():
            cp, identity, day = fetch_rows(counted, upto=plan["watermark"])
            people = People.load()
        fetched = time.perf_counter() - clock
        contributions = people.contributions(cp, people.persons_of(identity), day)
        del cp, identity, day, people
        last = plan["last"]
        state = metrics_compute_state(contributions=contributions, rules=counted, last=last, families=families)
        # The part that counts `all` reads every rule's rows: it counts the summary as of today too.
        as_of = as_of_counts(contributions=contributions, rules=counted, day=calendar.today_utc()) if "all" in families else None
        cohorts = cohorts_compute_state(contributions=contributions, rules=counted, last=last, families=families)
        # The part that counts the areas reads every rule's rows too: it counts their pathways.
        if "area" in families:
            pathways = pathways_compute_state(contributions=contributions, rules=counted, last=last)
        del contributions
        result = state_result(state, rules=counted, last=last)
        result.cohorts = cohorts_result(cohorts, last=last)
        if "area" in families:
            result.pathways = pathways_result(pathways, rules=counted)
        computed = time.perf_counter() - clock
        with transaction.atomic():
            locked = MetricRun.objects.select_for_update().filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
            if locked is None:
                logger.info("metrics run %s part %s: the run ended while counting, nothing written", run_id, part)
                return False
            MetricPoint.objects.filter(_part_scopes(families, counted), run=locked).delete()
            CohortTable.objects.filter(_part_scopes(families, counted), run=locked).delete()
            points = points_write(locked.pk, result.series)
            cohorts_write(locked, result.cohorts)
            fields = ["parts_done", "stats"]
            if "area" in families:
                Overlap.objects.filter(run=locked).delete()
                AreaMovement.objects.filter(run=locked).delete()
                Pathway.objects.filter(run=locked).delete()
                area_results_write(locked, result)
                pathways_write(locked, result.pathways)
                locked.contributors_ever = result.contributors_ever.get(Population.VOLUNTEERS, 0)
                locked.contributors_ever_everyone = result.contributors_ever.get(Population.EVERYONE, 0)
                fields += ["contributors_ever", "contributors_ever_everyone"]
            if as_of is not None:
                locked.as_of = as_of_public(as_of)
                fields.append("as_of")
            locked.parts_done = sorted({*locked.parts_done, part})
            stats = {
                "worker": worker or f"pid {os.getpid()}",
                "rows": result.stats.get("rows", 0),
                "points": points,
                "fetch_s": round(fetched, 3),
                "compute_s": round(computed - fetched, 3),
                "write_s": round(time.perf_counter() - clock - computed, 3),
            }
            locked.stats = {**locked.stats, "parts": {**locked.stats.get("parts", {}), part: stats}}
            locked.save(update_fields=fields)
            complete = set(locked.parts_done) == set(plan["parts"])
        logger.info("metrics run %s part %s written: %s", run_id, part, stats)
        if complete:
            _partitioned_finish(run_id)
    except Exception as error:
        _partitioned_fail(run_id, part, error)
        raise
    return True


def _partitioned_fail(run_id: int, part: str, error: Exception) -> None:
    """Mark the run failed and drop what its parts wrote: the previous run stays the current one."""
    with transaction.atomic():
        failed = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).update(
            status=MetricRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"part {part}: {type(error).__name__}: {error}"[:2000],
        )
        if failed:
            for model in (MetricPoint, Overlap, AreaMovement, CohortTable, Pathway):
                model.objects.filter(run_id=run_id).delete()
    if failed:  # else the run had failed already (or is gone): logged then
        logger.exception("metrics run %s part %s failed", run_id, part)


def _partitioned_finish(run_id: int) -> MetricRun | None:
    """Swap the run in once every part is written; None if it is not (yet), or was overtaken (then dropped)."""
    with recompute_lock(), transaction.atomic():
        run = MetricRun.objects.select_for_update().filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
        if run is None or set(run.parts_done) != set(run.plan["parts"]):
            return None
        if MetricRun.objects.filter(status=MetricRun.Status.COMPLETE, started_at__gt=run.started_at).exists():
            logger.info("metrics run %s: a newer run is complete already, this one is dropped", run_id)
            run.delete()
            return None
        parts = run.stats.get("parts", {})
        run.status = MetricRun.Status.COMPLETE
        run.finished_at = timezone.now()
        metric_run_current_forget()  # now, and again once the swap is visible to every reader
        transaction.on_commit(metric_run_current_forget)
        run.stats = {
            "mode": "partitioned",
            "points": sum(one["points"] for one in parts.values()),
            # Summed over the parts (they may have run side by side); `wall_s` is plan to swap.
            **{key: round(sum(one[key] for one in parts.values()), 3) for key in ("fetch_s", "compute_s", "write_s")},
            "wall_s": round((run.finished_at - run.started_at).total_seconds(), 3),
            "workers": sorted({one["worker"] for one in parts.values()}),
            "parts": parts,
        }
        run.save(update_fields=["status", "finished_at", "stats"])
        runs_remove_others(run)
    logger.info("metrics run %s (partitioned) swapped in: %s", run_id, run.stats)
    return run
