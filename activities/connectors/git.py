"""Any git repository, by https URL or local path: commits authored, commits committed, merges.

Options: `{"url": "https://github.com/mdn/content.git", "branches": ["main"], "paths": ["files/en-us"],
"merges": false, "mailmap": false}`; only `url` is required. The container is the repository's name
(`mdn/content`, or a local repository's directory name), unless the option `container` names one.

The worker keeps a bare mirror of the repository (git_mirror.py: where it may fetch from, and how
git runs) and fetches only the branches read (the default: the remote's `HEAD`). Each sync then walks
`git log <tips now> ^<tips already synced>`, streamed, never held in memory:
- `git.commit.authored`, one per non-merge commit: actor = author e-mail and name, occurred_at =
  author date with its own UTC offset;
- `git.commit.committed`, when the committer's e-mail differs from the author's: actor = the
  committer, at the committer date;
- `git.merge.authored`, one per merge commit, only when `merges` is true.
With `mailmap` true, `.mailmap` of the default branch rewrites names and e-mails (`%aE`/`%aN`); by
default commits are read as written (`--no-mailmap`): the people directory and claims already join
a person's addresses.

The checkpoint names the branch tips fully synced, and the walk in progress: its tips, the commits
already excluded, how many commits of it are committed and the last one. A sync killed mid-walk
walks the same revisions again, skips what was committed (checking that the commit there is the
one it committed; if not, it walks from the start: duplicates are free) and goes on. A force-push
loses nothing: the next walk starts from the new tip and excludes what was synced; commits no
longer on any branch stay stored. Changing `paths` or `merges` reads the whole history again
(nothing is doubled); `mailmap` applies to the commits read after it changes.
"""

import copy
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from activities.records import EARLIEST, EARLIEST_PLAIN_DATE, FUTURE_TOLERANCE

from .base import (
    NO_AUTHOR,
    NO_TIME,
    Connector,
    Page,
    Rejected,
    iso,
    rejection_reason,
    rejections_to_recheck,
    totals_due,
)
from .git_mirror import OBJECT_NAME, GitClient, remote_https, remote_local
from .http import SourceError

OPTIONS = ("url", "branches", "paths", "merges", "mailmap", "container", "commit_url", "page_size", "fetch_timeout_seconds")
# Commits per page: a page is committed with its checkpoint, a killed sync reads at most this many again.
PAGE_SIZE = 1_000
# git fetch and other git commands are stopped after this long (a first clone of a huge history
# takes minutes; the sync's lock is kept alive meanwhile by its heartbeat, activities/sync.py).
FETCH_TIMEOUT = 540
MAX_FETCH_TIMEOUT = 540
MAX_BRANCHES = 50
MAX_PATHS = 100
# One line per field, NUL between commits (`-z`). Names and e-mails never hold a line break in git.
FIELDS = ("sha", "parents", "authored_at", "author_email", "author_name", "committed_at", "committer_email",
          "committer_name", "subject")
FORMAT_AS_WRITTEN = "%H%n%P%n%aI%n%ae%n%an%n%cI%n%ce%n%cn%n%s"
FORMAT_MAILMAP = "%H%n%P%n%aI%n%aE%n%aN%n%cI%n%cE%n%cN%n%s"
# The mirror's ref for the remote's default branch (its HEAD), and for a named branch.
DEFAULT = "HEAD"
DEFAULT_REF = "refs/baloo/default"
# Committers that are a service, not a person: GitHub's web-flow commits what people merge and edit on github.com.
SYSTEM_COMMITTERS = frozenset({"noreply@github.com"})
SYSTEM_COMMITTER = rejection_reason("committed by a system account (GitHub's web-flow)")
NO_EMAIL = rejection_reason("no e-mail address")
UNREADABLE_DATE = rejection_reason("no readable date (git shows 1970-01-01)")
FUTURE_DATE = rejection_reason("dated in the future")
# Characters a branch name or path filter may not hold: controls, and what git reads as syntax.
BRANCH_REFUSED = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.|\.lock$|\.lock/|^[-/.]|[/.]$")
PATH_REFUSED = re.compile(r"[\x00-\x1f\x7f]|^[-:/]|(^|/)\.\.(/|$)")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text_option(options: dict, name: str, *, limit: int) -> str | None:
    value = options.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SourceError(f"option `{name}` must be a non-empty string")
    if len(value) > limit or CONTROL.search(value):
        raise SourceError(f"option `{name}` must be at most {limit} characters, without control characters")
    return value.strip()


