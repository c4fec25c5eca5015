"""The staff API: people with identities, activities, an area's contributors, exports, de-duplication.

Authenticated by a personal API token (`Authorization: Token …`), an OpenID Connect access token
from the provider (`Authorization: Bearer …`) or a signed-in admin session. Lists are paginated;
`?format=csv` on a list exports every matching row as CSV instead (audited).

Every answer is in the schema (/api/v1/schema/): an invalid query parameter value (a page_size out
of range, a flag that is not true or false, an unknown format…) is refused with a 400 naming the
parameter, never silently ignored; an unknown object, page or cursor is a 404.
"""

import io
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db.models import Q, QuerySet
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils import html
from rest_framework.views import APIView

from activities.models import Activity, Source
from baloo_site.spreadsheet import csv_writer
from contributors.keys import email_lowercase
from contributors.models import Identity, Person, StaffPeriod
from contributors.staff import staff_on_q
from conversion_points.models import Area

from .auth import ApiTokenAuthentication, OIDCBearerAuthentication
from .models import AuthAudit
from .permissions import (
    SeesActivities,
    SeesEveryArea,
    SeesPeople,
    activities_for,
    areas_for,
    identities_for,
    people_for,
    people_with_contribution_dates,
    readable_people,
    sees_all_areas,
)
from .selectors import area_contributors, dedup_check
from .services import audit_record

AUTHENTICATION = [ApiTokenAuthentication, OIDCBearerAuthentication, SessionAuthentication]


class CSVRenderer(BaseRenderer):
    """Announces `?format=csv`; exports stream their own response, this renders only errors."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        buffer = io.StringIO()
        writer = csv_writer(buffer, lineterminator="\n")  # messages quote parameters people typed
        writer.writerow(["error"])
        writer.writerows([message] for message in error_messages(data))
        return buffer.getvalue().encode(self.charset)


def error_messages(data: Any, name: str = "") -> Iterator[str]:
    """An error body's messages, one a line, each after the parameter or field it is about."""
    if isinstance(data, dict):
        for key, value in data.items():
            about = name if key in ("detail", "non_field_errors") else f"{name}.{key}" if name else str(key)
            yield from error_messages(value, about)
    elif isinstance(data, list):
        for item in data:
            yield from error_messages(item, name)
    else:
        yield f"{name}: {data}" if name else str(data)


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(*, filename: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingHttpResponse:
    # Names, titles and identities are typed by people outside: no cell may run as a formula.
    writer = csv_writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


# A query parameter given several times counts by its last value (as `request.query_params.get`
# reads it); given empty, it is empty: refused where a date, number, flag or choice is wanted.
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The dates a query may name. Nothing Baloo holds is older than 1970 (an older activity is refused),
# and the counts reach a year back and a week ahead of the date asked, which Python's dates cannot
# do near their ends (years 1 and 9999): such a date is refused with this range, never a 500.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)


def _out_of_range(name: str) -> ValidationError:
    return ValidationError(
        {name: _("Give a date from %(earliest)s to %(latest)s.") % {"earliest": EARLIEST_DAY, "latest": LATEST_DAY}}
    )


def query_date(request: Request, name: str = "date") -> date:
    """A YYYY-MM-DD query parameter from EARLIEST_DAY to LATEST_DAY, today (UTC) when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return timezone.now().astimezone(UTC).date()
    try:
        value = date.fromisoformat(raw) if DATE_PATTERN.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        raise ValidationError({name: _("Write the date as YYYY-MM-DD.")})
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _out_of_range(name)
    return value


def query_moment(request: Request, name: str) -> datetime | None:
    """A date or ISO 8601 date-time query parameter as an aware UTC datetime (a date means its midnight),
    on a day from EARLIEST_DAY to LATEST_DAY (UTC)."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        try:
            day = parse_date(raw) if len(raw) == 10 else None
        except ValueError:
            day = None
        if day is None:
            raise ValidationError({name: _("Write a date (YYYY-MM-DD) or a date and time in ISO 8601.")})
        moment = datetime.combine(day, time.min)
    if not timezone.is_aware(moment):
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    if offset is None or abs(offset) >= timedelta(hours=16):  # PostgreSQL refuses such an offset
        raise ValidationError({name: _("That date and time is out of range.")})
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999 west of it
        raise _out_of_range(name) from None
    if not EARLIEST_DAY <= moment.date() <= LATEST_DAY:
        raise _out_of_range(name)
    return moment


def whole_number(raw: str, *, low: int, high: int) -> int | None:
    """`raw` as a whole number from `low` to `high` (plain ASCII digits), None if it is not one."""
    if not re.fullmatch(r"[0-9]+", raw):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(high)):  # nor int() of thousands of digits
        return None
    value = int(digits)
    return value if low <= value <= high else None


