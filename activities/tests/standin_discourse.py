"""A local stand-in for a Discourse forum's public JSON API, built from the documented shapes in fixtures/.

It answers the routes the connector reads, as Discourse documents and serves them:
`/site.json` (every category a visitor may see), `/c/<id>/show.json`, `/posts.json` (latest public
posts, newest first, 50 a page, `before=<id>`), `/posts/<id>.json`, `/posts/by_number/<topic>/<n>.json`,
`/latest.json` (topics by last activity, 30 a page, `page=N`, the solved plugin's `solved=yes`) and
`/t/<id>.json` (a topic view: its first 20 posts, and the accepted answer in one of the plugin's shapes).

`old_api=True` answers `/posts.json` as older versions do: the 50 post ids up to `before` included,
newest created first, with no `category_id` or `topic_title` on posts and hidden posts among them.
`solved` picks the plugin's shape: "answers" (`accepted_answers`, a list of posts), "answer"
(`accepted_answer` with a post number), "flags" (only posts marked `accepted_answer`), or None (no plugin).
"""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from .builders import sample
from .standin import Reply, StandIn, ts

NOT_FOUND = b'{"errors": ["The requested URL or resource could not be found."], "error_type": "not_found"}'
FORBIDDEN = b'{"errors": ["You are not permitted to view the requested resource."], "error_type": "invalid_access"}'
RATE_LIMITED = b'{"errors": ["You\'ve performed this action too many times. Please wait 30 seconds before trying again."], "error_type": "rate_limit", "extras": {"wait_seconds": 30, "time_left": "30 seconds"}}'
START = datetime(2024, 1, 1, tzinfo=UTC)
REGULAR, SMALL_ACTION, WHISPER = 1, 3, 4


def at(minutes: int) -> str:
    """A Discourse time, with milliseconds as Discourse writes them."""
    return ts(START + timedelta(minutes=minutes)).replace("Z", ".000Z")


