"""The partitioned recompute: shares of the persons counted apart give exactly what one task gives.

Each part reads only its share of the persons (person id modulo the number of shares, after
merges) and stores a partial result; the part that completes the run adds them up and swaps the run
in. Whatever the number of shares, the order of the parts or how often one is delivered, the numbers
equal the one-task recompute's: every point, overlap, movement, cohort, contributors ever and the
summary as of today. A part that raises leaves the previous run the current one; parts of a run
that was superseded do nothing; a merge between two parts is counted again. The real-worker tests
(PostgreSQL and Redis) are in test_metrics_partitioned_workers.py.
"""

import os
import tempfile
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Activity
from baloo_site.celery_beat import CELERY_BEAT_SCHEDULE
from contributors.models import Identity, Person
from conversion_points.models import ConversionPoint
from conversion_points.tests.factories import (
    ActivityFactory,
    AreaFactory,
    ConversionPointFactory,
    IdentityFactory,
    PersonFactory,
)
from metrics import tasks
from metrics.engine import (
    STAGES,
    People,
    Rules,
    Stage,
    cache_dir,
    cache_hold,
    metrics_partition_plan,
    metrics_parts,
    metrics_recompute,
    metrics_recompute_part,
    metrics_recompute_partitioned,
    partials,
    partitioned,
)
from metrics.engine import split as split_module
from metrics.engine.fetch import fetch_rows, person_chunks
from metrics.engine.split import rows_of_share as split_rows
from metrics.models import AreaMovement, CohortTable, MetricPart, MetricPoint, MetricRun, Overlap
from metrics.selectors import metric_run_latest as latest_run

from .test_metrics import build, worlds
from .test_metrics_incremental import apply, changes, everything, incremental_equals_full


def current() -> MetricRun:
    return MetricRun.objects.get(status=MetricRun.Status.COMPLETE)


def published(run: MetricRun) -> dict:
    """Everything a run publishes, the summary as of its day included."""
    return {**everything(run), "as_of": run.as_of}


def quiet() -> object:
    return open(os.devnull, "w")  # noqa: SIM115


@pytest.fixture
def demo(db):
    """The demo community (seed_demo), with its one-task run current."""
    with quiet() as out:
        call_command("seed_demo", people=60, stdout=out)
    return current()


@pytest.mark.parametrize("shares", [1, 2, 3, 7])
def test_the_partitioned_recompute_equals_one_task_on_the_demo(demo, shares):
    one_task = published(metrics_recompute())
    run = metrics_recompute_partitioned(parts=shares)
    assert run.status == MetricRun.Status.COMPLETE and run.stats["mode"] == "partitioned"
    assert run.parts == shares == run.stats["shares"] and len(run.parts_done) == shares
    assert published(run) == one_task
    assert one_task["series"] and one_task["cohorts"] and one_task["as_of"]["everyone"]["ever"]
    assert any(key[0].startswith("cp:") for key in one_task["series"])
    assert run.stats["points"] == MetricPoint.objects.filter(run=run).count()
    assert not MetricPart.objects.exists()  # the partial results go once added up
    assert latest_run() == run  # swapped in, older runs removed (a queued request stays)
    assert MetricRun.objects.exclude(status=MetricRun.Status.QUEUED).get() == run
    # And back: the one-task recompute after it gives the same numbers again.
    assert published(metrics_recompute()) == one_task


