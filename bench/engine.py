"""Benchmark of the metrics engine on PostgreSQL (issue 5's speed figures).

    .venv/bin/python bench/engine.py                        # 10,000,000 activities, 1,000,000 people
    .venv/bin/python bench/engine.py --activities 1000000   # a quicker check (people = activities / 10)
    .venv/bin/python bench/engine.py --reuse                # keep the generated database from last time

Drops and recreates the database named by ``BENCH_METRICS_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/baloo_bench_metrics``), migrates it, and fills it inside
PostgreSQL (``INSERT … SELECT generate_series``, seeded, no Python per row): 5 sources, 20 areas
with 40 conversion points (some with container globs, all three levels), people with one or two
identities (2 % staff, 0.1 % bots), activities heavy-tailed over three years. Then it times, in
this process: a full recompute of every scope; the same after 10,000 new activities arrive; and
reports the peak memory of the process (``ru_maxrss``). Prints one JSON object at the end.

"After 10,000 new activities" is the incremental update ingestion triggers (it reads the cache the
full recompute left in ``BALOO_METRICS_CACHE_DIR``); a full recompute follows and the two runs'
points are compared (``incremental_equals_full``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench_metrics"
SOURCES = 5
AREAS = 20
POINTS = 40
TYPES_PER_SOURCE = 10
DAYS = 3 * 365
GOALS = {"full_recompute_s": 30, "after_new_activities_s": 5, "peak_memory_mb": 4096}


def psql_admin(url: str, sql: str) -> None:
    parsed = urlparse(url)
    admin = parsed._replace(path="/postgres").geturl()
    subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True)


ZERO_VALUES = {
    "boolean": "false",
    "text": "''",
    "character varying": "''",
    "integer": "0",
    "bigint": "0",
    "smallint": "0",
    "jsonb": "'{}'",
    "timestamp with time zone": "now()",
    "date": "current_date",
}


def default_missing_columns(cursor, tables: list[str]) -> None:
    """Give every NOT NULL column without a default a plain one, so the inserts below survive new model fields."""
    cursor.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ANY(%s) AND is_nullable = 'NO' AND column_default IS NULL AND column_name <> 'id'",
        [tables],
    )
    for table, column, data_type in cursor.fetchall():
        if data_type in ZERO_VALUES:
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET DEFAULT {ZERO_VALUES[data_type]}')


def fill(cursor, activities: int, people: int) -> None:
    identities = people + people // 5
    default_missing_columns(
        cursor,
        [
            "activities_source",
            "conversion_points_area",
            "conversion_points_conversionpoint",
            "contributors_person",
            "contributors_identity",
            "activities_activity",
        ],
    )
    cursor.execute("SELECT setseed(0.2014)")
    cursor.execute(
        "INSERT INTO activities_source (slug, kind, name, base_url, options, token_env, schedule_minutes, account_namespace, enabled, created_at, updated_at) "
        "SELECT 'bench-' || s, 'manual', 'Bench ' || s, '', '{}', '', 0, '', true, now(), now() FROM generate_series(1, %s) s",
        [SOURCES],
    )
    area_name_columns = "name, name_en, description, description_en"
    cursor.execute(
        f"INSERT INTO conversion_points_area (slug, {area_name_columns}, target, position, created_at, updated_at) "
        "SELECT 'area-' || a, 'Area ' || a, 'Area ' || a, '', '', 1000, a, now(), now() FROM generate_series(1, %s) a",
        [AREAS],
    )
    # Conversion point p: in area 1 + p % 20, on source 1 + p % 5, for one or two of that source's
    # types; every fourth filters containers with a glob; levels cycle core, active, active, casual.
    cursor.execute(
        "INSERT INTO conversion_points_conversionpoint (area_id, slug, source_id, types, container, level, name, name_en, "
        "description, description_en, recognition, recognition_en, next_step_url, enabled, created_at, updated_at) "
        "SELECT (SELECT id FROM conversion_points_area WHERE slug = 'area-' || (1 + p %% %s)), 'cp-' || p, "
        "(SELECT id FROM activities_source WHERE slug = 'bench-' || (1 + p %% %s)), "
        "CASE WHEN p %% 3 = 0 THEN jsonb_build_array('bench.t' || (p %% %s) || '.done', 'bench.t' || ((p + 1) %% %s) || '.done') "
        "ELSE jsonb_build_array('bench.t' || (p %% %s) || '.done') END, "
        "CASE WHEN p %% 4 = 0 THEN 'repo-1*' ELSE '*' END, "
        "(ARRAY['core', 'active', 'active', 'casual'])[1 + p %% 4], 'CP ' || p, 'CP ' || p, '', '', '', '', '', true, now(), now() "
        "FROM generate_series(0, %s) p",
        [AREAS, SOURCES, TYPES_PER_SOURCE, TYPES_PER_SOURCE, TYPES_PER_SOURCE, POINTS - 1],
    )
    cursor.execute(
        "INSERT INTO contributors_person (id, display_name, is_bot, created_at) "
        "SELECT p, '', random() < 0.001, now() FROM generate_series(1, %s) p",
        [people],
    )
    # 2% staff: half of them since always, half hired on a day of the last four years.
    cursor.execute(
        "INSERT INTO contributors_staffperiod (person_id, staff_from, origin, created_at) "
        "SELECT p, CASE WHEN random() < 0.5 THEN NULL ELSE current_date - (random() * 1460)::int END, 'admin', now() "
        "FROM generate_series(1, %s) p WHERE random() < 0.02",
        [people],
    )
    cursor.execute("SELECT setval(pg_get_serial_sequence('contributors_person', 'id'), %s)", [people])
    # Identities 1…people belong to persons 1…people; the extra fifth to random persons.
    cursor.execute(
        "INSERT INTO contributors_identity (id, person_id, kind, namespace, value, name, created_at) "
        "SELECT i, CASE WHEN i <= %s THEN i ELSE 1 + floor(random() * %s)::int END, 'username', 'bench', 'u' || i, '', now() "
        "FROM generate_series(1, %s) i",
        [people, people, identities],
    )
    cursor.execute("SELECT setval(pg_get_serial_sequence('contributors_identity', 'id'), %s)", [identities])
    with indexes_built_after(cursor, "activities_activity"):
        insert_activities(cursor, first=1, count=activities, identities=identities)


@contextmanager
def indexes_built_after(cursor, table: str) -> Iterator[None]:
    """Load `table` without its secondary indexes and unique constraints, then build them once: kept
    up to date row by row, 100M activities took over an hour to insert (a quarter in 20 minutes)."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    )
    indexes = cursor.fetchall()
    for name, _definition in constraints:
        cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
    for name, _definition in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    cursor.execute("SET maintenance_work_mem = '1GB'")
    for _name, definition in indexes:
        cursor.execute(definition)
    for name, definition in constraints:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def insert_activities(cursor, *, first: int, count: int, identities: int, recent_days: int | None = None) -> None:
    """Activities numbered first…first+count-1: a heavy-tailed identity, a type, a container, a time."""
    days = recent_days or DAYS
    cursor.execute(
        "INSERT INTO activities_activity (source_id, external_id, type, occurred_at, identity_id, container, url, title, data, ingested_at) "
        "SELECT s.id, 'e' || n, 'bench.t' || t || '.done', "
        "timestamptz '2026-10-31 23:59:59+00' - make_interval(secs => floor(random() * %s * 86400)), "
        "1 + floor(%s * power(random(), 3))::int, 'repo-' || floor(random() * 30)::int, '', '', '{}', now() "
        "FROM (SELECT n, 1 + floor(random() * %s)::int AS src, floor(random() * %s)::int AS t FROM generate_series(%s, %s) n) g "
        "JOIN activities_source s ON s.slug = 'bench-' || g.src",
        [days, identities, SOURCES, TYPES_PER_SOURCE, first, first + count - 1],
    )


