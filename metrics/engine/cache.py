"""The incremental update: the on-disk cache a recompute leaves, and counting from it what changed.

A full recompute (`count_full`) leaves its raw rows (conversion point, identity, UTC day: identities,
not persons), the identity → person map, the staff periods and bot persons it used, and its State and
CohortState (each a sum over persons) in a cache directory, named by a key the run stores (and in
the worker's memory, `runs`). After ingestion, merges or flag changes, the next queued recompute
(`count_incremental`) reads only the activities with a larger id than the last one read, re-reads
who is who (only the new rows' unknown identities when the database's `EditCount` says no identity
moved or went), and finds the persons whose rows or flags changed:
the new rows' persons, both sides of every identity that moved, staff periods that changed, bot
flags that flipped, and the persons with contributions between the old and the new latest week.
Their old part is counted again from the cached rows and taken out, their new part counted and put
in; everyone else's is unchanged by construction. Whatever it cannot vouch for (other rules, an
activity or identity deleted, a cache from another run or database, a lock not obtained) gives a
full recompute (`CacheUnusable`): an activity deleted or changed in place shows in `EditCount`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection

from metrics import calendar
from metrics.calendar import capped_week, week_of_day
from metrics.models import MetricRun

from .as_of import as_of_add, as_of_counts, as_of_update
from .cohorts import CohortState, cohorts_compute_state, cohorts_result, cohorts_update
from .fetch import (
    People,
    Rules,
    activities_between,
    edit_counts,
    fetch_rows,
    settled_watermark,
    snapshot,
)
from .pathways import (
    PathwaysState,
    pathways_add,
    pathways_arrays,
    pathways_compute_state,
    pathways_from_arrays,
    pathways_result,
    pathways_update,
)
from .sums import cohorts_by_chunks, persons_in, state_by_chunks, state_update
from .sweep import (
    LEVEL_KEYS,
    MetricsResult,
    State,
    distinct,
    metrics_compute_state,
    state_result,
)

CACHE_VERSION = 6
CACHE_MAX_CHUNKS = 16


class CacheUnusable(Exception):
    """The cache cannot vouch for an incremental update: recompute in full."""


def cache_dir() -> Path:
    """Where the cache of this database lives (setting `BALOO_METRICS_CACHE_DIR`, default `var/metrics-cache/`)."""
    configured = settings.BALOO_METRICS_CACHE_DIR
    base = Path(configured) if configured else Path(settings.BASE_DIR) / "var" / "metrics-cache"
    db = connection.settings_dict
    where = f"{connection.vendor}|{db.get('HOST')}|{db.get('PORT')}|{db.get('NAME')}"
    return base / f"{connection.vendor}-{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def rules_fingerprint(rules: Rules) -> str:
    """Everything of the rules the counting or the scope names depend on."""
    described = [
        [p.pk, p.slug, p.area.slug, p.source_id, p.source.slug, sorted(set(p.types or [])), p.container or "", p.level]
        for p in rules.points
    ]
    return hashlib.sha256(json.dumps([CACHE_VERSION, connection.vendor, described]).encode()).hexdigest()


SERIES_FIELDS = ("any", "active", "new", "lapsed", *LEVEL_KEYS)


@dataclass
class Cache:
    key: str
    fingerprint: str
    watermark: int  # every activity with an id up to this one has been read, none above
    edits: tuple[int, int]  # the edit counts of activities and identities when read (`EditCount`)
    latest_day: int | None  # the UTC day of the latest of them
    last: int | None  # the latest week counted
    cp: np.ndarray
    identity: np.ndarray
    day: np.ndarray
    people: People
    state: State
    chunks: list[str] = field(default_factory=list)  # row files holding cp/identity/day[:stored]
    stored: int = 0
    as_of: dict = field(default_factory=dict)  # the summary as of the day counted, with its parts (`as_of`)
    cohorts: CohortState = field(default_factory=CohortState)  # the cohorts' counting state (`cohorts`)
    pathways: PathwaysState = field(default_factory=PathwaysState)  # the pathways' counting state (`pathways`)
    person: np.ndarray | None = field(default=None, repr=False)  # each row's person by `people` (memory only)

    def persons(self) -> np.ndarray:
        """The person of each cached row by the cached who-is-who, looked up once per cache in memory."""
        if self.person is None or len(self.person) != len(self.identity):
            self.person = self.people.persons_of(self.identity)
        return self.person

    def save(self, directory: Path) -> None:
        """Write the rows not on disk yet as a new chunk (or all in one), then the rest; atomic renames."""
        directory.mkdir(parents=True, exist_ok=True)
        if not all((directory / name).exists() for name in self.chunks):
            self.chunks, self.stored = [], 0
        if self.stored < len(self.cp) or not self.chunks:
            begin = self.stored if len(self.chunks) < CACHE_MAX_CHUNKS else 0
            name = f"rows-{uuid.uuid4().hex}.npz"
            _atomic_write(
                directory / name,
                lambda handle: np.savez(
                    handle, cp=self.cp[begin:], identity=self.identity[begin:], day=self.day[begin:]
                ),
            )
            self.chunks = ([] if begin == 0 else self.chunks) + [name]
            self.stored = len(self.cp)
        series_keys = list(self.state.series)
        member_keys = list(self.state.members)
        cohort_keys = list(self.cohorts.tables)
        meta = {
            "version": CACHE_VERSION,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "watermark": self.watermark,
            "edits": list(self.edits),
            "latest_day": self.latest_day,
            "last": self.last,
            "chunks": self.chunks,
            "stored": self.stored,
            "origin": self.state.origin,
            "length": self.state.length,
            "ever": self.state.ever,
            "series": [list(key) for key in series_keys],
            "levels": [LEVEL_KEYS[0] in self.state.series[key] for key in series_keys],
            "members": [list(key) for key in member_keys],
            "as_of": self.as_of,
            "cohort_origin": self.cohorts.origin,
            "cohort_length": self.cohorts.length,
            "cohort_keys": [list(key) for key in cohort_keys],
        }
        # Every series has the same weeks: one array of (series, field, week), levels zero where absent.
        stacked = np.zeros((len(series_keys), len(SERIES_FIELDS), self.state.length), dtype=np.int64)
        for number, key in enumerate(series_keys):
            for column, name in enumerate(SERIES_FIELDS):
                if name in self.state.series[key]:
                    stacked[number, column] = self.state.series[key][name]
        member_persons = [self.state.members[key][0] for key in member_keys]
        # Every cohort table has the same quarters; counts of persons fit in 32 bits.
        cohort_tables = np.zeros((len(cohort_keys), self.cohorts.length, self.cohorts.length), dtype=np.int32)
        for number, key in enumerate(cohort_keys):
            cohort_tables[number] = self.cohorts.tables[key]
        arrays = {
            "meta": np.array(json.dumps(meta)),
            "people_identity": self.people.identity,
            "people_person": self.people.person,
            "people_staff_person": self.people.staff_person,
            "people_staff_from": self.people.staff_from,
            "people_staff_until": self.people.staff_until,
            "people_bots": self.people.bots,
            "series": stacked,
            "member_sizes": np.array([len(persons) for persons in member_persons], dtype=np.int64),
            "member_persons": np.concatenate(member_persons) if member_persons else np.empty(0, np.int64),
            "member_last": (
                np.concatenate([self.state.members[key][1] for key in member_keys])
                if member_keys
                else np.empty(0, np.int64)
            ),
            "cohort_tables": cohort_tables,
            **pathways_arrays(self.pathways),
        }
        _atomic_write(directory / "state.npz", lambda handle: np.savez(handle, **arrays))
        for path in directory.glob("rows-*.np[yz]"):
            if path.name not in self.chunks:
                path.unlink(missing_ok=True)

    @classmethod
    def load(cls, directory: Path) -> Cache | None:
        path = directory / "state.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != CACHE_VERSION:
                return None
            people = People(
                identity=data["people_identity"],
                person=data["people_person"],
                staff_person=data["people_staff_person"],
                staff_from=data["people_staff_from"],
                staff_until=data["people_staff_until"],
                bots=data["people_bots"],
            )
            state = State(origin=meta["origin"], length=meta["length"], ever=meta["ever"])
            stacked = data["series"]
            for number, (key, levels) in enumerate(zip(meta["series"], meta["levels"], strict=True)):
                names = SERIES_FIELDS if levels else SERIES_FIELDS[: -len(LEVEL_KEYS)]
                state.series[tuple(key)] = {name: stacked[number, column] for column, name in enumerate(names)}
            bounds = np.concatenate([[0], np.cumsum(data["member_sizes"])])
            member_persons, member_last = data["member_persons"], data["member_last"]
            for number, key in enumerate(meta["members"]):
                part = slice(int(bounds[number]), int(bounds[number + 1]))
                state.members[tuple(key)] = (member_persons[part], member_last[part])
            cohorts = CohortState(origin=meta["cohort_origin"], length=meta["cohort_length"])
            tables = data["cohort_tables"]
            for number, key in enumerate(meta["cohort_keys"]):
                cohorts.tables[tuple(key)] = tables[number].astype(np.int64)
            pathways = pathways_from_arrays(data)
        chunks = []
        for name in meta["chunks"]:
            with np.load(directory / name, allow_pickle=False) as chunk:
                chunks.append((chunk["cp"], chunk["identity"], chunk["day"]))
        rows = (
            tuple(
                np.concatenate([chunk[column] for chunk in chunks]) if len(chunks) != 1 else chunks[0][column]
                for column in range(3)
            )
            if chunks
            else (np.empty(0, np.int16), np.empty(0, np.int64), np.empty(0, np.int32))
        )
        if len(rows[0]) != meta["stored"]:
            return None
        return cls(
            key=meta["key"],
            fingerprint=meta["fingerprint"],
            watermark=meta["watermark"],
            edits=tuple(meta["edits"]),
            latest_day=meta["latest_day"],
            last=meta["last"],
            cp=rows[0],
            identity=rows[1],
            day=rows[2],
            people=people,
            state=state,
            chunks=meta["chunks"],
            stored=meta["stored"],
            as_of=meta.get("as_of") or {},
            cohorts=cohorts,
            pathways=pathways,
        )


def _atomic_write(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


# The cache the last run of this process left, kept in memory beside the copy on disk: the next
# incremental update in the same process skips reading it back. It vouches for nothing more than the
# disk copy would: `count_incremental` checks it is the latest run's like any other.
_held: tuple[Path, Cache] | None = None


def cache_hold(directory: Path, cache: Cache | None) -> None:
    """Keep (or, given None, forget) the cache of `directory` in this process's memory."""
    global _held
    _held = None if cache is None else (directory, cache)


