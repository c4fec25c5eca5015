"""Baloo's numbers on other sites: an SVG badge and a chart page other sites may frame.

Other systems show Baloo's count rather than counting again (the seed's "content de-duplication").

- **Badge** `GET /badge/active.svg?scope=SCOPE&lang=LANG`: "1,234 active contributors" for a scope
  (`all`, the default, `area:SLUG`, `source:SLUG`, `cp:SLUG`): the scope's active volunteers in the
  latest computed week, the last point of its weekly series — the number its page and
  `/api/v1/metrics/series/` show, so it changes with each metrics run only. The language is `lang`
  (`en`, the default, `de`, `fr`, `es`): one address per language, never the reader's browser
  settings, so every cache between Baloo and the reader keeps the right one. Public and cached
  (`Cache-Control: public, max-age=300`, an `ETag` per run, scope and language), open to every
  origin (CORS). A malformed or unknown scope, or a language Baloo does not speak, answers a plain-text
  404 or 400 that says which.
- **Embeddable chart** `GET /embed/chart/?scope=SCOPE` (`/de/embed/chart/…` in German): the scope's
  weekly chart, its latest number and a link back, on a minimal page. It is the only page other
  sites may frame (`frame-ancestors *`, no `X-Frame-Options`); every other page refuses to be
  framed (settings: `frame-ancestors 'none'`, `X-Frame-Options: DENY`).
- Both are rate limited per address (`BALOO_RATE_LIMIT_EMBED`, baloo_site/security.py), generously:
  image proxies fetch badges for many readers. Over it, 429 with `Retry-After`: JSON for the
  badge, as the public API says it, and a small framable page for the chart.

Names in the badge and the page are typed by community builders (area, system and rule names), so
they are escaped; the badge also drops characters XML cannot hold. Nothing personal is in either.
"""

import hashlib
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.cache import get_conditional_response
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from activities.models import Source
from baloo_site.site_url import site_url
from conversion_points.models import Area, ConversionPoint
from metrics.models import MetricRun
from metrics.selectors import SCOPE_PATTERN, metric_run_current, run_cache_key, scope_exists

from . import selectors
from .charts import number

BADGE_SECONDS = 300  # how long a browser or a proxy may show a badge without asking again
BADGE_HEIGHT = 20
BADGE_PADDING = 6
NAME_LENGTH = 40  # a longer name is cut, so a badge stays a badge
IFRAME_HEIGHT = 620  # the embed page's chart, legend and link at the wide layout


# --------------------------------------------------------------------------- the scope


@dataclass(frozen=True)
class Scope:
    """A scope that exists: its name in the active language, and the page that explains its numbers."""

    scope: str
    name: str
    page_url: str


def scope_read(raw: str | None, *, run: MetricRun) -> Scope | None:
    """The scope named by `raw` (`all` when absent), or None when it is malformed or unknown."""
    scope = raw if raw is not None else "all"
    if not SCOPE_PATTERN.fullmatch(scope) or not scope_exists(scope=scope, run=run):
        return None
    if scope == "all":
        return Scope(scope, _("Everyone"), reverse("home"))
    kind, slug = scope.split(":", 1)
    if kind == "area":
        area = Area.objects.filter(slug=slug).first()
        return Scope(scope, area.name, reverse("dashboard:area", args=[slug])) if area else None
    if kind == "source":
        source = Source.objects.filter(slug=slug).first()
        return Scope(scope, source.name, reverse("dashboard:source", args=[slug])) if source else None
    point = ConversionPoint.objects.filter(slug=slug).select_related("area").first()
    if point is None:
        return None
    return Scope(scope, point.name, f"{reverse('dashboard:area', args=[point.area.slug])}#cp-{point.slug}")


def active_text(count: int) -> str:
    """ "1,234 active contributors" in the active language, the number grouped as its readers write it."""
    return ngettext("%(active)s active contributor", "%(active)s active contributors", count) % {
        "active": number(count)
    }


# --------------------------------------------------------------------------- the badge