# An id: plain ASCII digits, small enough for a 64-bit column.
MAX_ID = 10**18 - 1
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
# since/until: a date or a date and time.
MOMENT_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}


def query_id(request: Request, name: str) -> int | None:
    """An id query parameter; None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    value = whole_number(raw, low=0, high=MAX_ID)
    if value is None:
        raise ValidationError({name: _("Give a number.")})
    return value


def query_flag(request: Request, name: str) -> bool | None:
    """A true/false query parameter; None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise ValidationError({name: _("Use true or false.")})
    return raw == "true"


class StrictPageSize:
    """`page_size`: a whole number from 1 to `max_page_size`, refused otherwise (not silently ignored)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def check_query(self, request: Request) -> None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and whole_number(raw, low=1, high=self.max_page_size) is None:
            raise ValidationError(
                {self.page_size_query_param: _("Give a whole number from 1 to %(most)s.") % {"most": self.max_page_size}}
            )

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)  # type: ignore[misc]
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
                parameter["description"] = f"Results per page (default {self.page_size})."
        return parameters


class StaffPagination(StrictPageSize, PageNumberPagination):
    def check_query(self, request: Request) -> None:
        super().check_query(request)
        raw = request.query_params.get(self.page_query_param)
        # Past the last page is a 404 (an invalid page), as Django REST framework answers; "last" is the last.
        if raw is not None and raw not in self.last_page_strings and not re.fullmatch(r"0*[1-9][0-9]*", raw):
            raise ValidationError({self.page_query_param: _("Give a page number: a whole number from 1.")})

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class ActivityPagination(StrictPageSize, CursorPagination):
    """Cursor pages: stable and fast however deep, for millions of activities."""

    ordering = ("-occurred_at", "-id")

    def decode_cursor(self, request: Request) -> Cursor | None:
        # A cursor is typed too: its position must be a date and time Baloo could have written there
        # (the database would be asked to compare an activity's date with anything else), or it is
        # an invalid cursor, as Django REST framework answers one it cannot decode.
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not _is_position(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _is_position(raw: str) -> bool:
    """Whether a cursor's position is an aware date and time on a day from EARLIEST_DAY to LATEST_DAY (UTC)."""
    try:
        moment = parse_datetime(raw)
    except ValueError:
        return False
    if moment is None or not timezone.is_aware(moment) or abs(moment.utcoffset() or timedelta()) >= timedelta(hours=16):
        return False
    try:
        return EARLIEST_DAY <= moment.astimezone(UTC).date() <= LATEST_DAY
    except OverflowError:
        return False


