"""GitHub (REST API v3, GraphQL for reviews; also GitHub Enterprise): issues, pull requests, merges, reviews, comments, commits.

Options: `{"repos": ["mozilla/kitsune"]}` and/or `{"org": "mozilla"}` (every repository of the
organisation), `"commit_lookback_hours"` (default 24: commits carry their author's clock, so a
commit pushed late with an older date is still found), `"graphql": false` (reviews by REST alone).

Every listing is incremental (`since`), paginated by the `Link` header, and asked conditionally
(`If-None-Match`); issue and comment listings are read newest-updated first so that any change
shows on their first page, which is what makes a 304 on that page trustworthy.

Reviews: with a token, the reviews of every pull request on a page of the issues listing come in
one GraphQL query (activities/connectors/github_graphql.py); without one, with the option
`"graphql": false`, or where the GraphQL endpoint is not served, one REST request per pull request.

Merges: the issues listing's `pull_request.merged_at` dates a merge. Where it is missing (older
API versions, and some items still), the pulls listing (`state=closed`, newest-updated first,
which carries `merged_at`) is read as far as the closed pull requests of the page need, once per
sync. A pull request that says `merged: true` without a date is rejected with that reason.

Actors: a GitHub account is its uid (`user.id`); every record whose item names an account carries
the uid, with the login as the user name (logins are renamed and reused: the uid is the account).
Items whose account was deleted (`user: null`) are rejected as "deleted account", once.

External ids are shared with the webhook receiver (activities/webhooks.py), so an activity seen by
both is stored once: `issue:<repo>:<number>`, `pr:<repo>:<number>`, `merged:<repo>:<number>`,
`review:<repo>:<id>`, `comment:<repo>:<id>`, `review_comment:<repo>:<id>`, `commit:<repo>:<sha>`.
`<repo>` is spelled as the options spell it in `repos`, else as GitHub's listing of `org` does;
GitHub ignores case in owner and repository names, and so does `source_repo`, which the webhook
uses to find that same spelling.
"""

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .base import (
    DELETED_ACCOUNT,
    NO_AUTHOR,
    NO_TIME,
    Connector,
    Page,
    Rejected,
    parse_time,
    rejection_reason,
    walk_listing,
    with_query,
)
from .github_graphql import GraphQLUnavailable, graphql_url, reviews_of
from .http import HttpClient, NotFound

if TYPE_CHECKING:
    from activities.models import Source

PER_PAGE = 100
LISTINGS = ("issues", "comments", "review_comments", "commits")
# What each record keeps of GitHub's object as its raw payload: ids, states and times. Not the people
# it names (assignees, reviewers, mentions, committers) nor text they wrote: the actor is the record's
# own, and an erasure must not have to hunt for anyone in other people's payloads.
ISSUE_KEPT = ("id", "number", "state", "state_reason", "locked", "comments", "created_at", "updated_at", "closed_at",
              "author_association", "draft")
REVIEW_KEPT = ("id", "state", "submitted_at", "commit_id", "author_association")
COMMENT_KEPT = ("id", "created_at", "updated_at", "author_association")
PUSH_COMMIT_KEPT = ("id", "timestamp", "distinct")
MERGED_WITHOUT_DATE = rejection_reason("merged pull request without a merge date")
ACCOUNT_WITHOUT_ID = rejection_reason("account without an id")


def _kept(item: dict, fields: tuple[str, ...]) -> dict:
    return {field: item[field] for field in fields if field in item}


def _issue_data(issue: dict) -> dict:
    data = _kept(issue, ISSUE_KEPT)
    data["labels"] = [label.get("name") if isinstance(label, dict) else label for label in issue.get("labels") or []]
    if isinstance(issue.get("pull_request"), dict):
        data["pull_request"] = {"merged_at": issue["pull_request"].get("merged_at")}
    return data


def _commit_data(commit: dict) -> dict:
    details = commit.get("commit") or {}
    return {
        "sha": commit.get("sha"),
        "parents": [parent.get("sha") for parent in commit.get("parents") or [] if isinstance(parent, dict)],
        "commit": {part: {"date": (details.get(part) or {}).get("date")} for part in ("author", "committer")},
    }


