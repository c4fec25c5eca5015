"""The metrics engine: weekly active, new and lapsed series for every scope, counted set-based.

Scopes are `all` (everything), `area:<slug>`, `source:<slug>` and `cp:<slug>` (one conversion point).
A recompute reads every contribution from the database in one bulk query as (conversion point,
identity, UTC day) rows, resolves identities to persons at count time (so a merge or unmerge shows
in the next recompute), and counts with a sort-based sweep in numpy: one sort of the distinct
(person, week) pairs, then one linear pass per scope. Never the ORM per activity or per week.

Choices the BRIEF leaves open, made here once:
- *Which contributions make someone active.* Counts of active contributors (and so new and lapsed)
  of `all`, an area and a source use the active and core conversion points only, as the BRIEF says;
  casual contributions count for the level counts only. A `cp:` scope is the conversion point
  itself: it counts the people its rule matched, whatever its level.
- *Where a series starts and ends.* It starts with the week of the scope's first contribution of
  any level (for the population counted), and ends with the latest computed week: the week holding
  the latest activity stored, or the last complete week (whose Sunday is over, UTC) if that is
  earlier — never the week in progress, dated on a Sunday that has not happened. Every week in
  between is a point, zeros included.
- *contributors_ever* counts the people, not bots, with any contribution (any level) ever; among
  volunteers, the people with at least one volunteer contribution.

Staff and volunteers are told apart per contribution, not per person (`contributors.staff`): a
contribution is staff when its UTC day falls inside one of its person's staff periods, a
volunteer's otherwise. The volunteer series count the volunteer contributions only, so a volunteer
hired later keeps their volunteer weeks, and staff who leave join the volunteer series from then on.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from activities.models import Activity
from baloo_site.bulk import copy_rows, is_postgresql
from contributors.models import Identity, StaffPeriod
from contributors.placeholders import persons_not_counted

from .containers import container_sql
from .models import LEVEL_RANK, AreaMovement, ConversionPoint, MetricPoint, MetricRun, Overlap, Population

logger = logging.getLogger(__name__)

WINDOW_DAYS = 365
# Days are counted from 1970-01-01 (a Thursday); week k runs Monday to Sunday and ends on day 7k + 3.
EPOCH = date(1970, 1, 1)
ANY, ACTIVE, CORE = 0, 1, 2
# Lapsed "in the last 12 months" for movement: on one of the 52 Sundays ending the latest week.
MOVEMENT_WEEKS = 52
# Bit widths of the packed sort key (conversion point, person, week, is-Sunday, is-staff): 12 + 35 +
# 14 + 1 + 1 = 63 bits, a non-negative int64.
_WEEK_BITS = 14
_PERSON_BITS = 35
_CP_BITS = 12
# Staff periods in day numbers: an open end is this far (27,000 years) before or after 1970.
_OPEN_DAYS = 10_000_000
_DAY_BITS = 25  # days shifted by 2**24 to be non-negative, in the (person, day) keys of staff periods
# Any number will do as long as every recompute uses the same one.
_LOCK_KEY = 0x6A1B_0005


def day_number(value: date) -> int:
    """Days since 1970-01-01."""
    return (value - EPOCH).days


def week_of_day(day: int) -> int:
    """The week holding a day: weeks run Monday to Sunday, week 0 ends on Sunday 1970-01-04."""
    return (day + 3) // 7


def week_sunday(week: int) -> date:
    """The Sunday (UTC) a week's point is dated on."""
    return EPOCH + timedelta(days=7 * week + 3)


# --------------------------------------------------------------------------- reading contributions


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
        if len(points) >= 1 << _CP_BITS:
            raise ValueError(f"the engine counts at most {(1 << _CP_BITS) - 1} enabled conversion points")
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


def _rules_sql(rules: Rules, *, after: int | None = None, upto: int | None = None) -> tuple[str, list]:
    """The query listing (conversion point number, identity id, UTC day) for every matching activity.

    `after` and `upto` keep the activities whose id is in (after, upto] only.
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
    sql = (
        f"SELECT r.cp, a.identity_id, {day} AS day FROM {Activity._meta.db_table} a "
        f"JOIN ({' UNION ALL '.join(pairs)}) r ON a.source_id = r.source_id AND a.type = r.type "
        f"WHERE {where}"
    )
    return sql, params + filter_params


# PostgreSQL's binary COPY: a 19-byte header, then per row a field count and (length, value) per field.
_COPY_ROW = np.dtype(
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


def _fetch_raw(
    rules: Rules, *, after: int | None = None, upto: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sql, params = _rules_sql(rules, after=after, upto=upto)
    if not sql:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    with connection.cursor() as cursor:
        if is_postgresql():
            # Binary COPY streams fixed-width rows that numpy reads in place: no Python object per row.
            raw = cursor.cursor
            query = raw.mogrify(sql, params)
            buffer = io.BytesIO()
            with transaction.atomic():
                # The planner takes the rules for one row and probes the (source, type) index once per
                # rule: random reads, 6x slower at 10M activities than one parallel scan and a hash join.
                # A range of new ids is the opposite case: a few rows found through the primary key.
                if after is None:
                    raw.execute("SET LOCAL enable_nestloop = off")
                raw.copy_expert(f"COPY ({query.decode()}) TO STDOUT WITH (FORMAT binary)", buffer)
            view = buffer.getbuffer()
            count = (len(view) - 19 - 2) // _COPY_ROW.itemsize
            rows = np.frombuffer(view, dtype=_COPY_ROW, count=count, offset=19)
            result = rows["cp"].astype(np.int16), rows["identity"].astype(np.int64), rows["day"].astype(np.int32)
            del rows, view
            return result
        cursor.execute(sql, params)
        data = np.array(cursor.fetchall(), dtype=np.int64).reshape(-1, 3)
    return data[:, 0].astype(np.int16), data[:, 1], data[:, 2].astype(np.int32)


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
    def load(cls) -> People:
        identity_ids, person_ids = _fetch_pairs(
            f"SELECT id::int8, person_id::int8 FROM {Identity._meta.db_table} ORDER BY id"
            if is_postgresql()
            else f"SELECT id, person_id FROM {Identity._meta.db_table} ORDER BY id"
        )
        staff_person, staff_from, staff_until = _periods_normalised(*_fetch_staff_periods())
        return cls(
            identity=identity_ids,
            person=person_ids,
            staff_person=staff_person,
            staff_from=staff_from,
            staff_until=staff_until,
            # Bots and placeholder accounts (`contributors.placeholders`): persons who never count.
            bots=np.sort(np.fromiter(persons_not_counted().order_by().values_list("pk", flat=True), dtype=np.int64)),
        )

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
    cp, identity, day = _fetch_raw(rules)
    people = People.load()
    return people.contributions(cp, people.persons_of(identity), day)


def _today() -> date:
    """Today in UTC: the day a recompute counts the summary as of (`as_of`)."""
    return timezone.now().astimezone(UTC).date()


def last_complete_week() -> int:
    """The latest week whose Sunday is over (UTC): on a Sunday, the week before; never the week in progress."""
    return week_of_day(day_number(timezone.now().astimezone(UTC).date())) - 1


def latest_week() -> int | None:
    """The latest computed week: the one holding the latest activity, never after the last complete week."""
    latest = Activity.objects.aggregate(latest=Max("occurred_at"))["latest"]
    if latest is None:
        return None
    return _capped_week(day_number(latest.astimezone(UTC).date()))


# --------------------------------------------------------------------------- counting


@dataclass
class Sweep:
    """One weekly series over weeks first…last, and each person's last active week (for movement)."""

    first: int
    active: np.ndarray
    new: np.ndarray
    lapsed: np.ndarray
    persons: np.ndarray
    last_active: np.ndarray


