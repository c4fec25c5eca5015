"""Baloo benchmarks (``make bench``).

    .venv/bin/python bench/run.py                     # every benchmark, 1,000,000 records
    .venv/bin/python bench/run.py --records 100000    # a quick check
    .venv/bin/python bench/run.py --only import       # one benchmark (and what it needs)
    .venv/bin/python bench/run.py --records 200000 --only import --profile   # + cProfile hotspots
    .venv/bin/python bench/run.py --records 100000 --pg-statements          # + time per SQL statement
    .venv/bin/python bench/run.py --list

Each run drops and recreates the PostgreSQL database named by ``BENCH_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/baloo_bench``), migrates it, and runs each
benchmark's ``manage.py`` command as a subprocess, the way an operator would. Data sets come
from ``bench/generate.py`` (cached in ``bench/data/``).

Adding a benchmark: write ``def bench_x(ctx) -> dict`` decorated with
``@benchmark("x", "what it measures", requires=("import",))``; it is then listed, run in
order, selectable with ``--only x`` and printed in the same result block. Use
``ctx.manage(...)`` to time a command and ``ctx.scalar(sql)`` / ``ctx.counts()`` to read the
database afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"
sys.path.insert(0, str(BENCH_DIR))

import generate  # noqa: E402  (bench/generate.py, next to this file)

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench"
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


# --------------------------------------------------------------------------- plumbing


@dataclass
class CommandRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall: float  # seconds
    cpu: float  # user + system seconds of the command's own process(es)
    pg_active: float | None  # seconds PostgreSQL spent executing statements in the bench database
    statements: list[tuple[str, int, float]] | None = None  # (statement shape, calls, total ms) from the server log


@dataclass
class Context:
    args: argparse.Namespace
    db_url: str
    dataset: Path | None = None
    done: dict[str, dict] = field(default_factory=dict)

    # -- database

    @property
    def db_name(self) -> str:
        return unquote(urlparse(self.db_url).path.lstrip("/"))

    def _connect(self, dbname: str | None = None):
        import psycopg2

        u = urlparse(self.db_url)
        conn = psycopg2.connect(
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
            user=unquote(u.username or "postgres"),
            password=unquote(u.password) if u.password else None,
            dbname=dbname or self.db_name,
        )
        conn.autocommit = True
        return conn

    def scalar(self, sql: str, params=None):
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            row = cur.fetchone()
            return row[0] if row else None

    def rows(self, sql: str, params=None) -> list[tuple]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def counts(self) -> dict[str, int]:
        return {
            "activities": self.scalar("SELECT count(*) FROM activities_activity"),
            "persons": self.scalar("SELECT count(*) FROM contributors_person"),
            "identities": self.scalar("SELECT count(*) FROM contributors_identity"),
        }

    def pg_active_seconds(self) -> float | None:
        """Cumulative statement execution time in the bench database (pg_stat_database, PG ≥ 14)."""
        try:
            conn = self._connect("postgres")
        except Exception:
            return None
        try:
            with conn.cursor() as cur:
                # Statistics of a backend reach the shared view when it exits or goes idle for
                # a moment; give the finished command's backend that moment.
                cur.execute("SELECT pg_sleep(0.2)")
                cur.execute("SELECT pg_stat_clear_snapshot()")
                cur.execute("SELECT active_time FROM pg_stat_database WHERE datname = %s", (self.db_name,))
                row = cur.fetchone()
                return (row[0] or 0) / 1000.0 if row else None
        except Exception:
            return None
        finally:
            conn.close()

    def server_version(self) -> str:
        try:
            conn = self._connect("postgres")
        except Exception as exc:  # the run fails later with a clearer message
            return f"unreachable ({exc.__class__.__name__})"
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW server_version")
                return cur.fetchone()[0].split()[0]
        finally:
            conn.close()

    def recreate_database(self) -> None:
        name = self.db_name
        quoted = '"' + name.replace('"', '""') + '"'
        conn = self._connect("postgres")
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )
                cur.execute(f"DROP DATABASE IF EXISTS {quoted}")
                cur.execute(f"CREATE DATABASE {quoted}")
        finally:
            conn.close()

    # -- commands

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(DATABASE_URL=self.db_url, DJANGO_SECRET_KEY="bench", DJANGO_DEBUG="false", PYTHONHASHSEED="0")
        return env

    def pg_log_path(self) -> Path | None:
        if self.args.pg_log:
            return self.args.pg_log
        logs = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
        return logs[-1] if logs else None

    def manage(
        self, *args: str, profile: Path | None = None, statements: bool = False, check: bool = True, echo: bool = True
    ) -> CommandRun:
        """Run ``manage.py ARGS`` as a subprocess and time it (wall, CPU, PostgreSQL time).

        With ``statements``, the command's PostgreSQL session logs every statement's duration
        (``log_min_duration_statement=0``, needs a superuser) and the server log is summarised.
        """
        env = self.env()
        log_path, log_offset = None, 0
        if statements:
            log_path = self.pg_log_path()
            if log_path and log_path.exists():
                log_offset = log_path.stat().st_size
                env["PGOPTIONS"] = (env.get("PGOPTIONS", "") + " -c log_min_duration_statement=0").strip()
            else:
                print(f"    (no readable PostgreSQL log at {log_path}; statement timings skipped)")
                log_path = None
        argv = [sys.executable]
        if profile is not None:
            argv += ["-m", "cProfile", "-o", str(profile)]
        argv += [str(ROOT / "manage.py"), *args]
        pg_before = self.pg_active_seconds()
        ru_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        ru_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        pg_after = self.pg_active_seconds()
        cpu = (ru_after.ru_utime - ru_before.ru_utime) + (ru_after.ru_stime - ru_before.ru_stime)
        pg = (pg_after - pg_before) if pg_before is not None and pg_after is not None else None
        run = CommandRun(argv, proc.returncode, proc.stdout, proc.stderr, wall, cpu, pg)
        if log_path:
            run.statements = summarise_pg_log(log_path, log_offset)
        if echo:
            for line in proc.stdout.strip().splitlines()[-8:] if proc.stdout.strip() else []:
                print(f"    | {line}")
        if check and proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
            raise BenchError(f"`manage.py {' '.join(args)}` failed with exit code {proc.returncode}:\n{tail}")
        return run

    def has_command(self, name: str) -> bool:
        apps = ("activities", "contributors", "conversion_points", "baloo_site")
        return any((ROOT / app / "management" / "commands" / f"{name}.py").exists() for app in apps)

    def ensure_dataset(self) -> Path:
        if self.dataset is None:
            self.dataset = generate.ensure_dataset(self.args.records, self.args.people)
        return self.dataset


class BenchError(RuntimeError):
    pass


COUNT_RE = re.compile(r"\b(created|duplicates?|rejected|skipped|updated)\b\D{0,12}?(\d[\d,_]*)", re.I)


def parse_counts(text: str) -> dict[str, int]:
    """Counts a command printed, e.g. ``created 1000, duplicate 0, rejected 2`` or ``created: 1000``."""
    found: dict[str, int] = {}
    for word, number in COUNT_RE.findall(text):
        key = word.lower().rstrip("s") if word.lower().startswith("duplicate") else word.lower()
        found.setdefault(key, int(re.sub(r"[,_]", "", number)))
    return found


LOG_DURATION_RE = re.compile(r"duration: ([\d.]+) ms\s+(?:statement|execute [^:]*):\s?(.*)")


def _statement_shape(sql: str) -> str:
    sql = re.sub(r"'(?:[^']|'')*'", "?", sql)  # literals
    sql = re.sub(r"\b\d+\b", "N", sql)
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = re.sub(r"\((?:\s*[?N]\s*,)+\s*[?N]\s*\)", "(…)", sql)
    sql = re.sub(r"ARRAY\[[^\]]*\]", "ARRAY[…]", sql)
    return sql[:110]


def summarise_pg_log(path: Path, offset: int) -> list[tuple[str, int, float]]:
    """Group the statement durations logged since `offset` by statement shape, most total time first."""
    totals: dict[str, list] = {}
    with open(path, "rb") as log:
        log.seek(offset)
        for raw in log:
            if b"duration: " not in raw:
                continue
            m = LOG_DURATION_RE.search(raw[:4000].decode("utf-8", "replace"))
            if not m:
                continue
            entry = totals.setdefault(_statement_shape(m.group(2)), [0, 0.0])
            entry[0] += 1
            entry[1] += float(m.group(1))
    return sorted(((shape, n, ms) for shape, (n, ms) in totals.items()), key=lambda item: -item[2])


def print_statements(title: str, statements: list[tuple[str, int, float]], limit: int = 15) -> None:
    total = sum(ms for _, _, ms in statements)
    print(
        f"\n  PostgreSQL statements of {title} (server log, log_min_duration_statement=0): {total / 1000:,.2f} s in all"
    )
    print(f"  {'total s':>9} {'calls':>7} {'mean ms':>9}  statement")
    for shape, n, ms in statements[:limit]:
        print(f"  {ms / 1000:9.2f} {n:7,} {ms / n:9.1f}  {shape}")


def fmt_int(n) -> str:
    return "n/a" if n is None else f"{n:,}"


def fmt_s(s) -> str:
    return "n/a" if s is None else f"{s:,.2f} s"


def print_profile(path: Path, limit: int = 30) -> None:
    import pstats

    print(f"\n  cProfile of the import ({path.relative_to(ROOT)}), top {limit} by cumulative time:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(limit)
    print(f"  … and top {limit} by own (total) time:")
    stats.sort_stats("tottime").print_stats(limit)


# --------------------------------------------------------------------------- benchmarks


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
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "identities.py"), str(dataset)],
        cwd=ROOT,
        env=ctx.env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BenchError("bench/identities.py failed:\n" + "\n".join(proc.stderr.strip().splitlines()[-25:]))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
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
    url = urlparse(ctx.db_url)
    own = url._replace(path=f"/{ctx.db_name}_asof").geturl()
    proc = subprocess.run(
        [sys.executable, str(BENCH_DIR / "asof.py"), "--activities", str(ctx.args.records)],
        cwd=ROOT,
        env={**ctx.env(), "BENCH_ASOF_DATABASE_URL": own, "DATABASE_URL": own},
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise BenchError("bench/asof.py failed:\n" + "\n".join(proc.stderr.strip().splitlines()[-25:]))
    output = proc.stdout
    return json.loads(output[output.index("{\n") :])


# --------------------------------------------------------------------------- report


def print_result(name: str, r: dict) -> None:
    bar = "=" * 72
    print(bar)
    print(f"  {name}: {BENCHMARKS[name].description}")
    print(bar)
    if "error" in r:
        print(f"  FAILED: {r['error']}")
        return
    if "skipped" in r:
        print(f"  SKIPPED: {r['skipped']}")
        return
    if name == "import":
        print(f"  records            {fmt_int(r['records'])}")
        print(f"  seconds            {r['seconds']:,.2f}")
        print(
            f"  records/s          {r['records_per_s']:,.0f}    (goal ≥ {GOAL_IMPORT_RPS:,}: {'MET' if r['goal_met'] else 'NOT MET'})"
        )
        print(f"  client CPU         {fmt_s(r['client_cpu_s'])}   (the manage.py process, user + system)")
        print(
            f"  PostgreSQL active  {fmt_s(r['postgres_active_s'])}   (pg_stat_database.active_time of {r.get('db', 'the bench db')})"
        )
        print(f"  activities stored  {fmt_int(r['activities'])}")
        print(f"  persons created    {fmt_int(r['persons'])}")
        print(f"  identities created {fmt_int(r['identities'])}   {r['identities_by_kind']}")
        print(f"  database size      {r['database_size']}")
        print(f"  command printed    {r['printed'] or '(no counts recognised)'}")
        if r.get("profile"):
            print(f"  profile            {r['profile']}")
        if r.get("warning"):
            print(f"  WARNING            {r['warning']}")
    elif name == "reimport":
        print(f"  records            {fmt_int(r['records'])}")
        print(f"  seconds            {r['seconds']:,.2f}")
        print(f"  records/s          {r['records_per_s']:,.0f}")
        print(f"  client CPU         {fmt_s(r['client_cpu_s'])}")
        print(f"  PostgreSQL active  {fmt_s(r['postgres_active_s'])}")
        print(
            f"  created            activities {r['created_activities']:,}, persons {r['created_persons']:,}, "
            f"identities {r['created_identities']:,}   ({'OK: nothing new' if r['goal_met'] else 'FAIL: must create 0'})"
        )
        print(f"  command printed    {r['printed'] or '(no counts recognised)'}")
    else:
        for k, v in r.items():
            print(f"  {k:<18} {v}")


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


def cpu_check() -> float:
    """Seconds a fixed pure-Python loop takes (best of 3). A shared machine's speed drifts — by half
    within an hour here — and every figure scales with it: runs compare only beside this."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        sum(i * i for i in range(3_000_000))
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Baloo benchmarks", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    parser.add_argument(
        "--records",
        type=int,
        default=generate.DEFAULT_RECORDS,
        help="activity records in the data set (default 1,000,000)",
    )
    parser.add_argument("--people", type=int, default=None, help="people in the data set (default records / 10)")
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help=f"run only this benchmark (repeatable; its prerequisites run too): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--profile", action="store_true", help="run the import under cProfile and print the hotspots")
    parser.add_argument(
        "--pg-statements",
        action="store_true",
        help="log every statement of the timed commands (PGOPTIONS log_min_duration_statement=0) and "
        "print where PostgreSQL spent its time; slows the run a little",
    )
    parser.add_argument(
        "--pg-log",
        type=Path,
        default=None,
        help="the PostgreSQL server log (default /var/log/postgresql/postgresql-*-main.log)",
    )
    parser.add_argument("--load-seconds", type=int, default=10, help="seconds of wrk per URL in the load benchmark (default 10)")
    parser.add_argument("--check", action="store_true", help="exit non-zero when a goal is missed (not only on errors)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON to this file")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for b in BENCHMARKS.values():
            print(f"{b.name:<12} {b.description}" + (f"  (needs: {', '.join(b.requires)})" if b.requires else ""))
        return 0

    ctx = Context(args=args, db_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB_URL))
    names = plan(args.only or list(BENCHMARKS))
    cores = os.cpu_count()
    print(f"Baloo benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print(
        f"  machine  {cores} cores (os.cpu_count), {platform.machine()}, Python {platform.python_version()}, "
        f"PostgreSQL {ctx.server_version()}"
    )
    speed = cpu_check()
    print(f"  speed    {speed:.3f} s for a fixed pure-Python loop (best of 3): the machine's speed now, to compare runs")
    print(f"  database {ctx.db_name} ({re.sub(r'//[^@/]*@', '//…@', ctx.db_url)})")
    print(
        f"  data     {args.records:,} records, {(args.people or generate.default_people(args.records)):,} people; running: {', '.join(names)}"
    )

    results: dict[str, dict] = {}
    failed = False
    for name in names:
        print(f"\n[{name}]")
        try:
            results[name] = BENCHMARKS[name].func(ctx)
        except BenchError as exc:
            results[name] = {"error": str(exc)}
            failed = True
        results[name]["db"] = ctx.db_name
        print_result(name, results[name])
        if results[name].get("pg_statements"):
            print_statements(name, results[name]["pg_statements"])
        if "error" in results[name]:
            # Later benchmarks depend on the earlier ones' database state.
            break

    if args.profile and results.get("import", {}).get("profile"):
        print_profile(Path(results["import"]["profile"]))

    summary = {
        "cores": cores,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_check_s": speed,
        "records": args.records,
        "results": results,
    }
    out = args.json or DATA_DIR / "last-results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nresults written to {out}")

    missed = [n for n, r in results.items() if r.get("goal_met") is False]
    if failed:
        return 2
    if missed:
        print(f"goal missed: {', '.join(missed)}")
        return 1 if args.check else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
