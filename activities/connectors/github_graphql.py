"""GitHub's GraphQL API, where it reads more per request than the REST API: the reviews of pull requests.

The REST API has no repository-wide listing of reviews, so it costs one request per pull request
(`GET /repos/{owner}/{repo}/pulls/{number}/reviews`): most of a first sync's requests. GraphQL
reads the reviews of up to `PULLS_PER_QUERY` pull requests in one query, one alias per pull request:

    query { repository(owner: "mozilla", name: "kitsune") {
      p12: pullRequest(number: 12) { reviews(first: 100) { nodes { databaseId state … }
                                                            pageInfo { hasNextPage endCursor } } }
      p15: pullRequest(number: 15) { … } } }

A pull request with more reviews than that is read on from its `endCursor` in the next query
(several such pull requests per query). A query costs 1 point of GraphQL's own hourly quota
(5,000 points for a user's token; 101 connections / 100) and asks for at most 10,100 nodes
(GitHub's limit: 500,000).

Everything else stays REST: its listings are repository-wide (issues and pull requests, comments,
review comments, commits), 100 items a request, incremental (`since`) and conditional (an
unchanged listing costs one 304, which counts against no quota). GraphQL has no conditional
requests, so reading those listings with it would make every repeat sync cost quota.

Each review comes back in the REST API's shape (`id`, `user` with `login`, `id` and `type`,
`state`, `submitted_at`, `html_url`, `commit_id`, `author_association`), so its record is the
same whichever API read it. GraphQL spells a bot's login without the `[bot]` the REST API adds
("dependabot" for "dependabot[bot]"): it is added back. A deleted account is `author: null`, as
`user: null` in REST: the review is rejected for it, as before.

Errors: GraphQL answers 200 with `errors` beside `data`. `NOT_FOUND` for a pull request (or the
repository) gone since the issues listing was read is the REST API's 404: no reviews, the rest
still counts. A limit (`RATE_LIMITED`, a secondary limit's words) is the client's business, like
a REST 403. Any other error, and an answer without the data asked for, ends the sync with a
`SourceError` that says what GitHub said; nothing of the page is stored, so the next sync reads it again.
So does a pull request whose reviews name a cursor already read (or none) as the next page, or go on
past `REVIEW_PAGES_PER_PULL` pages: a server paging forever (`PageWalk`).
"""

import json
from typing import Any

from activities.outbound import remote_text

from .base import PageWalk
from .http import HttpClient, NotFound, SourceError

PULLS_PER_QUERY = 100
REVIEWS_PER_PULL = 100
# Pages of one pull request's reviews (100 each): the busiest pull requests have a few thousand
# reviews; a server naming cursors past this many is paging forever (`PageWalk`).
REVIEW_PAGES_PER_PULL = 1_000
# Only what a review record needs; a review's author is an `Actor`, whose account id is on each kind of account.
REVIEW_FIELDS = (
    "databaseId state submittedAt url authorAssociation commit { oid } "
    "author { __typename login ... on User { databaseId } ... on Bot { databaseId } "
    "... on Organization { databaseId } ... on Mannequin { databaseId } }"
)


class GraphQLUnavailable(Exception):
    """The GraphQL endpoint is not served here (HTTP 404: a GitHub Enterprise Server without it)."""


def graphql_url(base_url: str) -> str:
    """The GraphQL endpoint of a REST API base: `https://api.github.com/graphql`, or GitHub Enterprise
    Server's `https://HOST/api/graphql` for `https://HOST/api/v3`."""
    base = base_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base.removesuffix("/v3") + "/graphql"
    return base + "/graphql"


