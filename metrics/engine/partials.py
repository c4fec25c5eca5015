"""Partial results: what one share of the persons counts, how shares add up, and the numbers from the sum.

Every number a run publishes is a sum over persons: each weekly point (active, new, lapsed, levels)
counts persons; overlap counts the persons two areas share; movement the persons who lapsed, moved
or left; a cohort's size and retained counts persons; contributors ever and the summary as of a day
count distinct persons per scope. Shares of the persons that do not meet (a person is in exactly
one share, `partitioned`) therefore add up exactly: the sum of the shares' counts is the count of
everyone. What is not a sum (a median, a share of a total) must be carried as the counts it is made
of (a histogram) and finished after the sum.

Each stage of the engine that publishes numbers registers here, in `STAGES`, as three functions:
- `compute(contributions, context)`: its partial result for the rows of one share, plain JSON
  (numbers, strings, lists, dicts with string keys) since it is stored in the database
  (`MetricPart.partial`);
- `add(a, b)`: the partial result of both shares together, exact (integers only);
- `finish(total, result, context)`: puts the numbers made from the sum of every share into the
  `MetricsResult` the swap writes (and a stage with a table of its own writes it here: `finish`
  runs inside the swap's transaction).
A new stage adds one `Stage(...)` line to `STAGES`; nothing else in the partitioned recompute changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from .as_of import as_of_add, as_of_counts
from .cohorts import CohortState, cohorts_result, cohorts_update
from .fetch import Contributions, Rules
from .pathways import (
    PathwaysState,
    pathways_add,
    pathways_compute_state,
    pathways_from_plain,
    pathways_plain,
    pathways_result,
)
from .sums import cohorts_by_chunks, state_by_chunks
from .sweep import MetricsResult, State, state_result

SEP = "\x1f"  # between a scope and a population in a partial's keys (neither can hold it)


@dataclass
class Context:
    """What every part of one run counts alike: the rules, the latest week and the day of the summary."""

    rules: Rules
    last: int | None
    day: date


@dataclass(frozen=True)
class Stage:
    name: str
    compute: Callable[[Contributions, Context], Any]
    add: Callable[[Any, Any], Any]
    finish: Callable[[Any, MetricsResult, Context], None]
    # A stage the incremental update keeps (`cache`) also gives its counting state, and its partial
    # result from that state, so a part counts once and leaves both (`partitioned`).
    state: Callable[[Contributions, Context], Any] | None = None
    plain: Callable[[Any, Context], Any] | None = None

    def counted(self, contributions: Contributions, context: Context) -> tuple[Any, Any]:
        """(its counting state, None if it keeps none; its partial result)."""
        if self.state is None or self.plain is None:
            return None, self.compute(contributions, context)
        state = self.state(contributions, context)
        return state, self.plain(state, context)


def _aligned(values: list[int], origin: int, start: int, length: int) -> np.ndarray:
    """Values over weeks (or quarters) origin… placed in an array over start … start+length-1."""
    array = np.zeros(length, dtype=np.int64)
    at = origin - start
    array[at : at + len(values)] = values
    return array


def _keyed_sum(a: list[list], b: list[list], keys: int) -> list[list]:
    """Rows whose first `keys` fields are a key and the rest counts: summed per key, in a's order then b's."""
    total: dict[tuple, list[int]] = {}
    for row in (*a, *b):
        key, counts = tuple(row[:keys]), row[keys:]
        found = total.setdefault(key, [0] * len(counts))
        total[key] = [x + y for x, y in zip(found, counts, strict=True)]
    return [[*key, *counts] for key, counts in total.items()]


# --------------------------------------------------------------------------- the weekly series


def series_state(contributions: Contributions, context: Context) -> State:
    return state_by_chunks(contributions=contributions, rules=context.rules, last=context.last)


def series_compute(contributions: Contributions, context: Context) -> dict[str, Any]:
    return series_plain(series_state(contributions, context), context)


def series_plain(state: State, context: Context) -> dict[str, Any]:
    """The share's weekly arrays up to the latest week, contributors ever, overlap and movement."""
    counted = state_result(state, rules=context.rules, last=context.last)
    end = 0 if context.last is None else context.last - state.origin + 1  # the horizon is the incremental's
    return {
        "origin": state.origin,
        "series": {
            f"{scope}{SEP}{population}": {name: values[:end].tolist() for name, values in arrays.items()}
            for (scope, population), arrays in state.series.items()
        },
        "ever": dict(state.ever),
        "overlaps": [list(row) for row in counted.overlaps],
        "movements": [list(row) for row in counted.movements],
        "rows": int(state.stats.get("rows", 0)),
    }


