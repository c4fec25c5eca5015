"""Discourse, a forum (its public JSON API): topics created, replies posted, answers accepted.

Options (all optional): `categories` (category slugs; a subcategory is written `parent/child`, as
Discourse writes it in its URLs; a category counts with its subcategories; default: every category
that is not read-restricted), `api_username` (sent as `Api-Username` with the token, which goes as
`Api-Key`; a public forum needs neither), `solved` (false: do not look for accepted answers),
`solved_lookback_days` (30), and the client's `max_retries`, `backoff_seconds`, `max_wait_seconds`.
Anything else, or a value of the wrong type, ends the run with the option named.

The container is the category's slug path (`support`, `support/firefox`): Discourse slugs are
unique among siblings only. User names are the forum's own accounts; `uid` is the account id.

What is read, each sync:
- the categories (`/site.json`, which lists subcategories too; a category it does not list — a
  forum that loads categories lazily — is asked for alone, `/c/<id>/show.json`);
- new posts (`/posts.json`, every public category's posts, newest first, 50 a page, paginated with
  `before=<post id>`) down to the highest post id of the last complete walk: post 1 of a topic is
  `discourse.topic.created`, a later one `discourse.post.created`. The checkpoint keeps the lowest
  id read so far, so a walk killed between pages resumes below it: no gap, no double. Older
  Discourse versions read 50 post ids at a time, `before` included (a page may then hold `before`
  again, or nothing but it), and give no `category_id` on posts (the topic is asked for once);
- accepted answers (the solved plugin): a post listed as `accepted_answer` is stored as such at
  once; and, as accepting an answer does not move a topic's activity, solved topics by last
  activity (`/latest.json?solved=yes`, 30 a page) down to `solved_lookback_days` before the latest
  activity of the last walk, and for each topic not seen since its last activity, its view (`/t/<id>.json`: `accepted_answers`, or
  `accepted_answer` and the post it numbers, or the posts it holds marked `accepted_answer`). An
  answer accepted more than `solved_lookback_days` after its topic's last activity is found only by
  "Start over".

Private messages are never asked for (`/posts.json` lists public posts only; a topic view that says
`private_message` is dropped unread). Whispers, small actions and moderator actions (`post_type`
other than 1) are not activities. System accounts (`user_id` 0 or less: `system`, `discobot`) are
bots. Likes given are not read: Discourse lists them per user only (`/user_actions.json?username=…`),
one request per person per sync; `discourse.like.given` arrives by push or import.
"""

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from .base import (
    DELETED_ACCOUNT,
    NO_TIME,
    Connector,
    Page,
    Rejected,
    iso,
    parse_time,
    rejection_reason,
    rejections_to_recheck,
    with_query,
)
from .http import NotFound, SourceError

# What a record keeps of a post as its raw payload: ids, states, counts and times. Not the author's
# names (the actor holds them), not who it replies to, not its text: an erasure must not have to
# hunt for anyone in others' payloads.
POST_KEPT = ("id", "topic_id", "post_number", "post_type", "created_at", "updated_at", "reply_count",
             "reply_to_post_number", "quote_count", "incoming_link_count", "reads", "readers_count", "score",
             "category_id", "hidden", "wiki", "version", "accepted_answer")
REGULAR = 1  # Discourse's post_type of a post people write; 2 moderator action, 3 small action, 4 whisper
# A reason that may change: staff show a hidden post again, recover a deleted one, move a topic back.
HIDDEN = rejection_reason("post hidden or deleted")
NOT_SERVED = rejection_reason("not served (hidden or deleted)")
TOPIC_NOT_SERVED = rejection_reason("topic not served (hidden or deleted)")
NO_TOPIC = rejection_reason("no topic or post number given")
OUTSIDE = rejection_reason("no longer a public post of the source's categories")
# Older versions read this many post ids per page of /posts.json.
ID_WINDOW = 50
MAX_DEPTH = 5  # categories nest three deep at most; a longer chain is a loop
OPTIONS = {
    "categories": "a list of category slugs, e.g. [\"support\", \"support/firefox\"]",
    "api_username": "a user name",
    "solved": "true or false",
    "solved_lookback_days": "a number of days between 1 and 3650",
    "max_retries": "a whole number between 0 and 10",
    "backoff_seconds": "a number of seconds between 0 and 300",
    "max_wait_seconds": "a number of seconds between 0 and 3600",
}


