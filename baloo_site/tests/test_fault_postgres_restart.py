"""Faults, survived: PostgreSQL restarted (`pg_ctl restart -m fast`) while `import_activities` runs.

The shared PostgreSQL is never touched: the test makes a throw-away cluster of its own with
`initdb` on a spare port (as the `postgres` user when run as root, since initdb refuses root),
migrates the project into it, and runs the real `manage.py import_activities` against it in a
process of its own. It proves:

- the import stops with an error, promptly (no hang), when the server goes away under it;
- every batch committed before the restart is still there, unchanged; no activity of the batch in
  flight is; the identities stored are those of whole batches (the import commits a batch's
  identities before its activities, so those of the batches in flight may already be there);
- running the same import again stores the rest, each record once: it reports the committed
  records as duplicates and creates exactly the others;
- the end state (activities, identities, persons) is exactly that of one clean import of the same
  file into a second database of the same cluster.

To land the restart mid-import every time, whatever the machine's speed, the test waits for the
first batch to be committed, takes an exclusive lock on the activity table, and restarts the server
once the import's next batch is seen waiting on that lock (its activities' COPY in an open
transaction). The restart ends that session as it would end one in the middle of a COPY, and the
reading thread's too, wherever it is.

It runs in the PostgreSQL stage of the suite (`DATABASE_URL=postgres://…`, as `.ci/run` does) and
needs PostgreSQL's server programs (`initdb`, `pg_ctl`: Debian's postgresql package installs them
under /usr/lib/postgresql/<version>/bin). It takes about 20 seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import pytest
from django.db import connection

from activities.services import BATCH_SIZE

from .processes import PROJECT_DIR, free_port, wait_for

RECORDS = 3 * BATCH_SIZE  # three batches, so the restart can come after the first and before the last
PEOPLE = 500
NEWCOMER_EVERY = 7
SOURCE = "fault-import"
DATABASE = "baloo_fault"
CLEAN_DATABASE = "baloo_clean"
SECONDS = 60  # the most any one step may take before the test calls it a hang
CREATED = re.compile(rb"created: (\d+)  duplicate: (\d+)  rejected: (\d+)")


def _server_programs() -> Path | None:
    """The folder of initdb and pg_ctl: on the PATH, or the newest of Debian's versioned folders."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    for folder in reversed(candidates):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _run_as() -> list[str] | None:
    """The prefix that runs the server programs: none for a normal user; as root (which initdb and
    postgres refuse), `runuser -u postgres --`. None when there is no such way."""
    if os.geteuid() != 0:
        return []
    if shutil.which("runuser") is None:
        return None
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return None
    return ["runuser", "-u", "postgres", "--"]


BIN = _server_programs()
RUN_AS = _run_as()

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs in the PostgreSQL stage of the suite (DATABASE_URL=postgres://…); "
        "it makes a PostgreSQL cluster of its own and never touches the test database",
    ),
    pytest.mark.skipif(BIN is None, reason="needs PostgreSQL's server programs (initdb, pg_ctl) for a throw-away cluster"),
    pytest.mark.skipif(
        RUN_AS is None, reason="run as root, needs runuser and a 'postgres' user (initdb refuses to run as root)"
    ),
]


