"""Benchmark of the partitioned recompute on real Celery workers (issue 21's `scale` figures).

    .venv/bin/python bench/scale.py                           # 10,000,000 activities, 1,000,000 people
    .venv/bin/python bench/scale.py --activities 100000000    # Mozilla's order: 100M activities, 10M people
    .venv/bin/python bench/scale.py --reuse --workers 2       # keep the database generated last time

Drops and recreates the database named by ``BENCH_SCALE_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/baloo_bench_scale``) and fills it inside PostgreSQL exactly as
bench/engine.py does (5 sources, 20 areas, 40 conversion points, people with one or two identities,
2 % staff, 0.1 % bots, heavy-tailed activities over three years). Check ``df -h`` first: PostgreSQL
needs about 340 bytes per activity with its indexes (3.4 GB at 10M, 34 GB at 100M). Then, for each worker count K
(``--workers 1,2,4``), it starts a redis-server of its own and K fresh ``celery worker`` processes
(solo pool, the ``metrics`` queue, ``BALOO_METRICS_PARTS=K``), sends the nightly recompute and
waits for the run to be swapped in: the total time (sent → swapped in), and each worker's peak
memory during its part (VmHWM of the worker process, reset when the part starts, reported by it). With ``--one-task`` (the default
up to 30M activities) the one-task recompute runs in this process first, for comparison. Prints
one JSON object at the end, with the core count: K workers on fewer cores share them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import POINTS, ROOT, database_filled, database_migrated, django_environment  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench_scale"
# Issue 21: at 100M activities, each of 4 workers ≤ 4 GB and the recompute ≤ 5 minutes on 4 cores.
GOAL_WORKER_MB = 4096
GOAL_100M_4_WORKERS_S = 300
READY_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, seconds: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def start_redis() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def start_workers(count: int, broker: str, url: str, logs: Path) -> list[tuple[subprocess.Popen, Path]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": "",
        "BALOO_METRICS_PARTS": str(count),
        "BALOO_METRICS_CACHE_DIR": str(logs / "cache"),
        "DJANGO_LOG_FORMAT": "plain",
        "PYTHONUNBUFFERED": "1",
    }
    workers = []
    for number in range(1, count + 1):
        log = logs / f"worker-{count}-{number}.log"
        handle = log.open("w")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "baloo_site", "worker", "--pool=solo", "--queues", "metrics",
             "--hostname", f"scale{number}@%h", "--loglevel=INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
        workers.append((process, log))
    for process, log in workers:
        ok = wait_for(
            lambda log=log, process=process: "ready." in log.read_text(errors="replace") or process.poll() is not None,
            READY_SECONDS,
        )
        if not ok or process.poll() is not None:
            raise SystemExit(f"a worker did not start:\n{log.read_text(errors='replace')}")
    return workers


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def partitioned_on_workers(count: int, url: str, logs: Path, timeout: float) -> dict:
    """The nightly recompute on `count` fresh worker processes: time to the swap, each worker's peak memory."""
    from celery import Celery
    from django.conf import settings

    from metrics.models import MetricRun

    redis, broker = start_redis()
    workers: list[tuple[subprocess.Popen, Path]] = []
    try:
        workers = start_workers(count, broker, url, logs)
        app = Celery("baloo-bench-scale", broker=broker, set_as_current=False)
        app.conf.task_routes = settings.CELERY_TASK_ROUTES
        newest = MetricRun.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        clock = time.perf_counter()
        app.send_task("metrics.recompute_nightly")

        def done() -> MetricRun | None:
            return MetricRun.objects.filter(pk__gt=newest, parts__gt=0).exclude(status=MetricRun.Status.RUNNING).first()

        if not wait_for(lambda: done() is not None, timeout, interval=0.25):
            raise SystemExit(f"no partitioned run after {timeout:.0f} s; logs in {logs}")
        seconds = time.perf_counter() - clock
        run = done()
        app.close()
    finally:
        stop([process for process, _log in workers])
        stop([redis])
    if run.status != MetricRun.Status.COMPLETE:
        raise SystemExit(f"the partitioned run {run.status}: {run.error}")
    parts = run.stats["parts"]
    by_worker: dict[str, int] = {}
    for part in parts.values():
        by_worker[part["worker"]] = max(by_worker.get(part["worker"], 0), part["peak_memory_mb"])
    return {
        "workers": count,
        "total_s": round(seconds, 2),
        "peak_memory_mb_per_worker": dict(sorted(by_worker.items())),
        "peak_memory_mb_max": max(by_worker.values()),
        # The plan reads every row once and leaves each share's in a file (metrics/engine/split.py).
        "split_s": run.stats.get("split_s"),
        "split_peak_memory_mb": run.stats.get("split_peak_memory_mb"),
        "rows_from": sorted({part.get("rows_from", "database") for part in parts.values()}),
        "rows_per_part": [part["rows"] for part in parts.values()],
        "fetch_s_per_part": [part["fetch_s"] for part in parts.values()],
        "compute_s_per_part": [part["compute_s"] for part in parts.values()],
        "sum_and_swap_s": run.stats["swap_s"],
        # The parts' shares of the incremental cache, written beside it and combined at the swap.
        "cache_left": bool(run.cache_key),
        "cache_s_per_part": [part.get("cache_s") for part in parts.values()],
        "cache_combine_s": run.stats.get("cache_combine_s"),
        "cache_save_s": run.stats.get("cache_save_s"),
        "points": run.stats["points"],
        "run": run.pk,
    }


