"""Layout of the server-rendered SVG charts: plain numbers in, coordinates and localized labels out.

The templates draw what this computes (templates/dashboard/_weekly_chart.html); nothing here
touches the database. Colours and strokes live in the stylesheet as classes, so the SVG works under
a Content Security Policy that forbids inline styles.

Each weekly chart is drawn twice, and the stylesheet shows one: the wide chart (every week, the
projection, both scales) on screens from 48rem, and a narrow one for phones. The narrow chart's
viewBox is as wide as a 360 px phone's column, so its 11 px labels are drawn at 11 px or more, and
it shows the latest year with one mark per four weeks, so that each mark is at least 24 px wide
for a finger.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .selectors import WeekPoint

TARGET_SHARES = (25, 50, 75, 100)


@dataclass(frozen=True)
class Layout:
    """The drawing area of one kind of chart, in SVG units, and how much of the series it shows."""

    name: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    weeks: int | None = None  # only the latest weeks, or all of them
    mark_every: int = 1  # one focusable mark per this many weeks, the latest week always one
    projection: bool = True


WIDE = Layout("wide", 760, 320, left=64, right=56, top=28, bottom=34)
# A 360 px screen less the page's 1rem margins: 328 px, one SVG unit per pixel. 52 weeks in 320
# units, a mark per 4 weeks: 24.6 px per mark.
NARROW = Layout("narrow", 328, 250, left=4, right=4, top=30, bottom=28, weeks=52, mark_every=4, projection=False)


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
    """One focusable week on the chart: the area that reads it, its line point, and what it says."""

    index: int
    date: date
    active: int
    new: int
    projected: bool
    x: float
    column_x: float
    y: float
    label: str
    hit_width: float = 0.0


@dataclass
class Bar:
    x: float
    y: float
    height: float


@dataclass
class Tick:
    position: float
    label: str


@dataclass
class Band:
    """A campaign on the chart: a shaded range of weeks, numbered as in the legend and the campaigns' table."""

    number: int
    x: float
    width: float
    label_x: float


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
    layout: Layout = WIDE
    target_kind: str = ""
    column: float = 0.0
    bar_width: float = 0.0
    marks: list[Mark] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    active_path: str = ""
    projection_path: str = ""
    future_x: float | None = None
    y_ticks: list[Tick] = field(default_factory=list)
    new_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    targets: list[TargetLine] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    readout: str = ""
    days: list[date] = field(default_factory=list)

    @property
    def width(self) -> int:
        return self.layout.width

    @property
    def height(self) -> int:
        return self.layout.height

    @property
    def left(self) -> int:
        return self.layout.left

    @property
    def right(self) -> int:
        return self.layout.width - self.layout.right

    @property
    def top(self) -> int:
        return self.layout.top

    @property
    def bottom(self) -> int:
        return self.layout.height - self.layout.bottom

    @property
    def narrow(self) -> bool:
        return self.layout is NARROW

    @property
    def plot_height(self) -> int:
        return self.bottom - self.top

    @property
    def future_width(self) -> float:
        return round(self.right - self.future_x, 2) if self.future_x is not None else 0.0

    @property
    def weeks(self) -> list[Mark]:
        return [mark for mark in self.marks if not mark.projected]

    @property
    def projected(self) -> list[Mark]:
        return [mark for mark in self.marks if mark.projected]

    @property
    def latest_week(self) -> Mark | None:
        """The mark the keyboard starts on: the latest complete week, never a projected one."""
        weeks = self.weeks
        return weeks[-1] if weeks else None


def week_label(day: date) -> str:
    return date_format(day, "DATE_FORMAT")


def _week_text(point: WeekPoint, *, projected: bool) -> str:
    if projected:
        return ngettext(
            "Week ending %(date)s: %(active)s still active if nobody contributed again (projection)",
            "Week ending %(date)s: %(active)s still active if nobody contributed again (projection)",
            point.active,
        ) % {"date": week_label(point.date), "active": number(point.active)}
    # Each count agrees with its own words ("1 contributeur actif, dont 2 nouveaux").
    active = ngettext("%(active)s active contributor", "%(active)s active contributors", point.active) % {
        "active": number(point.active)
    }
    new = ngettext("%(new)s new", "%(new)s new", point.new) % {"new": number(point.new)}
    return _("Week ending %(date)s: %(active)s, %(new)s") % {"date": week_label(point.date), "active": active, "new": new}


