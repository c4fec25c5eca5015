"""The pathways section of an area's page: which first steps grow contributors, from the latest run.

The numbers are the run's (`metrics.selectors.metrics_pathways`, counted by the engine's pathways
stage); this adds what the page needs around them: each share of the entrants and the API's links.
"""

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from conversion_points.models import Area, Population
from metrics.models import MetricRun
from metrics.selectors import metrics_pathways


def _with_shares(numbers: dict[str, Any]) -> dict[str, Any]:
    entered = numbers["entered"]

    def share(part: int) -> int | None:
        return round(100 * part / entered) if entered else None

    return {
        **numbers,
        "active_share": share(numbers["reached_active"]),
        "core_share": share(numbers["reached_core"]),
        "left_share": share(numbers["left"]),
    }


def area_pathways(*, run: MetricRun, area: Area) -> dict[str, Any]:
    """The area's pathways among volunteers (as every public page counts), shares and links added."""
    data = metrics_pathways(run=run, area=area, population=Population.VOLUNTEERS)
    base = reverse("metrics-pathways")
    return {
        **data,
        "total": _with_shares(data["total"]),
        "entry_points": [_with_shares(entry) for entry in data["entry_points"]],
        "links": {
            "json": f"{base}?{urlencode({'area': area.slug})}",
            "csv": f"{base}?{urlencode({'area': area.slug, 'format': 'csv'})}",
        },
    }
