"""Discourse sync against a local stand-in of a forum's public JSON API."""

import json
import re
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.connectors.discourse import DiscourseConnector
from activities.models import Activity, RejectedItem, Source, SyncRun, SyncState
from activities.sync import source_sync, source_sync_restart
from contributors.models import Identity

from .standin import Server
from .standin_discourse import RATE_LIMITED, REGULAR, SMALL_ACTION, WHISPER, FakeDiscourse
from .test_connector_payloads import assert_keeps_nobody

pytestmark = pytest.mark.django_db

PEOPLE = [(f"person{index}", 200 + index) for index in range(12)]
SUPPORT, FIREFOX, DEV, STAFF, EVENTS = 5, 6, 7, 8, 9


@pytest.fixture
def api():
    return FakeDiscourse()


@pytest.fixture
def server_for():
    """`with server_for(api) as url:` for a test that builds its own stand-in."""
    return Server


def make_source(url: str, **options) -> Source:
    return Source.objects.create(slug="discourse", kind="discourse", name="Discourse", base_url=url,
                                 options={"backoff_seconds": 0, **options})


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def forum_categories(api: FakeDiscourse) -> None:
    api.category(SUPPORT, "support")
    api.category(FIREFOX, "firefox", parent=SUPPORT)
    api.category(DEV, "dev")
    api.category(STAFF, "staff-only", restricted=True)
    api.category(EVENTS, "events")
    api.lazy_categories.add(EVENTS)  # a forum that loads categories lazily leaves it out of site.json


def community(api: FakeDiscourse, topics: int = 40, *, start: int = 0) -> Counter:
    """A forum's worth of work, with what must never count mixed in; returns the activities a sync must find."""
    if not api.categories:
        forum_categories(api)
    expected: Counter = Counter()
    minute = start
    for number in range(topics):
        minute += 10
        topic_id = api.topic((SUPPORT, FIREFOX, DEV, EVENTS)[number % 4], PEOPLE[number % 12], minute)
        expected["discourse.topic.created"] += 1
        for reply in range(2):
            minute += 1
            answer = api.reply(topic_id, PEOPLE[(number + reply + 1) % 12], minute)
            expected["discourse.post.created"] += 1
        if number % 8 != 7:
            api.accept(answer)
            expected["discourse.answer.accepted"] += 1
        if number % 5 == 0:  # private messages: never read
            message = api.topic(None, PEOPLE[0], minute, private=True)
            api.reply(message, PEOPLE[1], minute)
        if number % 7 == 0:  # a whisper (staff only) and a small action ("closed this topic"): not activities
            api.reply(topic_id, PEOPLE[2], minute, post_type=WHISPER, bump=False)
            api.reply(topic_id, ("system", -1), minute, post_type=SMALL_ACTION, bump=False)
        if number % 9 == 0:  # a read-restricted category: not counted unless named
            api.topic(STAFF, PEOPLE[3], minute)
    return expected


def clear(error: str) -> bool:
    """An error a person reads, not a traceback's last line ("unexpected KeyError: 'id'")."""
    return bool(error) and not re.search(r"unexpected [A-Z]\w*(Error|Exception)", error)


def paths(api: FakeDiscourse) -> list[str]:
    return [path for path, _headers in api.requests]


def test_first_sync_stores_topics_replies_and_accepted_answers(api, server):
    expected = community(api)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    assert set(Activity.objects.filter(source=source).values_list("container", flat=True)) == {
        "support", "support/firefox", "dev", "events"}
    topic = Activity.objects.get(source=source, external_id="topic:11")
    assert (topic.type, topic.container, topic.title) == ("discourse.topic.created", "support", "Topic 11")
    assert topic.url == f"{server}/t/topic-11/11"
    reply = Activity.objects.get(source=source, external_id="post:102")
    assert (reply.type, reply.url) == ("discourse.post.created", f"{server}/t/topic-11/11/2")
    accepted = Activity.objects.get(source=source, external_id="accepted:103")
    assert (accepted.type, accepted.container, accepted.occurred_at) == (
        "discourse.answer.accepted", "support", Activity.objects.get(external_id="post:103").occurred_at)
    assert Identity.objects.filter(kind="uid", value="202").exists()
    assert Identity.objects.filter(kind="username", value="person2").exists()
    # Private messages, whispers and the staff-only category: never asked for, or never stored.
    private = [topic_id for topic_id, topic in api.topics.items() if topic["archetype"] == "private_message"]
    assert not any(path == f"/t/{topic_id}.json" for topic_id in private for path in paths(api))
    assert run.rejected == 0


