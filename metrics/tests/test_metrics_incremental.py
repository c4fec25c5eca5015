"""The incremental update equals a full recompute, whatever arrived or changed in between.

A full run leaves its cache; then new activities arrive (older, in the same weeks, or moving the
latest week on, some by new identities), people merge, an identity moves to a new person, someone is
hired or leaves (a staff period starts, ends or goes), a bot flag flips. The incremental update must give exactly what a full recompute gives at that
moment: every point of every series, overlap, movement and contributors ever. Whatever it cannot
vouch for (rules changed, activities deleted or changed in place, identities deleted, a cache of
another run, on disk or in a worker's memory) is recomputed in full.
"""

import tempfile
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activities.models import Activity, Source
from contributors.models import Identity, Person, StaffPeriod
from conversion_points.models import ConversionPoint
from conversion_points.tests.factories import ActivityFactory, ConversionPointFactory, IdentityFactory, PersonFactory
from metrics.engine import Cache, cache_dir, cache_hold, metrics_recompute
from metrics.models import AreaMovement, CohortTable, MetricRun, Overlap

from .test_metrics import BASE_SUNDAY, build, served, worlds


def everything(run: MetricRun) -> dict:
    return {
        "series": served(run),
        "overlaps": sorted(Overlap.objects.filter(run=run).values_list("population", "area_a", "area_b", "shared")),
        "movements": sorted(
            AreaMovement.objects.filter(run=run).values_list("population", "area", "lapsed", "moved", "left")
        ),
        "ever": (run.contributors_ever, run.contributors_ever_everyone),
        "cohorts": sorted(CohortTable.objects.filter(run=run).values_list("scope", "population", "cohorts")),
        "latest_week": run.latest_week,
    }


def incremental_equals_full(expect_incremental: bool = True) -> MetricRun:
    run = metrics_recompute(incremental=True)
    assert run.status == MetricRun.Status.COMPLETE
    if expect_incremental:
        assert run.stats["mode"] == "incremental", run.stats
    updated = everything(run)
    full = metrics_recompute()
    assert full.stats["mode"] == "full"
    assert updated == everything(full)
    return full


changes = st.fixed_dictionaries(
    {
        "activities": st.lists(
            st.tuples(
                st.integers(0, 7),  # identity number; past the end: a new identity of a new person
                st.sampled_from(["src-x", "src-y"]),
                st.sampled_from(["manual.a.done", "manual.b.done", "manual.c.done"]),
                st.sampled_from(["", "moz/a", "moz/b", "other"]),
                # Days after BASE_SUNDAY: old ones, the same weeks, and far enough to move the latest week a year on.
                st.one_of(
                    st.sampled_from([-900, -365, -364, -7, 0, 1, 6, 7, 8, 364, 365, 371, 400]), st.integers(-900, 450)
                ),
                st.sampled_from([(0, 0), (23, 59), (12, 0)]),
                st.sampled_from([0, -7, 9]),
            ),
            max_size=8,
        ),
        "merge": st.booleans(),
        "split": st.booleans(),  # one identity moves to a new person (as an unmerge does)
        "flag": st.sampled_from([None, "hired", "left", "unstaffed", "bot"]),
        "flag_day": st.sampled_from([-400, -8, -7, -1, 0, 1, 6, 7, 365]),
        "flag_person": st.integers(0, 4),
    }
)