def options_problem(options: Any) -> str | None:
    """Why a discourse source's `options` cannot be used, naming the option; None when they can."""
    if not isinstance(options, dict):
        return "the options of a discourse source must be a JSON object"
    for name, value in options.items():
        if name not in OPTIONS:
            return f"unknown option {name!r} for a discourse source (known: {', '.join(sorted(OPTIONS))})"
        number = isinstance(value, int | float) and not isinstance(value, bool)
        good = {
            "categories": isinstance(value, list) and len(value) <= 1000
            and all(isinstance(item, str) and 0 < len(item.strip()) <= 255 for item in value),
            # Sent as a header: printable characters only (a line break would split the request).
            "api_username": isinstance(value, str) and 0 < len(value.strip()) <= 60 and value.isprintable(),
            "solved": isinstance(value, bool),
            "solved_lookback_days": number and 1 <= value <= 3650,
            "max_retries": isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10,
            "backoff_seconds": number and 0 <= value <= 300,
            "max_wait_seconds": number and 0 <= value <= 3600,
        }[name]
        if not good:
            return f"option {name!r} must be {OPTIONS[name]}"
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _kept(post: dict) -> dict:
    return {field: post[field] for field in POST_KEPT if field in post}


def _actor(post: dict) -> dict | None:
    """The post's author; None for a deleted account (Discourse keeps its posts with no user)."""
    username = _text(post.get("username"))
    user_id = _int(post.get("user_id"))
    if username is None or ("user_id" in post and user_id is None):
        return None
    actor: dict = {"username": username}
    if user_id is not None:
        actor["uid"] = str(user_id)
        if user_id <= 0:
            actor["bot"] = True  # Discourse's own accounts: system, discobot and other bots
    if name := _text(post.get("name")):
        actor["name"] = name
    return actor


def _moment(value: Any) -> Any:
    """An API time as an aware datetime; None when missing, out of range or not a time at all."""
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _later(first: str | None, second: Any) -> str | None:
    times = [(moment, text) for text in (first, second) if (moment := _moment(text)) is not None]
    return max(times)[1] if times else None


