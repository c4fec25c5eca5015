"""Query parameters as the API reads them: each one parsed strictly, or refused with a 400 naming it.

What people type into a URL is never trusted. A parameter given several times counts by its last
value (as `request.query_params.get` reads it); given empty, it is empty: refused where a date,
number, flag or choice is wanted, never taken for a missing one. A refusal is `{name: message}`,
one parameter at a time, in the order the filters are declared.

Filters of a list are django-filter `FilterSet`s whose filters read their value with one of the
parsers below (`ParsedFilter`), checked by `StrictFilterBackend`. Parameters that filter no query
(the date and status of an area's contributors, which a counting selector takes) are read by a
plain form of the same fields (`query_read`). Dates, moments, ids and flags are parsed here; the few
checks that belong to one endpoint (a search's length, an area's statuses) sit beside it.
"""

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django_filters import Filter
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend
from rest_framework.request import Request

DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# The dates a query may name. Nothing Baloo holds is older than 1970 (an older activity is refused),
# and the counts reach a year back and a week ahead of the date asked, which Python's dates cannot
# do near their ends (years 1 and 9999): such a date is refused with this range, never a 500.
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)
# An id: plain ASCII digits, small enough for a 64-bit column.
MAX_ID = 10**18 - 1
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
# since/until: a date or a date and time.
MOMENT_SCHEMA = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]}


class Refused(ValueError):
    """A parameter's value that cannot be used; the message says what to give instead."""


def out_of_range_message() -> str:
    return _("Give a date from %(earliest)s to %(latest)s.") % {"earliest": EARLIEST_DAY, "latest": LATEST_DAY}


def whole_number(raw: str, *, low: int, high: int) -> int | None:
    """`raw` as a whole number from `low` to `high` (plain ASCII digits), None if it is not one."""
    if not re.fullmatch(r"[0-9]+", raw):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(high)):  # nor int() of thousands of digits
        return None
    value = int(digits)
    return value if low <= value <= high else None


def parse_day(raw: str) -> date:
    """A YYYY-MM-DD date from EARLIEST_DAY to LATEST_DAY."""
    try:
        value = date.fromisoformat(raw) if DATE_PATTERN.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        raise Refused(_("Write the date as YYYY-MM-DD."))
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise Refused(out_of_range_message())
    return value


def parse_moment(raw: str) -> datetime:
    """A date or ISO 8601 date-time as an aware UTC datetime (a date means its midnight), on a day from
    EARLIEST_DAY to LATEST_DAY (UTC)."""
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
            raise Refused(_("Write a date (YYYY-MM-DD) or a date and time in ISO 8601."))
        moment = datetime.combine(day, time.min)
    if not timezone.is_aware(moment):
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    if offset is None or abs(offset) >= timedelta(hours=16):  # PostgreSQL refuses such an offset
        raise Refused(_("That date and time is out of range."))
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, or 9999 west of it
        raise Refused(out_of_range_message()) from None
    if not EARLIEST_DAY <= moment.date() <= LATEST_DAY:
        raise Refused(out_of_range_message())
    return moment


def parse_id(raw: str) -> int:
    """An id: plain ASCII digits up to MAX_ID (no sign, no blank: `12\\n` is refused)."""
    value = whole_number(raw, low=0, high=MAX_ID)
    if value is None:
        raise Refused(_("Give a number."))
    return value


def parse_flag(raw: str) -> bool:
    """`true` or `false`, exactly."""
    if raw not in ("true", "false"):
        raise Refused(_("Use true or false."))
    return raw == "true"


class QueryField(forms.Field):
    """One query parameter read by `parse`: absent is None, anything given (even empty) is parsed or refused."""

    def __init__(self, *, parse: Callable[[str], Any], **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.parse = parse

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.parse(value)
        except Refused as refused:
            raise forms.ValidationError(str(refused)) from None


class ParsedFilter(Filter):
    """A django-filter filter whose value is read by a parser of this module (`parse=`)."""

    field_class = QueryField


def refusal(errors: dict) -> ValidationError:
    """A form's or filter set's errors as the API's 400: the first parameter refused, and its message."""
    name, messages = next(iter(errors.items()))
    return ValidationError({name: messages[0]})


def query_read(form: forms.Form) -> dict[str, Any]:
    """The parameters `form` read (None for each one absent), or the 400 of the first refused."""
    if not form.is_valid():
        raise refusal(form.errors)
    return form.cleaned_data


class StrictFilterBackend(BaseFilterBackend):
    """Filters a list by its view's `filterset_class`, refusing as every other bad parameter is (`refusal`).

    Not django-filter's own `DjangoFilterBackend`: that one answers a list of messages per parameter,
    and its OpenAPI description is guessed from model fields (wrongly for an annotation such as
    `is_staff`, or a parser's strict type); each view describes its parameters with `extend_schema`.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        filterset = view.filterset_class(request.query_params, queryset=queryset, request=request)
        if not filterset.is_valid():
            raise refusal(filterset.errors)
        return filterset.qs
