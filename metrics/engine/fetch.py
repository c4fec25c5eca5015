"""Reading what the engine counts: the rules' rows, who is who now, and a settled view of the activities.

A recompute reads every contribution in one bulk query as (conversion point, identity, UTC day) rows
(`fetch_rows`; on PostgreSQL a binary `COPY` that numpy reads in place, no Python object per row),
then who is who now (`People`: every identity's person, the staff periods, the persons who never
count), and resolves the rows to persons at count time, so a merge or unmerge shows in the next
recompute. The SQL matching a rule's container is the rule's own (`conversion_points.containers`).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC

import numpy as np
from django.db import OperationalError, connection, transaction
from django.db.models import Count, Max

from activities.models import Activity
from baloo_site.bulk import is_postgresql
from contributors.models import Identity, StaffPeriod
from contributors.placeholders import persons_not_counted
from conversion_points.containers import container_sql
from conversion_points.models import ConversionPoint
from conversion_points.rules import LEVEL_RANK
from metrics.calendar import day_number
from metrics.models import EditCount

logger = logging.getLogger(__name__)

# A rule's level as the engine holds it (`LEVEL_RANK`): any contribution, an active one, a core one.
ANY, ACTIVE, CORE = 0, 1, 2
# Conversion point numbers take 12 bits of the engine's packed sort key (`sweep`).
CP_BITS = 12
# Staff periods in day numbers: an open end is this far (27,000 years) before or after 1970.
_OPEN_DAYS = 10_000_000
_DAY_BITS = 25  # days shifted by 2**24 to be non-negative, in the (person, day) keys of staff periods
# How long to wait for ingestion transactions in flight before reading the largest settled id.
SETTLE_LOCK_TIMEOUT = "30s"


@dataclass
class Rules:
    """The enabled conversion points, numbered 0…n-1, with the area, source and level of each."""

    points: list[ConversionPoint]
    area_slugs: list[str]
    source_slugs: list[str]
    area: np.ndarray  # area number of each point
    source: np.ndarray  # source number of each point
    level: np.ndarray  # 0 casual, 1 active, 2 core

    @classmethod
    def load(cls) -> Rules:
        points = list(ConversionPoint.objects.filter(enabled=True).select_related("area", "source").order_by("id"))
        if len(points) >= 1 << CP_BITS:
            raise ValueError(f"the engine counts at most {(1 << CP_BITS) - 1} enabled conversion points")
        area_slugs = sorted({point.area.slug for point in points})
        source_slugs = sorted({point.source.slug for point in points})
        return cls(
            points=points,
            area_slugs=area_slugs,
            source_slugs=source_slugs,
            area=np.array([area_slugs.index(p.area.slug) for p in points], dtype=np.int16),
            source=np.array([source_slugs.index(p.source.slug) for p in points], dtype=np.int16),
            level=np.array([LEVEL_RANK[p.level] for p in points], dtype=np.int8),
        )

    def subset(self, pks: Collection[int]) -> Rules:
        """These conversion points only (numbered 0…k-1 among themselves), with the same area and source numbers."""
        wanted = set(pks)
        chosen = [number for number, point in enumerate(self.points) if point.pk in wanted]
        return Rules(
            points=[self.points[number] for number in chosen],
            area_slugs=self.area_slugs,
            source_slugs=self.source_slugs,
            area=self.area[chosen],
            source=self.source[chosen],
            level=self.level[chosen],
        )


@dataclass
class Contributions:
    """Distinct contributions as parallel arrays, one row per (conversion point, person, UTC day)."""

    cp: np.ndarray
    person: np.ndarray
    day: np.ndarray
    staff: np.ndarray  # bool: a staff contribution (its day is in one of its person's staff periods)

    def __len__(self) -> int:
        return len(self.cp)


# Knuth's multiplicative hash (2**64 / the golden ratio): its top bits mix every bit of a person id.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def person_chunks(person: np.ndarray, chunks: int) -> np.ndarray:
    """Each row's chunk (0…chunks-1) by its person, even in size whatever the persons: not `person %
    chunks`, which puts a partitioned share's persons (id ≡ k mod K) all in the same few chunks when
    the chunks and the shares have a factor in common (4 shares and 4 chunks: one chunk of 4× the rows)."""
    mixed = person.astype(np.uint64) * _MIX  # wraps around: a hash, not arithmetic
    return ((mixed >> np.uint64(32)) % np.uint64(chunks)).astype(np.int64)


def _rules_sql(
    rules: Rules, *, after: int | None = None, upto: int | None = None, share: tuple[int, int] | None = None
) -> tuple[str, list]:
    """The query listing (conversion point number, identity id, UTC day) for every matching activity.

    `after` and `upto` keep the activities whose id is in (after, upto] only. `share` (k, K) keeps
    the rows of the persons of share k of K only (person id mod K = k, the person of the activity's
    identity now: `partitioned`).
    """
    pairs, params = [], []
    for number, point in enumerate(rules.points):
        for activity_type in sorted(set(point.types or [])):
            pairs.append("SELECT %s AS cp, %s AS source_id, %s AS type")
            params += [number, point.source_id, activity_type]
    if not pairs:
        return "", []
    filters, filter_params, filtered = [], [], []
    for number, point in enumerate(rules.points):
        condition = container_sql(point.container)
        if condition is not None:
            filtered.append(number)
            filters.append(f"(r.cp = {number} AND {condition[0]})")
            filter_params += condition[1]
    where = "a.identity_id IS NOT NULL"
    if after is not None:
        where += f" AND a.id > {int(after)}"
    if upto is not None:
        where += f" AND a.id <= {int(upto)}"
    if filters:
        where += f" AND (r.cp NOT IN ({', '.join(map(str, filtered))}) OR {' OR '.join(filters)})"
    if is_postgresql():
        day = "((a.occurred_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    else:
        day = "CAST(julianday(date(a.occurred_at)) - 2440587.5 AS INTEGER)"
    join = ""
    if share is not None:
        index, shares = (int(value) for value in share)
        join = f"JOIN {Identity._meta.db_table} i ON i.id = a.identity_id "
        where += f" AND i.person_id %% {shares} = {index}"  # %% : the query takes parameters
    sql = (
        f"SELECT r.cp, a.identity_id, {day} AS day FROM {Activity._meta.db_table} a "
        f"JOIN ({' UNION ALL '.join(pairs)}) r ON a.source_id = r.source_id AND a.type = r.type "
        f"{join}WHERE {where}"
    )
    return sql, params + filter_params


# PostgreSQL's binary COPY: a 19-byte header, then per row a field count and (length, value) per field.
COPY_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("len_cp", ">i4"),
        ("cp", ">i4"),
        ("len_identity", ">i4"),
        ("identity", ">i8"),
        ("len_day", ">i4"),
        ("day", ">i4"),
    ]
)


def fetch_rows(
    rules: Rules, *, after: int | None = None, upto: int | None = None, share: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(conversion point, identity, UTC day) rows (see `_rules_sql`)."""
    if is_postgresql():
        buffer = io.BytesIO()
        rows_copy(rules, buffer, after=after, upto=upto, share=share)
        view = buffer.getbuffer()
        result = rows_copied(view)
        del view
        return result
    sql, params = _rules_sql(rules, after=after, upto=upto, share=share)
    if not sql:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        data = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 3)
    return data[:, 0].astype(np.int16), data[:, 1], data[:, 2].astype(np.int32)


def rows_copy(
    rules: Rules, handle, *, after: int | None = None, upto: int | None = None, share: tuple[int, int] | None = None
) -> None:
    """PostgreSQL: write the rows (see `_rules_sql`) into the file `handle` as a binary COPY (`rows_copied` reads it)."""
    sql, params = _rules_sql(rules, after=after, upto=upto, share=share)
    if not sql:
        return
    with connection.cursor() as cursor:
        # Binary COPY streams fixed-width rows that numpy reads in place: no Python object per row.
        raw = cursor.cursor
        query = raw.mogrify(sql, params)
        with transaction.atomic():
            # The planner takes the rules for one row and probes the (source, type) index once per
            # rule: random reads, 6x slower at 10M activities than one parallel scan and a hash join.
            # A range of new ids is the opposite case: a few rows found through the primary key.
            if after is None:
                raw.execute("SET LOCAL enable_nestloop = off")
            raw.copy_expert(f"COPY ({query.decode()}) TO STDOUT WITH (FORMAT binary)", handle)


def rows_copied(view) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a binary COPY written by `rows_copy` (bytes or a buffer)."""
    count = rows_copied_count(len(view))
    if count == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty.astype(np.int16), empty, empty.astype(np.int32)
    return copied_columns(np.frombuffer(view, dtype=COPY_ROW, count=count, offset=19))


def copied_columns(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cp, identity, day) of rows of a binary COPY read as `COPY_ROW`s."""
    return rows["cp"].astype(np.int16), rows["identity"].astype(np.int64), rows["day"].astype(np.int32)


def rows_copied_count(size: int) -> int:
    """How many rows a binary COPY of `size` bytes written by `rows_copy` holds (after its 19-byte header)."""
    return max(0, (size - 19 - 2) // COPY_ROW.itemsize)


def _id_lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray, missing: int = -1) -> np.ndarray:
    """values[keys == w] for each w in wanted (`missing` where absent), vectorised."""
    if len(keys) == 0:
        return np.full(len(wanted), missing, dtype=np.int64)
    top = int(max(keys.max(), wanted.max() if len(wanted) else 0))
    if top <= 4 * len(keys) + 10_000_000:
        table = np.full(top + 1, missing, dtype=np.int64)
        table[keys] = values
        return table[wanted]
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    at = np.clip(np.searchsorted(keys, wanted), 0, len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], missing)


def _fetch_ids(sql: str) -> np.ndarray:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


def _fetch_pairs(sql: str) -> tuple[np.ndarray, np.ndarray]:
    with connection.cursor() as cursor:
        if is_postgresql():
            buffer = io.BytesIO()
            cursor.cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT binary)", buffer)
            pair = np.dtype([("fields", ">i2"), ("len_a", ">i4"), ("a", ">i8"), ("len_b", ">i4"), ("b", ">i8")])
            view = buffer.getbuffer()
            rows = np.frombuffer(view, dtype=pair, count=(len(view) - 21) // pair.itemsize, offset=19)
            result = rows["a"].astype(np.int64), rows["b"].astype(np.int64)
            del rows, view
            return result
        cursor.execute(sql)
        data = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 2)
        return data[:, 0], data[:, 1]


def _periods_normalised(
    person: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Staff periods (day numbers, both ends included) as each person's disjoint periods, sorted by
    person then start: overlapping and touching periods of a person are merged into one."""
    person, start, end = (np.asarray(a, dtype=np.int64) for a in (person, start, end))
    if len(person) == 0:
        return person, start, end
    order = np.lexsort((start, person))
    person, start, end = person[order], start[order], end[order]
    first_row = np.empty(len(person), dtype=bool)
    first_row[0] = True
    np.not_equal(person[1:], person[:-1], out=first_row[1:])
    # Each person's days offset past the previous person's: one running maximum merges every person's periods.
    offset = (np.cumsum(first_row) - 1) * (4 * _OPEN_DAYS)
    reach = np.maximum.accumulate(end + offset)
    begins = np.empty(len(person), dtype=bool)
    begins[0] = True
    np.greater(start[1:] + offset[1:], reach[:-1] + 1, out=begins[1:])
    ends = np.empty(len(person), dtype=bool)
    ends[-1] = True
    ends[:-1] = begins[1:]
    return person[begins], start[begins], (reach - offset)[ends]


@dataclass
class People:
    """Who is who now: every identity's person, the staff periods and the bot persons."""

    identity: np.ndarray  # identity ids, ascending
    person: np.ndarray  # the person of each
    staff_person: np.ndarray  # staff periods (see `_periods_normalised`): the person of each,
    staff_from: np.ndarray  # its first day and
    staff_until: np.ndarray  # its last day (day numbers; ±_OPEN_DAYS for an open end)
    bots: np.ndarray  # persons who never count (bots, placeholder accounts), ascending

    @classmethod
    def load(cls, *, share: tuple[int, int] | None = None, identities: bool = True, staff: bool = True) -> People:
        """Everyone now; with `share` (k, K) the identities, staff periods and bots of the persons with
        id mod K = k only; with `identities` False no identity map; with `staff` False no staff
        periods and no bots (who is who only)."""
        if identities:
            mine = "" if share is None else f" WHERE person_id % {int(share[1])} = {int(share[0])}"
            identity_ids, person_ids = _fetch_pairs(
                f"SELECT id::int8, person_id::int8 FROM {Identity._meta.db_table}{mine} ORDER BY id"
                if is_postgresql()
                else f"SELECT id, person_id FROM {Identity._meta.db_table}{mine} ORDER BY id"
            )
        else:
            identity_ids = person_ids = np.empty(0, dtype=np.int64)
        if staff:
            periods = _fetch_staff_periods()
            # Bots and placeholder accounts (`contributors.placeholders`): persons who never count.
            bots = np.fromiter(persons_not_counted().order_by().values_list("pk", flat=True), dtype=np.int64)
        else:
            periods, bots = (np.empty(0, dtype=np.int64),) * 3, np.empty(0, dtype=np.int64)
        if share is not None:
            mine = periods[0] % share[1] == share[0]
            periods = tuple(column[mine] for column in periods)
            bots = bots[bots % share[1] == share[0]]
        staff_person, staff_from, staff_until = _periods_normalised(*periods)
        return cls(
            identity=identity_ids,
            person=person_ids,
            staff_person=staff_person,
            staff_from=staff_from,
            staff_until=staff_until,
            bots=np.sort(bots),
        )

    def with_identities(self, identity: np.ndarray) -> People:
        """Who is who now when no identity has moved or gone since these were read (`EditCount`): these
        identities' persons, the ones of `identity` not known here read from the database, and the
        staff periods and bots read again (small). Identities without activities are never needed."""
        fresh = People.load(identities=False)
        known = np.zeros(len(identity), dtype=bool)
        if len(self.identity) and len(identity):
            at = np.clip(np.searchsorted(self.identity, identity), 0, len(self.identity) - 1)
            known = self.identity[at] == identity
        wanted = np.unique(identity[~known].astype(np.int64))
        ids, persons = _identities_read(wanted)
        fresh.identity, fresh.person = self.identity, self.person
        if len(ids):
            order = np.argsort(ids)
            ids, persons = ids[order], persons[order]
            at = np.searchsorted(self.identity, ids)
            fresh.identity = np.insert(self.identity, at, ids)
            fresh.person = np.insert(self.person, at, persons)
        table = getattr(self, "_table", None)
        if table is not None and (not len(ids) or int(ids[-1]) < len(table) - 1):
            fresh._table = table.copy()
            fresh._table[ids] = persons
        return fresh

    def staff_rows(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Whether each (person, UTC day) row is a staff contribution: the day is inside one of the
        person's staff periods. One binary search per row over the periods keyed by (person, start)."""
        if len(self.staff_person) == 0 or len(person) == 0:
            return np.zeros(len(person), dtype=bool)
        shift = np.int64(1 << (_DAY_BITS - 1))
        starts = (self.staff_person << _DAY_BITS) | (self.staff_from + shift)
        rows = (person.astype(np.int64) << _DAY_BITS) | (day.astype(np.int64) + shift)
        at = np.searchsorted(starts, rows, side="right") - 1
        found = at >= 0
        at = np.maximum(at, 0)
        return found & (self.staff_person[at] == person) & (day <= self.staff_until[at])

    def staff_changed(self, other: People) -> np.ndarray:
        """The persons whose staff periods differ between `other` and these."""
        mine = np.stack([self.staff_person, self.staff_from, self.staff_until], axis=1)
        theirs = np.stack([other.staff_person, other.staff_from, other.staff_until], axis=1)
        both = np.concatenate([mine, theirs]).astype(np.int64)
        if len(both) == 0:
            return np.empty(0, dtype=np.int64)
        rows, counts = np.unique(both, axis=0, return_counts=True)
        return np.unique(rows[counts == 1, 0])

    def persons_of(self, identity: np.ndarray) -> np.ndarray:
        """The person of each identity, -1 for an identity that is gone."""
        if len(self.identity) == 0 or len(identity) == 0:
            return np.full(len(identity), -1, dtype=np.int64)
        top = int(self.identity[-1])
        if top > 4 * len(self.identity) + 10_000_000:
            return _id_lookup(self.identity, self.person, identity)
        if getattr(self, "_table", None) is None:
            self._table = np.full(top + 2, -1, dtype=np.int64)  # the last cell answers ids past the top
            self._table[self.identity] = self.person
        return self._table[np.minimum(identity, top + 1)]

    def contributions(self, cp: np.ndarray, person: np.ndarray, day: np.ndarray) -> Contributions:
        """Rows resolved to persons (see `persons_of`): rows of bots and of no one are left out."""
        keep = person >= 0
        if len(self.bots):
            keep &= ~np.isin(person, self.bots)
        cp, person, day = cp[keep], person[keep], day[keep]
        return Contributions(cp=cp, person=person, day=day, staff=self.staff_rows(person, day))


def _identities_read(wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(identity id, person id) of these identities (sorted, distinct); those gone are left out."""
    ids, persons = [], []
    table = Identity._meta.db_table
    with connection.cursor() as cursor:
        for begin in range(0, len(wanted), 500):
            chunk = [int(value) for value in wanted[begin : begin + 500]]
            cursor.execute(f"SELECT id, person_id FROM {table} WHERE id IN ({', '.join(['%s'] * len(chunk))})", chunk)
            for identity_id, person_id in cursor.fetchall():
                ids.append(identity_id)
                persons.append(person_id)
    return np.array(ids, dtype=np.int64), np.array(persons, dtype=np.int64)


def edit_counts() -> tuple[int, int]:
    """How often activities and identities were changed in ways a larger id does not show (`EditCount`)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT activities, identities FROM {EditCount._meta.db_table} WHERE id = 1")
        row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _fetch_staff_periods() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every staff period as (person, first day, last day), day numbers, open ends as ±_OPEN_DAYS."""
    table = StaffPeriod._meta.db_table
    if is_postgresql():
        days = "({0} - DATE '1970-01-01')"
    else:
        days = "CAST(julianday({0}) - 2440587.5 AS INTEGER)"
    sql = (
        f"SELECT person_id, COALESCE({days.format('staff_from')}, {-_OPEN_DAYS}), "
        f"COALESCE({days.format('staff_until')}, {_OPEN_DAYS}) FROM {table}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        data = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 3)
    return data[:, 0], np.clip(data[:, 1], -_OPEN_DAYS, _OPEN_DAYS), np.clip(data[:, 2], -_OPEN_DAYS, _OPEN_DAYS)


def contributions_fetch(*, rules: Rules) -> Contributions:
    """Every contribution, resolved to persons now: forgotten activities and bots are left out."""
    cp, identity, day = fetch_rows(rules)
    people = People.load()
    return people.contributions(cp, people.persons_of(identity), day)


def settled_watermark() -> int | None:
    """The largest activity id at or below which every activity is committed (or never will be).

    On PostgreSQL ids are taken from a sequence before the inserting transaction commits, so a
    smaller id may still appear after a larger one is visible. A SHARE lock on the table waits for
    the transactions inserting activities now (and holds new ones back for the moment it takes):
    once it is granted no id up to the largest visible one is pending. None when the lock was not
    obtained in time. SQLite has one writer at a time, and ids above every committed one.
    """
    table = Activity._meta.db_table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if is_postgresql():
                cursor.execute(f"SET LOCAL lock_timeout = '{SETTLE_LOCK_TIMEOUT}'")
                cursor.execute(f"LOCK TABLE {table} IN SHARE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
            return int(cursor.fetchone()[0])
    except OperationalError:
        logger.warning("metrics: ingestion kept the activities table busy; this recompute leaves no cache")
        return None


@contextmanager
def snapshot() -> Iterator[None]:
    """Several reads from one view of the database (PostgreSQL REPEATABLE READ), unless inside a transaction already."""
    nested = connection.in_atomic_block
    with transaction.atomic():
        if is_postgresql() and not nested:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def activities_between(after: int, upto: int) -> tuple[int, int | None]:
    """How many activities have an id in (after, upto], and the UTC day of the latest of them."""
    latest = Activity.objects.filter(pk__gt=after, pk__lte=upto).aggregate(count=Count("pk"), latest=Max("occurred_at"))
    day = None if latest["latest"] is None else day_number(latest["latest"].astimezone(UTC).date())
    return latest["count"], day


