"""Mozilla Reps sync against a local stand-in of the ReMo portal's API: every activity once, whatever goes wrong."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.connectors.reps import RepsConnector
from activities.models import Activity, RejectedItem, Source, SyncRun, SyncState
from activities.services import activities_ingest
from activities.sync import source_sync, source_sync_restart
from contributors.models import Identity

from .standin import Recorder, Server, ts
from .standin_reps import FakeRemo, RemoEvent, RemoReport, RemoUser

pytestmark = pytest.mark.django_db

NOW = datetime(2016, 6, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
PEOPLE = [RemoUser(100 + index, f"rep_{index}", f"Rep{index}", "Example") for index in range(12)]
MENTOR = RemoUser(999, "mentor_marta", "Marta", "Mentorova")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def api():
    return FakeRemo()


def make_source(url: str, **options) -> Source:
    return Source.objects.create(slug="reps", kind="reps", name="Mozilla Reps", base_url=url,
                                 options={"backoff_seconds": 0, **options})


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


def report(api: FakeRemo, number: int, *, days_ago: int, **fields) -> RemoReport:
    fields.setdefault("user", PEOPLE[number % len(PEOPLE)])
    item = RemoReport(number, report_date=day(-days_ago), created_on=ts(NOW - timedelta(days=days_ago) + timedelta(minutes=number)),
                      mentor=MENTOR, **fields)
    api.reports.append(item)
    return item


def event(api: FakeRemo, number: int, *, days_ago: float, **fields) -> RemoEvent:
    fields.setdefault("owner", PEOPLE[number % len(PEOPLE)])
    start = NOW - timedelta(days=days_ago)
    item = RemoEvent(number, start=ts(start), end=ts(start + timedelta(hours=3)), **fields)
    api.events.append(item)
    return item


def community(api: FakeRemo, *, reports: int = 45, events: int = 25) -> Counter:
    """A Reps community's last weeks: one report a day, an event every other day; what a sync must store."""
    for number in range(1, reports + 1):
        report(api, number, days_ago=number - 1, initiative="Firefox 50" if number % 3 else None,
               functional_areas=["Localization", "Community Education"] if number % 2 else [])
    for number in range(1, events + 1):
        event(api, number, days_ago=2 * number - 0.5, initiative="Firefox 50", categories=["Support"])
    return Counter({"reps.activity.reported": reports, "reps.event.organized": events})


def test_first_sync_stores_every_report_and_event_once(api, server):
    expected = community(api)
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == expected
    # One request to find the API, each listing's pages (20 a page), one detail per item.
    assert run.requests == 1 + 3 + 45 + 2 + 25
    assert api.pages_asked("activities") == [1, 1, 2, 3] and api.pages_asked("events") == [1, 2]
    activity = Activity.objects.get(source=source, external_id="activity:2")
    assert (activity.type, activity.occurred_at, activity.container, activity.title) == (
        "reps.activity.reported", datetime(2016, 6, 14, tzinfo=UTC), "Firefox 50", "Participated in a campaign")
    assert activity.url == "https://reps.example.org/u/rep_2/r/2016/06/14/2/"
    organized = Activity.objects.get(source=source, external_id="event:3")
    assert (organized.type, organized.occurred_at, organized.container, organized.title) == (
        "reps.event.organized", NOW - timedelta(days=5.5), "Firefox 50", "Firefox launch party")


def test_a_rep_is_their_profile_name_and_account_number_never_a_guessed_email(api, server):
    report(api, 1, days_ago=1, user=RemoUser(4242, "ann_example", "Ann", "Example"))
    source = make_source(server)

    source_sync(source=source)

    activity = Activity.objects.select_related("identity").get(source=source, external_id="activity:1")
    keys = set(Identity.objects.filter(person=activity.identity.person).values_list("kind", "value"))
    assert keys == {(Identity.Kind.USERNAME, "ann_example"), (Identity.Kind.UID, "4242")}
    assert not Identity.objects.filter(kind=Identity.Kind.EMAIL).exists()


