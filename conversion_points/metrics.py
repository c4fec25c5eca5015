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
  the latest activity stored, or this week if an activity claims to be in the future. Every week in
  between is a point, zeros included.
- *contributors_ever* counts the people, not bots, with any contribution (any level) ever.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from activities.models import Activity
from baloo_site.bulk import copy_rows, is_postgresql
from contributors.models import Identity, Person

from .models import AreaMovement, ConversionPoint, MetricPoint, MetricRun, Overlap, Population

logger = logging.getLogger(__name__)

WINDOW_DAYS = 365
# Days are counted from 1970-01-01 (a Thursday); week k runs Monday to Sunday and ends on day 7k + 3.
EPOCH = date(1970, 1, 1)
LEVEL_RANK = {ConversionPoint.Level.CASUAL: 0, ConversionPoint.Level.ACTIVE: 1, ConversionPoint.Level.CORE: 2}
ANY, ACTIVE, CORE = 0, 1, 2
# Lapsed "in the last 12 months" for movement: on one of the 52 Sundays ending the latest week.
MOVEMENT_WEEKS = 52
# Bit widths of the packed sort key (conversion point, person, week, is-Sunday).
_WEEK_BITS = 14
_PERSON_BITS = 36
_CP_BITS = 12
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


# --------------------------------------------------------------------------- container globs


def glob_to_regex(pattern: str) -> str | None:
    """A container glob (`mozilla/*`, `Firefox::*`, `[a-c]?`) as a regular expression, None if it matches nothing.

    The result means what `fnmatch.fnmatchcase` means, and reads the same in Python, PostgreSQL
    (`~`) and SQLite (Django's REGEXP): literals are escaped, `*` is any text, `?` one character,
    `[...]` a set (`[!...]` its complement, `a-z` a range), and an unclosed `[` is a plain bracket.
    """

    def literal(char: str) -> str:
        return char if char.isalnum() or char == "_" else "\\" + char

    out = ["(?s)^"]
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        i += 1
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
                continue
            content, i = pattern[i:j], j + 1
            negate = content.startswith("!")
            content = content[1:] if negate else content
            items, k = [], 0
            while k < len(content):
                if k + 2 < len(content) and content[k + 1] == "-":
                    low, high = content[k], content[k + 2]
                    if low <= high:  # a reversed range matches nothing, as in fnmatch
                        items.append(literal(low) + "-" + literal(high))
                    k += 3
                else:
                    items.append(literal(content[k]))
                    k += 1
            if not items:
                if not negate:
                    return None
                out.append(".")
                continue
            out.append(("[^" if negate else "[") + "".join(items) + "]")
        else:
            out.append(literal(char))
    out.append("$")
    return "".join(out)


def _container_condition(pattern: str) -> tuple[str, list[str]] | None:
    """SQL deciding whether `a.container` matches a glob, or None when every container does."""
    if not pattern or pattern == "*":
        return None
    postgresql = is_postgresql()
    if "[" not in pattern:
        if postgresql:
            escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            return "a.container LIKE %s", [escaped.replace("*", "%").replace("?", "_")]
        # SQLite's GLOB is case-sensitive and means the same as fnmatch for * and ? (LIKE is not).
        return "a.container GLOB %s", [pattern]
    regex = glob_to_regex(pattern)
    if regex is None:
        return "1 = 0", []
    return ("a.container ~ %s" if postgresql else "a.container REGEXP %s"), [regex]


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


@dataclass
class Contributions:
    """Distinct contributions as parallel arrays, one row per (conversion point, person, UTC day)."""

    cp: np.ndarray
    person: np.ndarray
    day: np.ndarray
    staff: np.ndarray  # bool: the person is staff

    def __len__(self) -> int:
        return len(self.cp)


