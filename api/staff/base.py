"""What every staff API view shares: who may call it, strict parameters, errors as JSON or CSV, audited exports.

Authenticated by a personal API token (`Authorization: Token …`), an OpenID Connect access token
from the provider (`Authorization: Bearer …`) or a signed-in admin session. Lists are paginated;
`?format=csv` on a list exports every matching row as CSV instead (audited).

Every answer is in the schema (/api/v1/schema/): an invalid query parameter value (a page_size out
of range, a flag that is not true or false, an unknown format…) is refused with a 400 naming the
parameter, never silently ignored; an unknown object, page or cursor is a 404.
"""

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import ApiTokenAuthentication, OIDCBearerAuthentication
from accounts.models import AuthAudit
from accounts.services import audit_record
from activities.models import Source
from baloo_site.renderers import CSVRenderer
from baloo_site.spreadsheet import csv_writer

AUTHENTICATION = [ApiTokenAuthentication, OIDCBearerAuthentication, SessionAuthentication]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(*, filename: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingHttpResponse:
    """Every row of an export, streamed as they are read (millions of activities never sit in memory)."""
    # Names, titles and identities are typed by people outside: no cell may run as a formula.
    writer = csv_writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


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