def test_the_container_is_the_initiative_else_the_first_functional_area_else_none(api, server):
    report(api, 1, days_ago=1, initiative="Firefox 50", functional_areas=["Webmaker"])
    report(api, 2, days_ago=1, functional_areas=["Webmaker", "Localization"])
    report(api, 3, days_ago=1)
    event(api, 4, days_ago=1, categories=["Support", "Education"])
    event(api, 5, days_ago=1)
    source = make_source(server)

    source_sync(source=source)

    containers = dict(Activity.objects.filter(source=source).values_list("external_id", "container"))
    assert containers == {"activity:1": "Firefox 50", "activity:2": "Localization", "activity:3": "",
                          "event:4": "Education", "event:5": ""}
    areas = Activity.objects.get(source=source, external_id="activity:2").data["functional_areas"]
    assert areas == ["Webmaker", "Localization"]


def test_an_unchanged_portal_costs_the_listings_down_to_the_lookback_and_no_detail(api, server):
    community(api)
    source = make_source(server)
    source_sync(source=source)
    api.asked.clear()

    again = source_sync(source=source)

    assert (again.status, again.created, again.duplicate) == (SyncRun.Status.SUCCEEDED, 0, 0)
    # No ETag and no date filter in ReMo's API: the listings are read down to 30 days before the last
    # walk (page 2 of the reports: days 20 to 39; page 1 of the events: days 1.5 to 39.5), no detail.
    assert api.pages_asked("activities") == [1, 2] and api.pages_asked("events") == [1]
    assert api.details_asked("activities") == [] and api.details_asked("events") == []
    assert again.requests == 3


def test_a_shorter_lookback_reads_less(api, server):
    community(api)
    source = make_source(server, lookback_days=3)
    source_sync(source=source)
    api.asked.clear()

    source_sync(source=source)

    assert api.pages_asked("activities") == [1] and api.pages_asked("events") == [1]


def test_new_reports_and_events_add_exactly_themselves_and_only_their_details_are_asked(api, server, clock):
    expected = community(api)
    source = make_source(server)
    source_sync(source=source)
    api.asked.clear()

    clock.shift(timedelta(days=2))
    report(api, 500, days_ago=0)
    report(api, 501, days_ago=12)  # reported late, about a day twelve days ago: inside the lookback
    event(api, 502, days_ago=1)
    run = source_sync(source=source)

    assert (run.created, run.duplicate) == (3, 0)
    assert sorted(api.details_asked("activities")) == [500, 501] and api.details_asked("events") == [502]
    assert stored(source) == expected + Counter({"reps.activity.reported": 2, "reps.event.organized": 1})


def test_a_planned_event_is_held_until_it_happened_then_stored(api, server, clock):
    event(api, 1, days_ago=1)
    planned = event(api, 2, days_ago=-3)  # in three days
    report(api, 3, days_ago=-3, activity="Organized an Event", passive=True, event=2)  # the portal's own report of it
    source = make_source(server)

    first = source_sync(source=source)

    assert (first.created, first.rejected) == (1, 0)
    held = SyncState.objects.get(source=source).checkpoint["held"]
    assert set(held) == {"event:2", "activity:3"}
    assert not RejectedItem.objects.exists()

    # Still ahead: read again at most once a day (an event moved earlier is seen within a day).
    api.asked.clear()
    source_sync(source=source)
    assert api.details_asked("events") == [] and api.details_asked("activities") == []
    clock.shift(timedelta(days=1, minutes=1))
    source_sync(source=source)
    assert api.details_asked("events") == [2] and api.details_asked("activities") == [3]
    assert not Activity.objects.filter(external_id__in=["event:2", "activity:3"]).exists()

    # It happened (a little earlier than planned): stored with its real start, once.
    planned.start = ts(NOW + timedelta(days=2, hours=6))
    clock.shift(timedelta(days=2))
    run = source_sync(source=source)
    again = source_sync(source=source)

    assert (run.created, again.created) == (2, 0)
    assert Activity.objects.get(source=source, external_id="event:2").occurred_at == NOW + timedelta(days=2, hours=6)
    assert Activity.objects.get(source=source, external_id="activity:3").data["event"] == 2
    assert SyncState.objects.get(source=source).checkpoint["held"] == {}


