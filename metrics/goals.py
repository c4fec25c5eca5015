"""An area's goal plan: how many new contributors a week it needs to reach its target by its target date.

The rules, in the words of the common language (docs/common-language.md, "Goal plan"):

- **Drop-off projection at D**: of the active contributors at the latest computed week L, those who
  would still be active at D if nobody contributed again — a person stays active until 364 days
  after their last contribution, so: those whose last contribution falls on D−364 or later.
- **Weeks left**: the days from today (UTC) to the target date, both counted, in weeks rounded up;
  a target date in the week ahead leaves one week. A target date before today has *passed*.
- **Needed per week** = ⌈(target − projection at the target date) ÷ weeks left⌉, assuming each
  newcomer stays counted until the target date; 0 when the projection alone reaches the target.
- **Pace**: the new contributors of the 12 weeks ending L, from the stored series, ÷ 12 (weeks
  before the area's first contribution had none). The pace is **enough** when it is at least the
  needed number.
"""

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from math import ceil
from typing import Any

from django.db.models import Sum

from conversion_points import contributions
from conversion_points.models import Area, Population

from .models import MetricPoint, MetricRun

PACE_WEEKS = 12


class Status:
    """What a goal plan says, in one word (the API's `status`)."""

    NO_DATE = "no_date"  # a target without a target date: only the pace
    PASSED = "passed"  # the target date is before today
    MET = "met"  # the projection alone reaches the target: no newcomer needed
    ON_TRACK = "on_track"  # the last 12 weeks' pace is enough
    BEHIND = "behind"  # the pace is not enough


@dataclass(frozen=True)
class GoalPlan:
    """One area's goal plan as of `today`, from the run's latest computed week (`from_week`)."""

    status: str
    target: int
    target_date: date | None
    today: date
    from_week: date
    pace_new: int  # new contributors in the PACE_WEEKS weeks ending from_week
    projected: int | None = None  # active at the target date if nobody new joined and nobody came back
    weeks_left: int | None = None
    needed_per_week: int | None = None

    @property
    def pace_weeks(self) -> int:
        return PACE_WEEKS

    @property
    def pace_per_week(self) -> float:
        return self.pace_new / PACE_WEEKS

    @property
    def pace_enough(self) -> bool | None:
        if self.needed_per_week is None:
            return None
        return self.pace_per_week >= self.needed_per_week

    @property
    def gap(self) -> int | None:
        """How many more active contributors than the projection the target asks for (never below 0)."""
        return None if self.projected is None else max(0, self.target - self.projected)

    def public(self) -> dict[str, Any]:
        """The plan as the public API gives it (`goal_plan` of an area in the summary)."""
        return {
            "status": self.status,
            "as_of": self.today.isoformat(),
            "from_week": self.from_week.isoformat(),
            "target": self.target,
            "target_date": self.target_date.isoformat() if self.target_date else None,
            "projected": self.projected,
            "weeks_left": self.weeks_left,
            "needed_per_week": self.needed_per_week,
            "pace_weeks": PACE_WEEKS,
            "pace_new": self.pace_new,
            "pace_per_week": round(self.pace_per_week, 2),
            "pace_enough": self.pace_enough,
        }


def last_contribution_days(*, run: MetricRun, scope: str, population: str = Population.VOLUNTEERS) -> list[date]:
    """The UTC day of each active contributor's last counted contribution at the latest week, sorted.

    One set-based query (`contributions.active_contributors`, the engine's rule): one day per
    person active at that week, so its length is the snapshot's active count.
    """
    if run.latest_week is None:
        return []
    rows = contributions.active_contributors(scope=scope, day=run.latest_week, population=population)
    return sorted(row["last"].astimezone(UTC).date() for row in rows)


def still_active(last_days: Sequence[date], day: date) -> int:
    """The drop-off projection at `day`: of these last contributions (sorted), those on `day`−364 or later."""
    return len(last_days) - bisect_left(last_days, contributions.window_start(day))


def weeks_left(*, today: date, target_date: date) -> int:
    """Weeks from today to the target date, both days counted, rounded up (1 for a date in the week ahead)."""
    return ceil(((target_date - today).days + 1) / 7)


def pace_new(*, run: MetricRun, scope: str, population: str = Population.VOLUNTEERS) -> int:
    """New contributors in the PACE_WEEKS weeks ending the run's latest week, from the stored series."""
    if run.latest_week is None:
        return 0
    first = run.latest_week - timedelta(weeks=PACE_WEEKS - 1)
    points = MetricPoint.objects.filter(run=run, scope=scope, population=population, date__range=(first, run.latest_week))
    return points.aggregate(total=Sum("new"))["total"] or 0


def goal_plan(
    *, area: Area, run: MetricRun, population: str = Population.VOLUNTEERS, today: date | None = None
) -> GoalPlan | None:
    """The area's goal plan as of `today` (UTC today by default); None without a target or computed weeks.

    See the module's docstring for the rules. Costs one sum over the stored series and, when the
    target date is ahead, one query for the projection (`last_contribution_days`).
    """
    if not area.target or run.latest_week is None:
        return None
    today = today or contributions.today_utc()
    scope = f"area:{area.slug}"
    base = {
        "target": area.target,
        "target_date": area.target_date,
        "today": today,
        "from_week": run.latest_week,
        "pace_new": pace_new(run=run, scope=scope, population=population),
    }
    if area.target_date is None:
        return GoalPlan(status=Status.NO_DATE, **base)
    if area.target_date < today:
        return GoalPlan(status=Status.PASSED, weeks_left=0, **base)
    projected = still_active(last_contribution_days(run=run, scope=scope, population=population), area.target_date)
    left = weeks_left(today=today, target_date=area.target_date)
    needed = ceil(max(0, area.target - projected) / left)
    plan = GoalPlan(status=Status.MET, projected=projected, weeks_left=left, needed_per_week=needed, **base)
    if needed == 0:
        return plan
    return GoalPlan(
        status=Status.ON_TRACK if plan.pace_enough else Status.BEHIND,
        projected=projected,
        weeks_left=left,
        needed_per_week=needed,
        **base,
    )