def cache_held(directory: Path) -> Cache | None:
    """The cache of `directory` this process holds in memory, if it is the latest run's (another
    worker may have swapped a newer run in since: then the one on disk is the one to read)."""
    global _held
    if _held is None or _held[0] != directory:
        return None
    latest = MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).order_by("-pk").values_list("cache_key", flat=True).first()
    if latest != _held[1].key:
        _held = None  # stale: let its memory go before another is read
        return None
    return _held[1]


def cache_clear() -> None:
    """Forget the cache: the next recompute is a full one."""
    cache_hold(cache_dir(), None)
    (cache_dir() / "state.npz").unlink(missing_ok=True)


def cache_combine(shards: list[Cache]) -> Cache:
    """The cache of everyone from the caches of shares of the persons that do not meet (at least one):
    what a partitioned run leaves for the incremental updates after it (`partitioned`). The shares
    counted the same rules, activities and weeks (one plan); each holds its persons' rows and counts."""
    first = shards[0]
    state, cohorts, pathways, as_of = first.state, first.cohorts, first.pathways, first.as_of
    nobody = np.empty(0, dtype=np.int64)
    for shard in shards[1:]:
        state = state_update(state, State(), shard.state, nobody, first.last)
        cohorts = cohorts_update(cohorts, CohortState(), shard.cohorts)
        pathways = pathways_add(pathways, shard.pathways)
        as_of = as_of_add(as_of, shard.as_of)
    identity = np.concatenate([shard.people.identity for shard in shards])
    order = np.argsort(identity, kind="stable")
    staff = [np.concatenate([getattr(shard.people, name) for shard in shards]) for name in ("staff_person", "staff_from", "staff_until")]
    by_person = np.lexsort((staff[1], staff[0]))
    people = People(
        identity=identity[order],
        person=np.concatenate([shard.people.person for shard in shards])[order],
        staff_person=staff[0][by_person],
        staff_from=staff[1][by_person],
        staff_until=staff[2][by_person],
        bots=np.sort(np.concatenate([shard.people.bots for shard in shards])),
    )
    return Cache(
        key=uuid.uuid4().hex,
        fingerprint=first.fingerprint,
        watermark=first.watermark,
        # A deletion or a move while the parts counted: the next update sees a count its cache did not.
        edits=(min(shard.edits[0] for shard in shards), min(shard.edits[1] for shard in shards)),
        latest_day=first.latest_day,
        last=first.last,
        cp=np.concatenate([shard.cp for shard in shards]),
        identity=np.concatenate([shard.identity for shard in shards]),
        day=np.concatenate([shard.day for shard in shards]),
        people=people,
        state=state,
        as_of=as_of,
        cohorts=cohorts,
        pathways=pathways,
    )


