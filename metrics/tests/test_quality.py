"""Data quality, published (issue #20): the figures of a built history, by the rules of metrics/quality.py,
and nothing personal or remote in them."""

import json

import pytest

from contributors.models import PlaceholderAccount
from metrics.quality import RUNS_CONSIDERED, data_quality, data_quality_build, identity_quality

from .quality_history import NOW, PLANTED, quality_history

pytestmark = pytest.mark.django_db


def by_slug(figures: dict) -> dict[str, dict]:
    return {source["slug"]: source for source in figures["sources"]}


def test_a_synced_source_is_behind_by_the_time_since_its_last_successful_sync():
    quality_history()
    bmo = by_slug(data_quality_build(now=NOW))["bmo"]

    # Succeeded 3 h ago (finished 2 minutes after it started); the run an hour ago failed.
    assert bmo["fed_by"] == "sync"
    assert bmo["last_success_at"] == "2024-06-03T09:02:00+00:00"
    assert bmo["behind_seconds"] == 3 * 3600 - 120
    assert (bmo["last_run_status"], bmo["last_run_at"]) == ("failed", "2024-06-03T11:02:00+00:00")
    assert bmo["activities"] == 6
    assert bmo["latest_activity_at"] == "2024-06-02T07:00:00+00:00"


def test_a_source_fed_by_import_is_behind_by_its_latest_activity():
    history = quality_history()
    git = by_slug(data_quality_build(now=NOW))[history.git.slug]

    assert (git["fed_by"], git["last_success_at"], git["last_run_status"]) == ("import", None, None)
    assert git["latest_activity_at"] == "2024-06-02T10:00:00+00:00"
    assert git["behind_seconds"] == 26 * 3600
    assert (git["activities"], git["rejected"], git["rejected_by_reason"], git["totals"]) == (2, 0, [], [])


def test_a_source_never_synced_and_a_paused_one_say_so():
    history = quality_history()
    sources = by_slug(data_quality_build(now=NOW))

    never = sources[history.never.slug]
    assert (never["fed_by"], never["last_success_at"], never["behind_seconds"], never["activities"]) == ("sync", None, None, 0)
    assert (never["runs_considered"], never["totals"]) == (0, [])
    paused = sources[history.paused.slug]
    assert (paused["enabled"], paused["last_success_at"], paused["behind_seconds"]) == (False, None, None)
    assert sources["bmo"]["enabled"] is True


def test_rejections_of_the_last_runs_by_fixed_reason():
    quality_history()
    sources = by_slug(data_quality_build(now=NOW))

    # Bugzilla: a skipped run is no run; the reason quoting a person is "other reason", and so is
    # what a run from before reasons were counted rejected.
    bmo = sources["bmo"]
    assert bmo["runs_considered"] == 3
    assert bmo["rejected_by_reason"] == [
        {"reason": "other reason", "count": 5},
        {"reason": "no author named", "count": 2},
        {"reason": "malformed record", "count": 1},
    ]
    assert bmo["rejected"] == 8
    # SUMO: the last ten of its twelve runs, one deleted account each; the older spam is not counted.
    sumo = sources["sumo"]
    assert sumo["runs_considered"] == RUNS_CONSIDERED == 10
    assert sumo["rejected_by_reason"] == [{"reason": "deleted account", "count": 10}]


def test_the_systems_own_totals_beside_what_is_stored_items_not_activities():
    quality_history()
    sources = by_slug(data_quality_build(now=NOW))

    assert sources["bmo"]["totals"] == [
        {"items": "bug", "reported": 12, "stored": 5, "rejected": 1, "missing": 6, "at": "2024-06-03T09:00:00+00:00"},
    ]
    assert [(row["items"], row["reported"], row["missing"]) for row in sources["sumo"]["totals"]] == [
        ("answer", 4, 1), ("question", 1, 0),
    ]


def test_identity_figures():
    quality_history()
    identity = identity_quality()

    # Counted persons with an identity: Ann (two), Ben, Cy, the staff member (one each); not the bot
    # nor the placeholder account.
    assert (identity["persons"], identity["one_identity"], identity["one_identity_share"]) == (4, 3, 0.75)
    assert (identity["merge_suggestions_open"], identity["claims_waiting"]) == (1, 1)
    assert (identity["bots"], identity["staff"]) == (1, 1)
    # The default list of placeholder accounts; one of them is met, with one activity.
    assert identity["placeholder_accounts"] == PlaceholderAccount.objects.count() >= 1
    assert (identity["placeholder_persons"], identity["placeholder_activities"]) == (1, 1)


def test_no_persons_no_share():
    assert identity_quality()["one_identity_share"] is None
    assert data_quality_build(now=NOW)["sources"] == []


def test_nothing_personal_or_remote_is_in_the_figures():
    quality_history()
    text = json.dumps(data_quality_build(now=NOW))
    for planted in PLANTED:
        assert planted.lower() not in text.lower()
    assert "Server said" not in text and "Another sync" not in text


def test_the_figures_are_cheap_and_kept(django_assert_max_num_queries):
    quality_history()
    with django_assert_max_num_queries(16):
        first = data_quality()
    with django_assert_max_num_queries(0):
        assert data_quality() == first
