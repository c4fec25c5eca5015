"""A polite HTTP client for connectors: retries, backoff, conditional requests, rate limits, a token pool.

Politeness rules, in the order they apply to each request:
- a token whose rate limit is used up rests until its reset time; the next token of the pool is
  used; when every token rests, `RateLimited` tells the caller when to come back (the Celery task
  reschedules itself then instead of blocking a worker);
- `If-None-Match` with a stored ETag: a 304 answer costs no rate limit and no work;
- 403/429 with an exhausted `X-RateLimit-Remaining` (a primary limit): the token rests until
  `X-RateLimit-Reset` and the next one is used; a short wait is waited, a long one becomes
  `RateLimited`;
- 403/429 that is a secondary limit ("abuse detection"): a 429, a `Retry-After`, or a body that
  says "rate limit" or "abuse", with or without `Retry-After`. As GitHub's documentation asks:
  after `Retry-After` when given, else at least a minute, and longer on repeats (`RateLimited`
  says `backoff`, and the sync service doubles the wait for each such run in a row). Never by
  moving on to another token. Any other 403 (a bad token, no access) is a `SourceError`;
- 5xx and connection errors are retried with exponential backoff, then reported as `SourceError`;
- a GraphQL answer (`post_json`) is a 200 even when a limit stopped it: its `errors` saying
  `RATE_LIMITED` (or a secondary limit's words) count like the 403 above.

Shared with every worker syncing with the same token (activities/connectors/budget.py, Django's
cache): a used-up quota, a secondary limit's pause, and the request slots that make requests with
one token take turns.

Where requests go (activities/outbound.py): every request, redirects and URLs read from answers
included, is checked and pinned by `PublicOnlyAdapter`; a refused one ends the sync with a
`SourceError` that says why, and is never retried. Redirects are followed here, one checked hop
at a time, at most `MAX_REDIRECTS` (a GET's only: a GraphQL query is never sent on elsewhere). Tokens go only to the configured origin (scheme, host and
port of `base_url`): never to a host a `Link` header, a payload or a redirect names. What a
remote system says in an error reaches the run record as its status and a short, cleaned reason.
"""

import logging
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson
import requests

from activities.outbound import OutboundRefused, PublicOnlyAdapter, remote_text, url_problem, url_shown

from .budget import SharedBudget

logger = logging.getLogger(__name__)

USER_AGENT = "Baloo-sync/1.0 (+https://github.com/mozilla/baloo)"
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# GitHub asks clients hit by a secondary limit without Retry-After to wait at least a minute.
SECONDARY_LIMIT_WAIT = 60.0
# What a 403 says when it is a secondary limit: GitHub's words have changed over the years
# ("You have triggered an abuse detection mechanism", "You have exceeded a secondary rate limit"),
# and its documentation links name them too.
SECONDARY_LIMIT_WORDS = ("rate limit", "abuse detection", "abuse-rate-limits", "secondary-rate-limits")
MAX_REDIRECTS = 5


class SourceError(Exception):
    """The system answered something a sync cannot use; the message says what, for the run record."""


class NotFound(SourceError):
    """HTTP 404: a deleted or renamed repository, product or page."""