def _list_option(options: dict, name: str, *, limit: int, refused: re.Pattern, what: str) -> list[str]:
    value = options.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SourceError(f"option `{name}` must be a list of strings")
    if len(value) > limit:
        raise SourceError(f"option `{name}` may name at most {limit} {what}s")
    for item in value:
        if not item or len(item) > 250 or refused.search(item):
            raise SourceError(f"option `{name}`: {item[:80]!r} is not a {what} Baloo reads "
                              f"(no leading '-', '/' or ':', no '..', no control characters)")
    return list(dict.fromkeys(value))


def _int_option(options: dict, name: str, *, default: int, least: int, most: int) -> int:
    value = options.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise SourceError(f"option `{name}` must be a whole number from {least} to {most}")
    return value


def _bool_option(options: dict, name: str) -> bool:
    value = options.get(name, False)
    if not isinstance(value, bool):
        raise SourceError(f"option `{name}` must be true or false")
    return value


def repository_name(url: str) -> str:
    """The container: `owner/name` from a URL's path (`mdn/content` for …/mdn/content.git), a local directory's name."""
    path = urlsplit(url).path if "://" in url else url
    parts = [part for part in path.removesuffix("/").removesuffix(".git").split("/") if part]
    if parts and parts[-1] == ".git":
        parts.pop()
    if not parts:
        return ""
    return "/".join(parts[-2:]) if "://" in url else parts[-1].removesuffix(".git")


def default_commit_url(url: str) -> str:
    """A commit's page on the hosts whose address is known: github.com and gitlab.com."""
    if "://" not in url:
        return ""
    parts = urlsplit(url)
    path = parts.path.removesuffix("/").removesuffix(".git").strip("/")
    host = (parts.hostname or "").lower()
    if host == "github.com" and path.count("/") == 1:
        return f"https://github.com/{path}/commit/{{sha}}"
    if host == "gitlab.com" and path:
        return f"https://gitlab.com/{path}/-/commit/{{sha}}"
    return ""


