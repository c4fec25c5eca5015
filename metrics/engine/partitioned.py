"""The partitioned recompute: the nightly full recompute shared by several workers, each counting a share of the persons.

The design is in `metrics_recompute_partitioned`'s docstring: a plan fixes what the run counts, one
task per share of the persons fetches and counts only that share's contributions (so memory and
time per worker fall with the number of shares), stores its partial result, and the part that
completes the run adds the partial results up (`partials`) and swaps the run in under the same lock
as `runs.metrics_recompute`.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from activities.models import Activity
from contributors.models import Identity
from conversion_points.models import Population
from metrics import calendar
from metrics.calendar import capped_week, week_sunday
from metrics.models import AreaMovement, CohortTable, MetricPart, MetricPoint, MetricRun, Overlap, Pathway

from .as_of import as_of_public
from .cache import Cache, cache_combine, cache_dir, rules_fingerprint
from .fetch import People, Rules, activities_between, edit_counts, fetch_rows, settled_watermark, snapshot
from .partials import Context, partial_compute, partials_finish
from .pathways import pathways_write
from .runs import (
    QUEUED_TASK,
    area_results_write,
    cache_save_with_run,
    cohorts_write,
    metric_run_current_forget,
    metrics_recompute,
    metrics_recompute_soon,
    points_write,
    recompute_lock,
    runs_remove_others,
    send_task_named,
)
from .split import rows_of_share, rows_read, rows_split

logger = logging.getLogger(__name__)

# The task counting one part (`metrics.tasks.recompute_metrics_part`).
PART_TASK = "metrics.recompute_part"
# How many times a run counts again the parts that saw an older who-is-who (a merge during the run).
RECOUNTS = 2
# The most shares a run is split into (the run's `parts` is a small integer, and a part per core is plenty).
MAX_PARTS = 256


# How long an incremental update waits for a partitioned run in progress (a run older than this is a
# dead one, which the update then removes), and how often it looks again meanwhile.
PARTITIONED_WAIT = timedelta(minutes=30)
PARTITIONED_WAIT_SECONDS = 5


def metrics_update_queued(run_id: int) -> MetricRun | None:
    """Start the incremental update a queued run asks for (`metrics.recompute_queued`), unless the
    nightly partitioned run is being counted: an update swapped in now would remove it (it started
    earlier, so it counts older data), and under a steady stream of pushes the nightly run would then
    never finish. The update is asked again in a few seconds instead, and starts from the nightly
    run's cache once that is swapped in. None when it did not start (waiting, started or gone).
    """
    # A `running` run is passed on too: redelivered after its worker was killed, it starts again
    # (`metrics_recompute` tells a dead run from a live one under its lock).
    run = MetricRun.objects.filter(pk=run_id, status__in=[MetricRun.Status.QUEUED, MetricRun.Status.RUNNING]).first()
    if run is None:
        return None
    # With tasks run in-process the parts run in turn inside the nightly task: nothing to wait for.
    if run.status == MetricRun.Status.QUEUED and not current_app.conf.task_always_eager and partitioned_in_progress():
        send_task_named(QUEUED_TASK, args=[run_id], countdown=PARTITIONED_WAIT_SECONDS)
        return None
    return metrics_recompute(run=run, incremental=True)


def partitioned_in_progress() -> bool:
    """Whether a partitioned run started in the last `PARTITIONED_WAIT` is still being counted."""
    since = timezone.now() - PARTITIONED_WAIT
    return MetricRun.objects.filter(status=MetricRun.Status.RUNNING, parts__gt=0, started_at__gt=since).exists()


def metrics_parts() -> int:
    """How many shares a partitioned run has: `BALOO_METRICS_PARTS`, or when 0 (the default) this
    machine's core count — set it to the number of worker processes serving the `metrics` queue."""
    return max(1, min(MAX_PARTS, settings.BALOO_METRICS_PARTS or os.cpu_count() or 1))


