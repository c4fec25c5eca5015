"""Pathways: for each area, every conversion point as an entry point, and what became of those who entered by it.

The definitions are in docs/common-language.md ("Pathways"), and once more, as the counting rule,
in `pathways_compute_state`'s docstring. They are counted from the rows a recompute already holds
(conversion point, person, UTC day, staff), in the same run as the weekly series, set-based: one
sort of the rows by (area, person, day), then reductions per (area, person) and a join of each
person's areas; never the ORM per person.

Every count is a sum over persons, like the engine's `State`: an incremental update takes the
recounted persons' old part out and puts their new part in (`pathways_update`). Whether an entrant
has left, and where they went, depends on the week it is asked at; those counts are kept for the
latest week and the `HORIZON_WEEKS` after it, as the weekly series are, because a person with
nothing new stops counting anywhere by 53 weeks after their last contribution: from then on their
part no longer changes, so a later week reads the last column (see `_shifted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from conversion_points.models import Population
from metrics.calendar import week_of_day
from metrics.models import MetricRun, Pathway

from .fetch import ACTIVE, CORE, CP_BITS, Contributions, Rules, person_chunks
from .sweep import HORIZON_WEEKS, distinct

# A count's key packs (population, slot, tag, value) into one int64: 1 + 14 + 14 + 32 bits. A slot is
# a conversion point's number (0…n-1) or, for an area as a whole, n + the area's number.
_POPULATION_SHIFT, _SLOT_SHIFT, _TAG_SHIFT = 60, 46, 32
_FIELD = (1 << 14) - 1
_POPULATIONS = (Population.VOLUNTEERS.value, Population.EVERYONE.value)
# Tags of the counts that do not depend on the week (the value is the weeks it took, for the last two).
ENTERED, REACHED_ACTIVE, REACHED_CORE, WEEKS_TO_ACTIVE, WEEKS_TO_CORE = range(5)
# Tags of the counts kept per week: left, left and active nowhere, left and active in area number tag - 2.
LEFT, LEFT_NOWHERE, LEFT_TO = 0, 1, 2
_WIDTH = HORIZON_WEEKS + 1  # the latest week and the HORIZON_WEEKS after it
_NEVER = 1 << 40  # a day (or week) that never comes: no contribution of that level
# Counts are kept in dense arrays, one cell per possible code, up to this many cells (128 MB): a
# hundred rules over thirty areas need 200,000. Past it (thousands of rules and areas), per code
# that occurs, found by sorting.
DENSE_CELLS = 16_000_000
# Rows counted at once (see `pathways_compute_state`): the temporaries of 2M rows take about 0.4 GB.
CHUNK_ROWS = 2_000_000


@dataclass
class Tally:
    """Counts by key: `keys` sorted and distinct, `counts` one value (or one row of weeks) per key."""

    keys: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls, width: int = 0) -> Tally:
        shape = (0, width) if width else (0,)
        return cls(np.empty(0, np.int64), np.zeros(shape, np.int64))


@dataclass
class PathwaysState:
    """What a recompute keeps of the pathways: counts by key, a sum over persons.

    `once` holds the counts that do not depend on the week (entered, reached, weeks it took);
    `weekly` the left counts at the weeks `last` … `last` + HORIZON_WEEKS, one column each.
    """

    last: int | None = None
    once: Tally = field(default_factory=Tally.empty)
    weekly: Tally = field(default_factory=lambda: Tally.empty(_WIDTH))


@dataclass
class PathwayNumbers:
    """One entry point of an area (or the area as a whole: `conversion_point` empty) at the latest week."""

    population: str
    area: str
    conversion_point: str
    level: str
    entered: int
    reached_active: int
    median_weeks_to_active: float | None
    reached_core: int
    median_weeks_to_core: float | None
    left: int
    left_to: list[tuple[str, int]]  # (area slug, people), most first
    left_nowhere: int


def _key(population: int, slot: np.ndarray, tag: int | np.ndarray, value: int | np.ndarray = 0) -> np.ndarray:
    return (
        (np.int64(population) << _POPULATION_SHIFT)
        | (np.asarray(slot, np.int64) << _SLOT_SHIFT)
        | (np.asarray(tag, np.int64) << _TAG_SHIFT)
        | np.asarray(value, np.int64)
    )


def _sunday(day: np.ndarray) -> np.ndarray:
    return ((day + 3) % 7 == 6).astype(np.int64)


def _counted(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct codes (each in 0…size-1), ascending, and how often each occurs."""
    if size <= DENSE_CELLS:
        counts = np.bincount(codes, minlength=size)
        present = np.flatnonzero(counts)
        return present, counts[present]
    return np.unique(codes, return_counts=True)