def apply(change, round_number: int) -> None:
    identities = list(Identity.objects.order_by("pk"))
    sources = {source.slug: source for source in Source.objects.all()}
    for number, (ident, source, kind, container, after, (hour, minute), offset) in enumerate(change["activities"]):
        identity = identities[ident] if ident < len(identities) else IdentityFactory(person=PersonFactory())
        local = datetime.combine(BASE_SUNDAY + timedelta(days=after), datetime.min.time()).replace(
            hour=hour, minute=minute
        )
        ActivityFactory(
            external_id=f"new-{round_number}-{number}",
            source=sources[source],
            type=kind,
            container=container,
            occurred_at=local.replace(tzinfo=timezone(timedelta(hours=offset))),
            identity=identity,
        )
    persons = list(Person.objects.order_by("pk"))
    if change["merge"] and len(persons) >= 2:
        into, merged = persons[0], persons[-1]
        Identity.objects.filter(person=merged).update(person=into)
        merged.delete()
    if change["split"]:
        identity = Identity.objects.order_by("-pk").first()
        if identity is not None:
            identity.person = PersonFactory()
            identity.save()
    persons = list(Person.objects.order_by("pk"))
    if change["flag"] and persons:
        person = persons[change["flag_person"] % len(persons)]
        day = BASE_SUNDAY + timedelta(days=change["flag_day"])
        if change["flag"] == "hired":
            StaffPeriod.objects.create(person=person, staff_from=day)
        elif change["flag"] == "left":
            # The directory ends the open periods: on `day`, or drops one that had not begun.
            for period in StaffPeriod.objects.filter(person=person, staff_until__isnull=True):
                if period.staff_from is not None and period.staff_from > day:
                    period.delete()
                else:
                    period.staff_until = day
                    period.save()
        elif change["flag"] == "unstaffed":
            StaffPeriod.objects.filter(person=person).delete()
        else:
            person.is_bot = not person.is_bot
            person.save()


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(world=worlds(), rounds=st.lists(changes, min_size=1, max_size=2))
def test_incremental_update_equals_a_full_recompute(world, rounds):
    with tempfile.TemporaryDirectory() as directory, override_settings(BALOO_METRICS_CACHE_DIR=directory):
        build(world)
        first = metrics_recompute()
        for number, change in enumerate(rounds):
            counted_before = first.latest_week is not None
            apply(change, number)
            first = incremental_equals_full(expect_incremental=counted_before)


# --------------------------------------------------------------------------- when it must not be incremental


@pytest.fixture
def counted(db, tmp_path, settings):
    settings.BALOO_METRICS_CACHE_DIR = str(tmp_path)
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    point = ConversionPointFactory(slug="answer", source=source, types=["sumo.answer.posted"])
    identity = IdentityFactory()
    for day in (0, 10, 200):
        ActivityFactory(
            source=source,
            type="sumo.answer.posted",
            identity=identity,
            occurred_at=datetime(2025, 3, 1, 12, tzinfo=UTC) + timedelta(days=day),
        )
    run = metrics_recompute()
    assert run.cache_key and Cache.load(cache_dir()).key == run.cache_key
    return source, point, identity


def test_new_activities_are_counted_incrementally(counted):
    source, _point, identity = counted
    ActivityFactory(
        source=source,
        type="sumo.answer.posted",
        identity=IdentityFactory(),
        occurred_at=datetime(2025, 12, 1, tzinfo=UTC),
    )
    run = incremental_equals_full()
    assert run.contributors_ever == 2


def test_a_rule_change_is_recomputed_in_full(counted):
    _source, point, _identity = counted
    ConversionPoint.objects.filter(pk=point.pk).update(types=["sumo.question.asked"])
    run = metrics_recompute(incremental=True)
    assert (run.stats["mode"], run.stats["fallback"]) == ("full", "the rules changed")


def another_worker() -> None:
    """As a worker process that did not run the last recompute: no cache in memory, only the one on disk."""
    cache_hold(cache_dir(), None)


def test_deleted_activities_or_identities_are_recomputed_in_full(counted):
    source, _point, identity = counted
    Activity.objects.filter(identity=identity).order_by("occurred_at").first().delete()
    run = metrics_recompute(incremental=True)
    assert run.stats["fallback"] == "activities were deleted or changed"
    # A forgotten person's identities go and their activities may move to an anonymous identity.
    gone = IdentityFactory()
    metrics_recompute()
    Identity.objects.filter(pk=gone.pk).delete()
    run = metrics_recompute(incremental=True)
    assert run.stats["fallback"].startswith("an identity was deleted")
    Identity.objects.filter(pk=identity.pk).delete()  # its activities keep no identity
    run = metrics_recompute(incremental=True)
    assert run.stats["fallback"] == "activities were deleted or changed"


@pytest.mark.parametrize(
    "change",
    [
        {"type": "sumo.question.asked"},
        {"occurred_at": datetime(2024, 1, 1, tzinfo=UTC)},
        {"container": "moved"},
        {"source": "other"},
        {"identity": "another"},
    ],
    ids=lambda change: next(iter(change)),
)
def test_an_activity_changed_in_place_is_recomputed_in_full(counted, change):
    """Nothing in Baloo edits a stored activity's counted fields today; if anything ever does (an admin,
    a script), the incremental update must not keep counting it as it was."""
    source, _point, identity = counted
    value = change[next(iter(change))]
    if value == "other":
        value = Source.objects.create(slug="other", kind="manual", name="Other")
    elif value == "another":
        value = IdentityFactory()
    Activity.objects.filter(identity=identity).update(**{next(iter(change)): value})
    run = metrics_recompute(incremental=True)
    assert run.stats["fallback"] == "activities were deleted or changed"


