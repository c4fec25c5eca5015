"""The summary as of today comes with the metric run: no request counts it (metrics.engine.as_of).

Every recompute counts the summary as of the day it runs and stores it with the run; the API and
the home page read it while that day is today. After midnight, until the next run, they answer
with the run's figures dated their own day and ask for a recompute; other days are counted on
demand, by one request at a time.
"""

import threading
import time
from datetime import date, timedelta

import pytest
import time_machine
from django.core.cache import cache

from conversion_points.contributions import scope_counts
from conversion_points.models import Population
from conversion_points.tests.factories import at
from metrics import selectors
from metrics.engine import metric_run_current_forget, metrics_recompute
from metrics.models import MetricRun
from metrics.tasks import recompute_metrics_new_day, recompute_metrics_queued

FRIDAY = date(2026, 12, 4)
pytestmark = pytest.mark.usefixtures("plain_http")


@pytest.fixture
def no_counting_on_requests(monkeypatch):
    """Fail if a request counts the summary itself (the SQL pass `scope_counts`)."""

    def refuse(**kwargs):
        raise AssertionError("a request counted the summary")

    monkeypatch.setattr(selectors, "scope_counts", refuse)


def summary(client, query: str = "") -> dict:
    response = client.get("/api/v1/metrics/summary/" + query)
    assert response.status_code == 200, response.content
    return response.json()


def test_right_after_a_recompute_the_summary_comes_from_the_run(
    client, world, no_counting_on_requests, django_assert_max_num_queries
):
    world(at(FRIDAY - timedelta(days=100)))
    world(at(FRIDAY, 8))  # this morning
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        run = metrics_recompute()
        for population in (Population.VOLUNTEERS, Population.EVERYONE):
            assert run.as_of[population] == scope_counts(day=FRIDAY, population=population)
        # The run lookup, the areas, the sources: a handful of small queries, none over the activities.
        with django_assert_max_num_queries(4):
            now = summary(client)
        assert (now["date"], now["active"], now["new"], now["contributors_ever"]) == ("2026-12-04", 2, 1, 2)
        assert summary(client, "?staff=include")["active"] == 2
        assert summary(client, f"?date={FRIDAY.isoformat()}") == now  # today asked for by name
        page = client.get("/").content.decode()
        assert "in the 12 months up to Dec. 4, 2026," in page


def test_after_midnight_yesterdays_figures_are_dated_yesterday_until_the_next_run(
    client, world, no_counting_on_requests
):
    """Never yesterday's figures called today's, and no request counts: the recompute asked for does."""
    world(at(FRIDAY - timedelta(days=364), 12))  # in Friday's window, out of Saturday's
    world(at(FRIDAY, 23, 30))
    with time_machine.travel(at(FRIDAY, 23, 50), tick=False):
        metrics_recompute()
    saturday = FRIDAY + timedelta(days=1)
    with time_machine.travel(at(saturday, 0, 1), tick=False):
        stale = summary(client)
        assert (stale["date"], stale["active"], stale["new"]) == ("2026-12-04", 2, 1)
        page = client.get("/").content.decode()
        assert "in the 12 months up to Dec. 4, 2026," in page
        queued = MetricRun.objects.get(status=MetricRun.Status.QUEUED)  # asked for once, for many requests
        summary(client, "?staff=include")
        assert MetricRun.objects.filter(status=MetricRun.Status.QUEUED).count() == 1
        recompute_metrics_queued(queued.pk)  # the worker
        metric_run_current_forget()
        now = summary(client)
        assert (now["date"], now["active"], now["new"]) == ("2026-12-05", 1, 1)
        assert "in the 12 months up to Dec. 5, 2026," in client.get("/").content.decode()


def test_the_midnight_job_asks_for_a_recompute_that_counts_the_new_day(client, world, no_counting_on_requests):
    world(at(FRIDAY, 10))
    with time_machine.travel(at(FRIDAY, 11), tick=False):
        metrics_recompute(incremental=True)
    with time_machine.travel(at(FRIDAY + timedelta(days=1), 0, 0), tick=False):
        queued = MetricRun.objects.get(pk=recompute_metrics_new_day())
        run = MetricRun.objects.get(pk=recompute_metrics_queued(queued.pk))
        assert run.stats["as_of"] == "counted"  # a new day: everyone's rows counted again, once
        assert run.as_of["day"] == "2026-12-05"
        now = summary(client)
        assert (now["date"], now["active"], now["new"]) == ("2026-12-05", 1, 1)


