"""Cohorts and retention: who arrived in a scope in each calendar quarter, and how many came back later.

Counted from the same contributions as the weekly series, in the same run (full, incremental or
partitioned), set-based: one sort of the distinct (conversion point, person, quarter, staff) keys,
then one pass per scope, as `sweep` does for weeks. The rule is written once, in the docstring of
`cohort_table`, in the words of the common language.

The counting state is a sum over persons, like the weekly one: for each scope and population a
square table over quarters, cell [c, q] the persons whose first contribution in the scope falls in
quarter c and who contributed there in quarter q. An incremental update takes the recounted
persons' old part out and puts their new part in (`cohorts_update`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from conversion_points.models import Population
from metrics.calendar import EPOCH, day_number, week_of_day, week_sunday

from .fetch import ACTIVE, Contributions, Rules
from .sweep import _PERSON_BITS, FAMILIES, _slices, distinct

# Quarters are numbered from 1970 Q1 (quarter 0); a key holds a quarter's offset from the earliest.
_QUARTER_BITS = 12  # 4,096 quarters: a thousand years of history
PERIOD = "quarter"


def quarter_of_days(days: np.ndarray) -> np.ndarray:
    """The calendar quarter (UTC) holding each day number: (year − 1970) × 4 + (month − 1) // 3."""
    months = np.asarray(days, dtype=np.int64).astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    return months // 3


def quarter_of(day: date) -> int:
    """The calendar quarter holding a date (see `quarter_of_days`)."""
    return (day.year - EPOCH.year) * 4 + (day.month - 1) // 3


def quarter_start(quarter: int) -> date:
    """The first day of a quarter: 1 January, 1 April, 1 July or 1 October."""
    return date(EPOCH.year + quarter // 4, (quarter % 4) * 3 + 1, 1)


def quarter_last_day(quarter: int) -> int:
    """The day number of a quarter's last day."""
    return day_number(quarter_start(quarter + 1)) - 1


@dataclass
class CohortState:
    """What a recompute keeps of the cohorts: a sum over persons, so taking some out and back in is exact.

    `tables[(scope, population)]` is a square array over the quarters origin … origin+length-1:
    cell [c, q] counts the persons whose first counted contribution in the scope falls in quarter c
    and who have a counted contribution there in quarter q (so q ≥ c, and [c, c] is the cohort's size).
    """

    origin: int = 0
    length: int = 0
    tables: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)


@dataclass
class Cohorts:
    """One scope's cohorts for one population, in the public API's shape (CONTRACTS.md §5)."""

    scope: str
    population: str
    cohorts: list[dict[str, Any]]


def cohort_table(person: np.ndarray, quarter: np.ndarray, length: int) -> np.ndarray:
    """Count the cohorts of one scope: cell [c, q] of a square table over quarters 0 … length-1.

    The rule, in the words of the common language:
    - **Cohort of a quarter**: the counted persons whose first contribution in the scope falls in
      that calendar quarter (UTC). Each person is in exactly one cohort of a scope.
    - **Retained k quarters after**: how many of a cohort contributed in the scope during the k-th
      quarter after the cohort's own (cell [c, c+k]; k = 0 is the cohort's size).
    A quarter counts once per person, however many contributions, identities or rules they have in it.

    Input: one row per counted contribution of the scope (duplicates allowed), sorted by person
    then quarter; quarters are offsets 0 … length-1.
    """
    if len(person) == 0:
        return np.zeros((length, length), dtype=np.int64)
    pair = (person.astype(np.int64) << _QUARTER_BITS) | quarter
    keep = np.empty(len(pair), dtype=bool)
    keep[0] = True
    np.not_equal(pair[1:], pair[:-1], out=keep[1:])
    person, quarter = person[keep], quarter[keep].astype(np.int64)
    first_row = np.empty(len(person), dtype=bool)
    first_row[0] = True
    np.not_equal(person[1:], person[:-1], out=first_row[1:])
    # Each row's person's first row: the latest first row at or before it.
    first_at = np.maximum.accumulate(np.where(first_row, np.arange(len(person)), 0))
    cohort = quarter[first_at]
    return np.bincount(cohort * length + quarter, minlength=length * length).reshape(length, length)