class GitConnector(Connector):
    kind = "git"

    def make_client(self) -> GitClient:
        options = self.options
        if not isinstance(options, dict):
            raise SourceError("the options of a git source must be a JSON object")
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise SourceError(f"unknown option `{unknown[0][:40]}` for a git source (its options: {', '.join(OPTIONS)})")
        url = _text_option(options, "url", limit=1000)
        if url is None:
            raise SourceError("option `url` is missing: a git source reads the repository at an https URL or a local path "
                              "(a git source fed only by imports and pushes needs no sync: set its schedule to 0)")
        self.branches = _list_option(options, "branches", limit=MAX_BRANCHES, refused=BRANCH_REFUSED, what="branch")
        self.paths = _list_option(options, "paths", limit=MAX_PATHS, refused=PATH_REFUSED, what="path filter")
        self.merges = _bool_option(options, "merges")
        self.mailmap = _bool_option(options, "mailmap")
        self.page_size = _int_option(options, "page_size", default=PAGE_SIZE, least=1, most=10_000)
        timeout = _int_option(options, "fetch_timeout_seconds", default=FETCH_TIMEOUT, least=1, most=MAX_FETCH_TIMEOUT)
        self.container = _text_option(options, "container", limit=255) or repository_name(url)
        self.commit_url = _text_option(options, "commit_url", limit=500)
        if self.commit_url is not None and (self.commit_url.count("{sha}") != 1 or not self.commit_url.startswith("https://")):
            raise SourceError("option `commit_url` must be an https address with `{sha}` once, e.g. "
                              "https://git.example.org/app/commit/{sha}")
        self.commit_url = self.commit_url or default_commit_url(url)
        return GitClient(slug=self.source.slug, remote=self._remote(url), timeout=timeout)

    @staticmethod
    def _remote(url: str):
        if url.startswith("-"):
            raise SourceError("option `url` may not start with '-'")
        if "::" in url.split("/", 1)[0] or url.lower().startswith("ext::"):
            raise SourceError("option `url`: git transport helpers (`ext::`, `fd::`…) are refused; give an https URL or a local path")
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme == "https":
            if urlsplit(url).query or urlsplit(url).fragment:
                raise SourceError("option `url`: an https URL without a query or fragment, please")
            return remote_https(url)
        if scheme:
            raise SourceError(f"option `url`: {scheme}:// is refused; a git source reads https URLs and local paths only")
        if not url.startswith("/"):
            raise SourceError("option `url` must be an https URL or an absolute local path "
                              "(ssh addresses such as git@host:repo are refused)")
        return remote_local(url)

    # -- the sync

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        client: GitClient = self.client
        with client.locked():
            refspecs = {"HEAD": DEFAULT_REF} if not self.branches else {
                f"refs/heads/{branch}": f"refs/heads/{branch}" for branch in self.branches}
            fetched = client.fetch(refspecs)
            names = {DEFAULT_REF: DEFAULT, **{f"refs/heads/{branch}": branch for branch in self.branches}}
            tips = {names[ref]: sha for ref, sha in fetched.items()}
            missing = sorted(set(names[ref] for ref in refspecs.values()) - set(tips))
            if missing:
                raise SourceError(f"the repository has no branch {missing[0]!r}")

            state = copy.deepcopy(checkpoint)
            filters = {"paths": sorted(self.paths), "merges": self.merges}
            if state.get("filters") != filters:
                # Another selection of commits: read the whole history again (nothing is doubled).
                state = {"filters": filters, "done": {}}
            if state.get("walk"):
                yield from self._walk(state, state["walk"])
            done = state.setdefault("done", {})
            if tips != done:
                # Every tip synced is excluded, an unchanged one too: `git log A ^A` lists nothing.
                exclude = client.existing(sorted(set(done.values())))
                walk = {"tips": tips, "exclude": exclude, "count": 0, "last": None}
                yield from self._walk(state, walk)
            rechecked = self._recheck()
            if rechecked:
                yield Page(rechecked, copy.deepcopy(state))
            if totals_due(state):
                # The history's own count, for the published data quality (`Page.source_total`): the
                # non-merge commits on the source's branches and paths, each one `commit:<sha>`.
                commits = client.commits_counted(sorted(set(tips.values())), paths=sorted(self.paths), merges=False)
                state["totals_at"] = iso(timezone.now())
                yield Page([], copy.deepcopy(state), source_total={"commit": commits})

    def _walk(self, state: dict, walk: dict) -> Iterator[Page]:
        """`git log <tips> ^<exclude>`, page by page; the last page's checkpoint marks the tips done."""
        client: GitClient = self.client
        tips = sorted(set(walk["tips"].values()))
        if len(client.existing(tips)) != len(tips):
            # The walk's tips are gone from the mirror: the next walk (from the tips now) covers what is left.
            state.pop("walk", None)
            return
        exclude = client.existing(walk.get("exclude", []))
        arguments = [f"--format={FORMAT_MAILMAP if self.mailmap else FORMAT_AS_WRITTEN}",
                     "--use-mailmap" if self.mailmap else "--no-mailmap"]
        if not self.merges:
            arguments.append("--no-merges")
        count = int(walk.get("count") or 0)
        if count:
            arguments.append(f"--skip={count - 1}")
        arguments += [*tips, *(f"^{sha}" for sha in exclude), "--", *self.paths]
        walk = {**walk, "exclude": exclude}
        commits = client.log(arguments, mailmap_ref=self._mailmap_ref())
        if count:
            first = next(commits, None)
            if first is None or first.split(b"\n", 1)[0].decode("ascii", "replace") != walk.get("last"):
                # The walk does not give the same commits in the same order: from the start, doubling nothing.
                commits.close()
                yield from self._walk(state, {**walk, "count": 0, "last": None})
                return
        records: list[dict | Rejected] = []
        in_page = 0
        clock = _Clock()
        for entry in commits:
            sha = self._commit_records(entry, records, clock)
            walk["count"] = count = count + 1
            walk["last"] = sha
            in_page += 1
            if in_page == self.page_size:
                yield Page(records, copy.deepcopy({**state, "walk": walk}))
                records, in_page, clock = [], 0, _Clock()
        state.pop("walk", None)
        state["done"] = dict(walk["tips"])
        yield Page(records, copy.deepcopy(state))

    def _mailmap_ref(self) -> str | None:
        """`.mailmap` is read from the default branch, or the first of `branches`."""
        if not self.mailmap:
            return None
        return f"refs/heads/{self.branches[0]}" if self.branches else DEFAULT_REF

    def _commit_records(self, entry: bytes, records: list[dict | Rejected], clock: "_Clock") -> str:
        """Append the records of one commit (`git log -z` entry: the format's lines) to `records`; its sha."""
        fields = entry.decode("utf-8", "replace").split("\n")
        if len(fields) != len(FIELDS) or not OBJECT_NAME.match(fields[0].encode()):
            raise SourceError(f"git log gave a commit Baloo cannot read ({len(fields)} fields, starting {fields[0][:12]!r})")
        sha, parents, authored_at, author_email, author_name, committed_at, committer_email, committer_name, subject = fields
        url = self.commit_url.replace("{sha}", sha) if self.commit_url else ""
        if " " in parents:
            records.append(self._record(f"merge:{sha}", "git.merge.authored", author_email, author_name, authored_at, url,
                                        subject, {"sha": sha, "parents": parents.split()}, clock))
            return sha
        records.append(self._record(f"commit:{sha}", "git.commit.authored", author_email, author_name, authored_at, url,
                                    subject, {"sha": sha, "committed_at": committed_at}, clock))
        committer = committer_email.strip().lower()
        if committer != author_email.strip().lower():
            if committer in SYSTEM_COMMITTERS:
                records.append(Rejected(f"committed:{sha}", SYSTEM_COMMITTER))
            else:
                records.append(self._record(f"committed:{sha}", "git.commit.committed", committer_email, committer_name,
                                            committed_at, url, subject, {"sha": sha, "authored_at": authored_at}, clock))
        return sha

    def _record(self, external_id: str, activity_type: str, email: str, name: str, when: str, url: str, title: str,
                data: dict, clock: "_Clock") -> dict | Rejected:
        email, name = email.strip(), name.strip()
        if not email:
            return Rejected(external_id, NO_EMAIL if name else NO_AUTHOR)
        problem = clock.problem(when)
        if problem:
            return Rejected(external_id, problem, lasting=problem != FUTURE_DATE)
        return {"source": self.source.slug, "external_id": external_id, "type": activity_type, "occurred_at": when,
                "actor": {"email": email, "name": name} if name else {"email": email}, "container": self.container,
                "url": url, "title": title, "data": data}

    def _recheck(self) -> list[dict | Rejected]:
        """Commits rejected for a date in the future, read again: stored once their day has come."""
        shas = sorted({external_id.split(":", 1)[1] for external_id in rejections_to_recheck(source=self.source, prefix="")
                       if ":" in external_id})
        client: GitClient = self.client
        shas = client.existing(shas)
        if not shas:
            return []
        arguments = [f"--format={FORMAT_MAILMAP if self.mailmap else FORMAT_AS_WRITTEN}",
                     "--use-mailmap" if self.mailmap else "--no-mailmap", "--no-walk=unsorted", *shas, "--"]
        records: list[dict | Rejected] = []
        clock = _Clock()
        for entry in client.log(arguments, mailmap_ref=self._mailmap_ref()):
            self._commit_records(entry, records, clock)
        return records


class _Clock:
    """Whether a git date (`%aI`: `2024-03-01T10:00:00+05:30`) may be an activity's, judged once per page's now."""

    def __init__(self) -> None:
        now = timezone.now()
        self.latest = now + FUTURE_TOLERANCE
        # A date before this day is in the past whatever its offset: no parsing needed (offsets stay within a day).
        self.plainly_past = (now - timedelta(days=1)).date().isoformat()

    def problem(self, when: str) -> str | None:
        """None for a usable date, else the reason to reject it."""
        if len(when) == 25 and EARLIEST_PLAIN_DATE <= when < self.plainly_past:
            return None
        try:
            moment = datetime.fromisoformat(when)
        except ValueError:
            return NO_TIME
        if moment.tzinfo is None:
            return NO_TIME
        if moment <= EARLIEST:
            return UNREADABLE_DATE
        if moment > self.latest:
            # Its date never changes, but the day comes: a later sync reads it again (`_recheck`).
            return FUTURE_DATE
        return None
