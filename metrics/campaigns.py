"""A campaign's effect: its areas' new contributors during the campaign, against the 12 weeks before.

The rules, in the words of the common language (docs/common-language.md, "Campaign effect"):

- A campaign's **weeks** are the weeks (Monday to Sunday, UTC, dated on their Sunday) from the one
  holding its first day to the one holding its last day.
- **During**: for each of its areas, the new contributors of the campaign's weeks that are computed,
  from the area's stored series, their number of weeks and their average per week.
- **Before**: the same over the 12 weeks just before the campaign's first week (a week before the
  area's first contribution counts, with no one new).
- A campaign is **planned** while none of its weeks is computed (no figures), **in progress** while
  some are not yet (its figures are partial), and **over** once its last week is computed.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from conversion_points.models import Area, Campaign, Population

from .models import MetricPoint, MetricRun

BEFORE_WEEKS = 12


class Status:
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    OVER = "over"


def sunday_of(day: date) -> date:
    """The Sunday a day's week is dated on."""
    return day + timedelta(days=6 - day.weekday())


@dataclass(frozen=True)
class Stretch:
    """New contributors over some weeks of one area's series."""

    weeks: int
    new: int

    @property
    def per_week(self) -> float | None:
        return self.new / self.weeks if self.weeks else None

    def public(self) -> dict[str, Any]:
        per_week = self.per_week
        return {"weeks": self.weeks, "new": self.new, "per_week": None if per_week is None else round(per_week, 2)}


@dataclass(frozen=True)
class AreaEffect:
    area: Area
    during: Stretch | None
    before: Stretch | None


@dataclass
class CampaignEffect:
    campaign: Campaign
    first_week: date
    last_week: date
    status: str
    areas: list[AreaEffect] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return self.status != Status.OVER

    @property
    def weeks(self) -> int:
        return (self.last_week - self.first_week).days // 7 + 1

    def public(self) -> dict[str, Any]:
        """The campaign as the public API gives it (`/api/v1/metrics/campaigns/`)."""
        campaign = self.campaign
        return {
            "slug": campaign.slug,
            "name": campaign.name,
            "description": campaign.description,
            "start": campaign.start.isoformat(),
            "end": campaign.end.isoformat(),
            "first_week": self.first_week.isoformat(),
            "last_week": self.last_week.isoformat(),
            "status": self.status,
            "partial": self.partial,
            "areas": [
                {
                    "slug": effect.area.slug,
                    "name": effect.area.name,
                    "during": effect.during.public() if effect.during else None,
                    "before": effect.before.public() if effect.before else None,
                }
                for effect in self.areas
            ],
        }


def _sundays(first: date, last: date) -> list[date]:
    return [first + timedelta(weeks=k) for k in range((last - first).days // 7 + 1)] if first <= last else []


def campaign_effects(
    *, run: MetricRun, campaigns: Iterable[Campaign], population: str = Population.VOLUNTEERS, area: Area | None = None
) -> list[CampaignEffect]:
    """Each campaign's weeks, status and, per area (only `area` when given), new contributors during and before.

    One query over the stored series of the campaigns' areas (`MetricPoint`), whatever their number.
    """
    campaigns = list(campaigns)
    latest = run.latest_week
    areas_of = {
        campaign.pk: [a for a in campaign.areas.all() if area is None or a.pk == area.pk] for campaign in campaigns
    }
    scopes = {f"area:{a.slug}" for listed in areas_of.values() for a in listed}
    new: dict[tuple[str, date], int] = {}
    if campaigns and latest is not None and scopes:
        since = min(sunday_of(c.start) for c in campaigns) - timedelta(weeks=BEFORE_WEEKS)
        rows = MetricPoint.objects.filter(
            run=run, population=population, scope__in=scopes, date__gte=since, date__lte=latest
        ).values_list("scope", "date", "new")
        new = {(scope, day): count for scope, day, count in rows}
    effects = []
    for campaign in campaigns:
        first, last = sunday_of(campaign.start), sunday_of(campaign.end)
        if latest is None or first > latest:
            status = Status.PLANNED
        else:
            status = Status.OVER if last <= latest else Status.IN_PROGRESS
        effect = CampaignEffect(campaign=campaign, first_week=first, last_week=last, status=status)
        during_weeks = _sundays(first, min(last, latest)) if status != Status.PLANNED else []
        before_weeks = _sundays(first - timedelta(weeks=BEFORE_WEEKS), first - timedelta(weeks=1))
        for listed in areas_of[campaign.pk]:
            scope = f"area:{listed.slug}"
            if status == Status.PLANNED:
                effect.areas.append(AreaEffect(area=listed, during=None, before=None))
                continue
            effect.areas.append(
                AreaEffect(
                    area=listed,
                    during=Stretch(len(during_weeks), sum(new.get((scope, day), 0) for day in during_weeks)),
                    before=Stretch(len(before_weeks), sum(new.get((scope, day), 0) for day in before_weeks)),
                )
            )
        effects.append(effect)
    return effects