def test_an_unchanged_forum_costs_a_304_and_one_page_of_solved_topics(api, server):
    community(api, 20)
    source = make_source(server)
    source_sync(source=source)
    api.requests.clear()

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.not_modified) == (0, 1)
    assert paths(api) == ["/site.json", "/posts.json", "/latest.json"]


def test_a_second_sync_asks_only_for_new_posts_and_new_accepted_answers(api, server):
    community(api, 30)
    source = make_source(server)
    source_sync(source=source)
    before = stored(source)
    api.requests.clear()

    solved_topic = 11  # a reply moves its activity: its view is read again
    late = api.reply(solved_topic, PEOPLE[5], 5_000)
    unsolved = next(topic_id for topic_id, topic in api.topics.items()
                    if topic_id not in api.accepted and topic["archetype"] == "regular" and topic["category_id"] != STAFF)
    api.accept(max(post_id for post_id, post in api.posts.items() if post["topic_id"] == unsolved and post["post_type"] == REGULAR))
    fresh = api.topic(FIREFOX, PEOPLE[6], 5_001)
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) - before == Counter({"discourse.post.created": 1, "discourse.topic.created": 1,
                                               "discourse.answer.accepted": 1})
    assert Activity.objects.filter(source=source, external_id__in=[f"post:{late}", f"topic:{fresh}"]).count() == 2
    posts_requests = [path for path in paths(api) if path.startswith("/posts")]
    assert posts_requests == ["/posts.json"]  # the first page reaches what the last sync read
    views = sorted(path for path in paths(api) if path.startswith("/t/"))
    assert views == sorted([f"/t/{solved_topic}.json", f"/t/{unsolved}.json"])  # the solved topics seen before: not


@pytest.mark.parametrize("shape", ["answers", "answer", "flags"])
def test_an_answer_accepted_without_new_activity_is_found_within_the_lookback(shape, server_for):
    """The topic view names the accepted answer in the plugin's three shapes: `accepted_answers` (posts),
    `accepted_answer` (a post number: the post comes from the view, or alone when the view does not hold
    it), or only `accepted_answer: true` on the posts the view holds."""
    api = FakeDiscourse(solved=shape)
    forum_categories(api)
    topic_id = api.topic(SUPPORT, PEOPLE[0], 10)
    answer = api.reply(topic_id, PEOPLE[1], 11)
    long_topic = api.topic(DEV, PEOPLE[2], 12)
    late_answer = [api.reply(long_topic, PEOPLE[number % 12], 13 + number) for number in range(25)][-1]
    with server_for(api) as url:
        source = make_source(url)
        source_sync(source=source)
        api.requests.clear()
        api.accept(answer)  # accepting does not move the topic's activity
        api.accept(late_answer)  # post 26: beyond the 20 posts a topic view holds
        run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    found = set(Activity.objects.filter(source=source, type="discourse.answer.accepted").values_list("external_id", flat=True))
    by_number = f"/posts/by_number/{long_topic}/26.json"
    if shape == "flags":  # the view holds only its first 20 posts: an answer beyond them waits for "Start over"
        assert found == {f"accepted:{answer}"}
    else:
        assert found == {f"accepted:{answer}", f"accepted:{late_answer}"}
        assert (by_number in paths(api)) == (shape == "answer")
    accepted = Activity.objects.get(source=source, external_id=f"accepted:{answer}")
    assert (accepted.container, accepted.url) == ("support", f"{url}/t/topic-{topic_id}/{topic_id}/2")
    assert accepted.identity.person.identities.filter(kind="username", value="person1").exists()


