"""The retention table of an area page: its latest quarterly cohorts, and the share of each that came back.

Drawn from the run's stored cohorts (`metrics.selectors.metrics_cohorts`, counted by the engine):
no counting here, no person. The page shows the latest two years of cohorts; the API has them all.
"""

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from conversion_points.models import Population
from metrics.models import MetricRun
from metrics.selectors import metrics_cohorts

# Eight quarters of cohorts: each row then has up to seven quarters after its own.
RECENT_COHORTS = 8


@dataclass(frozen=True)
class RetentionCell:
    """How many of a cohort contributed in a later quarter, and what share of the cohort that is."""

    count: int
    percent: int | None  # None for an empty cohort
    heat: int  # 0 (none) … 5 (most), the shade of the cell
    partial: bool  # the quarter is not over yet


@dataclass(frozen=True)
class RetentionRow:
    start: date
    label: str
    size: int
    partial: bool
    cells: list[RetentionCell | None]  # None: a quarter still to come


def quarter_label(start: date) -> str:
    """"Q2 2024", in the reader's language."""
    return _("Q%(number)s %(year)s") % {"number": (start.month - 1) // 3 + 1, "year": start.year}


def _heat(percent: int | None) -> int:
    return 0 if not percent else 1 + min(4, (percent - 1) // 20)


def retention_table(*, run: MetricRun, scope: str) -> dict:
    """The scope's latest cohorts (volunteers), oldest first, with a column per quarter after joining."""
    data = metrics_cohorts(run=run, scope=scope, population=Population.VOLUNTEERS)
    cohorts = data["cohorts"][-RECENT_COHORTS:]
    latest_partial = bool(cohorts) and cohorts[-1]["partial"]
    columns = max((len(cohort["retained"]) for cohort in cohorts), default=1) - 1
    rows = []
    for cohort in cohorts:
        size, retained = cohort["size"], cohort["retained"]
        cells: list[RetentionCell | None] = []
        for after in range(1, columns + 1):
            if after >= len(retained):
                cells.append(None)
                continue
            percent = round(100 * retained[after] / size) if size else None
            cells.append(
                RetentionCell(retained[after], percent, _heat(percent), latest_partial and after == len(retained) - 1)
            )
        start = date.fromisoformat(cohort["start"])
        rows.append(RetentionRow(start, quarter_label(start), size, cohort["partial"], cells))
    base = reverse("metrics-cohorts")
    return {
        "rows": rows,
        "columns": [ngettext("%(count)s quarter later", "%(count)s quarters later", k) % {"count": k} for k in range(1, columns + 1)],
        "partial": latest_partial,
        "links": {
            "json": f"{base}?{urlencode({'scope': scope})}",
            "csv": f"{base}?{urlencode({'scope': scope, 'format': 'csv'})}",
        },
    }