def _rules_sql(rules: Rules) -> tuple[str, list]:
    """The query listing (conversion point number, identity id, UTC day) for every matching activity."""
    pairs, params = [], []
    for number, point in enumerate(rules.points):
        for activity_type in sorted(set(point.types or [])):
            pairs.append("SELECT %s AS cp, %s AS source_id, %s AS type")
            params += [number, point.source_id, activity_type]
    if not pairs:
        return "", []
    filters, filter_params, filtered = [], [], []
    for number, point in enumerate(rules.points):
        condition = _container_condition(point.container)
        if condition is not None:
            filtered.append(number)
            filters.append(f"(r.cp = {number} AND {condition[0]})")
            filter_params += condition[1]
    where = "a.identity_id IS NOT NULL"
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


def _fetch_raw(rules: Rules) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sql, params = _rules_sql(rules)
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


def contributions_fetch(*, rules: Rules) -> Contributions:
    """Every contribution, resolved to persons now: forgotten activities and bots are left out."""
    cp, identity, day = _fetch_raw(rules)
    identity_ids, person_ids = _fetch_pairs(
        f"SELECT id::int8, person_id::int8 FROM {Identity._meta.db_table}"
        if is_postgresql()
        else f"SELECT id, person_id FROM {Identity._meta.db_table}"
    )
    person = _id_lookup(identity_ids, person_ids, identity)
    bots = _fetch_ids(f"SELECT id FROM {Person._meta.db_table} WHERE is_bot")
    staff = _fetch_ids(f"SELECT id FROM {Person._meta.db_table} WHERE is_staff AND NOT is_bot")
    keep = person >= 0
    if len(bots):
        keep &= ~np.isin(person, bots)
    cp, person, day = cp[keep], person[keep], day[keep]
    return Contributions(
        cp=cp, person=person, day=day, staff=np.isin(person, staff) if len(staff) else np.zeros(len(cp), bool)
    )


def latest_week() -> int | None:
    """The latest computed week: the one holding the latest activity, never after this week."""
    latest = Activity.objects.aggregate(latest=Max("occurred_at"))["latest"]
    if latest is None:
        return None
    this_week = week_of_day(day_number(timezone.now().astimezone(UTC).date()))
    return min(week_of_day(day_number(latest.astimezone(UTC).date())), this_week)


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
    """How many persons each pair of groups shares: M^T M over a persons × groups matrix, in chunks."""
    count = len(members)
    shared = np.zeros((count, count), dtype=np.int64)
    everyone = _distinct(np.concatenate(members)) if members else np.empty(0, np.int64)
    chunk = 200_000
    for begin in range(0, len(everyone), chunk):
        block = everyone[begin : begin + chunk]
        matrix = np.zeros((len(block), count), dtype=np.float64)
        for column, group in enumerate(members):
            matrix[:, column] = np.isin(block, group, assume_unique=True)
        shared += np.rint(matrix.T @ matrix).astype(np.int64)
    return shared


