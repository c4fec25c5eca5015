"""git sync benchmark: a generated 200,000-commit repository synced through the real `source_sync`.

    .venv/bin/python bench/git_sync.py                          # PostgreSQL, 200,000 commits
    .venv/bin/python bench/git_sync.py --commits 20000 --database sqlite

It drops and recreates the database named by BENCH_GIT_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/baloo_bench_git), migrates it, writes the repository once with
`git fast-import` (cached in bench/data/, 1,000 generated authors, dates one minute apart with five
UTC offsets, every seventh commit committed by another account), and reads it by local path as an
operator's repository is read. Then: a first sync, 100 new commits, an incremental sync. It prints
commits per second, the incremental sync's seconds, and the worker's peak memory (its high-water
mark) when the walk has read 50,000 commits and at the end: flat memory means the two are close.
The last line is the results as JSON (bench/benchmarks.py reads it).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA_DIR = ROOT / "bench" / "data"
GOAL_COMMITS_PER_S = 5_000
GOAL_INCREMENTAL_S = 5.0
MEMORY_CHECKPOINT = 50_000


def memory_mb(field: str = "VmHWM") -> float:
    """This process's peak resident memory so far (VmHWM) or its resident memory now (VmRSS), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def postgres_active_s(database: str) -> float | None:
    """Seconds PostgreSQL spent executing statements in `database` so far (pg_stat_database, PostgreSQL ≥ 14)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT active_time FROM pg_stat_database WHERE datname = %s", [database])
        row = cursor.fetchone()
    return (row[0] or 0) / 1000 if row else None


def git(*args: str, cwd: Path | None = None, stdin=None) -> str:
    from activities.tests.standin_git import CLEAN

    return subprocess.run(["git", *args], cwd=cwd, env={"PATH": os.environ["PATH"], **CLEAN}, input=stdin,
                          capture_output=True, check=True).stdout.decode().strip()


def fast_import(repo: Path, count: int, *, first: int = 0) -> None:
    from activities.tests.standin_git import CLEAN, fast_import_stream

    parent = git("rev-parse", "refs/heads/main", cwd=repo) if first else ""
    process = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=repo, stdin=subprocess.PIPE,
                               env={"PATH": os.environ["PATH"], **CLEAN})
    for chunk in fast_import_stream(count, ref="refs/heads/main", parent=parent, first=first):
        process.stdin.write(chunk)
    process.stdin.close()
    if process.wait() != 0:
        raise RuntimeError("git fast-import failed")


def generated_repository(commits: int) -> Path:
    """The bare repository of `commits` commits, written once and kept in bench/data/."""
    path = DATA_DIR / f"git-{commits}.git"
    if (path / "baloo-complete").exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    git("init", "--quiet", "--bare", "--initial-branch=main", str(path))
    started = time.perf_counter()
    fast_import(path, commits)
    # Packed as `git gc` packs a real repository (and as a hosting service serves it).
    git("repack", "-a", "-d", "-q", cwd=path)
    (path / "baloo-complete").write_text("")
    print(f"generated {commits:,} commits with git fast-import in {time.perf_counter() - started:.1f} s")
    return path


def prepare_database(kind: str) -> None:
    if kind == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench-git.sqlite3"
        return
    url = os.environ.get("BENCH_GIT_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/baloo_bench_git")
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password,
                             dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    os.environ["DATABASE_URL"] = url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=200_000, help="commits in the generated repository (default 200,000)")
    parser.add_argument("--new", type=int, default=100, help="commits added before the incremental sync (default 100)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the first sync to this file")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    pristine = generated_repository(args.commits)
    work = Path(tempfile.mkdtemp(prefix="baloo-bench-git-"))
    repos = work / "repos"
    repos.mkdir()
    # A copy to add commits to (objects hard-linked: seconds, not minutes); the cached one stays as generated.
    repo = repos / "bench-app.git"
    git("clone", "--quiet", "--bare", "--local", str(pristine), str(repo))
    os.environ["BALOO_GIT_ALLOWED_PATHS"] = str(repos)
    os.environ["BALOO_GIT_WORKDIR"] = str(work / "mirrors")
    prepare_database(args.database)
    import django

    # Migrated by another process, so this one's peak memory is the sync's alone.
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity=0"], cwd=ROOT, check=True)
    django.setup()
    from activities.connectors.git import GitConnector
    from activities.models import Activity, Source
    from activities.signals import activities_stored
    from activities.sync import source_sync

    # The recompute a sync asks for runs in a worker of its own, later: not this benchmark's business
    # (in-process, as Celery runs eagerly here, it would run after every committed batch).
    activities_stored.disconnect(dispatch_uid=f"metrics.counts_out_of_date.{id(activities_stored)}")

    memory = {"before_mb": memory_mb()}
    real_pages = GitConnector.pages

    def watched_pages(self, checkpoint):
        for page in real_pages(self, checkpoint):
            walked = page.checkpoint.get("walk", {}).get("count", 0)
            if walked >= MEMORY_CHECKPOINT and "at_50000_mb" not in memory:
                memory["at_50000_mb"] = memory_mb()
            yield page

    GitConnector.pages = watched_pages
    source = Source.objects.create(slug="git-bench", kind="git", name="git bench", options={"url": str(repo)},
                                   schedule_minutes=0)
    expected = args.commits + len(range(0, args.commits, 7))
    print(f"repository: {args.commits:,} commits ({expected:,} activities); database: {args.database}")

    import resource

    def cpu() -> tuple[float, float]:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime

    from django.db import connection

    database = connection.settings_dict["NAME"]
    pg_before = postgres_active_s(database)
    cpu_before = cpu()
    started = time.perf_counter()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        first = profiler.runcall(source_sync, source=source)
        profiler.dump_stats(str(args.profile))
    else:
        first = source_sync(source=source)
    first_seconds = time.perf_counter() - started
    memory["at_end_mb"] = memory_mb()
    cpu_after = cpu()
    time.sleep(0.5)  # a backend's statistics reach pg_stat_database when it goes idle for a moment
    pg_after = postgres_active_s(database)
    git_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    fast_import(repo, args.new, first=args.commits)
    started = time.perf_counter()
    second = source_sync(source=source)
    second_seconds = time.perf_counter() - started
    stored = Activity.objects.filter(source=source).count()
    expected_after = expected + args.new + len(range((args.commits + 6) // 7 * 7, args.commits + args.new, 7))

    result = {
        "commits": args.commits,
        "database": args.database,
        "first_status": first.status,
        "first_seconds": round(first_seconds, 2),
        "commits_per_s": round(args.commits / first_seconds),
        # On a shared machine wall time drifts with the load; CPU seconds say what the sync itself cost.
        "first_cpu_s_python": round(cpu_after[0] - cpu_before[0], 1),
        "first_cpu_s_git": round(cpu_after[1] - cpu_before[1], 1),
        "first_postgres_active_s": round(pg_after - pg_before, 1) if pg_before is not None and pg_after is not None else None,
        "load_average": os.getloadavg()[0],
        "activities_per_s": round((first.created + first.duplicate) / first_seconds),
        "first_created": first.created,
        "incremental_status": second.status,
        "incremental_seconds": round(second_seconds, 2),
        "incremental_created": second.created,
        "incremental_fetches": second.requests,
        "peak_rss_mb_before_sync": round(memory["before_mb"], 1),
        "peak_rss_mb_at_50000_commits": round(memory.get("at_50000_mb", 0), 1),
        "peak_rss_mb_at_end": round(memory["at_end_mb"], 1),
        "peak_rss_mb_git_children": round(git_peak_mb, 1),
        "stored": stored,
        "stored_as_expected": stored == expected_after,
        "goal_commits_per_s": GOAL_COMMITS_PER_S,
        "goal_incremental_s": GOAL_INCREMENTAL_S,
        "goal_met": args.commits / first_seconds >= GOAL_COMMITS_PER_S and second_seconds <= GOAL_INCREMENTAL_S
        and stored == expected_after,
    }
    for error in (first.error, second.error):
        if error:
            result.setdefault("errors", []).append(error)
    print(f"first sync:  {first.status}, {first_seconds:.1f} s, {result['commits_per_s']:,} commits/s, {first.created:,} created "
          f"(CPU: {result['first_cpu_s_python']} s Python, {result['first_cpu_s_git']} s git; PostgreSQL active "
          f"{result['first_postgres_active_s']} s; load average {result['load_average']:.1f})")
    print(f"incremental: {second.status}, {second_seconds:.2f} s, {second.created:,} created, {second.requests} fetch")
    print(f"peak memory: {result['peak_rss_mb_before_sync']} MB before the sync, "
          f"{result['peak_rss_mb_at_50000_commits']} MB at {MEMORY_CHECKPOINT:,} commits, "
          f"{result['peak_rss_mb_at_end']} MB at the end (git itself: {result['peak_rss_mb_git_children']} MB)")
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