def source_repo(options: dict, full_name: str) -> str | None:
    """The spelling under which the source counts repository `full_name`; None when its options name it nowhere.

    GitHub compares names without regard to case, so `Example/App` in `repos` is `example/app`'s
    spelling; a repository of `org` keeps GitHub's own, which is what the organisation's listing
    gives the sync. Names are ASCII on GitHub: `lower()`, never `casefold()` (no `ß` as `ss`).
    """
    wanted = full_name.lower()
    for repo in _names(options.get("repos")):
        if repo.lower() == wanted:
            return repo
    org = options.get("org")
    if isinstance(org, str) and org and full_name.partition("/")[0].lower() == org.lower():
        return full_name
    return None


def _names(value: Any) -> list[str]:
    return [name for name in value if isinstance(name, str) and name] if isinstance(value, list) else []


def _unique_ignoring_case(names: list[str]) -> list[str]:
    """Each repository once, under its first spelling: GitHub serves `Example/App` and `example/app` alike."""
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(str(name).lower(), name)
    return list(seen.values())


def _actor(user: dict | None, *, email: str | None = None, name: str | None = None) -> dict:
    """The keys of a GitHub account: its uid (`user.id`, the account itself: a login can be renamed and
    reused by another account) with its login as the user name, and the bot flag; plus a commit's
    e-mail and name. A user object without an id names no account: its login alone is left out."""
    actor: dict[str, Any] = {}
    if user and user.get("id") is not None:
        actor["uid"] = str(user["id"])
        if user.get("login"):
            actor["username"] = user["login"]
        if user.get("type") == "Bot":
            actor["bot"] = True
    if email:
        actor["email"] = email
    if name:
        actor["name"] = name
    return actor


def _no_actor(external_id: str, user: dict | None) -> Rejected:
    """Why an item with no usable account is rejected: GitHub serves `user: null` for deleted accounts."""
    return Rejected(external_id, DELETED_ACCOUNT if user is None else ACCOUNT_WITHOUT_ID)


def issue_records(source: str, repo: str, issue: dict) -> list[dict | Rejected]:
    """An item of the issues listing (or an `issues` webhook): issue opened, or pull request opened and merged.

    A pull request's merge is known when its `pull_request` says `merged_at` (API versions since
    2022) or `merged`; when it says neither, the connector reads the pulls listing (`merge_record`).
    """
    number = issue["number"]
    pull = _pull_request(issue)
    common = {"source": source, "container": repo, "url": issue.get("html_url", ""), "title": issue.get("title") or ""}
    actor = _actor(issue.get("user"))
    data = _issue_data(issue)
    opened = f"issue:{repo}:{number}" if pull is None else f"pr:{repo}:{number}"
    records: list[dict | Rejected] = []
    if not actor:
        records.append(_no_actor(opened, issue.get("user")))
    else:
        records.append({**common, "external_id": opened, "type": "github.issue.opened" if pull is None else "github.pull_request.opened",
                        "occurred_at": issue["created_at"], "actor": actor, "data": data})
    if pull is not None and ("merged_at" in pull or "merged" in pull):
        merged = merge_record(source, repo, issue, merged_at=pull.get("merged_at"), merged=pull.get("merged"))
        if merged is not None:
            records.append(merged)
    return records


def _pull_request(issue: dict) -> dict | None:
    """The `pull_request` part of an issues-listing item, or None when the item is a plain issue.

    GitHub's older API gave every issue a `pull_request` object, all of its links null when the
    issue is no pull request (`{"html_url": null, "diff_url": null, "patch_url": null}`); today
    a plain issue has none, or `null`."""
    pull = issue.get("pull_request")
    if not isinstance(pull, dict):
        return None
    if not any(pull.get(link) for link in ("url", "html_url", "diff_url", "patch_url")) and "merged_at" not in pull:
        return None
    return pull


def merge_record(source: str, repo: str, issue: dict, *, merged_at: str | None, merged: bool | None = None) -> dict | Rejected | None:
    """The merge of pull request `issue` (an issue-shaped or pull object), credited to its author and
    dated by `merged_at`; None when it was not merged. A pull request that says `merged: true`
    without a date is rejected, with that reason: never dropped without a word."""
    external_id = f"merged:{repo}:{issue['number']}"
    if not merged_at:
        return Rejected(external_id, MERGED_WITHOUT_DATE) if merged else None
    actor = _actor(issue.get("user"))
    if not actor:
        return _no_actor(external_id, issue.get("user"))
    data = _issue_data(issue)
    data["pull_request"] = {"merged_at": merged_at}
    return {"source": source, "external_id": external_id, "type": "github.pull_request.merged", "occurred_at": merged_at,
            "actor": actor, "container": repo, "url": issue.get("html_url", ""), "title": issue.get("title") or "", "data": data}