class StaffAPIView(APIView):
    authentication_classes = AUTHENTICATION
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        # An unknown ?format= is a bad parameter (Django REST framework would answer 404), and so is an
        # empty one (it would take the default). `force`: an error's answer, whatever the request.
        if not force:
            formats = [renderer.format for renderer in self.get_renderers()]
            raw = request.query_params.get("format")
            if raw is not None and raw not in formats:
                documented = [f for f in formats if f != BrowsableAPIRenderer.format]
                raise ValidationError({"format": _("Use one of: %(formats)s.") % {"formats": ", ".join(documented)}})
        return super().perform_content_negotiation(request, force)

    def handle_exception(self, exc: Exception) -> Response:
        # Django refuses a request of too many parameters or fields, or too large a body, when it is
        # read; left alone, that is its HTML 400 page, not this API's JSON (or CSV) error.
        if isinstance(exc, TooManyFieldsSent | TooManyFilesSent | RequestDataTooBig):
            exc = ParseError(_("Too many parameters or fields, or too large a request."))
        return super().handle_exception(exc)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # No database can store or compare a NUL character: refuse it before any query sees it.
        if any("\x00" in key or "\x00" in value for key, values in request.query_params.lists() for value in [key, *values]):
            raise ValidationError({"detail": _("Query parameters cannot contain NUL characters.")})
        # page and page_size are checked for exports too, which read neither: a bad value is refused alike.
        paginator = getattr(self, "paginator", None)
        if paginator is not None:
            paginator.check_query(request)

    def wants_csv(self) -> bool:
        return getattr(self.request.accepted_renderer, "format", "") == "csv"

    def export(self, *, what: str, count: int, filename: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingHttpResponse:
        details = {"what": what, "filters": export_filters(self.request), "rows": count}
        audit_record(action=AuthAudit.Action.EXPORT, user=self.request.user, details=details, request=self.request)
        return csv_response(filename=filename, header=header, rows=rows)


# An export's audit keeps which filters were used, and only values that name no one: dates, ids, flags,
# choices and a configured source's slug. Free text (a search, a container, types, a cursor) may hold
# an e-mail or a name, so only that it was given is kept; nor are other parameters named, only counted
# (a parameter's name is typed too). Erasing a person then has nothing to find in export audits.
MOMENT_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+(Z|[+-][0-9:]+)?)?")
WHOLE_NUMBER = re.compile(r"[0-9]{1,19}")
AUDITED_VALUES = {
    "date": MOMENT_TEXT, "since": MOMENT_TEXT, "until": MOMENT_TEXT,
    "person": WHOLE_NUMBER, "identity": WHOLE_NUMBER, "page": WHOLE_NUMBER, "page_size": WHOLE_NUMBER,
    "staff": re.compile(r"true|false|include"), "bot": re.compile(r"true|false"), "status": re.compile(r"active|new|lapsed|all"),
}
AUDITED_AS_GIVEN = {"q": "search given", "type": "given", "container": "given", "cursor": "given"}


def export_filters(request: Request) -> dict[str, Any]:
    """What an export's audit records of its query parameters (see above)."""
    filters: dict[str, Any] = {}
    others = 0
    for name, value in request.query_params.items():
        if name == "format":
            continue
        if name in AUDITED_VALUES:
            filters[name] = value if AUDITED_VALUES[name].fullmatch(value) else "given"
        elif name in AUDITED_AS_GIVEN:
            filters[name] = AUDITED_AS_GIVEN[name]
        elif name == "source":
            filters[name] = value if Source.objects.filter(slug=value).exists() else "given"
        else:
            others += 1
    if others:
        filters["other_parameters"] = others
    return filters


CSV_PARAMETER = OpenApiParameter("format", str, enum=["json", "csv"], description="`csv` exports every matching row (audited).")

JSON, CSV, HTML = "application/json", "text/csv", "text/html"
BAD_REQUEST = {
    "type": "object",
    "description": "What is wrong, by parameter or field name (`detail` for the request as a whole): a message, a list "
    "of messages or, for a list's items, messages by position.",
    "minProperties": 1,
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}},
            {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        ]
    },
    "example": {"page_size": "Give a whole number from 1 to 1000."},
}
NOT_FOUND = inline_serializer("NotFound", {"detail": serializers.CharField(help_text="What was not found.")})


