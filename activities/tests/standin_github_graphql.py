"""GitHub's GraphQL API (`POST /graphql`) as the stand-in serves it: the part Baloo reads.

A repository's pull requests by number, with their reviews, from the same data as FakeGitHub's
REST answers (`repo["reviews"][number]`, REST-shaped), in GraphQL's shape: `databaseId`,
`state`, `submittedAt`, `authorAssociation`, `commit { oid }`, `url`, and `author`, an `Actor`
(`User`, `Bot`, `Organization`, `Mannequin`, each with `login` and `databaseId`), null for a
deleted account. As GitHub does, a bot's `login` has no `[bot]` suffix here ("dependabot"),
where the REST API says "dependabot[bot]".

Queries are parsed, validated against the schema below (a subset of GitHub's public schema,
same names and types) and executed by graphql-core, so a query GitHub would refuse is refused
here too. The answer has GitHub's shape: HTTP 200 with `{"data": …}`, and `errors` beside it
(`type`, `path`, `locations`, `message`) for what could not be read, e.g. `NOT_FOUND` for a pull
request that is gone; a connection asked without `first`/`last`, or for more than 100, is refused
(`MISSING_PAGINATION_BOUNDARIES`, `EXCESSIVE_PAGINATION`). The primary rate limit answers 200
with `errors: [{"type": "RATE_LIMITED", …}]` and `X-RateLimit-Remaining: 0`; no token, 401.
A broken or hostile server (`api.review_paging`): "circle" gives every page of reviews the same
`endCursor` and more to come, "endless" always one more page.
"""

from typing import Any

import orjson
from graphql import build_schema, graphql_sync

SCHEMA = build_schema('''
scalar DateTime
scalar URI
scalar GitObjectID

enum PullRequestReviewState { PENDING COMMENTED APPROVED CHANGES_REQUESTED DISMISSED }
enum CommentAuthorAssociation {
  MEMBER OWNER MANNEQUIN COLLABORATOR CONTRIBUTOR FIRST_TIME_CONTRIBUTOR FIRST_TIMER NONE
}

interface Actor { login: String! url: URI! resourcePath: URI! avatarUrl(size: Int): URI! }
type User implements Actor { login: String! url: URI! resourcePath: URI! avatarUrl(size: Int): URI! databaseId: Int name: String }
type Bot implements Actor { login: String! url: URI! resourcePath: URI! avatarUrl(size: Int): URI! databaseId: Int }
type Organization implements Actor { login: String! url: URI! resourcePath: URI! avatarUrl(size: Int): URI! databaseId: Int }
type Mannequin implements Actor { login: String! url: URI! resourcePath: URI! avatarUrl(size: Int): URI! databaseId: Int }

type Commit { oid: GitObjectID! }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }

type PullRequestReview {
  id: ID! databaseId: Int author: Actor authorAssociation: CommentAuthorAssociation!
  state: PullRequestReviewState! submittedAt: DateTime commit: Commit url: URI! body: String!
}
type PullRequestReviewConnection { nodes: [PullRequestReview] pageInfo: PageInfo! totalCount: Int! }
type PullRequest {
  id: ID! number: Int!
  reviews(first: Int, after: String, last: Int, before: String, states: [PullRequestReviewState!]): PullRequestReviewConnection
}
type Repository { id: ID! nameWithOwner: String! pullRequest(number: Int!): PullRequest }
type RateLimit { cost: Int! limit: Int! remaining: Int! resetAt: DateTime! used: Int! nodeCount: Int! }
type Query {
  repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
  rateLimit(dryRun: Boolean = false): RateLimit
}
''')