def pull_request_records(source: str, repo: str, pull: dict) -> list[dict | Rejected]:
    """A pull request object (the `pull_request` webhook, or GET /pulls/N): opened, and merged when it is."""
    merge = {"merged_at": pull.get("merged_at"), "html_url": pull.get("html_url")}
    if "merged" in pull:
        merge["merged"] = pull["merged"]
    return issue_records(source, repo, {**pull, "pull_request": merge})


def review_record(source: str, repo: str, number: int, review: dict) -> dict | Rejected | None:
    """A submitted review; None for one still pending (not yet an activity)."""
    if review.get("state") == "PENDING":
        return None
    external_id = f"review:{repo}:{review['id']}"
    if not review.get("submitted_at"):
        return Rejected(external_id, NO_TIME)
    actor = _actor(review.get("user"))
    if not actor:
        return _no_actor(external_id, review.get("user"))
    return {"source": source, "external_id": external_id, "type": "github.review.submitted",
            "occurred_at": review["submitted_at"], "actor": actor, "container": repo,
            "url": review.get("html_url", ""), "title": f"Review of #{number} ({review.get('state', '').lower()})", "data": _kept(review, REVIEW_KEPT)}


def comment_record(source: str, repo: str, comment: dict, *, review_comment: bool = False) -> dict | Rejected:
    prefix = "review_comment" if review_comment else "comment"
    external_id = f"{prefix}:{repo}:{comment['id']}"
    actor = _actor(comment.get("user"))
    if not actor:
        return _no_actor(external_id, comment.get("user"))
    return {"source": source, "external_id": external_id, "type": "github.comment.created",
            "occurred_at": comment["created_at"], "actor": actor, "container": repo,
            "url": comment.get("html_url", ""), "data": _kept(comment, COMMENT_KEPT)}


def commit_record(source: str, repo: str, commit: dict) -> dict | Rejected:
    """An item of the commits listing: the author's e-mail and account together link the two identities.

    `author` (the GitHub account) is null when the commit's e-mail belongs to no account: the commit
    is then the e-mail's alone."""
    external_id = f"commit:{repo}:{commit['sha']}"
    author = (commit.get("commit") or {}).get("author") or {}
    actor = _actor(commit.get("author"), email=author.get("email"), name=author.get("name"))
    if not author.get("date"):
        return Rejected(external_id, NO_TIME)
    if not actor.keys() - {"name"}:
        return Rejected(external_id, NO_AUTHOR)
    message = ((commit.get("commit") or {}).get("message") or "").split("\n", 1)[0]
    return {"source": source, "external_id": external_id, "type": "github.commit.authored",
            "occurred_at": author["date"], "actor": actor, "container": repo, "url": commit.get("html_url", ""),
            "title": message, "data": _commit_data(commit)}


def push_commit_record(source: str, repo: str, commit: dict) -> dict | Rejected:
    """A commit of a `push` webhook (its own shape), under the same external id as the commits listing.

    A push names the author's login but not the account's uid: the login is left out (a login can
    be another account's by now), the e-mail and name stay. The commits listing, which gives the
    account, links the e-mail to it."""
    external_id = f"commit:{repo}:{commit['id']}"
    author = commit.get("author") or {}
    actor: dict[str, Any] = {key: author[key] for key in ("email", "name") if author.get(key)}
    if not commit.get("timestamp"):
        return Rejected(external_id, NO_TIME)
    if not actor.get("email"):
        return Rejected(external_id, NO_AUTHOR)
    return {"source": source, "external_id": external_id, "type": "github.commit.authored",
            "occurred_at": commit["timestamp"], "actor": actor, "container": repo, "url": commit.get("url", ""),
            "title": (commit.get("message") or "").split("\n", 1)[0], "data": _kept(commit, PUSH_COMMIT_KEPT)}