class Cluster:
    """A throw-away PostgreSQL cluster on a spare port, its data in a temporary folder: no disk
    syncing, trust authentication on loopback only, nobody else's."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = free_port()

    def _ctl(self, *args: str, timeout: float = SECONDS) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*RUN_AS, str(BIN / "pg_ctl"), "-D", str(self.data), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def create(self) -> None:
        done = subprocess.run(
            [*RUN_AS, str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            capture_output=True, text=True, timeout=SECONDS, check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.folder}'\n"
                "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
            )

    def start(self) -> None:
        done = self._ctl("start", "-w", "-l", str(self.log))
        assert done.returncode == 0, done.stdout + done.stderr + self.server_log()

    def restart(self) -> None:
        """Fast mode: every session is ended at once (its open transaction rolled back), then the
        server shuts down cleanly and comes back."""
        done = self._ctl("restart", "-w", "-m", "fast", "-l", str(self.log))
        assert done.returncode == 0, done.stdout + done.stderr + self.server_log()

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-w", "-m", "immediate")

    def server_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=10)

    def execute(self, sql: str, database: str = "postgres") -> None:
        db = self.connect(database)
        try:
            db.autocommit = True
            db.cursor().execute(sql)
        finally:
            db.close()


@contextlib.contextmanager
def cluster() -> Iterator[Cluster]:
    # Not under pytest's tmp_path: the postgres user must be able to reach it (root's is private).
    folder = Path(tempfile.mkdtemp(prefix="baloo-pg-fault-"))
    if RUN_AS:
        shutil.chown(folder, "postgres", "postgres")
    server = Cluster(folder)
    try:
        server.create()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _actor(index: int) -> dict:
    """Who made record `index`: one of PEOPLE regular contributors, who come back in every batch,
    or (every seventh record) a newcomer, seen only there. Each is known by an e-mail and a user
    name: two identities to link into one person."""
    who = f"n{index}" if index % NEWCOMER_EVERY == 0 else f"p{index % PEOPLE}"
    return {"email": f"{who}@example.org", "username": f"user-{who}", "name": f"Person {who}"}


def _write_records(path: Path) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w") as out:
        for index in range(RECORDS):
            record = {
                "source": SOURCE,
                "external_id": f"c{index}",
                "type": "git.commit.authored",
                "occurred_at": (start + timedelta(minutes=7 * index)).isoformat(),
                "actor": _actor(index),
                "title": f"commit {index}",
            }
            out.write(json.dumps(record) + "\n")


def _persons(indexes) -> int:
    """How many persons the records of these indexes name."""
    return len({_actor(index)["email"] for index in indexes})


def _import(server: Cluster, database: str, path: Path, metrics_cache: Path, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": server.url(database),
        "CELERY_BROKER_URL": "",  # the recompute asked for at the end runs in-process
        "BALOO_METRICS_CACHE_DIR": str(metrics_cache / database),
        "DJANGO_LOG_FORMAT": "plain",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "manage.py", "import_activities", str(path), "--create-sources"],
            cwd=PROJECT_DIR, env=env, stdout=output, stderr=subprocess.STDOUT,
        )


def _finish(process: subprocess.Popen, log: Path) -> tuple[int, bytes]:
    try:
        process.wait(timeout=SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the import hung (killed after {SECONDS} s):\n{log.read_text(errors='replace')[-4000:]}")
    return process.returncode, log.read_bytes()


def _activities(db) -> dict[str, tuple]:
    """Every stored activity by external id: its row id, content and identity."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT a.external_id, a.id, a.type, a.occurred_at, a.title, a.identity_id, i.kind, i.namespace, i.value "
            "FROM activities_activity a JOIN contributors_identity i ON i.id = a.identity_id"
        )
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _people(db) -> set[tuple]:
    """Persons as the identities they group (ids aside) and what is known of them."""
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT p.display_name, p.is_bot, EXISTS (SELECT 1 FROM contributors_staffperiod s WHERE s.person_id = p.id), "
            "array_agg(i.kind || ':' || i.namespace || ':' || i.value ORDER BY i.kind, i.namespace, i.value) "
            "FROM contributors_person p LEFT JOIN contributors_identity i ON i.person_id = p.id GROUP BY p.id"
        )
        return {(*row[:3], tuple(row[3])) for row in cursor.fetchall()}


def _canonical(activities: dict[str, tuple]) -> dict[str, tuple]:
    """Activities without the ids a database hands out."""
    return {key: (type_, when, title, tuple(identity)) for key, (_id, type_, when, title, _iid, *identity) in activities.items()}


