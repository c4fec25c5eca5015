"""Identity resolution alone: the actors of every record of a data set resolved to persons.

    DATABASE_URL=postgres://…/baloo_bench .venv/bin/python bench/identities.py FILE

Records are read and checked first (not timed); then `identities_resolve` runs over their actors
in batches of 20,000, each in its own transaction, exactly as an import does — into an empty
people table. Prints one JSON object: seconds, actors/s, persons and identities created.
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
from activities.services import BATCH_SIZE, _actor, _github_namespaces  # noqa: E402
from contributors.services import identities_resolve  # noqa: E402


def main(path: str) -> None:
    sources = {source.slug: source for source in Source.objects.all()}
    namespaces = _github_namespaces(sources)
    now = timezone.now()
    actors = []
    with open(path, "rb") as stream:
        for line in stream:
            try:
                record = record_parse(line, now=now)
            except RecordError:
                continue
            if record.source in sources:
                actors.append(_actor(record, sources[record.source], namespaces))
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contributors_identity, contributors_person, contributors_personmerge, "
            "contributors_identityaudit, contributors_mergesuggestion, contributors_separation CASCADE"
        )
    started = time.perf_counter()
    for start in range(0, len(actors), BATCH_SIZE):
        with transaction.atomic():
            identities_resolve(actors=actors[start : start + BATCH_SIZE])
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM contributors_person), (SELECT count(*) FROM contributors_identity)"
        )
        persons, identities = cursor.fetchone()
    print(
        json.dumps(
            {
                "actors": len(actors),
                "seconds": seconds,
                "actors_per_s": len(actors) / seconds,
                "persons": persons,
                "identities": identities,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
