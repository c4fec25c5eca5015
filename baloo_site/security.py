"""Rate limits on the endpoints worth abusing (the Content Security Policy is django-csp's, in settings).

django-ratelimit does the counting (`get_usage`: a fixed window per client in the cache). What it
counts is ours, in one middleware: the push API, the login form, the public form and what other
sites show (the badge, the chart) are views of four apps (the login form is Django's own), so its
per-view decorator would be four doors to keep alike; the scopes and their rates come from the
environment (`BALOO_RATE_LIMITS`, "off" lifts one for a load test); a push counts against its
token, read as the push API reads it, and failed authentications against the client's address, so
that neither a spelling of the header nor made-up tokens open a fresh allowance; a cache that is
down lets requests through; and a refusal says when to come back (Retry-After), as a page to a
person (in another site's frame, for the chart) and as JSON to a program.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django_ratelimit.core import get_usage

from activities.tokens import bearer_secret

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- rate limits

RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\w*\s*$")
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Rate:
    requests: int
    seconds: int


def parse_rate(value: str | None) -> Rate | None:
    """`"120/m"`, `"10/5m"`, `"3600/h"` → a Rate; empty, `0` or `off` → None (no limit)."""
    if value is None or value.strip().lower() in ("", "0", "off", "none"):
        return None
    match = RATE.match(value)
    if not match:
        raise ImproperlyConfigured(f"Rate {value!r} is not shaped like 120/m (requests per s, m, h or d).")
    count, multiplier, unit = match.groups()
    return Rate(int(count), int(multiplier or 1) * PERIODS[unit])


# The password forms (the admin's, and the contributors' in development), in any language. Single sign-on is not limited here: its redirect and callback
# guess nothing (the provider checks passwords and limits its own form), and an office behind one
# address signing in together must not lock itself out.
LOGIN_PATH = re.compile(r"^/(?:[a-z]{2}(?:-[a-z]+)?/)?(?:admin/login|sign-in)/$")
# Forms anyone may post without signing in, each stored for a person to read.
PUBLIC_FORM_PATH = re.compile(r"^/(?:[a-z]{2}(?:-[a-z]+)?/)?integrations/request/$")


# The query parameters that make a dashboard page count or draw on demand (dashboard/dates.py).
DATED_PAGE_PARAMS = frozenset({"date", "start", "end"})
# What other sites show (dashboard/embeds.py): the badge, and the chart they may frame, in any language.
BADGE_PATH = "/badge/active.svg"
EMBED_CHART_PATH = re.compile(r"^/(?:[a-z]{2}(?:-[a-z]+)?/)?embed/chart/$")


def rate_scope(request: HttpRequest) -> str | None:
    """Which limit a request counts against: `public_api`, `embed` (the badge and the chart other
    sites show), `push`, `login` (password guesses), `public_form` (a form anyone may post), or none."""
    path = request.path_info
    if path.startswith(("/api/v1/metrics/", "/api/v1/schema/")):
        return "public_api"
    if path == BADGE_PATH or EMBED_CHART_PATH.match(path):
        # Image proxies and offices fetch these for many readers from one address: a limit of its own, generous.
        return "embed"
    if request.method == "GET" and DATED_PAGE_PARAMS.intersection(request.GET):
        # A dashboard page as of a chosen day counts it as the summary API would: the same limit.
        return "public_api"
    if path == "/api/v1/activities/" and request.method == "POST":
        return "push"
    if request.method == "POST" and LOGIN_PATH.match(path):
        return "login"
    if request.method == "POST" and PUBLIC_FORM_PATH.match(path):
        return "public_form"
    return None


def client_address(request: HttpRequest) -> str:
    """The client's address; behind a proxy, the one it appended to settings.BALOO_CLIENT_IP_HEADER."""
    header = settings.BALOO_CLIENT_IP_HEADER
    if header:
        forwarded = [part.strip() for part in request.META.get(header, "").split(",") if part.strip()]
        if forwarded:
            # The rightmost entry is the one our own proxy added; the others are the client's word.
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "")