def staff_responses(
    ok: Any, *, exports: bool = False, not_found: str = "", not_found_in_csv: bool = False, unrouted: bool = False
) -> dict:
    """What a staff API operation answers: `ok` (200, and a CSV file too when it `exports`), 400 for a bad
    parameter and, if `not_found` says when, 404 (`unrouted`: a path parameter that matches no route
    gets the site's HTML 404 page)."""
    responses: dict = {
        (200, JSON): ok,
        (400, JSON): OpenApiResponse(BAD_REQUEST, description="A bad query parameter or field value; the body says which and why."),
    }
    if exports:
        responses[200, CSV] = OpenApiResponse(OpenApiTypes.STR, description="With `?format=csv`: every matching row, a header first.")
        responses[400, CSV] = OpenApiResponse(OpenApiTypes.STR, description="With `?format=csv`: an `error` column, one message a row.")
    if not_found:
        responses[404, JSON] = OpenApiResponse(NOT_FOUND, description=not_found)
        if not_found_in_csv:
            responses[404, CSV] = OpenApiResponse(OpenApiTypes.STR, description="With `?format=csv`: an `error` column and the message.")
        if unrouted:
            responses[404, HTML] = OpenApiResponse(OpenApiTypes.STR, description="A path parameter of the wrong form: no such page.")
    return responses


# --------------------------------------------------------------------------- people

class IdentitySerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True, help_text="The source it was first seen in (null if none is known)."
    )

    class Meta:
        model = Identity
        fields = ["id", "kind", "namespace", "value", "name", "source"]


class StaffPeriodSerializer(serializers.ModelSerializer):
    """Contributions on these days (UTC, both included; empty: open) count as staff."""

    class Meta:
        model = StaffPeriod
        fields = ["staff_from", "staff_until", "origin"]


class PersonSerializer(serializers.ModelSerializer):
    # What the reader may see (accounts.permissions.readable_people): a community builder, only the
    # identities of the activities they may read, and no name that only other sources report.
    display_name = serializers.CharField(source="shown_name", read_only=True)
    is_staff = serializers.BooleanField(read_only=True, help_text="Staff today (a staff period holds today).")
    staff_periods = StaffPeriodSerializer(many=True, read_only=True)
    identities = IdentitySerializer(many=True, read_only=True)
    # Read from the activities with the page (accounts.permissions.people_with_contribution_dates).
    first_contribution_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Their first contribution (any level), as far as the reader may see."
    )
    last_contribution_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Their latest contribution (any level), as far as the reader may see."
    )

    class Meta:
        model = Person
        fields = [
            "id", "display_name", "is_staff", "staff_periods", "is_bot", "directory_id", "locked",
            "first_contribution_at", "last_contribution_at", "identities",
        ]


# A search longer than any name or identity finds nothing, and SQLite refuses a LIKE pattern of
# 50,000 bytes: such a `q` is refused by name.
MAX_SEARCH_LENGTH = 320


def _people(request: Request) -> QuerySet[Person]:
    user = request.user
    people = readable_people(user=user, people=people_for(user))
    identities = identities_for(user)  # searched and filtered on only as far as the user may read them
    params = request.query_params
    if len(params.get("q", "")) > MAX_SEARCH_LENGTH:
        raise ValidationError({"q": _("Search for at most %(most)s characters.") % {"most": MAX_SEARCH_LENGTH}})
    if params.get("q"):
        text = params["q"].strip()
        # Identities are stored as their keys: e-mails in lower case, user names case-folded.
        values = Q(value__icontains=email_lowercase(text)) | Q(value__icontains=text.casefold())
        people = people.filter(
            Q(shown_name__icontains=text) | Q(pk__in=identities.filter(values).values("person_id"))
        )
    # "Staff" is staff today: a staff period holds today (contributions count by their own day).
    people = people.annotate(is_staff=staff_on_q()).prefetch_related("staff_periods")
    for flag in ("staff", "bot"):
        value = query_flag(request, flag)
        if value is not None:
            people = people.filter(**{f"is_{flag}": value})
    if params.get("source"):
        people = people.filter(pk__in=identities.filter(source__slug=params["source"]).values("person_id"))
    return people_with_contribution_dates(user=user, people=people).order_by("id")


