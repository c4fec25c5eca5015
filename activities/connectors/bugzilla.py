"""Bugzilla (the REST API as bugzilla.mozilla.org serves it): bugs filed, comments, attachments, bugs fixed.

Options: `{"products": ["Firefox"], "components": ["General"]}` (both optional, lists),
`"page_size"` (default 100), `"nobody": ["…"]` (more default assignees that fix nothing, besides the
e-mails of the placeholder accounts staff list in the admin, `nobody@mozilla.org` among them).
The API key comes from the environment variable named by the source's `token_env`.

Bugs are walked newest-changed first (`order=changeddate DESC`) with `limit`/`offset`: a bug that
changes during the walk jumps to the already-read first page, so the pages after it shift towards
later offsets and are read again (harmless duplicates) instead of being skipped. The next sync
starts from the latest `last_change_time` seen.

Comments and attachments come for a whole page of bugs in one request each:
`/rest/bug/<first>/comment?ids=<second>&ids=<third>…` (and `/attachment`, and `/history` where a
fix needs it). Bugzilla's REST server adds the query's `ids` to the bug named in the path
(Bugzilla::WebService::Server::REST, `_retrieve_json_params`, since Bugzilla 5.0 and on BMO since
2014: bugs 1093600 and 1096565); a server that answers for the path's bug only has the others
asked for one by one, so nothing is missed. Comments are asked for with `include_fields` (no
text), attachments without their `data`.
"""

import copy
import re
from collections.abc import Iterator
from typing import Any

from django.utils import timezone

from ..actors import placeholder_emails
from ..keys import email_key
from .base import (
    NO_AUTHOR,
    NO_TIME,
    Connector,
    Page,
    Rejected,
    iso,
    later,
    parse_time,
    rejection_reason,
    stored_containers,
    totals_due,
    with_query,
)
from .http import SourceError

BUG_FIELDS = (
    "id,summary,product,component,status,resolution,creator,creator_detail,creation_time,"
    "last_change_time,assigned_to,assigned_to_detail,cf_last_resolved"
)
# What each record keeps of Bugzilla's object as its raw payload: ids, states and times. Not the people
# a bug names (creator, assignee and their details) nor comment text: the actor is the record's own,
# and an erasure must not have to hunt for anyone in other people's payloads.
BUG_KEPT = ("id", "product", "component", "status", "resolution", "creation_time", "last_change_time", "cf_last_resolved")
COMMENT_KEPT = ("id", "bug_id", "count", "creation_time", "is_private")
ATTACHMENT_KEPT = ("id", "bug_id", "creation_time", "last_change_time", "content_type", "is_patch", "is_obsolete",
                   "is_private", "size")
# What a comment record reads: its kept fields, its author (`creator`; `author` on older servers) and time (`time` on older ones).
COMMENT_FIELDS = ",".join((*COMMENT_KEPT, "creator", "author", "time"))
# Bugs per request for comments, attachments and histories: a page of bugs (100 by default) in one request.
BUGS_PER_REQUEST = 100


FIXED_BY_NOBODY = rejection_reason("fixed with no assignee (the default assignee fixes nothing)")
# Where the name ends in a Bugzilla real name: people add their nick and their availability to
# it ("Ann Example [:ann] (PTO until 2 Jan)", "Ann Example (:ann)", "Ann Example :ann", "Ann
# Example [he/him] ⌚UTC+1", "Ann Example - away"). Brackets of any kind, a `:nick`, a dash or bar
# standing alone, a watch.
_NAME_ENDS = re.compile(r"[\[\(\{<（【]|(?<!\S):{1,2}\w|\s[-|–—]\s|⌚")
_BRACKETED = re.compile(r"[\[\(\{<（【][^\]\)\}>）】]*[\]\)\}>）】]?")