def people_fingerprint(upto: int | None = None) -> str:
    """Who is who now, in one short string: changes when any identity moves to another person or goes.

    An order-free sum over every (identity, person) pair, so the database counts it in one pass.
    With `upto`, over the identities with id ≤ upto only: a run's rows (its activities were stored
    before it started) name no identity made after it, so a new contributor arriving mid-run does
    not make its parts disagree.
    """
    table = Identity._meta.db_table
    mine = "" if upto is None else f" WHERE id <= {int(upto)}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(person_id), 0), "
            f"COALESCE(SUM((person_id * (id % 1000003 + 1)) % 2147483647), 0) FROM {table}{mine}"
        )
        return ":".join(str(int(value)) for value in cursor.fetchone())


def metrics_partition_plan(*, parts: int | None = None) -> MetricRun:
    """Start a partitioned run: fix what every part counts, split the rows by share (`split`), and
    write nothing else (see `metrics_recompute_partitioned`)."""
    _shards_remove()  # what failed or dropped runs left
    rules = Rules.load()
    watermark = settled_watermark()
    settled = watermark is not None
    if watermark is None:
        # Ingestion kept the table busy: an activity in flight below this id shows in the next recompute
        # (its ingestion asks for one, which counts in full: such a run leaves no cache to start from).
        watermark = Activity.objects.aggregate(top=Max("pk"))["top"] or 0
    _count, latest_day = activities_between(0, watermark)
    last = capped_week(latest_day)
    shares = max(1, min(MAX_PARTS, parts or metrics_parts()))
    plan_parts = {f"share-{share + 1}-of-{shares}": {"share": share} for share in range(shares)}
    run = MetricRun.objects.create(
        status=MetricRun.Status.RUNNING,
        started_at=timezone.now(),
        latest_week=week_sunday(last) if last is not None else None,
        parts=shares,
        plan={
            "watermark": watermark,
            "settled": settled,
            "latest_day": latest_day,
            # Read after the watermark: the run's activities name only identities up to here.
            "identities_upto": Identity.objects.aggregate(top=Max("pk"))["top"] or 0,
            "last": last,
            "day": calendar.today_utc().isoformat(),
            "fingerprint": rules_fingerprint(rules),
            "shares": shares,
            "parts": plan_parts,
            "recounts": 0,
        },
    )
    split = _rows_split(rules, run)
    if split is not None:
        run.plan = {**run.plan, "split": split}
        # An incremental update swapped in meanwhile removes this run (it started earlier): its parts will do nothing.
        if not MetricRun.objects.filter(pk=run.pk, status=MetricRun.Status.RUNNING).update(plan=run.plan):
            shutil.rmtree(_shards_dir(run.pk), ignore_errors=True)
    return run


def _rows_split(rules: Rules, run: MetricRun) -> dict | None:
    """Read the run's rows once and leave each share's in a file for its part (`split`); None when
    that failed (each part then fetches its own share: slower, the same numbers)."""
    clock = time.perf_counter()
    _peak_memory_reset()
    plan, folder = run.plan, _rows_dir(run.pk)
    try:
        with snapshot():  # only for reading: the snapshot is let go before the rows are split
            people = People.load(staff=False)  # who is who: the staff periods are each part's to read
            who = people_fingerprint(plan["identities_upto"])
            edits = edit_counts()
            chunks = rows_read(rules, upto=plan["watermark"], folder=folder)
        rows = rows_split(chunks, people, shares=plan["shares"], folder=folder)
    except Exception:
        logger.exception("metrics run %s: could not split the rows by share; each part fetches its own", run.pk)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    seconds = round(time.perf_counter() - clock, 3)
    return {"people": who, "edits": list(edits), "rows": rows, "seconds": seconds, "peak_memory_mb": _peak_memory_mb()}