def metrics_compute(*, contributions: Contributions, rules: Rules, last: int | None) -> MetricsResult:
    """Every series of every scope, overlap and movement at the latest week, and contributors ever."""
    result = MetricsResult(last=last)
    if last is None:
        return result
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    week = week_of_day(contributions.day.astype(np.int64))
    keep = week <= last
    if len(contributions.person) and int(contributions.person.max()) >= 1 << _PERSON_BITS:
        raise ValueError("person ids beyond the engine's key width")
    sunday = ((contributions.day.astype(np.int64) + 3) % 7 == 6)[keep]
    week = week[keep]
    # One sorted, distinct (conversion point, person, week, Sunday) key: week-level rows are all the
    # sweep needs, and a sorted array stays sorted under any mask.
    key = (
        (contributions.cp[keep].astype(np.int64) << (_PERSON_BITS + _WEEK_BITS + 1))
        | (contributions.person[keep] << (_WEEK_BITS + 1))
        | (week << 1)
        | sunday
    )
    staff_persons = _distinct(contributions.person[contributions.staff])
    key = _distinct(key)
    timings["distinct_s"] = time.perf_counter() - clock
    cp = (key >> (_PERSON_BITS + _WEEK_BITS + 1)).astype(np.int16)
    low = key & ((1 << (_PERSON_BITS + _WEEK_BITS + 1)) - 1)
    del key
    person = low >> (_WEEK_BITS + 1)
    week = (low >> 1) & ((1 << _WEEK_BITS) - 1)
    sunday = (low & 1).astype(np.int64)
    volunteer = ~np.isin(person, staff_persons) if len(staff_persons) else np.ones(len(person), bool)
    level = rules.level[cp] if len(cp) else np.empty(0, np.int8)
    result.stats["rows"] = int(len(person))

    populations = ((Population.VOLUNTEERS.value, volunteer), (Population.EVERYONE.value, None))
    for name, mask in populations:
        persons = person if mask is None else person[mask]
        result.contributors_ever[name] = int(len(_distinct(persons)))

    # Conversion point scopes: contiguous in the key order already.
    for number, part in enumerate(_slices(cp, len(rules.points))):
        for name, mask in populations:
            rows = np.arange(part.start, part.stop) if mask is None else np.arange(part.start, part.stop)[mask[part]]
            if len(rows) == 0:
                continue
            sweep = weekly_sweep(person[rows], week[rows], sunday[rows], first=int(week[rows].min()), last=last)
            result.series.append(
                Series(f"cp:{rules.points[number].slug}", name, sweep.first, sweep.active, sweep.new, sweep.lapsed)
            )
    timings["cp_scopes_s"] = time.perf_counter() - clock

    # Everything, areas and sources: rows ordered by (person, week, Sunday), then grouped with a stable sort.
    order = np.argsort(low, kind="stable")
    del low
    family_orders = {"all": (order, [slice(0, len(order))], ["all"])}
    for family, group_of_cp, slugs in (
        ("area", rules.area, rules.area_slugs),
        ("source", rules.source, rules.source_slugs),
    ):
        groups = group_of_cp[cp[order]] if len(order) else np.empty(0, np.int16)
        regroup = np.argsort(groups, kind="stable")
        family_orders[family] = (
            order[regroup],
            _slices(groups[regroup], len(slugs)),
            [f"{family}:{slug}" for slug in slugs],
        )
    timings["order_s"] = time.perf_counter() - clock

    active_now: dict[tuple[str, str], np.ndarray] = {}
    lapsed_recently: dict[tuple[str, str], np.ndarray] = {}
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
                first = int(w.min())
                lowest = int(lv.min())
                chosen = lv >= ACTIVE if lowest < ACTIVE else slice(None)
                counted = weekly_sweep(p[chosen], w[chosen], s[chosen], first=first, last=last)
                levels = None
                if with_levels:
                    anyone = weekly_sweep(p, w, s, first=first, last=last) if lowest < ACTIVE else counted
                    core = lv == CORE
                    core_active = weekly_sweep(p[core], w[core], s[core], first=first, last=last).active
                    levels = (anyone.active - counted.active, counted.active - core_active, core_active)
                result.series.append(Series(scope, name, first, counted.active, counted.new, counted.lapsed, levels))
                if family == "area":
                    slug = scope.split(":", 1)[1]
                    active_now[(name, slug)] = counted.persons[counted.last_active >= last]
                    recent = (counted.last_active < last) & (counted.last_active >= last - MOVEMENT_WEEKS - 1)
                    lapsed_recently[(name, slug)] = counted.persons[recent]
                elif family == "all":
                    active_now[(name, "")] = counted.persons[counted.last_active >= last]
    timings["scopes_s"] = time.perf_counter() - clock

    for name, _mask in populations:
        slugs = rules.area_slugs
        members = [active_now.get((name, slug), np.empty(0, np.int64)) for slug in slugs]
        shared = _shared_counts(members)
        for i in range(len(slugs)):
            for j in range(i + 1, len(slugs)):
                result.overlaps.append((name, slugs[i], slugs[j], int(shared[i, j])))
        anywhere = active_now.get((name, ""), np.empty(0, np.int64))
        for slug in slugs:
            gone = lapsed_recently.get((name, slug), np.empty(0, np.int64))
            moved = int(np.isin(gone, anywhere, assume_unique=True).sum())
            result.movements.append((name, slug, int(len(gone)), moved, int(len(gone)) - moved))
    timings["overlap_s"] = time.perf_counter() - clock
    result.stats["compute"] = {k: round(v, 3) for k, v in timings.items()}
    return result


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


