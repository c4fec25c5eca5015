"""Sums over persons: the counting states of persons who do not meet added up, and counting a chunk of the persons at a time.

Every count the engine keeps is a sum over persons (`sweep.State`, `cohorts.CohortState`): the old part
of some persons can be taken out and their new part put in (the incremental update, `cache`), the
states of shares of the persons added (a partitioned run's parts, `partitioned`), and a large count
made a chunk of the persons at a time (`state_by_chunks`), so only one chunk's temporaries are in
memory at once.
"""

from __future__ import annotations

import numpy as np

from .cohorts import CohortState, cohorts_compute_state, cohorts_update
from .fetch import Contributions, Rules, person_chunks
from .sweep import HORIZON_WEEKS, State, members_prune, metrics_compute_state


def persons_in(persons: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Whether each person (-1 for no one) is one of `chosen` (sorted, distinct, non-negative)."""
    if len(chosen) == 0 or len(persons) == 0:
        return np.zeros(len(persons), dtype=bool)
    top = int(max(persons.max(), chosen.max()))
    if top > 4 * len(persons) + 50_000_000:
        return np.isin(persons, chosen)
    mark = np.zeros(top + 2, dtype=bool)
    mark[chosen] = True
    return mark[persons]  # -1 reads the last cell, which is never marked


def state_update(old: State, sub: State, add: State, persons: np.ndarray, last: int) -> State:
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
            raise ValueError(f"a negative count in {key}")
        if not arrays["any"].any():
            if any(values.any() for values in arrays.values()):
                raise ValueError(f"counts without contributions in {key}")
            continue
        state.series[key] = arrays
    for key in {*old.members, *add.members}:
        empty = (np.empty(0, np.int64), np.empty(0, np.int64))
        kept_persons, kept_last = old.members.get(key, empty)
        keep = ~persons_in(kept_persons, persons)
        added_persons, added_last = add.members.get(key, empty)
        merged_persons = np.concatenate([kept_persons[keep], added_persons])
        merged_last = np.concatenate([kept_last[keep], added_last])
        order = np.argsort(merged_persons, kind="stable")
        state.members[key] = members_prune(merged_persons[order], merged_last[order], last)
    for name in {*old.ever, *add.ever}:
        state.ever[name] = old.ever.get(name, 0) - sub.ever.get(name, 0) + add.ever.get(name, 0)
        if state.ever[name] < 0:
            raise ValueError("a negative count of contributors ever")
    return state


# Contributions counted at once by `state_by_chunks` and `cohorts_by_chunks`: the sweep's temporaries
# take about 165 bytes per contribution (0.33 GB for 2M), the cohorts' about 80.
CHUNK_ROWS = 2_000_000


def _by_chunks(contributions: Contributions, count, add):
    """count(contributions), a chunk of the persons at a time (`person_chunks`), added up.

    Every count is a sum over persons, so the chunks add up exactly, as the shares of a partitioned
    run do; only the temporaries of one chunk are in memory at once.
    """
    chunks = max(1, -(-len(contributions) // CHUNK_ROWS))
    if chunks == 1:
        return count(contributions)
    total = None
    chunk_of = person_chunks(contributions.person, chunks)
    for chunk in range(chunks):
        mine = np.flatnonzero(chunk_of == chunk)
        part = count(
            Contributions(
                cp=contributions.cp[mine],
                person=contributions.person[mine],
                day=contributions.day[mine],
                staff=contributions.staff[mine],
            )
        )
        total = part if total is None else add(total, part)
    return total


def state_by_chunks(*, contributions: Contributions, rules: Rules, last: int | None) -> State:
    """`metrics_compute_state`, a chunk of the persons at a time."""
    nobody = np.empty(0, dtype=np.int64)

    def add(total: State, part: State) -> State:
        summed = state_update(total, State(), part, nobody, last)
        summed.stats = {"rows": total.stats.get("rows", 0) + part.stats.get("rows", 0)}
        return summed

    return _by_chunks(contributions, lambda c: metrics_compute_state(contributions=c, rules=rules, last=last), add)


def cohorts_by_chunks(*, contributions: Contributions, rules: Rules, last: int | None) -> CohortState:
    """`cohorts_compute_state`, a chunk of the persons at a time."""
    return _by_chunks(
        contributions,
        lambda c: cohorts_compute_state(contributions=c, rules=rules, last=last),
        lambda total, part: cohorts_update(total, CohortState(), part),
    )