def metrics_recompute_partitioned(*, parts: int | None = None) -> MetricRun:
    """A full recompute shared by several Celery workers: one task per share of the persons, added up and swapped in whole.

    The design, kept boring:
    - **Shares by person.** Every number a run publishes is a sum over persons (`partials`), so the
      persons are split into `parts` shares (`BALOO_METRICS_PARTS`, default the core count) that
      do not meet: share k holds the persons whose id (after merges: the person an identity belongs
      to now) is k modulo the number of shares. Person ids are handed out in turn, so shares are
      even in size and in activity. A worker never holds another share's rows, so its memory and
      its counting time are about 1/K of one task's.
    - **Plan** (this function, the nightly task): one `running` MetricRun fixes what every part
      counts in `plan`: the rules (their fingerprint), the activities (ids up to a settled
      watermark), the latest week, the day of the summary as of today, the shares. It reads the
      rows once and leaves each share's in a file (`split`: one scan of the table, not one per
      part). Then it sends one `metrics.recompute_part` task per share. With eager tasks (no
      broker) they run here in turn.
    - **Part** (`metrics_recompute_part`, any worker): reads its share's rows from the plan's file
      when it sees the who-is-who they were split by, or else fetches them itself (its query joins
      activity → identity and keeps its share in SQL, `fetch_rows(share=…)`, with its persons' staff
      periods and bots); then counts every stage
      with the code of the one-task recompute (`partials.STAGES`) and stores its partial result in
      `MetricPart`, keyed by (run, part): written once, so a redelivered part (its worker was
      killed) counts again and replaces, never adds; one already written is not counted again. In
      the same transaction, under a row lock of the run, it adds its name to `parts_done`.
    - **Swap** (`_partitioned_finish`, by the part that completes `parts_done`, or a redelivery of
      it): under the recompute lock and the run's row lock, once: it adds the partial results up,
      writes the run's points, overlap, movement and cohorts, marks the run complete and removes the
      older runs in one transaction. A run that a newer complete run overtook is dropped instead:
      the current numbers never go back in time.
    - **Who is who.** Each part notes who-is-who (`people_fingerprint`) in the same snapshot as its
      rows. A merge between two parts would put a person's rows in two shares (or in none): the
      swap then counts again the parts that saw an older who-is-who (up to `RECOUNTS` times; past
      that it swaps in and asks for another recompute, which the merge had asked for anyway).
    - **Crash**: a part raising an error marks the run failed and deletes what was written; the
      other parts then find it failed and do nothing, and the previous run stays the current one.
    - **Cache**: each part also leaves its share of the incremental cache (its rows by identity, its
      who-is-who and counting states) beside the cache (`BALOO_METRICS_CACHE_DIR`, which the metrics
      workers therefore share); the swap combines the shares into the cache of the run, so the next
      incremental update starts from it. A share missing (a part could not write it) or parts that
      saw different who-is-who leave no cache: the next update then counts in full, in one task.
    - **Cost**: one scan of the activities table by the plan, then 1/K of the counting per part.
      The files (14 bytes a row) live beside the cache, so workers on other machines must share
      `BALOO_METRICS_CACHE_DIR` to read them; a part that cannot fetches its share from the table.

    Call it outside a transaction when a broker is configured: workers must see the run.
    """
    run = metrics_partition_plan(parts=parts)
    try:
        for part in run.plan["parts"]:
            send_task_named(PART_TASK, args=[run.pk, part])
    except Exception as error:
        _partitioned_fail(run.pk, "(sending)", error)
        raise
    # As it is now (complete, when the parts ran in-process), or as planned if a newer run removed it.
    return MetricRun.objects.filter(pk=run.pk).first() or run