def weekly_chart(
    *,
    chart_id: str,
    title: str,
    points: list[WeekPoint],
    projection: list[WeekPoint],
    target: int | None,
    target_kind: str = "",
    layout: Layout = WIDE,
    campaigns: Sequence[tuple[date, date]] = (),
) -> WeeklyChart:
    """Active contributors as a line (left axis), new contributors as bars (right axis), the goal at
    25/50/75/100 %, and the drop-off projection as a dashed line after the latest week.

    `layout` NARROW draws the phone's chart: the latest 52 weeks, no projection, a mark per 4 weeks.
    `campaigns` (first and last week of each, numbered from 1 in this order) are shaded where drawn.
    """
    chart = WeeklyChart(chart_id=chart_id, title=title, layout=layout, target_kind=target_kind)
    if layout.weeks:
        points = points[-layout.weeks :]
    if not layout.projection:
        projection = []
    slots = len(points) + len(projection)
    if not points:
        return chart
    plot_width = chart.right - chart.left
    plot_height = chart.bottom - chart.top
    chart.column = plot_width / slots
    chart.bar_width = max(1.0, round(chart.column * 0.7, 2))
    top_active = nice_ceiling(max([p.active for p in points] + [target or 0]))
    top_new = nice_ceiling(max(p.new for p in points))

    def y_active(value: float) -> float:
        return round(chart.bottom - plot_height * value / top_active, 2)

    def bar_height(value: int) -> float:
        return round(plot_height * value / top_new * 0.45, 2)  # bars use the lower half, under the line

    every = layout.mark_every
    line = []
    for index, point in enumerate([*points, *projection]):
        projected = index >= len(points)
        x = round(chart.left + chart.column * (index + 0.5), 2)
        y = y_active(point.active)
        line.append((x, y))
        chart.days.append(point.date)
        if not projected and (height := bar_height(point.new)):
            chart.bars.append(
                Bar(x=round(chart.left + chart.column * index, 2), y=round(chart.bottom - height, 2), height=height)
            )
        # Counted back from the latest week, so the latest week is always a mark.
        if (len(points) - 1 - index) % every and not projected:
            continue
        first_column = max(0, index - every + 1) if not projected else index
        chart.marks.append(
            Mark(
                index=index,
                date=point.date,
                active=point.active,
                new=point.new,
                projected=projected,
                x=x,
                column_x=round(chart.left + chart.column * first_column, 2),
                hit_width=round(chart.column * (index + 1 - first_column), 2),
                y=y,
                label=_week_text(point, projected=projected),
            )
        )
    chart.active_path = " ".join(f"{x},{y}" for x, y in line[: len(points)])
    if projection:
        chart.projection_path = " ".join(f"{x},{y}" for x, y in line[len(points) - 1 :])
        chart.future_x = round(chart.left + chart.column * len(points), 2)
    chart.readout = chart.latest_week.label
    chart.y_ticks = [Tick(y_active(top_active * i // 4), number(top_active * i // 4)) for i in range(5)]
    chart.new_ticks = [
        Tick(round(chart.bottom - bar_height(top_new * i // 2), 2), number(top_new * i // 2)) for i in range(3)
    ]
    if chart.narrow:
        # Inside the plot, the zeros would sit on the months: the baseline needs no number.
        chart.y_ticks = chart.y_ticks[1:]
        chart.new_ticks = chart.new_ticks[1:]
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
    chart.x_ticks = _x_ticks(chart)
    chart.bands = _bands(chart, campaigns)
    return chart


def _bands(chart: WeeklyChart, campaigns: Sequence[tuple[date, date]]) -> list[Band]:
    """Each campaign's weeks that the chart draws (projected weeks too), as a shaded band."""
    bands = []
    for number, (first, last) in enumerate(campaigns, start=1):
        inside = [index for index, day in enumerate(chart.days) if first <= day <= last]
        if not inside:
            continue
        x = round(chart.left + chart.column * inside[0], 2)
        width = round(chart.column * len(inside), 2)
        bands.append(Band(number=number, x=x, width=width, label_x=round(x + width / 2, 2)))
    return bands


def _x_ticks(chart: WeeklyChart) -> list[Tick]:
    """Years on long charts, months on short ones: about a dozen labels at most. The narrow chart
    names the quarters' months only, and a new year by its number."""
    long_chart = len(chart.days) > 80
    ticks = []
    previous = None
    for index, day in enumerate(chart.days):
        key = day.year if long_chart else (day.year, day.month)
        if previous is not None and key != previous:
            if long_chart:
                label = str(day.year)
            elif not chart.narrow:
                label = date_format(day, "M")
            elif day.month == 1:
                label = str(day.year)
            else:
                label = date_format(day, "M") if day.month % 3 == 1 else ""
            if label:
                ticks.append(Tick(round(chart.left + chart.column * index, 2), label))
        previous = key
    return ticks
