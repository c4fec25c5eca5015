"""The shared reads: a conversion point as a condition on activities, and the per-run cache."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from activities.models import Activity
from activities.tests.factories import SourceFactory
from conversion_points.rules import rule_condition, rules_condition
from dashboard import selectors as dashboard_selectors
from metrics.models import MetricRun
from metrics.selectors import RUN_CACHE_SECONDS, run_cache_key, run_cached

from .factories import ActivityFactory, ConversionPointFactory

WHEN = datetime(2024, 6, 2, 12, tzinfo=UTC)


def matched(condition) -> set[str]:
    return set(Activity.objects.filter(condition).values_list("external_id", flat=True))


@pytest.fixture
def github(db):
    source = SourceFactory(slug="github")
    for external_id, activity_type, container in [
        ("pr-mozilla", "github.pr.opened", "mozilla/gecko"),
        ("pr-other", "github.pr.opened", "someone/else"),
        ("pr-nowhere", "github.pr.opened", ""),
        ("issue-mozilla", "github.issue.opened", "mozilla/gecko"),
        ("star-mozilla", "github.star.given", "mozilla/gecko"),
    ]:
        ActivityFactory(
            source=source, external_id=external_id, type=activity_type, container=container, occurred_at=WHEN
        )
    ActivityFactory(external_id="elsewhere", type="github.pr.opened", container="mozilla/gecko", occurred_at=WHEN)
    return source


def test_a_rule_matches_its_source_its_types_and_its_container_glob(github):
    rule = rule_condition(source_id=github.pk, types=["github.pr.opened", "github.issue.opened"], container="mozilla/*")
    assert matched(rule) == {"pr-mozilla", "issue-mozilla"}


@pytest.mark.parametrize("container", ["", "*", None])
def test_an_empty_or_star_glob_matches_every_container(github, container):
    rule = rule_condition(source_id=github.pk, types=["github.pr.opened"], container=container)
    assert matched(rule) == {"pr-mozilla", "pr-other", "pr-nowhere"}


def test_no_types_match_nothing(github):
    assert matched(rule_condition(source_id=github.pk, types=[], container="*")) == set()
    assert matched(rule_condition(source_id=github.pk, types=None, container="*")) == set()


def test_a_glob_that_matches_no_container_gives_no_rule():
    # A reversed range matches nothing, as in fnmatch.
    assert rule_condition(source_id=1, types=["github.pr.opened"], container="[z-a]") is None


def test_the_rules_of_several_points_are_joined_and_those_matching_nothing_left_out(github):
    pr = ConversionPointFactory(source=github, types=["github.pr.opened"], container="mozilla/*")
    star = ConversionPointFactory(source=github, types=["github.star.given"], container="*")
    never = ConversionPointFactory(source=github, types=["github.issue.opened"], container="[z-a]")
    assert matched(rules_condition([pr, star, never])) == {"pr-mozilla", "star-mozilla"}
    assert matched(rules_condition([star])) == {"star-mozilla"}
    assert rules_condition([never]) is None
    assert rules_condition([]) is None


def run(pk: int = 7, finished_at: datetime | None = datetime(2024, 6, 3, 1, 2, 3, tzinfo=UTC)) -> MetricRun:
    return MetricRun(pk=pk, status=MetricRun.Status.COMPLETE, finished_at=finished_at)


def test_run_cache_keys_name_the_run_and_its_finish_time():
    assert run_cache_key(run=run(), namespace="metrics", name="abc") == "metrics:v1:7:1717376523.0:abc"
    assert run_cache_key(run=run(finished_at=None), namespace="metrics", name="abc") == "metrics:v1:7:0:abc"
    # The dashboard keeps its own keys, and the whole-page cache uses the same timeout.
    assert dashboard_selectors.run_key(run=run(), name="x") == "dashboard:v1:7:1717376523.0:x"
    assert dashboard_selectors.CACHE_SECONDS == RUN_CACHE_SECONDS == 24 * 3600


def test_run_cached_builds_once_per_run_namespace_and_name():
    calls = []

    def build(value):
        def inner():
            calls.append(value)
            return value

        return inner

    assert run_cached(run=run(), namespace="metrics", name="a", build=build(1)) == 1
    assert run_cached(run=run(), namespace="metrics", name="a", build=build(2)) == 1
    assert run_cached(run=run(), namespace="dashboard", name="a", build=build(3)) == 3
    assert run_cached(run=run(), namespace="metrics", name="b", build=build(4)) == 4
    # A recompute (another run, or the same run finished again) builds anew.
    assert run_cached(run=run(pk=8), namespace="metrics", name="a", build=build(5)) == 5
    later = run(finished_at=datetime(2024, 6, 10, tzinfo=UTC))
    assert run_cached(run=later, namespace="metrics", name="a", build=build(6)) == 6
    assert calls == [1, 3, 4, 5, 6]
    assert dashboard_selectors.run_cached(run=run(), name="a", build=build(7)) == 3


def test_run_cached_keeps_a_value_for_a_day(monkeypatch):
    stored = []
    monkeypatch.setattr(cache, "set", lambda key, value, timeout: stored.append((key, value, timeout)))
    assert run_cached(run=run(), namespace="metrics", name="a", build=lambda: {"active": 2}) == {"active": 2}
    assert stored == [("metrics:v1:7:1717376523.0:a", {"active": 2}, timedelta(days=1).total_seconds())]


def test_run_cached_builds_a_none_result_again_each_time():
    calls = []
    assert run_cached(run=run(), namespace="dashboard", name="levels", build=lambda: calls.append(1)) is None
    assert run_cached(run=run(), namespace="dashboard", name="levels", build=lambda: calls.append(1)) is None
    assert calls == [1, 1]