def test_a_5xx_mid_sync_fails_the_run_and_the_next_resumes_with_no_gap_and_no_double(api, server, monkeypatch):
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 1)  # every page committed as it comes
    expected = community(api, 60)
    api.fail("before=", status=502, times=5)  # the second page of posts, more times than the client retries
    source = make_source(server)

    failed = source_sync(source=source)
    resumed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED
    assert "HTTP 502" in failed.error and clear(failed.error)
    assert 0 < failed.created < sum(expected.values())
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected
    assert failed.created + resumed.created == sum(expected.values())


def test_a_sync_killed_between_pages_resumes_from_its_last_page(api, server, monkeypatch):
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 1)  # every page committed as it comes
    expected = community(api, 60)
    source = make_source(server)
    real = DiscourseConnector._post_records
    calls = Counter()

    def killed(self, post):
        calls["posts"] += 1
        if calls["posts"] == 120:  # the worker dies in the middle of the third page of posts
            raise SystemExit("killed")
        return real(self, post)

    monkeypatch.setattr(DiscourseConnector, "_post_records", killed)
    with pytest.raises(SystemExit):
        source_sync(source=source)
    assert SyncState.objects.get(source=source).checkpoint["posts"]["before"] > 0  # two pages committed
    monkeypatch.setattr(DiscourseConnector, "_post_records", real)

    resumed = source_sync(source=source)

    killed_run = SyncRun.objects.filter(source=source).order_by("id").first()
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected
    assert killed_run.status == SyncRun.Status.FAILED and killed_run.created >= 100  # two pages of posts, their answers
    # Each activity stored once: what the dead worker committed is not created again.
    assert killed_run.created + resumed.created == sum(expected.values())


def test_a_long_429_defers_the_run_until_retry_after(api, server):
    expected = community(api, 10)
    api.fail("/latest.json", status=429, times=1, headers={"Retry-After": "600"}, body=RATE_LIMITED)
    source = make_source(server)

    deferred = source_sync(source=source)
    assert deferred.status == SyncRun.Status.DEFERRED
    assert deferred.resume_at - timezone.now() > timedelta(minutes=9)
    assert stored(source)["discourse.post.created"] == expected["discourse.post.created"]  # what came first is kept

    # When it said to come back: before that, every sync with the same token waits (the limit is shared).
    with time_machine.travel(deferred.resume_at):
        resumed = source_sync(source=source)
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected


def test_a_short_429_is_waited_out(api, server, monkeypatch):
    expected = community(api, 10)
    api.fail("/posts.json", status=429, times=1, headers={"Retry-After": "2"}, body=RATE_LIMITED)
    waits = []
    monkeypatch.setattr("activities.connectors.http.time.sleep", waits.append)

    source = make_source(server)
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    assert waits and 0 < waits[0] <= 2


def test_deleted_accounts_are_rejected_once_and_system_accounts_are_bots(api, server):
    forum_categories(api)
    topic_id = api.topic(SUPPORT, None, 10)  # its author's account was deleted; its replies still count
    kept = api.reply(topic_id, PEOPLE[1], 11)
    gone = api.reply(topic_id, None, 12)
    api.accept(gone)
    welcome = api.topic(SUPPORT, ("system", -1), 13)
    greeting = api.reply(welcome, ("discobot", -2), 14)
    source = make_source(server)

    first = source_sync(source=source)
    source_sync_restart(source=source)
    again = source_sync(source=source)

    reasons = {sample["external_id"]: sample["reason"] for sample in first.rejections}
    assert reasons == {f"topic:{topic_id}": "deleted account", f"post:{gone}": "deleted account",
                       f"accepted:{gone}": "deleted account"}
    assert (first.rejected, again.rejected, again.created) == (3, 0, 0)
    assert RejectedItem.objects.filter(source=source, lasting=True).count() == 3
    bot = Activity.objects.get(source=source, external_id=f"post:{greeting}")
    assert bot.identity.person.is_bot
    assert not Activity.objects.get(source=source, external_id=f"post:{kept}").identity.person.is_bot


@pytest.mark.parametrize("shape", ["answer", "flags"])
def test_older_solved_plugin_shapes(shape, server_for):
    api = FakeDiscourse(solved=shape)
    expected = community(api, 12)
    with server_for(api) as url:
        run = source_sync(source=make_source(url))
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(Source.objects.get(slug="discourse")) == expected