def _weeks_tally(
    code: np.ndarray, start: np.ndarray, end: np.ndarray | None, *, size: int, last: int
) -> np.ndarray:
    """How many intervals of weeks [start, end] of each code (0…size-1) hold each week last … last +
    HORIZON_WEEKS: a size × (HORIZON_WEEKS + 1) array. `end` None: the intervals never end.

    A difference array per code: +1 where an interval begins, −1 after it ends, summed along the weeks.
    """
    width = _WIDTH + 1
    begin = np.maximum(start, last) - last
    if end is None:
        keep = begin < _WIDTH
        change = np.bincount(code[keep] * width + begin[keep], minlength=size * width)
    else:
        stop = np.minimum(end, last + HORIZON_WEEKS) - last
        keep = begin <= stop
        code, begin, stop = code[keep] * width, begin[keep], stop[keep]
        change = np.bincount(code + begin, minlength=size * width) - np.bincount(code + stop + 1, minlength=size * width)
    return np.cumsum(change.reshape(size, width), axis=1)[:, :_WIDTH]


def _dense_index(values: np.ndarray) -> np.ndarray:
    """Each value's number among the distinct values (0…k-1, in ascending order of value)."""
    top = int(values.max()) + 1
    if top > 4 * len(values) + 10_000_000:
        return np.unique(values, return_inverse=True)[1]
    mark = np.zeros(top, dtype=bool)
    mark[values] = True
    return (np.cumsum(mark) - 1)[values]


