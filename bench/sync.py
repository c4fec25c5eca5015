"""Sync benchmark: a GitHub source against a local stand-in API serving 100,000 items.

    .venv/bin/python bench/sync.py                       # PostgreSQL, 100,000 activities
    .venv/bin/python bench/sync.py --items 20000 --database sqlite

It drops and recreates the database named by BENCH_SYNC_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/baloo_bench_sync), migrates it, serves the stand-in from a
separate process (so the API's own work is not counted against Baloo), and runs `source_sync`
three times: a first sync, a repeat right after it, and a second repeat. It prints activities per
second and requests per 100 items for each.
"""

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve(items: int, ready, port_value) -> None:
    from activities.tests.builders import github_repo
    from activities.tests.standin import FakeGitHub, Server

    api = FakeGitHub()
    # The mix of a busy repository: 30% issues, 5% pull requests (half merged, one review each),
    # 40% comments, the rest commits.
    pulls = items // 20
    issues = items * 3 // 10
    comments = items * 4 // 10
    commits = items - issues - pulls - pulls // 2 - pulls - comments
    expected = github_repo(api, "bench/app", issues=issues, pulls=pulls, comments=comments, commits=commits)
    server = Server(api)
    server.__enter__()
    port_value.value = int(server.url.rsplit(":", 1)[1])
    ready.put(sum(expected.values()))
    while True:
        time.sleep(3600)


def prepare_database(kind: str) -> None:
    if kind == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench-sync.sqlite3"
        return
    url = os.environ.get("BENCH_SYNC_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/baloo_bench_sync")
    import psycopg2

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(host=parts.hostname, port=parts.port or 5432, user=parts.username, password=parts.password, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    os.environ["DATABASE_URL"] = url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="activities the stand-in serves (default 100,000)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()

    context = multiprocessing.get_context("fork")
    ready, port = context.Queue(), context.Value("i", 0)
    server = context.Process(target=serve, args=(args.items, ready, port), daemon=True)
    server.start()
    expected = ready.get(timeout=600)

    prepare_database(args.database)
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    os.environ.setdefault("BALOO_SOURCE_ALLOWED_HOSTS", "127.0.0.1")  # the stand-in is local; production refuses loopback
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import activities.sync
    from activities.models import Activity, Source
    from activities.sync import source_sync

    # The metrics recompute a sync queues is another benchmark's business (bench/run.py).
    activities.sync.metrics_recompute_soon = lambda: None

    source = Source.objects.create(slug="github-bench", kind="github", name="GitHub bench", base_url=f"http://127.0.0.1:{port.value}",
                                   options={"repos": ["bench/app"], "backoff_seconds": 0})
    print(f"stand-in: {expected:,} activities in bench/app; database: {args.database}")
    for label in ("first sync", "repeat sync", "second repeat"):
        started = time.perf_counter()
        run = source_sync(source=source)
        seconds = time.perf_counter() - started
        processed = run.created + run.duplicate
        print(
            f"{label:>13}: {run.status}, {seconds:7.2f} s, {run.created:,} created, {run.duplicate:,} duplicate, "
            f"{processed / seconds if processed else 0:,.0f} activities/s, {run.requests:,} requests "
            f"({run.not_modified} answered 304), {100 * run.requests / expected:.2f} requests per 100 items"
        )
        if run.error:
            print(f"{'':>15}{run.error}")
    stored = Activity.objects.filter(source=source).count()
    print(f"stored: {stored:,} of {expected:,} ({'all, once' if stored == expected else 'MISMATCH'})")
    server.terminate()


if __name__ == "__main__":
    main()