def _peak_memory_reset() -> None:
    """Start measuring this process's peak memory afresh (Linux 4.0+; elsewhere the peak is the process's)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_memory_mb() -> int:
    """This process's peak resident memory since `_peak_memory_reset` (Linux: VmHWM), else its peak ever.

    Not `ru_maxrss`: Linux keeps it across fork and exec, so a worker started by a big process
    would report its parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def metrics_recompute_part(run_id: int, part: str, *, worker: str = "") -> bool:
    """Count one share of a partitioned run and store it (see `metrics_recompute_partitioned`).

    False when there is nothing to do: the run is complete, failed, superseded or gone.
    """
    run = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
    if run is None or part not in run.plan.get("parts", {}):
        logger.info("metrics run %s part %s: the run is no longer running, nothing to do", run_id, part)
        return False
    if MetricPart.objects.filter(run_id=run_id, part=part).exists():
        # Redelivered after it was stored (its worker died before the swap): only the swap is left.
        _partitioned_finish(run_id)
        return True
    plan = run.plan
    share = (plan["parts"][part]["share"], plan["shares"])
    try:
        clock = time.perf_counter()
        _peak_memory_reset()
        rules = Rules.load()
        if rules_fingerprint(rules) != plan["fingerprint"]:
            raise RuntimeError("the rules changed during the recompute (their change asks for another one)")
        # A share an earlier delivery of this part left (then counted again) must not outlive this count.
        shutil.rmtree(_shards_dir(run_id) / part, ignore_errors=True)
        with snapshot():
            people = People.load(share=share)
            who = people_fingerprint(plan.get("identities_upto"))
            split = plan.get("split") or {}
            rows = None
            if split.get("people") == who:  # split by the same who-is-who: the share's rows are the file's
                rows = rows_of_share(_rows_dir(run_id), share[0], split["rows"][share[0]])
            if rows is not None:
                (cp, identity, day), edits, source = rows, tuple(split["edits"]), "split"
            else:
                cp, identity, day = fetch_rows(rules, upto=plan["watermark"], share=share)
                edits, source = edit_counts(), "database"
            del rows
        fetched = time.perf_counter() - clock
        contributions = people.contributions(cp, people.persons_of(identity), day)
        context = Context(rules=rules, last=plan["last"], day=date.fromisoformat(plan["day"]))
        states: dict = {}
        partial = partial_compute(contributions, context, states)
        counted = len(contributions)
        del contributions
        computed = time.perf_counter() - clock
        shard = Cache(
            key=f"{run_id}-{part}",
            fingerprint=plan["fingerprint"],
            watermark=plan["watermark"],
            edits=edits,
            latest_day=plan.get("latest_day"),
            last=plan["last"],
            cp=cp,
            identity=identity,
            day=day,
            people=people,
            state=states["series"],
            as_of=states["as_of"],
            cohorts=states["cohorts"],
            pathways=states["pathways"],
        )
        cached = _shard_save(shard, run_id, part)
        del shard, cp, identity, day, people, states
        stats = {
            "worker": worker or f"pid {os.getpid()}",
            "share": share[0],
            "rows": counted,
            "rows_from": source,
            "people": who,
            "fetch_s": round(fetched, 3),
            "compute_s": round(computed - fetched, 3),
            "cache_s": round(time.perf_counter() - clock - computed, 3) if cached else None,
            "peak_memory_mb": _peak_memory_mb(),
        }
        with transaction.atomic():
            locked = MetricRun.objects.select_for_update().filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
            if locked is None:
                logger.info("metrics run %s part %s: the run ended while counting, nothing written", run_id, part)
                return False
            stats["write_s"] = round(time.perf_counter() - clock - computed, 3)
            MetricPart.objects.update_or_create(run=locked, part=part, defaults={"partial": partial, "stats": stats})
            locked.parts_done = sorted({*locked.parts_done, part})
            locked.save(update_fields=["parts_done"])
            complete = set(locked.parts_done) == set(plan["parts"])
        logger.info("metrics run %s part %s written: %s", run_id, part, stats)
        if complete:
            _partitioned_finish(run_id)
    except Exception as error:
        _partitioned_fail(run_id, part, error)
        raise
    return True


