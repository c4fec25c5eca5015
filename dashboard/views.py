"""The public dashboard: home, area and source pages, overlap, how we count. No login, no personal data.

Pages are drawn from the latest metric run's snapshots. The part of a page that shows numbers is
rendered once per run, language and page and kept in the cache (its key names the run, so a
recompute shows at once); the frame around it (header, language links, footer) is drawn per request.
"""

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse, translate_url
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from activities.models import Source
from conversion_points.contributions import WINDOW_DAYS, today_utc
from conversion_points.models import Area, Campaign
from metrics.campaigns import CampaignEffect, campaign_effects
from metrics.goals import goal_plan
from metrics.models import MetricRun
from metrics.selectors import SummaryBusy, metric_run_current, metrics_summary, summary_counts

from . import as_of, dates, embeds, selectors
from .dates import DateChoice
from .pathways import area_pathways
from .retention import retention_table


def public_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A public dashboard page: GET only, in the reader's language.

    The pages hold no inline script or style, so they run under the site's strict Content
    Security Policy (baloo_site.security); the charts are SVG styled by classes.

    A page opened without a language in its URL (`/`, `/area/support/`) is English unless the
    reader's browser asks for another language (Accept-Language) and the reader has not picked one
    (the language cookie): then it redirects to that language's URL (`/de/…`), which can be shared.
    """

    @require_GET
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if translation.get_language_from_path(request.path_info) is None and (
            settings.LANGUAGE_COOKIE_NAME not in request.COOKIES
        ):
            wanted = translation.get_language_from_request(request, check_path=False)
            if wanted != settings.LANGUAGE_CODE:
                response = HttpResponseRedirect(translate_url(request.get_full_path(), wanted))
                patch_vary_headers(response, ("Accept-Language", "Cookie"))
                return response
        response = view(request, *args, **kwargs)
        patch_vary_headers(response, ("Accept-Language", "Cookie"))
        return response

    return wrapper


def _page(
    request: HttpRequest,
    *,
    name: str,
    template: str,
    build: Callable[[MetricRun], dict],
    choice: DateChoice | None = None,
) -> HttpResponse:
    """Draw a page from the latest run: its numbers once per run, language and date choice, the frame per request.

    A reader without a session (nearly every visitor) gets the whole page from the cache: nothing
    in it depends on who asks, and a page that sets a cookie is never stored.
    """
    if choice is not None:
        name = f"{name}:{choice.key}"
    run = metric_run_current()
    if run is None or run.latest_week is None:
        return render(request, "dashboard/not_computed.html")
    language = translation.get_language()
    # Headlines are "as of today": a page drawn yesterday is not today's, even from the same run.
    today = today_utc().isoformat()
    anonymous = settings.SESSION_COOKIE_NAME not in request.COOKIES and not request.META.get("QUERY_STRING")
    # The host too: without BALOO_SITE_URL, the snippets of "Use these numbers elsewhere" name the
    # address the page was asked at, and one visitor's Host must never be served to the others.
    whole_page = selectors.run_key(run=run, name=f"whole:{today}:{language}:{request.get_host()}:{request.path}")
    if anonymous and (html := cache.get(whole_page)) is not None:
        return HttpResponse(html)

    def draw() -> tuple[str, str]:
        context = build(run)
        context["run"] = run
        return context["title"], render_to_string(template, context)

    if choice is not None and choice.ranged:
        # A range only narrows the charts: drawn for each request (they are rate limited) and never
        # stored, so arbitrary ranges cannot fill the cache.
        title, content = draw()
    else:
        title, content = selectors.run_cached(run=run, name=f"page:{today}:{language}:{name}", build=draw)
    # The content was rendered by our own template (auto-escaped), so it is safe as it is.
    response = render(request, "dashboard/page.html", {"title": title, "content": mark_safe(content)})
    if anonymous and not response.cookies:
        cache.set(whole_page, response.content, selectors.CACHE_SECONDS)
    return response


def api_links(scope: str, choice: DateChoice | None = None) -> dict[str, str]:
    """The public metrics API URLs of a scope's series, as JSON and as CSV (the chart's weeks when chosen)."""
    base = reverse("metrics-series")
    params = {"scope": scope}
    if choice is not None and choice.ranged:
        params.update(
            {name: value.isoformat() for name, value in (("start", choice.start), ("end", choice.end)) if value}
        )
    elif choice is not None and choice.week:
        params["end"] = choice.week.isoformat()
    return {
        "json": f"{base}?{urlencode(params)}",
        "csv": f"{base}?{urlencode({**params, 'format': 'csv'})}",
    }


def _summary_links(choice: DateChoice | None = None) -> dict[str, str]:
    base = reverse("metrics-summary")
    if choice is not None and choice.day:
        day = choice.day.isoformat()
        return {
            "json": f"{base}?{urlencode({'date': day})}",
            "csv": f"{base}?{urlencode({'date': day, 'format': 'csv'})}",
        }
    return {"json": base, "csv": f"{base}?format=csv"}


def _date_choice(request: HttpRequest) -> DateChoice:
    """The page's day and chart range (`dashboard.dates`). A day other than a computed Sunday is counted on
    demand, one day at a time site-wide: when another request is counting one, the page is as of today and
    says so, rather than wait or fail."""
    choice = dates.date_choice_read(request.GET, today=today_utc())
    run = metric_run_current()
    if choice.day is not None and run is not None and run.latest_week is not None:
        try:
            summary_counts(run=run, day=choice.day, population=selectors.Population.VOLUNTEERS)
        except SummaryBusy:
            choice = choice.without_day(dates.BUSY)
    return choice


def _date_form(choice: DateChoice, page_url: str) -> dict:
    """What the date form (templates/dashboard/_date_form.html) shows: the choice, the problems, the limits."""
    return {
        "choice": choice,
        "dated": choice.query,
        "date_problems": dates.problem_messages(choice),
        "page_url": page_url,
        "earliest_day": dates.EARLIEST_DAY,
        "today": today_utc(),
    }


def _shows_projection(run: MetricRun, choice: DateChoice) -> bool:
    """The drop-off projection starts at the latest week, as of today: drawn only when the chart reaches it."""
    return choice.day is None and (choice.end is None or choice.end >= run.latest_week)


@public_page
def home(request: HttpRequest) -> HttpResponse:
    """The de-duplicated count of active contributors, its trend, the goal and the drop-off projection.

    `?date=` shows the numbers as of that day, `?start=`/`?end=` limit the chart (`dashboard.dates`)."""
    choice = _date_choice(request)

    def build(run: MetricRun) -> dict:
        # As of today (BRIEF): active in the 365 days ending today, new in the 7 days ending today.
        summary = metrics_summary(run=run, day=choice.day, population=selectors.Population.VOLUNTEERS)
        target, target_kind = selectors.site_target()
        projection = _projection(run, "all") if _shows_projection(run, choice) else []
        half_year = projection[25].active if len(projection) > 25 else 0
        sources = {source.slug: source for source in selectors.sources_for_dashboard()}
        return {
            "title": _("Are we a million?"),
            "summary": summary,
            "as_of": date.fromisoformat(summary["date"]),
            "points": as_of.chart_points(run=run, scope="all", choice=choice),
            "projection": projection,
            "projection_half_year": half_year,
            "target": target,
            "target_kind": target_kind,
            "areas": [_with_plan_date(area) for area in summary["areas"]],
            "sources": [s for s in summary["sources"] if s["slug"] in sources],
            "series_links": api_links("all", choice),
            "summary_links": _summary_links(choice),
            **_date_form(choice, reverse("home")),
            "campaigns": _campaigns(run),
            "campaign_links": _campaign_links(),
        }

    return _page(request, name="home", template="dashboard/_home.html", build=build, choice=choice)


def _with_plan_date(area: dict) -> dict:
    """An area of the summary, its goal plan (the API's form) with its target date as a date for the page."""
    plan = area.get("goal_plan")
    if plan and plan["target_date"]:
        plan = {**plan, "date": date.fromisoformat(plan["target_date"])}
    return {**area, "goal_plan": plan}


def _campaigns(run: MetricRun, area: Area | None = None) -> list[CampaignEffect]:
    """Every campaign (or an area's), oldest first, with its effect in each of its areas (or in `area` only)."""
    campaigns = Campaign.objects.prefetch_related("areas").order_by("start", "slug")
    if area is not None:
        campaigns = campaigns.filter(areas=area)
    return campaign_effects(run=run, campaigns=campaigns, area=area)


def _campaign_links(area: Area | None = None) -> dict[str, str]:
    base = reverse("metrics-campaigns")
    query = {"area": area.slug} if area is not None else {}
    return {
        "json": f"{base}?{urlencode(query)}" if query else base,
        "csv": f"{base}?{urlencode({**query, 'format': 'csv'})}",
    }


def _conversion_points(run: MetricRun, points: list, choice: DateChoice) -> list[dict]:
    scopes = [f"cp:{point.slug}" for point in points]
    if choice.week:
        counts = as_of.week_active_by_scope(run=run, scopes=scopes, day=choice.week)
    else:
        counts = selectors.latest_active_by_scope(run=run, scopes=scopes)
    return [
        {"point": point, "active": counts[f"cp:{point.slug}"], "links": api_links(f"cp:{point.slug}", choice)}
        for point in points
    ]


def _scope_context(run: MetricRun, *, scope: str, target: int | None, choice: DateChoice) -> dict:
    """An area's or a system's figures, chart and levels: at the latest week, or as of the chosen day.

    As of a day, active and new are the summary's (the 365 and the 7 days ending it); lapsed, the
    levels and each rule's count are of the latest week complete that day (`DateChoice.week`).
    """
    every_week = selectors.series_points(run=run, scope=scope)
    latest = every_week[-1] if every_week else selectors.WeekPoint(run.latest_week, 0, 0, 0)
    if choice.day:
        _day, counted = summary_counts(run=run, day=choice.day, population=selectors.Population.VOLUNTEERS)
        row = counted["scopes"].get(scope) or {"active": 0, "new": 0}
        week = as_of.week_point(run=run, scope=scope, day=choice.week)
        latest = selectors.WeekPoint(choice.day, row["active"], row["new"], week.lapsed)
        levels = as_of.week_levels(run=run, scope=scope, day=choice.week)
    else:
        levels = selectors.run_cached(
            run=run, name=f"levels:{scope}", build=lambda: selectors.scope_levels(run=run, scope=scope)
        )
    return {
        "scope": scope,
        "points": [point for point in every_week if choice.in_range(point.date)],
        "latest": latest,
        "figures_day": latest.date,
        "projection": _projection(run, scope) if _shows_projection(run, choice) else [],
        "levels": levels,
        "target": target,
        "series_links": api_links(scope, choice),
    }


@public_page
def area_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One area: its trend and goal, its people by level, who stays (its cohorts), and the rules that count them
    (any day: `dashboard.dates`)."""
    choice = _date_choice(request)
    reuse = embeds.reuse_links(f"area:{slug}", request=request)

    def build(run: MetricRun) -> dict:
        area = Area.objects.filter(slug=slug).first()
        if area is None:
            raise Http404(_("No such area."))
        points = list(selectors.scope_conversion_points(scope=f"area:{slug}").order_by("level", "slug"))
        return {
            "title": area.name,
            "area": area,
            "retention": retention_table(run=run, scope=f"area:{slug}"),
            "pathways": area_pathways(run=run, area=area),
            "conversion_points": _conversion_points(run, points, choice),
            "reuse": reuse.with_name(area.name),
            "plan": goal_plan(area=area, run=run),
            "campaigns": _campaigns(run, area),
            "campaign_links": _campaign_links(area),
            **_scope_context(run, scope=f"area:{slug}", target=area.target, choice=choice),
            **_date_form(choice, reverse("dashboard:area", args=[slug])),
        }

    name = f"area:{slug}:{reuse.base}"
    return _page(request, name=name, template="dashboard/_area.html", build=build, choice=choice)


@public_page
def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One system: its trend, its people by level, and the rules (of every area) that count its activities
    (any day: `dashboard.dates`)."""
    choice = _date_choice(request)
    reuse = embeds.reuse_links(f"source:{slug}", request=request)

    def build(run: MetricRun) -> dict:
        source = Source.objects.filter(slug=slug).first()
        if source is None:
            raise Http404(_("No such system."))
        points = list(
            selectors.scope_conversion_points(scope=f"source:{slug}").order_by("area__position", "area__slug", "slug")
        )
        return {
            "title": source.name,
            "source": source,
            "conversion_points": _conversion_points(run, points, choice),
            "reuse": reuse.with_name(source.name),
            **_scope_context(run, scope=f"source:{slug}", target=None, choice=choice),
            **_date_form(choice, reverse("dashboard:source", args=[slug])),
        }

    name = f"source:{slug}:{reuse.base}"
    return _page(request, name=name, template="dashboard/_source.html", build=build, choice=choice)


@public_page
def overlap(request: HttpRequest) -> HttpResponse:
    """Which areas share their active contributors, and where the people who stopped went."""

    def build(run: MetricRun) -> dict:
        return {
            "title": _("Overlap between areas"),
            "summary_links": _summary_links(),
            **selectors.overlap_matrix(run=run),
        }

    return _page(request, name="overlap", template="dashboard/_overlap.html", build=build)


# The worked example on "How we count": Ann's two contributions, and the Sundays they decide. What
# each contribution is — which rule of which area counts it — is read from the installed rules
# (`selectors.worked_example_points`), so the example follows them.
EXAMPLE = {
    "first": date(2024, 3, 5),  # a Tuesday: her first contribution
    "first_week_start": date(2024, 3, 4),
    "first_sunday": date(2024, 3, 10),  # the week she is new
    "first_window_start": date(2023, 3, 12),
    "second": date(2024, 6, 12),  # her second, in another area, from another address
    "last_active_sunday": date(2025, 6, 8),  # window 2024-06-09 … 2025-06-08 still holds 12 June 2024
    "last_active_window_start": date(2024, 6, 9),
    "lapsed_sunday": date(2025, 6, 15),  # window 2024-06-16 … 2025-06-15 holds nothing of hers
    "lapsed_window_start": date(2024, 6, 16),
}


@public_page
def how_we_count(request: HttpRequest) -> HttpResponse:
    """Every rule behind the numbers, in plain words, with a worked example: the one page on counting.

    Each number on the dashboard and each help page links to one of its anchors; it is also a help page
    (the help navigation marks it), and the help's old address, /help/how-baloo-counts/, redirects here.
    """
    context = {
        "section": "counts",
        "example": EXAMPLE,
        "example_points": selectors.worked_example_points(),
        "window_days": WINDOW_DAYS,
        # The cohorts section links to a real retention table: the first area's.
        "retention_area": Area.objects.order_by("position", "slug").first(),
    }
    return render(request, "dashboard/how_we_count.html", context)


@require_GET
def language_switch(request: HttpRequest, code: str) -> HttpResponse:
    """Remember the reader's language and show `next` in it. A link, so switching works without forms or scripts."""
    if code not in dict(settings.LANGUAGES):
        raise Http404(_("No such language."))
    target = request.GET.get("next") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    # A path resolves only in its own language (/fr/… while French is active), then reverses in the new one.
    with translation.override(translation.get_language_from_path(target) or settings.LANGUAGE_CODE):
        response = HttpResponseRedirect(translate_url(target, code))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        code,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


def _projection(run: MetricRun, scope: str):
    """The drop-off projection is the same in every language: computed once per run and scope."""
    return selectors.run_cached(
        run=run, name=f"projection:{scope}", build=lambda: selectors.dropoff_projection(run=run, scope=scope)
    )