def test_each_part_reads_only_its_share_of_the_persons(demo):
    """The memory of a part falls with the shares: its rows are its persons' only, and they add up to everyone's."""
    rules = Rules.load()
    cp, identity, day = fetch_rows(rules)
    people = People.load()
    everyone = people.contributions(cp, people.persons_of(identity), day)
    seen = []
    for share in range(3):
        cp, identity, day = fetch_rows(rules, share=(share, 3))
        mine = People.load(share=(share, 3))
        person = mine.persons_of(identity)
        assert len(person) and set(np.unique(person) % 3) == {share}  # every row's identity is in the share's map
        assert set(mine.staff_person % 3) <= {share} and set(mine.bots % 3) <= {share} and set(mine.person % 3) == {share}
        rows = mine.contributions(cp, person, day)
        seen.append(np.stack([rows.cp, rows.person, rows.day, rows.staff]))
    together = np.concatenate(seen, axis=1)
    expected = np.stack([everyone.cp, everyone.person, everyone.day, everyone.staff])
    assert sorted(map(tuple, together.T.tolist())) == sorted(map(tuple, expected.T.tolist()))
    # Each part fetched its share's rows only, and their distinct (conversion point, person, week) keys add up.
    run = metrics_recompute_partitioned(parts=3)
    assert sum(part["rows"] for part in run.stats["parts"].values()) == len(everyone)
    assert max(part["rows"] for part in run.stats["parts"].values()) < len(everyone) / 2
    assert run.stats["rows"] == metrics_recompute().stats["rows"]


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds(), shares=st.integers(1, 4))
def test_the_partitioned_recompute_equals_one_task_on_random_worlds(world, shares):
    build(world)
    one_task = published(metrics_recompute())
    run = metrics_recompute_partitioned(parts=shares)
    assert run.status == MetricRun.Status.COMPLETE
    assert published(run) == one_task


def test_the_plan_reads_the_rows_once_and_each_part_reads_its_share_from_the_split(demo, monkeypatch):
    """One scan of the activities for the whole run, not one per part: each share's file holds exactly
    the rows the part would have fetched for itself, and the files go with the swap."""
    monkeypatch.setattr(split_module, "CHUNK_ROWS", 7)  # on PostgreSQL, the COPY is read back 7 rows at a time
    rules = Rules.load()
    run = metrics_partition_plan(parts=3)
    split = run.plan["split"]
    for share in range(3):
        mine = split_rows(partitioned._rows_dir(run.pk), share, split["rows"][share])
        itself = fetch_rows(rules, upto=run.plan["watermark"], share=(share, 3))
        assert sorted(zip(*(column.tolist() for column in mine), strict=False)) == sorted(zip(*(column.tolist() for column in itself), strict=False))
        assert len(mine[0]) == split["rows"][share] > 0
    for part in run.plan["parts"]:
        metrics_recompute_part(run.pk, part)
    run.refresh_from_db()
    assert run.status == MetricRun.Status.COMPLETE and run.stats["split_s"] is not None
    assert {part["rows_from"] for part in run.stats["parts"].values()} == {"split"}
    assert published(run) == published(metrics_recompute())
    assert not partitioned._shards_dir(run.pk).exists()


def test_a_part_that_cannot_read_its_share_of_the_split_fetches_it_itself(demo):
    """A worker on another machine, whose cache folder is not shared, finds no file: the same numbers, slower."""
    one_task = published(metrics_recompute())
    run = metrics_partition_plan(parts=2)
    (partitioned._rows_dir(run.pk) / "share-0.rows").unlink()
    with open(partitioned._rows_dir(run.pk) / "share-1.rows", "ab") as truncated_or_grown:
        truncated_or_grown.write(b"\0" * 7)
    for part in run.plan["parts"]:
        metrics_recompute_part(run.pk, part)
    run.refresh_from_db()
    assert {part["rows_from"] for part in run.stats["parts"].values()} == {"database"}
    assert published(run) == one_task


def test_a_split_that_fails_leaves_each_part_to_fetch_its_own_share(demo, monkeypatch):
    one_task = published(metrics_recompute())

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(partitioned, "rows_split", disk_full)
    run = metrics_recompute_partitioned(parts=3)
    assert run.status == MetricRun.Status.COMPLETE and "split" not in run.plan and run.stats["split_s"] is None
    assert {part["rows_from"] for part in run.stats["parts"].values()} == {"database"}
    assert published(run) == one_task