def cohorts_compute_state(
    *, contributions: Contributions, rules: Rules, last: int | None, families: Collection[str] = FAMILIES
) -> CohortState:
    """Count the cohorts of every scope of `families` from contributions up to the latest week `last`.

    The contributions counted are the weekly series' (`sweep.metrics_compute_state`): their days up
    to the Sunday of the latest week; for everything, an area or a source the active and core
    conversion points, for a conversion point its own; volunteers are the volunteer contributions
    (staff periods), everyone all of them. The quarters run from the first contribution's to the
    one holding the latest week's Sunday.
    """
    if last is None:
        return CohortState()
    day = contributions.day.astype(np.int64)
    keep = week_of_day(day) <= last
    quarter = quarter_of_days(day[keep])
    top = int(quarter_of_days(np.array([day_number(week_sunday(last))]))[0])
    origin = min(int(quarter.min()), top) if len(quarter) else top
    state = CohortState(origin=origin, length=top - origin + 1)
    if len(quarter) == 0:
        return state
    if len(contributions.person) and int(contributions.person.max()) >= 1 << _PERSON_BITS:
        raise ValueError("person ids beyond the engine's key width")
    low_bits = _PERSON_BITS + _QUARTER_BITS + 1
    key = (
        (contributions.cp[keep].astype(np.int64) << low_bits)
        | (contributions.person[keep].astype(np.int64) << (_QUARTER_BITS + 1))
        | ((quarter - origin) << 1)
        | contributions.staff[keep].astype(np.int64)
    )
    key = distinct(key)
    cp = (key >> low_bits).astype(np.int16)
    low = key & ((1 << low_bits) - 1)
    del key
    person = low >> (_QUARTER_BITS + 1)
    offset = (low >> 1) & ((1 << _QUARTER_BITS) - 1)
    volunteer = (low & 1) == 0
    populations = ((Population.VOLUNTEERS.value, volunteer), (Population.EVERYONE.value, None))

    def count(scope: str, rows: np.ndarray) -> None:
        for name, mask in populations:
            chosen = rows if mask is None else rows[mask[rows]]
            if len(chosen):
                state.tables[(scope, name)] = cohort_table(person[chosen], offset[chosen], state.length)

    # Conversion point scopes: contiguous in the key order, sorted by person then quarter within.
    for number, part in enumerate(_slices(cp, len(rules.points)) if "cp" in families else []):
        count(f"cp:{rules.points[number].slug}", np.arange(part.start, part.stop))

    if not {"all", "area", "source"} & set(families):
        return state
    # Everything, areas and sources count the active and core rules only: ordered by (person,
    # quarter), then grouped with a stable sort, so each group stays in that order.
    counted = np.flatnonzero(rules.level[cp] >= ACTIVE) if len(cp) else np.empty(0, np.int64)
    order = counted[np.argsort(low[counted], kind="stable")]
    if "all" in families:
        count("all", order)
    for family, group_of_cp, slugs in (("area", rules.area, rules.area_slugs), ("source", rules.source, rules.source_slugs)):
        if family not in families:
            continue
        groups = group_of_cp[cp[order]] if len(order) else np.empty(0, np.int16)
        regroup = np.argsort(groups, kind="stable")
        grouped, sorted_groups = order[regroup], groups[regroup]
        for part, slug in zip(_slices(sorted_groups, len(slugs)), slugs, strict=True):
            count(f"{family}:{slug}", grouped[part])
    return state


def _aligned(part: CohortState, table: np.ndarray | None, origin: int, length: int) -> np.ndarray:
    values = np.zeros((length, length), dtype=np.int64)
    if table is not None:
        at = part.origin - origin
        values[at : at + part.length, at : at + part.length] = table
    return values


def cohorts_update(old: CohortState, sub: CohortState, add: CohortState) -> CohortState:
    """old − sub + add, where sub and add are the old and the new part of the same persons (and no one else's).

    ValueError when a count would go negative: the parts do not belong to `old`.
    """
    parts = [s for s in (old, sub, add) if s.length]
    if not parts:
        return CohortState()
    origin = min(s.origin for s in parts)
    length = max(s.origin + s.length for s in parts) - origin
    state = CohortState(origin=origin, length=length)
    for key in {*old.tables, *sub.tables, *add.tables}:
        table = (
            _aligned(old, old.tables.get(key), origin, length)
            - _aligned(sub, sub.tables.get(key), origin, length)
            + _aligned(add, add.tables.get(key), origin, length)
        )
        if table.min() < 0:
            raise ValueError(f"a negative cohort count in {key}")
        if table.any():
            state.tables[key] = table
    return state


def cohorts_result(state: CohortState, *, last: int | None) -> list[Cohorts]:
    """Each scope's cohorts, oldest first: from the first quarter with a cohort to the quarter of the
    latest week's Sunday, empty quarters included; that last cohort is partial unless its quarter ended
    on that Sunday. A cohort's `retained` runs to that last quarter too."""
    if last is None:
        return []
    through = day_number(week_sunday(last))
    top = int(quarter_of_days(np.array([through]))[0])
    partial = quarter_last_day(top) > through
    results = []
    for (scope, population), table in sorted(state.tables.items()):
        end = top - state.origin + 1
        sizes = np.diagonal(table)[:end]
        started = np.flatnonzero(sizes)
        if len(started) == 0:
            continue
        cohorts = [
            {
                "start": quarter_start(state.origin + c).isoformat(),
                "size": int(table[c, c]),
                "retained": table[c, c:end].tolist(),
                "partial": bool(partial and c == end - 1),
            }
            for c in range(int(started[0]), end)
        ]
        results.append(Cohorts(scope, population, cohorts))
    return results
