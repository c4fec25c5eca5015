"""SUMO (Kitsune) sync against a local stand-in of its API."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync

from .builders import at, kitsune_data, sumo_answer
from .standin import FakeKitsune, Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return FakeKitsune()


@pytest.fixture
def server(api):
    with Server(api) as url:
        yield url


def make_source(url: str, **options) -> Source:
    return Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url, options={"backoff_seconds": 0, **options})


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def test_questions_answers_and_solutions(api, server):
    expected = kitsune_data(api, 70)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    solution = Activity.objects.get(source=source, external_id="solution:4:4")
    assert (solution.identity.value, solution.container) == ("helper4", "firefox::en-US")
    assert Activity.objects.get(source=source, external_id="answer:5").container == "thunderbird::de"


def test_a_new_answer_to_an_old_question_is_found(api, server):
    kitsune_data(api, 30)
    source = make_source(server)
    source_sync(source=source)
    before = stored(source)

    # Kitsune does not touch the question's `updated` when an answer is posted.
    api.answers.append(sumo_answer(5000, 3, user="latecomer", created=at(50_000)))
    run = source_sync(source=source)

    assert stored(source) - before == Counter({"sumo.answer.posted": 1})
    assert Activity.objects.get(source=source, external_id="answer:5000").container == "thunderbird::en-US"
    assert run.created == 1


def test_products_and_locales_limit_what_is_synced(api, server):
    kitsune_data(api, 40)
    source = make_source(server, products=["firefox"], locales=["en-US"])

    source_sync(source=source)

    containers = set(Activity.objects.filter(source=source).values_list("container", flat=True))
    assert containers == {"firefox::en-US"}


def test_a_short_429_is_waited_out(api, server, monkeypatch):
    expected = kitsune_data(api, 30)
    api.fail("/api/2/answer/", status=429, times=1, headers={"Retry-After": "2"}, body=b'{"detail": "Request was throttled."}')
    waits = []
    monkeypatch.setattr("activities.connectors.http.time.sleep", waits.append)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected
    assert waits and 0 < waits[0] <= 2


def test_a_long_429_defers_the_run(api, server):
    expected = kitsune_data(api, 30)
    api.fail("/api/2/answer/", status=429, times=1, headers={"Retry-After": "600"}, body=b'{"detail": "Request was throttled."}')
    source = make_source(server)

    deferred = source_sync(source=source)
    assert deferred.status == SyncRun.Status.DEFERRED
    assert deferred.resume_at - timezone.now() > timedelta(minutes=9)

    resumed = source_sync(source=source)
    assert stored(source) == expected
    assert resumed.status == SyncRun.Status.SUCCEEDED
