"""Benchmark of the summary "as of today" (issue 16 finding 10, issue 21's scale) on PostgreSQL.

    .venv/bin/python bench/asof.py                          # 1,000,000 activities, 100,000 people
    .venv/bin/python bench/asof.py --activities 10000000    # Baloo's target scale
    .venv/bin/python bench/asof.py --reuse                  # keep the generated database from last time

Fills its own database (``BENCH_ASOF_DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/baloo_bench_asof``) the way ``bench/engine.py`` does, then
times, in this process:

- ``scope_counts_s``: the SQL count of the summary as of today (`contributions.scope_counts`), per
  population: what the first request after every recompute paid inline before runs stored it
  (and what a past ``?date=`` still costs, once per run and day);
- ``full_recompute_s`` and ``as_of_in_full_s``: a full recompute, and the part of it that counts
  the summary as of today in numpy from the rows it holds;
- ``first_request_ms`` / ``cached_request_ms``: the summary right after that recompute, read from
  the run, then from the cache (the API keeps each answer per run and day);
- ``as_of_in_update_s``: the same count in an incremental update after 10,000 new activities
  (the recounted persons adjusted), and ``as_of_new_day_s`` in the first update after midnight
  (everyone counted again, once a day);
- ``equals_scope_counts``: the stored figures equal the SQL count, both populations.
Prints one JSON object at the end.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import timedelta
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

import engine as engine_bench  # noqa: E402  (bench/engine.py, next to this file)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench_asof"
GOALS = {"first_request_ms": 50, "as_of_full_share": 0.15, "as_of_in_update_s": 0.5}


def main(argv: list[str] | None = None) -> dict:
    args, people = engine_bench.bench_args(argv, description=__doc__, activities=1_000_000)
    url = os.environ.get("BENCH_ASOF_DATABASE_URL", DEFAULT_URL)
    name = engine_bench.django_environment(url)
    os.environ.setdefault("BALOO_METRICS_CACHE_DIR", f"/tmp/baloo-bench-asof-{name}")
    results: dict = {"activities": args.activities, "people": people, "cores": os.cpu_count()}

    clock = time.perf_counter()
    engine_bench.database_migrated(url, name, reuse=args.reuse)

    import django

    django.setup()
    from django.core.cache import cache
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from conversion_points.contributions import scope_counts, today_utc
    from conversion_points.models import Population
    from metrics.engine import cache_clear, metrics_recompute
    from metrics.selectors import metrics_summary, run_cached

    stored, identities = engine_bench.database_filled(args, people, results, clock)

    today = today_utc()
    # Before: what the first request after each recompute counted inline (one SQL pass per population).
    counted = {}
    for population in (Population.VOLUNTEERS, Population.EVERYONE):
        clock = time.perf_counter()
        counted[population] = scope_counts(day=today, population=population)
        results[f"scope_counts_s_{population}"] = round(time.perf_counter() - clock, 2)

    cache_clear()
    clock = time.perf_counter()
    run = metrics_recompute()
    results["full_recompute_s"] = round(time.perf_counter() - clock, 2)
    results["as_of_in_full_s"] = run.stats.get("as_of_s")
    results["as_of_full_share"] = round(results["as_of_in_full_s"] / results["full_recompute_s"], 3)
    results["equals_scope_counts"] = all(
        run.as_of[population] == counted[population] | {"scopes": {
            scope: row for scope, row in counted[population]["scopes"].items() if scope in run.as_of[population]["scopes"]
        }}
        and all(row == {"active": 0, "new": 0} for scope, row in counted[population]["scopes"].items()
                if scope not in run.as_of[population]["scopes"])
        for population in counted
    )

    # After: the first request right after the recompute reads the run's figures; then the cache.
    cache.clear()
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        clock = time.perf_counter()
        summary = metrics_summary(run=run, day=None, population=Population.VOLUNTEERS)
        results["first_request_ms"] = round((time.perf_counter() - clock) * 1000, 2)
    results["first_request_queries"] = len(queries)
    results["summary_date"] = summary["date"]
    build = lambda: metrics_summary(run=run, day=None, population=Population.VOLUNTEERS)  # noqa: E731
    run_cached(run=run, namespace="bench-asof", name="summary", build=build)
    clock = time.perf_counter()
    for _ in range(100):
        run_cached(run=run, namespace="bench-asof", name="summary", build=build)
    results["cached_request_ms"] = round((time.perf_counter() - clock) * 10, 3)

    with connection.cursor() as cursor:
        engine_bench.insert_activities(cursor, first=stored + 1, count=10_000, identities=identities, recent_days=7)
    clock = time.perf_counter()
    run = metrics_recompute(incremental=True)
    results["update_after_new_activities_s"] = round(time.perf_counter() - clock, 2)
    results["as_of_in_update_s"] = run.stats.get("as_of_s")
    results["update_mode"] = (run.stats.get("mode"), run.stats.get("as_of"))
    # The first update after midnight (the midnight job's): everyone's rows counted as of the new day
    # (the engine's clock for the summary's day moved on by one; time-machine is for tests only).
    from metrics import calendar as engine_calendar

    tomorrow = today + timedelta(days=1)
    engine_calendar.today_utc = lambda: tomorrow
    clock = time.perf_counter()
    run = metrics_recompute(incremental=True)
    results["update_new_day_s"] = round(time.perf_counter() - clock, 2)
    results["as_of_new_day_s"] = run.stats.get("as_of_s")
    results["new_day_mode"] = (run.stats.get("mode"), run.stats.get("as_of"))
    results["new_day_equals_scope_counts"] = run.as_of["day"] == tomorrow.isoformat() and run.as_of[
        Population.VOLUNTEERS
    ]["ever"] == scope_counts(day=tomorrow, population=Population.VOLUNTEERS)["ever"]
    results["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["goals"] = GOALS
    results["meets_goals"] = results["equals_scope_counts"] and all(
        results[key] is not None and results[key] <= goal for key, goal in GOALS.items()
    )
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