def bench_args(argv: list[str] | None, *, description: str | None, activities: int) -> tuple[argparse.Namespace, int]:
    """The options bench/engine.py and bench/asof.py share; returns them and the number of people."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=activities)
    parser.add_argument("--people", type=int, default=None, help="default: activities / 10")
    parser.add_argument("--reuse", action="store_true", help="keep the database generated last time")
    args = parser.parse_args(argv)
    return args, args.people or max(args.activities // 10, 10)


def django_environment(url: str) -> str:
    """Point Django, set up later in this process, at the database of `url`; returns its name."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")
    os.environ["CELERY_BROKER_URL"] = ""
    sys.path.insert(0, str(ROOT))
    return urlparse(url).path.lstrip("/")


def database_migrated(url: str, name: str, *, reuse: bool) -> None:
    """Drop and recreate the database (unless `reuse`), then migrate it."""
    if not reuse:
        psql_admin(url, f'DROP DATABASE IF EXISTS "{name}"')
        psql_admin(url, f'CREATE DATABASE "{name}"')
    # A reused database may predate the latest migrations.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)


def database_filled(args: argparse.Namespace, people: int, results: dict, clock: float) -> tuple[int, int]:
    """Fill the migrated database (unless --reuse; `generate_s` since `clock`); returns the activities
    stored and the highest identity id. Needs Django set up."""
    from django.db import connection

    if not args.reuse:
        with connection.cursor() as cursor:
            fill(cursor, args.activities, people)
            cursor.execute("VACUUM ANALYZE")
        results["generate_s"] = round(time.perf_counter() - clock, 1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), max(identity_id) FROM activities_activity")
        stored, identities = cursor.fetchone()
    results["activities_stored"] = stored
    return stored, identities


