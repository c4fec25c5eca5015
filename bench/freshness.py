"""Freshness benchmark: seconds from a pushed activity to the public summary counting it (issue 7/7).

    .venv/bin/python bench/freshness.py                         # 10,000,000 activities, 200 records/s for 120 s
    .venv/bin/python bench/freshness.py --activities 1000000 --seconds 30   # a quicker check
    .venv/bin/python bench/freshness.py --reuse                 # keep the database generated last time

The production shape on loopback: the database of bench/engine.py (generated inside PostgreSQL,
``BENCH_FRESHNESS_DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/baloo_bench_fresh``),
a full recompute leaving its cache, then gunicorn (the Procfile's web line) and a Celery worker (the
Procfile's worker line) on Redis (``BENCH_FRESHNESS_BROKER_URL``, default redis://127.0.0.1:6379/7),
with the production defaults (debounce, incremental updates). One thread pushes a steady stream of
``--rate`` records per second (batches of ``--batch``), each by a new volunteer matching an active
conversion point, dated now; another polls ``GET /api/v1/metrics/summary/`` every 0.2 s. A batch is
counted once the summary's ``active`` reaches the number of people pushed up to it; its latency
is that moment minus the moment it was sent. Prints ``p50_s``, ``p95_s``, ``max_s`` and the
recomputes the stream caused (goal: p95 ≤ 10 s, max ≤ 30 s).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import bench_args, database_filled, database_migrated, django_environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/baloo_bench_fresh"
DEFAULT_BROKER = "redis://127.0.0.1:6379/7"
GOALS = {"p95_s": 10.0, "max_s": 30.0}
PORT = 8766
SOURCE = "bench-stream"
TYPE = "bench.stream.done"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> dict:
    extra = [arg for arg in (argv or sys.argv[1:])]
    rate = _option(extra, "--rate", 200)
    seconds = _option(extra, "--seconds", 120)
    batch = _option(extra, "--batch", 10)
    args, people = bench_args(extra, description=__doc__, activities=10_000_000)
    url = os.environ.get("BENCH_FRESHNESS_DATABASE_URL", DEFAULT_URL)
    broker = os.environ.get("BENCH_FRESHNESS_BROKER_URL", DEFAULT_BROKER)
    cache = tempfile.mkdtemp(prefix="baloo-fresh-cache-")
    os.environ["BALOO_METRICS_CACHE_DIR"] = cache
    name = django_environment(url)
    results: dict = {"activities": args.activities, "people": people, "rate_per_s": rate, "seconds": seconds, "batch": batch,
                     "cores": os.cpu_count()}
    clock = time.perf_counter()
    database_migrated(url, name, reuse=args.reuse)

    import django

    django.setup()
    from activities.models import Source
    from activities.tokens import source_token_create
    from conversion_points.models import Area, ConversionPoint
    from metrics.engine import metrics_recompute
    from metrics.models import MetricRun

    database_filled(args, people, results, clock)
    source, _ = Source.objects.get_or_create(slug=SOURCE, defaults={"kind": "manual", "name": "Stream"})
    area = Area.objects.order_by("pk").first()
    ConversionPoint.objects.get_or_create(slug="bench-stream", defaults={"area": area, "source": source, "types": [TYPE],
                                                                          "level": "active", "name": "Stream"})
    secret = source_token_create(source=source, name="freshness")[1]
    clock = time.perf_counter()
    metrics_recompute()
    results["full_recompute_s"] = round(time.perf_counter() - clock, 2)
    first_run = MetricRun.objects.order_by("-pk").values_list("pk", flat=True).first()

    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "BALOO_"))},
        "DATABASE_URL": url, "CELERY_BROKER_URL": broker, "BALOO_METRICS_CACHE_DIR": cache,
        "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false", "DJANGO_LOG_LEVEL": "WARNING",
        "BALOO_RATE_LIMIT_PUBLIC_API": "off", "BALOO_RATE_LIMIT_PUSH": "off",
    }
    subprocess.run(["redis-cli", "-u", broker, "flushdb"], capture_output=True)
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "baloo_site.wsgi:application", "--bind", f"127.0.0.1:{PORT}",
                            "--workers", "2", "--threads", "4", "--worker-class", "gthread", "--log-level", "warning"],
                           cwd=ROOT, env=env)
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "baloo_site", "worker", "--queues", "sync,ingest,metrics,celery",
                               "--concurrency", "2", "--prefetch-multiplier", "1", "--loglevel", "WARNING",
                               "--without-gossip", "--without-mingle"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{PORT}"
    try:
        _wait_healthy(base)
        start_active = get_json(f"{base}/api/v1/metrics/summary/")["active"]
        sent: list[tuple[float, int]] = []  # (time sent, people pushed up to and including this batch)
        seen: list[tuple[float, int]] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                try:
                    seen.append((time.monotonic(), get_json(f"{base}/api/v1/metrics/summary/")["active"] - start_active))
                except OSError:
                    pass
                time.sleep(0.2)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        tag = secrets.token_hex(4)  # new records and new volunteers on every run, --reuse or not

        def push(number: int) -> int:
            now = datetime.now(UTC).isoformat()
            records = [{"source": SOURCE, "external_id": f"{tag}-{number}-{i}", "type": TYPE, "occurred_at": now,
                        "actor": {"email": f"stream-{tag}-{number}-{i}@example.org"}} for i in range(batch)]
            request = urllib.request.Request(f"{base}/api/v1/activities/", data=json.dumps(records).encode(), headers=headers,
                                             method="POST")
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())["created"]

        # Several clients, as systems pushing at once: the stream keeps its rate however long one answer takes.
        interval = batch / rate
        begin = time.monotonic()
        submitted: list[tuple[float, object]] = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            while time.monotonic() - begin < seconds:
                due = begin + len(submitted) * interval
                if (wait := due - time.monotonic()) > 0:
                    time.sleep(wait)
                submitted.append((time.monotonic(), pool.submit(push, len(submitted))))
        pushed = errors = 0
        for moment, future in submitted:
            try:
                pushed += future.result()
            except OSError:
                errors += 1
                continue
            # A batch is counted once everyone pushed up to it is (batches sent earlier answer first, near enough).
            sent.append((moment, pushed))
        results["pushed"], results["push_errors"] = pushed, errors
        results["achieved_rate_per_s"] = round(pushed / (time.monotonic() - begin), 1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (not seen or seen[-1][1] < pushed):
            time.sleep(0.5)
        stop.set()
        poller.join(timeout=5)
    finally:
        for process in (web, worker):
            process.send_signal(signal.SIGTERM)
        for process in (web, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    latencies, missing = [], 0
    for moment, people_so_far in sent:
        counted = next((when for when, active in seen if when >= moment and active >= people_so_far), None)
        if counted is None:
            missing += 1
        else:
            latencies.append(counted - moment)
    runs = MetricRun.objects.filter(pk__gt=first_run or 0)
    results.update({
        "batches": len(sent),
        "never_counted": missing,
        "p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "p95_s": round(percentile(latencies, 0.95), 2) if latencies else None,
        "max_s": round(max(latencies), 2) if latencies else None,
        "recomputes": runs.count(),
        "recompute_modes": sorted({str(stats.get("mode")) for stats in runs.values_list("stats", flat=True)}),
    })
    results["goal_met"] = bool(latencies) and pushed > 0 and not errors and not missing and results["p95_s"] <= GOALS["p95_s"] and results["max_s"] <= GOALS["max_s"]
    print(json.dumps(results, indent=2))
    return results


def _option(argv: list[str], name: str, default: int) -> int:
    if name in argv:
        index = argv.index(name)
        value = int(argv[index + 1])
        del argv[index : index + 2]
        return value
    return default


def _wait_healthy(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


if __name__ == "__main__":
    main()