def _timed(count, **arguments):
    """(what `count` returns, the seconds it took)."""
    clock = time.perf_counter()
    return count(**arguments), time.perf_counter() - clock


def count_full(rules: Rules) -> tuple[MetricsResult, Cache | None, dict]:
    """Count everything from the database; also gives the cache for the next incremental update."""
    clock = time.perf_counter()
    watermark = settled_watermark()
    with snapshot():
        cp, identity, day = fetch_rows(rules, upto=watermark)
        people = People.load()
        upto = watermark if watermark is not None else 2**62
        _count, latest_day = activities_between(0, upto)
        edits = edit_counts()
    fetched = time.perf_counter() - clock
    contributions = people.contributions(cp, people.persons_of(identity), day)
    last = capped_week(latest_day)
    with ThreadPoolExecutor(max_workers=1) as beside:
        # Pathways and cohorts count on another core meanwhile: numpy lets go of the interpreter in its
        # sorts and array arithmetic, and no stage writes to the rows (10M activities: 15.8 s → 8.8 s).
        pathways_counting = beside.submit(
            _timed, pathways_compute_state, contributions=contributions, rules=rules, last=last
        )
        cohorts_counting = beside.submit(_timed, cohorts_by_chunks, contributions=contributions, rules=rules, last=last)
        state = state_by_chunks(contributions=contributions, rules=rules, last=last)
        as_of, as_of_s = _timed(as_of_counts, contributions=contributions, rules=rules, day=calendar.today_utc())
        pathways, pathways_s = pathways_counting.result()
        cohorts, cohorts_s = cohorts_counting.result()
    del contributions
    result = state_result(state, rules=rules, last=last)
    result.as_of = as_of
    result.cohorts = cohorts_result(cohorts, last=last)
    result.pathways = pathways_result(pathways, rules=rules)
    result.stats["as_of_s"] = round(as_of_s, 3)
    result.stats["cohorts_s"] = round(cohorts_s, 3)
    result.stats["pathways_s"] = round(pathways_s, 3)
    cache = None
    if watermark is not None:
        cache = Cache(
            key=uuid.uuid4().hex,
            fingerprint=rules_fingerprint(rules),
            watermark=watermark,
            edits=edits,
            latest_day=latest_day,
            last=last,
            cp=cp,
            identity=identity,
            day=day,
            people=people,
            state=state,
            as_of=as_of,
            cohorts=cohorts,
            pathways=pathways,
        )
    return result, cache, {"mode": "full", "fetch_s": round(fetched, 3)}