def _shards_dir(run_id: int) -> Path:
    """Where the parts of a run leave their share of the incremental cache: beside the cache, so the
    workers serving the `metrics` queue must share `BALOO_METRICS_CACHE_DIR` (docs/deploying.md)."""
    return cache_dir() / "parts" / f"run-{int(run_id)}"


def _rows_dir(run_id: int) -> Path:
    """Where the plan leaves each share's rows (`split`), beside the parts' shares of the cache."""
    return _shards_dir(run_id) / "rows"


def _shard_save(shard: Cache, run_id: int, part: str) -> bool:
    """Leave this part's share of the cache for the swap to combine; a failure costs only speed."""
    if shard.last is None:
        return False
    try:
        shard.save(_shards_dir(run_id) / part)
    except Exception:
        logger.exception("metrics run %s part %s: could not leave its share of the cache", run_id, part)
        return False
    return True


def _shards_combine(run: MetricRun) -> Cache | None:
    """The incremental cache of the whole run from its parts' shares; None (the next update counts in
    full) when a part left none, or who-is-who differed between them."""
    if not run.plan.get("settled"):
        # An activity in flight below the watermark may commit after a part read: no update may start here.
        logger.info("metrics run %s: its watermark was not settled, so it leaves no cache", run.pk)
        return None
    shards = []
    for part in sorted(run.plan["parts"]):
        shard = Cache.load(_shards_dir(run.pk) / part)
        if shard is None or shard.key != f"{run.pk}-{part}":
            logger.warning("metrics run %s: part %s left no share of the cache; the next update counts in full", run.pk, part)
            return None
        shards.append(shard)
    return cache_combine(shards)


def _shards_remove(keep: int | None = None) -> None:
    """Remove the shares of the cache parts left, but those of the run `keep` and of runs still running."""
    base = cache_dir() / "parts"
    if not base.is_dir():
        return
    running = set(MetricRun.objects.filter(status=MetricRun.Status.RUNNING, parts__gt=0).values_list("pk", flat=True))
    for folder in base.glob("run-*"):
        number = folder.name.removeprefix("run-")
        if not number.isdigit() or (int(number) not in running and int(number) != keep):
            shutil.rmtree(folder, ignore_errors=True)


def _partitioned_fail(run_id: int, part: str, error: Exception) -> None:
    """Mark the run failed and drop what its parts wrote: the previous run stays the current one."""
    with transaction.atomic():
        failed = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).update(
            status=MetricRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"part {part}: {type(error).__name__}: {error}"[:2000],
        )
        if failed:
            for model in (MetricPoint, Overlap, AreaMovement, CohortTable, Pathway, MetricPart):
                model.objects.filter(run_id=run_id).delete()
    shutil.rmtree(_shards_dir(run_id), ignore_errors=True)  # the split rows and the shares of the cache
    if failed:  # else the run had failed already (or is gone): logged then
        logger.exception("metrics run %s part %s failed", run_id, part)


def _recount_stale(run: MetricRun, partials: list[MetricPart]) -> bool:
    """Parts saw different who-is-who (a merge during the run): drop and send again those that saw an
    older one than now. False when the run has been counted again enough times already."""
    now = people_fingerprint(run.plan.get("identities_upto"))
    stale = [one.part for one in partials if one.stats.get("people") != now] or [one.part for one in partials]
    if run.plan.get("recounts", 0) >= RECOUNTS:
        return False
    logger.info("metrics run %s: who-is-who changed during the run, counting %s again", run.pk, stale)
    MetricPart.objects.filter(run=run, part__in=stale).delete()
    run.parts_done = sorted(set(run.parts_done) - set(stale))
    run.plan = {**run.plan, "recounts": run.plan.get("recounts", 0) + 1}
    run.save(update_fields=["parts_done", "plan"])
    for part in stale:
        transaction.on_commit(lambda part=part: send_task_named(PART_TASK, args=[run.pk, part]), robust=True)
    return True