def reviews_of(client: HttpClient, url: str, repo: str, numbers: list[int]) -> dict[int, list[dict] | None]:
    """The reviews of pull requests `numbers` of `repo`, REST-shaped; None for one GitHub does not serve (NOT_FOUND)."""
    owner, _, name = repo.partition("/")
    found: dict[int, list[dict] | None] = {number: [] for number in numbers}
    pending: list[tuple[int, str | None]] = [(number, None) for number in found]
    # Each pull request's reviews from their start (""): a cursor served again, or none, reads no page twice.
    walks = {number: PageWalk(f"{repo}#{number}: GitHub's reviews", limit=REVIEW_PAGES_PER_PULL, first="") for number in found}
    while pending:
        batch, pending = pending[:PULLS_PER_QUERY], pending[PULLS_PER_QUERY:]
        try:
            response = client.post_json(url, {"query": _query(owner, name, batch)})
        except NotFound:
            raise GraphQLUnavailable(url) from None
        repository, gone = _repository(response.data, url)
        for number, _cursor in batch:
            alias = f"p{number}"
            if repository is None or alias in gone:
                found[number] = None
                continue
            reviews = _connection(repository.get(alias), url, number)
            found[number] = [*(found[number] or []), *(_rest_review(node, url) for node in reviews["nodes"] if node is not None)]
            if reviews["pageInfo"].get("hasNextPage"):
                cursor = reviews["pageInfo"].get("endCursor")
                cursor = cursor if isinstance(cursor, str) else ""
                shown = f"the cursor {remote_text(cursor, limit=60)!r}" if cursor else "no cursor (the first page)"
                pending.append((number, walks[number].follow(cursor, shown=shown) or None))
    return found


def _query(owner: str, name: str, batch: list[tuple[int, str | None]]) -> str:
    # json.dumps writes a valid GraphQL string literal (GraphQL's escapes are JSON's).
    pulls = " ".join(
        f"p{number}: pullRequest(number: {number}) {{ reviews(first: {REVIEWS_PER_PULL}"
        f"{f', after: {json.dumps(cursor)}' if cursor else ''}) {{ nodes {{ {REVIEW_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        for number, cursor in batch
    )
    return f"query {{ repository(owner: {json.dumps(owner)}, name: {json.dumps(name)}) {{ {pulls} }} }}"


def _repository(data: Any, url: str) -> tuple[dict | None, set[str]]:
    """The answer's `repository` (None when GitHub does not serve it) and the aliases of pull requests it does not serve."""
    if not isinstance(data, dict):
        raise SourceError(f"{url}: expected a GraphQL answer (a JSON object)")
    gone: set[str] = set()
    repository_gone = False
    for error in data.get("errors") or []:
        error = error if isinstance(error, dict) else {}
        path = error.get("path") if isinstance(error.get("path"), list) else []
        if error.get("type") == "NOT_FOUND" and path[:1] == ["repository"]:
            if len(path) == 1:
                repository_gone = True
            else:
                gone.add(str(path[1]))
            continue
        kind = f" {remote_text(error.get('type'), limit=40)}" if error.get("type") else ""
        raise SourceError(f"{url}: GraphQL error{kind}: {remote_text(error.get('message') or 'no message')}")
    answer = data.get("data")
    repository = answer.get("repository") if isinstance(answer, dict) else None
    if repository is None and not repository_gone:
        raise SourceError(f"{url}: the GraphQL answer has no repository")
    if repository is not None and not isinstance(repository, dict):
        raise SourceError(f"{url}: the GraphQL answer's repository is not an object")
    return repository, gone


def _connection(pull: Any, url: str, number: int) -> dict:
    reviews = pull.get("reviews") if isinstance(pull, dict) else None
    if not (isinstance(reviews, dict) and isinstance(reviews.get("nodes"), list) and isinstance(reviews.get("pageInfo"), dict)):
        raise SourceError(f"{url}: the GraphQL answer has no reviews for pull request {number}")
    return reviews


def _rest_review(node: Any, url: str) -> dict:
    """A review node in the REST API's shape (`GET /repos/{owner}/{repo}/pulls/{number}/reviews`)."""
    if not isinstance(node, dict) or node.get("databaseId") is None:
        raise SourceError(f"{url}: a review without its databaseId in the GraphQL answer")
    author = node.get("author")
    user = None
    if isinstance(author, dict):
        kind = author.get("__typename") or "User"
        login = author.get("login")
        if kind == "Bot" and isinstance(login, str) and login and not login.endswith("]"):
            login = f"{login}[bot]"
        user = {"login": login, "id": author.get("databaseId"), "type": kind}
    commit = node.get("commit")
    return {"id": node["databaseId"], "user": user, "state": node.get("state"), "submitted_at": node.get("submittedAt"),
            "html_url": node.get("url") or "", "commit_id": commit.get("oid") if isinstance(commit, dict) else None,
            "author_association": node.get("authorAssociation")}
