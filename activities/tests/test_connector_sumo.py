"""SUMO (Kitsune) sync against a local stand-in of its API."""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync, source_sync_restart

from .builders import at, kitsune_data, sumo_answer
from .standin import FakeKitsune

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return FakeKitsune()


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

    # When it said to come back (before that, every sync with the same key waits: the limit is shared).
    with time_machine.travel(deferred.resume_at):
        resumed = source_sync(source=source)
    assert stored(source) == expected
    assert resumed.status == SyncRun.Status.SUCCEEDED


def test_answers_and_questions_stored_nowhere_are_rejected_once_with_a_reason(api, server):
    expected = kitsune_data(api, 6)
    api.questions[0]["creator"] = None  # its author's account was deleted; its answers still count
    api.answers[1]["creator"] = None
    api.answers.append(sumo_answer(7001, 999, user="helper1", created=at(100)))  # question 999 is gone
    spam = sumo_answer(7002, 2, user="spammer", created=at(101))
    spam["is_spam"] = True
    api.answers.append(spam)
    source = make_source(server)

    first = source_sync(source=source)
    # A new answer moves the listing on; the last second is read again (`created__gt` is strict).
    api.answers.append(sumo_answer(7003, 3, user="latecomer", created=at(101)))
    second = source_sync(source=source)
    source_sync_restart(source=source)
    restarted = source_sync(source=source)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    reasons = {sample["external_id"]: sample["reason"] for sample in first.rejections}
    assert reasons == {"question:1": "deleted account", "answer:2": "deleted account",
                       "answer:7001": "question not served (hidden or deleted)", "answer:7002": "marked as spam"}
    assert first.rejected == 4
    assert (second.created, second.rejected, restarted.created, restarted.rejected) == (1, 0, 0, 0)
    assert stored(source) == expected - Counter({"sumo.question.asked": 1, "sumo.answer.posted": 1}) + Counter({"sumo.answer.posted": 1})
    assert Activity.objects.get(source=source, external_id="answer:1").container == "thunderbird::en-US"


def test_a_solution_whose_solver_is_gone_is_rejected(api, server):
    kitsune_data(api, 4)
    api.questions[3]["solved_by"] = None
    source = make_source(server)

    run = source_sync(source=source)

    assert run.rejections == [{"external_id": "solution:4:4", "reason": "deleted account"}]
    assert not Activity.objects.filter(type="sumo.answer.solution").exists()