def series_add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    origin = min(a["origin"], b["origin"]) if a["series"] and b["series"] else (a if a["series"] else b)["origin"]
    series = {}
    for key in {*a["series"], *b["series"]}:
        parts = [(one["origin"], one["series"][key]) for one in (a, b) if key in one["series"]]
        length = max(start + len(arrays["any"]) for start, arrays in parts) - origin
        series[key] = {
            name: sum(_aligned(arrays[name], start, origin, length) for start, arrays in parts).tolist()
            for name in parts[0][1]
        }
    return {
        "origin": origin,
        "series": series,
        "ever": {name: a["ever"].get(name, 0) + b["ever"].get(name, 0) for name in {*a["ever"], *b["ever"]}},
        "overlaps": _keyed_sum(a["overlaps"], b["overlaps"], 3),
        "movements": _keyed_sum(a["movements"], b["movements"], 2),
        "rows": a["rows"] + b["rows"],
    }


def series_finish(total: dict[str, Any], result: MetricsResult, context: Context) -> None:
    if context.last is None:
        return
    state = State(origin=total["origin"], length=context.last - total["origin"] + 1, ever=dict(total["ever"]))
    for key, arrays in total["series"].items():
        scope, population = key.split(SEP)
        state.series[(scope, population)] = {
            name: _aligned(values, 0, 0, state.length) for name, values in arrays.items()
        }
    # Overlap and movement need no members here: each share counted its own, and they add up.
    finished = state_result(state, rules=context.rules, last=context.last)
    result.series = finished.series
    result.contributors_ever = finished.contributors_ever
    result.overlaps = [tuple(row) for row in total["overlaps"]]
    result.movements = [tuple(row) for row in total["movements"]]
    result.stats["rows"] = total["rows"]


# --------------------------------------------------------------------------- the summary as of a day


def as_of_compute(contributions: Contributions, context: Context) -> dict[str, Any]:
    return as_of_counts(contributions=contributions, rules=context.rules, day=context.day)




def as_of_finish(total: dict[str, Any], result: MetricsResult, context: Context) -> None:
    result.as_of = total


# --------------------------------------------------------------------------- cohorts


def _cohorts_plain(state: CohortState) -> dict[str, Any]:
    return {
        "origin": state.origin,
        "length": state.length,
        "tables": {f"{scope}{SEP}{population}": table.tolist() for (scope, population), table in state.tables.items()},
    }


def _cohorts_state(plain: dict[str, Any]) -> CohortState:
    state = CohortState(origin=plain["origin"], length=plain["length"])
    for key, table in plain["tables"].items():
        scope, population = key.split(SEP)
        state.tables[(scope, population)] = np.array(table, dtype=np.int64).reshape(state.length, state.length)
    return state


def cohorts_state(contributions: Contributions, context: Context) -> CohortState:
    return cohorts_by_chunks(contributions=contributions, rules=context.rules, last=context.last)


def cohorts_compute(contributions: Contributions, context: Context) -> dict[str, Any]:
    return _cohorts_plain(cohorts_state(contributions, context))


def cohorts_add(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return _cohorts_plain(cohorts_update(_cohorts_state(a), CohortState(), _cohorts_state(b)))


def cohorts_finish(total: dict[str, Any], result: MetricsResult, context: Context) -> None:
    result.cohorts = cohorts_result(_cohorts_state(total), last=context.last)


# --------------------------------------------------------------------------- pathways


def pathways_state(contributions: Contributions, context: Context) -> PathwaysState:
    return pathways_compute_state(contributions=contributions, rules=context.rules, last=context.last)


def pathways_compute(contributions: Contributions, context: Context) -> dict[str, Any]:
    return pathways_plain(pathways_state(contributions, context))


def pathways_sum(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return pathways_plain(pathways_add(pathways_from_plain(a), pathways_from_plain(b)))


def pathways_finish(total: dict[str, Any], result: MetricsResult, context: Context) -> None:
    # The medians are finished here, from the summed histograms of weeks (`pathways_result`).
    result.pathways = pathways_result(pathways_from_plain(total), rules=context.rules)


# The stages whose partial results a partitioned run stores and adds up, in the order they finish.
STAGES: tuple[Stage, ...] = (
    Stage("series", series_compute, series_add, series_finish, state=series_state, plain=series_plain),
    Stage("as_of", as_of_compute, as_of_add, as_of_finish, state=as_of_compute, plain=lambda state, _context: state),
    Stage("cohorts", cohorts_compute, cohorts_add, cohorts_finish, state=cohorts_state, plain=lambda s, _c: _cohorts_plain(s)),
    Stage("pathways", pathways_compute, pathways_sum, pathways_finish, state=pathways_state, plain=lambda s, _c: pathways_plain(s)),
)


def partial_compute(contributions: Contributions, context: Context, states: dict[str, Any] | None = None) -> dict[str, Any]:
    """One share's partial result: each stage's; the counting states of the stages that keep one go
    into `states` when given (what the part leaves for the incremental cache)."""
    partial = {}
    for stage in STAGES:
        state, partial[stage.name] = stage.counted(contributions, context)
        if states is not None and state is not None:
            states[stage.name] = state
    return partial


def partials_finish(partials: list[dict[str, Any]], context: Context) -> MetricsResult:
    """The numbers of everyone from every share's partial result (at least one)."""
    result = MetricsResult(last=context.last)
    for stage in STAGES:
        total = partials[0][stage.name]
        for partial in partials[1:]:
            total = stage.add(total, partial[stage.name])
        stage.finish(total, result, context)
    return result

