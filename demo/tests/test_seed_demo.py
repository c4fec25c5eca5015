from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from activities.models import Activity, Source
from contributors.models import Identity, Person, PlaceholderAccount, StaffPeriod
from contributors.placeholders import counted
from conversion_points.models import Area, ConversionPoint
from demo.generator import demo_end_date, demo_records

PEOPLE = 300


def span_of(person: Person) -> dict:
    return Activity.objects.filter(identity__person=person).aggregate(first=Min("occurred_at"), last=Max("occurred_at"))


def _counts() -> dict[str, int]:
    return {
        "sources": Source.objects.count(),
        "areas": Area.objects.count(),
        "conversion_points": ConversionPoint.objects.count(),
        "people": Person.objects.count(),
        "activities": Activity.objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_fills_an_empty_database_with_a_realistic_community():
    # A placeholder account already known (no activities yet): no human, so not among the people.
    PlaceholderAccount.objects.create(kind="email", value="nobody@example.org")
    nobody = Person.objects.create(display_name="Nobody")
    Identity.objects.create(person=nobody, kind="email", namespace="", value="nobody@example.org")
    output = StringIO()
    call_command("seed_demo", people=PEOPLE, stdout=output)

    assert "activities:" in output.getvalue()
    # People are counted by the one rule (`contributors.placeholders.counted`): no bots, no placeholders.
    assert f"people: {Person.objects.filter(counted('pk')).count()} (" in output.getvalue()
    assert Person.objects.filter(counted("pk")).count() == Person.objects.filter(is_bot=False).count() - 1
    assert set(Source.objects.values_list("slug", "kind")) == {
        ("github-mozilla", "github"),
        ("bugzilla-mozilla", "bugzilla"),
        ("sumo", "sumo"),
    }
    areas = Area.objects.annotate(levels=Count("conversion_points__level", distinct=True))
    assert areas.count() >= 6
    assert all(area.target and area.levels == 3 for area in areas)
    assert Area.objects.get(slug="support").name_de == "Hilfe für Nutzer"
    assert not ConversionPoint.objects.filter(Q(recognition_fr="") | Q(next_step_url="")).exists()

    humans = Person.objects.filter(is_bot=False).count()
    # Accounts that nothing links (a SUMO user name and a GitHub login) stay separate persons.
    assert PEOPLE * 0.9 <= humans <= PEOPLE * 1.4
    assert StaffPeriod.objects.filter(origin="email-domain").exists()
    # One volunteer is hired half-way: staff from then on, a volunteer before.
    hired = Person.objects.get(identities__kind="username", identities__value="noorh")
    period = hired.staff_periods.get()
    assert span_of(hired)["first"].date() < period.staff_from <= period.staff_until <= span_of(hired)["last"].date()
    assert period.staff_until > span_of(hired)["last"].date() - timedelta(days=60)
    assert Person.objects.filter(is_bot=True).count() == 2
    two_emails = Person.objects.annotate(emails=Count("identities", filter=Q(identities__kind="email")))
    assert two_emails.filter(emails__gte=2).exists()

    span = Activity.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    assert span["last"] <= timezone.now()
    assert span["last"].date() == demo_end_date(timezone.now().date())
    assert timedelta(days=2 * 365) < span["last"] - span["first"] <= timedelta(days=3 * 365 + 7)
    assert set(Activity.objects.values_list("source__slug", flat=True).distinct()) == {
        "github-mozilla",
        "bugzilla-mozilla",
        "sumo",
    }

    before = _counts()
    output = StringIO()
    call_command("seed_demo", people=PEOPLE, stdout=output)
    assert "already holds activities" in output.getvalue()
    assert _counts() == before


def test_demo_records_are_the_same_for_the_same_end_date():
    end = date(2025, 6, 1)
    first = list(demo_records(end=end, people=50))

    assert first == list(demo_records(end=end, people=50))
    assert first != list(demo_records(end=end + timedelta(days=7), people=50))
    assert max(record["occurred_at"] for record in first) <= "2025-06-01T23:59:59Z"


@pytest.mark.parametrize(
    ("today", "sunday"),
    [
        (date(2026, 11, 23), date(2026, 11, 22)),  # Monday: yesterday
        (date(2026, 11, 28), date(2026, 11, 22)),  # Saturday
        (date(2026, 11, 29), date(2026, 11, 22)),  # Sunday: that week is not over yet
    ],
)
def test_the_demo_ends_on_the_last_complete_week(today, sunday):
    assert demo_end_date(today) == sunday
