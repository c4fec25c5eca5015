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
from conversion_points.models import Area
from metrics.models import MetricRun
from metrics.selectors import metric_run_current, metrics_summary

from . import selectors
from .pathways import area_pathways


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


def _page(request: HttpRequest, *, name: str, template: str, build: Callable[[MetricRun], dict]) -> HttpResponse:
    """Draw a page from the latest run: its numbers once per run and language, the frame per request.

    A reader without a session (nearly every visitor) gets the whole page from the cache: nothing
    in it depends on who asks, and a page that sets a cookie is never stored.
    """
    run = metric_run_current()
    if run is None or run.latest_week is None:
        return render(request, "dashboard/not_computed.html")
    language = translation.get_language()
    # Headlines are "as of today": a page drawn yesterday is not today's, even from the same run.
    today = today_utc().isoformat()
    anonymous = settings.SESSION_COOKIE_NAME not in request.COOKIES and not request.META.get("QUERY_STRING")
    whole_page = selectors.run_key(run=run, name=f"whole:{today}:{language}:{request.path}")
    if anonymous and (html := cache.get(whole_page)) is not None:
        return HttpResponse(html)

    def draw() -> tuple[str, str]:
        context = build(run)
        context["run"] = run
        return context["title"], render_to_string(template, context)

    title, content = selectors.run_cached(run=run, name=f"page:{today}:{language}:{name}", build=draw)
    # The content was rendered by our own template (auto-escaped), so it is safe as it is.
    response = render(request, "dashboard/page.html", {"title": title, "content": mark_safe(content)})
    if anonymous and not response.cookies:
        cache.set(whole_page, response.content, selectors.CACHE_SECONDS)
    return response


def api_links(scope: str) -> dict[str, str]:
    """The public metrics API URLs of a scope's series, as JSON and as CSV."""
    base = reverse("metrics-series")
    return {
        "json": f"{base}?{urlencode({'scope': scope})}",
        "csv": f"{base}?{urlencode({'scope': scope, 'format': 'csv'})}",
    }


def _summary_links() -> dict[str, str]:
    base = reverse("metrics-summary")
    return {"json": base, "csv": f"{base}?format=csv"}


@public_page
def home(request: HttpRequest) -> HttpResponse:
    """The de-duplicated count of active contributors, its trend, the goal and the drop-off projection."""

    def build(run: MetricRun) -> dict:
        # As of today (BRIEF): active in the 365 days ending today, new in the 7 days ending today.
        summary = metrics_summary(run=run, day=None, population=selectors.Population.VOLUNTEERS)
        target, target_kind = selectors.site_target()
        projection = _projection(run, "all")
        half_year = projection[25].active if len(projection) > 25 else 0
        sources = {source.slug: source for source in selectors.sources_for_dashboard()}
        return {
            "title": _("Are we a million?"),
            "summary": summary,
            "as_of": date.fromisoformat(summary["date"]),
            "points": selectors.series_points(run=run, scope="all"),
            "projection": projection,
            "projection_half_year": half_year,
            "target": target,
            "target_kind": target_kind,
            "areas": summary["areas"],
            "sources": [s for s in summary["sources"] if s["slug"] in sources],
            "series_links": api_links("all"),
            "summary_links": _summary_links(),
        }

    return _page(request, name="home", template="dashboard/_home.html", build=build)


def _conversion_points(run: MetricRun, points: list) -> list[dict]:
    counts = selectors.latest_active_by_scope(run=run, scopes=[f"cp:{point.slug}" for point in points])
    return [
        {"point": point, "active": counts[f"cp:{point.slug}"], "links": api_links(f"cp:{point.slug}")}
        for point in points
    ]


def _scope_context(run: MetricRun, *, scope: str, target: int | None) -> dict:
    points = selectors.series_points(run=run, scope=scope)
    latest = points[-1] if points else selectors.WeekPoint(run.latest_week, 0, 0, 0)
    return {
        "scope": scope,
        "points": points,
        "latest": latest,
        "projection": _projection(run, scope),
        "levels": selectors.run_cached(
            run=run, name=f"levels:{scope}", build=lambda: selectors.scope_levels(run=run, scope=scope)
        ),
        "target": target,
        "series_links": api_links(scope),
    }


@public_page
def area_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One area: its trend and goal, its people by level, and the rules that count them."""

    def build(run: MetricRun) -> dict:
        area = Area.objects.filter(slug=slug).first()
        if area is None:
            raise Http404(_("No such area."))
        points = list(selectors.scope_conversion_points(scope=f"area:{slug}").order_by("level", "slug"))
        return {
            "title": area.name,
            "area": area,
            "conversion_points": _conversion_points(run, points),
            "pathways": area_pathways(run=run, area=area),
            **_scope_context(run, scope=f"area:{slug}", target=area.target),
        }

    return _page(request, name=f"area:{slug}", template="dashboard/_area.html", build=build)


@public_page
def source_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One system: its trend, its people by level, and the rules (of every area) that count its activities."""

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
            "conversion_points": _conversion_points(run, points),
            **_scope_context(run, scope=f"source:{slug}", target=None),
        }

    return _page(request, name=f"source:{slug}", template="dashboard/_source.html", build=build)


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
