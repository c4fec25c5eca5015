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

The stages, one module each, each importing only the ones before it:

- `fetch`: the rules' rows (SQL, binary COPY), who is who now (`People`), a settled watermark;
- `sweep`: the weekly sweep (the counting rule), the counting `State` and its result;
- `as_of`: the summary as of the day a recompute runs on, stored with the run;
- `cohorts`: cohorts and retention per calendar quarter, from the same contributions, stored with the run;
- `pathways`: every area's entry points and what became of those who entered by them, stored with the run;
- `sums`: counting states of persons who do not meet added up, and counting a chunk of the persons at a time;
- `cache`: the on-disk cache and the incremental update it allows;
- `runs`: a recompute written and swapped in whole, and `metrics_recompute_soon`;
- `partials`: what one share of the persons counts, and how shares add up exactly (a registry of
  stages: a new stage registers its compute, add and finish there);
- `partitioned`: the nightly full recompute shared by several workers, each counting a share of the persons;
- `liveness`: beat resends a recompute request stranded by a lost task or a dead worker.

Days and weeks are `metrics.calendar`'s. Import the public names from here.
"""

from .as_of import as_of_counts, as_of_public, as_of_scopes, as_of_update
from .cache import Cache, CacheUnusable, cache_clear, cache_dir, cache_held, cache_hold, rules_fingerprint
from .cohorts import Cohorts, CohortState, cohort_table, cohorts_compute_state, cohorts_result, cohorts_update
from .fetch import ACTIVE, ANY, CORE, Contributions, People, Rules, contributions_fetch
from .liveness import metrics_requests_resend
from .partials import STAGES, Stage
from .partitioned import (
    metrics_partition_plan,
    metrics_parts,
    metrics_recompute_part,
    metrics_recompute_partitioned,
    metrics_update_queued,
)
from .pathways import PathwayNumbers, PathwaysState, pathways_compute_state, pathways_result, pathways_update
from .runs import metric_run_current_forget, metrics_recompute, metrics_recompute_soon
from .sweep import (
    FAMILIES,
    HORIZON_WEEKS,
    LEVEL_KEYS,
    MOVEMENT_WEEKS,
    MetricsResult,
    Series,
    State,
    Sweep,
    metrics_compute,
    metrics_compute_state,
    state_result,
    weekly_sweep,
)

__all__ = [
    "ACTIVE",
    "ANY",
    "CORE",
    "FAMILIES",
    "HORIZON_WEEKS",
    "LEVEL_KEYS",
    "MOVEMENT_WEEKS",
    "STAGES",
    "Cache",
    "CohortState",
    "Cohorts",
    "CacheUnusable",
    "Contributions",
    "MetricsResult",
    "PathwayNumbers",
    "PathwaysState",
    "People",
    "Rules",
    "Series",
    "Stage",
    "State",
    "Sweep",
    "as_of_counts",
    "as_of_public",
    "as_of_scopes",
    "as_of_update",
    "cache_clear",
    "cache_dir",
    "cache_held",
    "cache_hold",
    "cohort_table",
    "cohorts_compute_state",
    "cohorts_result",
    "cohorts_update",
    "contributions_fetch",
    "metric_run_current_forget",
    "metrics_compute",
    "metrics_compute_state",
    "metrics_partition_plan",
    "metrics_parts",
    "metrics_recompute",
    "metrics_recompute_part",
    "metrics_recompute_partitioned",
    "metrics_update_queued",
    "metrics_recompute_soon",
    "metrics_requests_resend",
    "pathways_compute_state",
    "pathways_result",
    "pathways_update",
    "rules_fingerprint",
    "state_result",
    "weekly_sweep",
]
