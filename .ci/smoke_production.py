#!/usr/bin/env python3
"""Production smoke test: Baloo installed exactly as docs/deploying.md says, then used once.

A virtualenv made from requirements.txt alone (nothing the tests install), against PostgreSQL and
Redis: the deploy checks, migrate and collectstatic, then the Procfile's web, worker and beat
started as its lines say; one activity pushed through the push API with a source's token, the
recompute it asks for run by the worker through Redis, and the public summary counting it.

Standard library only, so it runs before and whatever the virtualenv holds. Every process it starts
is stopped when it ends, whatever happens; on failure it prints each process's log.

The virtualenv is cached (BALOO_CI_CACHE, default ~/.cache/baloo-ci) under a key made of
requirements.txt and the Python version, so it is made again exactly when either changes, and it is
never used by anything but this script. Its own database (baloo_smoke) is dropped and made again;
Redis databases 5 (broker) and 6 (cache) are emptied, never 0, which the test suite uses.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BALOO_SMOKE_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BALOO_SMOKE_DATABASE", "baloo_smoke")
REDIS = os.environ.get("BALOO_SMOKE_REDIS", "redis://127.0.0.1:6379")
BROKER_DB, CACHE_DB = 5, 6
SOURCE, AREA, TYPE = "smoke-events", "smoke", "smoke.check.done"


class SmokeFailure(Exception):
    pass


def step(message: str) -> None:
    print(f"-- {message}", flush=True)


def run(command: list[str], *, env: dict | None = None, capture: bool = False) -> str:
    """Runs a command to completion; a non-zero exit is a failure showing its output."""
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SmokeFailure(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    if not capture and result.stdout.strip():
        print(result.stdout.rstrip(), flush=True)
    return result.stdout


def production_venv() -> Path:
    """The virtualenv of requirements.txt alone, made once per requirements.txt and Python version."""
    python = os.environ.get("PYTHON") or shutil.which("python3.11") or sys.executable
    version = subprocess.run([python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256((ROOT / "requirements.txt").read_bytes() + version.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("BALOO_CI_CACHE") or Path.home() / ".cache" / "baloo-ci")
    venv = cache / f"production-venv-{key}"
    done = venv / ".complete"  # written last: a virtualenv whose install was interrupted is made again
    if done.exists():
        step(f"virtualenv from requirements.txt alone (cached): {venv}")
        return venv
    step(f"virtualenv from requirements.txt alone (new): {venv}")
    cache.mkdir(parents=True, exist_ok=True)
    for old in cache.glob("production-venv-*"):
        shutil.rmtree(old)  # a previous requirements.txt's: never reused, so not kept
    run([python, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r", str(ROOT / "requirements.txt")])
    run([str(venv / "bin" / "pip"), "check"])
    done.write_text(version)
    return venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def procfile() -> dict[str, str]:
    """The Procfile's process types, as honcho and foreman read them (`name: command`, # comments)."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