def test_a_planned_event_deleted_before_it_happened_is_said_once(api, server, clock):
    event(api, 1, days_ago=-2)
    source = make_source(server)
    source_sync(source=source)

    api.events.clear()
    clock.shift(timedelta(days=3))
    run = source_sync(source=source)

    assert run.rejections == [{"external_id": "event:1", "reason": "not served (deleted)"}]
    assert SyncState.objects.get(source=source).checkpoint["held"] == {}


def test_an_api_that_moved_fails_the_run_and_takes_no_held_event_for_deleted(api, server, clock):
    event(api, 1, days_ago=-1)
    source = make_source(server)
    source_sync(source=source)

    api.api_path = "api/beta/"  # the deployment now answers elsewhere
    clock.shift(timedelta(days=2))
    moved = source_sync(source=source)

    assert moved.status == SyncRun.Status.FAILED and "HTTP 404" in moved.error
    assert not RejectedItem.objects.exists()
    source_sync_restart(source=source)
    found = source_sync(source=source)
    assert (found.status, found.created) == (SyncRun.Status.SUCCEEDED, 1)


def test_items_of_deleted_or_nameless_accounts_and_without_a_date_are_rejected_once(api, server):
    report(api, 1, days_ago=1)
    report(api, 2, days_ago=2, user=None)  # a deleted account
    report(api, 3, days_ago=3, user=RemoUser(7, "", "", ""))
    api.tamper[("activities", 3)] = lambda detail: {**detail, "user": {"first_name": "", "last_name": "", "display_name": ""}}
    report(api, 4, days_ago=4)
    api.tamper[("activities", 4)] = lambda detail: {**detail, "report_date": None}
    event(api, 5, days_ago=1, owner=None)  # an event whose owner is gone
    source = make_source(server)

    first = source_sync(source=source)
    api.asked.clear()
    second = source_sync(source=source)
    source_sync_restart(source=source)
    restarted = source_sync(source=source)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert {sample["external_id"]: sample["reason"] for sample in first.rejections} == {
        "activity:2": "deleted account", "activity:3": "no author named", "activity:4": "no time given",
        "event:5": "deleted account"}
    assert (second.rejected, restarted.rejected, restarted.created) == (0, 0, 0)
    # Rejected for a reason that never changes: not asked for again.
    assert api.details_asked("activities") == [] and api.details_asked("events") == []
    assert set(Activity.objects.values_list("external_id", flat=True)) == {"activity:1"}


def test_a_report_deleted_between_the_listing_and_its_detail_is_said(api, server):
    report(api, 1, days_ago=1)
    report(api, 2, days_ago=2)
    api.fail("/activities/2/", status=404, body=b'{"detail": "Not found."}')
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.rejections == [{"external_id": "activity:2", "reason": "not served (deleted)"}]


def test_a_5xx_after_some_pages_fails_the_run_clearly_and_the_next_resumes_with_no_gap_and_no_double(api, server, monkeypatch):
    expected = community(api, reports=65, events=5)
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 1)  # commit every page
    api.fail("/activities/?page=3", status=503, times=5)
    source = make_source(server, max_retries=2)

    failed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED
    assert "HTTP 503 after 3 attempts" in failed.error
    assert failed.created == 40
    api.asked.clear()
    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert (resumed.created, resumed.duplicate) == (30, 0)
    assert api.pages_asked("activities")[0] == 3
    assert stored(source) == expected


@pytest.mark.parametrize(("paging", "said", "pages"), [
    ("circle", "The ReMo activities listing went round in a circle: the server named {server}/api/remo/v1/activities/, "
               "a page it had already served", [1, 2]),
    ("endless", "The ReMo activities listing went on past 5 pages, more than any real one has", [1, 2, 3, 4, 5]),
])
def test_a_listing_that_never_ends_stops_the_sync_where_it_is_and_keeps_what_was_stored(api, server, monkeypatch, paging, said, pages):
    for number in range(1, 46):  # three pages of reports, all of the last ten days: the next sync reads them all again
        report(api, number, days_ago=number % 10)
    expected = Counter({"reps.activity.reported": 45})
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 1)  # commit every page
    monkeypatch.setattr("activities.connectors.reps.LISTING_PAGES", 5)
    source = make_source(server)
    assert source_sync(source=source).status == SyncRun.Status.SUCCEEDED
    api.paging = paging
    api.asked.clear()

    failed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED
    assert said.format(server=server) in failed.error
    assert api.pages_asked("activities") == pages and api.pages_asked("events") == []
    assert stored(source) == expected and failed.created == 0
    # The pages read before are committed; the next sync reads the page it stopped at, and stops there again.
    checkpoint = SyncState.objects.get(source=source).checkpoint
    assert checkpoint["activities"]["walk"]["page"] == pages[-1]
    api.asked.clear()
    again = source_sync(source=source)
    assert again.status == SyncRun.Status.FAILED and said.format(server=server) in again.error
    assert api.pages_asked("activities") == [pages[-1]]
    assert SyncState.objects.get(source=source).checkpoint == checkpoint
    assert stored(source) == expected


