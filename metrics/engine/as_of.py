"""The summary "as of a day", counted by the metrics engine from the rows a recompute holds.

The public summary and the home page headline answer as of today (CONTRACTS §5): for everything,
every area and every source, the **active** contributors (a contribution of an active or core
conversion point on the 365 days ending D), the **new** ones (their first such contribution in the
scope falls on D−6 … D) and the **contributors ever** (any contribution, any level, up to D). It is
the rule of `contributions.scope_counts`, which counts it in SQL with one pass over every
contribution up to D — seconds at a million activities, a minute at ten million, far too slow for a
request. So each recompute counts it here, in numpy, over the (conversion point, person, UTC day,
staff) rows it already holds, for the day it runs on, and stores it with the run
(`MetricRun.as_of`); readers take it from there when its day is today.

Every count is a sum over persons, like the engine's `State`: an incremental update takes the
recounted persons' old part out and puts their new part in (`as_of_update`), the day unchanged.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np

from conversion_points.models import Population
from metrics.calendar import WINDOW_DAYS, day_number

from .fetch import ACTIVE, Contributions, Rules

# Distinct (scope, person) pairs are counted with a bitmap of scopes × persons up to this many cells
# (bytes), and by sorting beyond (sparse or very many person ids).
_BITMAP_CELLS = 256 * 1024 * 1024
_PERSON_SHIFT = 36


def _distinct_per_group(group: np.ndarray, person: np.ndarray, groups: int) -> np.ndarray:
    """How many distinct persons each group 0…groups-1 has among the (group, person) rows."""
    if len(person) == 0:
        return np.zeros(groups, dtype=np.int64)
    top = int(person.max()) + 1
    # A bitmap for many rows; sorting for few (an incremental update's recounted persons), where
    # clearing the bitmap would cost more than the rows.
    if groups * top <= _BITMAP_CELLS and 256 * len(person) >= groups * top:
        mark = np.zeros(groups * top, dtype=bool)
        mark[group.astype(np.int64) * top + person] = True
        return np.count_nonzero(mark.reshape(groups, top), axis=1).astype(np.int64)
    keys = np.unique((group.astype(np.int64) << _PERSON_SHIFT) | person)
    return np.bincount(keys >> _PERSON_SHIFT, minlength=groups).astype(np.int64)


def _scope_groups(cp: np.ndarray, rules: Rules) -> list[tuple[np.ndarray | None, list[str]]]:
    """For each scope family, every row's scope number in it and the scope names (None: one scope, `all`)."""
    return [
        (None, ["all"]),
        (rules.area[cp] if len(cp) else np.empty(0, np.int16), [f"area:{slug}" for slug in rules.area_slugs]),
        (rules.source[cp] if len(cp) else np.empty(0, np.int16), [f"source:{slug}" for slug in rules.source_slugs]),
    ]


def _scope_distinct(cp: np.ndarray, person: np.ndarray, rows: np.ndarray, rules: Rules) -> dict[str, int]:
    """Distinct persons per scope (`all`, each area, each source) among the chosen rows (a mask)."""
    found: dict[str, int] = {}
    for group, names in _scope_groups(cp[rows], rules):
        if not names:
            continue
        chosen = person[rows]
        counts = _distinct_per_group(np.zeros(len(chosen), np.int64) if group is None else group, chosen, len(names))
        found.update({name: int(count) for name, count in zip(names, counts, strict=True)})
    return found