@extend_schema(
    tags=["staff"],
    parameters=[
        OpenApiParameter("q", str, description="Part of a display name, e-mail or user name."),
        OpenApiParameter("staff", bool, description="`true`: staff today only; `false`: no one staff today."),
        OpenApiParameter("bot", bool, description="`true`: bots only; `false`: no bots."),
        OpenApiParameter("source", str, description="Only people with an identity first seen in this source (slug)."),
        CSV_PARAMETER,
    ],
    responses=staff_responses(PersonSerializer, exports=True, not_found="A page past the last."),
)
class PersonListView(StaffAPIView, generics.ListAPIView):
    """People with their identities (staff and administrators)."""

    permission_classes = [IsAuthenticated, SeesPeople]
    serializer_class = PersonSerializer
    pagination_class = StaffPagination

    def get_queryset(self) -> QuerySet[Person]:
        return _people(self.request)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not self.wants_csv():
            return super().list(request, *args, **kwargs)
        people = self.get_queryset()
        rows = (
            [p.pk, p.shown_name, p.is_staff, "; ".join(str(period) for period in p.staff_periods.all()),
             p.is_bot, p.directory_id or "", _iso(p.first_contribution_at),
             _iso(p.last_contribution_at), " ".join(str(i) for i in p.identities.all())]
            for p in people.iterator(chunk_size=2000)
        )
        header = [
            "id", "display_name", "is_staff", "staff_periods", "is_bot", "directory_id",
            "first_contribution_at", "last_contribution_at", "identities",
        ]
        return self.export(what="people", count=people.count(), filename="people.csv", header=header, rows=rows)


@extend_schema(
    tags=["staff"],
    parameters=[OpenApiParameter("id", {"type": "integer", "minimum": 1}, OpenApiParameter.PATH, description="The person's id.")],
    responses=staff_responses(PersonSerializer, not_found="No person has this id.", unrouted=True),
)
class PersonDetailView(StaffAPIView, generics.RetrieveAPIView):
    """One person with their identities."""

    permission_classes = [IsAuthenticated, SeesPeople]
    serializer_class = PersonSerializer
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self) -> QuerySet[Person]:
        # Someone a community builder may not read answers exactly like someone who does not exist.
        user = self.request.user
        people = readable_people(user=user, people=people_for(user)).annotate(is_staff=staff_on_q()).prefetch_related("staff_periods")
        return people_with_contribution_dates(user=user, people=people)


# --------------------------------------------------------------------------- activities

class ActivitySerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    identity = IdentitySerializer(read_only=True, allow_null=True)
    person = serializers.IntegerField(source="identity.person_id", read_only=True, allow_null=True)

    class Meta:
        model = Activity
        fields = ["id", "source", "external_id", "type", "occurred_at", "container", "url", "title", "identity", "person", "data"]