def main() -> None:
    args, people = bench_args(None, description=__doc__, activities=10_000_000)
    url = os.environ.get("BENCH_METRICS_DATABASE_URL", DEFAULT_URL)
    name = django_environment(url)
    results: dict = {
        "activities": args.activities,
        "people": people,
        "areas": AREAS,
        "conversion_points": POINTS,
        "sources": SOURCES,
    }

    clock = time.perf_counter()
    database_migrated(url, name, reuse=args.reuse)

    import django

    django.setup()
    from django.db import connection

    from metrics.engine import metrics_recompute
    from metrics.models import MetricPoint, MetricRun

    stored, identities = database_filled(args, people, results, clock)

    clock = time.perf_counter()
    run = metrics_recompute()
    results["full_recompute_s"] = round(time.perf_counter() - clock, 2)
    results["full_recompute_stats"] = run.stats

    with connection.cursor() as cursor:
        insert_activities(cursor, first=stored + 1, count=10_000, identities=identities, recent_days=7)
    # What ingestion triggers (`metrics_recompute_soon` → the queued task): the incremental update.
    clock = time.perf_counter()
    run = metrics_recompute(incremental=True)
    results["after_new_activities_s"] = round(time.perf_counter() - clock, 2)
    results["after_new_activities_stats"] = run.stats
    incremental_points = {
        (p.scope, p.population, p.date): (p.active, p.new, p.lapsed, p.level_casual, p.level_active, p.level_core)
        for p in MetricPoint.objects.filter(run=run).iterator(chunk_size=20_000)
    }
    # The same numbers counted in full: the incremental update must equal them exactly.
    clock = time.perf_counter()
    full = metrics_recompute()
    results["full_recompute_after_s"] = round(time.perf_counter() - clock, 2)
    full_points = {
        (p.scope, p.population, p.date): (p.active, p.new, p.lapsed, p.level_casual, p.level_active, p.level_core)
        for p in MetricPoint.objects.filter(run=full).iterator(chunk_size=20_000)
    }
    results["incremental_equals_full"] = incremental_points == full_points and (
        run.contributors_ever,
        run.contributors_ever_everyone,
    ) == (full.contributors_ever, full.contributors_ever_everyone)
    results["load_average"] = os.getloadavg()
    results["runs_kept"] = MetricRun.objects.count()
    results["peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    results["goals"] = GOALS
    results["meets_goals"] = results["incremental_equals_full"] and all(
        results[key] <= goal for key, goal in GOALS.items()
    )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