def test_a_new_contributor_arriving_mid_run_changes_nothing_the_parts_agree_on(demo):
    """Pushes go on at night: a new person's identity (and activity) stored between two parts is after
    the run's watermark, so the parts still read the split, agree, and leave the cache; the next update
    counts the newcomer."""
    run = metrics_partition_plan(parts=2)
    first, second = run.plan["parts"]
    assert metrics_recompute_part(run.pk, first)
    counted = MetricPart.objects.get(run=run).stats["rows"]
    rules = Rules.load()
    cp, identity, _day = fetch_rows(rules)
    point = rules.points[int(cp[0])]
    like = Activity.objects.filter(identity_id=int(identity[0]), source=point.source, type__in=point.types).first()
    newcomer = IdentityFactory(person=PersonFactory())
    ActivityFactory(identity=newcomer, source=like.source, type=like.type, container=like.container, occurred_at=like.occurred_at)
    assert metrics_recompute_part(run.pk, second)
    run.refresh_from_db()
    assert run.status == MetricRun.Status.COMPLETE and run.stats["recounts"] == 0 and run.cache_key
    assert {part["rows_from"] for part in run.stats["parts"].values()} == {"split"}
    assert run.stats["parts"][first]["rows"] == counted
    update = incremental_equals_full()
    assert update.contributors_ever_everyone == run.contributors_ever_everyone + 1  # the newcomer


def test_a_run_removed_while_its_rows_are_split_leaves_nothing_behind(demo, monkeypatch):
    """An update swapped in during the split removes the run (it started earlier): the plan ends quietly,
    its parts do nothing, and its files go."""
    split = partitioned.rows_split

    def update_meanwhile(*args, **kwargs):
        counts = split(*args, **kwargs)
        metrics_recompute(incremental=True)
        return counts

    monkeypatch.setattr(partitioned, "rows_split", update_meanwhile)
    run = metrics_recompute_partitioned(parts=2)
    assert not MetricRun.objects.filter(pk=run.pk).exists() and not partitioned._shards_dir(run.pk).exists()
    assert current().stats["mode"] in ("incremental", "full")


@pytest.mark.parametrize("shares", [1, 2, 3, 4, 8])
def test_a_shares_persons_fall_evenly_into_the_chunks_its_part_counts_them_in(shares):
    """A share holds the persons with id ≡ k (mod K), and a part counts them a chunk at a time: chunked
    by id modulo the chunks, 4 shares of 30M activities put every row of a share in one of 4 chunks
    (2.8 GB a worker instead of 1.2). Each chunk gets its even part, whatever the shares and chunks."""
    for chunks in (2, 3, 4, 6, 12):
        for share in range(shares):
            person = np.arange(share, 3_000_000, shares)
            sizes = np.bincount(person_chunks(person, chunks), minlength=chunks)
            assert len(sizes) == chunks and sizes.sum() == len(person)
            assert sizes.min() > 0.95 * len(person) / chunks and sizes.max() < 1.05 * len(person) / chunks


def test_a_person_with_identities_everywhere_counts_once_in_one_share(db):
    """Shares go by the person now, after merges: a person's identities, staff days and bot flag follow them."""
    area, other = AreaFactory(slug="code"), AreaFactory(slug="docs")
    commits = ConversionPointFactory(slug="commits", area=area, types=["git.commit"], level="core")
    pages = ConversionPointFactory(slug="pages", area=other, types=["wiki.edit"], level="active")
    hired = date(2023, 6, 1)
    maria = PersonFactory(staff_periods=[(hired, None)])
    identities = [IdentityFactory(person=maria) for _ in range(4)]  # ids in every share of 2 and 3
    bot = PersonFactory(is_bot=True)
    for number in range(30):
        when = datetime(2024, 1, 7, 12, tzinfo=UTC) - timedelta(days=13 * number)
        point = commits if number % 2 else pages
        ActivityFactory(source=point.source, type=point.types[0], identity=identities[number % 4], occurred_at=when)
        ActivityFactory(source=point.source, type=point.types[0], identity=IdentityFactory(person=bot), occurred_at=when)
        ActivityFactory(source=point.source, type=point.types[0], identity=IdentityFactory(), occurred_at=when)
    one_task = published(metrics_recompute())
    assert one_task["ever"] == (31, 31)  # Maria once (a volunteer before she was hired), never the bot
    for shares in (2, 3):
        assert published(metrics_recompute_partitioned(parts=shares)) == one_task