def weekly_sweep(person: np.ndarray, week: np.ndarray, sunday: np.ndarray, *, first: int, last: int) -> Sweep:
    """Count active, new and lapsed contributors for each Sunday D of weeks first…last.

    The rule, in the BRIEF's words:
    - **Active contributor at date D**: a person with at least one contribution in that scope on the
      365 days ending D, i.e. UTC dates D−364 … D inclusive.
    - **New contributor in the week ending D**: a person whose first-ever contribution in that scope
      falls on D−6 … D.
    - **Lapsed in the week ending D**: active at D−7, not active at D.
    Each person counts once however many contributions, identities, areas or sources they have.

    Input: one row per contribution of the scope (duplicates allowed), sorted by person then week;
    `week` is the week holding the contribution's UTC day, `sunday` whether that day is the Sunday.
    Since 364 = 52 × 7, D−364 is a Sunday too: a contribution on day c counts at the Sundays
    c … c+364, that is weeks w … w+52 when c is a Sunday, else w … w+51. Per person these intervals
    are merged (touching ones too, so a lapse is a real gap), and a difference array turns the merged
    intervals into counts; a merged interval ending at week e is a lapse at week e+1.
    """
    weeks = last - first + 1
    if len(person) == 0 or weeks <= 0:
        zeros = np.zeros(max(weeks, 0), dtype=np.int64)
        empty = np.empty(0, dtype=np.int64)
        return Sweep(first, zeros, zeros.copy(), zeros.copy(), empty, empty)
    start = week.astype(np.int64) - first
    end = start + 51 + sunday
    first_row = np.empty(len(person), dtype=bool)
    first_row[0] = True
    np.not_equal(person[1:], person[:-1], out=first_row[1:])
    # Offsetting each person's weeks past the previous person's lets one running maximum merge
    # intervals for every person at once.
    offset = (np.cumsum(first_row) - 1) * (weeks + 64)
    start_off = start + offset
    reach = np.maximum.accumulate(end + offset)
    segment = np.empty(len(person), dtype=bool)
    segment[0] = True
    np.greater(start_off[1:], reach[:-1] + 1, out=segment[1:])
    segment_last = np.empty(len(person), dtype=bool)
    segment_last[-1] = True
    segment_last[:-1] = segment[1:]
    seg_start = start[segment]
    seg_end = (reach - offset)[segment_last]
    size = weeks + 64
    change = np.bincount(seg_start, minlength=size)[:size] - np.bincount(seg_end + 1, minlength=size)[:size]
    active = np.cumsum(change)[:weeks]
    lapse_at = seg_end + 1
    lapsed = np.bincount(lapse_at[lapse_at < weeks], minlength=weeks)[:weeks]
    new = np.bincount(start[first_row], minlength=weeks)[:weeks]
    person_last = np.empty(len(person), dtype=bool)
    person_last[-1] = True
    person_last[:-1] = first_row[1:]
    return Sweep(first, active, new, lapsed, person[first_row], (reach - offset)[person_last] + first)


@dataclass
class Series:
    scope: str
    population: str
    first: int
    active: np.ndarray
    new: np.ndarray
    lapsed: np.ndarray
    levels: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # casual, active, core


@dataclass
class MetricsResult:
    last: int | None
    series: list[Series] = field(default_factory=list)
    contributors_ever: dict[str, int] = field(default_factory=dict)
    overlaps: list[tuple[str, str, str, int]] = field(default_factory=list)  # population, area, area, shared
    movements: list[tuple[str, str, int, int, int]] = field(
        default_factory=list
    )  # population, area, lapsed, moved, left
    stats: dict = field(default_factory=dict)
    as_of: dict = field(default_factory=dict)  # the summary as of the day counted (`as_of.as_of_counts`)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (numpy's own unique hashes first, which is slower for large int arrays)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _slices(groups: np.ndarray, count: int) -> list[slice]:
    bounds = np.searchsorted(groups, np.arange(count + 1))
    return [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(count)]


def _shared_counts(members: list[np.ndarray]) -> np.ndarray:
    """How many persons each pair of groups shares: M^T M over a persons × groups matrix, in chunks.

    The matrix is built from one bit per group in a table indexed by person id (no sort).
    """
    count = len(members)
    shared = np.zeros((count, count), dtype=np.int64)
    sizes = [len(group) for group in members]
    if not any(sizes):
        return shared
    top = max(int(group.max()) for group in members if len(group))
    if count > 62 or top > 200_000_000:
        everyone = _distinct(np.concatenate(members))
        matrix = np.zeros((len(everyone), count), dtype=np.int8)
        for column, group in enumerate(members):
            matrix[np.searchsorted(everyone, group), column] = 1
    else:
        bits = np.zeros(top + 1, dtype=np.int64)
        for column, group in enumerate(members):
            bits[group] |= np.int64(1) << column
        bits = bits[bits != 0]
        matrix = ((bits[:, None] >> np.arange(count, dtype=np.int64)) & 1).astype(np.int8)
    chunk = 500_000
    for begin in range(0, len(matrix), chunk):
        block = matrix[begin : begin + chunk].astype(np.float64)
        shared += np.rint(block.T @ block).astype(np.int64)
    return shared


# Series are counted past the latest week, as if nothing new arrived: a contribution up to the
# latest week stops counting by 53 weeks later, so a later week's points of people with nothing new
# are already in them when the latest week moves on (what the incremental update relies on).
HORIZON_WEEKS = 60
LEVEL_KEYS = ("casual", "active_level", "core")