class FakeDiscourse(StandIn):
    post_page = 50
    topic_page = 30
    view_chunk = 20

    def __init__(self, *, old_api: bool = False, solved: str | None = "answers", admin_key: str = "") -> None:
        super().__init__()
        self.old_api = old_api
        self.solved = solved
        self.admin_key = admin_key
        self.categories: dict[int, dict] = {}
        self.lazy_categories: set[int] = set()  # left out of site.json, as lazily loaded categories are
        self.topics: dict[int, dict] = {}
        self.posts: dict[int, dict] = {}
        self.accepted: dict[int, int] = {}  # topic id → its accepted answer's post id
        self.deleted_posts: set[int] = set()
        self.deleted_topics: set[int] = set()
        self.keys_seen: list[tuple[str, str]] = []
        self.last_post_id = 100
        self.last_topic_id = 10

    # Building the forum ---------------------------------------------------------------------

    def category(self, category_id: int, slug: str, *, parent: int | None = None, restricted: bool = False) -> dict:
        item = sample("discourse_category")
        item.update(id=category_id, slug=slug, name=slug.replace("-", " ").title(), read_restricted=restricted,
                    topic_url=f"/t/about-the-{slug}-category/{category_id + 1000}")
        if parent is not None:
            item["parent_category_id"] = parent
        self.categories[category_id] = item
        return item

    def topic(self, category_id: int | None, user: tuple[str, int] | None, minute: int, *, title: str = "",
              private: bool = False, pinned: bool = False) -> int:
        """A topic and its first post; returns the topic id."""
        self.last_topic_id += 1
        topic_id = self.last_topic_id
        item = sample("discourse_topic")
        title = title or f"Topic {topic_id}"
        item.update(id=topic_id, title=title, fancy_title=title, slug=f"topic-{topic_id}", category_id=category_id,
                    archetype="private_message" if private else "regular", created_at=at(minute), bumped_at=at(minute),
                    last_posted_at=at(minute), pinned=pinned, posts_count=0, highest_post_number=0)
        self.topics[topic_id] = item
        self.reply(topic_id, user, minute)
        return topic_id

    def reply(self, topic_id: int, user: tuple[str, int] | None, minute: int, *, post_type: int = REGULAR,
              hidden: bool = False, bump: bool = True) -> int:
        """A post in `topic_id` by `user` ((username, user id), None: a deleted account); returns its id."""
        self.last_post_id += 1
        topic = self.topics[topic_id]
        topic["highest_post_number"] += 1
        topic["posts_count"] += 1
        post = sample("discourse_post")
        username, user_id = user if user else (None, None)
        post.update(id=self.last_post_id, topic_id=topic_id, post_number=topic["highest_post_number"], post_type=post_type,
                    created_at=at(minute), updated_at=at(minute), username=username, user_id=user_id,
                    name=f"{username.title()} Example" if username else None, hidden=hidden,
                    display_username=f"{username.title()} Example" if username else None,
                    avatar_template=f"/user_avatar/forum.example.org/{username or 'system'}/{{size}}/1_2.png",
                    raw=f"Words by {username} in {topic_id}", cooked=f"<p>Words by {username} in {topic_id}</p>",
                    excerpt=f"Words by {username} in {topic_id}")
        self.posts[post["id"]] = post
        if bump and post_type == REGULAR:
            topic["bumped_at"] = topic["last_posted_at"] = at(minute)
        return post["id"]

    def accept(self, post_id: int) -> None:
        """Accept an answer, as the solved plugin does: the topic's activity does not move."""
        self.accepted[self.posts[post_id]["topic_id"]] = post_id

    # Serving --------------------------------------------------------------------------------

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        key = headers.get("api-key", "")
        self.keys_seen.append((key, headers.get("api-username", "")))
        admin = bool(self.admin_key) and key == self.admin_key
        parts = path.strip("/").split("/")
        if parts == ["site.json"]:
            categories = [c for c in self.categories.values() if c["id"] not in self.lazy_categories and self._sees_category(c["id"], admin)]
            return self.json({"default_archetype": "regular", "post_types": {"regular": 1, "moderator_action": 2,
                              "small_action": 3, "whisper": 4}, "categories": categories}, headers)
        if len(parts) == 3 and parts[0] == "c" and parts[2] == "show.json" and parts[1].isdigit():
            category_id = int(parts[1])
            if category_id not in self.categories:
                return Reply(404, NOT_FOUND)
            if not self._sees_category(category_id, admin):
                return Reply(403, FORBIDDEN)
            return self.json({"category": self.categories[category_id]}, headers)
        if parts == ["posts.json"]:
            return self.json({"latest_posts": self._latest_posts(query, admin)}, headers)
        if len(parts) == 2 and parts[0] == "posts" and parts[1].endswith(".json") and parts[1][:-5].isdigit():
            return self._single_post(self.posts.get(int(parts[1][:-5])), admin, headers)
        if len(parts) == 4 and parts[:2] == ["posts", "by_number"] and parts[2].isdigit() and parts[3][:-5].isdigit():
            topic_id, number = int(parts[2]), int(parts[3][:-5])
            found = [p for p in self.posts.values() if p["topic_id"] == topic_id and p["post_number"] == number]
            return self._single_post(found[0] if found else None, admin, headers)
        if parts == ["latest.json"]:
            return self._latest_topics(query, admin, headers)
        if len(parts) == 2 and parts[0] == "t" and parts[1].endswith(".json") and parts[1][:-5].isdigit():
            return self._topic_view(int(parts[1][:-5]), admin, headers)
        return Reply(404, NOT_FOUND)

    def _sees_category(self, category_id: int | None, admin: bool) -> bool:
        category = self.categories.get(category_id)
        return category is not None and (admin or not category["read_restricted"])

    def _sees_topic(self, topic_id: int, admin: bool) -> bool:
        topic = self.topics.get(topic_id)
        return (topic is not None and topic_id not in self.deleted_topics and topic["archetype"] == "regular"
                and self._sees_category(topic["category_id"], admin))

    def _serialized(self, post: dict, *, listing: bool) -> dict:
        """A post as PostSerializer writes it: with the topic's title and category in a listing of the newer API."""
        item = copy.deepcopy(post)
        topic = self.topics[post["topic_id"]]
        item["topic_slug"] = topic["slug"]
        if listing and not self.old_api:
            item.update(topic_title=topic["title"], topic_html_title=topic["fancy_title"], category_id=topic["category_id"])
        else:
            for field in ("topic_title", "topic_html_title", "category_id"):
                item.pop(field, None)
        if self.solved:
            item["accepted_answer"] = self.accepted.get(post["topic_id"]) == post["id"]
            item["topic_accepted_answer"] = post["topic_id"] in self.accepted
        else:
            for field in ("accepted_answer", "topic_accepted_answer", "can_accept_answer", "can_unaccept_answer"):
                item.pop(field, None)
        if item.get("hidden"):
            item["cooked_hidden"] = True
            item["cooked"] = "<p>This post was flagged by the community and is temporarily hidden.</p>"
            item.pop("raw", None)
        return item

    def _latest_posts(self, query: dict[str, list[str]], admin: bool) -> list[dict]:
        before = int(query.get("before", ["0"])[-1] or 0)
        visible = [p for p in self.posts.values() if p["id"] not in self.deleted_posts and self._sees_topic(p["topic_id"], admin)]
        if self.old_api:
            last = before if before > 0 else max(self.posts, default=0)
            chosen = [p for p in visible if last - self.post_page < p["id"] <= last and (p["post_type"] != WHISPER or admin)]
            chosen.sort(key=lambda p: p["created_at"], reverse=True)
        else:
            chosen = [p for p in visible if p["post_type"] == REGULAR and not p["hidden"] and (before <= 0 or p["id"] < before)]
            chosen.sort(key=lambda p: p["id"], reverse=True)
            chosen = chosen[: self.post_page]
        return [self._serialized(p, listing=True) for p in chosen]

    def _single_post(self, post: dict | None, admin: bool, headers: dict) -> Reply:
        if post is None or post["id"] in self.deleted_posts or post["topic_id"] in self.deleted_topics:
            return Reply(404, NOT_FOUND)
        if not self._sees_topic(post["topic_id"], admin) or (post["post_type"] == WHISPER and not admin):
            return Reply(403, FORBIDDEN)
        return self.json(self._serialized(post, listing=False), headers)

    def _latest_topics(self, query: dict[str, list[str]], admin: bool, headers: dict) -> Reply:
        topics = [t for t in self.topics.values() if self._sees_topic(t["id"], admin)]
        if self.solved and query.get("solved", [""])[-1] == "yes":
            topics = [t for t in topics if t["id"] in self.accepted]
        # Pinned topics first, then by last activity, newest first (Discourse's `order=activity`).
        topics.sort(key=lambda t: (t["pinned"], t["bumped_at"], t["id"]), reverse=True)
        page = int(query.get("page", ["0"])[-1] or 0)
        chunk = topics[page * self.topic_page : (page + 1) * self.topic_page]
        items = []
        for topic in chunk:
            item = copy.deepcopy(topic)
            if self.solved:
                item["has_accepted_answer"] = topic["id"] in self.accepted
            else:
                item.pop("has_accepted_answer", None)
                item.pop("can_have_answer", None)
            items.append(item)
        topic_list: dict[str, Any] = {"can_create_topic": False, "per_page": self.topic_page, "top_tags": [], "topics": items}
        if len(chunk) == self.topic_page:
            params = "&".join(f"{name}={values[-1]}" for name, values in sorted(query.items()) if name != "page")
            topic_list["more_topics_url"] = f"/latest?{params}&page={page + 1}".replace("?&", "?")
        users = sorted({(p["user_id"], p["username"]) for p in self.posts.values() if p["user_id"] is not None})
        return self.json({"users": [{"id": uid, "username": name, "name": None, "avatar_template": ""} for uid, name in users],
                          "primary_groups": [], "flair_groups": [], "topic_list": topic_list}, headers)

    def _topic_view(self, topic_id: int, admin: bool, headers: dict) -> Reply:
        topic = self.topics.get(topic_id)
        if topic is None or topic_id in self.deleted_topics:
            return Reply(404, NOT_FOUND)
        if not self._sees_topic(topic_id, admin):
            return Reply(403, FORBIDDEN)
        posts = sorted((p for p in self.posts.values() if p["topic_id"] == topic_id and p["id"] not in self.deleted_posts
                        and (p["post_type"] != WHISPER or admin)), key=lambda p: p["post_number"])
        first = posts[0] if posts else None
        view = {
            "post_stream": {"posts": [self._serialized(p, listing=False) for p in posts[: self.view_chunk]],
                            "stream": [p["id"] for p in posts]},
            "timeline_lookup": [], "tags": [], "id": topic_id, "title": topic["title"], "fancy_title": topic["fancy_title"],
            "posts_count": len(posts), "created_at": topic["created_at"], "views": topic["views"], "reply_count": len(posts) - 1,
            "like_count": topic["like_count"], "last_posted_at": topic["last_posted_at"], "visible": True, "closed": False,
            "archived": False, "archetype": topic["archetype"], "slug": topic["slug"], "category_id": topic["category_id"],
            "word_count": 42, "deleted_at": None, "user_id": first["user_id"] if first else None, "pinned": topic["pinned"],
            "highest_post_number": topic["highest_post_number"], "chunk_size": self.view_chunk,
            "details": {"created_by": {"id": first["user_id"], "username": first["username"], "name": first["name"],
                                       "avatar_template": first["avatar_template"]} if first else None,
                        "participants": [{"id": p["user_id"], "username": p["username"], "name": p["name"]} for p in posts]},
        }
        answer = self.posts.get(self.accepted.get(topic_id, 0))
        if answer is not None and self.solved == "answers":
            view["accepted_answers"] = [{**self._serialized(answer, listing=False),
                                         "accepter": {"id": 1, "username": "accepter_person", "name": "Accepter Person"}}]
        elif answer is not None and self.solved == "answer":
            view["accepted_answer"] = {"post_number": answer["post_number"], "username": answer["username"] or "system",
                                       "name": answer["name"], "excerpt": answer["cooked"], "accepter_username": "accepter_person",
                                       "accepter_name": "Accepter Person"}
        return self.json(view, headers)
