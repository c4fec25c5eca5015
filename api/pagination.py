"""Pages of the API's lists: page sizes refused when out of range (never silently ignored), cursors checked."""

import re
from datetime import UTC, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request

from .query import EARLIEST_DAY, LATEST_DAY, whole_number


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