def plain_name(real_name: str | None) -> str:
    """A Bugzilla real name without the nick and availability notes people add to it (see `_NAME_ENDS`).

    "Ann Example [:ann] (PTO until 2 Jan)" is "Ann Example"; a name that is all decoration
    ("[:ann] Ann Example") keeps what stands outside the brackets; nothing left is no name.
    """
    name = " ".join((real_name or "").split()).lstrip(":")
    cut = _NAME_ENDS.search(name)
    plain = name[: cut.start()] if cut else name
    if not plain.strip(" ,;:|-–—"):
        plain = _NAME_ENDS.split(_BRACKETED.sub(" ", name).strip(), maxsplit=1)[0]
    return plain.strip(" ,;:|-–—")


def _kept(item: dict, fields: tuple[str, ...]) -> dict:
    return {field: item[field] for field in fields if field in item}


def _actor(login: str | None, detail: dict | None = None) -> dict:
    detail = detail or {}
    actor: dict[str, Any] = {}
    email = detail.get("email") or login
    if email and "@" in email:
        actor["email"] = email
    nick = detail.get("nick") or (login if login and "@" not in login else None)
    if nick:
        actor["username"] = nick
    if detail.get("id") is not None:
        actor["uid"] = str(detail["id"])
    if name := plain_name(detail.get("real_name")):
        actor["name"] = name
    return actor