@extend_schema(
    tags=["staff"],
    parameters=[
        OpenApiParameter("source", str, description="Source slug."),
        OpenApiParameter("type", str, description="Activity type; several separated by commas."),
        OpenApiParameter("container", str, description="Exact container, e.g. mozilla/kitsune."),
        OpenApiParameter("since", MOMENT_SCHEMA, description="From this date (its midnight, UTC) or date and time (inclusive)."),
        OpenApiParameter("until", MOMENT_SCHEMA, description="Before this date (its midnight, UTC) or date and time (exclusive)."),
        OpenApiParameter("person", ID_SCHEMA, description="A person's id."),
        OpenApiParameter("identity", ID_SCHEMA, description="An identity's id."),
        CSV_PARAMETER,
    ],
    responses=staff_responses(ActivitySerializer, exports=True, not_found="An invalid cursor."),
)
class ActivityListView(StaffAPIView, generics.ListAPIView):
    """Activities, newest first, with filters (staff and administrators)."""

    permission_classes = [IsAuthenticated, SeesActivities]
    serializer_class = ActivitySerializer
    pagination_class = ActivityPagination

    def get_queryset(self) -> QuerySet[Activity]:
        params = self.request.query_params
        activities = activities_for(self.request.user).select_related("source", "identity__source")
        if params.get("source"):
            activities = activities.filter(source__slug=params["source"])
        if params.get("type"):
            activities = activities.filter(type__in=[t.strip() for t in params["type"].split(",") if t.strip()])
        if params.get("container"):
            activities = activities.filter(container=params["container"])
        since, until = query_moment(self.request, "since"), query_moment(self.request, "until")
        if since:
            activities = activities.filter(occurred_at__gte=since)
        if until:
            activities = activities.filter(occurred_at__lt=until)
        for name, field in (("person", "identity__person_id"), ("identity", "identity_id")):
            value = query_id(self.request, name)
            if value is not None:
                activities = activities.filter(**{field: value})
        return activities

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not self.wants_csv():
            return super().list(request, *args, **kwargs)
        activities = self.get_queryset().order_by("-occurred_at", "-id")
        rows = (
            [a.pk, a.source.slug, a.external_id, a.type, _iso(a.occurred_at), a.container, a.url, a.title,
             str(a.identity) if a.identity else "", a.identity.person_id if a.identity else ""]
            for a in activities.iterator(chunk_size=2000)
        )
        header = ["id", "source", "external_id", "type", "occurred_at", "container", "url", "title", "identity", "person"]
        return self.export(what="activities", count=activities.count(), filename="activities.csv", header=header, rows=rows)


# --------------------------------------------------------------------------- areas

class AreaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["slug", "name", "target"]


@extend_schema(tags=["staff"], responses=staff_responses(AreaSerializer, not_found="A page past the last."))
class AreaListView(StaffAPIView, generics.ListAPIView):
    """The areas whose contributors you may see: all for staff, the ones you own for a community builder."""

    permission_classes = [IsAuthenticated]
    serializer_class = AreaSerializer
    pagination_class = StaffPagination
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def get_queryset(self) -> QuerySet[Area]:
        return areas_for(self.request.user).order_by("position", "slug")


class AreaContributorSerializer(serializers.Serializer):
    person = serializers.IntegerField(source="person.pk")
    display_name = serializers.CharField(source="person.shown_name")
    status = serializers.ChoiceField(
        choices=["active", "new", "lapsed"], help_text="`new` people are active too; `lapsed` ones were active a week before and are not now."
    )
    first_contribution_at = serializers.DateTimeField(help_text="First-ever contribution to this area.")
    last_contribution_at = serializers.DateTimeField(help_text="Latest contribution to this area up to the date.")
    identities = IdentitySerializer(source="person.identities.all", many=True)


STATUSES = {"active": {"active", "new"}, "new": {"new"}, "lapsed": {"lapsed"}, "all": {"active", "new", "lapsed"}}


