"""What a system itself says it holds (`Page.source_total`), kept by the sync beside what Baloo stored and
rejected of each kind at the same moment; and each run's rejections counted by fixed reason only."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from activities.connectors.base import MALFORMED, OTHER_REASON, Page, Rejected, rejection_reason_published
from activities.connectors.bugzilla import BugzillaConnector
from activities.models import Source, SyncRun, SyncState
from activities.sync import source_sync

from .builders import bugzilla_bugs, bz_bug, kitsune_data, sumo_answer, sumo_question
from .standin import FakeBugzilla, FakeKitsune, Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def bmo():
    api = FakeBugzilla()
    with Server(api) as url:
        yield api, Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=url,
                                         options={"page_size": 40, "backoff_seconds": 0})


@pytest.fixture
def sumo():
    api = FakeKitsune()
    with Server(api) as url:
        yield api, url


def totals(source: Source) -> dict:
    return SyncState.objects.get(source=source).source_totals


def test_bugzilla_reports_its_bug_count_beside_the_bugs_stored_and_rejected(bmo):
    api, source = bmo
    bugzilla_bugs(api, 50)
    nameless = bz_bug(900, created="2024-01-01T00:00:00Z", changed="2024-01-02T00:00:00Z")
    nameless.pop("creator")
    nameless.pop("creator_detail", None)
    api.bugs.append(nameless)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    kept = totals(source)["bug"]
    # 51 bugs, as Bugzilla counts them; 50 filings stored, one rejected (no author): items, not the
    # comments, attachments and fixes also stored.
    assert (kept["reported"], kept["stored"], kept["rejected"]) == (51, 50, 1)


def test_the_count_is_asked_once_a_day(bmo, monkeypatch):
    api, source = bmo
    bugzilla_bugs(api, 3)
    counts, route = [], api.route

    def counting(path, query, headers):
        counts.extend(query.get("count_only", []))
        return route(path, query, headers)

    monkeypatch.setattr(api, "route", counting)
    source_sync(source=source)
    source_sync(source=source)
    assert len(counts) == 1

    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        api.bugs.append(bz_bug(4, created="2024-02-01T00:00:00Z", changed="2024-02-01T00:00:00Z"))
        source_sync(source=source)
    assert len(counts) == 2
    assert totals(source)["bug"]["reported"] == 4


def test_a_bugzilla_without_a_count_reports_no_total(bmo, monkeypatch):
    api, source = bmo
    bugzilla_bugs(api, 2)
    # Upstream Bugzilla ignores count_only: it answers the first bug of the search.
    route = api.route

    def upstream(path, query, headers):
        query.pop("count_only", None)
        return route(path, query, headers)

    monkeypatch.setattr(api, "route", upstream)
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert totals(source) == {}


def test_a_failed_count_fails_nothing(bmo):
    api, source = bmo
    bugzilla_bugs(api, 2)
    api.fail("count_only", status=500, times=10)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED and run.error == ""
    assert totals(source) == {}


def test_kitsune_counts_questions_per_listing_and_answers_when_it_takes_everything(sumo):
    api, url = sumo
    kitsune_data(api, 6)
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url, options={"backoff_seconds": 0})

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    kept = totals(source)
    assert kept["question"]["reported"] == len(api.questions)
    assert kept["question"]["stored"] + kept["question"]["rejected"] == len(api.questions)
    assert kept["answer"]["reported"] == len(api.answers)


def test_kitsune_with_products_counts_only_its_questions(sumo):
    api, url = sumo
    api.questions += [sumo_question(1, user="ann", created="2024-01-01T00:00:00Z", product="firefox"),
                      sumo_question(2, user="ben", created="2024-01-01T00:00:00Z", product="thunderbird")]
    api.answers += [sumo_answer(1, 1, user="cy", created="2024-01-02T00:00:00Z")]
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url,
                                   options={"products": ["firefox"], "backoff_seconds": 0})

    source_sync(source=source)

    # The answer listing has no product filter: its count would include Thunderbird's answers.
    assert set(totals(source)) == {"question"}
    assert totals(source)["question"]["reported"] == 1


def test_runs_count_rejections_by_fixed_reason_never_by_remote_text(bmo, monkeypatch):
    api, source = bmo
    leaked = "the server says ann@example.org is gone"

    def pages(self, checkpoint):
        good = self.record(external_id="bug:1", type="bugzilla.bug.filed", occurred_at="2024-01-01T00:00:00Z",
                           actor={"email": "ben@example.org"})
        bad = {**good, "external_id": "bug:2", "actor": {"email": "not an address"}}
        yield Page([good, bad, Rejected("bug:3", "no author named"), Rejected("bug:4", leaked)], {"done": True})

    monkeypatch.setattr(BugzillaConnector, "pages", pages)
    run = source_sync(source=source)

    assert run.rejected == 3
    assert run.rejected_reasons == {MALFORMED: 1, "no author named": 1, OTHER_REASON: 1}
    assert "ann@example.org" not in str(run.rejected_reasons)


def test_only_declared_reasons_are_published():
    assert rejection_reason_published("deleted account") == "deleted account"
    assert rejection_reason_published("marked as spam") == "marked as spam"
    assert rejection_reason_published("ann@example.org said no") == OTHER_REASON