def points_of(run) -> dict:
    from metrics.models import MetricPoint

    return {
        (p.scope, p.population, p.date): (p.active, p.new, p.lapsed, p.level_casual, p.level_active, p.level_core)
        for p in MetricPoint.objects.filter(run=run).iterator(chunk_size=50_000)
    }


def extrapolate(results: dict, activities: int) -> dict:
    """What 100M activities on 4 workers and 4 cores would take, from the runs here: a linear estimate.

    Memory: a straight line through (rows of the largest part, the worker's peak) of every run, read
    at 100M activities' rows / 4. Time: the plan's one scan and split grows with all the activities
    (one process); each part's read and count with its rows (the slowest part's seconds per row, in
    a run where each part had a core), each of 4 workers on a core of its own; plus the sum and the
    swap as measured.
    """
    runs = results["partitioned"]
    if not runs:
        return {}
    rows = [max(one["rows_per_part"]) for one in runs]
    peaks = [one["peak_memory_mb_max"] for one in runs]
    total_rows = sum(runs[0]["rows_per_part"])
    target_rows = total_rows * (100_000_000 / activities) / 4
    if len(set(rows)) > 1:
        slope, base = (float(value) for value in np.polyfit(rows, peaks, 1))
    else:
        slope, base = peaks[0] / rows[0], 0.0
    # A run whose parts each had a core (the most workers up to the core count; else the fewest):
    # its slowest part's seconds per row, and the rest of its wall time beside the plan's split.
    fitting = [one for one in runs if one["workers"] <= (os.cpu_count() or 1)]
    single = max(fitting, key=lambda one: one["workers"]) if fitting else min(runs, key=lambda one: one["workers"])
    parts = [
        (fetch + compute, rows)
        for fetch, compute, rows in zip(
            single["fetch_s_per_part"], single["compute_s_per_part"], single["rows_per_part"], strict=True
        )
    ]
    part_s = max(seconds / max(rows, 1) for seconds, rows in parts)
    slowest = max(seconds for seconds, _rows in parts)
    # The plan's one scan and split grows with every activity, in one process, whatever the workers.
    split_s = single.get("split_s") or 0.0
    overhead = single["total_s"] - split_s - slowest
    return {
        "from": f"{activities:,} activities ({total_rows:,} rows) on {os.cpu_count()} cores, runs with "
        + ", ".join(str(one["workers"]) for one in runs)
        + " workers",
        "rows_per_worker_100M_4_workers": round(target_rows),
        "memory_mb_per_million_rows": round(slope * 1e6, 1),
        "peak_memory_mb_per_worker_100M_4_workers": round(base + slope * target_rows),
        "split_s_100M": round(split_s * 100_000_000 / activities, 1),
        "total_s_100M_4_workers_4_cores": round(split_s * 100_000_000 / activities + part_s * target_rows + overhead, 1),
        "note": "linear in activities (the split) and in rows per worker (each part)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=None, help="default: activities / 10")
    parser.add_argument("--reuse", action="store_true", help="keep the database generated last time")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run with, comma-separated (default 1,2,4)")
    parser.add_argument("--one-task", action=argparse.BooleanOptionalAction, default=None,
                        help="also time the one-task recompute in this process (default: up to 30M activities)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=3600, help="seconds to wait for each run (default 3600)")
    args = parser.parse_args()
    people = args.people or max(args.activities // 10, 10)
    url = os.environ.get("BENCH_SCALE_DATABASE_URL", DEFAULT_URL)
    name = django_environment(url)
    results: dict = {
        "activities": args.activities,
        "people": people,
        "conversion_points": POINTS,
        "cores": os.cpu_count(),
        "goals": {"peak_memory_mb_per_worker_100M_4_workers": GOAL_WORKER_MB, "total_s_100M_4_workers_4_cores": GOAL_100M_4_WORKERS_S},
    }
    clock = time.perf_counter()
    database_migrated(url, name, reuse=args.reuse)

    import django

    django.setup()
    from django.db import connection

    from metrics.engine import metrics_recompute

    database_filled(args, people, results, clock)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        results["database_size"] = cursor.fetchone()[0]

    one_task = args.one_task if args.one_task is not None else args.activities <= 30_000_000
    reference = None
    if one_task:
        clock = time.perf_counter()
        run = metrics_recompute()
        results["one_task"] = {
            "total_s": round(time.perf_counter() - clock, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "stats": {key: run.stats.get(key) for key in ("fetch_s", "compute_s", "write_s", "rows", "points")},
        }
        reference = points_of(run)
    connection.close()  # the workers' runs remove this one; nothing of it is held open here

    results["partitioned"] = []
    with tempfile.TemporaryDirectory(prefix="baloo-scale-") as logs:
        for count in (int(value) for value in args.workers.split(",") if value.strip()):
            print(f"  {count} worker(s)…", file=sys.stderr, flush=True)
            measured = partitioned_on_workers(count, url, Path(logs), args.timeout)
            if reference is not None:
                from metrics.models import MetricRun

                measured["equals_one_task"] = points_of(MetricRun.objects.get(pk=measured["run"])) == reference
            results["partitioned"].append(measured)
            connection.close()
    results["extrapolation"] = extrapolate(results, args.activities)
    results["load_average"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