def as_of_counts(*, contributions: Contributions, rules: Rules, day: date) -> dict[str, Any]:
    """Active, new and contributors ever as of `day`, for both populations, from a recompute's rows.

    `{"day": "YYYY-MM-DD", "volunteers": {"ever": n, "scopes": {"all": {"active": n, "new": n},
    "area:SLUG": …, "source:SLUG": …}, "parts": {…}}, "everyone": {…}}` — the shape of
    `contributions.scope_counts`, plus `parts`: the counts new is the difference of (persons with
    a counted contribution up to D, and before D−6), kept so an incremental update can adjust them.
    Areas and sources without an enabled conversion point are left out (they count zero).
    """
    end = day_number(day)
    since, week_start = end - (WINDOW_DAYS - 1), day_number(day - timedelta(days=6))
    rows_day = contributions.day.astype(np.int64)
    upto = rows_day <= end
    counted = (rules.level[contributions.cp] >= ACTIVE) if len(contributions.cp) else np.zeros(0, bool)
    result: dict[str, Any] = {"day": day.isoformat()}
    for name, population in ((Population.VOLUNTEERS.value, ~contributions.staff), (Population.EVERYONE.value, None)):
        mine = upto if population is None else upto & population
        mine_counted = mine & counted
        parts = {
            "active": _scope_distinct(contributions.cp, contributions.person, mine_counted & (rows_day >= since), rules),
            "seen": _scope_distinct(contributions.cp, contributions.person, mine_counted, rules),
            "before": _scope_distinct(
                contributions.cp, contributions.person, mine_counted & (rows_day < week_start), rules
            ),
        }
        ever = _distinct_per_group(np.zeros(int(mine.sum()), np.int64), contributions.person[mine], 1)
        result[name] = _finish({"ever": int(ever[0]), **parts})
    return result


def _finish(parts: dict[str, Any]) -> dict[str, Any]:
    """The summary numbers from the parts (see `as_of_counts`)."""
    scopes = {
        scope: {"active": parts["active"].get(scope, 0), "new": parts["seen"][scope] - parts["before"].get(scope, 0)}
        for scope in parts["seen"]
    }
    return {
        "ever": parts["ever"],
        "scopes": scopes,
        "parts": {key: parts[key] for key in ("ever", "active", "seen", "before")},
    }


def as_of_update(old: dict[str, Any], sub: dict[str, Any], add: dict[str, Any]) -> dict[str, Any] | None:
    """old − sub + add, where sub and add are the old and the new part of the recounted persons, all of
    one day; None when the days differ (count everyone again) or a count would go negative."""
    if not (old.get("day") == sub.get("day") == add.get("day")):
        return None
    result: dict[str, Any] = {"day": old["day"]}
    for name in (Population.VOLUNTEERS.value, Population.EVERYONE.value):
        parts: dict[str, Any] = {}
        for key in ("active", "seen", "before"):
            mine, minus, plus = (counts[name]["parts"][key] for counts in (old, sub, add))
            parts[key] = {
                scope: mine.get(scope, 0) - minus.get(scope, 0) + plus.get(scope, 0) for scope in {*mine, *plus}
            }
        parts["ever"] = old[name]["parts"]["ever"] - sub[name]["parts"]["ever"] + add[name]["parts"]["ever"]
        if parts["ever"] < 0 or any(value < 0 for key in ("active", "seen", "before") for value in parts[key].values()):
            return None
        result[name] = _finish(parts)
    return result


def as_of_add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The figures of two sets of persons who do not meet (shares of a partitioned recompute) as one."""
    nothing = {"parts": {"ever": 0, "active": {}, "seen": {}, "before": {}}}
    zero = {"day": a["day"], **{name: nothing for name in a if name != "day"}}
    total = as_of_update(a, zero, b)  # a − nothing + b: distinct persons of shares that do not meet
    if total is None:
        raise ValueError("the parts counted the summary as of different days")
    return total


def as_of_scopes(as_of: dict[str, Any], *, population: str) -> dict[str, Any] | None:
    """The stored figures of one population in the shape of `contributions.scope_counts`, or None if none."""
    counts = (as_of or {}).get(population)
    if counts is None:
        return None
    return {"ever": counts["ever"], "scopes": counts["scopes"]}


def as_of_public(as_of: dict[str, Any]) -> dict[str, Any]:
    """What a run stores (`MetricRun.as_of`): the day and each population's numbers, not the parts."""
    if not as_of:
        return {}
    stored: dict[str, Any] = {"day": as_of["day"]}
    for name in (Population.VOLUNTEERS.value, Population.EVERYONE.value):
        stored[name] = {"ever": as_of[name]["ever"], "scopes": as_of[name]["scopes"]}
    return stored
