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

Adding a benchmark: in ``bench/benchmarks.py``, write ``def bench_x(ctx) -> dict`` decorated with
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
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import generate  # noqa: E402  (bench/generate.py, next to this file)
from benchmarks import BENCHMARKS, GOAL_IMPORT_RPS, plan  # noqa: E402  (bench/benchmarks.py)
from harness import DATA_DIR, DEFAULT_DB_URL, ROOT, BenchError, Context  # noqa: E402  (bench/harness.py)

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
    parser.add_argument("--scale-activities", type=int, default=10_000_000, help="activities of the scale benchmark (default 10,000,000)")
    parser.add_argument("--scale-reuse", action="store_true", help="the scale benchmark keeps the database it generated last time")
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