class ServerError(SourceError):
    """A server error (5xx) answered again after every retry; `status` says which."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class RateLimited(Exception):
    """Every token is resting: come back at `resume_at`.

    `secondary`: the system's secondary limit ("abuse detection") stopped the sync. `backoff`: it
    named no time, so `resume_at` is the least wait, and the caller waits longer on each repeat.
    """

    def __init__(self, resume_at: datetime, detail: str, *, secondary: bool = False, backoff: bool = False) -> None:
        super().__init__(f"rate limited until {resume_at:%Y-%m-%d %H:%M:%S} UTC ({detail})")
        self.resume_at = resume_at
        self.detail = detail
        self.secondary = secondary
        self.backoff = backoff

    def later(self, resume_at: datetime) -> "RateLimited":
        """The same limit, waited out until `resume_at` instead."""
        return RateLimited(resume_at, self.detail, secondary=self.secondary, backoff=self.backoff)


@dataclass(slots=True)
class Response:
    url: str
    status: int
    headers: Mapping[str, str]
    data: Any = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def etag(self) -> str:
        return self.headers.get("ETag", "")

    def link(self, rel: str = "next") -> str | None:
        """The URL for `rel` in an RFC 8288 `Link` header, as GitHub paginates."""
        header = self.headers.get("Link", "")
        for part in header.split(","):
            pieces = part.split(";")
            target = pieces[0].strip()
            if not (target.startswith("<") and target.endswith(">")):
                continue
            for parameter in pieces[1:]:
                name, _, value = parameter.strip().partition("=")
                if name.strip() == "rel" and rel in value.strip().strip('"').split():
                    return target[1:-1]
        return None


@dataclass
class TokenPool:
    """Tokens used in turn; one whose limit is used up rests until its reset time.

    Limits are counted per resource: GitHub's REST API (`core`) and its GraphQL API (`graphql`) have
    a quota each, so a token that used up one still serves the other.
    """

    tokens: list[str]
    resting_until: dict[tuple[int, str], datetime] = field(default_factory=dict)
    current: int = 0

    def pick(self, now: datetime, resource: str = "core") -> int | None:
        """The index of a usable token, or None when there is none at all (anonymous access)."""
        if not self.tokens:
            return None
        for offset in range(len(self.tokens)):
            index = (self.current + offset) % len(self.tokens)
            if self.resting_until.get((index, resource), now) <= now:
                self.current = index
                return index
        resting = [until for (_index, kind), until in self.resting_until.items() if kind == resource]
        raise RateLimited(min(resting), f"all {len(self.tokens)} token(s) used up")

    def rest(self, index: int, until: datetime, resource: str = "core") -> None:
        self.resting_until[(index, resource)] = max(until, self.resting_until.get((index, resource), until))


class HttpClient:
    """GET JSON from one system (and POST GraphQL queries to it), counting requests for the run record."""

    def __init__(
        self,
        *,
        base_url: str,
        tokens: list[str] | None = None,
        auth_headers: Callable[[str], dict[str, str]] | None = None,
        max_retries: int = 4,
        backoff: float = 1.0,
        max_wait: float = 5.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] | None = None,
        session: requests.Session | None = None,
        budget: SharedBudget | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        problem = url_problem(self.base_url)
        if problem:
            raise SourceError(problem)
        self.origin = _origin(self.base_url)
        self.pool = TokenPool(list(tokens or []))
        self.auth_headers = auth_headers or (lambda token: {"Authorization": f"Bearer {token}"})
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        self.session = session or requests.Session()
        # Proxies from the environment are read once, not on every request (it costs more than the request).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.trust_env = False
        adapter = PublicOnlyAdapter()
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self.budget = budget or SharedBudget(self.origin, slot_seconds=timeout + 5)
        self.requests_made = 0
        self.not_modified = 0
        self.anonymous_resting_until: datetime | None = None

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    def get(
        self, path_or_url: str, *, params: Mapping[str, Any] | None = None, etag: str = "", headers: Mapping[str, str] | None = None
    ) -> Response:
        """GET and decode JSON. A 304 (with `etag`) comes back with `data=None`."""
        return self._request("GET", path_or_url, params=params, etag=etag, headers=headers)

    def post_json(self, path_or_url: str, payload: Any, *, resource: str = "graphql") -> Response:
        """POST `payload` as JSON (a GraphQL query: it reads, so it is retried like a GET) and decode the answer.

        A GraphQL answer says a limit in its body, with HTTP 200: `errors` of type `RATE_LIMITED`
        (the quota, with `X-RateLimit-Remaining: 0`), or a secondary limit's words. Both are handled
        like the REST API's 403s. Never redirected: a GraphQL endpoint does not move.
        """
        headers = {"Content-Type": "application/json"}
        return self._request("POST", path_or_url, body=orjson.dumps(payload), headers=headers, resource=resource)

    def _request(
        self, method: str, path_or_url: str, *, params: Mapping[str, Any] | None = None, body: bytes | None = None,
        etag: str = "", headers: Mapping[str, str] | None = None, resource: str = "core",
    ) -> Response:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.url(path_or_url)
        attempt = 0
        hops = 0
        limited = 0
        # The end of a limit this request already waited out: it no longer stops it (it stops the others).
        waited_until: datetime | None = None
        while True:
            problem = url_problem(url)
            if problem:
                raise SourceError(problem)
            now = datetime.now(UTC)
            at_origin = _origin(url) == self.origin
            told = self._rest_what_others_used_up(resource, waited_until) if at_origin else None
            if self.anonymous_resting_until and self.anonymous_resting_until > now:
                raise RateLimited(self.anonymous_resting_until, "rate limit used up")
            token_index = self.pool.pick(now, resource)
            # Credentials go only to the configured origin, never to a host a Link header, a payload or a redirect names.
            token = self.pool.tokens[token_index] if token_index is not None and at_origin else None
            if told is not None and (paused := _still(told[token_index or 0].paused_until, waited_until)) is not None:
                # Another sync with this token met a secondary limit: wait it out too, never trip it again.
                limited += 1
                if (paused - now).total_seconds() <= self.max_wait and limited <= self.max_retries:
                    self.sleep(max((paused - now).total_seconds(), 0))
                    waited_until = paused
                    continue
                raise RateLimited(paused, f"secondary rate limit met earlier with the same token at {url_shown(self.base_url)}",
                                  secondary=True)
            request_headers = dict(headers or {})
            if token is not None:
                request_headers.update(self.auth_headers(token))
            if etag:
                request_headers["If-None-Match"] = etag
            try:
                with self.budget.slot(token) if at_origin else nullcontext():
                    if at_origin and self._told_to_wait(token, resource, waited_until):
                        continue  # learnt while waiting for the slot: the top of the loop waits, rests the token or defers
                    self.requests_made += 1
                    raw = self.session.request(method, url, params=params, data=body, headers=request_headers,
                                               timeout=self.timeout, allow_redirects=False)
                    # Told to every worker before the slot is free: the next request, whoever sends it, knows.
                    limit = self._limit_kind(raw, graphql=method == "POST")
                    wait_until, named = self._retry_at(raw) if limit else (None, False)
                    self._note_rate_limit(raw, token_index, token, resource, limit, wait_until, shared=at_origin)
            except OutboundRefused as refused:
                self.requests_made -= 1  # refused before it left: not a request made
                raise SourceError(str(refused)) from None
            except requests.RequestException as error:
                attempt += 1
                if attempt > self.max_retries:
                    raise SourceError(f"{url_shown(url)}: no answer after {attempt} attempts ({_failure(error)})") from None
                self._backoff(attempt, f"connection error: {_failure(error)}")
                continue
            if raw.is_redirect:
                if method != "GET":
                    raise SourceError(f"{url_shown(url)}: redirected (HTTP {raw.status_code}); a query is sent only where it was addressed")
                hops += 1
                if hops > MAX_REDIRECTS:
                    raise SourceError(f"{url_shown(url)}: more than {MAX_REDIRECTS} redirects")
                # The next hop is checked like any request (a refused address ends the sync) and gets no token unless it is the configured origin.
                url, params = urljoin(raw.url, self.session.get_redirect_target(raw) or ""), None
                continue
            if raw.status_code == 304:
                self.not_modified += 1
                return Response(url=raw.url, status=304, headers=raw.headers)
            if limit is not None:
                wait = (wait_until - datetime.now(UTC)).total_seconds()
                limited += 1
                if limit == "primary" and token_index is not None and len(self.pool.tokens) > 1:
                    self.pool.rest(token_index, wait_until, resource)
                    continue
                if wait <= self.max_wait and limited <= self.max_retries:
                    self.sleep(max(wait, 0))
                    waited_until = wait_until
                    continue
                if token_index is not None:
                    self.pool.rest(token_index, wait_until, resource)
                else:
                    self.anonymous_resting_until = wait_until
                if limit == "primary":
                    raise RateLimited(wait_until, f"HTTP {raw.status_code} from {url_shown(url)}")
                said = f": {reason}" if (reason := _reason(raw)) else ""
                raise RateLimited(
                    wait_until, f"secondary rate limit, HTTP {raw.status_code} from {url_shown(url)}{said}",
                    secondary=True, backoff=not named,
                )
            if raw.status_code in TRANSIENT_STATUSES:
                attempt += 1
                if attempt > self.max_retries:
                    raise ServerError(f"{url_shown(url)}: HTTP {raw.status_code} after {attempt} attempts", status=raw.status_code)
                self._backoff(attempt, f"HTTP {raw.status_code}")
                continue
            if raw.status_code == 404:
                raise NotFound(f"{url_shown(url)}: not found (HTTP 404)")
            if raw.status_code >= 400:
                raise SourceError(f"{url_shown(url)}: HTTP {raw.status_code} {_reason(raw)}".rstrip())
            try:
                data = orjson.loads(raw.content) if raw.content else None
            except orjson.JSONDecodeError as error:
                raise SourceError(f"{url_shown(url)}: the answer is not valid JSON ({error})") from None
            return Response(url=raw.url, status=raw.status_code, headers=raw.headers, data=data)

    def _backoff(self, attempt: int, reason: str) -> None:
        delay = self.backoff * 2 ** (attempt - 1)
        logger.info("retrying in %.1fs after %s", delay, reason)
        self.sleep(delay)

    def _told_to_wait(self, token: str | None, resource: str, waited_until: datetime | None) -> bool:
        """Whether another request with `token` (of any worker) has just found its quota used up or met a secondary limit."""
        told = self.budget.told([token], resource)[0]
        return _still(told.used_up_until, waited_until) is not None or _still(told.paused_until, waited_until) is not None

    def _rest_what_others_used_up(self, resource: str, waited_until: datetime | None) -> list:
        """Rest the tokens whose quota another worker (or an earlier sync) found used up, until their reset;
        return what every worker knows of each token (`budget.Told`, by token index)."""
        tokens: list[str | None] = list(self.pool.tokens) or [None]
        told = self.budget.told(tokens, resource)
        for index, known in enumerate(told):
            if (until := _still(known.used_up_until, waited_until)) is None:
                continue
            if self.pool.tokens:
                self.pool.rest(index, until, resource)
            else:
                self.anonymous_resting_until = max(until, self.anonymous_resting_until or until)
        return told

    def _note_rate_limit(
        self, raw: requests.Response, token_index: int | None, token: str | None, resource: str,
        limit: str | None, wait_until: datetime | None, *, shared: bool,
    ) -> None:
        """Remember what the answer said of the limits, here and (`shared`: an answer of the configured origin) for every worker."""
        resource = raw.headers.get("X-RateLimit-Resource") or resource
        remaining = raw.headers.get("X-RateLimit-Remaining", "").strip()
        reset = _reset_time(raw.headers)
        if remaining == "0" and reset and raw.status_code < 400 and limit is None:
            # Remember a used-up limit now, so the next request does not waste a call on a sure 403.
            if token_index is None:
                self.anonymous_resting_until = reset
            else:
                self.pool.rest(token_index, reset, resource)
        if limit == "primary" and wait_until is not None:
            remaining, reset = "0", wait_until
        if not shared:
            return
        if remaining == "0" and reset:
            self.budget.note_used_up(token, resource, reset=reset)
        if limit == "secondary" and wait_until is not None:
            self.budget.note_pause(token, wait_until)

    @staticmethod
    def _limit_kind(raw: requests.Response, *, graphql: bool = False) -> str | None:
        """For a 403 or 429 (or a GraphQL answer's errors): "primary" (the hourly quota is used up),
        "secondary" (any other limit), or None (a refusal that no wait cures: a bad token, no access)."""
        if raw.status_code == 200 and graphql:
            return _graphql_limit(raw)
        if raw.status_code not in (403, 429):
            return None
        if raw.headers.get("X-RateLimit-Remaining") == "0":
            return "primary"
        if raw.status_code == 429 or raw.headers.get("Retry-After"):
            return "secondary"
        said = raw.text[:1000].lower()
        return "secondary" if any(words in said for words in SECONDARY_LIMIT_WORDS) else None

    @staticmethod
    def _retry_at(raw: requests.Response) -> tuple[datetime, bool]:
        """When to ask again, and whether the system named that time (else: GitHub's least wait, a minute)."""
        now = datetime.now(UTC)
        retry_after = raw.headers.get("Retry-After")
        if retry_after:
            if retry_after.strip().isdigit():
                return now + timedelta(seconds=int(retry_after.strip())), True
            try:
                return parsedate_to_datetime(retry_after).astimezone(UTC), True
            except (TypeError, ValueError):
                pass
        reset = _reset_time(raw.headers)
        if reset and raw.headers.get("X-RateLimit-Remaining") == "0":
            return max(reset, now), True
        return now + timedelta(seconds=SECONDARY_LIMIT_WAIT), False


def _still(until: datetime | None, waited_until: datetime | None) -> datetime | None:
    """`until`, unless the request already waited until then (a limit it met itself, and waited out)."""
    return until if until is not None and (waited_until is None or until > waited_until) else None


def _graphql_limit(raw: requests.Response) -> str | None:
    """A GraphQL answer stopped by a limit: "primary" when the quota is used up, "secondary" for any other limit."""
    try:
        body = orjson.loads(raw.content)
    except orjson.JSONDecodeError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return None
    for error in errors:
        if not isinstance(error, dict):
            continue
        said = str(error.get("message") or "").lower()
        if error.get("type") == "RATE_LIMITED" or any(words in said for words in SECONDARY_LIMIT_WORDS):
            return "primary" if raw.headers.get("X-RateLimit-Remaining") == "0" else "secondary"
    return None


def _reset_time(headers: Mapping[str, str]) -> datetime | None:
    value = headers.get("X-RateLimit-Reset", "")
    if value.strip().isdigit():
        return datetime.fromtimestamp(int(value.strip()), UTC)
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what "the same server" means for a token."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip("."), port


def _failure(error: requests.RequestException) -> str:
    """Why a request got no answer, without the URL requests puts in front (its query may hold a key)."""
    cause = error.args[0] if error.args else error
    return remote_text(getattr(cause, "reason", None) or cause, limit=160)


def _reason(raw: requests.Response) -> str:
    """What went wrong, in the system's own short words: its JSON `message` or `detail`, else the status's reason.

    Never the raw body: an error page can hold anything (a metadata service's credentials, a
    stack trace), and it would be shown to every staff member in the run log.
    """
    said = ""
    try:
        body = orjson.loads(raw.content)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        said = body.get("message") or body.get("detail") or ""
        errors = body.get("errors")
        if not said and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            said = errors[0].get("message") or ""
    if not isinstance(said, str) or not said:
        said = raw.reason or ""
    return remote_text(said)