@dataclass
class State:
    """What a recompute keeps: a sum over persons, so removing some and adding them back is exact.

    `series[(scope, population)]` holds arrays over the absolute weeks origin … origin+length-1:
    `any` (persons whose first contribution of any level, counted or not, is that week: where the
    series starts), `active`, `new`, `lapsed` and, for `all` and areas, the level counts.
    `members[(population, area slug or "")]` lists the persons of an area (or of everything, "")
    still active or lapsed recently at the latest week, with the last week each one is active there.
    `ever[population]` counts the persons with any contribution. Every part is a sum over persons.
    """

    origin: int = 0
    length: int = 0
    series: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    members: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    ever: dict[str, int] = field(default_factory=dict)
    stats: dict = field(default_factory=dict)


def _first_weeks(person: np.ndarray, week: np.ndarray, origin: int, length: int) -> np.ndarray:
    """How many persons have their first row in each week; rows sorted by person then week."""
    first_row = np.empty(len(person), dtype=bool)
    first_row[0] = True
    np.not_equal(person[1:], person[:-1], out=first_row[1:])
    return np.bincount(week[first_row] - origin, minlength=length)[:length]


def _prune(persons: np.ndarray, last_active: np.ndarray, last: int) -> tuple[np.ndarray, np.ndarray]:
    """Members still of use at the latest week `last` or later: active, or lapsed within the movement window."""
    keep = last_active >= last - MOVEMENT_WEEKS - 1
    return persons[keep], last_active[keep]


FAMILIES = ("all", "area", "source", "cp")


def metrics_compute_state(
    *, contributions: Contributions, rules: Rules, last: int | None, families: Collection[str] = FAMILIES
) -> State:
    """Count every scope of `families` from contributions up to the latest week `last` (see `weekly_sweep`).

    `families` picks the scope families counted (`all`, `area`, `source`, `cp`): a part of a
    partitioned recompute counts its own only. Contributors ever are counted from every row given.
    """
    state = State()
    if last is None:
        return state
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    week = week_of_day(contributions.day.astype(np.int64))
    keep = week <= last
    if len(contributions.person) and int(contributions.person.max()) >= 1 << _PERSON_BITS:
        raise ValueError("person ids beyond the engine's key width")
    sunday = ((contributions.day.astype(np.int64) + 3) % 7 == 6)[keep]
    week = week[keep]
    origin = int(week.min()) if len(week) else last
    horizon = last + HORIZON_WEEKS
    length = horizon - origin + 1
    state.origin, state.length = origin, length
    # One sorted, distinct (conversion point, person, week, Sunday, staff) key: week-level rows are
    # all the sweep needs, and a sorted array stays sorted under any mask. The staff bit keeps a
    # week's volunteer days apart from its staff days (someone hired mid-week).
    low_bits = _PERSON_BITS + _WEEK_BITS + 2
    key = (
        (contributions.cp[keep].astype(np.int64) << low_bits)
        | (contributions.person[keep].astype(np.int64) << (_WEEK_BITS + 2))
        | (week << 2)
        | (sunday.astype(np.int64) << 1)
        | contributions.staff[keep].astype(np.int64)
    )
    key = _distinct(key)
    timings["distinct_s"] = time.perf_counter() - clock
    cp = (key >> low_bits).astype(np.int16)
    low = key & ((1 << low_bits) - 1)
    del key
    person = low >> (_WEEK_BITS + 2)
    week = (low >> 2) & ((1 << _WEEK_BITS) - 1)
    sunday = (low >> 1) & 1
    volunteer = (low & 1) == 0
    level = rules.level[cp] if len(cp) else np.empty(0, np.int8)
    state.stats = {"rows": int(len(person))}

    populations = ((Population.VOLUNTEERS.value, volunteer), (Population.EVERYONE.value, None))
    for name, mask in populations:
        persons = person if mask is None else person[mask]
        state.ever[name] = int(len(_distinct(persons)))

    # Conversion point scopes: contiguous in the key order already.
    for number, part in enumerate(_slices(cp, len(rules.points)) if "cp" in families else []):
        for name, mask in populations:
            rows = np.arange(part.start, part.stop) if mask is None else np.arange(part.start, part.stop)[mask[part]]
            if len(rows) == 0:
                continue
            p, w = person[rows], week[rows]
            sweep = weekly_sweep(p, w, sunday[rows], first=origin, last=horizon)
            state.series[(f"cp:{rules.points[number].slug}", name)] = {
                "any": sweep.new.copy(),
                "active": sweep.active,
                "new": sweep.new,
                "lapsed": sweep.lapsed,
            }
    timings["cp_scopes_s"] = time.perf_counter() - clock

    # Everything, areas and sources: rows ordered by (person, week, Sunday, staff), then grouped with a stable sort.
    order = np.argsort(low, kind="stable") if {"all", "area", "source"} & set(families) else np.empty(0, np.int64)
    del low
    family_orders = {"all": (order, [slice(0, len(order))], ["all"])} if "all" in families else {}
    for family, group_of_cp, slugs in (
        ("area", rules.area, rules.area_slugs),
        ("source", rules.source, rules.source_slugs),
    ):
        if family not in families:
            continue
        groups = group_of_cp[cp[order]] if len(order) else np.empty(0, np.int16)
        regroup = np.argsort(groups, kind="stable")
        family_orders[family] = (
            order[regroup],
            _slices(groups[regroup], len(slugs)),
            [f"{family}:{slug}" for slug in slugs],
        )
    timings["order_s"] = time.perf_counter() - clock

    for family, (family_order, parts, scopes) in family_orders.items():
        # Gathered once per family, so each scope below is a slice (a view), not another gather.
        f_person, f_week, f_sunday = person[family_order], week[family_order], sunday[family_order]
        f_level, f_volunteer = level[family_order], volunteer[family_order]
        with_levels = family != "source"
        for part, scope in zip(parts, scopes, strict=True):
            for name, mask in populations:
                if mask is None:
                    p, w, s, lv = f_person[part], f_week[part], f_sunday[part], f_level[part]
                else:
                    keep_rows = f_volunteer[part]
                    p, w, s, lv = (
                        f_person[part][keep_rows],
                        f_week[part][keep_rows],
                        f_sunday[part][keep_rows],
                        f_level[part][keep_rows],
                    )
                if len(p) == 0:
                    continue
                lowest = int(lv.min())
                chosen = lv >= ACTIVE if lowest < ACTIVE else slice(None)
                counted = weekly_sweep(p[chosen], w[chosen], s[chosen], first=origin, last=horizon)
                arrays = {
                    "any": _first_weeks(p, w, origin, length) if lowest < ACTIVE else counted.new.copy(),
                    "active": counted.active,
                    "new": counted.new,
                    "lapsed": counted.lapsed,
                }
                if with_levels:
                    anyone = weekly_sweep(p, w, s, first=origin, last=horizon) if lowest < ACTIVE else counted
                    core = lv == CORE
                    core_active = weekly_sweep(p[core], w[core], s[core], first=origin, last=horizon).active
                    arrays.update(
                        casual=anyone.active - counted.active,
                        active_level=counted.active - core_active,
                        core=core_active,
                    )
                state.series[(scope, name)] = arrays
                if family in ("area", "all"):
                    slug = scope.split(":", 1)[1] if family == "area" else ""
                    state.members[(name, slug)] = _prune(counted.persons, counted.last_active, last)
    timings["scopes_s"] = time.perf_counter() - clock
    state.stats["compute"] = {k: round(v, 3) for k, v in timings.items()}
    return state


