"""Load benchmark: the production web server on loopback, under wrk and under concurrent pushes.

    .venv/bin/python bench/load.py                    # both parts, 10 s of wrk per URL
    .venv/bin/python bench/load.py --only pages --duration 5
    .venv/bin/python bench/load.py --only push --clients 8 --batches 20

It drops and recreates the PostgreSQL database named by ``BENCH_LOAD_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/baloo_bench_load``), migrates it, fills it with the demo
community (``seed_demo``, counted), collects the static files and starts gunicorn as the Procfile
does (debug off, plain HTTP on loopback, rate limits lifted, tasks in-process). Then:

- **pages**: wrk against the home page and ``/api/v1/metrics/summary/``: requests per second and
  latency percentiles (goal ≥ 500 req/s with p99 < 100 ms on 2 cores);
- **push**: N concurrent clients each POST batches of 100 records to ``/api/v1/activities/``,
  every record sent twice (once in its batch, once more in another client's batch): records per
  second, and proof that the database holds each record exactly once.

``bench/run.py --only load`` and ``--only push`` run the same code and print the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench_load"
GOAL_RPS = 500
GOAL_P99_MS = 100.0
PUSH_SOURCE = "bench-push"


def _recreate_database(url: str) -> None:
    import psycopg2

    parts = urlparse(url)
    name = unquote(parts.path.lstrip("/"))
    admin = psycopg2.connect(host=parts.hostname or "127.0.0.1", port=parts.port or 5432, user=unquote(parts.username or "postgres"),
                             password=unquote(parts.password) if parts.password else None, dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name])
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()


class Site:
    """A migrated, seeded database and gunicorn serving it on a loopback port."""

    def __init__(self, *, db_url: str, workers: int, threads: int, port: int = 8765) -> None:
        self.db_url, self.workers, self.threads, self.port = db_url, workers, threads, port
        self.base = f"http://127.0.0.1:{port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "BALOO_"))},
            "DATABASE_URL": db_url,
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DJANGO_SECURE_COOKIES": "false",
            "DJANGO_LOG_LEVEL": "WARNING",
            "CELERY_BROKER_URL": "",
            # A load test measures the server, not the limits that protect it.
            "BALOO_RATE_LIMIT_PUBLIC_API": "off",
            "BALOO_RATE_LIMIT_PUSH": "off",
            # Recomputing after each push would measure the metrics engine, run in the web process.
            "BALOO_METRICS_DEBOUNCE_SECONDS": "3600",
        }
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def prepare(self) -> None:
        _recreate_database(self.db_url)
        self.manage("migrate", "--noinput")
        self.manage("seed_demo")
        self.manage("recompute_metrics")
        self.manage("collectstatic", "--noinput")

    def start(self) -> None:
        self.server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "baloo_site.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(self.workers), "--threads", str(self.threads), "--worker-class", "gthread", "--log-level", "warning"],
            cwd=ROOT, env=self.env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(timeout=30)


# --------------------------------------------------------------------------- pages under wrk

LATENCY_LINE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, duration: int, connections: int, threads: int) -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    percentiles = {f"p{p}_ms": round(float(v) * UNIT_MS[u], 2) for p, v, u in LATENCY_LINE.findall(out)}
    requests = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result = {
        "url": url,
        "requests_per_s": round(float(requests.group(1)), 1) if requests else 0.0,
        **percentiles,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
    }
    result["goal_met"] = result["requests_per_s"] >= GOAL_RPS and result.get("p99_ms", 1e9) < GOAL_P99_MS and not result["non_2xx"]
    return result


def bench_pages(site: Site, *, duration: int, connections: int) -> dict:
    results = {}
    for name, path in (("home", "/"), ("summary", "/api/v1/metrics/summary/")):
        wrk(site.base + path, duration=1, connections=connections, threads=2)  # warm-up: caches, connections
        results[name] = wrk(site.base + path, duration=duration, connections=connections, threads=2)
    return results


# --------------------------------------------------------------------------- the push API


def _token(site: Site) -> str:
    code = (
        "from activities.models import Source; from activities.tokens import source_token_create; "
        f"s, _ = Source.objects.get_or_create(slug='{PUSH_SOURCE}', defaults={{'kind': 'manual', 'name': 'Push bench'}}); "
        "print(source_token_create(source=s, name='bench')[1])"
    )
    return site.manage("shell", "-c", code).strip().splitlines()[-1]


def _batch(client: int, number: int, size: int) -> list[dict]:
    return [
        {
            "source": PUSH_SOURCE,
            "external_id": f"c{client}-b{number}-{index}",
            "type": "manual.thing.done",
            "occurred_at": f"2025-{1 + (number % 12):02d}-{1 + (index % 28):02d}T12:00:00Z",
            "actor": {"email": f"pusher{(client * 7919 + number * 101 + index) % 5000}@example.org", "name": "Pusher"},
            "title": "Pushed",
        }
        for index in range(size)
    ]


def bench_push(site: Site, *, clients: int, batches: int, size: int) -> dict:
    """Each client sends its own batches, then the next client's again: every record arrives twice."""
    secret = _token(site)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}

    def send(client: int) -> dict:
        totals = {"created": 0, "duplicate": 0, "rejected": 0, "requests": 0, "errors": 0, "latencies": []}
        plan = [(client, n) for n in range(batches)] + [((client + 1) % clients, n) for n in range(batches)]
        for owner, number in plan:
            body = json.dumps(_batch(owner, number, size)).encode()
            started = time.perf_counter()
            try:
                request = urllib.request.Request(f"{site.base}/api/v1/activities/", data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=120) as response:
                    answer = json.loads(response.read())
            except OSError:
                totals["errors"] += 1
                continue
            totals["latencies"].append((time.perf_counter() - started) * 1000)
            totals["requests"] += 1
            totals["created"] += answer["created"]
            totals["duplicate"] += answer["duplicate"]
            totals["rejected"] += len(answer["rejected"])
        return totals

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        parts = list(pool.map(send, range(clients)))
    seconds = time.perf_counter() - started
    latencies = sorted(ms for part in parts for ms in part["latencies"])
    sent = sum(part["requests"] for part in parts) * size
    unique = clients * batches * size
    stored = int(site.manage("shell", "-c", (
        "from activities.models import Activity; "
        f"print(Activity.objects.filter(source__slug='{PUSH_SOURCE}').count())"
    )).strip().splitlines()[-1])
    created = sum(part["created"] for part in parts)
    result = {
        "clients": clients,
        "records_per_batch": size,
        "requests": sum(part["requests"] for part in parts),
        "errors": sum(part["errors"] for part in parts),
        "records_sent": sent,
        "distinct_records": unique,
        "seconds": round(seconds, 2),
        "records_per_s": round(sent / seconds, 1),
        "batch_p50_ms": round(latencies[len(latencies) // 2], 1) if latencies else None,
        "batch_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1) if latencies else None,
        "created": created,
        "duplicate": sum(part["duplicate"] for part in parts),
        "rejected": sum(part["rejected"] for part in parts),
        "stored": stored,
    }
    # Nothing lost, nothing doubled: each distinct record stored once, every other copy a duplicate.
    result["exact"] = stored == unique == created and result["duplicate"] == sent - unique and not result["errors"]
    result["goal_met"] = result["exact"]
    return result


# --------------------------------------------------------------------------- driver


def run(*, parts: list[str], duration: int, connections: int, clients: int, batches: int, size: int,
        workers: int | None = None, threads: int | None = None) -> dict:
    cores = os.cpu_count() or 1
    site = Site(db_url=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL), workers=workers or cores, threads=threads or 4)
    print(f"  preparing {site.db_url.rsplit('/', 1)[-1]}: migrate, seed_demo, recompute, collectstatic…")
    site.prepare()
    site.start()
    results: dict = {"cores": cores, "gunicorn": f"{site.workers} workers x {site.threads} threads (gthread)"}
    try:
        if "pages" in parts:
            results["pages"] = bench_pages(site, duration=duration, connections=connections)
        if "push" in parts:
            results["push"] = bench_push(site, clients=clients, batches=batches, size=size)
    finally:
        site.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("pages", "push"), action="append")
    parser.add_argument("--duration", type=int, default=10, help="seconds of wrk per URL (default 10)")
    parser.add_argument("--connections", type=int, default=16, help="wrk's open connections (default 16)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent push clients (default 8)")
    parser.add_argument("--batches", type=int, default=10, help="distinct batches per push client (default 10)")
    parser.add_argument("--size", type=int, default=100, help="records per batch (default 100)")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: one per core)")
    parser.add_argument("--threads", type=int, default=None, help="threads per gunicorn worker (default 4)")
    args = parser.parse_args()
    results = run(parts=args.only or ["pages", "push"], duration=args.duration, connections=args.connections,
                  clients=args.clients, batches=args.batches, size=args.size, workers=args.workers, threads=args.threads)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