def badge_text(value: str) -> str:
    """`value` as badge text: characters XML 1.0 cannot hold (controls) and invisible ones become spaces,
    and a long name is cut."""
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())
    return cleaned if len(cleaned) <= NAME_LENGTH else cleaned[: NAME_LENGTH - 1].rstrip() + "…"


def text_width(text: str) -> int:
    """About how wide `text` is at 11 px in a Verdana-like face; the SVG stretches the text to exactly this
    (`textLength`), so an estimate that is a little off changes the spacing, never the fit."""
    width = 0.0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 11
        elif ch in "fijlrtI.,:;'|!() ":
            width += 4
        elif ch in "mwMW@%":
            width += 10
        elif ch.isupper() or ch.isdigit():
            width += 7.5
        else:
            width += 6.5
    return max(1, round(width))


def badge_svg(*, label: str, value: str, title: str, language: str) -> str:
    """The badge: `label` on grey, `value` on blue, `title` for screen readers (role="img")."""
    label_width, value_width = text_width(label), text_width(value)
    left = label_width + 2 * BADGE_PADDING
    right = value_width + 2 * BADGE_PADDING
    return render_to_string(
        "dashboard/badge.svg",
        {
            "label": label,
            "value": value,
            "title": title,
            "language": language,
            "width": left + right,
            "height": BADGE_HEIGHT,
            "left": left,
            "right": right,
            "label_x": left / 2,
            "value_x": left + right / 2,
            "label_width": label_width,
            "value_width": value_width,
        },
    )


