"""Local stand-ins for the GitHub, Bugzilla and Kitsune REST APIs, served by http.server in a thread.

They answer the way each API's public documentation describes (pagination, `since` filters,
ETags and 304s, rate-limit headers, error bodies), from data the tests build themselves. Faults
are injected per path: `api.fail("/issues", status=502, times=1)`. Each stand-in counts the
requests under way at once per token (`max_in_flight`), and can take `delay` seconds per answer.
GitHub's GraphQL API is in standin_github_graphql.py.
Used by the connector tests and by bench/sync.py.
"""

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T", 1))


@dataclass
class Fault:
    path_part: str
    status: int = 502
    times: int = 1
    body: bytes = b'{"message": "Server Error"}'
    headers: dict = field(default_factory=dict)


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict = field(default_factory=dict)


class StandIn:
    """Base: request log, fault injection, ETags and JSON replies. Subclasses write `route`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        # The query string of every request, by parameter, with its path.
        self.queries: list[dict] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.base_url = ""
        # Per token (the Authorization or API-key header; "" for none): requests under way now, and at most.
        self.in_flight: Counter = Counter()
        self.max_in_flight: Counter = Counter()
        # (time.monotonic() when it arrived, path, token) of every request.
        self.arrivals: list[tuple[float, str, str]] = []
        self.delay = 0.0

    def fail(self, path_part: str, *, status: int = 502, times: int = 1, body: bytes | None = None, headers: dict | None = None) -> None:
        self.faults.append(Fault(path_part, status, times, body if body is not None else b'{"message": "Server Error"}', headers or {}))

    def handle(self, path: str, query: dict[str, list[str]], headers: dict[str, str], target: str = "", *,
               method: str = "GET", body: bytes = b"") -> Reply:
        token = headers.get("authorization") or headers.get("x-bugzilla-api-key") or ""
        with self.lock:
            self.arrivals.append((time.monotonic(), path, token))
            self.in_flight[token] += 1
            self.max_in_flight[token] = max(self.max_in_flight[token], self.in_flight[token])
        try:
            if self.delay:
                time.sleep(self.delay)
            with self.lock:
                self.requests.append((path, headers))
                self.queries.append({"path": path, **query})
                for fault in self.faults:
                    if fault.times > 0 and fault.path_part in (target or path):
                        fault.times -= 1
                        return Reply(fault.status, fault.body, dict(fault.headers))
                return self.route_post(path, body, headers) if method == "POST" else self.route(path, query, headers)
        finally:
            with self.lock:
                self.in_flight[token] -= 1

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        raise NotImplementedError

    def route_post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return Reply(404, b'{"message": "Not Found"}')

    def json(self, data: Any, headers: dict[str, str], extra: dict | None = None) -> Reply:
        body = orjson.dumps(data)
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        out = {"ETag": etag, **(extra or {})}
        if headers.get("if-none-match") == etag:
            return Reply(304, b"", out)
        return Reply(200, body, out)

    def page_link(self, path: str, query: dict[str, list[str]], page: int, last: int) -> str:
        links = []
        for rel, number in (("next", page + 1), ("last", last), ("prev", page - 1), ("first", 1)):
            if (rel == "next" and page >= last) or (rel == "prev" and page <= 1):
                continue
            params = {key: values[-1] for key, values in query.items()}
            params["page"] = str(number)
            links.append(f'<{self.base_url}{path}?{urlencode(params)}>; rel="{rel}"')
        return ", ".join(links)


class Recorder(StandIn):
    """A host syncs must never reach (the attacker's, an internal service): answers `[]`, keeps every request."""

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        return Reply(200, b"[]")


class FakeGitHub(StandIn):
    """GitHub REST v3: issues (with pull requests), pulls, comments, review comments, reviews, commits, org repos."""

    def __init__(self, *, rate_limit: int | None = None) -> None:
        super().__init__()
        self.repos: dict[str, dict[str, Any]] = {}
        self.orgs: dict[str, list[str]] = {}
        self.rate_limit = rate_limit
        self.remaining = rate_limit
        self.reset_at = 0
        self.tokens_seen: list[str] = []
        self.exhausted_tokens: set[str] = set()
        # GraphQL's own quota (GitHub counts it apart from the REST API's); None: no rate-limit headers.
        self.graphql_remaining: int | None = None
        # Pull requests listed as issues but gone since (deleted, or moved): 404 for their reviews, NOT_FOUND in GraphQL.
        self.gone_pulls: set[int] = set()
        # A broken or hostile GraphQL server's review pages: "circle" names one cursor as the next page of
        # every page, "endless" always names one more (standin_github_graphql.py).
        self.review_paging: str | None = None

    def repo(self, name: str) -> dict[str, Any]:
        return self.repos.setdefault(name, {"issues": [], "pulls": [], "comments": [], "review_comments": [], "commits": [], "reviews": {}})

    def rate_headers(self) -> dict[str, str]:
        if self.remaining is None:
            return {}
        return {"X-RateLimit-Limit": str(self.rate_limit), "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(self.reset_at), "X-RateLimit-Resource": "core"}

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        token = headers.get("authorization", "")
        self.tokens_seen.append(token)
        if token in self.exhausted_tokens:
            return Reply(403, b'{"message": "API rate limit exceeded for user."}',
                         {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(self.reset_at)})
        if self.remaining is not None:
            if self.remaining <= 0:
                return Reply(403, b'{"message": "API rate limit exceeded for 127.0.0.1.", "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}',
                             self.rate_headers())
        reply = self._route(path, query, headers)
        if self.remaining is not None and reply.status != 304:
            self.remaining -= 1
        reply.headers.update(self.rate_headers())
        return reply

    def route_post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        from .standin_github_graphql import answer

        if path.rstrip("/") not in ("/graphql", "/api/graphql"):
            return Reply(404, b'{"message": "Not Found"}')
        token = headers.get("authorization", "")
        self.tokens_seen.append(token)
        if not token:
            return Reply(401, b'{"message": "This endpoint requires you to be authenticated.", "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql"}')
        rate = {}
        if self.graphql_remaining is not None:
            rate = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(max(self.graphql_remaining - 1, 0)),
                    "X-RateLimit-Reset": str(self.reset_at), "X-RateLimit-Resource": "graphql"}
            if self.graphql_remaining <= 0:
                rate["X-RateLimit-Remaining"] = "0"
                return Reply(200, orjson.dumps({"errors": [{"type": "RATE_LIMITED", "message": "API rate limit already exceeded for user ID 1."}]}), rate)
            self.graphql_remaining -= 1
        status, data = answer(self, body)
        return Reply(status, orjson.dumps(data), rate)

    def _route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        parts = path.strip("/").split("/")
        per_page = min(int(query.get("per_page", ["30"])[-1]), 100)
        page = int(query.get("page", ["1"])[-1])
        since = query.get("since", [None])[-1]
        if parts[0] == "orgs" and len(parts) == 3 and parts[2] == "repos":
            names = self.orgs.get(parts[1])
            if names is None:
                return Reply(404, b'{"message": "Not Found"}')
            items = [{"id": index + 1, "full_name": name, "name": name.split("/")[1], "archived": False} for index, name in enumerate(names)]
            return self._paged(path, query, items[::-1], per_page, page, headers)
        if parts[0] != "repos" or len(parts) < 4:
            return Reply(404, b'{"message": "Not Found"}')
        name = f"{parts[1]}/{parts[2]}"
        if name not in self.repos:
            return Reply(404, b'{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/issues/issues#list-repository-issues"}')
        repo = self.repos[name]
        rest = parts[3:]
        if rest == ["issues"]:
            items = self._since(repo["issues"], since, "updated_at")
        elif rest == ["pulls"]:
            # No `since` here: GitHub's pulls listing has none. `state` defaults to open.
            state = query.get("state", ["open"])[-1]
            key = {"updated": "updated_at", "created": "created_at"}.get(query.get("sort", ["created"])[-1], "created_at")
            items = [pull for pull in repo["pulls"] if state == "all" or pull["state"] == state]
            items.sort(key=lambda pull: (pull[key], pull["number"]), reverse=query.get("direction", ["desc"])[-1] == "desc")
        elif rest == ["issues", "comments"]:
            items = self._since(repo["comments"], since, "updated_at")
        elif rest == ["pulls", "comments"]:
            items = self._since(repo["review_comments"], since, "updated_at")
        elif rest == ["commits"]:
            items = [c for c in repo["commits"] if since is None or parse_ts(c["commit"]["committer"]["date"]) >= parse_ts(since)]
            items.sort(key=lambda c: c["commit"]["committer"]["date"], reverse=True)
        elif len(rest) == 3 and rest[0] == "pulls" and rest[2] == "reviews":
            if int(rest[1]) in self.gone_pulls:
                return Reply(404, b'{"message": "Not Found", "documentation_url": "https://docs.github.com/rest/pulls/reviews#list-reviews-for-a-pull-request"}')
            items = repo["reviews"].get(int(rest[1]), [])
        else:
            return Reply(404, b'{"message": "Not Found"}')
        return self._paged(path, query, items, per_page, page, headers)

    def _since(self, items: list[dict], since: str | None, key: str) -> list[dict]:
        # Sorted once per listing state, not once per page: the benchmark serves 100,000 items.
        cache_key = (id(items), len(items), since, key)
        cache = self.__dict__.setdefault("_sorted", {})
        if cache_key not in cache:
            chosen = [item for item in items if since is None or parse_ts(item[key]) >= parse_ts(since)]
            cache[cache_key] = sorted(chosen, key=lambda item: (item[key], item["id"]), reverse=True)
        return cache[cache_key]

    def _paged(self, path: str, query: dict, items: list, per_page: int, page: int, headers: dict) -> Reply:
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        link = self.page_link(path, query, page, last) if last > 1 else ""
        return self.json(chunk, headers, {"Link": link} if link else {})


class FakeBugzilla(StandIn):
    """Bugzilla REST: /rest/bug search (limit/offset, last_change_time, order), comments, attachments."""

    def __init__(self) -> None:
        super().__init__()
        self.bugs: list[dict] = []
        self.comments: dict[int, list[dict]] = {}
        self.attachments: dict[int, list[dict]] = {}
        self.history: dict[int, list[dict]] = {}  # bug id → its changes, as /rest/bug/<id>/history gives them
        self.api_keys_seen: list[str] = []
        # As Bugzilla's REST server did before 5.0 (and BMO before November 2014): the path's bug id
        # replaces any `ids` of the query string, so one request answers for one bug.
        self.path_id_only = False
        # Whether `include_fields` is honoured (Bugzilla always does; off: every field, as if none were named).
        self.include_fields = True

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        self.api_keys_seen.append(headers.get("x-bugzilla-api-key", ""))
        parts = path.strip("/").split("/")
        if parts == ["rest", "bug"]:
            bugs = list(self.bugs)
            if "product" in query:
                bugs = [bug for bug in bugs if bug["product"] in query["product"]]
            if "last_change_time" in query:
                since = parse_ts(query["last_change_time"][-1])
                bugs = [bug for bug in bugs if parse_ts(bug["last_change_time"]) >= since]
            if query.get("count_only", [""])[-1] in ("1", "true"):
                # As bugzilla.mozilla.org does: the number of bugs the search matches, nothing else.
                return self.json({"bug_count": len(bugs)}, headers)
            descending = "DESC" in query.get("order", [""])[-1]
            bugs.sort(key=lambda bug: (bug["last_change_time"], -bug["id"] if descending else bug["id"]), reverse=descending)
            offset = int(query.get("offset", ["0"])[-1])
            limit = int(query.get("limit", ["0"])[-1]) or len(bugs)
            return self.json({"bugs": bugs[offset : offset + limit]}, headers)
        if len(parts) == 4 and parts[:2] == ["rest", "bug"] and parts[3] in ("comment", "attachment", "history"):
            # As Bugzilla's REST server does (Bugzilla::WebService::Server::REST, `_retrieve_json_params`):
            # the bug id of the path comes first, then the query's `ids` are added to it, each bug once.
            ids = [int(parts[2])] if self.path_id_only else [int(value) for value in dict.fromkeys([parts[2], *query.get("ids", [])])]
            if parts[3] == "history":
                data = {"bugs": [{"id": bug_id, "alias": [], "history": self.history.get(bug_id, [])} for bug_id in ids]}
            elif parts[3] == "comment":
                fields = set(",".join(query.get("include_fields", [])).split(",")) - {""} if self.include_fields else set()
                data = {"bugs": {str(bug_id): {"comments": [self._only(comment, fields) for comment in self.comments.get(bug_id, [])]}
                                 for bug_id in ids}, "comments": {}}
            else:
                excluded = set(",".join(query.get("exclude_fields", [])).split(","))
                data = {"bugs": {str(bug_id): [{key: value for key, value in attachment.items() if key not in excluded}
                                               for attachment in self.attachments.get(bug_id, [])] for bug_id in ids}, "attachments": {}}
            return self.json(data, headers)
        return Reply(404, b'{"error": true, "code": 32614, "message": "A REST API resource was not found for this request."}')


    @staticmethod
    def _only(item: dict, fields: set[str]) -> dict:
        """`include_fields`, as Bugzilla applies it: only the fields named (all of them when none is)."""
        return {key: value for key, value in item.items() if key in fields} if fields else item


class FakeKitsune(StandIn):
    """Kitsune (SUMO) API v2: questions and answers with page-number pagination (`next`)."""

    page_size = 20

    def __init__(self) -> None:
        super().__init__()
        self.questions: list[dict] = []
        self.answers: list[dict] = []
        # Questions and answers Kitsune keeps but does not serve (waiting for moderation, hidden):
        # out of the listings, and 404 when asked for one by one, exactly as if deleted.
        self.hidden_questions: set[int] = set()
        self.hidden_answers: set[int] = set()

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        parts = path.strip("/").split("/")
        served = {"question": [q for q in self.questions if q["id"] not in self.hidden_questions],
                  "answer": [a for a in self.answers if a["id"] not in self.hidden_answers]}
        if parts[:2] == ["api", "2"] and len(parts) == 4 and parts[2] in served:
            found = [item for item in served[parts[2]] if str(item["id"]) == parts[3]]
            return self.json(found[0], headers) if found else Reply(404, b'{"detail": "Not found."}')
        if parts == ["api", "2", "question"]:
            items = self._filtered(served["question"], query, ("product", "locale"), ("updated", "created"))
        elif parts == ["api", "2", "answer"]:
            items = self._filtered(served["answer"], query, ("question",), ("updated", "created"))
        else:
            return Reply(404, b'{"detail": "Not found."}')
        ordering = query.get("ordering", ["-id"])[-1]
        key = ordering.lstrip("-")
        items.sort(key=lambda item: (item[key], item["id"]), reverse=ordering.startswith("-"))
        page = int(query.get("page", ["1"])[-1])
        chunk = items[(page - 1) * self.page_size : page * self.page_size]
        def link(number: int) -> str | None:
            if number < 1 or (number - 1) * self.page_size >= len(items):
                return None
            params = {name: values[-1] for name, values in query.items()}
            params["page"] = str(number)
            return f"{self.base_url}{path}?{urlencode(params)}"
        return self.json({"count": len(items), "next": link(page + 1), "previous": link(page - 1), "results": chunk}, headers)

    @staticmethod
    def _filtered(items: list[dict], query: dict, exact: tuple[str, ...], times: tuple[str, ...]) -> list[dict]:
        chosen = list(items)
        for name in exact:
            if name in query:
                chosen = [item for item in chosen if str(item.get(name)) == query[name][-1]]
        for name in times:
            if f"{name}__gt" in query:
                moment = parse_ts(query[f"{name}__gt"][-1])
                chosen = [item for item in chosen if parse_ts(item[name]) > moment]
        return chosen


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle's algorithm and delayed ACKs
    # add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    api: StandIn

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        self._reply(self.server.api.handle(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, self.path))

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._reply(self.server.api.handle(parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()}, self.path,
                                           method="POST", body=body))

    def _reply(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass


class Server:
    """Serve `api` on 127.0.0.1 (a free port) in a daemon thread: `with Server(api) as url: …`.

    `host` serves on another loopback address (127.0.0.2…), e.g. a host syncs must never reach.
    """

    def __init__(self, api: StandIn, *, host: str = "127.0.0.1") -> None:
        self.api = api
        self.httpd = ThreadingHTTPServer((host, 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.api = api
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        api.base_url = self.url

    def __enter__(self) -> str:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def served(api: StandIn) -> Iterator[StandIn]:
    """`with served(api) as api: …`: `api` on a Server, its address in `api.url`."""
    with Server(api) as url:
        api.url = url
        yield api