def test_a_forum_without_the_solved_plugin(server_for):
    api = FakeDiscourse(solved=None)
    expected = community(api, 12)
    with server_for(api) as url:
        run = source_sync(source=make_source(url))
        assert run.status == SyncRun.Status.SUCCEEDED, run.error
        assert [path for path in paths(api) if path == "/latest.json"] == ["/latest.json"]
    assert stored(Source.objects.get(slug="discourse")) == expected - Counter(
        {"discourse.answer.accepted": expected["discourse.answer.accepted"]})


def test_older_versions_answer_posts_json_in_windows_of_ids(server_for):
    """Before LatestPostsQuery, `/posts.json` read the 50 post ids up to `before` (included) and kept those a
    visitor may see: a page may be empty (fifty private messages in a row) or repeat `before`, and posts
    name no category. Nothing is lost, nothing doubled; hidden posts are rejected until shown again."""
    api = FakeDiscourse(old_api=True, solved="answer")
    expected = community(api, 10)
    chatter = api.topic(None, PEOPLE[0], 400, private=True)
    for minute in range(120):  # 120 private post ids in a row: two windows hold nothing a visitor may see
        api.reply(chatter, PEOPLE[1], 401 + minute)
    expected += community(api, 10, start=600)
    flagged_topic = 11
    flagged = api.reply(flagged_topic, PEOPLE[4], 900, hidden=True)
    with server_for(api) as url:
        source = make_source(url)
        first = source_sync(source=source)
        api.posts[flagged]["hidden"] = False  # staff show it again
        second = source_sync(source=source)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert first.rejections == [{"external_id": f"post:{flagged}", "reason": "post hidden or deleted"}]
    assert second.created == 1
    assert stored(source) == expected + Counter({"discourse.post.created": 1})
    assert not RejectedItem.objects.filter(source=source).exists()


def test_categories_limit_what_is_synced_and_a_subcategory_counts_with_its_parent(server_for, monkeypatch):
    api = FakeDiscourse(admin_key="admin-key")  # a key that sees the read-restricted category too
    community(api, 20)
    monkeypatch.setenv("BALOO_TOKEN_FORUM", "admin-key")
    with server_for(api) as url:
        source = make_source(url, categories=["support", "staff-only"], api_username="baloo")
        source.token_env = "BALOO_TOKEN_FORUM"
        source.save()
        run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    containers = set(Activity.objects.filter(source=source).values_list("container", flat=True))
    assert containers == {"support", "support/firefox", "staff-only"}
    assert set(api.keys_seen) == {("admin-key", "baloo")}


def test_a_renamed_category_is_followed_by_id_and_the_run_says_so(api, server):
    community(api, 8)
    source = make_source(server, categories=["dev"])
    source_sync(source=source)
    api.categories[DEV]["slug"] = "development"
    fresh = api.topic(DEV, PEOPLE[0], 9_000)

    run = source_sync(source=source)

    assert "'dev' is now 'development'" in run.error
    assert Activity.objects.get(source=source, external_id=f"topic:{fresh}").container == "development"


def test_an_unknown_category_fails_the_run_naming_the_option(api, server):
    community(api, 4)
    run = source_sync(source=make_source(server, categories=["nowhere"]))

    assert run.status == SyncRun.Status.FAILED
    assert "option 'categories'" in run.error and "'nowhere'" in run.error


@pytest.mark.parametrize(("options", "named"), [
    ({"categories": "support"}, "'categories'"),
    ({"categories": ["support", ""]}, "'categories'"),
    ({"categories": [{"$ne": ""}]}, "'categories'"),
    ({"max_retries": "lots"}, "'max_retries'"),
    ({"solved_lookback_days": -3}, "'solved_lookback_days'"),
    ({"solved": "yes"}, "'solved'"),
    ({"api_username": ["system"]}, "'api_username'"),
    ({"api_username": "system\r\nX-Injected: 1"}, "'api_username'"),  # a header split in two
    ({"category": ["support"]}, "unknown option 'category'"),
])
def test_hostile_options_fail_the_run_before_any_request(api, server, options, named):
    community(api, 2)
    run = source_sync(source=make_source(server, **options))

    assert run.status == SyncRun.Status.FAILED
    assert named in run.error and clear(run.error)
    assert api.requests == []


