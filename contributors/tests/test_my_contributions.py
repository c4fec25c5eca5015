"""My contributions: a signed-in contributor sees their record across systems, celebrated (BRIEF: Recognition)."""

import html
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from activities.tests.factories import SourceFactory
from community.tests.factories import UserFactory, ingest, record
from contributors.models import Identity
from conversion_points.models import ConversionPoint
from conversion_points.records import person_record
from conversion_points.tests.factories import AreaFactory, ConversionPointFactory

pytestmark = pytest.mark.django_db

# The pages count "today" from the clock; activities are placed relative to it.
TODAY = timezone.now().date()


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def community():
    sumo = SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    bugzilla = SourceFactory(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    github = SourceFactory(slug="github", kind="github", name="GitHub")
    support = AreaFactory(slug="support", name="Support", position=1)
    qa = AreaFactory(slug="qa", name="QA", position=2)
    coding = AreaFactory(slug="coding", name="Coding", position=3)
    ConversionPointFactory(
        slug="sumo-answer",
        area=support,
        source=sumo,
        types=["sumo.answer.posted"],
        level=ConversionPoint.Level.ACTIVE,
        name="Answered a question",
        recognition="Every answer helps someone stuck right now. Thank you!",
        next_step_url="https://example.org/support/next",
    )
    ConversionPointFactory(
        slug="bug-filed",
        area=qa,
        source=bugzilla,
        types=["bugzilla.bug.filed"],
        level=ConversionPoint.Level.ACTIVE,
        name="Filed a bug",
    )
    ConversionPointFactory(
        slug="pr-merged",
        area=coding,
        source=github,
        types=["github.pull_request.merged"],
        container="mozilla/*",
        level=ConversionPoint.Level.CORE,
        name="Landed code",
    )
    ConversionPointFactory(
        slug="pr-opened",
        area=coding,
        source=github,
        types=["github.pull_request.opened"],
        level=ConversionPoint.Level.CASUAL,
        name="Opened a PR",
    )
    return {"sumo": sumo, "bugzilla": bugzilla, "github": github}


def days_ago(days: int) -> str:
    return f"{TODAY - timedelta(days=days)}T12:00:00Z"


def test_signing_in_is_asked_for_kindly(client):
    response = client.get(reverse("contributors:my-contributions"))
    assert response.status_code == 200
    assert "Please sign in first" in response.content.decode()
    assert "next=%2Fme%2F" in response.content.decode()


def test_someone_baloo_never_saw_is_welcomed_and_pointed_to_claims(client):
    client.force_login(UserFactory(email="new@example.org"))
    page = client.get(reverse("contributors:my-contributions")).content.decode()
    assert "We haven't met yet" in page
    assert reverse("contributors:my-accounts") in page


def test_my_record_shows_every_system_areas_levels_recognition_and_only_my_activities(client, community):
    ingest(
        *[
            record("sumo", {"username": "annie", "email": "ann@example.org"}, "sumo.answer.posted", days_ago(400 - n))
            for n in range(12)
        ],
        record(
            "bugzilla",
            {"email": "ann@example.org"},
            "bugzilla.bug.filed",
            days_ago(30),
            title="Crash on start",
            url="https://bugzilla.example.org/1",
        ),
        record(
            "github",
            {"email": "ANN@example.org", "username": "ann-gh"},
            "github.pull_request.opened",
            days_ago(10),
            container="mozilla/gecko",
        ),
        record("sumo", {"username": "annie"}, "sumo.question.asked", days_ago(3), title="How do I sync?"),
        record(
            "sumo",
            {"username": "bob", "email": "bob@example.org"},
            "sumo.answer.posted",
            days_ago(5),
            title="Bob's answer",
        ),
    )
    client.force_login(UserFactory(email="ann@example.org"))
    response = client.get(reverse("contributors:my-contributions"))
    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    record_ = response.context["record"]
    assert record_.contributions == 14  # the casual pull request is a contribution too; the question matches no rule
    assert record_.activities == 15
    by_area = {area.area.slug: area for area in record_.areas}
    assert set(by_area) == {"support", "qa", "coding"}
    assert by_area["coding"].level == "casual"
    assert by_area["qa"].active_now is True
    assert "Every answer helps someone stuck right now. Thank you!" in page
    assert "https://example.org/support/next" in page
    assert "Crash on start" in page and "Filed a bug" in page and "How do I sync?" in page
    assert "Bob's answer" not in page
    assert "Your first contribution" in page and "10 contributions" in page
    assert {source.slug for source, _count in record_.systems} == {"sumo", "bugzilla", "github"}


def test_activities_are_paginated(client, community):
    ingest(
        *[
            record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", days_ago(n), title=f"Answer {n}")
            for n in range(30)
        ]
    )
    client.force_login(UserFactory(email="ann@example.org"))
    first = client.get(reverse("contributors:my-contributions"))
    assert len(first.context["page"].object_list) == 25
    assert "Answer 0" in first.content.decode() and "Answer 29" not in first.content.decode()
    second = client.get(reverse("contributors:my-contributions"), {"page": 2})
    assert len(second.context["page"].object_list) == 5
    assert "Answer 29" in second.content.decode()


def test_milestones_are_dated_when_they_happened(community):
    # 100 answers a day apart starting 500 days ago, a bug, a merged PR: core, three areas, three systems, a year.
    ingest(
        *[record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", days_ago(500 - n)) for n in range(100)],
        record("bugzilla", {"email": "ann@example.org"}, "bugzilla.bug.filed", days_ago(300)),
        record(
            "github",
            {"email": "ann@example.org"},
            "github.pull_request.merged",
            days_ago(200),
            container="mozilla/gecko",
        ),
        record(
            "github",
            {"email": "ann@example.org"},
            "github.pull_request.merged",
            days_ago(100),
            container="someone/else",
        ),
    )
    person = Identity.objects.get(value="ann@example.org").person
    result = person_record(person=person, today=TODAY)
    milestones = {(m.kind, str(m.value)): m.reached_on.date() for m in result.milestones}
    assert milestones[("count", "1")] == TODAY - timedelta(days=500)
    assert milestones[("count", "10")] == TODAY - timedelta(days=491)
    assert milestones[("count", "100")] == TODAY - timedelta(days=401)
    first = TODAY - timedelta(days=500)
    a_year_later = date(first.year + 1, 3, 1) if (first.month, first.day) == (2, 29) else first.replace(year=first.year + 1)
    assert milestones[("years", "1")] == a_year_later  # the same calendar day, not 365 days
    assert milestones[("areas", "3")] == TODAY - timedelta(days=200)
    assert milestones[("core", "Coding")] == TODAY - timedelta(days=200)
    assert milestones[("systems", "3")] == TODAY - timedelta(days=200)
    assert result.contributions == 102  # a merged PR outside mozilla/* matches no rule
    assert result.next_milestone.value == 1000 and result.next_milestone.remaining == 898
    active_now = {area.area.slug: area.active_now for area in result.areas}
    assert active_now == {"support": False, "qa": True, "coding": True}  # the last answer was 401 days ago


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.cookie)", " JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"]
)
def test_a_link_a_token_holder_typed_never_runs_on_my_page(client, community, url):
    """Anyone with a push token can name my address on an activity: its URL is shown as a link only
    when it is a web address."""
    ingest(record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", days_ago(3), title="Your certificate", url=url))
    client.force_login(UserFactory(email="ann@example.org"))

    page = client.get(reverse("contributors:my-contributions")).content.decode()

    assert "Your certificate" in page
    assert 'href="' + url.strip() not in page and "href=\"javascript" not in page.lower() and 'href="data:' not in page


def test_a_web_address_stays_a_link_on_my_page(client, community):
    ingest(record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", days_ago(3), title="My answer", url="https://support.example.org/a/1"))
    client.force_login(UserFactory(email="ann@example.org"))

    assert 'href="https://support.example.org/a/1"' in client.get(reverse("contributors:my-contributions")).content.decode()


def test_an_activity_without_a_title_links_its_own_words_not_link(client, community):
    """A link says where it goes (WCAG 2.4.4): "Answered a question", never "(link)"."""
    ingest(record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", days_ago(3), url="https://support.example.org/a/2"))
    client.force_login(UserFactory(email="ann@example.org"))

    page = client.get(reverse("contributors:my-contributions")).content.decode()
    assert '<a href="https://support.example.org/a/2" rel="noopener nofollow">Answered a question</a>' in page
    assert ">link<" not in page and "(<a" not in page