def state_result(state: State, *, rules: Rules, last: int | None) -> MetricsResult:
    """The series (each from its first contribution to the latest week), overlap, movement and counts."""
    result = MetricsResult(last=last)
    if last is None:
        return result
    clock = time.perf_counter()
    end = last - state.origin + 1
    for (scope, population), arrays in state.series.items():
        started = np.flatnonzero(arrays["any"][:end])
        if len(started) == 0:
            continue
        part = slice(int(started[0]), end)
        levels = tuple(arrays[k][part] for k in LEVEL_KEYS) if LEVEL_KEYS[0] in arrays else None
        result.series.append(
            Series(
                scope,
                population,
                state.origin + int(started[0]),
                arrays["active"][part],
                arrays["new"][part],
                arrays["lapsed"][part],
                levels,
            )
        )
    result.contributors_ever = dict(state.ever)
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    for name in (Population.VOLUNTEERS.value, Population.EVERYONE.value):
        slugs = rules.area_slugs
        active_now, lapsed_recently = {}, {}
        for slug in ("", *slugs):
            persons, last_active = state.members.get((name, slug), empty)
            active_now[slug] = persons[last_active >= last]
            lapsed_recently[slug] = persons[(last_active < last) & (last_active >= last - MOVEMENT_WEEKS - 1)]
        shared = _shared_counts([active_now[slug] for slug in slugs])
        for i in range(len(slugs)):
            for j in range(i + 1, len(slugs)):
                result.overlaps.append((name, slugs[i], slugs[j], int(shared[i, j])))
        anywhere = active_now[""]
        for slug in slugs:
            gone = lapsed_recently[slug]
            moved = int(np.isin(gone, anywhere, assume_unique=True).sum())
            result.movements.append((name, slug, int(len(gone)), moved, int(len(gone)) - moved))
    result.stats = {**state.stats, "result_s": round(time.perf_counter() - clock, 3)}
    return result


def metrics_compute(*, contributions: Contributions, rules: Rules, last: int | None) -> MetricsResult:
    """Every series of every scope, overlap and movement at the latest week, and contributors ever."""
    return state_result(
        metrics_compute_state(contributions=contributions, rules=rules, last=last), rules=rules, last=last
    )


# --------------------------------------------------------------------------- the incremental update
#
# A full recompute leaves its raw rows (conversion point, identity, UTC day: identities, not persons),
# the identity → person map, the staff periods and bot persons it used, and its State (a sum over
# persons) in a cache directory, named by a key the run stores. After ingestion, merges or flag
# changes, the next queued recompute reads only the activities with a larger id than the last one
# read, re-reads who is who, and finds the persons whose rows or flags changed: the new rows'
# persons, both sides of every identity that moved, staff periods that changed, bot flags that flipped, and the
# persons with contributions between the old and the new latest week. Their old part is counted
# again from the cached rows and taken out, their new part counted and put in; everyone else's is
# unchanged by construction. Whatever it cannot vouch for (other rules, an activity or identity
# deleted, a cache from another run or database, a lock not obtained) gives a full recompute.

CACHE_VERSION = 3
CACHE_MAX_CHUNKS = 16
# How long to wait for ingestion transactions in flight before reading the largest settled id.
SETTLE_LOCK_TIMEOUT = "30s"


class CacheUnusable(Exception):
    """The cache cannot vouch for an incremental update: recompute in full."""


def cache_dir() -> Path:
    """Where the cache of this database lives (settings or env `BALOO_METRICS_CACHE_DIR`)."""
    configured = getattr(settings, "BALOO_METRICS_CACHE_DIR", None) or os.environ.get("BALOO_METRICS_CACHE_DIR")
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
    activities: int  # how many activities have an id up to the watermark (all, not only contributions)
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
        meta = {
            "version": CACHE_VERSION,
            "key": self.key,
            "fingerprint": self.fingerprint,
            "watermark": self.watermark,
            "activities": self.activities,
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
        }
        # Every series has the same weeks: one array of (series, field, week), levels zero where absent.
        stacked = np.zeros((len(series_keys), len(SERIES_FIELDS), self.state.length), dtype=np.int64)
        for number, key in enumerate(series_keys):
            for column, name in enumerate(SERIES_FIELDS):
                if name in self.state.series[key]:
                    stacked[number, column] = self.state.series[key][name]
        member_persons = [self.state.members[key][0] for key in member_keys]
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
            activities=meta["activities"],
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
        )


def _atomic_write(path: Path, write) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as handle:
            write(handle)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def cache_clear() -> None:
    """Forget the cache: the next recompute is a full one."""
    (cache_dir() / "state.npz").unlink(missing_ok=True)


def _settled_watermark() -> int | None:
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
def _snapshot() -> Iterator[None]:
    """Several reads from one view of the database (PostgreSQL REPEATABLE READ), unless inside a transaction already."""
    nested = connection.in_atomic_block
    with transaction.atomic():
        if is_postgresql() and not nested:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _activities_between(after: int, upto: int) -> tuple[int, int | None]:
    """How many activities have an id in (after, upto], and the UTC day of the latest of them."""
    latest = Activity.objects.filter(pk__gt=after, pk__lte=upto).aggregate(count=Count("pk"), latest=Max("occurred_at"))
    day = None if latest["latest"] is None else day_number(latest["latest"].astimezone(UTC).date())
    return latest["count"], day


def _capped_week(latest_day: int | None) -> int | None:
    """The latest computed week: the one holding the latest activity, never after the last complete week.

    A week in progress is never a point: its Sunday has not happened (the summary answers "as of
    today" for it). Activities of the week in progress are read all the same, and counted once
    their week is complete.
    """
    if latest_day is None:
        return None
    return min(week_of_day(latest_day), last_complete_week())


