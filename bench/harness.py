"""The benchmarks' harness: a fresh PostgreSQL database, and ``manage.py`` commands run and timed.

``Context`` is what every benchmark receives (bench/benchmarks.py): the options, the database
(``scalar``, ``rows``, ``counts``, ``recreate_database``), ``manage(...)`` to run a command as an
operator would and time it (wall, CPU, PostgreSQL), and the data set from bench/generate.py.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import generate  # bench/generate.py, next to this file

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / "data"

DEFAULT_DB_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench"


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
