"""Sync benchmark: requests per 100 items of a first and a repeat sync, against local stand-ins of the APIs.

    .venv/bin/python bench/sync.py                       # PostgreSQL, 100,000 items a system
    .venv/bin/python bench/sync.py --items 20000 --database sqlite --json /tmp/sync.json
    .venv/bin/python bench/run.py --only sync            # the same, as one of `make bench`'s benchmarks

It drops and recreates the database named by BENCH_SYNC_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/baloo_bench_sync), migrates it, serves the stand-ins from a
separate process (so the APIs' own work is not counted against Baloo), and syncs:

- GitHub, a busy repository (30% issues, 5% pull requests, half merged, one review each, 40%
  comments, the rest commits), with a token: reviews through GraphQL. Then the same repository
  as a second source with `"graphql": false`: the REST API alone, as before GraphQL (`--no-compare`
  leaves it out).
- Bugzilla, as many bugs as make about `--items` activities (filed, a comment each, every third
  fixed with an attachment): comments and attachments for a page of bugs per request. Then a
  second source against a server that answers for one bug a request, as the connector asked before.

Each source syncs three times: a first sync, a repeat right after it, and a second repeat. It
prints, and writes with `--json`, activities per second and requests per 100 items for each.
"""

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_FIRST = 2.0  # GitHub: requests per 100 items of a first sync, at most
GOAL_REPEAT = 0.1  # and of a repeat: about none


def serve(items: int, ready, ports) -> None:
    from activities.tests.builders import bugzilla_bugs, github_repo
    from activities.tests.standin import FakeBugzilla, FakeGitHub, Server

    github = FakeGitHub()
    pulls = items // 20
    issues = items * 3 // 10
    comments = items * 4 // 10
    commits = items - issues - pulls - pulls // 2 - pulls - comments
    expected_github = sum(github_repo(github, "bench/app", issues=issues, pulls=pulls, comments=comments, commits=commits).values())
    bugzilla, one_by_one = FakeBugzilla(), FakeBugzilla()
    # About 8 activities for 3 bugs: filed, a comment each; every third fixed, with an attachment.
    expected_bugzilla = sum(bugzilla_bugs(bugzilla, items * 3 // 8).values())
    bugzilla_bugs(one_by_one, items * 3 // 8)
    one_by_one.path_id_only = True  # a server that answers for the path's bug only: one bug a request
    servers = [Server(api) for api in (github, bugzilla, one_by_one)]
    for index, server in enumerate(servers):
        server.__enter__()
        ports[index] = int(server.url.rsplit(":", 1)[1])
    ready.put({"github": expected_github, "bugzilla": expected_bugzilla})
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


def sync_three_times(source, expected: int) -> dict:
    from activities.models import Activity
    from activities.sync import source_sync

    result = {}
    for label in ("first", "repeat", "second_repeat"):
        started = time.perf_counter()
        run = source_sync(source=source)
        seconds = time.perf_counter() - started
        processed = run.created + run.duplicate
        per_100 = 100 * run.requests / expected
        print(
            f"  {source.slug:>24} {label:>13}: {run.status}, {seconds:7.2f} s, {run.created:,} created, {run.duplicate:,} duplicate, "
            f"{processed / seconds if processed else 0:,.0f} activities/s, {run.requests:,} requests "
            f"({run.not_modified} answered 304), {per_100:.3f} requests per 100 items"
        )
        if run.error:
            print(f"{'':>28}{run.error}")
        result[label] = {"status": run.status, "seconds": round(seconds, 2), "created": run.created, "requests": run.requests,
                         "not_modified": run.not_modified, "requests_per_100_items": round(per_100, 3)}
    stored = Activity.objects.filter(source=source).count()
    result["stored"] = stored
    result["all_once"] = stored == expected
    print(f"  {source.slug:>24} stored: {stored:,} of {expected:,} ({'all, once' if stored == expected else 'MISMATCH'})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="activities each stand-in serves, about (default 100,000)")
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--no-compare", action="store_true", help="leave out the REST-only GitHub and one-bug-a-request Bugzilla syncs")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    args = parser.parse_args()

    context = multiprocessing.get_context("fork")
    ready, ports = context.Queue(), context.Array("i", 3)
    server = context.Process(target=serve, args=(args.items, ready, ports), daemon=True)
    server.start()
    expected = ready.get(timeout=900)

    prepare_database(args.database)
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    os.environ.setdefault("BALOO_SOURCE_ALLOWED_HOSTS", "127.0.0.1")  # the stand-ins are local; production refuses loopback
    os.environ["BALOO_TOKEN_BENCH_GITHUB"] = "ghp_bench"
    os.environ["BALOO_TOKEN_BENCH_BUGZILLA"] = "bmo-bench"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import activities.sync
    from activities.models import Source

    # The metrics recompute a sync queues is another benchmark's business (bench/run.py).
    activities.sync.metrics_recompute_soon = lambda: None

    github_url, bugzilla_url, one_by_one_url = (f"http://127.0.0.1:{port}" for port in ports)
    sources = [
        ("github", Source(slug="github-bench", kind="github", base_url=github_url, token_env="BALOO_TOKEN_BENCH_GITHUB",
                          options={"repos": ["bench/app"], "backoff_seconds": 0})),
        ("github_rest_only", Source(slug="github-bench-rest-only", kind="github", base_url=github_url, token_env="BALOO_TOKEN_BENCH_GITHUB",
                                    options={"repos": ["bench/app"], "backoff_seconds": 0, "graphql": False})),
        ("bugzilla", Source(slug="bugzilla-bench", kind="bugzilla", base_url=bugzilla_url, token_env="BALOO_TOKEN_BENCH_BUGZILLA",
                            options={"backoff_seconds": 0})),
        ("bugzilla_one_bug_a_request", Source(slug="bugzilla-bench-one-by-one", kind="bugzilla", base_url=one_by_one_url,
                                              token_env="BALOO_TOKEN_BENCH_BUGZILLA", options={"backoff_seconds": 0})),
    ]
    if args.no_compare:
        sources = [(name, source) for name, source in sources if name in ("github", "bugzilla")]
    print(f"stand-ins: {expected['github']:,} GitHub activities in bench/app, {expected['bugzilla']:,} Bugzilla activities; "
          f"database: {args.database}; {os.cpu_count()} cores")
    results: dict = {"items": expected, "cores": os.cpu_count(), "database": args.database}
    for name, source in sources:
        source.name = source.slug
        source.save()
        results[name] = sync_three_times(source, expected[source.kind])
    github = results["github"]
    results["goal"] = {"github_first_requests_per_100_items_at_most": GOAL_FIRST, "github_repeat_requests_per_100_items_at_most": GOAL_REPEAT}
    results["goal_met"] = (github["first"]["requests_per_100_items"] <= GOAL_FIRST
                           and github["repeat"]["requests_per_100_items"] <= GOAL_REPEAT and github["all_once"])
    print(f"goal (GitHub: first ≤ {GOAL_FIRST} and repeat ≤ {GOAL_REPEAT} requests per 100 items): "
          f"{'MET' if results['goal_met'] else 'NOT MET'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    server.terminate()


if __name__ == "__main__":
    main()
