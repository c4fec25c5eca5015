"""Any date, any range: the day a dashboard page is "as of", and the weeks its chart shows.

The home, area and source pages read three query parameters, the same words the public API uses:

- `date=YYYY-MM-DD`: the numbers as of that day, in the summary API's meaning (CONTRACTS §5:
  active in the 365 days ending it, new in the 7 days ending it); the chart ends with that day's
  week unless a range is given;
- `start=YYYY-MM-DD` and `end=YYYY-MM-DD`: the first and the last week the chart shows (either may
  be left out).

They arrive from a GET form (an empty field means "not chosen") or from a link anyone may have
written, so each is read strictly and a value that cannot be used is dropped with a reason the page
shows (`DateChoice.problems`, codes turned into sentences by `problem_messages`), and the page falls
back to its default — never an error page. A day is usable from 1970-01-01 (nothing Baloo holds is
older) to today (UTC): a day that has not happened has no numbers. A range spans at most
`MAX_RANGE_YEARS`; the default chart (no range) shows every week. Days before the first contribution
are fine: they count zeros, as the API does.
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from django.http import QueryDict
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EARLIEST_DAY = date(1970, 1, 1)
# More than about a thousand weekly marks is no chart a person can read at any width; the default
# view (no range) already shows every week.
MAX_RANGE_YEARS = 20
MAX_RANGE_DAYS = MAX_RANGE_YEARS * 366

# Why a value was dropped. Codes, not messages, so a page's cache key names them (`DateChoice.key`)
# and each language gets its own sentence.
NOT_A_DATE = "not-a-date"
TOO_EARLY = "too-early"
FUTURE = "future"
RANGE_NOT_A_DATE = "range-not-a-date"
RANGE_TOO_EARLY = "range-too-early"
RANGE_FUTURE = "range-future"
RANGE_ORDER = "range-order"
RANGE_TOO_LARGE = "range-too-large"
BUSY = "busy"


@dataclass(frozen=True)
class DateChoice:
    """What a page was asked to show: a day (None: as of today), a range of weeks (None: every week),
    and the codes of the values that were dropped."""

    day: date | None = None
    start: date | None = None
    end: date | None = None
    problems: tuple[str, ...] = ()

    @property
    def chosen(self) -> bool:
        return bool(self.day or self.start or self.end)

    @property
    def ranged(self) -> bool:
        return bool(self.start or self.end)

    @property
    def week(self) -> date | None:
        """The Sunday of the week holding `day` when it is a Sunday, else of the week before: the
        latest week complete on that day, whose weekly figures (lapsed, levels) the page shows."""
        if self.day is None:
            return None
        return self.day - timedelta(days=(self.day.weekday() + 1) % 7)

    @property
    def key(self) -> str:
        """Names the choice in a page's cache key: parsed values and problem codes only, never raw input."""
        parts = [value.isoformat() if value else "" for value in (self.day, self.start, self.end)]
        return ":".join([*parts, ",".join(self.problems)])

    @property
    def query(self) -> str:
        """`?date=…&start=…&end=…` for links that keep the choice ("" when nothing is chosen)."""
        params = [(name, value.isoformat()) for name, value in self.params()]
        return f"?{urlencode(params)}" if params else ""

    def params(self) -> list[tuple[str, date]]:
        return [
            (name, value) for name, value in (("date", self.day), ("start", self.start), ("end", self.end)) if value
        ]

    def without_day(self, problem: str) -> "DateChoice":
        """The same range as of today, saying why the day was dropped."""
        return DateChoice(None, self.start, self.end, (*self.problems, problem))

    def in_range(self, day: date) -> bool:
        """Whether the chart shows the week ending `day`: inside the range, or up to the chosen day's week."""
        if self.ranged:
            return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)
        return self.week is None or day <= self.week


def _read(raw: str, *, today: date) -> tuple[date | None, str | None]:
    """A day from 1970-01-01 to today, or None and why ("" is no day and no problem)."""
    if raw == "":
        return None, None
    try:
        value = date.fromisoformat(raw) if DATE_PATTERN.fullmatch(raw) else None
    except ValueError:
        value = None
    if value is None:
        return None, NOT_A_DATE
    if value < EARLIEST_DAY:
        return None, TOO_EARLY
    if value > today:
        return None, FUTURE
    return value, None


def date_choice_read(params: QueryDict, *, today: date) -> DateChoice:
    """The page's date and range from its query, each bad value dropped with its reason.

    A bad day drops the day (the numbers are as of today); any bad part of the range drops the whole
    range (the chart shows every week). A parameter given twice counts by its last value.
    """
    problems = []
    day, problem = _read(params.get("date", ""), today=today)
    if problem:
        problems.append(problem)
    start, start_problem = _read(params.get("start", ""), today=today)
    end, end_problem = _read(params.get("end", ""), today=today)
    range_problem = {NOT_A_DATE: RANGE_NOT_A_DATE, TOO_EARLY: RANGE_TOO_EARLY, FUTURE: RANGE_FUTURE}.get(
        start_problem or end_problem or ""
    )
    if range_problem is None and start and end and start > end:
        range_problem = RANGE_ORDER
    if range_problem is None and start and (end or today) - start > timedelta(days=MAX_RANGE_DAYS):
        range_problem = RANGE_TOO_LARGE
    if range_problem:
        problems.append(range_problem)
        start = end = None
    return DateChoice(day, start, end, tuple(problems))


def problem_messages(choice: DateChoice) -> list[str]:
    """Each dropped value as a sentence saying what was wrong and what the page shows instead."""
    earliest = date_format(EARLIEST_DAY, "DATE_FORMAT")
    messages = {
        NOT_A_DATE: _("The day asked for is not a date written YYYY-MM-DD, so the numbers are as of today."),
        TOO_EARLY: _(
            "The day asked for is before %(earliest)s, before anything was counted, so the numbers are as of today."
        )
        % {"earliest": earliest},
        FUTURE: _("The day asked for has not happened yet, so the numbers are as of today."),
        RANGE_NOT_A_DATE: _(
            "The chart’s first or last week is not a date written YYYY-MM-DD, so the chart shows every week."
        ),
        RANGE_TOO_EARLY: _(
            "The chart’s range starts before %(earliest)s, before anything was counted, so the chart shows every week."
        )
        % {"earliest": earliest},
        RANGE_FUTURE: _("The chart’s range reaches a day that has not happened yet, so the chart shows every week."),
        RANGE_ORDER: _("The chart’s range ends before it starts, so the chart shows every week."),
        RANGE_TOO_LARGE: ngettext(
            "The chart’s range is longer than %(years)s year, so the chart shows every week.",
            "The chart’s range is longer than %(years)s years, so the chart shows every week.",
            MAX_RANGE_YEARS,
        )
        % {"years": MAX_RANGE_YEARS},
        BUSY: _("Another day’s numbers are being counted right now, so these are as of today; try again in a minute."),
    }
    return [messages[code] for code in choice.problems]