class Processes:
    """The Procfile's processes, each in a process group of its own (gunicorn's and celery's children with it)."""

    def __init__(self, env: dict, logs: Path) -> None:
        self.env, self.logs, self.running = env, logs, {}

    def start(self, name: str, command: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")
        # A shell runs the line, as honcho and foreman do: the Procfile's ${PORT:-8000} defaults need one.
        self.running[name] = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def check_alive(self) -> None:
        for name, process in self.running.items():
            if process.poll() is not None:
                raise SmokeFailure(f"the Procfile's {name} process exited ({process.returncode})")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.running.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self.running.values():
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the group: a lingering child goes too
            except ProcessLookupError:
                pass
            process.wait()

    def print_logs(self) -> None:
        for name in self.running:
            lines = self.log(name).splitlines()
            print(f"\n===== {name} log (last {min(len(lines), 200)} of {len(lines)} lines) =====", file=sys.stderr)
            print("\n".join(lines[-200:]), file=sys.stderr, flush=True)


def http(method: str, url: str, *, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(what: str, check, processes: Processes, timeout: float):
    """Polls `check` until it gives a true value; fails early if a process died, or after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        processes.check_alive()
        try:
            value = check()
        except (OSError, ValueError) as error:  # not listening yet, or not the JSON expected yet
            value, last = None, error
        if value:
            return value
        time.sleep(0.5)
    raise SmokeFailure(f"timed out after {timeout:.0f} s waiting for {what}" + (f" (last error: {last})" if last else ""))


def smoke(venv: Path, work: Path, processes: Processes) -> None:
    env = processes.env
    python = str(venv / "bin" / "python")
    manage = [python, "manage.py"]

    step(f"fresh database {DATABASE} and Redis databases {BROKER_DB}, {CACHE_DB}")
    run(["psql", "-q", f"{PG}/postgres", "-c", f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'])
    run(["psql", "-q", f"{PG}/postgres", "-c", f'CREATE DATABASE "{DATABASE}"'])
    for number in (BROKER_DB, CACHE_DB):
        run(["redis-cli", "-u", f"{REDIS}/{number}", "flushdb"], capture=True)

    step("manage.py check --deploy, migrate, collectstatic (docs/deploying.md §1)")
    # Checked as production runs it: HTTPS redirect and secure cookies (loopback turns them off below).
    https = {key: value for key, value in env.items() if key not in ("DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_COOKIES")}
    run([*manage, "check", "--deploy", "--fail-level", "WARNING"], env=https)
    run([*manage, "migrate", "--noinput"], env=env, capture=True)
    run([*manage, "collectstatic", "--noinput"], env=env)

    step("a source, an area counting it, and a push token for the source")
    config = work / "config.json"
    config.write_text(json.dumps({
        "sources": [{"slug": SOURCE, "kind": "events", "name": "Smoke events"}],
        "areas": [{"slug": AREA, "name": {"en": "Smoke"}, "conversion_points": [
            {"slug": "smoke-check", "source": SOURCE, "types": [TYPE], "level": "active", "name": {"en": "Checked"}}]}],
    }))
    run([*manage, "load_config", str(config)], env=env)
    token = run([*manage, "shell", "--verbosity", "0", "-c", (
        "from activities.models import Source; from activities.tokens import source_token_create; "
        f"print(source_token_create(source=Source.objects.get(slug={SOURCE!r}), name='smoke')[1])"
    )], env=env, capture=True).strip()

    names = procfile()
    if set(names) != {"web", "worker", "beat"}:
        raise SmokeFailure(f"the Procfile lists {sorted(names)}; this test knows web, worker and beat")
    for name, command in names.items():
        step(f"start {name}: {command[:90]}…")
        processes.start(name, command)

    base = f"http://{env['BIND']}"
    wait_until("/healthz to answer 200 (database and broker ok)", lambda: http("GET", f"{base}/healthz")[0] == 200, processes, 60)
    wait_until("the worker to be ready", lambda: " ready." in processes.log("worker"), processes, 60)
    wait_until("beat to start", lambda: "beat: Starting" in processes.log("beat"), processes, 60)

    step("push one activity with the source's token")
    occurred = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="seconds")
    record = {"source": SOURCE, "external_id": "smoke-1", "type": TYPE, "occurred_at": occurred,
              "actor": {"email": "smoke@example.org", "username": "smoke"}}
    status, body = http("POST", f"{base}/api/v1/activities/", body=json.dumps([record]).encode(),
                        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    if status != 200 or json.loads(body).get("created") != 1:
        raise SmokeFailure(f"the push answered {status}: {body[:500]!r}")

    step("the worker recomputes (the push asked for it, through Redis); the public summary counts the activity")

    def counted() -> dict | None:
        status, body = http("GET", f"{base}/api/v1/metrics/summary/")
        summary = json.loads(body) if status == 200 else {}
        return summary if summary.get("active") == 1 else None

    summary = wait_until("/api/v1/metrics/summary/ to count the pushed activity", counted, processes, 90)
    areas = {area["slug"]: area["active"] for area in summary["areas"]}
    sources = {source["slug"]: source["active"] for source in summary["sources"]}
    if areas.get(AREA) != 1 or sources.get(SOURCE) != 1:
        raise SmokeFailure(f"the summary counts the person overall but not in its area or source: {summary}")
    if "metrics.recompute_queued" not in processes.log("worker"):
        raise SmokeFailure("the counts changed, but the worker's log shows no recompute task")

    step("beat wrote its schedule to the database")
    scheduled = run([*manage, "shell", "--verbosity", "0", "-c", (
        "from django_celery_beat.models import PeriodicTask; "
        "print(PeriodicTask.objects.filter(name='recompute-metrics-nightly').exists())"
    )], env=env, capture=True).strip()
    if scheduled != "True":
        raise SmokeFailure("beat started but did not store the nightly recompute in its database schedule")
    processes.check_alive()
    print(f"summary: active {summary['active']}, areas {areas}, sources {sources}", flush=True)


def main() -> int:
    venv = production_venv()
    work = Path(tempfile.mkdtemp(prefix="baloo-smoke-"))
    # Production settings as the docs give them, for a plain-HTTP run on loopback; nothing from the
    # caller's environment that could change what is tested (a DATABASE_URL, DJANGO_DEBUG…).
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",  # what activating the virtualenv does
        "VIRTUAL_ENV": str(venv),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "DJANGO_SECRET_KEY": os.urandom(40).hex(),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_SECURE_COOKIES": "false",
        "BIND": f"127.0.0.1:{free_port()}",
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "2",
        "DATABASE_URL": f"{PG}/{DATABASE}",
        "CELERY_BROKER_URL": f"{REDIS}/{BROKER_DB}",
        "CACHE_URL": f"{REDIS}/{CACHE_DB}",
        "BALOO_METRICS_CACHE_DIR": str(work / "metrics-cache"),
        # The push's recompute is sent after this many seconds (a minute in production).
        "BALOO_METRICS_DEBOUNCE_SECONDS": "1",
        "DJANGO_LOG_FORMAT": "plain",
    }
    processes = Processes(env, work)
    # A CI runner's SIGTERM (a cancelled job) stops the processes too, through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    passed = False
    try:
        smoke(venv, work, processes)
        passed = True
    except SmokeFailure as failure:
        print(f"\nPRODUCTION SMOKE TEST FAILED: {failure}", file=sys.stderr, flush=True)
    finally:
        processes.stop()
        if not passed:
            processes.print_logs()
        subprocess.run(["psql", "-q", f"{PG}/postgres", "-c", f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    if not passed:
        return 1
    print(f"production smoke test passed in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