def test_a_part_raising_an_error_leaves_the_previous_run_current(demo, monkeypatch):
    previous = published(demo)
    count = partitioned.partial_compute

    def second_share_crashes(*args):
        if len(MetricPart.objects.all()) == 1:
            raise RuntimeError("worker lost")
        return count(*args)

    monkeypatch.setattr(partitioned, "partial_compute", second_share_crashes)
    with pytest.raises(RuntimeError, match="worker lost"):
        metrics_recompute_partitioned(parts=3)
    assert current() == demo and latest_run() == demo and published(demo) == previous
    failed = MetricRun.objects.get(status=MetricRun.Status.FAILED)
    assert failed.error == "part share-2-of-3: RuntimeError: worker lost"
    assert failed.parts_done == ["share-1-of-3"]  # written before the crash, then dropped with the run
    for model in (MetricPoint, Overlap, AreaMovement, CohortTable, MetricPart):
        assert not model.objects.filter(run=failed).exists()
    assert not partitioned._shards_dir(failed.pk).exists()  # nor the split rows and shares of the cache
    # The parts still in the queue find the run failed and do nothing.
    monkeypatch.undo()
    assert metrics_recompute_part(failed.pk, "share-3-of-3") is False
    assert current() == demo and MetricRun.objects.get(pk=failed.pk).status == MetricRun.Status.FAILED


def test_parts_in_any_order_and_delivered_twice_give_the_same_run(demo, monkeypatch):
    one_task = published(metrics_recompute())
    run = metrics_partition_plan(parts=4)
    parts = list(reversed(run.plan["parts"]))
    for part in parts[:-1]:
        assert metrics_recompute_part(run.pk, part, worker="w1")
    counted = []
    original = partitioned.partial_compute
    monkeypatch.setattr(partitioned, "partial_compute", lambda *args: counted.append(1) or original(*args))
    # Redelivered after its worker died having stored it: not counted again, never added twice.
    assert metrics_recompute_part(run.pk, parts[0], worker="w2")
    assert counted == [] and MetricPart.objects.filter(run=run).count() == 3
    run.refresh_from_db()
    assert run.status == MetricRun.Status.RUNNING and current() != run  # not every part is written yet
    assert metrics_recompute_part(run.pk, parts[-1], worker="w2")
    run.refresh_from_db()
    assert run.status == MetricRun.Status.COMPLETE and current() == run
    assert published(run) == one_task
    assert run.stats["workers"] == ["w1", "w2"] and run.stats["parts"][parts[-1]]["worker"] == "w2"
    # A part redelivered after the swap changes nothing.
    assert metrics_recompute_part(run.pk, parts[0]) is False
    assert published(run) == one_task


def test_a_worker_lost_after_storing_its_part_before_the_swap_is_swapped_in_by_the_redelivery(demo, monkeypatch):
    one_task = published(metrics_recompute())
    run = metrics_partition_plan(parts=2)
    assert metrics_recompute_part(run.pk, "share-1-of-2")

    def killed(run_id):
        raise SystemExit("killed")  # the worker dies between storing its part and the swap

    monkeypatch.setattr(partitioned, "_partitioned_finish", killed)
    with pytest.raises(SystemExit):
        metrics_recompute_part(run.pk, "share-2-of-2")
    monkeypatch.undo()
    run.refresh_from_db()
    assert run.status == MetricRun.Status.RUNNING and MetricPart.objects.filter(run=run).count() == 2
    assert metrics_recompute_part(run.pk, "share-2-of-2")  # the redelivery: nothing counted twice
    assert current().pk == run.pk and published(current()) == one_task


