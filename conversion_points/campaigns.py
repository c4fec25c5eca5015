"""What a campaign's dates may be: the one rule the admin and configuration as code both apply.

A campaign is a named push for new contributors in some areas between two days (UTC, both
included). Its effect is counted per week from the stored series (`metrics.campaigns`), so its days
must be days Baloo can count: from 1970, in order, and at most a year long — a longer "campaign" is
the area's normal life, and comparing it with the 12 weeks before says nothing.
"""

from datetime import date

from django.utils.formats import date_format
from django.utils.translation import gettext as _

# The longest campaign: a year, a leap day included.
MAX_CAMPAIGN_DAYS = 366
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def campaign_dates_problem(*, start: date, end: date) -> str:
    """What is wrong with a campaign running from `start` to `end` (both included), in words; "" when nothing is."""
    if start < FIRST_DAY or end > LAST_DAY:
        return _("Give days from %(first)s to %(last)s.") % {"first": date_format(FIRST_DAY), "last": date_format(LAST_DAY)}
    if end < start:
        return _("The last day (%(end)s) comes before the first (%(start)s).") % {
            "end": date_format(end),
            "start": date_format(start),
        }
    if (end - start).days + 1 > MAX_CAMPAIGN_DAYS:
        return _("A campaign lasts at most a year (%(days)s days); this one lasts %(asked)s days.") % {
            "days": MAX_CAMPAIGN_DAYS,
            "asked": (end - start).days + 1,
        }
    return ""