def count_incremental(rules: Rules, cache: Cache) -> tuple[MetricsResult, Cache, dict]:
    """Update the cached State with what changed since (see the module docstring); CacheUnusable if it can't."""
    clock = time.perf_counter()
    if cache.fingerprint != rules_fingerprint(rules):
        raise CacheUnusable("the rules changed")
    if cache.last is None:
        raise CacheUnusable("nothing was counted last time")
    latest_run = MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).order_by("-pk").first()
    if latest_run is None or latest_run.cache_key != cache.key:
        raise CacheUnusable("the cache is not the latest run's")
    watermark = settled_watermark()
    if watermark is None or watermark < cache.watermark:
        raise CacheUnusable("no settled watermark")
    with snapshot():
        edits = edit_counts()
        if edits[0] != cache.edits[0]:
            raise CacheUnusable("activities were deleted or changed")
        new_cp, new_identity, new_day = fetch_rows(rules, after=cache.watermark, upto=watermark)
        _added, latest_day = activities_between(cache.watermark, watermark)
        # No identity moved or went: every cached identity's person holds, read only the new rows' unknown ones.
        same_people = edits[1] == cache.edits[1]
        people = cache.people.with_identities(new_identity) if same_people else People.load()
    fetched = time.perf_counter() - clock
    old = cache.people
    if not same_people:
        at = np.clip(np.searchsorted(people.identity, old.identity), 0, max(len(people.identity) - 1, 0))
        if len(old.identity) and (len(people.identity) == 0 or not np.array_equal(people.identity[at], old.identity)):
            raise CacheUnusable("an identity was deleted (its activities may have moved)")
    if latest_day is None or (cache.latest_day is not None and latest_day < cache.latest_day):
        latest_day = cache.latest_day
    last = capped_week(latest_day)
    if last is None or last < cache.last:
        raise CacheUnusable("the latest week went back")

    old_person = cache.persons()
    now_person = old_person if same_people else people.persons_of(cache.identity)
    new_person = people.persons_of(new_identity)
    touched = [new_person, people.staff_changed(old), np.setxor1d(old.bots, people.bots)]
    if not same_people:
        moved = old_person != now_person
        touched += [old_person[moved], now_person[moved]]
    if last != cache.last:
        week = week_of_day(cache.day.astype(np.int64))
        between = (week > cache.last) & (week <= last)
        touched += [old_person[between], now_person[between]]
    persons = distinct(np.concatenate(touched).astype(np.int64))
    persons = persons[persons >= 0]
    taken = persons_in(old_person, persons)
    before = old.contributions(cache.cp[taken], old_person[taken], cache.day[taken])
    taken_now, taken_new = (taken if same_people else persons_in(now_person, persons)), persons_in(new_person, persons)
    after = people.contributions(
        np.concatenate([cache.cp[taken_now], new_cp[taken_new]]),
        np.concatenate([now_person[taken_now], new_person[taken_new]]),
        np.concatenate([cache.day[taken_now], new_day[taken_new]]),
    )
    resolved = time.perf_counter() - clock
    sub = metrics_compute_state(contributions=before, rules=rules, last=cache.last)
    add = metrics_compute_state(contributions=after, rules=rules, last=last)
    swept = time.perf_counter() - clock
    try:
        state = state_update(cache.state, sub, add, persons, last)
    except ValueError as why:
        raise CacheUnusable(str(why)) from None
    try:
        cohorts = cohorts_update(
            cache.cohorts,
            cohorts_compute_state(contributions=before, rules=rules, last=cache.last),
            cohorts_compute_state(contributions=after, rules=rules, last=last),
        )
    except ValueError as why:
        raise CacheUnusable(str(why)) from None
    pathways = pathways_update(
        cache.pathways,
        pathways_compute_state(contributions=before, rules=rules, last=cache.last),
        pathways_compute_state(contributions=after, rules=rules, last=last),
    )
    if pathways is None:
        raise CacheUnusable("the pathways could not be updated")
    updated_at = time.perf_counter() - clock
    state.stats = {"rows": len(before) + len(after)}
    result = state_result(state, rules=rules, last=last)
    result.cohorts = cohorts_result(cohorts, last=last)
    result.pathways = pathways_result(pathways, rules=rules)
    clock_as_of = time.perf_counter()
    today = calendar.today_utc()
    as_of = None
    if cache.as_of.get("day") == today.isoformat():
        as_of = as_of_update(
            cache.as_of,
            as_of_counts(contributions=before, rules=rules, day=today),
            as_of_counts(contributions=after, rules=rules, day=today),
        )
    as_of_mode = "updated"
    if as_of is None:
        # Another day (midnight passed) or no figures kept: count everyone's rows again, once a day.
        as_of_mode = "counted"
        everyone = people.contributions(
            np.concatenate([cache.cp, new_cp]),
            np.concatenate([now_person, new_person]),
            np.concatenate([cache.day, new_day]),
        )
        as_of = as_of_counts(contributions=everyone, rules=rules, day=today)
        del everyone
    result.as_of = as_of
    as_of_s = time.perf_counter() - clock_as_of
    updated = Cache(
        key=uuid.uuid4().hex,
        fingerprint=cache.fingerprint,
        watermark=watermark,
        edits=edits,
        latest_day=latest_day,
        last=last,
        cp=np.concatenate([cache.cp, new_cp.astype(np.int16)]),
        identity=np.concatenate([cache.identity, new_identity.astype(np.int64)]),
        day=np.concatenate([cache.day, new_day.astype(np.int32)]),
        people=people,
        state=state,
        chunks=cache.chunks,
        stored=cache.stored,
        as_of=as_of,
        cohorts=cohorts,
        pathways=pathways,
        person=np.concatenate([now_person, new_person]),
    )
    stats = {
        "mode": "incremental",
        "identities": "kept" if same_people else "read",
        "as_of_s": round(as_of_s, 3),
        "as_of": as_of_mode,
        "fetch_s": round(fetched, 3),
        "resolve_s": round(resolved - fetched, 3),
        "sweeps_s": round(swept - resolved, 3),
        "update_s": round(updated_at - swept, 3),
        "new_rows": int(len(new_cp)),
        "persons_recounted": int(len(persons)),
        "rows_recounted": int(len(before) + len(after)),
    }
    return result, updated, stats


