"""Identity resolution alone: the actors of every record of a data set resolved to persons.

    DATABASE_URL=postgres://…/baloo_bench .venv/bin/python bench/identities.py FILE

Records are read and checked first (not timed); then their actors are resolved in batches of
BATCH_SIZE, each in its own transaction, exactly as an import does (one `ResolvedActors` for the
run, so an actor already resolved is not resolved again) — into an empty people table. Prints one
JSON object: seconds, actors/s, persons and identities created.
"""

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from activities.models import Source  # noqa: E402
from activities.records import RecordError, record_parse  # noqa: E402
from activities.services import BATCH_SIZE, _actor, _github_namespaces, actor_signature  # noqa: E402
from contributors.services import ResolvedActors  # noqa: E402


def main(path: str) -> None:
    sources = {source.slug: source for source in Source.objects.all()}
    namespaces = _github_namespaces(sources)
    now = timezone.now()
    records = []
    with open(path, "rb") as stream:
        for line in stream:
            try:
                record = record_parse(line, now=now)
            except RecordError:
                continue
            if record.source in sources:
                records.append(record)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contributors_identity, contributors_person, contributors_personmerge, "
            "contributors_identityaudit, contributors_mergesuggestion, contributors_separation CASCADE"
        )
    started = time.perf_counter()
    resolved = ResolvedActors()
    for start in range(0, len(records), BATCH_SIZE):
        batch = records[start : start + BATCH_SIZE]
        with transaction.atomic():
            resolved.resolve(
                [actor_signature(r) for r in batch],
                lambda i, batch=batch: _actor(batch[i], sources[batch[i].source], namespaces),
            )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM contributors_person), (SELECT count(*) FROM contributors_identity)"
        )
        persons, identities = cursor.fetchone()
    print(
        json.dumps(
            {
                "actors": len(records),
                "seconds": seconds,
                "actors_per_s": len(records) / seconds,
                "persons": persons,
                "identities": identities,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