def _in(persons: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Whether each person (-1 for no one) is one of `chosen` (sorted, distinct, non-negative)."""
    if len(chosen) == 0 or len(persons) == 0:
        return np.zeros(len(persons), dtype=bool)
    top = int(max(persons.max(), chosen.max()))
    if top > 4 * len(persons) + 50_000_000:
        return np.isin(persons, chosen)
    mark = np.zeros(top + 2, dtype=bool)
    mark[chosen] = True
    return mark[persons]  # -1 reads the last cell, which is never marked


def _state_update(old: State, sub: State, add: State, persons: np.ndarray, last: int) -> State:
    """old − sub + add, where sub and add are the old and the new part of `persons` (and nobody else's)."""
    parts = [s for s in (old, sub, add) if s.length]
    origin = min([s.origin for s in parts] + [last])
    end = max([s.origin + s.length for s in parts] + [last + HORIZON_WEEKS + 1])
    state = State(origin=origin, length=end - origin)

    def aligned(part: State, key: tuple[str, str], name: str) -> np.ndarray:
        values = np.zeros(state.length, dtype=np.int64)
        found = part.series.get(key, {}).get(name)
        if found is not None:
            values[part.origin - origin : part.origin - origin + len(found)] = found
        return values

    for key in {*old.series, *sub.series, *add.series}:
        names = {*old.series.get(key, {}), *sub.series.get(key, {}), *add.series.get(key, {})}
        arrays = {name: aligned(old, key, name) - aligned(sub, key, name) + aligned(add, key, name) for name in names}
        if any(values.min() < 0 for values in arrays.values()):
            raise CacheUnusable(f"a negative count in {key}")
        if not arrays["any"].any():
            if any(values.any() for values in arrays.values()):
                raise CacheUnusable(f"counts without contributions in {key}")
            continue
        state.series[key] = arrays
    for key in {*old.members, *add.members}:
        empty = (np.empty(0, np.int64), np.empty(0, np.int64))
        kept_persons, kept_last = old.members.get(key, empty)
        keep = ~_in(kept_persons, persons)
        added_persons, added_last = add.members.get(key, empty)
        merged_persons = np.concatenate([kept_persons[keep], added_persons])
        merged_last = np.concatenate([kept_last[keep], added_last])
        order = np.argsort(merged_persons, kind="stable")
        state.members[key] = _prune(merged_persons[order], merged_last[order], last)
    for name in {*old.ever, *add.ever}:
        state.ever[name] = old.ever.get(name, 0) - sub.ever.get(name, 0) + add.ever.get(name, 0)
        if state.ever[name] < 0:
            raise CacheUnusable("a negative count of contributors ever")
    return state


def _full(rules: Rules) -> tuple[MetricsResult, Cache | None, dict]:
    """Count everything from the database; also gives the cache for the next incremental update."""
    from .as_of import as_of_counts  # the as-of module imports this one
    clock = time.perf_counter()
    watermark = _settled_watermark()
    with _snapshot():
        cp, identity, day = _fetch_raw(rules, upto=watermark)
        people = People.load()
        upto = watermark if watermark is not None else 2**62
        count, latest_day = _activities_between(0, upto)
    fetched = time.perf_counter() - clock
    contributions = people.contributions(cp, people.persons_of(identity), day)
    last = _capped_week(latest_day)
    state = metrics_compute_state(contributions=contributions, rules=rules, last=last)
    clock_as_of = time.perf_counter()
    as_of = as_of_counts(contributions=contributions, rules=rules, day=_today())
    as_of_s = time.perf_counter() - clock_as_of
    del contributions
    result = state_result(state, rules=rules, last=last)
    result.as_of = as_of
    result.stats["as_of_s"] = round(as_of_s, 3)
    cache = None
    if watermark is not None:
        cache = Cache(
            key=uuid.uuid4().hex,
            fingerprint=rules_fingerprint(rules),
            watermark=watermark,
            activities=count,
            latest_day=latest_day,
            last=last,
            cp=cp,
            identity=identity,
            day=day,
            people=people,
            state=state,
            as_of=as_of,
        )
    return result, cache, {"mode": "full", "fetch_s": round(fetched, 3)}


def _incremental(rules: Rules, cache: Cache) -> tuple[MetricsResult, Cache, dict]:
    """Update the cached State with what changed since (see the comment above); CacheUnusable if it can't."""
    from .as_of import as_of_counts, as_of_update  # the as-of module imports this one
    clock = time.perf_counter()
    if cache.fingerprint != rules_fingerprint(rules):
        raise CacheUnusable("the rules changed")
    if cache.last is None:
        raise CacheUnusable("nothing was counted last time")
    latest_run = MetricRun.objects.filter(status=MetricRun.Status.COMPLETE).order_by("-pk").first()
    if latest_run is None or latest_run.cache_key != cache.key:
        raise CacheUnusable("the cache is not the latest run's")
    watermark = _settled_watermark()
    if watermark is None or watermark < cache.watermark:
        raise CacheUnusable("no settled watermark")
    with _snapshot():
        new_cp, new_identity, new_day = _fetch_raw(rules, after=cache.watermark, upto=watermark)
        kept, _latest = _activities_between(0, cache.watermark)
        if kept != cache.activities:
            raise CacheUnusable("activities were deleted")
        added, latest_day = _activities_between(cache.watermark, watermark)
        people = People.load()
    fetched = time.perf_counter() - clock
    old = cache.people
    at = np.clip(np.searchsorted(people.identity, old.identity), 0, max(len(people.identity) - 1, 0))
    if len(old.identity) and (len(people.identity) == 0 or not np.array_equal(people.identity[at], old.identity)):
        raise CacheUnusable("an identity was deleted (its activities may have moved)")
    if latest_day is None or (cache.latest_day is not None and latest_day < cache.latest_day):
        latest_day = cache.latest_day
    last = _capped_week(latest_day)
    if last is None or last < cache.last:
        raise CacheUnusable("the latest week went back")

    old_person = old.persons_of(cache.identity)
    now_person = people.persons_of(cache.identity)
    new_person = people.persons_of(new_identity)
    moved = old_person != now_person
    touched = [old_person[moved], now_person[moved], new_person]
    touched += [people.staff_changed(old), np.setxor1d(old.bots, people.bots)]
    if last != cache.last:
        week = week_of_day(cache.day.astype(np.int64))
        between = (week > cache.last) & (week <= last)
        touched += [old_person[between], now_person[between]]
    persons = _distinct(np.concatenate(touched).astype(np.int64))
    persons = persons[persons >= 0]
    taken = _in(old_person, persons)
    before = old.contributions(cache.cp[taken], old_person[taken], cache.day[taken])
    taken_now, taken_new = _in(now_person, persons), _in(new_person, persons)
    after = people.contributions(
        np.concatenate([cache.cp[taken_now], new_cp[taken_new]]),
        np.concatenate([now_person[taken_now], new_person[taken_new]]),
        np.concatenate([cache.day[taken_now], new_day[taken_new]]),
    )
    resolved = time.perf_counter() - clock
    sub = metrics_compute_state(contributions=before, rules=rules, last=cache.last)
    add = metrics_compute_state(contributions=after, rules=rules, last=last)
    swept = time.perf_counter() - clock
    state = _state_update(cache.state, sub, add, persons, last)
    updated_at = time.perf_counter() - clock
    state.stats = {"rows": len(before) + len(after)}
    result = state_result(state, rules=rules, last=last)
    clock_as_of = time.perf_counter()
    today = _today()
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
        activities=kept + added,
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
    )
    stats = {
        "mode": "incremental",
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


# --------------------------------------------------------------------------- snapshots


@contextmanager
def _recompute_lock() -> Iterator[None]:
    """One recompute at a time (PostgreSQL advisory lock): runs swap in the order they started."""
    if not is_postgresql():
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])