class GitHubError(Exception):
    """An error GitHub reports with a `type` beside its message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def answer(api: Any, body: bytes) -> tuple[int, dict]:
    """(HTTP status, JSON answer) for one GraphQL request to the stand-in `api` (a FakeGitHub)."""
    try:
        request = orjson.loads(body)
        query = request["query"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return 400, {"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"}
    result = graphql_sync(SCHEMA, query, root_value=_Root(api), variable_values=request.get("variables"))
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = []
        for error in result.errors:
            formatted = dict(error.formatted)
            formatted.pop("extensions", None)
            original = error.original_error
            if isinstance(original, GitHubError):
                formatted["type"] = original.kind
            out["errors"].append(formatted)
    if result.data is not None or not result.errors or any("path" in error for error in out.get("errors", [])):
        out["data"] = result.data
    return 200, out


class _Root:
    def __init__(self, api: Any) -> None:
        self.api = api

    def repository(self, info: Any, owner: str, name: str, followRenames: bool = True) -> dict | None:  # noqa: N803 - GraphQL's name
        wanted = f"{owner}/{name}".lower()
        found = next((repo for repo in self.api.repos if repo.lower() == wanted), None)
        if found is None:
            raise GitHubError("NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return _repository(self.api, found)

    def rateLimit(self, info: Any, dryRun: bool = False) -> dict:  # noqa: N802, N803 - GraphQL's names
        remaining = self.api.graphql_remaining if self.api.graphql_remaining is not None else 5000
        return {"cost": 1, "limit": 5000, "remaining": remaining, "used": 5000 - remaining, "nodeCount": 0,
                "resetAt": _iso_epoch(self.api.reset_at)}


def _repository(api: Any, name: str) -> dict:
    data = api.repos[name]
    numbers = ({item["number"] for item in data["issues"] if item.get("pull_request")}
               | {pull["number"] for pull in data["pulls"]} | set(data["reviews"]))

    def pull_request(info: Any, number: int) -> dict:
        if number not in numbers or number in api.gone_pulls:
            raise GitHubError("NOT_FOUND", f"Could not resolve to a PullRequest with the number of {number}.")
        return {"id": f"PR_{name}_{number}", "number": number,
                "reviews": lambda info, **args: _reviews(data["reviews"].get(number, []), args, paging=api.review_paging)}

    return {"id": f"R_{name}", "nameWithOwner": name, "pullRequest": pull_request}


def _reviews(reviews: list[dict], args: dict, *, paging: str | None = None) -> dict:
    first, after = args.get("first"), args.get("after")
    if first is None and args.get("last") is None:
        raise GitHubError("MISSING_PAGINATION_BOUNDARIES", "You must provide a `first` or `last` value to properly paginate the `reviews` connection.")
    if first is not None and not 1 <= first <= 100:
        raise GitHubError("EXCESSIVE_PAGINATION", f"Requesting {first} records on the `reviews` connection exceeds the `first` limit of 100 records.")
    start = int(after.removeprefix("cursor:")) if after else 0
    chunk = reviews[start : start + first]
    end = start + len(chunk)
    more, end_cursor = end < len(reviews), f"cursor:{end}" if chunk else None
    if paging == "circle":
        more, end_cursor = True, f"cursor:{first}"
    elif paging == "endless":
        more, end_cursor = True, f"cursor:{start + first}"
    return {"nodes": [_review(review) for review in chunk], "totalCount": len(reviews),
            "pageInfo": {"hasNextPage": more, "hasPreviousPage": start > 0,
                         "startCursor": f"cursor:{start}" if chunk else None, "endCursor": end_cursor}}


def _review(review: dict) -> dict:
    return {"id": review.get("node_id") or f"PRR_{review['id']}", "databaseId": review["id"], "author": _actor(review.get("user")),
            "authorAssociation": review.get("author_association") or "NONE", "state": review["state"],
            "submittedAt": review.get("submitted_at"), "commit": {"oid": review["commit_id"]} if review.get("commit_id") else None,
            "url": review.get("html_url") or "", "body": review.get("body") or ""}


def _actor(user: dict | None) -> dict | None:
    if user is None:
        return None
    kind = user.get("type") or "User"
    login = user.get("login") or ""
    if kind == "Bot":
        login = login.removesuffix("[bot]")
    return {"__typename": kind, "login": login, "databaseId": user.get("id"), "url": f"https://github.com/{login}",
            "resourcePath": f"/{login}", "avatarUrl": f"https://avatars.githubusercontent.com/u/{user.get('id')}"}


def _iso_epoch(epoch: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