class BugzillaConnector(Connector):
    kind = "bugzilla"
    auth_header = staticmethod(lambda token: {"X-BUGZILLA-API-KEY": token})

    def default_base_url(self) -> str:
        return "https://bugzilla.mozilla.org"

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        state = copy.deepcopy(checkpoint)
        limit = int(self.options.get("page_size", 100))
        since = state.get("since")
        offset = int(state.get("offset", 0))
        first_url = self._search_url(since, 0, limit)
        while True:
            url = self._search_url(since, offset, limit)
            etag = state.get("etag", "") if offset == 0 and state.get("etag_url") == url else ""
            response = self.client.get(url, etag=etag)
            if response.not_modified:
                break
            bugs = self._items(response.data, "bugs")
            if not isinstance(bugs, list):
                raise SourceError(f"{url}: expected a list of bugs")
            if offset == 0 and url == first_url:
                state["etag"], state["etag_url"] = response.etag, url
            for bug in bugs:
                state["max_seen"] = later(state.get("max_seen"), bug.get("last_change_time"))
            records = self._bug_records(bugs)
            if bugs:
                records.extend(self._comment_records(bugs))
                records.extend(self._attachment_records(bugs))
            offset += len(bugs)
            done = len(bugs) < limit
            if done:
                if state.get("max_seen"):
                    state["since"] = state.pop("max_seen")
                state["offset"] = offset = 0
            else:
                state["offset"] = offset
            yield Page(records, copy.deepcopy(state))
            if done:
                break
        if totals_due(state):
            yield from self._totals(state)

    def _totals(self, state: dict) -> Iterator[Page]:
        """Bugzilla's own count of the bugs this source syncs, as a page of no records (see `Page.source_total`).

        bugzilla.mozilla.org answers a search with `count_only=1` by `{"bug_count": N}` and nothing
        else (Bugzilla::WebService::Bug::search, BMO bug 920060; a string before BMO bug 1503182).
        Upstream Bugzilla 5.x has no count in its search answers: it ignores the parameter and
        answers the first bug (hence `limit=1`), so no total is reported. A server that adds
        `total_matches` to its answer is read too. A failed count costs nothing but the figure:
        asked again at the next sync.
        """
        params = {"product": self.options.get("products") or None, "component": self.options.get("components") or None,
                  "count_only": 1, "include_fields": "id", "limit": 1}
        try:
            data = self.client.get(self.client.url(with_query("rest/bug", params))).data
        except SourceError:
            return
        count = data.get("bug_count", data.get("total_matches")) if isinstance(data, dict) else None
        if isinstance(count, str) and count.isascii() and count.isdigit():
            count = int(count)
        state["totals_at"] = iso(timezone.now())
        total = {"bug": count} if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
        yield Page([], copy.deepcopy(state), source_total=total)

    def _search_url(self, since: str | None, offset: int, limit: int) -> str:
        params: dict[str, Any] = {
            "product": self.options.get("products") or None,
            "component": self.options.get("components") or None,
            "last_change_time": since,
            "order": "changeddate DESC,bug_id",
            "include_fields": BUG_FIELDS,
            "limit": limit,
            "offset": offset,
        }
        return self.client.url(with_query("rest/bug", params))

    @staticmethod
    def _items(data: Any, key: str) -> Any:
        if not isinstance(data, dict):
            raise SourceError(f"expected a JSON object with {key!r}")
        if data.get("error"):
            raise SourceError(f"Bugzilla error {data.get('code', '')}: {data.get('message', 'unknown')}".strip())
        return data.get(key, [])

    def _bug_url(self, bug_id: int) -> str:
        return self.client.url(f"show_bug.cgi?id={bug_id}")

    def _fixed_times(self, bugs: list[dict]) -> dict[str, Any]:
        """When each of `bugs` was last resolved FIXED, by its history (one request for them all); else its `last_change_time`."""
        changed = {str(bug["id"]): bug.get("last_change_time") for bug in bugs}
        when: dict[str, str | None] = dict.fromkeys(changed)
        for bug_id, entry in self._for_bugs(bugs, "history", {}):
            for change in (entry or {}).get("history") or []:
                if any(item.get("field_name") == "resolution" and item.get("added") == "FIXED"
                       for item in change.get("changes") or [] if isinstance(item, dict)):
                    when[bug_id] = later(when[bug_id], change.get("when"))
        return {bug_id: parse_time(when[bug_id] or changed[bug_id]) for bug_id in changed}

    def _bug_records(self, bugs: list[dict]) -> list[dict]:
        records = []
        fixed_ids = [f"fixed:{bug['id']}" for bug in bugs if bug.get("resolution") == "FIXED" and "cf_last_resolved" not in bug]
        already_fixed = set(stored_containers(source=self.source, external_ids=fixed_ids)) if fixed_ids else set()
        # A Bugzilla without BMO's `cf_last_resolved` (upstream Bugzilla): the bug's history says when
        # it was resolved FIXED; `last_change_time` moves with every later comment.
        unknown = [bug for bug in bugs if f"fixed:{bug['id']}" in fixed_ids and f"fixed:{bug['id']}" not in already_fixed]
        fixed_times = self._fixed_times(unknown) if unknown else {}
        nobody = placeholder_emails() | {email_key(value)[2] for value in self.options.get("nobody", ()) if isinstance(value, str)}
        for bug in bugs:
            container = f"{bug.get('product', '')}::{bug.get('component', '')}"
            common = {"container": container, "url": self._bug_url(bug["id"]), "title": bug.get("summary") or ""}
            creator = _actor(bug.get("creator"), bug.get("creator_detail"))
            data = _kept(bug, BUG_KEPT)
            filed = f"bug:{bug['id']}"
            if not creator:
                records.append(Rejected(filed, NO_AUTHOR))
            elif not bug.get("creation_time"):
                records.append(Rejected(filed, NO_TIME))
            else:
                records.append(self.record(external_id=filed, type="bugzilla.bug.filed",
                                           occurred_at=bug["creation_time"], actor=creator, data=data, **common))
            if bug.get("resolution") != "FIXED":
                continue
            fixed = f"fixed:{bug['id']}"
            assignee = _actor(bug.get("assigned_to"), bug.get("assigned_to_detail"))
            if "cf_last_resolved" in bug or fixed in already_fixed:
                fixed_at = parse_time(bug.get("cf_last_resolved") or bug.get("last_change_time"))
            else:
                fixed_at = fixed_times[str(bug["id"])]
            if not assignee or email_key(str(bug.get("assigned_to") or ""))[2] in nobody:
                # May change: the bug is reassigned to who fixed it. That moves its `last_change_time`,
                # so the listing brings the bug back and its fix is stored then.
                records.append(Rejected(fixed, FIXED_BY_NOBODY, lasting=False))
            elif not fixed_at:
                records.append(Rejected(fixed, NO_TIME))
            else:
                records.append(self.record(external_id=fixed, type="bugzilla.bug.fixed",
                                           occurred_at=iso(fixed_at), actor=assignee, data=data, **common))
        return records

    def _containers(self, bugs: list[dict]) -> dict[str, tuple[str, str]]:
        return {str(bug["id"]): (f"{bug.get('product', '')}::{bug.get('component', '')}", bug.get("summary") or "") for bug in bugs}

    def _for_bugs(self, bugs: list[dict], what: str, extra: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """(bug id, its entry in the answer's `bugs`) for each of `bugs`: `BUGS_PER_REQUEST` bugs a request.

        The first bug goes in the path, the others in `ids`, which Bugzilla adds to it. A bug the
        answer leaves out (a server that answers for the path's bug only) is asked for alone. A
        bug read twice on one page (it changed while pages were read) is asked for once.
        """
        wanted = list(dict.fromkeys(str(bug["id"]) for bug in bugs))
        for start in range(0, len(wanted), BUGS_PER_REQUEST):
            batch = wanted[start : start + BUGS_PER_REQUEST]
            entries = self._bug_entries(batch, what, extra)
            for bug_id in batch:
                if bug_id not in entries and len(batch) > 1:
                    entries.update(self._bug_entries([bug_id], what, extra))
                if bug_id in entries:
                    yield bug_id, entries[bug_id]

    def _bug_entries(self, bug_ids: list[str], what: str, extra: dict[str, Any]) -> dict[str, Any]:
        """The answer's `bugs` for `bug_ids`, by bug id: an object (comments, attachments) or a list of `{id, …}` (histories)."""
        url = self.client.url(with_query(f"rest/bug/{bug_ids[0]}/{what}", {**extra, "ids": bug_ids[1:] or None}))
        entries = self._items(self.client.get(url).data, "bugs") or ([] if what == "history" else {})
        if not isinstance(entries, list if what == "history" else dict):
            raise SourceError(f"{url}: expected the bugs' {what} by bug id")
        if what == "history":
            return {str(entry.get("id")): entry for entry in entries if isinstance(entry, dict)}
        return dict(entries)

    def _comment_records(self, bugs: list[dict]) -> list[dict]:
        containers = self._containers(bugs)
        records = []
        for bug_id, entry in self._for_bugs(bugs, "comment", {"include_fields": COMMENT_FIELDS}):
            container, summary = containers.get(str(bug_id), ("", ""))
            # Comments come oldest first, the description first of all. Not every Bugzilla gives a
            # comment its `count` (its number on the bug): then its position in the list is its number.
            for position, comment in enumerate((entry or {}).get("comments", [])):
                number = comment.get("count")
                number = position if not isinstance(number, int) else number
                # Comment 0 is the bug's description: its filing is already `bugzilla.bug.filed`.
                if number == 0:
                    continue
                external_id = f"comment:{comment['id']}"
                actor = _actor(comment.get("creator") or comment.get("author"))
                when = comment.get("creation_time") or comment.get("time")
                if not actor or not when:
                    records.append(Rejected(external_id, NO_AUTHOR if not actor else NO_TIME))
                    continue
                records.append(self.record(external_id=external_id, type="bugzilla.comment.created",
                                           occurred_at=when, actor=actor, container=container, title=summary,
                                           url=f"{self._bug_url(int(bug_id))}#c{number}",
                                           data=_kept(comment, COMMENT_KEPT)))
        return records

    def _attachment_records(self, bugs: list[dict]) -> list[dict]:
        containers = self._containers(bugs)
        records = []
        for bug_id, attachments in self._for_bugs(bugs, "attachment", {"exclude_fields": "data"}):
            container, _summary = containers.get(str(bug_id), ("", ""))
            for attachment in attachments or []:
                actor = _actor(attachment.get("creator") or attachment.get("attacher"))
                if not actor or not attachment.get("creation_time"):
                    records.append(Rejected(f"attachment:{attachment['id']}", NO_AUTHOR if not actor else NO_TIME))
                    continue
                records.append(self.record(external_id=f"attachment:{attachment['id']}", type="bugzilla.attachment.created",
                                           occurred_at=attachment["creation_time"], actor=actor, container=container,
                                           title=attachment.get("summary") or attachment.get("file_name") or "",
                                           url=self.client.url(f"attachment.cgi?id={attachment['id']}"),
                                           data=_kept(attachment, ATTACHMENT_KEPT)))
        return records