def _plain(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@require_safe
def badge(request: HttpRequest) -> HttpResponse:
    """`/badge/active.svg?scope=…&lang=…`: a scope's active contributors as an SVG badge (see the module)."""
    language = request.GET.get("lang", settings.LANGUAGE_CODE)
    if language not in dict(settings.LANGUAGES):
        return _plain("Unknown language: use lang=" + ", ".join(code for code, _name in settings.LANGUAGES) + ".", 400)
    run = metric_run_current()
    if run is None or run.latest_week is None:
        return _plain("The metrics have not been computed yet; they will be after the next recompute.", 503)
    raw_scope = request.GET.get("scope")
    etag = '"{}"'.format(
        hashlib.sha256(run_cache_key(run=run, namespace="badge", name=f"{language}|{raw_scope}").encode()).hexdigest()[
            :32
        ]
    )
    with translation.override(language):
        scope = scope_read(raw_scope, run=run)
        if scope is None:
            return _plain(
                "Unknown scope: give scope=all, area:SLUG, source:SLUG or cp:SLUG of something Baloo counts.", 404
            )
        not_modified = get_conditional_response(request, etag=etag)
        if not_modified is None:

            def draw() -> str:
                count = selectors.latest_active_by_scope(run=run, scopes=[scope.scope])[scope.scope]
                label = "Baloo" if scope.scope == "all" else badge_text(scope.name)
                value = active_text(count)
                title = _("%(name)s: %(count)s in the 12 months up to %(date)s") % {
                    "name": badge_text(scope.name),
                    "count": value,
                    "date": date_format(run.latest_week, "DATE_FORMAT"),
                }
                return badge_svg(label=label, value=value, title=title, language=language)

            svg = selectors.run_cached(run=run, name=f"badge:{language}:{scope.scope}", build=draw)
            response = HttpResponse(svg, content_type="image/svg+xml")
        else:
            response = not_modified
    response["ETag"] = etag
    response["Cache-Control"] = f"public, max-age={BADGE_SECONDS}"
    return response


# --------------------------------------------------------------------------- the chart other sites may frame


@require_safe
@xframe_options_exempt
@csp_replace({"frame-ancestors": ["*"]})
@csp_replace({"frame-ancestors": ["*"]}, REPORT_ONLY=True)
def embed_chart(request: HttpRequest) -> HttpResponse:
    """`/embed/chart/?scope=…`: a scope's weekly chart for other sites to frame, in the URL's language.

    Drawn once per run, language and scope. No redirect by the reader's browser language: the site
    that frames it chose the address. An unknown scope is a small page that says so (status 404),
    framable too, so the framing site shows a message rather than the browser's refusal.
    """
    run = metric_run_current()
    if run is None or run.latest_week is None:
        return render(
            request, "dashboard/embed_message.html", {"message": _("The numbers have not been computed yet.")}
        )
    scope = scope_read(request.GET.get("scope"), run=run)
    if scope is None:
        message = _("Baloo counts no such area, system or rule: check the scope in the address.")
        return render(request, "dashboard/embed_message.html", {"message": message}, status=404)
    language = translation.get_language()

    def draw() -> str:
        target = None
        if scope.scope.startswith("area:"):
            target = Area.objects.filter(slug=scope.scope.split(":", 1)[1]).values_list("target", flat=True).first()
        points = selectors.series_points(run=run, scope=scope.scope)
        projection = selectors.run_cached(
            run=run,
            name=f"projection:{scope.scope}",
            build=lambda: selectors.dropoff_projection(run=run, scope=scope.scope),
        )
        latest = points[-1].active if points else 0
        context = {
            "scope": scope,
            "run": run,
            "points": points,
            "projection": projection,
            "target": target,
            "active_text": active_text(latest),
            "rules_url": reverse("dashboard:how_we_count"),
        }
        return render_to_string("dashboard/embed_chart.html", context, request=None)

    html = selectors.run_cached(run=run, name=f"embed:{language}:{scope.scope}", build=draw)
    response = HttpResponse(html)
    response["Cache-Control"] = f"public, max-age={BADGE_SECONDS}"
    return response


@xframe_options_exempt
@csp_replace({"frame-ancestors": ["*"]})
@csp_replace({"frame-ancestors": ["*"]}, REPORT_ONLY=True)
def embed_chart_throttled(request: HttpRequest, *, retry_after: int) -> HttpResponse:
    """The chart's answer once many requests came from one address (`BALOO_RATE_LIMIT_EMBED`): a small
    page that says when to try again, framable like the chart, in the language of its address (the
    rate limit answers before the language is read from it)."""
    minutes = max(1, -(-retry_after // 60))
    language = translation.get_language_from_path(request.path_info) or settings.LANGUAGE_CODE
    with translation.override(language):
        message = ngettext(
            "Many requests came from your address in a short time. Please try again in %(minutes)s minute.",
            "Many requests came from your address in a short time. Please try again in %(minutes)s minutes.",
            minutes,
        ) % {"minutes": minutes}
        response = render(request, "dashboard/embed_message.html", {"message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


# --------------------------------------------------------------------------- "use these numbers elsewhere"


@dataclass(frozen=True)
class ReuseLinks:
    """The badge and the embed of a scope as absolute addresses on this site, in the page's language."""

    base: str
    badge_url: str
    embed_url: str

    def with_name(self, name: str) -> dict[str, str]:
        """The addresses and the HTML snippets to copy (escaped once as HTML; the page escapes them again as text)."""
        alt = _("Active contributors in %(name)s, counted by Baloo") % {"name": name}
        title = _("Active and new contributors in %(name)s, every week") % {"name": name}
        return {
            "badge_url": self.badge_url,
            "embed_url": self.embed_url,
            "alt": alt,
            "badge_html": format_html('<img src="{}" alt="{}">', self.badge_url, alt),
            "embed_html": format_html(
                '<iframe src="{}" title="{}" width="100%" height="{}" loading="lazy"></iframe>',
                self.embed_url,
                title,
                IFRAME_HEIGHT,
            ),
        }


def reuse_links(scope: str, *, request: HttpRequest) -> ReuseLinks:
    """Where a scope's badge and embeddable chart are, for other sites (`BALOO_SITE_URL`, else this host)."""
    language = translation.get_language()
    params = {"scope": scope} if language == settings.LANGUAGE_CODE else {"scope": scope, "lang": language}
    base = site_url("/", request=request).removesuffix("/")
    return ReuseLinks(
        base=base,
        badge_url=f"{base}{reverse('badge_active')}?{urlencode(params)}",
        embed_url=f"{base}{reverse('dashboard:embed_chart')}?{urlencode({'scope': scope})}",
    )
