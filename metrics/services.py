"""The one door into the metrics engine: the data counted changed, so count again soon.

The apps the engine counts from sit below it and never import it. They say what changed with a
signal of their own, sent by the one service that made the change (never by each caller):

- `activities.signals.activities_stored`: the ingestion service stored new activities — whether
  they came from a file, a push, a webhook, a task or a sync;
- `contributors.signals.people_changed`: a merge, unmerge, move, erasure, staff period,
  placeholder or directory import changed who is who;
- `conversion_points.signals.rules_changed`: areas or conversion points changed.

This app connects them all to `counts_out_of_date` (`metrics.apps`).
"""

from typing import Any

from django.db import transaction

from .engine import metrics_recompute_soon


def counts_out_of_date(**_signal: Any) -> None:
    """Ask for a recompute once the change is committed (a rolled-back change asks for nothing).

    Many requests before the recompute starts share one queued run (`metrics_recompute_soon`). Robust:
    the change is already committed, so a broker or database hiccup while asking is logged, not raised;
    the next request after the queued run goes stale sends it again.
    """
    transaction.on_commit(metrics_recompute_soon, robust=True)