def _snapshots_write(run: MetricRun, result: MetricsResult) -> int:
    rows = [row for series in result.series for row in _point_rows(run.pk, series)]
    if is_postgresql():
        copy_rows(MetricPoint._meta.db_table, POINT_COLUMNS, [(*row[:3], row[3].isoformat(), *row[4:]) for row in rows])
    else:
        MetricPoint.objects.bulk_create(
            (MetricPoint(**dict(zip(POINT_COLUMNS, row, strict=True))) for row in rows), batch_size=2000
        )
    Overlap.objects.bulk_create(
        Overlap(run=run, population=population, area_a=a, area_b=b, shared=shared)
        for population, a, b, shared in result.overlaps
    )
    AreaMovement.objects.bulk_create(
        AreaMovement(run=run, population=population, area=area, lapsed=lapsed, moved=moved, left=left)
        for population, area, lapsed, moved, left in result.movements
    )
    return len(rows)


def metrics_recompute(*, run: MetricRun | None = None) -> MetricRun | None:
    """Recompute every series of every scope and swap the new snapshots in.

    Writes a new run in bulk while it is `running`, then marks it complete and removes older runs
    in one transaction: readers see the old snapshots or the new ones, never a mix, and a crash
    leaves the previous snapshots in place. Re-running gives the same numbers. Passing a `queued`
    run starts that one; None is returned when it has been started by someone else already.
    """
    with _recompute_lock():
        if run is None:
            run = MetricRun.objects.create(status=MetricRun.Status.RUNNING, started_at=timezone.now())
        else:
            started = MetricRun.objects.filter(pk=run.pk, status=MetricRun.Status.QUEUED).update(
                status=MetricRun.Status.RUNNING, started_at=timezone.now()
            )
            if not started:
                return None
            run.refresh_from_db()
        try:
            clock = time.perf_counter()
            rules = Rules.load()
            contributions = contributions_fetch(rules=rules)
            fetched = time.perf_counter() - clock
            last = latest_week()
            result = metrics_compute(contributions=contributions, rules=rules, last=last)
            computed = time.perf_counter() - clock
            del contributions
            with transaction.atomic():
                points = _snapshots_write(run, result)
                run.status = MetricRun.Status.COMPLETE
                run.finished_at = timezone.now()
                run.latest_week = week_sunday(last) if last is not None else None
                run.contributors_ever = result.contributors_ever.get(Population.VOLUNTEERS, 0)
                run.contributors_ever_everyone = result.contributors_ever.get(Population.EVERYONE, 0)
                run.stats = {
                    **result.stats,
                    "fetch_s": round(fetched, 3),
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
                    ]
                )
                # Under the lock no other run is in progress: every other finished or crashed run goes.
                MetricRun.objects.exclude(pk=run.pk).exclude(status=MetricRun.Status.QUEUED).delete()
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


def metrics_recompute_soon() -> MetricRun:
    """Ask for a recompute shortly: many calls before it starts (many ingestion batches) give one recompute.

    A `queued` run stands for the request; at most one exists (a database constraint), so asking
    again while one waits changes nothing. The task is sent after the current transaction commits.
    """
    from .tasks import recompute_metrics_queued  # the task module imports this one

    with transaction.atomic():
        existing = MetricRun.objects.filter(status=MetricRun.Status.QUEUED).first()
        if existing is not None:
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
        transaction.on_commit(
            lambda: recompute_metrics_queued.apply_async(
                args=[run.pk], countdown=settings.BALOO_METRICS_DEBOUNCE_SECONDS
            )
        )
    return run