@extend_schema(
    tags=["staff"],
    parameters=[
        OpenApiParameter("date", OpenApiTypes.DATE, description="The date D (default: today, UTC)."),
        OpenApiParameter("status", str, enum=list(STATUSES), description="`active` (default, new included), `new`, `lapsed` or `all`."),
        OpenApiParameter("staff", str, enum=["include"], description="Count staff too (volunteers only by default)."),
        OpenApiParameter("slug", {"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$"}, OpenApiParameter.PATH, description="The area's slug."),
        CSV_PARAMETER,
    ],
    responses=staff_responses(
        AreaContributorSerializer, exports=True, not_found="No area of yours has this slug, or a page past the last.",
        not_found_in_csv=True, unrouted=True,
    ),
)
class AreaContributorsView(StaffAPIView, generics.ListAPIView):
    """An area's active, new and lapsed contributors for a date. Community builders: their own areas only."""

    permission_classes = [IsAuthenticated]
    serializer_class = AreaContributorSerializer
    pagination_class = StaffPagination

    def get_area(self) -> Area:
        area = areas_for(self.request.user).filter(slug=self.kwargs["slug"]).first()
        if area is None:
            # Another builder's area answers exactly like an area that does not exist.
            raise Http404
        return area

    def get_queryset(self) -> list:  # type: ignore[override]
        status = self.request.query_params.get("status", "active")
        if status not in STATUSES:
            raise ValidationError({"status": _("Use active, new, lapsed or all.")})
        staff = self.request.query_params.get("staff")
        if staff not in (None, "include"):
            raise ValidationError({"staff": _("Use include, or leave staff out.")})
        day = query_date(self.request)
        user = self.request.user
        contributors = area_contributors(
            area=self.get_area(), day=day, include_staff=staff == "include", approved_only=not sees_all_areas(user),
            people=readable_people(user=user, people=Person.objects.all()),
        )
        return [c for c in contributors if c.status in STATUSES[status]]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        if not self.wants_csv():
            return super().list(request, *args, **kwargs)
        contributors = self.get_queryset()
        rows = (
            [c.person.pk, c.person.shown_name, c.status, _iso(c.first_contribution_at), _iso(c.last_contribution_at),
             " ".join(str(i) for i in c.person.identities.all())]
            for c in contributors
        )
        header = ["person", "display_name", "status", "first_contribution_at", "last_contribution_at", "identities"]
        slug = self.kwargs["slug"]
        return self.export(
            what=f"area:{slug}:contributors", count=len(contributors), filename=f"{slug}-contributors.csv", header=header, rows=rows
        )


# --------------------------------------------------------------------------- de-duplication check

class FormDateField(serializers.DateField):
    """A date that, in a form as in JSON, is either given and valid or left out: an empty one is refused
    (Django REST framework would take an empty form field for a missing one)."""

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class TextField(serializers.CharField):
    """Text only: a number is refused, not read as its digits (Django REST framework would take 692 for "692")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DedupRequestSerializer(serializers.Serializer):
    keys = serializers.ListField(
        child=TextField(max_length=400), min_length=1, max_length=1000,
        help_text="E-mail addresses (`ann@example.org`) or source user names (`github-mozilla:ann`).",
    )
    date = FormDateField(required=False, help_text="The date for “active” (default: today, UTC), from 1970-01-01 to 2999-12-31.")

    def validate_date(self, value: date) -> date:
        # Refused as in a query (see EARLIEST_DAY): "active" reaches a year back from the date.
        if not EARLIEST_DAY <= value <= LATEST_DAY:
            raise serializers.ValidationError(
                _("Give a date from %(earliest)s to %(latest)s.") % {"earliest": EARLIEST_DAY, "latest": LATEST_DAY}
            )
        return value


@extend_schema(
    tags=["staff"],
    request=DedupRequestSerializer,
    responses=staff_responses(inline_serializer(
        "DedupCheck",
        {
            "date": serializers.DateField(),
            "results": inline_serializer(
                "DedupResult",
                {
                    "key": serializers.CharField(),
                    "kind": serializers.ChoiceField(choices=["email", "username"], allow_null=True),
                    "known": serializers.BooleanField(),
                    "person": serializers.IntegerField(allow_null=True),
                    "areas": serializers.ListField(child=serializers.CharField(), help_text="Areas where the person is active at the date."),
                    "error": serializers.CharField(required=False),
                },
                many=True,
            ),
            "same_person": inline_serializer(
                "DedupGroup", {"person": serializers.IntegerField(), "keys": serializers.ListField(child=serializers.CharField())}, many=True
            ),
        },
    )),
)
class DedupCheckView(StaffAPIView):
    """De-duplication check: which of these e-mails and user names are known, and which are one person."""

    # It answers about anyone at all, so it is not narrowed to a builder's areas: staff only.
    permission_classes = [IsAuthenticated, SeesPeople, SeesEveryArea]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def post(self, request: Request) -> Response:
        payload = DedupRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        day = payload.validated_data.get("date") or timezone.now().astimezone(UTC).date()
        return Response(dedup_check(keys=payload.validated_data["keys"], day=day))