def test_a_merge_between_two_parts_counts_the_stale_ones_again(demo, django_capture_on_commit_callbacks):
    run = metrics_partition_plan(parts=2)
    assert metrics_recompute_part(run.pk, "share-1-of-2")
    # Between the parts, two persons of different shares merge: one identity moves across.
    odd = Person.objects.filter(identities__activities__isnull=False).order_by("pk").distinct()
    first = next(person for person in odd if person.pk % 2 == 1)
    second = next(person for person in odd if person.pk % 2 == 0)
    Identity.objects.filter(person=first).update(person=second)
    with django_capture_on_commit_callbacks(execute=True):
        # The first share, which saw the persons before the merge, is sent again (after the commit).
        assert metrics_recompute_part(run.pk, "share-2-of-2")
    run.refresh_from_db()
    assert run.status == MetricRun.Status.COMPLETE and run.stats["recounts"] == 1
    # The rows were split by who-is-who before the merge: the parts after it fetched their shares themselves.
    assert {part["rows_from"] for part in run.stats["parts"].values()} == {"database"}
    assert published(run) == published(metrics_recompute())  # who is who now, counted once


def test_a_merge_during_every_recount_still_swaps_in_and_asks_for_another_recompute(
    demo, monkeypatch, django_capture_on_commit_callbacks
):
    moves = iter(range(100))
    monkeypatch.setattr(partitioned, "people_fingerprint", lambda upto=None: f"changed {next(moves)}")
    swapped = []
    finish = partitioned._partitioned_finish
    monkeypatch.setattr(partitioned, "_partitioned_finish", lambda run_id: swapped.append(finish(run_id)))
    with django_capture_on_commit_callbacks(execute=True):
        metrics_recompute_partitioned(parts=2)
    run = next(run for run in swapped if run is not None)
    assert run.status == MetricRun.Status.COMPLETE and run.stats["recounts"] == partitioned.RECOUNTS
    # The recompute it asked for has run (in-process; incremental, so in full): the newest run is current.
    assert current().pk > run.pk and current().stats["mode"] == "full"


def test_parts_of_a_superseded_run_do_nothing(demo):
    older = metrics_partition_plan(parts=2)
    assert metrics_recompute_part(older.pk, "share-1-of-2")
    newer = metrics_recompute()  # started after it: its swap removes the unfinished older run
    assert not MetricRun.objects.filter(pk=older.pk).exists() and not MetricPart.objects.exists()
    assert metrics_recompute_part(older.pk, "share-2-of-2") is False
    assert current() == newer


def test_a_run_started_later_and_still_running_is_kept_by_a_swap(demo):
    later = metrics_partition_plan(parts=2)
    MetricRun.objects.filter(pk=later.pk).update(started_at=timezone.now() + timedelta(seconds=5))
    one_task = metrics_recompute()
    assert MetricRun.objects.get(pk=later.pk).status == MetricRun.Status.RUNNING
    for part in later.plan["parts"]:
        metrics_recompute_part(later.pk, part)
    assert current().pk == later.pk and not MetricRun.objects.filter(pk=one_task.pk).exists()


def test_a_run_overtaken_by_a_newer_complete_one_is_dropped(demo):
    run = metrics_partition_plan(parts=2)
    MetricRun.objects.filter(pk=demo.pk).update(started_at=timezone.now() + timedelta(seconds=5))
    for part in run.plan["parts"]:
        metrics_recompute_part(run.pk, part)
    assert not MetricRun.objects.filter(pk=run.pk).exists() and current() == demo


def test_a_rule_change_during_the_run_fails_it(demo):
    run = metrics_partition_plan(parts=2)
    assert metrics_recompute_part(run.pk, "share-1-of-2")
    point = ConversionPoint.objects.filter(enabled=True).order_by("pk").first()
    ConversionPoint.objects.filter(pk=point.pk).update(level="casual" if point.level == "core" else "core")
    with pytest.raises(RuntimeError, match="the rules changed"):
        metrics_recompute_part(run.pk, "share-2-of-2")
    assert MetricRun.objects.get(pk=run.pk).status == MetricRun.Status.FAILED and current() == demo