def test_new_identities_are_read_alone_when_no_identity_moved(counted):
    source, _point, identity = counted
    ActivityFactory(source=source, type="sumo.answer.posted", identity=IdentityFactory(), occurred_at=datetime(2025, 12, 1, tzinfo=UTC))
    ActivityFactory(source=source, type="sumo.answer.posted", identity=identity, occurred_at=datetime(2025, 12, 2, tzinfo=UTC))
    Identity.objects.filter(pk=identity.pk).update(name="Renamed")  # not a move
    run = incremental_equals_full()
    assert run.contributors_ever == 2


def test_an_identity_moved_makes_the_update_read_every_identity(counted):
    source, _point, identity = counted
    other = IdentityFactory()
    ActivityFactory(source=source, type="sumo.answer.posted", identity=other, occurred_at=datetime(2025, 12, 1, tzinfo=UTC))
    metrics_recompute()
    Identity.objects.filter(pk=other.pk).update(person=identity.person)  # a merge
    run = metrics_recompute(incremental=True)
    assert (run.stats["mode"], run.stats["identities"]) == ("incremental", "read")
    assert run.contributors_ever == 1
    assert incremental_equals_full().contributors_ever == 1


def test_the_next_update_in_the_same_worker_uses_the_cache_in_memory(counted):
    source, _point, _identity = counted
    for day in (1, 2):
        ActivityFactory(source=source, type="sumo.answer.posted", occurred_at=datetime(2025, 12, day, tzinfo=UTC))
        run = metrics_recompute(incremental=True)
        assert (run.stats["mode"], run.stats["cache"], run.stats["identities"]) == ("incremental", "memory", "kept")
    another_worker()
    ActivityFactory(source=source, type="sumo.answer.posted", occurred_at=datetime(2025, 12, 3, tzinfo=UTC))
    run = incremental_equals_full()
    assert run.contributors_ever == 4


def test_a_cache_in_memory_of_another_run_is_not_used(counted):
    """Another worker swapped a run in since: the one held here vouches for nothing any more, the one
    that worker left on disk does."""
    source, _point, _identity = counted
    held = Cache.load(cache_dir())
    metrics_recompute()
    cache_hold(cache_dir(), held)
    ActivityFactory(source=source, type="sumo.answer.posted", occurred_at=datetime(2025, 12, 1, tzinfo=UTC))
    run = metrics_recompute(incremental=True)
    assert (run.stats["mode"], run.stats["cache"]) == ("incremental", "disk")
    cache_hold(cache_dir(), held)
    (cache_dir() / "state.npz").unlink()
    run = metrics_recompute(incremental=True)
    assert run.stats["fallback"] == "no cache"


def test_a_cache_of_another_run_is_not_used(counted):
    source, _point, _identity = counted
    stale = Cache.load(cache_dir())
    metrics_recompute()  # the latest run now has another cache key
    stale.save(cache_dir())
    another_worker()
    ActivityFactory(source=source, type="sumo.answer.posted", occurred_at=datetime(2025, 12, 1, tzinfo=UTC))
    run = metrics_recompute(incremental=True)
    assert run.stats["fallback"] == "the cache is not the latest run's"


def test_a_damaged_cache_gives_a_full_recompute(counted):
    (cache_dir() / "state.npz").write_bytes(b"not a cache")
    another_worker()
    run = metrics_recompute(incremental=True)
    assert run.stats["mode"] == "full" and run.status == MetricRun.Status.COMPLETE


def test_ingestion_triggers_an_incremental_update(counted, django_capture_on_commit_callbacks):
    from metrics.engine import metrics_recompute_soon

    source, _point, _identity = counted
    ActivityFactory(source=source, type="sumo.answer.posted", occurred_at=datetime(2025, 12, 1, tzinfo=UTC))
    with django_capture_on_commit_callbacks(execute=True):
        metrics_recompute_soon()
    run = MetricRun.objects.get(status=MetricRun.Status.COMPLETE)
    assert run.stats["mode"] == "incremental" and run.contributors_ever == 2