def _list(value: Any, what: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SourceError(f"{what} is not a list")
    return value


def _not_served(error: SourceError) -> bool:
    """A 404, or a 403 for a post or topic moved where Baloo may not look."""
    return isinstance(error, NotFound) or ": HTTP 403" in str(error)


def _object(data: Any, key: str, what: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise SourceError(f"{what}: expected a JSON object with `{key}` (is this a Discourse forum?)")
    return data[key]


class DiscourseConnector(Connector):
    kind = "discourse"

    def __init__(self, source: Any, **kwargs: Any) -> None:
        problem = options_problem(source.options or {})
        if problem:
            raise SourceError(problem)
        super().__init__(source, **kwargs)
        self.categories: dict[int, tuple[str, int | None, bool]] = {}
        self.unseen_categories: set[int] = set()  # asked for and not served
        self.counted: set[int] | None = None  # ids of the named categories; None: every public one
        self.topic_categories: dict[int, int | None | bool] = {}  # older API: topic → category, False: not served
        self.accepted_topics: set[int] = set()  # topics whose accepted answer this sync's posts walk stored

    def auth_header(self, token: str) -> dict[str, str]:  # type: ignore[override]
        headers = {"Api-Key": token}
        if username := _text(self.options.get("api_username")):
            headers["Api-Username"] = username
        return headers

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        state = copy.deepcopy(checkpoint)
        errors = self._read_categories(state)
        for page in self._post_pages(state):
            page.errors, errors = [*errors, *page.errors], []
            yield page
        if self.options.get("solved", True):
            yield from self._solved_pages(state)
        yield Page(self._recheck(), copy.deepcopy(state), errors=errors)

    # Categories ------------------------------------------------------------------------------

    def _read_categories(self, state: dict) -> list[str]:
        """Learn every category (id → slug, parent, read-restricted) and which ones the source counts.

        A category named in `categories` is remembered by id: renamed, it is still followed, and
        the run says the option needs its new slug.
        """
        data = self.client.get("site.json").data
        for item in _list(_object(data, "categories", "site.json"), "site.json: `categories`"):
            self._learn_category(item)
        if not self.options.get("categories"):
            return []
        named = state.setdefault("named_categories", {})
        by_path = {self._path(category_id): category_id for category_id in self.categories}
        errors: list[str] = []
        self.counted = set()
        for entry in self.options["categories"]:
            wanted = entry.strip().strip("/").lower()
            category_id = by_path.get(wanted)
            if category_id is None and _int(named.get(wanted)) in self.categories:
                category_id = named[wanted]
                errors.append(f"option 'categories': {wanted!r} is now {self._path(category_id)!r}; "
                              "Baloo follows it by its id, write its new slug in the source's options")
            if category_id is None:
                raise SourceError(f"option 'categories': the forum has no category {wanted!r} that Baloo can see")
            named[wanted] = category_id
            self.counted.add(category_id)
        return errors

    def _learn_category(self, item: Any) -> int | None:
        category_id = _int(item.get("id")) if isinstance(item, dict) else None
        slug = _text(item.get("slug")) if isinstance(item, dict) else None
        if category_id is None or slug is None:
            return None
        parent = _int(item.get("parent_category_id"))
        self.categories[category_id] = (slug.lower(), parent, item.get("read_restricted") is True)
        return category_id

    def _category(self, category_id: int) -> tuple[str, int | None, bool] | None:
        """A category by id; one that site.json did not list is asked for alone, once per sync."""
        if category_id not in self.categories and category_id not in self.unseen_categories:
            data = self._get_or_none(f"c/{category_id}/show.json")
            if self._learn_category(data.get("category") if isinstance(data, dict) else None) != category_id:
                self.unseen_categories.add(category_id)
        return self.categories.get(category_id)

    def _get_or_none(self, path: str) -> Any:
        """The answer's data; None when Discourse does not serve it (404, or 403 where Baloo may not look)."""
        try:
            return self.client.get(path).data
        except SourceError as error:
            if not _not_served(error):
                raise
            return None

    def _path(self, category_id: int) -> str:
        slugs, current = [], category_id
        while current is not None and len(slugs) < MAX_DEPTH and (category := self._category(current)):
            slugs.append(category[0])
            current = category[1]
        return "/".join(reversed(slugs))

    def _container(self, category_id: int | None) -> str | None:
        """The category's slug path when the source counts it, else None."""
        if category_id is None or self._category(category_id) is None:
            return None
        chain, current = [], category_id
        while current is not None and len(chain) < MAX_DEPTH and (category := self._category(current)):
            chain.append((current, category))
            current = category[1]
        if self.counted is None:
            counted = not any(restricted for _id, (_slug, _parent, restricted) in chain)
        else:
            counted = any(current_id in self.counted for current_id, _category in chain)
        return self._path(category_id) if counted else None

    # Posts -----------------------------------------------------------------------------------

    def _post_pages(self, state: dict) -> Iterator[Page]:
        """New posts, newest first, down to the highest post id of the last complete walk."""
        walk = state.setdefault("posts", {})
        high = _int(walk.get("high"))
        while True:
            before = _int(walk.get("before"))
            url = with_query("posts.json", {"before": before})
            etag = walk.get("etag", "") if before is None else ""
            response = self.client.get(url, etag=etag)
            if response.not_modified:
                return
            items = _object(response.data, "latest_posts", "posts.json")
            if not isinstance(items, list):
                raise SourceError("posts.json: `latest_posts` is not a list")
            posts = [item for item in items if isinstance(item, dict) and _int(item.get("id")) is not None]
            errors = [f"posts.json: {len(items) - len(posts)} item(s) without a post id, skipped"] if len(posts) < len(items) else []
            ids = [item["id"] for item in posts]
            floor = high or 0
            if before is None:
                walk["etag"] = response.etag
                walk["top"] = max([*ids, floor]) or None
            # Older versions answer with the ids from `before` - 50 to `before` included: a page holding
            # `before` again says so, and a window with nothing new is stepped over, not taken for the
            # end. `below` is the lowest id read (`before` + 1 after such a step: `before` is unread).
            below = _int(walk.get("below")) or before
            windowed = bool(walk.get("windowed")) or (before is not None and before in ids)
            walk["windowed"] = windowed
            fresh = [post for post in posts if (below is None or post["id"] < below) and post["id"] > floor]
            if fresh and min(ids) > floor:
                walk["before"] = walk["below"] = min(post["id"] for post in fresh)
            elif windowed and not fresh and before is not None and min(ids, default=before) > floor and before - ID_WINDOW > floor:
                walk["before"], walk["below"] = before - ID_WINDOW, before - ID_WINDOW + 1
            else:
                walk["high"] = _int(walk.pop("top", None)) or high
                for key in ("before", "below", "windowed"):
                    walk.pop(key, None)
            records: list[dict | Rejected] = []
            for post in fresh:
                records.extend(self._post_records(post))
            yield Page(records, copy.deepcopy(state), errors=errors)
            if "before" not in walk:
                return

    def _post_category(self, post: dict) -> int | None | bool:
        """The post's category id; None outside any category; False when its topic is not served.

        Older versions give posts no `category_id`: the topic is asked for, once per sync.
        """
        if "category_id" in post:
            return _int(post["category_id"])
        topic_id = post["topic_id"]
        if topic_id not in self.topic_categories:
            view = self._get_or_none(f"t/{topic_id}.json")
            if view is None:
                self.topic_categories[topic_id] = False
            elif not isinstance(view, dict) or view.get("archetype") == "private_message":
                self.topic_categories[topic_id] = None
            else:
                self.topic_categories[topic_id] = _int(view.get("category_id"))
        return self.topic_categories[topic_id]

    def _post_records(self, post: dict) -> list[dict | Rejected]:
        topic_id, number = _int(post.get("topic_id")), _int(post.get("post_number"))
        if topic_id is None or number is None:
            return [Rejected(f"post:{post['id']}", NO_TOPIC)]
        if post.get("post_type", REGULAR) != REGULAR:
            return []
        first = number == 1
        external_id = f"topic:{topic_id}" if first else f"post:{post['id']}"
        category_id = self._post_category(post)
        if category_id is False:
            return [Rejected(external_id, TOPIC_NOT_SERVED, lasting=False)]
        container = self._container(category_id)
        if container is None:
            return []
        if post.get("hidden") is True or post.get("deleted_at") or post.get("user_deleted") is True:
            return [Rejected(external_id, HIDDEN, lasting=False)]
        actor = _actor(post)
        slug = _text(post.get("topic_slug"))
        records: list[dict | Rejected] = []
        if actor is None:
            records.append(Rejected(external_id, DELETED_ACCOUNT))
        elif not post.get("created_at"):
            records.append(Rejected(external_id, NO_TIME))
        else:
            records.append(self.record(
                external_id=external_id, type="discourse.topic.created" if first else "discourse.post.created",
                occurred_at=post["created_at"], actor=actor, container=container,
                url=self._url(topic_id, slug, None if first else number),
                title=(_text(post.get("topic_title")) or "") if first else "", data=_kept(post),
            ))
        if post.get("accepted_answer") is True:
            # Already accepted when listed (the solved plugin marks it): no need to ask for its topic.
            self.accepted_topics.add(topic_id)
            records.append(self._accepted(post, topic_id, container, slug))
        return records

    def _accepted(self, post: dict, topic_id: int, container: str, slug: str | None) -> dict | Rejected:
        """The accepted answer `post` as an activity of its author, at the answer's own time (the API
        does not say when it was accepted)."""
        external_id = f"accepted:{post['id']}"
        actor = _actor(post)
        if actor is None:
            return Rejected(external_id, DELETED_ACCOUNT)
        if not post.get("created_at"):
            return Rejected(external_id, NO_TIME)
        return self.record(
            external_id=external_id, type="discourse.answer.accepted", occurred_at=post["created_at"], actor=actor,
            container=container, url=self._url(topic_id, slug, _int(post.get("post_number"))),
            data={**_kept(post), "topic_id": topic_id},
        )

    def _url(self, topic_id: int, slug: str | None, number: int | None = None) -> str:
        path = f"t/{quote(slug, safe='')}/{topic_id}" if slug else f"t/{topic_id}"
        return self.client.url(f"{path}/{number}" if number else path)

    # Accepted answers ------------------------------------------------------------------------

    def _solved_pages(self, state: dict) -> Iterator[Page]:
        """Solved topics by last activity; the accepted answers of those not seen since their last activity."""
        solved = state.setdefault("solved", {})
        lookback = timedelta(days=float(self.options.get("solved_lookback_days", 30)))
        known: dict[str, str] = solved.setdefault("known", {})
        if "walk" not in solved:
            since = _moment(solved.get("since"))
            solved["walk"] = {"page": 0, "cutoff": iso(since - lookback) if since else None}
        walk = solved["walk"]
        cutoff = _moment(walk.get("cutoff"))
        while True:
            page_number = _int(walk.get("page")) or 0
            data = self.client.get(with_query("latest.json", {"order": "activity", "solved": "yes", "page": page_number or None})).data
            listing = _object(data, "topic_list", "latest.json")
            topics = [topic for topic in _list(_object(listing, "topics", "latest.json"), "latest.json: `topics`")
                      if isinstance(topic, dict)]
            if page_number == 0 and topics and not any("has_accepted_answer" in topic for topic in topics):
                solved.pop("walk")  # the solved plugin is not installed: nothing to look for
                yield Page([], copy.deepcopy(state))
                return
            records: list[dict | Rejected] = []
            all_older = True
            for topic in topics:
                moment = _moment(topic.get("bumped_at"))
                bumped = topic["bumped_at"] if moment else None
                walk["max_seen"] = _later(walk.get("max_seen"), bumped)
                if topic.get("pinned") is not True and (cutoff is None or moment is None or moment >= cutoff):
                    all_older = False
                topic_id = _int(topic.get("id"))
                if topic_id is None or topic.get("has_accepted_answer") is not True or (bumped and known.get(str(topic_id)) == bumped):
                    continue
                if topic_id not in self.accepted_topics and self._container(_int(topic.get("category_id"))) is not None:
                    records.extend(self._accepted_records(topic_id))
                if bumped:
                    known[str(topic_id)] = bumped
            more = bool(listing.get("more_topics_url")) and topics and not (cutoff and all_older)
            if more:
                walk["page"] = page_number + 1
            else:
                solved["since"] = walk.get("max_seen") or solved.get("since")
                since = _moment(solved["since"])
                if since:
                    floor = since - lookback
                    solved["known"] = {key: value for key, value in known.items() if (moment := _moment(value)) and moment >= floor}
                solved.pop("walk")
            yield Page(records, copy.deepcopy(state))
            if not more:
                return

    def _accepted_records(self, topic_id: int) -> list[dict | Rejected]:
        """The accepted answers of a topic, from its view: `accepted_answers` (posts, newest plugin),
        else `accepted_answer` (its post number), else the posts marked `accepted_answer`."""
        view = self._get_or_none(f"t/{topic_id}.json")
        if not isinstance(view, dict) or view.get("archetype") == "private_message":
            return []
        container = self._container(_int(view.get("category_id")))
        if container is None:
            return []
        stream = view.get("post_stream") if isinstance(view.get("post_stream"), dict) else {}
        loaded = [post for post in stream.get("posts") or [] if isinstance(post, dict)] if isinstance(stream.get("posts"), list | None) else []
        if isinstance(view.get("accepted_answers"), list):
            posts = [post for post in view["accepted_answers"] if isinstance(post, dict)]
        elif isinstance(view.get("accepted_answer"), dict):
            number = _int(view["accepted_answer"].get("post_number"))
            posts = [post for post in loaded if number is not None and post.get("post_number") == number]
            if number is not None and not posts:
                posts = [self._get_or_none(f"posts/by_number/{topic_id}/{number}.json")]
        else:
            posts = [post for post in loaded if post.get("accepted_answer") is True]
        slug = _text(view.get("slug"))
        return [self._accepted(post, topic_id, container, slug) for post in posts
                if isinstance(post, dict) and _int(post.get("id")) is not None]

    # Items rejected for a reason that may change ---------------------------------------------

    def _recheck(self) -> list[dict | Rejected]:
        """Read again, one by one, posts rejected for a reason that may change (hidden, deleted, topic not
        served): the listing is by post id and never brings them back. Those served properly now become
        records; the others are rejected again, not counted again."""
        records: list[dict | Rejected] = []
        for prefix, path in (("post:", "posts/{}.json"), ("topic:", "posts/by_number/{}/1.json")):
            for external_id in rejections_to_recheck(source=self.source, prefix=prefix):
                item_id = external_id.removeprefix(prefix)
                if not item_id.isdigit():
                    continue
                post = self._get_or_none(path.format(item_id))
                if post is None:
                    records.append(Rejected(external_id, NOT_SERVED, lasting=False))
                    continue
                if not isinstance(post, dict) or _int(post.get("id")) is None:
                    raise SourceError(f"{path.format(item_id)}: expected a post as a JSON object")
                records.extend(self._post_records(post) or [Rejected(external_id, OUTSIDE, lasting=False)])
        return records
