"""The public metrics API (CONTRACTS.md §5): no login, no personal data, JSON or CSV, cached per run."""

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from activities.records import EARLIEST
from baloo_site.renderers import CSVRenderer
from conversion_points.contributions import today_utc
from conversion_points.models import Area, Population

from .models import MetricRun
from .selectors import (
    SummaryBusy,
    metric_run_current,
    metrics_cohorts,
    metrics_pathways,
    metrics_series,
    metrics_summary,
    run_cached,
    scope_exists,
)
from .serializers import (
    CohortsQuerySerializer,
    CohortsSerializer,
    PathwaysQuerySerializer,
    PathwaysSerializer,
    SeriesQuerySerializer,
    SeriesSerializer,
    SummaryQuerySerializer,
    SummarySerializer,
)

CACHE_NAMESPACE = "metrics"  # keys name the run too (`run_cached`), so a recompute makes them unused


class NotComputedYet(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("The metrics have not been computed yet; they will be after the next recompute.")
    default_code = "not_computed"


class CountingBusy(APIException):
    """Another day's summary is being counted on demand (one at a time): come back in a moment."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = _("Another day's numbers are being counted; ask again in a minute.")
    default_code = "busy"
    wait = 60


class MetricsView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer, CSVRenderer]
    query_serializer: type

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        # Errors are always JSON, even when CSV was asked for: a clear message beats a broken file.
        if response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    def query(self, request: Request) -> dict:
        params = {key: value for key, value in request.query_params.items() if key != "format"}
        serializer = self.query_serializer(data=params)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def current_run(self) -> MetricRun:
        """The run every answer reads; 503 before the first recompute."""
        run = metric_run_current()
        if run is None:
            raise NotComputedYet()
        return run

    def known_scope(self, query: dict, run: MetricRun) -> str:
        """The query's scope; 404 when it names nothing Baloo counts (a malformed one was a 400 already)."""
        scope = query["scope"]
        if not scope_exists(scope=scope, run=run):
            raise NotFound(_("Unknown scope %(scope)s.") % {"scope": scope})
        return scope

    def cached(self, run: MetricRun, request: Request, build: Callable[[], Any], *, day: date | None = None) -> Any:
        """`build()` once per run, language, view, query (the format aside: JSON and CSV share the data)
        and `day` (the day an "as of today" answer is for: tomorrow's is another one)."""
        params = urlencode(sorted((k, v) for k, v in request.query_params.items() if k != "format"))
        name = f"{translation.get_language()}|{type(self).__name__}|{params}|{day.isoformat() if day else ''}"
        digest = hashlib.sha256(name.encode()).hexdigest()
        return run_cached(run=run, namespace=CACHE_NAMESPACE, name=digest, build=build)


def population(query: dict) -> str:
    return Population.EVERYONE if query.get("staff") == "include" else Population.VOLUNTEERS


STAFF = OpenApiParameter(
    "staff", OpenApiTypes.STR, enum=["include"], description="“include” counts staff too; bots never count."
)
FORMAT = OpenApiParameter(
    "format", OpenApiTypes.STR, enum=["json", "csv"], description="csv gives the same data as CSV."
)
SCOPE = OpenApiParameter("scope", OpenApiTypes.STR, description="all, area:SLUG, source:SLUG or cp:SLUG (default all).")
UNKNOWN_SCOPE = {404: OpenApiResponse(description="Unknown scope.")}
ERRORS = {
    400: OpenApiResponse(description="A bad parameter; the message says which."),
    503: OpenApiResponse(description="Not computed yet."),
}


class MetricsSummaryView(MetricsView):
    """Active contributors as of today (or an earlier day): everything, each area, each source."""

    query_serializer = SummaryQuerySerializer

    @extend_schema(
        operation_id="metrics_summary",
        parameters=[
            OpenApiParameter(
                "date",
                OpenApiTypes.DATE,
                description="As of this day: active in the 365 days ending it, new in the 7 days ending it. "
                "Default: today; a day that has not happened is refused (400).",
            ),
            STAFF,
            FORMAT,
        ],
        responses={200: SummarySerializer, **ERRORS},
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.query(request)
        run = self.current_run()
        today = today_utc()
        day = query.get("date") or today
        if day > today:
            return Response(
                {
                    "date": [
                        _("%(day)s has not happened yet: numbers are given as of today, %(today)s, or an earlier day.")
                        % {"day": day.isoformat(), "today": today.isoformat()}
                    ]
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        if day < EARLIEST.date():
            # No activity is dated before 1970 (CONTRACTS §1), and the 365 days ending year 1 do not exist.
            return Response(
                {"date": [_("Numbers start on %(earliest)s: ask for that day or a later one.") % {"earliest": EARLIEST.date().isoformat()}]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        # Not asked for a day: as of today, which the run's stored figures answer (`summary_counts`).
        asked = query.get("date")
        try:
            summary = self.cached(
                run, request, lambda: metrics_summary(run=run, day=asked, population=population(query)), day=day
            )
        except SummaryBusy:
            raise CountingBusy() from None
        return Response(summary)

    def csv_rows(self, data: dict) -> tuple[list[str], list[list]]:
        header = [
            "date",
            "window_days",
            "scope",
            "name",
            "active",
            "new",
            "target",
            "sum_of_areas",
            "contributors_ever",
            *GOAL_COLUMNS,
        ]
        rows = [
            [
                data["date"],
                data["window_days"],
                "all",
                "",
                data["active"],
                data["new"],
                "",
                data["sum_of_areas"],
                data["contributors_ever"],
                *goal_cells(None),
            ]
        ]
        for area in data["areas"]:
            rows.append(
                [
                    data["date"],
                    data["window_days"],
                    f"area:{area['slug']}",
                    area["name"],
                    area["active"],
                    area["new"],
                    area["target"] if area["target"] is not None else "",
                    "",
                    "",
                    *goal_cells(area),
                ]
            )
        for source in data["sources"]:
            rows.append(
                [
                    data["date"],
                    data["window_days"],
                    f"source:{source['slug']}",
                    source["name"],
                    source["active"],
                    source["new"],
                    "",
                    "",
                    "",
                    *goal_cells(None),
                ]
            )
        return header, rows


# The summary CSV's last columns: an area's target date and goal plan (`metrics.goals`), empty elsewhere.
GOAL_COLUMNS = ["target_date", "goal_status", "goal_projected", "goal_weeks_left", "goal_needed_per_week",
                "goal_pace_per_week", "goal_pace_enough"]


def goal_cells(area: dict | None) -> list:
    plan = (area or {}).get("goal_plan") or {}
    cells = [(area or {}).get("target_date")]
    cells += [plan.get(key) for key in ("status", "projected", "weeks_left", "needed_per_week", "pace_per_week")]
    enough = plan.get("pace_enough")
    cells.append("" if enough is None else str(enough).lower())
    return ["" if cell is None else cell for cell in cells]


class MetricsSeriesView(MetricsView):
    """One scope's weekly series: active (12 months rolling), new and lapsed, oldest first."""

    query_serializer = SeriesQuerySerializer

    @extend_schema(
        operation_id="metrics_series",
        parameters=[
            SCOPE,
            OpenApiParameter("start", OpenApiTypes.DATE),
            OpenApiParameter("end", OpenApiTypes.DATE),
            STAFF,
            FORMAT,
        ],
        responses={200: SeriesSerializer, **UNKNOWN_SCOPE, **ERRORS},
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.query(request)
        run = self.current_run()
        scope = self.known_scope(query, run)
        return Response(
            self.cached(
                run,
                request,
                lambda: metrics_series(
                    run=run, scope=scope, population=population(query), start=query.get("start"), end=query.get("end")
                ),
            )
        )

    def csv_rows(self, data: dict) -> tuple[list[str], list[list]]:
        header = ["scope", "date", "active", "new", "lapsed", "casual", "active_level", "core"]
        rows = []
        for point in data["points"]:
            levels = point.get("levels") or {}
            rows.append(
                [
                    data["scope"],
                    point["date"],
                    point["active"],
                    point["new"],
                    point["lapsed"],
                    levels.get("casual", ""),
                    levels.get("active", ""),
                    levels.get("core", ""),
                ]
            )
        return header, rows


class MetricsCohortsView(MetricsView):
    """One scope's cohorts per calendar quarter (UTC), and how many of each came back in later quarters."""

    query_serializer = CohortsQuerySerializer

    @extend_schema(
        operation_id="metrics_cohorts",
        description=(
            "A cohort: the counted people (volunteers unless staff=include; never bots) whose first contribution "
            "in the scope falls in that calendar quarter (UTC). retained[k]: how many of them contributed in the "
            "scope during the k-th quarter after it (retained[0] is the size). Every quarter from the first "
            "cohort to the quarter of the latest computed week is listed, empty ones included; a cohort whose "
            "quarter is not over is partial. As CSV: one row per cohort and quarter after it."
        ),
        parameters=[
            SCOPE,
            STAFF,
            FORMAT,
        ],
        responses={200: CohortsSerializer, **UNKNOWN_SCOPE, **ERRORS},
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.query(request)
        run = self.current_run()
        scope = self.known_scope(query, run)
        return Response(
            self.cached(run, request, lambda: metrics_cohorts(run=run, scope=scope, population=population(query)))
        )

    def csv_rows(self, data: dict) -> tuple[list[str], list[list]]:
        """One row per cohort and quarter after it: `quarters_after` k, that quarter's first day, `retained[k]`,
        and whether that quarter is not over (`quarter_partial`: the latest one, when the latest cohort is partial)."""
        header = [
            "scope",
            "period",
            "start",
            "size",
            "partial",
            "quarters_after",
            "quarter_start",
            "quarter_partial",
            "retained",
        ]
        rows = []
        latest_partial = bool(data["cohorts"]) and data["cohorts"][-1]["partial"]
        for cohort in data["cohorts"]:
            last = len(cohort["retained"]) - 1
            begin = date.fromisoformat(cohort["start"])
            for after, retained in enumerate(cohort["retained"]):
                months = begin.month - 1 + 3 * after
                quarter = date(begin.year + months // 12, months % 12 + 1, 1)
                rows.append(
                    [
                        data["scope"],
                        data["period"],
                        cohort["start"],
                        cohort["size"],
                        "true" if cohort["partial"] else "false",
                        after,
                        quarter.isoformat(),
                        "true" if latest_partial and after == last else "false",
                        retained,
                    ]
                )
        return header, rows


class MetricsPathwaysView(MetricsView):
    """An area's pathways: each conversion point as an entry point, and what became of those who entered by it."""

    query_serializer = PathwaysQuerySerializer

    @extend_schema(
        operation_id="metrics_pathways",
        parameters=[
            OpenApiParameter("area", OpenApiTypes.STR, required=True, description="The area's slug."),
            STAFF,
            FORMAT,
        ],
        responses={200: PathwaysSerializer, 404: OpenApiResponse(description="Unknown area."), **ERRORS},
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        query = self.query(request)
        run = self.current_run()
        area = Area.objects.filter(slug=query["area"]).first()
        if area is None:
            raise NotFound(_("Unknown area %(area)s.") % {"area": query["area"]})
        return Response(
            self.cached(run, request, lambda: metrics_pathways(run=run, area=area, population=population(query)))
        )

    def csv_rows(self, data: dict) -> tuple[list[str], list[list]]:
        """The area as a whole first (no conversion point), then each entry point; `left_to` as `area:count` words."""
        header = [
            "area",
            "date",
            "conversion_point",
            "name",
            "level",
            "entered",
            "reached_active",
            "median_weeks_to_active",
            "reached_core",
            "median_weeks_to_core",
            "left",
            "left_to",
            "left_nowhere",
        ]

        def row(point: str, name: str, level: str, numbers: dict) -> list:
            return [
                data["area"],
                data["date"] or "",
                point,
                name,
                level,
                numbers["entered"],
                numbers["reached_active"],
                "" if numbers["median_weeks_to_active"] is None else numbers["median_weeks_to_active"],
                numbers["reached_core"],
                "" if numbers["median_weeks_to_core"] is None else numbers["median_weeks_to_core"],
                numbers["left"],
                " ".join(f"{one['area']}:{one['count']}" for one in numbers["left_to"]),
                numbers["left_nowhere"],
            ]

        rows = [row("", str(_("The area as a whole")), "", data["total"])]
        rows += [row(one["conversion_point"], one["name"], one["level"], one) for one in data["entry_points"]]
        return header, rows