class GitHubConnector(Connector):
    kind = "github"

    def __init__(self, source: "Source", *, client: HttpClient | None = None) -> None:
        super().__init__(source, client=client)
        # GitHub's GraphQL endpoint, used where it reads more per request: it needs a token, and the source may turn it off.
        wanted = self.options.get("graphql", True) is not False and bool(self.client.pool.tokens)
        self.graphql: str | None = graphql_url(self.client.base_url) if wanted else None

    def default_base_url(self) -> str:
        return "https://api.github.com"

    def make_client(self):
        client = super().make_client()
        client.session.headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"})
        return client

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        state = copy.deepcopy(checkpoint)
        state.setdefault("repos", {})
        repos = list(self.options.get("repos") or [])
        org_repos: list[str] = []
        if self.options.get("org"):
            org_repos, org_state = self._org_repos(state.get("org", {}))
            state["org"] = org_state
        # `repos` first: its spelling is the one the webhook maps deliveries to (`source_repo`).
        for repo in _unique_ignoring_case([*repos, *org_repos]):
            try:
                yield from self._repo_pages(repo, state)
            except NotFound:
                if repo in repos:
                    yield Page([], copy.deepcopy(state), errors=[f"{repo}: repository not found (HTTP 404); deleted, renamed or private?"])
                else:
                    # Gone from the organisation since its listing was cached: forget it.
                    state["org"]["repos"] = [name for name in state["org"].get("repos", []) if name != repo]
                    state["repos"].pop(repo, None)
                    yield Page([], copy.deepcopy(state))

    def _org_repos(self, org_state: dict) -> tuple[list[str], dict]:
        org = self.options["org"]
        # Newest first, so a new repository changes the first page and defeats the 304.
        url = self.client.url(with_query(f"orgs/{org}/repos", {"per_page": PER_PAGE, "sort": "created", "direction": "desc"}))
        etag = org_state.get("etag", "") if org_state.get("etag_url") == url else ""
        names: list[str] = []
        page_url: str | None = url
        while page_url:
            response = self.client.get(page_url, etag=etag if page_url == url else "")
            if response.not_modified:
                return list(org_state.get("repos", [])), org_state
            if page_url == url:
                org_state = {"etag": response.etag, "etag_url": url}
            names.extend(item["full_name"] for item in response.data if not item.get("archived") or self.options.get("include_archived"))
            page_url = response.link("next")
        org_state["repos"] = names
        return names, org_state

    def _repo_pages(self, repo: str, state: dict) -> Iterator[Page]:
        repo_state = state["repos"].setdefault(repo, {})
        base = self.client.url(f"repos/{repo}/")
        slug = self.source.slug
        closed_pulls = _ClosedPulls(self.client, base + "pulls")
        for listing in LISTINGS:
            listing_state = repo_state.get(listing, {})
            since = listing_state.get("since")
            lookback = timedelta(0)
            if listing == "issues":
                url = with_query(base + "issues", {"state": "all", "sort": "updated", "direction": "desc", "since": since, "per_page": PER_PAGE})
            elif listing == "comments":
                url = with_query(base + "issues/comments", {"sort": "updated", "direction": "desc", "since": since, "per_page": PER_PAGE})
            elif listing == "review_comments":
                url = with_query(base + "pulls/comments", {"sort": "updated", "direction": "desc", "since": since, "per_page": PER_PAGE})
            else:
                url = with_query(base + "commits", {"since": since, "per_page": PER_PAGE})
                lookback = timedelta(hours=float(self.options.get("commit_lookback_hours", 24)))
            item_time = _commit_time if listing == "commits" else _updated
            for items, new_state in walk_listing(self.client, listing_state, url=url, item_time=item_time, lookback=lookback):
                records: list[dict | Rejected] = []
                pulls = [item["number"] for item in items if listing == "issues" and _pull_request(item) is not None]
                reviews = self._reviews_of(repo, pulls) if pulls else {}
                for item in items:
                    if listing == "issues":
                        records.extend(issue_records(slug, repo, item))
                        if _pull_request(item) is not None:
                            records.extend(reviews[item["number"]])
                    elif listing == "commits":
                        records.append(commit_record(slug, repo, item))
                    else:
                        records.append(comment_record(slug, repo, item, review_comment=listing == "review_comments"))
                if listing == "issues":
                    records.extend(self._merges(repo, items, closed_pulls))
                repo_state[listing] = new_state
                yield Page(records, copy.deepcopy(state))

    def _reviews_of(self, repo: str, numbers: list[int]) -> dict[int, list[dict | Rejected]]:
        """The review records of pull requests `numbers` (a page's): one GraphQL query when it may be used, else REST."""
        if self.graphql is not None:
            try:
                found = reviews_of(self.client, self.graphql, repo, numbers)
            except GraphQLUnavailable:
                self.graphql = None  # this GitHub serves no GraphQL: REST for the rest of the sync
            else:
                slug = self.source.slug
                return {number: [record for review in reviews or [] if (record := review_record(slug, repo, number, review))]
                        for number, reviews in found.items()}
        return {number: self._reviews(repo, number) for number in numbers}

    def _reviews(self, repo: str, number: int) -> list[dict | Rejected]:
        records: list[dict | Rejected] = []
        page_url: str | None = self.client.url(with_query(f"repos/{repo}/pulls/{number}/reviews", {"per_page": PER_PAGE}))
        while page_url:
            try:
                response = self.client.get(page_url)
            except NotFound:
                # No reviews API here (GitHub Enterprise before 2.9), or the pull request went away
                # since the listing was read: no reviews, and the repository's other items still count.
                return records
            records.extend(filter(None, (review_record(self.source.slug, repo, number, review) for review in response.data or [])))
            page_url = response.link("next")
        return records

    def _merges(self, repo: str, items: list[dict], closed_pulls: "_ClosedPulls") -> list[dict | Rejected]:
        """The merges of the closed pull requests among `items` whose issue says nothing of a merge.

        Older API versions (and some items of today's) give the issues listing's `pull_request` no
        `merged_at`: the pulls listing, which always has it, says whether and when each was merged.
        """
        unknown = [item for item in items if _merge_unknown(item)]
        if not unknown:
            return []
        pulls = closed_pulls.find({item["number"]: item.get("updated_at") or item.get("created_at") for item in unknown})
        records: list[dict | Rejected] = []
        for item in unknown:
            pull = pulls.get(item["number"])
            # Not among the closed pull requests: reopened since; its merge, if any, comes with a later change.
            if pull is not None:
                record = merge_record(self.source.slug, repo, item, merged_at=pull.get("merged_at"), merged=pull.get("merged"))
                if record is not None:
                    records.append(record)
        return records