def test_forged_part_messages_do_nothing(demo):
    """A task message is input too: a part the plan does not hold, or a run that is not running, changes nothing."""
    run = metrics_partition_plan(parts=2)
    for part in ("share-3-of-2", "share-1-of-2'; DROP TABLE x;--", "", "all-areas"):
        assert metrics_recompute_part(run.pk, part) is False
    assert metrics_recompute_part(demo.pk, "share-1-of-2") is False  # complete
    assert metrics_recompute_part(10**9, "share-1-of-2") is False  # gone
    assert not MetricPart.objects.exists() and current() == demo


def test_an_empty_database_gives_a_complete_partitioned_run(db):
    run = metrics_recompute_partitioned(parts=3)
    assert run.status == MetricRun.Status.COMPLETE and run.latest_week is None
    assert run.parts == 3 and not MetricPoint.objects.exists()
    assert published(run) == published(metrics_recompute())


def test_the_number_of_shares_comes_from_the_setting_or_the_cores(settings, monkeypatch):
    settings.BALOO_METRICS_PARTS = 5
    assert metrics_parts() == 5
    settings.BALOO_METRICS_PARTS = 0
    monkeypatch.setattr(partitioned.os, "cpu_count", lambda: 6)
    assert metrics_parts() == 6
    settings.BALOO_METRICS_PARTS = 100_000
    assert metrics_parts() == partitioned.MAX_PARTS


def test_the_nightly_task_is_shared_with_a_broker_and_one_task_without(demo, monkeypatch, settings):
    assert CELERY_BEAT_SCHEDULE["recompute-metrics-nightly"]["task"] == tasks.recompute_metrics_nightly.name
    # Tasks in-process (no broker): one task does it all, and leaves the incremental cache.
    run = MetricRun.objects.get(pk=tasks.recompute_metrics_nightly.delay().get())
    assert run.stats["mode"] == "full" and run.parts == 0 and run.cache_key
    # With a broker: the partitioned recompute, in BALOO_METRICS_PARTS shares (not sent anywhere here).
    settings.BALOO_METRICS_PARTS = 3
    planned = []
    monkeypatch.setitem(tasks.recompute_metrics_nightly.app.conf, "task_always_eager", False)
    monkeypatch.setattr(tasks, "metrics_recompute_partitioned", lambda: planned.append(metrics_partition_plan()))
    tasks.recompute_metrics_nightly.apply()
    assert [run.parts for run in planned] == [3]


def test_an_update_waits_while_the_nightly_run_is_counted_and_starts_from_it(demo, monkeypatch):
    """Pushes go on at night: an update swapped in mid-run would remove the nightly run (it started
    earlier), so under a steady stream the nightly run would never finish. The update looks again in a
    few seconds instead, then starts from the nightly run's cache; a partitioned run older than the
    wait is a dead one, and the update goes ahead."""
    monkeypatch.setitem(tasks.recompute_metrics_queued.app.conf, "task_always_eager", False)
    sent = []
    monkeypatch.setattr(partitioned, "send_task_named", lambda name, **options: sent.append((name, options)))
    nightly = metrics_partition_plan(parts=2)
    queued = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
    assert tasks.recompute_metrics_queued(queued.pk) is None
    assert sent == [("metrics.recompute_queued", {"args": [queued.pk], "countdown": partitioned.PARTITIONED_WAIT_SECONDS})]
    assert MetricRun.objects.get(pk=queued.pk).status == MetricRun.Status.QUEUED and current() == demo
    for part in nightly.plan["parts"]:
        metrics_recompute_part(nightly.pk, part)
    assert current().pk == nightly.pk
    update = MetricRun.objects.get(pk=tasks.recompute_metrics_queued(queued.pk))
    assert (update.stats["mode"], current()) == ("incremental", update)

    dead = metrics_partition_plan(parts=2)
    MetricRun.objects.filter(pk=dead.pk).update(started_at=timezone.now() - partitioned.PARTITIONED_WAIT - timedelta(minutes=1))
    queued = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
    assert tasks.recompute_metrics_queued(queued.pk) == queued.pk
    assert not MetricRun.objects.filter(pk=dead.pk).exists()