POINT_COLUMNS = (
    "run_id",
    "scope",
    "population",
    "date",
    "active",
    "new",
    "lapsed",
    "level_casual",
    "level_active",
    "level_core",
)


def _point_rows(run_id: int, series: Series) -> Iterator[tuple]:
    for index in range(len(series.active)):
        levels = (None, None, None) if series.levels is None else tuple(int(level[index]) for level in series.levels)
        yield (
            run_id,
            series.scope,
            series.population,
            week_sunday(series.first + index),
            int(series.active[index]),
            int(series.new[index]),
            int(series.lapsed[index]),
            *levels,
        )


def _points_write(run_id: int, series: list[Series]) -> int:
    rows = [row for one in series for row in _point_rows(run_id, one)]
    if is_postgresql():
        copy_rows(MetricPoint._meta.db_table, POINT_COLUMNS, [(*row[:3], row[3].isoformat(), *row[4:]) for row in rows])
    else:
        MetricPoint.objects.bulk_create(
            (MetricPoint(**dict(zip(POINT_COLUMNS, row, strict=True))) for row in rows), batch_size=2000
        )
    return len(rows)


def _snapshots_write(run: MetricRun, result: MetricsResult) -> int:
    points = _points_write(run.pk, result.series)
    _area_results_write(run, result)
    return points


def _area_results_write(run: MetricRun, result: MetricsResult) -> None:
    Overlap.objects.bulk_create(
        Overlap(run=run, population=population, area_a=a, area_b=b, shared=shared)
        for population, a, b, shared in result.overlaps
    )
    AreaMovement.objects.bulk_create(
        AreaMovement(run=run, population=population, area=area, lapsed=lapsed, moved=moved, left=left)
        for population, area, lapsed, moved, left in result.movements
    )


def _runs_remove_others(run: MetricRun) -> None:
    """Remove every run but `run` (just swapped in), queued ones and partitioned ones started after it.

    Their rows are locked first, so a part writing into one of them finishes before it goes (and a
    part that comes later finds it gone). A partitioned run started after `run` is left to finish: it
    counts newer data. Called under the recompute lock, so any other run in progress is a dead one.
    """
    others = (
        MetricRun.objects.exclude(pk=run.pk)
        .exclude(status=MetricRun.Status.QUEUED)
        .exclude(status=MetricRun.Status.RUNNING, parts__gt=0, started_at__gt=run.started_at)
    )
    doomed = list(others.select_for_update().values_list("pk", flat=True))
    if doomed:
        MetricRun.objects.filter(pk__in=doomed).delete()


def _cache_save(cache: Cache | None, directory: Path, run: MetricRun) -> None:
    """Keep the cache for the next incremental update, after the run it belongs to is committed.

    A failure here costs only speed: the next update finds no cache (or one of another run) and
    recomputes in full.
    """
    if cache is None:
        cache_clear()
        return
    clock = time.perf_counter()
    try:
        cache.save(directory)
    except Exception:
        logger.exception("metrics: could not save the cache in %s", directory)
        cache_clear()
        return
    run.stats["cache_save_s"] = round(time.perf_counter() - clock, 3)
    MetricRun.objects.filter(pk=run.pk).update(stats=run.stats)


def metrics_recompute(*, run: MetricRun | None = None, incremental: bool = False) -> MetricRun | None:
    """Recompute every series of every scope and swap the new snapshots in.

    Writes a new run in bulk while it is `running`, then marks it complete and removes older runs
    in one transaction: readers see the old snapshots or the new ones, never a mix, and a crash
    leaves the previous snapshots in place. Re-running gives the same numbers. Passing a `queued`
    run starts that one; None is returned when it has been started by someone else already.

    `incremental` updates the latest run's numbers from what changed since (see "the incremental
    update" above) when its cache can vouch for it, and recomputes in full otherwise: both give
    the same numbers. Every run leaves a cache for the next one.

    Each run also counts the summary as of the day it runs on (`as_of`) and stores it with the run.
    """
    from .as_of import as_of_public  # the as-of module imports this one
    with _recompute_lock():
        if run is None:
            run = MetricRun.objects.create(status=MetricRun.Status.RUNNING, started_at=timezone.now())
        else:
            # Under the lock a `running` run is one whose worker died mid-way (PostgreSQL frees the
            # lock with the session): its redelivered task starts it again.
            restartable = [MetricRun.Status.QUEUED] + ([MetricRun.Status.RUNNING] if is_postgresql() else [])
            started = MetricRun.objects.filter(pk=run.pk, status__in=restartable).update(
                status=MetricRun.Status.RUNNING, started_at=timezone.now()
            )
            if not started:
                return None
            run.refresh_from_db()
        try:
            clock = time.perf_counter()
            rules = Rules.load()
            directory = cache_dir()
            outcome, reason = None, "asked for in full"
            if incremental:
                try:
                    cache = Cache.load(directory)
                    if cache is None:
                        raise CacheUnusable("no cache")
                    loaded = time.perf_counter() - clock
                    outcome = _incremental(rules, cache)
                    outcome[2]["load_s"] = round(loaded, 3)
                    del cache
                except CacheUnusable as why:
                    reason = str(why)
                except Exception:
                    # A damaged or unreadable cache must never stop the numbers: count in full.
                    logger.exception("metrics: incremental update failed, recomputing in full")
                    reason = "the incremental update failed"
            if outcome is None:
                outcome = _full(rules)
                if incremental:
                    outcome[2]["fallback"] = reason
            result, cache, mode_stats = outcome
            del outcome
            last = result.last
            computed = time.perf_counter() - clock
            fetched = mode_stats.pop("fetch_s")
            with transaction.atomic():
                points = _snapshots_write(run, result)
                run.status = MetricRun.Status.COMPLETE
                run.finished_at = timezone.now()
                _forget_current_run()  # now, and again once the swap is visible to every reader
                transaction.on_commit(_forget_current_run)
                run.latest_week = week_sunday(last) if last is not None else None
                run.contributors_ever = result.contributors_ever.get(Population.VOLUNTEERS, 0)
                run.contributors_ever_everyone = result.contributors_ever.get(Population.EVERYONE, 0)
                run.cache_key = cache.key if cache is not None else ""
                run.as_of = as_of_public(result.as_of)
                run.stats = {
                    **result.stats,
                    **mode_stats,
                    "fetch_s": fetched,
                    "compute_s": round(computed - fetched, 3),
                    "write_s": round(time.perf_counter() - clock - computed, 3),
                    "points": points,
                }
                run.save(
                    update_fields=[
                        "status",
                        "finished_at",
                        "latest_week",
                        "contributors_ever",
                        "contributors_ever_everyone",
                        "stats",
                        "cache_key",
                        "as_of",
                    ]
                )
                # Under the lock no other one-task run is in progress: every other finished or crashed run goes.
                _runs_remove_others(run)
            _cache_save(cache, directory, run)
        except Exception as error:
            MetricRun.objects.filter(pk=run.pk).update(
                status=MetricRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"{type(error).__name__}: {error}"[:2000],
            )
            logger.exception("metrics recompute %s failed", run.pk)
            raise
    logger.info("metrics recompute %s done: %s", run.pk, run.stats)
    return run


