"""The builder's desk, tried as each role and as an attacker (docs/security.md: every role has a line it cannot cross)."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import AuthAudit
from accounts.tests.worlds import D, at, roles_world
from activities.models import Activity
from contributors.models import Identity, Person

pytestmark = pytest.mark.django_db

User = get_user_model()
WEEK = D.isoformat()


@pytest.fixture
def world() -> dict:
    world = roles_world()
    sumo = world["sumo"]

    def person(name: str, *days_before: int) -> Person:
        p = Person.objects.create(display_name=name)
        identity = Identity.objects.create(person=p, kind="email", value=f"{len(name)}{name[:3].lower()}@example.org")
        for n, days in enumerate(days_before):
            Activity.objects.create(
                source=sumo, external_id=f"{p.pk}-{n}", type="sumo.answer.posted", occurred_at=at(D - timedelta(days=days)), identity=identity
            )
        return p

    world["eve"] = person("Eve", 340)  # last contribution 11 months before: about to lapse
    world["fay"] = person("Fay", 500, 2)  # away for more than a year, back this week
    world["mal"] = person("=HYPERLINK(\"https://evil.example\")", 1)  # a name that would run in a spreadsheet
    return world


def as_user(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_a_builder_sees_their_areas_people_by_status(world):
    builder = as_user(world["builder_a"])
    page = builder.get("/desk/area/support/", {"week": WEEK})
    assert page.status_code == 200
    desk = page.context["desk"]
    statuses = {p.name: p.status for p in desk.people}
    assert statuses == {"Ann": "new", "Fay": "back", "Eve": "about_to_lapse", "Ben": "active", "Cid": "lapsed", '=HYPERLINK("https://evil.example")': "new"}
    eve = next(p for p in desk.people if p.name == "Eve")
    assert eve.drops_out_on == (D - timedelta(days=340)) + timedelta(days=365)
    assert page.context["counts"] == {"new": 2, "back": 1, "about_to_lapse": 1, "active": 5, "lapsed": 1}
    content = page.content.decode()
    assert "<caption" in content and 'for="desk-week"' in content and "Dot" not in content and "Bot" not in content


def test_filters_and_the_default_week(world):
    builder = as_user(world["builder_a"])
    lapsed = builder.get("/desk/area/support/", {"week": WEEK, "status": "lapsed"})
    assert [p.name for p in lapsed.context["page"]] == ["Cid"]
    assert not lapsed.context["page"][0].moved  # Cid contributed nowhere else: left
    active = builder.get("/desk/area/support/", {"week": WEEK, "status": "active", "source": "sumo", "level": "active"})
    assert len(active.context["page"].object_list) == 5
    latest = builder.get("/desk/area/support/")
    assert latest.status_code == 200 and latest.context["week"].weekday() == 6


def test_a_builder_cannot_see_another_areas_people_by_tampering(world):
    builder = as_user(world["builder_b"])  # owns coding only
    for url in ("/desk/area/support/", "/desk/area/support/people.csv", f"/desk/area/support/people/{world['ann'].pk}/"):
        assert builder.get(url, {"week": WEEK}).status_code == 404
    # Their own area's page, with another area's system as a filter, is refused, not widened.
    assert builder.get("/desk/area/coding/", {"week": WEEK, "source": "sumo"}).status_code == 400
    # Someone who never contributed to coding has no page there, though they exist.
    assert builder.get(f"/desk/area/coding/people/{world['ben'].pk}/").status_code == 404
    coding = builder.get("/desk/area/coding/", {"week": WEEK})
    # Only Ann's PR matches coding's rule (Ben's repository does not): active, not new (30 days old).
    assert [(p.name, p.status) for p in coding.context["desk"].people] == [("Ann", "active")]
    assert builder.get("/desk/area/coding/", {"week": WEEK, "status": "active"}).context["shown"] == 1


def test_a_builders_csv_has_only_their_area_and_no_formulas(world):
    builder = as_user(world["builder_a"])
    export = builder.get("/desk/area/support/people.csv", {"week": WEEK})
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")
    found = rows(export)
    assert {r["name"] for r in found} == {"Ann", "Ben", "Cid", "Eve", "Fay", "'=HYPERLINK(\"https://evil.example\")"}
    assert all(r["sources"] == "sumo" for r in found)
    assert AuthAudit.objects.filter(action=AuthAudit.Action.EXPORT, user=world["builder_a"]).exists()
    other = as_user(world["builder_b"]).get("/desk/area/coding/people.csv", {"week": WEEK, "status": "active"})
    assert [r["name"] for r in rows(other)] == ["Ann"] and rows(other)[0]["sources"] == "github-mozilla"


def test_a_contributor_is_refused_and_an_anonymous_visitor_sent_to_sign_in(world):
    contributor = User.objects.create_user("carol", "carol@example.org")
    for url in ("/desk/", "/desk/area/support/", "/desk/area/support/people.csv", "/desk/digest/"):
        assert as_user(contributor).get(url).status_code == 403
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "next=" in anonymous["Location"] and "login" in anonymous["Location"]


@pytest.mark.parametrize(
    "week", ["2026-13-01", "../", "../../etc/passwd", "99999-01-01", "0001-01-01", "2026-02-30", "2999-01-04", "x" * 5000, "2026-03-15\x00"]
)
def test_hostile_weeks_get_a_clear_400(world, week):
    page = as_user(world["builder_a"]).get("/desk/area/support/", {"week": week})
    assert page.status_code == 400
    assert "YYYY-MM-DD" in page.content.decode()


@pytest.mark.parametrize("query", [{"status": "everyone'--"}, {"level": "god"}, {"source": "../sumo"}, {"source": "github-mozilla"}])
def test_hostile_filters_get_a_clear_400(world, query):
    assert as_user(world["builder_a"]).get("/desk/area/support/", query).status_code == 400
    assert as_user(world["builder_a"]).get("/desk/area/support/people.csv", query).status_code == 400


def test_any_day_of_a_week_shows_that_week(world):
    page = as_user(world["builder_a"]).get("/desk/area/support/", {"week": (D - timedelta(days=3)).isoformat()})
    assert page.context["week"] == D


def test_staff_see_every_area_and_the_person_page(world):
    staff = as_user(world["staff"])
    index = staff.get("/desk/")
    assert index.status_code == 200 and {a.slug for a in index.context["areas"]} == {"support", "coding"}
    person = staff.get(f"/desk/area/support/people/{world['ann'].pk}/")
    assert person.status_code == 200 and "Ann" in person.content.decode()


def test_a_builder_with_one_area_goes_straight_to_it_and_the_admin_links_the_desk(world):
    builder = as_user(world["builder_a"])
    assert builder.get("/desk/")["Location"] == "/desk/area/support/"
    assert "/desk/" in builder.get("/admin/").content.decode()
    contributor = User.objects.create_user("dora", "dora@example.org", is_staff=True)
    assert "/desk/" not in as_user(contributor).get("/admin/").content.decode()


@pytest.mark.parametrize("language", ["de", "fr", "es"])
def test_the_desk_is_localized(world, language):
    page = as_user(world["builder_a"]).get(f"/{language}/desk/area/support/", {"week": WEEK})
    assert page.status_code == 200
    assert f'lang="{language}"' in page.content.decode()