def test_a_sync_killed_between_pages_resumes_from_the_checkpoint(api, server, monkeypatch):
    expected = community(api, reports=65, events=30)
    monkeypatch.setattr("activities.sync.COMMIT_RECORDS", 1)

    class Killed(BaseException):
        pass

    from activities.connectors import http

    real_get = http.HttpClient.get
    calls = {"n": 0}

    def dying_get(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1 + 1 + 20 + 1 + 7:  # the API, page 1 and its details, page 2 and 6 of its details
            raise Killed
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(http.HttpClient, "get", dying_get)
    source = make_source(server)
    with pytest.raises(Killed):
        source_sync(source=source)
    monkeypatch.setattr(http.HttpClient, "get", real_get)
    assert Activity.objects.filter(source=source).count() == 20
    SyncState.objects.filter(source=source).update(lock_owner="", locked_until=None)

    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert (resumed.created, resumed.duplicate) == (75, 0)
    assert stored(source) == expected


def test_pages_stopped_anywhere_resume_from_their_checkpoint(api, server):
    community(api, reports=50, events=30)
    source = make_source(server)
    everything = sorted(record["external_id"] for page in RepsConnector(source).pages({}) for record in page.records)
    assert len(everything) == 80

    for stop in range(1, 6):  # three pages of reports, two of events
        Activity.objects.all().delete()
        pages = RepsConnector(source).pages({})
        read = []
        for _ in range(stop):
            page = next(pages)
            read.extend(record["external_id"] for record in page.records)
            activities_ingest(records=enumerate(page.records))  # committed with its checkpoint, as the sync does
        pages.close()  # stopped between pages
        for rest in RepsConnector(source).pages(page.checkpoint):
            read.extend(record["external_id"] for record in rest.records)
            activities_ingest(records=enumerate(rest.records))
        assert sorted(read) == everything, stop


def test_a_long_429_defers_the_run_and_the_next_one_finishes(api, server):
    expected = community(api, reports=30, events=5)
    api.fail("/activities/25/", status=429, headers={"Retry-After": "600"}, body=b'{"detail": "Request was throttled."}')
    source = make_source(server)

    deferred = source_sync(source=source)

    assert deferred.status == SyncRun.Status.DEFERRED
    assert deferred.resume_at - timezone.now() > timedelta(minutes=9)
    # When it said to come back: before that, every sync with the same token waits (the limit is shared).
    with time_machine.travel(deferred.resume_at):
        resumed = source_sync(source=source)
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert stored(source) == expected
    assert Activity.objects.filter(source=source).count() == 35


@pytest.mark.parametrize("api", [FakeRemo(api_path="api/beta/")], ids=["beta"])
def test_the_beta_api_before_2016_is_found_and_read_from_its_newest_end(api, server, clock):
    expected = community(api, reports=25, events=50)
    source = make_source(server)

    first = source_sync(source=source)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    assert stored(source) == expected
    assert SyncState.objects.get(source=source).checkpoint["api"] == "api/beta/"
    # Its events come oldest first and ignore `orderby`: the count on page 1, then from the last page back.
    assert api.pages_asked("events") == [1, 3, 2, 1]
    api.asked.clear()
    clock.shift(timedelta(days=1))
    event(api, 900, days_ago=0.5)
    again = source_sync(source=source)
    assert again.created == 1
    assert api.pages_asked("events") == [1, 3, 2] and api.details_asked("events") == [900]


@pytest.mark.parametrize("api", [FakeRemo(api_path="api/beta/")], ids=["beta"])
def test_a_beta_listing_read_from_its_end_that_says_it_never_ends_stops_the_sync(api, server):
    community(api, reports=5, events=5)
    item = {"name": "Party", "_url": api.url_of("events", 1)}
    listing = {"count": 1_000_000_000, "next": "page=2", "previous": None, "results": [item] * 20}
    api.fail("/api/beta/events/?page=1", status=200, times=1, body=json.dumps(listing).encode())
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "The ReMo events listing says it has 50,000,000 pages, more than any real one has" in run.error
    assert [query["page"] for query in api.queries if query["path"] == "/api/beta/events/"] == [["1"]]  # nothing after it
    assert stored(source) == Counter({"reps.activity.reported": 5})


@pytest.mark.parametrize("api", [FakeRemo(api_path="api/beta/")], ids=["beta"])
def test_a_beta_walk_resumed_after_events_were_deleted_reads_the_pages_left(api, server):
    community(api, reports=0, events=50)
    source = make_source(server)
    pages = RepsConnector(source).pages({})
    page = next(pages)  # the reports' (empty) listing
    page = next(pages)  # the events' last page: the ten newest
    pages.close()
    activities_ingest(records=enumerate(page.records))
    assert page.checkpoint["events"]["walk"]["page"] == 2
    del api.events[10:40]  # 30 events deleted meanwhile: one page left

    for rest in RepsConnector(source).pages(page.checkpoint):
        activities_ingest(records=enumerate(rest.records))

    assert Activity.objects.filter(source=source).count() == 20


def test_missing_optional_fields_and_an_older_shape_still_give_activities(api, server):
    report(api, 1, days_ago=1)
    api.tamper[("activities", 1)] = lambda detail: {
        key: value for key, value in detail.items() if key not in ("initiative", "functional_areas", "event", "remo_url", "passive_report")}
    report(api, 2, days_ago=2)
    api.tamper[("activities", 2)] = lambda detail: {**detail, "user": {"display_name": "only_a_name"}, "functional_areas": "Support"}
    event(api, 3, days_ago=1)
    api.tamper[("events", 3)] = lambda detail: {**detail, "categories": None, "initiative": None, "owner": {"_url": "https://x/users/55/"}}
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    rows = {a.external_id: a for a in Activity.objects.filter(source=source).select_related("identity")}
    assert (rows["activity:1"].container, rows["activity:1"].url) == ("", "")
    assert (rows["activity:2"].identity.value, rows["activity:2"].container) == ("only_a_name", "")
    assert rows["event:3"].identity.value == "55"


def test_bad_payloads_end_the_run_clearly_or_are_rejected_never_a_traceback(api, server):
    report(api, 1, days_ago=1)
    report(api, 2, days_ago=2)
    api.tamper[("activities", 2)] = lambda detail: {**detail, "report_date": "soon", "user": {**detail["user"], "_url": 12}}
    report(api, 3, days_ago=3)
    api.tamper[("activities", 3)] = lambda detail: {**detail, "user": "rep_3"}
    event(api, 4, days_ago=1)
    api.tamper[("events", 4)] = lambda detail: {key: value for key, value in detail.items() if key != "owner"}
    source = make_source(server)

    run = source_sync(source=source)

    assert "unexpected" not in run.error
    assert set(Activity.objects.values_list("external_id", flat=True)) == {"activity:1"}
    reasons = {sample["external_id"]: sample["reason"] for sample in run.rejections}
    assert reasons["activity:3"] == reasons["event:4"] == "no author named"
    assert "occurred_at" in reasons["activity:2"]

    api.tamper[("activities", 1)] = lambda detail: ["not", "an", "object"]
    Activity.objects.all().delete()
    source_sync_restart(source=source)
    broken = source_sync(source=source)
    assert broken.status == SyncRun.Status.FAILED
    assert "expected activities item 1 as a JSON object" in broken.error


def test_a_listing_that_is_not_a_page_fails_the_run_clearly(api, server):
    report(api, 1, days_ago=1)
    api.fail("/activities/?page=1", status=200, times=2, body=b'[{"activity": "x"}]')
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "expected a page object with a `results` list" in run.error
    assert "unexpected" not in run.error


def test_a_listing_item_without_a_detail_url_is_said_on_the_run_and_the_others_count(api, server):
    report(api, 1, days_ago=1)
    report(api, 2, days_ago=2)
    api.fail("/activities/?page=1", status=200, times=2,
             body=json.dumps({"count": 2, "next": None, "previous": None,
                              "results": [{"activity": "x", "_url": f"{api.url_of('activities', 1)}"}, {"activity": "y"}]}).encode())
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "names no detail URL" in run.error
    assert Activity.objects.filter(source=source, external_id="activity:1").exists()


@pytest.mark.parametrize("api", [FakeRemo(api_path="no/api/here/")], ids=["elsewhere"])
def test_no_remo_api_at_the_address_says_so(api, server):
    source = make_source(server)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "no ReMo API here" in run.error


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"repos": ["mozilla/remo"]}, "unknown option `repos`"),
        ({"lookback_days": "30"}, "option `lookback_days`"),
        ({"lookback_days": True}, "option `lookback_days`"),
        ({"lookback_days": -1}, "option `lookback_days`"),
        ({"lookback_days": 10**9}, "option `lookback_days`"),
        ({"max_retries": 1.5}, "option `max_retries`"),
        ({"backoff_seconds": "fast"}, "option `backoff_seconds`"),
        ({"since": "last year"}, "option `since`"),
        ({"since": "2016-13-01"}, "option `since`"),
        ({"since": 20160101}, "option `since`"),
    ],
)
def test_hostile_options_fail_the_run_naming_the_option_before_any_request(api, server, options, named):
    report(api, 1, days_ago=1)
    source = Source.objects.create(slug="reps", kind="reps", name="Reps", base_url=server, options=options)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert named in run.error
    assert api.asked == [] and not Activity.objects.exists()