def _forget_current_run() -> None:
    """A new run is current: the cached lookup of the current run must not outlive it."""
    from .selectors import metric_run_current_forget  # selectors imports this module

    metric_run_current_forget()


def metrics_recompute_soon() -> MetricRun:
    """Ask for a recompute shortly: many calls before it starts (many ingestion batches) give one recompute.

    A `queued` run stands for the request; at most one exists (a database constraint), so asking
    again while one waits changes nothing. The task is sent after the current transaction commits.
    """
    with transaction.atomic():
        existing = MetricRun.objects.filter(status=MetricRun.Status.QUEUED).first()
        if existing is not None:
            stale = timezone.now() - timedelta(seconds=2 * settings.BALOO_METRICS_DEBOUNCE_SECONDS + 60)
            # Waiting far longer than the debounce: its task never reached the broker (down at the
            # time) or was lost. Send it again; if both arrive, the second finds it started and stops.
            if MetricRun.objects.filter(pk=existing.pk, requested_at__lt=stale).update(requested_at=timezone.now()):
                transaction.on_commit(lambda: _recompute_send(existing.pk, countdown=0), robust=True)
            return existing
        try:
            with transaction.atomic():
                run = MetricRun.objects.create(status=MetricRun.Status.QUEUED)
        except IntegrityError:
            # Another process queued one between our read and our write: that one will do.
            queued = MetricRun.objects.filter(status=MetricRun.Status.QUEUED).first()
            if queued is None:
                raise
            return queued
        # Robust: with the broker down the caller's data is already committed and must not turn
        # into an error; the queued run stays, and the next request after it goes stale resends it.
        transaction.on_commit(
            lambda: _recompute_send(run.pk, countdown=settings.BALOO_METRICS_DEBOUNCE_SECONDS), robust=True
        )
    return run


def _recompute_send(run_id: int, *, countdown: int) -> None:
    from .tasks import recompute_metrics_queued  # the task module imports this one

    recompute_metrics_queued.apply_async(args=[run_id], countdown=countdown)


# --------------------------------------------------------------------------- the partitioned recompute

PART_POINTS_DEFAULT = 10


def _points_per_part() -> int:
    """Conversion points per part (settings or env `BALOO_METRICS_PART_POINTS`, default 10)."""
    configured = getattr(settings, "BALOO_METRICS_PART_POINTS", None) or os.environ.get("BALOO_METRICS_PART_POINTS")
    return max(1, int(configured or PART_POINTS_DEFAULT))


def metrics_partition_plan(*, points_per_part: int | None = None) -> MetricRun:
    """Start a partitioned run: fix what every part counts, and write nothing else (see `metrics_recompute_partitioned`)."""
    rules = Rules.load()
    watermark = _settled_watermark()
    if watermark is None:
        # Ingestion kept the table busy: an activity in flight below this id shows in the next recompute
        # (its ingestion asks for one).
        watermark = Activity.objects.aggregate(top=Max("pk"))["top"] or 0
    _count, latest_day = _activities_between(0, watermark)
    last = _capped_week(latest_day)
    size = points_per_part or _points_per_part()
    pks = [point.pk for point in rules.points]
    parts: dict[str, dict] = {"all-areas": {"families": ["all", "area"]}, "sources": {"families": ["source"]}}
    for begin in range(0, len(pks), size):
        parts[f"points-{begin // size + 1}"] = {"families": ["cp"], "points": pks[begin : begin + size]}
    return MetricRun.objects.create(
        status=MetricRun.Status.RUNNING,
        started_at=timezone.now(),
        latest_week=week_sunday(last) if last is not None else None,
        parts=len(parts),
        plan={"watermark": watermark, "last": last, "fingerprint": rules_fingerprint(rules), "parts": parts},
    )


def metrics_recompute_partitioned(*, points_per_part: int | None = None) -> MetricRun:
    """A full recompute shared by several Celery workers: one task per part of the scopes, swapped in whole.

    The design, kept boring:
    - **Plan** (this function, the nightly task): one `running` MetricRun fixes what the run counts
      and stores it in `plan`: the rules (their fingerprint), the activities (ids up to a settled
      watermark, as the one-task recompute reads them), the latest week, and the parts: `all-areas`
      (`all` and every area, with overlap, movement and contributors ever), `sources` (every source)
      and `points-1`, `points-2`… (the conversion point scopes, `points_per_part` points each). Then
      it sends one `recompute_metrics_part` task per part. With eager tasks (no broker) they run
      here, one after another.
    - **Part** (`metrics_recompute_part`, on any worker): reads the contributions it needs straight
      from the database (the families parts every rule's rows, a points part its own rules' rows),
      resolves persons now, counts its scopes with the same code as the one-task recompute
      (`metrics_compute_state` with its families only) and writes their points into the run, which
      no reader sees yet. In the same transaction, under a row lock of the run, it first deletes
      what it may have written before (a redelivered part rewrites, never duplicates) and adds its
      name to `parts_done`, the counter: no chord and no result backend needed.
    - **Swap** (`_partitioned_finish`, by the part that completes `parts_done`, or a redelivery of
      it): under the recompute lock it marks the run complete and removes the older runs, in one
      transaction, as the one-task recompute does. A run that a newer complete run overtook is
      dropped instead: the current numbers never go back in time.
    - **Crash**: a part raising an error marks the run failed and deletes its rows; the other parts
      then find it failed and do nothing, and the previous run stays the current one. A worker
      killed mid-part gives its task back (late acknowledgement) and the part is written again. A
      run removed by a newer one's swap (superseded) makes its remaining parts do nothing.
    - **Consistency**: every part counts the same activities and latest week; persons are
      resolved when each part runs, so a merge committed in between may show in some scopes first:
      the merge asks for a recompute of its own, which settles it. Rules changed during the run
      fail it, and their change asks for a recompute too.
    - **Cost**: the two families parts each read every contribution (a second read, in parallel),
      and a partitioned run leaves no incremental cache: the next incremental update after it
      recomputes in full, in one task, and leaves the cache again.

    Call it outside a transaction when a broker is configured: workers must see the run.
    """
    from .tasks import recompute_metrics_part  # the task module imports this one

    run = metrics_partition_plan(points_per_part=points_per_part)
    try:
        for part in run.plan["parts"]:
            recompute_metrics_part.apply_async(args=[run.pk, part])
    except Exception as error:
        _partitioned_fail(run.pk, "(sending)", error)
        raise
    run.refresh_from_db()
    return run