def _sorted_by_group_and_day(area: np.ndarray, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The order of rows by (area, person, day): one sort of a packed key when it fits in 63 bits."""
    low = int(day.min())
    day_bits = max(1, (int(day.max()) - low).bit_length())
    person_bits = max(1, int(person.max()).bit_length())
    if int(area.max()).bit_length() + person_bits + day_bits <= 63:
        return np.argsort((area << (person_bits + day_bits)) | (person << day_bits) | (day - low))
    return np.lexsort((day, person, area))


def _population_counts(
    number: int, cp: np.ndarray, person: np.ndarray, day: np.ndarray, rules: Rules, last: int
) -> tuple[Tally, Tally]:
    """The week-free counts and the weekly ones of one population (number 0: volunteers, 1: everyone),
    from its rows sorted by (area, person, day)."""
    if len(cp) == 0:
        return Tally.empty(), Tally.empty(_WIDTH)
    slots = len(rules.points) + len(rules.area_slugs)
    area, level = rules.area[cp].astype(np.int64), rules.level[cp]
    starts = np.empty(len(day), dtype=bool)
    starts[0] = True
    starts[1:] = (area[1:] != area[:-1]) | (person[1:] != person[:-1])
    begin = np.flatnonzero(starts)
    member = np.cumsum(starts) - 1  # each row's (area, person) group
    first = day[begin]
    last_any = day[np.append(begin[1:] - 1, len(day) - 1)]
    first_active = np.minimum.reduceat(np.where(level >= ACTIVE, day, _NEVER), begin)
    first_core = np.minimum.reduceat(np.where(level == CORE, day, _NEVER), begin)
    last_active = np.maximum.reduceat(np.where(level >= ACTIVE, day, -_NEVER), begin)
    group_area, group_person = area[begin], _dense_index(person[begin])

    # Entry points: every conversion point matched on the group's first day, once each; then the area itself.
    on_first = day == first[member]
    pairs = distinct((member[on_first] << CP_BITS) | cp[on_first])
    entry_group = np.concatenate([pairs >> CP_BITS, np.arange(len(begin))])
    entry_slot = np.concatenate([pairs & ((1 << CP_BITS) - 1), len(rules.points) + group_area])

    # The week-free counts, as codes (slot, tag, value) counted densely: value is the weeks it took.
    active = first_active[entry_group] < _NEVER
    core = first_core[entry_group] < _NEVER
    to_active = (first_active[entry_group] - first[entry_group])[active] // 7
    to_core = (first_core[entry_group] - first[entry_group])[core] // 7
    span = 1 + int(max(to_active.max(initial=0), to_core.max(initial=0)))
    tags = WEEKS_TO_CORE + 1

    def code(slot: np.ndarray, tag: int, value: int | np.ndarray = 0) -> np.ndarray:
        return (slot * tags + tag) * span + value

    codes, counts = _counted(
        np.concatenate(
            [
                code(entry_slot, ENTERED),
                code(entry_slot[active], REACHED_ACTIVE),
                code(entry_slot[core], REACHED_CORE),
                code(entry_slot[active], WEEKS_TO_ACTIVE, to_active),
                code(entry_slot[core], WEEKS_TO_CORE, to_core),
            ]
        ),
        slots * tags * span,
    )
    once = Tally(_key(number, codes // (tags * span), (codes // span) % tags, codes % span), counts.astype(np.int64))

    # Left at week w: no contribution in the area on the 365 days ending w's Sunday, that is from the
    # week after the last one counting the latest contribution there (`sweep.weekly_sweep`: a day
    # counts at weeks w … w+51, or w+52 when it is a Sunday). Active in an area until its last active
    # contribution there stops counting.
    left_from = week_of_day(last_any) + 52 + _sunday(last_any)
    active_until = np.where(last_active > -_NEVER, week_of_day(last_active) + 51 + _sunday(last_active), -_NEVER)
    anywhere_until = np.full(int(group_person.max()) + 1, -_NEVER, dtype=np.int64)
    np.maximum.at(anywhere_until, group_person, active_until)

    gone = left_from[entry_group] <= last + HORIZON_WEEKS
    e_group, e_slot = entry_group[gone], entry_slot[gone]
    e_from, e_person = left_from[e_group], group_person[e_group]
    weekly_tags = LEFT_TO + len(rules.area_slugs)
    # Where they went: each other area the person is active in at the latest week or later, joined
    # through the person: the groups active then, by person, and where each person's begin.
    elsewhere = np.flatnonzero(active_until >= last)
    elsewhere = elsewhere[np.argsort(group_person[elsewhere], kind="stable")]
    per_person = np.bincount(group_person[elsewhere], minlength=len(anywhere_until))
    offset = np.cumsum(per_person) - per_person
    count = per_person[e_person]
    entry = np.repeat(np.arange(len(e_slot)), count)
    other = elsewhere[offset[e_person][entry] + np.arange(len(entry)) - np.repeat(np.cumsum(count) - count, count)]
    moved = group_area[other] != group_area[e_group[entry]]
    entry, other = entry[moved], other[moved]
    codes = [
        e_slot * weekly_tags + LEFT,
        e_slot * weekly_tags + LEFT_NOWHERE,
        e_slot[entry] * weekly_tags + LEFT_TO + group_area[other],
    ]
    # One row of weeks per (slot, tag); with very many rules and areas, per (slot, tag) that occurs.
    used, size = None, slots * weekly_tags
    if size * (_WIDTH + 1) > DENSE_CELLS:
        used, compact = np.unique(np.concatenate(codes), return_inverse=True)
        bounds = np.cumsum([len(part) for part in codes])[:-1]
        codes, size = np.split(compact, bounds), len(used)
    weeks = _weeks_tally(codes[0], e_from, None, size=size, last=last)
    weeks += _weeks_tally(codes[1], np.maximum(e_from, anywhere_until[e_person] + 1), None, size=size, last=last)
    weeks += _weeks_tally(codes[2], e_from[entry], active_until[other], size=size, last=last)
    present = np.flatnonzero(weeks.any(axis=1))
    found = present if used is None else used[present]
    return once, Tally(_key(number, found // weekly_tags, found % weekly_tags), weeks[present])


def pathways_compute_state(*, contributions: Contributions, rules: Rules, last: int | None) -> PathwaysState:
    """Count every area's pathways at the latest week `last`, for volunteers and for everyone.

    The rule, in the words of the common language (docs/common-language.md, "Pathways"), counted from
    the contributions up to the latest week's Sunday D:
    - a person's **first contribution in an area** is their earliest UTC day with a contribution
      matched by any of the area's conversion points, of any level; every conversion point matched
      on that day is an **entry point** of theirs (several on a tie), and the area as a whole counts
      them once;
    - they **reached active (core) level** when they have a contribution there matched by an active
      or core (a core) conversion point; the **weeks it took** are ⌊days ÷ 7⌋ from the first day to
      the first such contribution;
    - they **left** the area when they have no contribution there, of any level, on D−364 … D; they
      **went to** each other area they are an active contributor of at D, or **nowhere**.
    Volunteers: the volunteer contributions only (the first volunteer contribution, and so on).
    """
    state = PathwaysState(last=last)
    if last is None or len(contributions) == 0:
        return state
    day = contributions.day.astype(np.int64)
    upto = np.flatnonzero(day <= 7 * last + 3)  # the latest week's Sunday: the week in progress is not counted
    if len(upto) == 0:
        return state
    cp, person, day = contributions.cp[upto].astype(np.int64), contributions.person[upto].astype(np.int64), day[upto]
    # One sort for both populations: a sorted array stays sorted under a mask.
    order = _sorted_by_group_and_day(rules.area[cp].astype(np.int64), person, day)
    cp, person, day, staff = cp[order], person[order], day[order], contributions.staff[upto][order]
    del order, upto
    # Every count is a sum over persons: the persons are counted a chunk at a time (`person_chunks`;
    # a sorted array stays sorted under a mask) and the counts added, so the temporary arrays of one
    # chunk, not of every row, are in memory at once.
    chunks = max(1, -(-len(person) // CHUNK_ROWS))
    chunk_of = person_chunks(person, chunks) if chunks > 1 else None
    once, weekly = Tally.empty(), Tally.empty(_WIDTH)
    for chunk in range(chunks):
        mine = slice(None) if chunk_of is None else np.flatnonzero(chunk_of == chunk)
        counted = _both_populations(cp[mine], person[mine], day[mine], staff[mine], rules, last)
        if chunks == 1:
            once, weekly = counted
        else:
            once, weekly = (_combined([(total, 1), (part, 1)]) for total, part in zip((once, weekly), counted, strict=True))
    state.once, state.weekly = once, weekly
    return state


def _both_populations(
    cp: np.ndarray, person: np.ndarray, day: np.ndarray, staff: np.ndarray, rules: Rules, last: int
) -> tuple[Tally, Tally]:
    """The week-free and the weekly counts of volunteers and everyone, from rows sorted by (area, person, day)."""
    everyone = _population_counts(1, cp, person, day, rules, last)
    # Only the persons with a staff contribution count differently among volunteers: everyone's
    # counts, less theirs, plus theirs without the staff rows (a few percent of the rows counted
    # again, not all of them).
    hired = distinct(person[staff])
    mixed = np.isin(person, hired) if len(hired) else np.zeros(len(person), dtype=bool)
    volunteers = _population_counts(0, cp[mixed], person[mixed], day[mixed], rules, last)
    volunteers_only = mixed & ~staff
    alone = _population_counts(0, cp[volunteers_only], person[volunteers_only], day[volunteers_only], rules, last)
    population = np.int64(1) << _POPULATION_SHIFT
    tallies = []
    for column in range(2):
        mine = everyone[column]
        as_volunteers = Tally(mine.keys & ~population, mine.counts)  # the same counts, keyed as volunteers'
        summed = _combined([(as_volunteers, 1), (volunteers[column], -1), (alone[column], 1)])
        if summed is None:  # cannot happen: the persons' parts add up
            raise ValueError("the volunteers' pathways counts went negative")
        # The populations' keys differ in their top bit and each tally's are sorted: together still sorted.
        tallies.append(Tally(np.concatenate([summed.keys, mine.keys]), np.concatenate([summed.counts, mine.counts])))
    return tallies[0], tallies[1]


def _shifted(weekly: Tally, since: int, last: int) -> Tally:
    """Weekly counts kept from week `since`, read from week `last` (not earlier) on: past the kept
    weeks every part is what it is at the last one (nobody counted then still counts anywhere)."""
    columns = np.minimum(np.arange(_WIDTH) + (last - since), _WIDTH - 1)
    return Tally(weekly.keys, weekly.counts[:, columns])


def _combined(parts: list[tuple[Tally, int]]) -> Tally | None:
    """The sum of the tallies, each times its sign; keys counting zero go. None if a count is negative."""
    keys = np.concatenate([tally.keys for tally, _sign in parts])
    counts = np.concatenate([tally.counts * sign for tally, sign in parts])
    if len(keys) == 0:
        return Tally(keys, counts)
    unique, row = np.unique(keys, return_inverse=True)
    summed = np.zeros((len(unique), *counts.shape[1:]), dtype=np.int64)
    np.add.at(summed, row, counts)
    if (summed < 0).any():
        return None
    keep = summed.reshape(len(unique), -1).any(axis=1)
    return Tally(unique[keep], summed[keep])


def pathways_update(old: PathwaysState, sub: PathwaysState, add: PathwaysState) -> PathwaysState | None:
    """old − sub + add, where sub and add are the old and the new part of the recounted persons (see
    `cache.count_incremental`). None when it cannot be trusted (a count would go negative, the week
    went back): then everything is counted again."""
    if old.last is None or sub.last is None or add.last is None or not old.last == sub.last <= add.last:
        return None
    once = _combined([(old.once, 1), (sub.once, -1), (add.once, 1)])
    weekly = _combined(
        [(_shifted(old.weekly, old.last, add.last), 1), (_shifted(sub.weekly, sub.last, add.last), -1), (add.weekly, 1)]
    )
    if once is None or weekly is None:
        return None
    return PathwaysState(last=add.last, once=once, weekly=weekly)


def pathways_add(first: PathwaysState, second: PathwaysState) -> PathwaysState:
    """Two states of persons who do not meet (two shares of a partitioned recompute) as one: their sum."""
    if first.last != second.last:
        raise ValueError("pathways counted to different weeks cannot be added")
    once = _combined([(first.once, 1), (second.once, 1)])
    weekly = _combined([(first.weekly, 1), (second.weekly, 1)])
    return PathwaysState(last=first.last, once=once, weekly=weekly)  # type: ignore[arg-type] - sums of counts are never negative


def pathways_plain(state: PathwaysState) -> dict:
    """The state as plain JSON (a partitioned run stores each share's in the database)."""
    return {"last": state.last, "once": [state.once.keys.tolist(), state.once.counts.tolist()],
            "weekly": [state.weekly.keys.tolist(), state.weekly.counts.reshape(-1, _WIDTH).tolist()]}


def pathways_from_plain(plain: dict) -> PathwaysState:
    """The state `pathways_plain` gave."""
    once_keys, once_counts = plain["once"]
    weekly_keys, weekly_counts = plain["weekly"]
    return PathwaysState(
        last=plain["last"],
        once=Tally(np.array(once_keys, dtype=np.int64), np.array(once_counts, dtype=np.int64)),
        weekly=Tally(np.array(weekly_keys, dtype=np.int64), np.array(weekly_counts, dtype=np.int64).reshape(-1, _WIDTH)),
    )


def _median(histogram: dict[int, int]) -> float | None:
    """The median of whole weeks given as {weeks: people}: the middle value, or the mean of the two
    middle values for an even number of people. None for nobody."""
    if not histogram:
        return None
    total = sum(histogram.values())

    def value_at(position: int) -> int:
        seen = 0
        for weeks in sorted(histogram):
            seen += histogram[weeks]
            if position < seen:
                return weeks
        raise AssertionError("a position past the histogram")

    return (value_at((total - 1) // 2) + value_at(total // 2)) / 2


def pathways_result(state: PathwaysState, *, rules: Rules) -> list[PathwayNumbers]:
    """Every area's entry points (each enabled conversion point of it) and the area as a whole, both populations."""
    if state.last is None:
        return []
    found: dict[tuple[int, int], dict] = {}

    def slot_numbers(population: int, slot: int) -> dict:
        return found.setdefault(
            (population, slot), {"once": [0, 0, 0], "weeks": ({}, {}), "left": 0, "nowhere": 0, "to": {}}
        )

    for key, count in zip(state.once.keys.tolist(), state.once.counts.tolist(), strict=True):
        numbers = slot_numbers(key >> _POPULATION_SHIFT, (key >> _SLOT_SHIFT) & _FIELD)
        tag, value = (key >> _TAG_SHIFT) & _FIELD, key & 0xFFFFFFFF
        if tag in (ENTERED, REACHED_ACTIVE, REACHED_CORE):
            numbers["once"][tag] += count
        else:
            numbers["weeks"][tag - WEEKS_TO_ACTIVE][value] = count
    for key, count in zip(state.weekly.keys.tolist(), state.weekly.counts[:, 0].tolist(), strict=True):
        if count == 0:
            continue
        numbers = slot_numbers(key >> _POPULATION_SHIFT, (key >> _SLOT_SHIFT) & _FIELD)
        tag = (key >> _TAG_SHIFT) & _FIELD
        if tag == LEFT:
            numbers["left"] = count
        elif tag == LEFT_NOWHERE:
            numbers["nowhere"] = count
        else:
            numbers["to"][rules.area_slugs[tag - LEFT_TO]] = count
    result = []
    for population, name in enumerate(_POPULATIONS):
        for area_number, area in enumerate(rules.area_slugs):
            slots = [(number, point.slug, point.level) for number, point in enumerate(rules.points)]
            slots = [slot for slot in slots if rules.area[slot[0]] == area_number]
            for slot, slug, level in [*slots, (len(rules.points) + area_number, "", "")]:
                numbers = found.get((population, slot)) or slot_numbers(population, slot)
                entered, reached_active, reached_core = numbers["once"]
                result.append(
                    PathwayNumbers(
                        population=name,
                        area=area,
                        conversion_point=slug,
                        level=level,
                        entered=entered,
                        reached_active=reached_active,
                        median_weeks_to_active=_median(numbers["weeks"][0]),
                        reached_core=reached_core,
                        median_weeks_to_core=_median(numbers["weeks"][1]),
                        left=numbers["left"],
                        left_to=sorted(numbers["to"].items(), key=lambda item: (-item[1], item[0])),
                        left_nowhere=numbers["nowhere"],
                    )
                )
    return result


def pathways_write(run: MetricRun, pathways: list[PathwayNumbers]) -> None:
    """One row per area, entry point and population (and one per area as a whole)."""
    Pathway.objects.bulk_create(
        (
            Pathway(
                run=run,
                population=one.population,
                area=one.area,
                conversion_point=one.conversion_point,
                level=one.level,
                entered=one.entered,
                reached_active=one.reached_active,
                median_weeks_to_active=one.median_weeks_to_active,
                reached_core=one.reached_core,
                median_weeks_to_core=one.median_weeks_to_core,
                left=one.left,
                left_to=[{"area": area, "count": count} for area, count in one.left_to],
                left_nowhere=one.left_nowhere,
            )
            for one in pathways
        ),
        batch_size=1000,
    )


def pathways_arrays(state: PathwaysState) -> dict[str, np.ndarray]:
    """The state as arrays for the on-disk cache (`cache.Cache.save`)."""
    return {
        "pathways_last": np.array([-1 if state.last is None else state.last], dtype=np.int64),
        "pathways_once_keys": state.once.keys,
        "pathways_once_counts": state.once.counts,
        "pathways_weekly_keys": state.weekly.keys,
        "pathways_weekly_counts": state.weekly.counts.reshape(-1, _WIDTH),
    }


def pathways_from_arrays(data) -> PathwaysState:  # noqa: ANN001 - an open .npz file
    """The state `pathways_arrays` saved."""
    last = int(data["pathways_last"][0])
    return PathwaysState(
        last=None if last < 0 else last,
        once=Tally(data["pathways_once_keys"], data["pathways_once_counts"]),
        weekly=Tally(data["pathways_weekly_keys"], data["pathways_weekly_counts"]),
    )
