"""The benchmarks ``make bench`` runs, in order, each with what it needs run before it.

Adding a benchmark: write ``def bench_x(ctx) -> dict`` decorated with
``@benchmark("x", "what it measures", requires=("import",))`` (see bench/run.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import generate  # bench/generate.py, next to this file
from harness import BENCH_DIR, DATA_DIR, ROOT, BenchError, Context, parse_counts

GOAL_IMPORT_RPS = 50_000

BENCH_SOURCES = [
    {
        "slug": "bench-github",
        "kind": "github",
        "name": "GitHub (benchmark)",
        "base_url": "https://api.github.com",
        "options": {},
        "token_env": "",
        "schedule_minutes": 0,
    },
    {
        "slug": "bench-bugzilla",
        "kind": "bugzilla",
        "name": "Bugzilla (benchmark)",
        "base_url": "https://bugzilla.mozilla.org",
        "options": {},
        "token_env": "",
        "schedule_minutes": 0,
    },
    {
        "slug": "bench-sumo",
        "kind": "sumo",
        "name": "SUMO (benchmark)",
        "base_url": "https://support.mozilla.org",
        "options": {},
        "token_env": "",
        "schedule_minutes": 0,
    },
]


# --------------------------------------------------------------------------- registry


@dataclass
class Benchmark:
    name: str
    description: str
    func: Callable[[Context], dict]
    requires: tuple[str, ...] = ()


BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, description: str, requires: tuple[str, ...] = ()):
    def register(func):
        BENCHMARKS[name] = Benchmark(name, description, func, requires)
        return func

    return register


def plan(selected: list[str]) -> list[str]:
    order: list[str] = []

    def add(name: str) -> None:
        for dep in BENCHMARKS[name].requires:
            add(dep)
        if name not in order:
            order.append(name)

    for name in selected:
        add(name)
    return order


# --------------------------------------------------------------------------- benchmarks



def run_script(ctx: Context, script: str, *args: str, database: str = "", database_env: str = "") -> str:
    """Run bench/`script` with `args` and return what it printed; its last lines in a BenchError when it fails.

    With `database`, the script works in a database of its own, named after this run's with
    `_<database>` added, given to it in `database_env` (and as DATABASE_URL, for Django).
    """
    env = ctx.env()
    if database:
        own = urlparse(ctx.db_url)._replace(path=f"/{ctx.db_name}_{database}").geturl()
        env.update({database_env: own, "DATABASE_URL": own})
    proc = subprocess.run([sys.executable, str(BENCH_DIR / script), *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"bench/{script} failed:\n" + "\n".join(proc.stderr.strip().splitlines()[-25:]))
    return proc.stdout


def printed_json(output: str) -> dict:
    """The JSON object a script printed last: indented over several lines, or on its last line."""
    if "\n{\n" in output or output.startswith("{\n"):
        start = output.rindex("\n{\n") + 1 if "\n{\n" in output else 0
        return json.loads(output[start:])
    return json.loads(output.strip().splitlines()[-1])

@benchmark("import", "fresh database: migrate, create the sources, time `import_activities FILE`")
def bench_import(ctx: Context) -> dict:
    if not ctx.has_command("import_activities"):
        raise BenchError(
            "manage.py import_activities does not exist yet (activities/management/commands/import_activities.py)"
        )
    dataset = ctx.ensure_dataset()
    records = ctx.args.records

    print(f"  recreating database {ctx.db_name!r} and migrating…")
    ctx.recreate_database()
    ctx.manage("migrate", "--noinput", echo=False)

    import_args = ["import_activities", str(dataset)]
    if ctx.has_command("load_config"):
        config = DATA_DIR / "bench-config.json"
        config.write_text(json.dumps({"sources": BENCH_SOURCES, "areas": []}, indent=2) + "\n")
        ctx.manage("load_config", str(config), echo=False)
        how_sources = "load_config"
    else:
        import_args.append("--create-sources")
        how_sources = "--create-sources"

    profile = DATA_DIR / f"import-{records}.prof" if ctx.args.profile else None
    print(f"  importing {dataset.name} ({records:,} records, sources via {how_sources})…")
    run = ctx.manage(*import_args, profile=profile, statements=ctx.args.pg_statements)
    counts = ctx.counts()
    printed = parse_counts(run.stdout + "\n" + run.stderr)
    result = {
        "records": records,
        "seconds": run.wall,
        "records_per_s": records / run.wall,
        "client_cpu_s": run.cpu,
        "postgres_active_s": run.pg_active,
        "printed": printed,
        **counts,
        "identities_by_kind": dict(
            ctx.rows("SELECT kind, count(*) FROM contributors_identity GROUP BY kind ORDER BY kind")
        ),
        "database_size": ctx.scalar("SELECT pg_size_pretty(pg_database_size(current_database()))"),
        "goal_records_per_s": GOAL_IMPORT_RPS,
        "goal_met": records / run.wall >= GOAL_IMPORT_RPS,
        "profiled": bool(profile),
    }
    if profile:
        result["profile"] = str(profile)
    if run.statements is not None:
        result["pg_statements"] = run.statements
    if counts["activities"] != records - printed.get("rejected", 0):
        result["warning"] = (
            f"{counts['activities']:,} activities stored for {records:,} records ({printed.get('rejected', 0):,} rejected)"
        )
    return result


@benchmark("reimport", "the same file again: must create nothing", requires=("import",))
def bench_reimport(ctx: Context) -> dict:
    dataset = ctx.ensure_dataset()
    records = ctx.args.records
    before = ctx.counts()
    print(f"  re-importing {dataset.name}…")
    run = ctx.manage("import_activities", str(dataset), statements=ctx.args.pg_statements)
    after = ctx.counts()
    printed = parse_counts(run.stdout + "\n" + run.stderr)
    created = {k: after[k] - before[k] for k in after}
    result = {
        "records": records,
        "seconds": run.wall,
        "records_per_s": records / run.wall,
        "client_cpu_s": run.cpu,
        "postgres_active_s": run.pg_active,
        "printed": printed,
        "created_activities": created["activities"],
        "created_persons": created["persons"],
        "created_identities": created["identities"],
        "goal_met": created["activities"] == 0 and printed.get("created", 0) == 0,
    }
    if run.statements is not None:
        result["pg_statements"] = run.statements
    return result


@benchmark("directory", "import a people directory for every person of the data set (≤ 30 s)", requires=("import",))
def bench_directory(ctx: Context) -> dict:
    people = ctx.args.people or generate.default_people(ctx.args.records)
    path = generate.ensure_directory(people)
    before = ctx.counts()
    print(f"  importing the people directory {path.name} ({people:,} records)…")
    run = ctx.manage("import_people", str(path), statements=ctx.args.pg_statements)
    after = ctx.counts()
    printed = parse_counts(run.stdout + "\n" + run.stderr)
    result = {
        "records": people,
        "seconds": run.wall,
        "records_per_s": people / run.wall,
        "client_cpu_s": run.cpu,
        "postgres_active_s": run.pg_active,
        "printed": printed,
        "persons_before": before["persons"],
        "persons_after": after["persons"],
        "staff": ctx.scalar("SELECT count(DISTINCT person_id) FROM contributors_staffperiod"),
        "goal_seconds": 30,
        "goal_met": run.wall <= 30,
    }
    if run.statements is not None:
        result["pg_statements"] = run.statements
    return result


@benchmark("load", "gunicorn on loopback with the demo data: wrk on the home page and the summary API (bench/load.py)")
def bench_load(ctx: Context) -> dict:
    import load  # bench/load.py, next to this file

    if shutil.which("wrk") is None:
        return {"skipped": "wrk is not installed (apt-get install -y wrk); the other benchmarks still run"}

    result = load.run(parts=["pages"], duration=ctx.args.load_seconds, connections=16, clients=8, batches=10, size=100)
    pages = result["pages"]
    return {"cores": result["cores"], "gunicorn": result["gunicorn"], **{name: pages[name] for name in pages},
            "goal_met": all(page["goal_met"] for page in pages.values())}


@benchmark("push", "the push API under 8 concurrent clients sending 100-record batches: throughput, nothing lost or doubled")
def bench_push(ctx: Context) -> dict:
    import load  # bench/load.py, next to this file

    result = load.run(parts=["push"], duration=0, connections=0, clients=8, batches=10, size=100)
    return {"cores": result["cores"], "gunicorn": result["gunicorn"], **result["push"]}


@benchmark(
    "identities",
    "identity resolution alone: the actors of every record resolved into an empty people table (≤ 30 s)",
    requires=("import",),
)
def bench_identities(ctx: Context) -> dict:
    dataset = ctx.ensure_dataset()
    print(f"  resolving the actors of {dataset.name} (reading and checking the records is not timed)…")
    result = printed_json(run_script(ctx, "identities.py", str(dataset)))
    result["goal_seconds"] = 30
    result["goal_met"] = result["seconds"] <= 30
    # The people table is rebuilt from scratch here: the directory benchmark needs a fresh import.
    return result


@benchmark(
    "asof",
    "as-of-today summary: the SQL count a request paid after each recompute, now counted in the run; first request, then cached",
)
def bench_asof(ctx: Context) -> dict:
    """bench/asof.py in a database of its own (this one's name + `_asof`), at --records activities."""
    output = run_script(ctx, "asof.py", "--activities", str(ctx.args.records), database="asof", database_env="BENCH_ASOF_DATABASE_URL")
    return printed_json(output)


@benchmark(
    "git",
    "git sync of a generated 200,000-commit repository: first sync (≥ 5,000 commits/s), 100 new commits "
    "(≤ 5 s), peak memory at 50,000 commits and at the end (flat) — bench/git_sync.py",
)
def bench_git(ctx: Context) -> dict:
    """bench/git_sync.py in a database of its own (this one's name + `_git`)."""
    return printed_json(run_script(ctx, "git_sync.py", database="git", database_env="BENCH_GIT_DATABASE_URL"))


@benchmark(
    "sync",
    "requests per 100 items of a first and a repeat sync against the stand-ins: GitHub (GraphQL reviews) and Bugzilla (ids=), "
    "beside REST alone and one bug a request (bench/sync.py)",
)
def bench_sync(ctx: Context) -> dict:
    """bench/sync.py in a database of its own (this one's name + `_sync`), at --records items a system, 100,000 at most."""
    out = DATA_DIR / "sync-results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    items = str(min(ctx.args.records, 100_000))
    output = run_script(ctx, "sync.py", "--items", items, "--json", str(out), database="sync", database_env="BENCH_SYNC_DATABASE_URL")
    print("\n".join(line for line in output.splitlines() if line.strip()))
    figures = json.loads(out.read_text())
    result = {"items": figures["items"], "cores": figures["cores"]}
    for name in ("github", "github_rest_only", "bugzilla", "bugzilla_one_bug_a_request"):
        if name in figures:
            for label in ("first", "repeat", "second_repeat"):
                result[f"{name}_{label}_requests_per_100_items"] = figures[name][label]["requests_per_100_items"]
            result[f"{name}_all_stored_once"] = figures[name]["all_once"]
    result["goal"] = figures["goal"]
    result["goal_met"] = figures["goal_met"]
    return result


@benchmark(
    "freshness",
    "seconds from a push to the public summary under a steady stream of 200 records/s for 2 minutes, against a "
    "10M-activity database, with gunicorn, a Celery worker and Redis (p95 ≤ 10 s, max ≤ 30 s) — bench/freshness.py",
)
def bench_freshness(ctx: Context) -> dict:
    """bench/freshness.py in a database of its own (this one's name + `_fresh`); BENCH_FRESHNESS_ACTIVITIES sets the size."""
    activities = os.environ.get("BENCH_FRESHNESS_ACTIVITIES", "10000000")
    output = run_script(ctx, "freshness.py", "--activities", activities, database="fresh", database_env="BENCH_FRESHNESS_DATABASE_URL")
    return printed_json(output)


@benchmark(
    "scale",
    "the partitioned recompute on 1, 2 and 4 real workers at --scale-activities (10M; 100M for Mozilla's order): "
    "total time and peak memory per worker — bench/scale.py",
)
def bench_scale(ctx: Context) -> dict:
    """bench/scale.py in a database of its own (this one's name + `_scale`)."""
    args = ["--activities", str(ctx.args.scale_activities), *(["--reuse"] if ctx.args.scale_reuse else [])]
    return printed_json(run_script(ctx, "scale.py", *args, database="scale", database_env="BENCH_SCALE_DATABASE_URL"))
