"""Scale-out, proven: three Celery worker processes ingesting overlapping batches at once, then
recomputing at once, leave exactly the data and counts that one worker doing it all in turn leaves.

"The same" is compared on natural keys, never on database ids: every activity (source, external
id, type, time) with the set of identity keys of the person it resolved to, the persons as sets of
identity keys, and every metric point of the latest complete run.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from activities.models import Activity, Source
from activities.services import activities_ingest
from contributors.models import Identity, Person
from conversion_points.models import Area, ConversionPoint
from metrics.engine import metrics_recompute
from metrics.models import MetricPoint, MetricRun

from .processes import needs_postgresql_and_redis, redis_server, sender, start_worker

pytestmark = [
    pytest.mark.celery_worker,
    needs_postgresql_and_redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("no_stray_workers"),
]

WORKERS = 3
PEOPLE = 150
RECORDS = 3000
BATCH = 150
TASK_SECONDS = 180


def _records() -> list[dict]:
    """Activities in two sources by people who show up under an e-mail in one and a username in the
    other, and sometimes both at once: concurrent batches must merge them into the same persons."""
    rng = random.Random(9)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    records = []
    for index in range(RECORDS):
        person = rng.randrange(PEOPLE)
        source = "scale-git" if index % 3 else "scale-forum"
        actor = {"email": f"p{person}@example.org"} if source == "scale-git" else {"username": f"p{person}"}
        if index % 7 == 0:  # the link between the two accounts, seen now and then
            actor = {"email": f"p{person}@example.org", "username": f"p{person}"}
        records.append(
            {
                "source": source,
                "external_id": f"{source}:{index}",
                "type": "git.commit.authored" if source == "scale-git" else "forum.post.created",
                "occurred_at": (start + timedelta(hours=rng.randrange(24 * 600))).isoformat(),
                "actor": {**actor, "name": f"Person {person}"},
                "container": f"repo-{person % 4}",
            }
        )
    return records


def _overlapping_batches(records: list[dict]) -> list[list[dict]]:
    """Records in two series of batches, the second shifted by half a batch, in a shuffled order."""
    batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    batches += [records[i : i + BATCH] for i in range(BATCH // 2, len(records), BATCH)]
    random.Random(4).shuffle(batches)
    return batches


def _configure() -> None:
    git = Source.objects.create(slug="scale-git", kind="git", name="Git")
    forum = Source.objects.create(slug="scale-forum", kind="manual", name="Forum")
    code = Area.objects.create(slug="code", name="Code")
    community = Area.objects.create(slug="community", name="Community")
    ConversionPoint.objects.create(slug="commits", area=code, source=git, types=["git.commit.authored"], level="active", name="Commits")
    ConversionPoint.objects.create(slug="repo-0", area=code, source=git, types=["git.commit.authored"], container="repo-0", level="core", name="Repo 0")
    ConversionPoint.objects.create(slug="posts", area=community, source=forum, types=["forum.post.created"], level="active", name="Posts")


def _state() -> dict:
    """Everything a worker writes, by natural keys."""
    keys_of_person: dict[int, frozenset] = {}
    for person_id, kind, namespace, value in Identity.objects.values_list("person_id", "kind", "namespace", "value"):
        keys_of_person.setdefault(person_id, frozenset())
        keys_of_person[person_id] |= {(kind, namespace, value)}
    activities = sorted(
        (source, external_id, kind, occurred_at.isoformat(), tuple(sorted(keys_of_person[person_id])))
        for source, external_id, kind, occurred_at, person_id in Activity.objects.values_list(
            "source__slug", "external_id", "type", "occurred_at", "identity__person_id"
        )
    )
    run = MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).order_by("-finished_at").first()
    points = sorted(
        MetricPoint.objects.filter(run=run).values_list(
            "scope", "population", "date", "active", "new", "lapsed", "level_casual", "level_active", "level_core"
        )
    )
    return {
        "activities": activities,
        "persons": sorted(tuple(sorted(keys)) for keys in keys_of_person.values()),
        "person_count": Person.objects.count(),
        "identity_count": Identity.objects.count(),
        "points": points,
        "contributors_ever": (run.contributors_ever, run.contributors_ever_everyone) if run else None,
        "latest_week": run.latest_week if run else None,
    }


def _reset() -> None:
    tables = ", ".join(model._meta.db_table for model in (Activity, Identity, Person, MetricRun))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def test_three_workers_ingesting_and_recomputing_at_once_match_one_worker(tmp_path):
    _configure()
    records = _records()
    batches = _overlapping_batches(records)

    with redis_server() as broker:
        workers = [start_worker(broker, tmp_path / f"w{n}.log", name=f"w{n}") for n in range(WORKERS)]
        app = sender(broker)
        try:
            results = [app.send_task("activities.ingest_records", args=[batch]) for batch in batches]
            outcomes = [result.get(timeout=TASK_SECONDS) for result in results]
            # Several recomputes asked for at once, as the nightly job and pushes may do.
            recomputes = [app.send_task("metrics.recompute") for _ in range(WORKERS)]
            for result in recomputes:
                result.get(timeout=TASK_SECONDS)
            busy = [worker for worker in workers if "succeeded" in worker.text()]
        finally:
            for worker in workers:
                worker.stop()
            app.close()
    assert len(busy) >= 2, "the work should have been shared between the workers"
    assert sum(outcome["created"] for outcome in outcomes) == RECORDS
    # Every record but the first half batch was sent twice: once stored, once a duplicate.
    assert sum(outcome["duplicate"] for outcome in outcomes) == sum(map(len, batches)) - RECORDS
    assert not any(outcome["rejected"] for outcome in outcomes)
    scaled = _state()

    # One worker, the same batches one after another (the code a worker runs, in this process).
    _reset()
    for batch in batches:
        activities_ingest(records=enumerate(batch))
    metrics_recompute()
    single = _state()

    assert scaled["activities"] == single["activities"]
    assert len(scaled["activities"]) == RECORDS
    assert scaled["persons"] == single["persons"]
    assert (scaled["person_count"], scaled["identity_count"]) == (single["person_count"], single["identity_count"])
    assert scaled["person_count"] >= PEOPLE  # persons never seen with both accounts stay two
    assert scaled["points"] and scaled["points"] == single["points"]
    assert scaled["contributors_ever"] == single["contributors_ever"]
    assert scaled["latest_week"] == single["latest_week"]
