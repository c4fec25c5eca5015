"""Counting: the weekly sweep, the counting state of a recompute, and the series, overlap and movement it gives.

The counting rule is written once, in the docstring of `weekly_sweep`, in the words of the common
language. Everything is set-based: one sort of the distinct (conversion point, person, week) keys,
then one linear pass per scope in numpy; never the ORM per activity or per week. Choices the BRIEF
leaves open are listed in `metrics.engine` (its package docstring).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from conversion_points.models import Population
from metrics.calendar import week_of_day

from .fetch import ACTIVE, CORE, Contributions, Rules

# Lapsed "in the last 12 months" for movement: on one of the 52 Sundays ending the latest week.
MOVEMENT_WEEKS = 52
# Bit widths of the packed sort key (conversion point, person, week, is-Sunday, is-staff): 12 + 35 +
# 14 + 1 + 1 = 63 bits, a non-negative int64.
_WEEK_BITS = 14
_PERSON_BITS = 35


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
    cohorts: list = field(default_factory=list)  # each scope's cohorts (`cohorts.Cohorts`), set by the callers
    pathways: list = field(default_factory=list)  # every area's entry points (`pathways.PathwayNumbers`), set by the callers


def distinct(values: np.ndarray) -> np.ndarray:
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
    """How many persons each pair of groups shares: M^T M over a persons × groups matrix.

    Each person's groups are one bit each in a table indexed by person id (no sort); persons with the
    same groups give the same row, so the product is taken over the distinct rows, each weighted by
    how many persons have it (a few thousand rows, however many persons).
    """
    count = len(members)
    shared = np.zeros((count, count), dtype=np.int64)
    sizes = [len(group) for group in members]
    if not any(sizes):
        return shared
    top = max(int(group.max()) for group in members if len(group))
    if count > 62 or top > 200_000_000:
        everyone = distinct(np.concatenate(members))
        matrix = np.zeros((len(everyone), count), dtype=np.int8)
        for column, group in enumerate(members):
            matrix[np.searchsorted(everyone, group), column] = 1
        chunk = 500_000
        for begin in range(0, len(matrix), chunk):
            block = matrix[begin : begin + chunk].astype(np.int64)
            shared += block.T @ block
        return shared
    bits = np.zeros(top + 1, dtype=np.int64)
    for column, group in enumerate(members):
        bits[group] |= np.int64(1) << column
    patterns, persons = np.unique(bits[bits != 0], return_counts=True)
    matrix = (patterns[:, None] >> np.arange(count, dtype=np.int64)) & 1
    return (matrix * persons[:, None]).T @ matrix


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


def members_prune(persons: np.ndarray, last_active: np.ndarray, last: int) -> tuple[np.ndarray, np.ndarray]:
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
    key = distinct(key)
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
        state.ever[name] = int(len(distinct(persons)))

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
                    state.members[(name, slug)] = members_prune(counted.persons, counted.last_active, last)
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