def _partitioned_finish(run_id: int) -> MetricRun | None:
    """Add the parts up and swap the run in once every part is stored; None if not (yet), or overtaken (then dropped)."""
    clock = time.perf_counter()
    with recompute_lock():
        with transaction.atomic():
            run = MetricRun.objects.select_for_update().filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
            if run is None or set(run.parts_done) != set(run.plan["parts"]):
                return None
            if MetricRun.objects.filter(status=MetricRun.Status.COMPLETE, started_at__gt=run.started_at).exists():
                logger.info("metrics run %s: a newer run is complete already, this one is dropped", run_id)
                run.delete()
                return None
            partials = list(MetricPart.objects.filter(run=run).order_by("part"))
            if {one.part for one in partials} != set(run.plan["parts"]):
                return None
            consistent = len({one.stats.get("people") for one in partials}) == 1
            if not consistent and _recount_stale(run, partials):
                return None
            plan = run.plan
            context = Context(rules=Rules.load(), last=plan["last"], day=date.fromisoformat(plan["day"]))
            result = partials_finish([one.partial for one in partials], context)
            summed = time.perf_counter() - clock
            cache = None
            if consistent:
                try:
                    cache = _shards_combine(run)
                except Exception:
                    logger.exception("metrics run %s: could not combine the parts' cache; the next update counts in full", run_id)
            combined = time.perf_counter() - clock
            points = points_write(run.pk, result.series)
            area_results_write(run, result)
            cohorts_write(run, result.cohorts)
            pathways_write(run, result.pathways)
            parts = {one.part: one.stats for one in partials}
            run.status = MetricRun.Status.COMPLETE
            run.finished_at = timezone.now()
            metric_run_current_forget()  # now, and again once the swap is visible to every reader
            transaction.on_commit(metric_run_current_forget)
            run.contributors_ever = result.contributors_ever.get(Population.VOLUNTEERS, 0)
            run.contributors_ever_everyone = result.contributors_ever.get(Population.EVERYONE, 0)
            run.as_of = as_of_public(result.as_of)
            run.stats = {
                "mode": "partitioned",
                "shares": plan["shares"],
                "rows": result.stats.get("rows", 0),
                "points": points,
                # Summed over the parts (they may have run side by side); `wall_s` is plan to swap.
                **{key: round(sum(one[key] for one in parts.values()), 3) for key in ("fetch_s", "compute_s", "write_s")},
                "split_s": (plan.get("split") or {}).get("seconds"),
                "sum_s": round(summed, 3),
                "cache_combine_s": round(combined - summed, 3) if cache is not None else None,
                "swap_s": round(time.perf_counter() - clock, 3),
                "wall_s": round((run.finished_at - run.started_at).total_seconds(), 3),
                "workers": sorted({one["worker"] for one in parts.values()}),
                "split_peak_memory_mb": (plan.get("split") or {}).get("peak_memory_mb"),
                "peak_memory_mb": max(one["peak_memory_mb"] for one in parts.values()),
                "recounts": plan.get("recounts", 0),
                "parts": parts,
            }
            run.cache_key = cache.key if cache is not None else ""
            run.save(
                update_fields=[
                    "status", "finished_at", "contributors_ever", "contributors_ever_everyone", "as_of", "stats", "cache_key",
                ]
            )
            MetricPart.objects.filter(run=run).delete()
            runs_remove_others(run)
            if not consistent:
                logger.warning("metrics run %s: who-is-who kept changing during the run; another recompute is asked for", run_id)
                transaction.on_commit(metrics_recompute_soon, robust=True)
        # After the commit, still under the lock: the next incremental update finds the cache there.
        cache_save_with_run(cache, cache_dir(), run)
        _shards_remove()
    logger.info("metrics run %s (partitioned) swapped in: %s", run_id, run.stats)
    return run