def _part_scopes(families: Collection[str], rules: Rules) -> Q:
    """The scopes a part writes, as a filter on MetricPoint."""
    query = Q(pk__in=[])
    if "all" in families:
        query |= Q(scope="all")
    if "area" in families:
        query |= Q(scope__startswith="area:")
    if "source" in families:
        query |= Q(scope__startswith="source:")
    if "cp" in families:
        query |= Q(scope__in=[f"cp:{point.slug}" for point in rules.points])
    return query


def metrics_recompute_part(run_id: int, part: str, *, worker: str = "") -> bool:
    """Count one part of a partitioned run and write it (see `metrics_recompute_partitioned`).

    False when there is nothing to do: the run is complete, failed, superseded or gone.
    """
    from .as_of import as_of_counts, as_of_public  # the as-of module imports this one
    run = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
    if run is None or part not in run.plan.get("parts", {}):
        logger.info("metrics run %s part %s: the run is no longer running, nothing to do", run_id, part)
        return False
    plan, spec = run.plan, run.plan["parts"][part]
    families = spec["families"]
    try:
        clock = time.perf_counter()
        rules = Rules.load()
        if rules_fingerprint(rules) != plan["fingerprint"]:
            raise RuntimeError("the rules changed during the recompute (their change asks for another one)")
        counted = rules.subset(spec["points"]) if "points" in spec else rules
        with _snapshot():
            cp, identity, day = _fetch_raw(counted, upto=plan["watermark"])
            people = People.load()
        fetched = time.perf_counter() - clock
        contributions = people.contributions(cp, people.persons_of(identity), day)
        del cp, identity, day, people
        last = plan["last"]
        state = metrics_compute_state(contributions=contributions, rules=counted, last=last, families=families)
        # The part that counts `all` reads every rule's rows: it counts the summary as of today too.
        as_of = as_of_counts(contributions=contributions, rules=counted, day=_today()) if "all" in families else None
        del contributions
        result = state_result(state, rules=counted, last=last)
        computed = time.perf_counter() - clock
        with transaction.atomic():
            locked = MetricRun.objects.select_for_update().filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
            if locked is None:
                logger.info("metrics run %s part %s: the run ended while counting, nothing written", run_id, part)
                return False
            MetricPoint.objects.filter(_part_scopes(families, counted), run=locked).delete()
            points = _points_write(locked.pk, result.series)
            fields = ["parts_done", "stats"]
            if "area" in families:
                Overlap.objects.filter(run=locked).delete()
                AreaMovement.objects.filter(run=locked).delete()
                _area_results_write(locked, result)
                locked.contributors_ever = result.contributors_ever.get(Population.VOLUNTEERS, 0)
                locked.contributors_ever_everyone = result.contributors_ever.get(Population.EVERYONE, 0)
                fields += ["contributors_ever", "contributors_ever_everyone"]
            if as_of is not None:
                locked.as_of = as_of_public(as_of)
                fields.append("as_of")
            locked.parts_done = sorted({*locked.parts_done, part})
            stats = {
                "worker": worker or f"pid {os.getpid()}",
                "rows": result.stats.get("rows", 0),
                "points": points,
                "fetch_s": round(fetched, 3),
                "compute_s": round(computed - fetched, 3),
                "write_s": round(time.perf_counter() - clock - computed, 3),
            }
            locked.stats = {**locked.stats, "parts": {**locked.stats.get("parts", {}), part: stats}}
            locked.save(update_fields=fields)
            complete = set(locked.parts_done) == set(plan["parts"])
        logger.info("metrics run %s part %s written: %s", run_id, part, stats)
        if complete:
            _partitioned_finish(run_id)
    except Exception as error:
        _partitioned_fail(run_id, part, error)
        raise
    return True


def _partitioned_fail(run_id: int, part: str, error: Exception) -> None:
    """Mark the run failed and drop what its parts wrote: the previous run stays the current one."""
    with transaction.atomic():
        failed = MetricRun.objects.filter(pk=run_id, status=MetricRun.Status.RUNNING).update(
            status=MetricRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"part {part}: {type(error).__name__}: {error}"[:2000],
        )
        if failed:
            for model in (MetricPoint, Overlap, AreaMovement):
                model.objects.filter(run_id=run_id).delete()
    if failed:  # else the run had failed already (or is gone): logged then
        logger.exception("metrics run %s part %s failed", run_id, part)


def _partitioned_finish(run_id: int) -> MetricRun | None:
    """Swap the run in once every part is written; None if it is not (yet), or was overtaken (then dropped)."""
    with _recompute_lock(), transaction.atomic():
        run = MetricRun.objects.select_for_update().filter(pk=run_id, status=MetricRun.Status.RUNNING).first()
        if run is None or set(run.parts_done) != set(run.plan["parts"]):
            return None
        if MetricRun.objects.filter(status=MetricRun.Status.COMPLETE, started_at__gt=run.started_at).exists():
            logger.info("metrics run %s: a newer run is complete already, this one is dropped", run_id)
            run.delete()
            return None
        parts = run.stats.get("parts", {})
        run.status = MetricRun.Status.COMPLETE
        run.finished_at = timezone.now()
        _forget_current_run()  # now, and again once the swap is visible to every reader
        transaction.on_commit(_forget_current_run)
        run.stats = {
            "mode": "partitioned",
            "points": sum(one["points"] for one in parts.values()),
            # Summed over the parts (they may have run side by side); `wall_s` is plan to swap.
            **{key: round(sum(one[key] for one in parts.values()), 3) for key in ("fetch_s", "compute_s", "write_s")},
            "wall_s": round((run.finished_at - run.started_at).total_seconds(), 3),
            "workers": sorted({one["worker"] for one in parts.values()}),
            "parts": parts,
        }
        run.save(update_fields=["status", "finished_at", "stats"])
        _runs_remove_others(run)
    logger.info("metrics run %s (partitioned) swapped in: %s", run_id, run.stats)
    return run
