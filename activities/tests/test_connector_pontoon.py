"""Pontoon sync against a local stand-in of its API v2 (activities/tests/standin_pontoon.py)."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.models import Activity, RejectedItem, Source, SyncRun, SyncState
from activities.sync import source_sync, source_sync_restart

from .standin_pontoon import (
    THROTTLED,
    TOKEN,
    FakePontoon,
    pontoon_action,
    pontoon_data,
    pontoon_project,
    pontoon_user,
    stamp,
)

pytestmark = pytest.mark.django_db

DAYS = 5


@pytest.fixture
def api():
    return FakePontoon()


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_PONTOON", TOKEN)


def today():
    return timezone.now().astimezone(UTC).date()


def make_source(url: str, **options) -> Source:
    options = {"backoff_seconds": 0, "since": (today() - timedelta(days=DAYS - 1)).isoformat(), **options}
    return Source.objects.create(slug="pontoon", kind="pontoon", name="Pontoon", base_url=url,
                                 token_env="BALOO_TOKEN_PONTOON", options=options)


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def day(back: int) -> str:
    return (today() - timedelta(days=back)).isoformat()


def test_a_first_sync_stores_every_submission_approval_and_rejection(api, server):
    expected = pontoon_data(api, days=DAYS, today=today())
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    # One request for the projects, then one per project and day, oldest day first.
    assert run.requests == 1 + 2 * DAYS
    assert api.asked_days("firefox") == [f"{day(back)}/firefox" for back in range(DAYS - 1, -1, -1)]
    assert set(Activity.objects.filter(source=source).values_list("container", flat=True)) == {
        "firefox::de", "firefox::fr", "thunderbird::de"}
    approved = Activity.objects.filter(source=source, type="pontoon.translation.approved").order_by("occurred_at").first()
    reviewer = approved.identity
    assert (reviewer.kind, reviewer.value in {"6000", "6001", "6002"}, reviewer.person.is_bot) == ("uid", True, False)
    assert approved.external_id.startswith(f"approved:{approved.data['translation']['pk']}:")
    assert approved.url.startswith(f"{server}/de/firefox/browser/browser/menubar.ftl/?string=")
    assert approved.title == "browser/browser/menubar.ftl"
    # The checkpoint: per project, the last day that was over when it was read.
    assert SyncState.objects.get(source=source).checkpoint == {"projects": {"firefox": day(1), "thunderbird": day(1)},
                                                               "unanswered": {}}


def test_the_reviewer_is_the_actor_of_an_approval_and_a_rejection(api, server):
    moment = timezone.now() - timedelta(hours=1)
    ann, rev = pontoon_user(11, "Ann"), pontoon_user(12, "Rev")
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    api.add("firefox", pontoon_action("created", translation=1, when=moment, user=ann))
    api.add("firefox", pontoon_action("approved", translation=1, when=moment + timedelta(minutes=1), user=rev))
    api.add("firefox", pontoon_action("rejected", translation=2, when=moment + timedelta(minutes=2), user=rev))
    source = make_source(server)

    source_sync(source=source)

    actors = dict(Activity.objects.filter(source=source).values_list("type", "identity__value"))
    assert actors == {"pontoon.translation.submitted": "11", "pontoon.translation.approved": "12",
                      "pontoon.translation.rejected": "12"}
    submitted = Activity.objects.get(source=source, type="pontoon.translation.submitted")
    assert submitted.external_id == f"submitted:1:{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"
    assert submitted.occurred_at == moment


def test_an_incremental_sync_reads_from_the_last_complete_day_and_stores_only_what_is_new(api, server):
    expected = pontoon_data(api, days=DAYS, today=today())
    source = make_source(server)
    source_sync(source=source)
    api.requests.clear()

    late = api.add("firefox", pontoon_action("created", translation=99_001, when=timezone.now() - timedelta(minutes=5),
                                             user=pontoon_user(77, "Latecomer"), locale="fr"))
    second = source_sync(source=source)

    assert second.status == SyncRun.Status.SUCCEEDED, second.error
    assert (second.created, second.rejected) == (1, 0)
    assert stored(source) == expected + Counter({"pontoon.translation.submitted": 1})
    # Yesterday (the last complete day) is read again, and today: two small requests a project.
    assert api.asked_days() == [f"{day(1)}/firefox", f"{day(0)}/firefox", f"{day(1)}/thunderbird", f"{day(0)}/thunderbird"]
    assert second.requests == 1 + 4
    assert Activity.objects.get(source=source, identity__value="77").occurred_at.isoformat().startswith(late["date"][:19])


def test_nothing_new_costs_two_small_requests_per_project_and_stores_nothing(api, server):
    pontoon_data(api, days=DAYS, today=today())
    source = make_source(server, projects=["firefox", "thunderbird"])
    source_sync(source=source)

    again = source_sync(source=source)

    assert again.status == SyncRun.Status.SUCCEEDED
    assert (again.requests, again.created, again.rejected) == (4, 0, 0)


def test_a_server_error_mid_sync_fails_the_run_and_the_next_resumes_with_no_gap_and_no_double(api, server):
    expected = pontoon_data(api, days=DAYS, today=today())
    # Day 3 of firefox answers 502 more often than the client retries.
    api.fail(f"/user-actions/{day(2)}/project/firefox/", status=502, times=10)
    source = make_source(server, max_retries=2)

    failed = source_sync(source=source)
    assert failed.status == SyncRun.Status.FAILED
    assert "HTTP 502" in failed.error and day(2) in failed.error
    assert 0 < sum(stored(source).values()) < sum(expected.values())
    assert SyncState.objects.get(source=source).checkpoint["projects"] == {"firefox": day(3)}

    api.faults.clear()
    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected
    # Only the last day stored is read again: what it holds is recognised, not stored twice.
    assert resumed.duplicate == 2 * 5


def test_a_day_pontoon_cannot_answer_is_asked_again_later_and_the_others_are_read_meanwhile(api, server):
    expected = pontoon_data(api, days=DAYS, today=today())
    # Pontoon answers 500 for a day holding an action whose account was deleted outright.
    api.fail(f"/user-actions/{day(3)}/project/firefox/", status=500, times=2)
    source = make_source(server, max_retries=0)

    first = source_sync(source=source)
    assert first.status == SyncRun.Status.FAILED
    assert f"HTTP 500 after 1 attempts: firefox on {day(3)} is asked again on the next syncs" in first.error
    assert SyncState.objects.get(source=source).checkpoint["unanswered"] == {"firefox": [day(3)]}
    second = source_sync(source=source)  # still 500: it waits its turn again
    assert second.status == SyncRun.Status.FAILED
    assert stored(source) == expected - Counter({"pontoon.translation.submitted": 6, "pontoon.translation.approved": 2,
                                                 "pontoon.translation.rejected": 2})

    third = source_sync(source=source)

    assert third.status == SyncRun.Status.SUCCEEDED, third.error
    assert stored(source) == expected
    assert SyncState.objects.get(source=source).checkpoint["unanswered"] == {}


def test_a_server_answering_500_to_every_day_stops_the_run_after_three(api, server):
    pontoon_data(api, days=DAYS, today=today())
    api.fail("/user-actions/", status=500, times=100)
    source = make_source(server, max_retries=0)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "3 days in a row, the sync stopped" in run.error
    assert run.requests == 1 + 3


@pytest.mark.parametrize(("paging", "said"), [
    ("circle", "Pontoon's project listing went round in a circle: the server named {server}/api/v2/projects/, a page it had already served"),
    ("endless", "Pontoon's project listing went on past 5 pages, more than any real one has; the sync stopped there"),
])
def test_a_project_listing_that_never_ends_stops_the_sync_and_keeps_what_was_stored(api, server, monkeypatch, paging, said):
    expected = pontoon_data(api, days=DAYS, today=today())
    source = make_source(server)
    assert source_sync(source=source).status == SyncRun.Status.SUCCEEDED
    checkpoint = SyncState.objects.get(source=source).checkpoint
    monkeypatch.setattr("activities.connectors.pontoon.PROJECT_PAGES", 5)
    api.paging = paging
    api.requests.clear()

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert said.format(server=server) in run.error
    # Stopped before reading page 2 again, or at the limit; no day of any project read on so wrong a listing.
    assert run.requests == (2 if paging == "circle" else 5)
    assert api.asked_days() == []
    assert stored(source) == expected
    assert SyncState.objects.get(source=source).checkpoint == checkpoint


def test_a_worker_killed_between_pages_resumes_from_the_checkpoint(api, server, monkeypatch):
    expected = pontoon_data(api, days=DAYS, today=today())
    source = make_source(server)
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 1)  # commit every page

    class Killed(BaseException):
        pass

    from activities.connectors import http

    real_get = http.HttpClient.get
    calls = {"n": 0}

    def dying_get(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # the projects, three days of firefox, then the process dies
            raise Killed
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(http.HttpClient, "get", dying_get)
    with pytest.raises(Killed):
        source_sync(source=source)
    monkeypatch.setattr(http.HttpClient, "get", real_get)
    assert Activity.objects.filter(source=source).count() == 3 * 2 * 5
    SyncState.objects.filter(source=source).update(locked_until=timezone.now() - timedelta(seconds=1))

    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected
    assert api.asked_days("firefox")[3] == f"{day(2)}/firefox"  # resumed at the last day committed


def test_pontoons_throttle_defers_the_run_until_retry_after_then_it_resumes(api, server):
    expected = pontoon_data(api, days=DAYS, today=today())
    api.fail(f"/user-actions/{day(1)}/project/firefox/", status=429, times=1, body=THROTTLED, headers={"Retry-After": "600"})
    source = make_source(server)

    deferred = source_sync(source=source)
    assert deferred.status == SyncRun.Status.DEFERRED
    assert deferred.resume_at - timezone.now() > timedelta(minutes=9)
    assert "<" not in deferred.error  # the HTML page is not quoted

    # When it said to come back: before that, every sync with the same token waits (the limit is shared).
    with time_machine.travel(deferred.resume_at):
        resumed = source_sync(source=source)
    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == expected


def test_a_short_throttle_is_waited_out(api, server, monkeypatch):
    expected = pontoon_data(api, days=2, today=today())
    api.fail("/api/v2/projects/", status=429, times=1, body=THROTTLED, headers={"Retry-After": "1"})
    waits = []
    monkeypatch.setattr("activities.connectors.http.time.sleep", waits.append)
    source = make_source(server, since=day(1))

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    assert waits and 0 < waits[0] <= 1


def _action(kind: str, number: int, who: dict | None, /, **changes) -> dict:
    """An action of `kind` on translation `number` by `who`, two hours ago, with `changes` (`...` drops a key)."""
    action = pontoon_action(kind, translation=number, when=timezone.now() - timedelta(hours=2, minutes=number), user=who)
    for key, value in changes.items():
        if value is ...:
            action.pop(key)
        else:
            action[key] = value
    return action


def test_deleted_accounts_and_items_without_what_an_activity_needs_are_rejected_once(api, server):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    ann = pontoon_user(11, "Ann")
    items = {
        # Pontoon keeps a deleted account's actions under a new disabled account, "Deleted User".
        "deleted": _action("created", 1, pontoon_user(90, "Deleted User")),
        # Before that, the action kept no account at all.
        "gone": _action("approved", 2, None),
        "no id": _action("created", 3, {"name": "Nobody", "system_user": False}),
        "no time": _action("created", 4, ann, date=None),
        "no translation": _action("created", 5, ann, translation=...),
        "no locale": _action("created", 6, ann, locale=None),
    }
    for item in items.values():
        api.add("firefox", item, at=timezone.now() - timedelta(hours=3))
    source = make_source(server)

    first = source_sync(source=source)
    second = source_sync(source=source)
    source_sync_restart(source=source)
    restarted = source_sync(source=source)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert sorted(sample["reason"] for sample in first.rejections) == sorted([
        "deleted account", "deleted account", "account without an id", "no time given", "no translation named",
        "no locale named"])
    assert (first.rejected, second.rejected, restarted.rejected) == (6, 0, 0)
    assert not Activity.objects.filter(source=source).exists()
    assert RejectedItem.objects.filter(source=source, lasting=True).count() == 6
    assert RejectedItem.objects.filter(source=source, external_id__startswith="approved:2:").exists()


def test_reverts_deletions_and_implicit_actions_are_neither_stored_nor_rejected(api, server):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    ann, rev = pontoon_user(11, "Ann"), pontoon_user(12, "Rev")
    api.add("firefox", _action("created", 1, ann))
    # Submitted directly as approved: Pontoon logs an implicit approval by the same account.
    api.add("firefox", _action("approved", 1, ann, is_implicit_action=True))
    # Approving one suggestion implicitly rejects the others.
    api.add("firefox", _action("approved", 2, rev))
    api.add("firefox", _action("rejected", 3, rev, is_implicit_action=True))
    api.add("firefox", _action("unapproved", 2, rev))
    api.add("firefox", _action("unrejected", 3, rev))
    source = make_source(server)

    run = source_sync(source=source)

    assert (run.created, run.rejected) == (2, 0)
    assert stored(source) == Counter({"pontoon.translation.submitted": 1, "pontoon.translation.approved": 1})


def test_an_older_answer_without_the_implicit_flag_or_system_user_is_read(api, server):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    older = _action("created", 1, {"pk": 11, "name": "Ann"}, is_implicit_action=...)
    older.pop("resource")
    older["translation"] = {"pk": 1, "status": "unreviewed", "string": "x", "value": None}
    api.add("firefox", older)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    activity = Activity.objects.get(source=source)
    assert (activity.type, activity.container, activity.url) == ("pontoon.translation.submitted", "firefox::de", f"{server}/de/firefox/")
    assert activity.identity.person.is_bot is False


def test_pretranslations_and_imports_by_pontoons_system_accounts_are_kept_as_a_bots(api, server):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    api.add("firefox", _action("created", 1, pontoon_user(2, "Google Translate", system=True)))
    api.add("firefox", _action("approved", 2, pontoon_user(3, "Sync", system=True)))
    api.add("firefox", _action("created", 3, pontoon_user(11, "Ann")))
    source = make_source(server)

    source_sync(source=source)

    bots = dict(Activity.objects.filter(source=source).values_list("identity__value", "identity__person__is_bot"))
    assert bots == {"2": True, "3": True, "11": False}


def test_locales_keep_only_their_actions_and_projects_without_them_are_not_asked(api, server):
    pontoon_data(api, days=2, today=today(), projects={"firefox": ["de", "fr"], "thunderbird": ["de"], "focus": ["fr"]})
    source = make_source(server, locales=["fr"], since=day(1))

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert set(Activity.objects.filter(source=source).values_list("container", flat=True)) == {"firefox::fr", "focus::fr"}
    assert {asked.split("/")[1] for asked in api.asked_days()} == {"firefox", "focus"}


def test_disabled_system_and_private_projects_are_not_read_unless_named(api, server):
    api.projects += [pontoon_project("firefox", locales=["de"]), pontoon_project("old", locales=["de"], disabled=True),
                     pontoon_project("tutorial", locales=["de"], system=True),
                     pontoon_project("secret", locales=["de"], visibility="private")]
    source = make_source(server, since=day(0))

    source_sync(source=source)

    assert api.asked_days() == [f"{day(0)}/firefox"]


def test_a_project_pontoon_does_not_have_is_an_error_on_the_run_and_the_others_still_sync(api, server):
    expected = pontoon_data(api, days=2, today=today(), projects={"firefox": ["de"]})
    source = make_source(server, projects=["gone", "firefox"], since=day(1))

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "no project 'gone'" in run.error
    assert stored(source) == expected
    assert "gone" not in SyncState.objects.get(source=source).checkpoint["projects"]


def test_a_private_project_the_token_cannot_see_fails_the_run_with_pontoons_reason(api, server):
    api.projects.append(pontoon_project("secret", locales=["de"], visibility="private"))
    source = make_source(server, projects=["secret"], since=day(0))

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "HTTP 403 You do not have permission to access data for this project." in run.error


def test_without_a_token_the_run_fails_before_any_request_saying_what_to_do(api, server, monkeypatch):
    monkeypatch.delenv("BALOO_TOKEN_PONTOON")
    pontoon_data(api, days=1, today=today())
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "personal access token" in run.error
    assert run.requests == 0 and api.requests == []


def test_a_bad_token_fails_the_run_with_pontoons_reason(api, server, monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_PONTOON", "7_wrong")
    pontoon_data(api, days=1, today=today())
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "HTTP 403 Invalid token." in run.error


@pytest.mark.parametrize(("options", "named"), [
    ({"project": ["firefox"]}, "unknown option project"),
    ({"projects": "firefox"}, "option projects must be a list"),
    ({"projects": ["../../admin"]}, "option projects must be a list"),
    ({"projects": ["firefox", 7]}, "option projects must be a list"),
    ({"locales": ["de/../x"]}, "option locales must be a list"),
    ({"since": "yesterday"}, "option since must be a date"),
    ({"since": 20240101}, "option since must be a date"),
    ({"since": "1970-01-01"}, "option since must be a day between"),
    ({"since": "2999-01-01"}, "option since must be a day between"),
    ({"max_retries": "many"}, "option max_retries must be a number"),
    ({"backoff_seconds": -1}, "option backoff_seconds must be a number"),
])
def test_hostile_options_fail_the_run_naming_the_option_before_any_request(api, server, options, named):
    pontoon_data(api, days=1, today=today())
    source = make_source(server)
    source.options = {**source.options, **options}
    source.save()

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert named in run.error
    assert api.requests == []


@pytest.mark.parametrize("body", [b'{"actions": {"0": {}}}', b"[1, 2]", b'{"actions": ["translation:created"]}'])
def test_an_answer_of_the_wrong_shape_fails_the_run_with_a_clear_error(api, server, body):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    api.fail("/user-actions/", status=200, times=1, body=body)
    source = make_source(server, since=day(0))

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert f"Pontoon's user actions of firefox on {day(0)}" in run.error
    assert "unexpected" not in run.error


def test_wrong_types_inside_an_action_are_rejected_or_stored_never_a_traceback(api, server):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    ann = pontoon_user(11, "Ann")
    api.add("firefox", _action("created", 1, {"pk": "11", "name": ["Ann"]}))
    api.add("firefox", _action("created", 2, ann, user={"pk": True, "name": "Bool"}))
    api.add("firefox", _action("created", 3, ann, translation={"pk": "3"}))
    api.add("firefox", _action("created", 4, ann, locale="de", entity=[], resource="x"))
    api.add("firefox", _action("created", 5, ann, type=["translation:created"]))
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert sorted(sample["reason"] for sample in run.rejections) == [
        "account without an id", "account without an id", "no locale named", "no translation named"]


def test_the_raw_payload_keeps_ids_states_and_times_not_names_or_translations(api, server):
    pontoon_data(api, days=1, today=today())
    source = make_source(server)

    source_sync(source=source)

    for activity in Activity.objects.filter(source=source):
        written = json.dumps(activity.data, ensure_ascii=False)
        assert "Translator" not in written and "Reviewer" not in written and "Google" not in written
        assert "Übersetzung" not in written and "Iepenje" not in written and "Language" not in written
        assert "menu-file-open" not in written and "warnings" not in written
        assert activity.data["translation"]["pk"] and activity.data["locale"]["code"] in ("de", "fr")
        assert activity.data["date"] == stamp(activity.occurred_at)


def test_a_default_first_sync_reads_the_last_365_days(api, server):
    api.projects.append(pontoon_project("firefox", locales=["de"]))
    api.add("firefox", _action("created", 1, pontoon_user(11, "Ann")))
    old = datetime.combine(today() - timedelta(days=365), datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    api.add("firefox", pontoon_action("created", translation=2, when=old, user=pontoon_user(12, "Bo")))
    source = Source.objects.create(slug="pontoon", kind="pontoon", name="Pontoon", base_url=server,
                                   token_env="BALOO_TOKEN_PONTOON", options={"backoff_seconds": 0})

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.requests == 1 + 366
    assert api.asked_days()[0] == f"{day(365)}/firefox"
    assert run.created == 2
