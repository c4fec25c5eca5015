"""Layout of the server-rendered SVG charts: plain numbers in, coordinates and localized labels out.

The templates draw what this computes (templates/dashboard/_weekly_chart.html); nothing here
touches the database. Colours and strokes live in the stylesheet as classes, so the SVG works under
a Content Security Policy that forbids inline styles.
"""

from dataclasses import dataclass, field
from datetime import date

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from .selectors import WeekPoint

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 56, 28, 34
TARGET_SHARES = (25, 50, 75, 100)


def number(value: int) -> str:
    """A count in the reader's locale, grouped (1,234 · 1.234 · 1 234)."""
    return number_format(value, force_grouping=True)


def nice_ceiling(value: float) -> int:
    """The smallest round number at or above value whose quarters are round too (at least 4)."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 1.2, 1.6, 2, 3, 4, 6, 8, 10):
        if step * magnitude >= value:
            return int(step * magnitude)
    return int(10 * magnitude)


@dataclass
class Mark:
    """One focusable week on the chart: its column, its line point, its bar, and what it says."""

    index: int
    date: date
    active: int
    new: int
    projected: bool
    x: float
    column_x: float
    y: float
    bar_y: float
    bar_height: float
    label: str


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class TargetLine:
    y: float
    share: int
    value: int
    label: str


@dataclass
class WeeklyChart:
    chart_id: str
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM
    column: float = 0.0
    bar_width: float = 0.0
    marks: list[Mark] = field(default_factory=list)
    active_path: str = ""
    projection_path: str = ""
    future_x: float | None = None
    y_ticks: list[Tick] = field(default_factory=list)
    new_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    targets: list[TargetLine] = field(default_factory=list)
    readout: str = ""

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top

    @property
    def column_width(self) -> float:
        return round(self.column, 2)

    @property
    def future_width(self) -> float:
        return round(self.right - self.future_x, 2) if self.future_x is not None else 0.0

    @property
    def weeks(self) -> list[Mark]:
        return [mark for mark in self.marks if not mark.projected]

    @property
    def projected(self) -> list[Mark]:
        return [mark for mark in self.marks if mark.projected]


def week_label(day: date) -> str:
    return date_format(day, "DATE_FORMAT")


def weekly_chart(
    *, chart_id: str, title: str, points: list[WeekPoint], projection: list[WeekPoint], target: int | None
) -> WeeklyChart:
    """Active contributors as a line (left axis), new contributors as bars (right axis), the goal at
    25/50/75/100 %, and the drop-off projection as a dashed line after the latest week."""
    chart = WeeklyChart(chart_id=chart_id, title=title)
    slots = len(points) + len(projection)
    if not points:
        return chart
    plot_width = chart.right - chart.left
    plot_height = chart.bottom - chart.top
    chart.column = plot_width / slots
    chart.bar_width = max(1.0, round(chart.column * 0.7, 2))
    top_active = nice_ceiling(max([p.active for p in points] + [target or 0]))
    top_new = nice_ceiling(max(p.new for p in points))

    def y_active(value: int) -> float:
        return round(chart.bottom - plot_height * value / top_active, 2)

    def bar_height(value: int) -> float:
        return round(plot_height * value / top_new * 0.45, 2)  # bars use the lower half, under the line

    for index, point in enumerate([*points, *projection]):
        projected = index >= len(points)
        x = round(chart.left + chart.column * (index + 0.5), 2)
        height = 0.0 if projected else bar_height(point.new)
        if projected:
            label = _("Week ending %(date)s: %(active)s still active if nobody contributed again (projection)") % {
                "date": week_label(point.date),
                "active": number(point.active),
            }
        else:
            label = _("Week ending %(date)s: %(active)s active contributors, %(new)s new") % {
                "date": week_label(point.date),
                "active": number(point.active),
                "new": number(point.new),
            }
        chart.marks.append(
            Mark(
                index=index,
                date=point.date,
                active=point.active,
                new=point.new,
                projected=projected,
                x=x,
                column_x=round(chart.left + chart.column * index, 2),
                y=y_active(point.active),
                bar_y=round(chart.bottom - height, 2),
                bar_height=height,
                label=label,
            )
        )
    weeks = chart.weeks
    chart.active_path = " ".join(f"{m.x},{m.y}" for m in weeks)
    if projection:
        chart.projection_path = " ".join(f"{m.x},{m.y}" for m in [weeks[-1], *chart.projected])
        chart.future_x = round(chart.left + chart.column * len(points), 2)
    chart.readout = weeks[-1].label
    chart.y_ticks = [Tick(y_active(top_active * i // 4), number(top_active * i // 4)) for i in range(5)]
    chart.new_ticks = [
        Tick(round(chart.bottom - bar_height(top_new * i // 2), 2), number(top_new * i // 2)) for i in range(3)
    ]
    if target:
        chart.targets = [
            TargetLine(
                y=y_active(target * share / 100),
                share=share,
                value=round(target * share / 100),
                label=_("%(share)s %% of the goal · %(value)s")
                % {"share": number(share), "value": number(round(target * share / 100))},
            )
            for share in TARGET_SHARES
        ]
    # Years on long charts, months on short ones: about a dozen labels at most.
    long_chart = slots > 80
    previous = None
    for mark in chart.marks:
        key = mark.date.year if long_chart else (mark.date.year, mark.date.month)
        if previous is not None and key != previous:
            label = str(mark.date.year) if long_chart else date_format(mark.date, "M")
            chart.x_ticks.append(Tick(mark.column_x, label))
        previous = key
    return chart