def test_postgresql_restarted_mid_import_loses_nothing_committed_and_a_rerun_completes_the_set(tmp_path):
    path = tmp_path / "activities.jsonl"
    _write_records(path)
    metrics_cache = tmp_path / "metrics-cache"

    with cluster() as server:
        server.execute(f"CREATE DATABASE {DATABASE}")
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=PROJECT_DIR, env={**os.environ, "DATABASE_URL": server.url(DATABASE)},
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        # The same empty, migrated database, for the clean import the outcome is compared with.
        server.execute(f"CREATE DATABASE {CLEAN_DATABASE} TEMPLATE {DATABASE}")

        # 1. The import, restarted under: once its first batch is committed, the next one is held
        # on a lock (see the module's docstring) and the server is restarted.
        first_log = tmp_path / "first-import.log"
        importing = _import(server, DATABASE, path, metrics_cache, first_log)
        watcher = server.connect(DATABASE)
        watcher.autocommit = True

        def first_batch_committed() -> bool:
            with watcher.cursor() as cursor:
                cursor.execute("SELECT EXISTS (SELECT 1 FROM activities_activity)")
                return cursor.fetchone()[0] or importing.poll() is not None

        assert wait_for(first_batch_committed, SECONDS, interval=0.02), first_log.read_text(errors="replace")
        watcher.autocommit = False
        with watcher.cursor() as cursor:
            cursor.execute("LOCK TABLE activities_activity IN ACCESS EXCLUSIVE MODE")
        committed = _activities(watcher)  # what was committed before the restart, exactly
        assert 0 < len(committed) < RECORDS and len(committed) % BATCH_SIZE == 0, len(committed)

        def next_batch_waiting() -> bool:
            with watcher.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE relation = 'activities_activity'::regclass AND NOT granted)"
                )
                return cursor.fetchone()[0] or importing.poll() is not None

        # The next batch's transaction is open (its identities written) and waits to insert.
        assert wait_for(next_batch_waiting, SECONDS, interval=0.02)
        assert importing.poll() is None, f"the import ended before the restart:\n{first_log.read_text(errors='replace')}"

        restarted_at = time.monotonic()
        server.restart()
        with contextlib.suppress(psycopg2.Error):
            watcher.close()  # ended by the restart too
        status, output = _finish(importing, first_log)
        stopped_after = time.monotonic() - restarted_at

        # It failed, promptly, saying the database connection was lost; it claimed nothing stored.
        assert status != 0, output.decode(errors="replace")
        assert stopped_after < 30, f"the import took {stopped_after:.0f} s to notice the restart"
        assert b"OperationalError" in output, output.decode(errors="replace")[-4000:]
        assert re.search(rb"terminating connection|server closed the connection|connection .*closed", output), output[-4000:]
        assert not CREATED.search(output), output[-4000:]

        # 2. What was committed before the restart is there, unchanged; no activity of the batch in
        # flight is.
        db = server.connect(DATABASE)
        try:
            after_restart = _activities(db)
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM contributors_identity")
                identities_after_restart = cursor.fetchone()[0]
        finally:
            db.close()
        assert after_restart == committed
        # Identities are resolved and committed a batch ahead of their activities (the pipeline of
        # activities_ingest), so those of the batches in flight may be there already. Either way
        # they are those of whole batches, each person with both identities: at least every person
        # of the committed batches, at most every person of the file.
        possible = {2 * _persons(range(batches * BATCH_SIZE)) for batches in range(len(committed) // BATCH_SIZE, 4)}
        assert identities_after_restart in possible, (identities_after_restart, sorted(possible))

        # 3. The same import again, and the clean import of the same file, side by side.
        second_log, clean_log = tmp_path / "second-import.log", tmp_path / "clean-import.log"
        rerun = _import(server, DATABASE, path, metrics_cache, second_log)
        clean = _import(server, CLEAN_DATABASE, path, metrics_cache, clean_log)
        status, output = _finish(rerun, second_log)
        assert status == 0, output.decode(errors="replace")[-4000:]
        clean_status, clean_output = _finish(clean, clean_log)
        assert clean_status == 0, clean_output.decode(errors="replace")[-4000:]
        # Committed records are recognised as such, the others created: each exactly once.
        reported = CREATED.search(output)
        assert reported, output
        assert tuple(map(int, reported.groups())) == (RECORDS - len(committed), len(committed), 0)
        assert b"created source" not in output  # the source the first run created was kept

        db, clean_db = server.connect(DATABASE), server.connect(CLEAN_DATABASE)
        try:
            final = _activities(db)
            with db.cursor() as cursor:
                cursor.execute("SELECT count(*), count(DISTINCT (source_id, external_id)) FROM activities_activity")
                rows, distinct = cursor.fetchone()
                cursor.execute("SELECT count(*) FROM activities_source WHERE slug = %s", [SOURCE])
                sources = cursor.fetchone()[0]
            people, clean_people = _people(db), _people(clean_db)
            reference = _activities(clean_db)
        finally:
            db.close()
            clean_db.close()

    assert rows == distinct == RECORDS and sources == 1
    assert set(final) == {f"c{index}" for index in range(RECORDS)}
    # The rows committed before the restart kept their ids and identities.
    assert {key: final[key] for key in committed} == committed
    # Identities consistent: one person per contributor, with both identities, as a clean import gives.
    assert len(people) == _persons(range(RECORDS)) and all(len(person[3]) == 2 for person in people)
    assert people == clean_people
    assert _canonical(final) == _canonical(reference)
