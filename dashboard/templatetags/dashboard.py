"""Template tags of the public pages: the weekly SVG chart, localized counts and the language links."""

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.urls import reverse, translate_url
from django.utils.formats import number_format
from django.utils.translation import get_language_info

from metrics.campaigns import CampaignEffect

from ..charts import NARROW, WIDE, number, weekly_chart
from ..selectors import WeekPoint

register = template.Library()


@register.inclusion_tag("dashboard/_weekly_chart.html")
def weekly_chart_svg(
    chart_id: str,
    title: str,
    points: list[WeekPoint],
    projection: list[WeekPoint],
    target: int | None,
    target_kind: str = "",
    campaigns: Sequence[CampaignEffect] = (),
) -> dict:
    """The weekly chart as inline SVG, wide and narrow (the stylesheet shows one), with its readout
    and legend; its data table is drawn by the caller. `target_kind` "areas" says on the chart that
    the goal is the areas' goals added up; `campaigns` are shaded, numbered bands, named in the legend."""
    charts = [
        weekly_chart(
            chart_id=chart_id if layout is WIDE else f"{chart_id}-narrow",
            title=title,
            points=points,
            projection=projection,
            target=target,
            target_kind=target_kind,
            layout=layout,
            campaigns=[(effect.first_week, effect.last_week) for effect in campaigns],
        )
        for layout in (WIDE, NARROW)
    ]
    return {"chart": charts[0], "charts": charts, "campaigns": campaigns}


@register.filter
def campaigns_on(day: date, campaigns: Sequence[CampaignEffect]) -> str:
    """The numbers and names of the campaigns whose weeks hold the week ending `day` (the chart table's text)."""
    return ", ".join(
        f"{number}. {effect.campaign.name}"
        for number, effect in enumerate(campaigns, start=1)
        if effect.first_week <= day <= effect.last_week
    )


@register.filter
def per_week(value: float | None) -> str:
    """An average per week, one decimal, in the reader's locale; a dash for none."""
    if value is None:
        return "–"
    # Rounded here, half up: number_format cuts the digits it does not show (1/12 would read 0.0).
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return number_format(rounded, decimal_pos=1, force_grouping=True)


@register.filter
def count(value: int | None) -> str:
    """A count in the reader's locale, grouped; a dash for no value."""
    return "–" if value is None else number(value)


@register.filter
def percent_of(value: int, whole: int | None) -> int | None:
    """Whole percent of value in whole, None without a whole."""
    return round(100 * value / whole) if whole else None


@register.simple_tag(takes_context=True)
def language_links(context: template.Context) -> list[dict]:
    """Each language with a link that shows the current page in it (and remembers the choice)."""
    request = context.get("request")
    path = request.get_full_path() if request is not None else "/"
    links = []
    for code, _name in settings.LANGUAGES:
        info = get_language_info(code)
        target = translate_url(path, code)
        links.append(
            {
                "code": code,
                "name": info["name_local"],
                "url": f"{reverse('language_switch', args=[code])}?{urlencode({'next': target})}",
            }
        )
    return links