def _client_key(request: HttpRequest, scope: str) -> str:
    if scope == "push":
        # Each token (each source) has its own allowance, wherever it pushes from: keyed on the
        # secret as the push API reads it, so `bearer`, `BEARER` or extra spaces are the same
        # token. Only a hash of it is kept, so the token itself never reaches the cache or a log.
        secret = bearer_secret(request.headers.get("Authorization", ""))
        if secret:
            return "token:" + hashlib.sha256(b"baloo-rate-limit:" + secret.encode()).hexdigest()[:32]
    return "ip:" + client_address(request)


def _failures_key(request: HttpRequest) -> str:
    """Failed authentications count per client address: a made-up token is a fresh bucket each time."""
    return "failed-auth:ip:" + client_address(request)


class RateLimitMiddleware:
    """Fixed-window request counts per client in the cache; over the limit, 429 with Retry-After.

    Limits are settings.BALOO_RATE_LIMITS (from the environment). With several web processes the
    cache must be shared (CACHE_URL=redis://…) for a limit to be one limit; with the local-memory
    cache each process counts on its own. A cache that is down lets requests through: a rate
    limit is worth less than the service it protects.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.rates = {scope: parse_rate(value) for scope, value in settings.BALOO_RATE_LIMITS.items()}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scope = rate_scope(request)
        rate = self.rates.get(scope) if scope else None
        if rate is None:
            return self.get_response(request)
        # An address that failed authentication as often as the limit allows is refused until the
        # window ends, whatever token it tries next; the limit of each token holds besides.
        retry_after = (scope == "push" and self._over_limit(request, scope, rate, _failures_key(request), count=False)) or (
            self._over_limit(request, scope, rate, _client_key(request, scope))
        )
        if retry_after:
            if scope == "login":  # a person at the password form reads a page, not JSON
                from accounts.views import login_throttled

                return login_throttled(request, retry_after=retry_after)
            if scope == "public_form":  # so does a person at a public form
                from community.views import integration_request_throttled

                return integration_request_throttled(request, retry_after=retry_after)
            if scope == "embed" and EMBED_CHART_PATH.match(request.path_info):  # a reader of another site, in its frame
                from dashboard.embeds import embed_chart_throttled

                return embed_chart_throttled(request, retry_after=retry_after)
            return self._refused(scope, rate, retry_after)
        response = self.get_response(request)
        if scope == "push" and response.status_code == HTTPStatus.UNAUTHORIZED:
            self._over_limit(request, scope, rate, _failures_key(request))
        return response

    def _over_limit(self, request: HttpRequest, scope: str, rate: Rate, client: str, *, count: bool = True) -> int:
        """Seconds until the window ends when `client` is over the limit, else 0. The request is
        counted, unless `count` is False (only looking whether earlier ones reached the limit).

        django-ratelimit counts (a fixed window per client in the cache); which client, and what
        a cache that is down means, are ours: it lets requests through."""
        try:
            usage = get_usage(
                request,
                group=f"baloo:{scope}",
                key=lambda group, request: client,
                rate=(rate.requests, rate.seconds),
                increment=count,
            )
        except Exception:  # the cache is down: django-ratelimit lets only some of its errors through
            logger.warning("rate limit cache unavailable; letting %s requests through", scope, exc_info=True)
            return 0
        if usage is None:  # the cache took no count (RATELIMIT_FAIL_OPEN)
            logger.warning("rate limit cache unavailable; letting %s requests through", scope)
            return 0
        seen = usage["count"] if count else usage["count"] + 1
        if seen <= rate.requests:
            return 0
        return max(1, usage["time_left"])

    @staticmethod
    def _refused(scope: str, rate: Rate, retry_after: int) -> JsonResponse:
        response = JsonResponse(
            {
                "error": f"Too many requests: at most {rate.requests} every {rate.seconds} s here. "
                f"Try again in {retry_after} s.",
                "retry_after": retry_after,
            },
            status=HTTPStatus.TOO_MANY_REQUESTS,
        )
        response["Retry-After"] = str(retry_after)
        logger.info("rate limit reached", extra={"scope": scope})
        return response