@pytest.mark.parametrize(("path", "body", "said"), [
    ("/posts.json", b"[]", "latest_posts"),
    ("/posts.json", b'{"latest_posts": {"id": 1}}', "not a list"),
    ("/site.json", b'{"categories": 7}', "not a list"),
    ("/latest.json", b'{"topic_list": {"topics": "none"}}', "not a list"),
    ("/posts.json", b"<html>Maintenance</html>", "not valid JSON"),
])
def test_a_malformed_answer_ends_the_run_with_a_clear_error(api, server, path, body, said):
    community(api, 4)
    api.fail(path, status=200, times=10, body=body)

    run = source_sync(source=make_source(server))

    assert run.status == SyncRun.Status.FAILED
    assert said in run.error and clear(run.error)


def test_odd_items_are_skipped_or_rejected_never_a_traceback(api, server):
    forum_categories(api)
    topic_id = api.topic(SUPPORT, PEOPLE[0], 10)
    odd = api.reply(topic_id, PEOPLE[1], 11)
    api.posts[odd].update(created_at=None)
    api.topics[topic_id]["bumped_at"] = "not a time"
    api.accept(odd)
    source = make_source(server)

    run = source_sync(source=source)

    assert not run.error or clear(run.error)
    assert {sample["reason"] for sample in run.rejections} == {"no time given"}


def test_raw_payloads_keep_no_one_elses_names_or_words(api, server):
    community(api, 12)
    source = make_source(server)
    source_sync(source=source)

    raw = {"posts": list(api.posts.values()), "topics": list(api.topics.values())}
    for activity in Activity.objects.filter(source=source):
        assert_keeps_nobody(activity.data, raw)
        assert "Words by" not in json.dumps(activity.data)
        assert {"id", "topic_id", "post_number", "created_at"} <= set(activity.data)


def test_posts_without_optional_fields_are_stored(api, server):
    forum_categories(api)
    topic_id = api.topic(SUPPORT, PEOPLE[0], 10)
    reply = api.reply(topic_id, PEOPLE[1], 11)
    for field in ("name", "display_username", "topic_slug", "updated_at", "reply_count", "reads", "accepted_answer"):
        api.posts[reply].pop(field, None)
    api.topics[topic_id]["slug"] = ""  # a topic whose title makes no slug
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    activity = Activity.objects.get(source=source, external_id=f"post:{reply}")
    assert activity.url == f"{server}/t/{topic_id}/2"
    assert activity.identity.name == ""


def test_what_the_forum_says_never_sends_the_sync_elsewhere_nor_breaks_it(api, server):
    """A hostile or broken forum: a slug that climbs out of the forum's path, a next page on another
    host, categories that are each other's parents. Pages are built by Baloo, never taken from the answer."""
    forum_categories(api)
    api.category(20, "loop-a", parent=21)
    api.category(21, "loop-b", parent=20)
    topic_id = api.topic(SUPPORT, PEOPLE[0], 10)
    looped = api.topic(20, PEOPLE[1], 11)
    api.accept(api.reply(topic_id, PEOPLE[2], 12))
    api.topics[topic_id]["slug"] = "../../admin?x=1#"
    api.topic_page = 1  # every page of topics says there is more
    original = api._latest_topics

    def elsewhere(query, admin, headers):
        reply = original(query, admin, headers)
        body = json.loads(reply.body)
        if "more_topics_url" in body["topic_list"]:
            body["topic_list"]["more_topics_url"] = "http://169.254.169.254/latest/meta-data?page=1"
        reply.body = json.dumps(body).encode()
        return reply

    api._latest_topics = elsewhere
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    topic = Activity.objects.get(source=source, external_id=f"topic:{topic_id}")
    assert topic.url == f"{server}/t/..%2F..%2Fadmin%3Fx%3D1%23/{topic_id}"
    assert Activity.objects.get(source=source, external_id=f"topic:{looped}").container.count("/") <= 4
    assert all(path.startswith(("/site.json", "/posts", "/latest.json", "/t/", "/c/")) for path in paths(api))