def test_options_that_are_not_an_object_fail_the_run(api, server):
    source = Source.objects.create(slug="reps", kind="reps", name="Reps", base_url=server, options=["since"])

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED and "must be a JSON object" in run.error


def test_since_reads_nothing_dated_before_it(api, server):
    community(api, reports=45, events=0)
    source = make_source(server, since=day(-9))

    run = source_sync(source=source)

    assert run.created == 10
    assert Activity.objects.order_by("occurred_at").first().occurred_at.date() == TODAY - timedelta(days=9)
    assert api.pages_asked("activities") == [1, 1]


def test_links_in_answers_never_take_the_sync_elsewhere(api, server):
    community(api, reports=30, events=3)
    elsewhere = Recorder()
    with Server(elsewhere, host="127.0.0.2") as other:
        api.link_base = other  # `next` and `_url` name another host
        source = make_source(server)

        run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Activity.objects.filter(source=source).count() == 33
    assert elsewhere.requests == []


def test_the_raw_payload_keeps_no_one_elses_personal_data_nor_their_words(api, server):
    report(api, 1, days_ago=1, activity="Attended an Event", initiative="Firefox 50", functional_areas=["Support"], event=2)
    event(api, 2, days_ago=1, categories=["Support"])
    source = make_source(server)

    source_sync(source=source)

    for activity in Activity.objects.filter(source=source):
        payload = json.dumps(activity.data)
        for secret in ("mentor_marta", "Marta", "Mentorova", "booth", "demos and talks", "Germany", "blog.example.org",
                       "pad.example.org", "fxlaunch", "52.52", "rep_"):
            assert secret not in payload, (activity.external_id, secret)
    assert Activity.objects.get(external_id="activity:1").data == {
        "id": 1, "activity": "Attended an Event", "initiative": "Firefox 50", "report_date": day(-1),
        "passive_report": False, "functional_areas": ["Support"], "event": 2}
    assert set(Activity.objects.get(external_id="event:2").data) == {
        "id", "start", "end", "timezone", "initiative", "estimated_attendance", "categories"}


def test_dates_are_utc_days_for_reports_and_moments_for_events(api, server):
    report(api, 1, days_ago=0)
    source = make_source(server)

    source_sync(source=source)

    assert Activity.objects.get(external_id="activity:1").occurred_at == datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC)