def test_a_run_without_stored_figures_is_counted_once_not_by_every_request(client, world, monkeypatch):
    """A past day (or a run counted before runs stored the summary): one request counts, the others wait for it."""
    world(at(FRIDAY - timedelta(days=3)))
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        run = metrics_recompute()
    day = FRIDAY - timedelta(days=1)
    expected = scope_counts(day=day, population=Population.VOLUNTEERS)
    counted = []

    def slow_count(**kwargs):  # the threads below share no database connection: the answer is canned
        counted.append(kwargs["day"])
        time.sleep(0.3)
        return expected

    monkeypatch.setattr(selectors, "scope_counts", slow_count)
    monkeypatch.setattr(selectors, "AS_OF_POLL_SECONDS", 0.01)
    answers = []

    def ask():
        answers.append(selectors.scope_counts_as_of(run=run, day=day, population=Population.VOLUNTEERS))

    with time_machine.travel(at(FRIDAY, 9, 5), tick=False):
        threads = [threading.Thread(target=ask) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert counted == [day]
    assert len(answers) == 5 and all(answer == answers[0] for answer in answers)
    assert answers[0]["scopes"]["all"] == {"active": 1, "new": 1}


def test_a_computed_sunday_is_read_from_the_weekly_points_not_counted(client, world, monkeypatch):
    """Anyone may ask for any past day: a Sunday the run computed costs a lookup, and equals the count."""
    for days_ago in (3, 14, 40, 400):
        world(at(FRIDAY - timedelta(days=days_ago)))
    sunday = FRIDAY - timedelta(days=12)  # Sunday 2026-11-22
    assert sunday.weekday() == 6
    expected = {
        name: scope_counts(day=sunday, population=name) for name in (Population.VOLUNTEERS, Population.EVERYONE)
    }
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        metrics_recompute()

    def refuse(**kwargs):
        raise AssertionError("a request counted the summary")

    monkeypatch.setattr(selectors, "scope_counts", refuse)
    with time_machine.travel(at(FRIDAY, 10), tick=False):
        for flag, name in (("", Population.VOLUNTEERS), ("&staff=include", Population.EVERYONE)):
            answer = summary(client, f"?date={sunday.isoformat()}{flag}")
            assert answer["date"] == sunday.isoformat()
            assert (answer["active"], answer["new"]) == (expected[name]["scopes"]["all"]["active"], 1)
            assert expected[name]["scopes"]["all"]["new"] == 1
            assert answer["contributors_ever"] == expected[name]["ever"] == 3
            assert answer["areas"][0]["active"] == expected[name]["scopes"]["area:support"]["active"]


def test_while_one_day_is_counted_a_request_for_another_is_told_to_come_back(client, world, monkeypatch):
    """One pass over every contribution at a time, site-wide: a crowd asking for one past day after
    another cannot stack them up on the database."""
    world(at(FRIDAY - timedelta(days=3)))
    with time_machine.travel(at(FRIDAY, 9), tick=False):
        run = metrics_recompute()
    counted = []
    monkeypatch.setattr(selectors, "scope_counts", lambda **kwargs: counted.append(kwargs) or {})
    monkeypatch.setattr(selectors, "AS_OF_BUSY_SECONDS", 0.05)
    monkeypatch.setattr(selectors, "AS_OF_POLL_SECONDS", 0.01)
    other_day = selectors.run_cache_key(run=run, namespace=selectors.AS_OF_NAMESPACE, name="2026-01-07:volunteers")
    cache.set(selectors.AS_OF_COUNTING_LOCK, other_day, 60)
    with time_machine.travel(at(FRIDAY, 10), tick=False):
        response = client.get("/api/v1/metrics/summary/?date=2026-12-02")
    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "being counted" in response.json()["detail"]
    assert counted == []