def test_every_stage_adds_up_and_a_new_one_plugs_in(demo, monkeypatch):
    """The registry: a stage's partial results add up (here a histogram, finished after the sum)."""
    assert [stage.name for stage in STAGES] == ["series", "as_of", "cohorts", "pathways"]
    finished = {}

    def weeks_histogram(contributions, context):
        return {str(k): int(v) for k, v in zip(*np.unique(contributions.day // 7, return_counts=True), strict=True)}

    def add(a, b):
        return {key: a.get(key, 0) + b.get(key, 0) for key in {*a, *b}}

    def finish(total, result, context):
        finished["median_week"] = int(np.median(np.repeat([int(k) for k in total], list(total.values()))))

    monkeypatch.setattr(partials, "STAGES", (*STAGES, Stage("histogram", weeks_histogram, add, finish)))
    metrics_recompute_partitioned(parts=1)
    one = finished.pop("median_week")
    metrics_recompute_partitioned(parts=3)
    assert finished["median_week"] == one
    assert date(1970, 1, 1) + timedelta(weeks=one) < date.today()


# --------------------------------------------------------------------------- the incremental updates after it


@pytest.mark.django_db
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds(), shares=st.integers(1, 4), change=changes)
def test_the_update_after_a_partitioned_run_starts_from_the_cache_its_parts_left(world, shares, change):
    """The nightly run is partitioned; the pushes after it must not wait for a full recompute in one
    worker (the memory the partitioning saved): its parts leave their shares of the cache, combined
    at the swap, and the next update is incremental and equals a full recompute."""
    with tempfile.TemporaryDirectory() as directory, override_settings(BALOO_METRICS_CACHE_DIR=directory):
        build(world)
        run = metrics_recompute_partitioned(parts=shares)
        counted = run.latest_week is not None
        assert bool(run.cache_key) == counted
        assert not (cache_dir() / "parts").exists() or not any((cache_dir() / "parts").iterdir())
        cache_hold(cache_dir(), None)  # as a worker that did not swap it in
        apply(change, 0)
        incremental_equals_full(expect_incremental=counted)


def test_a_part_that_left_no_share_of_the_cache_makes_the_next_update_count_in_full(demo, monkeypatch):
    monkeypatch.setattr(partitioned, "_shard_save", lambda *args: False)
    run = metrics_recompute_partitioned(parts=3)
    assert run.status == MetricRun.Status.COMPLETE and run.cache_key == ""
    run = metrics_recompute(incremental=True)
    assert run.stats["mode"] == "full"


def test_a_merge_after_a_partitioned_run_is_counted_by_the_next_update(demo):
    metrics_recompute_partitioned(parts=3)
    into, merged = list(Person.objects.filter(identities__isnull=False).distinct().order_by("pk")[:2])
    Identity.objects.filter(person=merged).update(person=into)
    run = metrics_recompute(incremental=True)
    assert (run.stats["mode"], run.stats["identities"]) == ("incremental", "read")
    incremental_equals_full()


def test_a_run_on_an_unsettled_watermark_leaves_no_cache(demo, monkeypatch):
    """Ingestion kept the table busy: an activity in flight below the watermark may commit after a part
    read, so no incremental update may start from the run (it would never count that activity)."""
    monkeypatch.setattr(partitioned, "settled_watermark", lambda: None)
    run = metrics_recompute_partitioned(parts=2)
    assert run.status == MetricRun.Status.COMPLETE and run.plan["settled"] is False and run.cache_key == ""
    monkeypatch.undo()
    assert metrics_recompute(incremental=True).stats["mode"] == "full"