def _merge_unknown(item: dict) -> bool:
    pull = _pull_request(item)
    return pull is not None and "merged_at" not in pull and "merged" not in pull and item.get("state") == "closed"


class _ClosedPulls:
    """A repository's closed pull requests, newest-updated first, read page by page as far as a sync needs.

    The issues listing is read newest-updated first too, so the pull requests it asks about come
    in the same order: each page of this listing is read once per sync, however many pages of
    issues ask (not one request per pull request).
    """

    # A pull request's `updated_at` is its issue's, give or take; this much slack before giving up on one.
    SLACK = timedelta(days=1)

    def __init__(self, client: HttpClient, url: str) -> None:
        self.client = client
        self.next_url: str | None = with_query(url, {"state": "closed", "sort": "updated", "direction": "desc", "per_page": PER_PAGE})
        self.seen: dict[int, dict] = {}
        self.oldest: datetime | None = None

    def find(self, wanted: dict[int, str | None]) -> dict[int, dict]:
        """The pulls-listing objects of pull requests `wanted` (number → the issue's `updated_at`) that are closed."""
        times = [moment for value in wanted.values() if (moment := parse_time(value)) is not None]
        horizon = min(times) - self.SLACK if times else None
        while self.next_url and any(number not in self.seen for number in wanted):
            if horizon is not None and self.oldest is not None and self.oldest < horizon:
                break
            response = self.client.get(self.next_url)
            for pull in response.data or []:
                if isinstance(pull, dict) and isinstance(pull.get("number"), int):
                    self.seen[pull["number"]] = pull
                    updated = parse_time(pull.get("updated_at"))
                    if updated is not None and (self.oldest is None or updated < self.oldest):
                        self.oldest = updated
            self.next_url = response.link("next")
        return {number: self.seen[number] for number in wanted if number in self.seen}


def _updated(item: dict) -> str | None:
    return item.get("updated_at") or item.get("created_at")


def _commit_time(item: dict) -> str | None:
    commit = item.get("commit") or {}
    return (commit.get("committer") or {}).get("date") or (commit.get("author") or {}).get("date")
