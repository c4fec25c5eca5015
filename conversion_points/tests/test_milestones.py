"""Milestones arrive on their day: a year with us is the same calendar day a year later, never the
365th day (a day early whenever a 29 February lies between)."""

from datetime import date

import pytest

from activities.tests.factories import SourceFactory
from community.tests.factories import ingest, record
from contributors.models import Identity
from conversion_points.records import person_record
from conversion_points.tests.factories import AreaFactory, ConversionPointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    sumo = SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    ConversionPointFactory(
        slug="sumo-answer", area=AreaFactory(slug="support", name="Support"), source=sumo, types=["sumo.answer.posted"]
    )


def years_milestones(first: str, today: date) -> dict[int, date]:
    ingest(record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", f"{first}T23:30:00Z"))
    person = Identity.objects.get(value="ann@example.org").person
    result = person_record(person=person, today=today)
    return {m.value: m.reached_on.date() for m in result.milestones if m.kind == "years"}


def test_a_year_across_a_29_february_is_not_celebrated_on_its_365th_day(support):
    # 2023-03-01 to 2024-02-29 is 365 days, but the year is over only on 2024-03-01.
    assert years_milestones("2023-03-01", date(2024, 2, 29)) == {}


def test_a_year_is_celebrated_on_the_same_calendar_day(support):
    assert years_milestones("2023-03-01", date(2024, 3, 1)) == {1: date(2024, 3, 1)}


def test_a_year_without_a_29_february_is_still_celebrated_on_its_day(support):
    assert years_milestones("2024-06-10", date(2025, 6, 9)) == {}
    assert years_milestones("2024-06-10", date(2025, 6, 10)) == {1: date(2025, 6, 10)}


def test_a_first_contribution_on_29_february_has_its_anniversaries_on_1_march(support):
    assert years_milestones("2024-02-29", date(2025, 2, 28)) == {}
    assert years_milestones("2024-02-29", date(2025, 3, 1)) == {1: date(2025, 3, 1)}
    assert years_milestones("2024-02-29", date(2028, 2, 29)) == {1: date(2025, 3, 1), 2: date(2026, 3, 1), 3: date(2027, 3, 1)}


def test_five_years_and_every_fifth_are_celebrated_not_the_fourth(support):
    assert set(years_milestones("2015-05-05", date(2025, 5, 5))) == {1, 2, 3, 5, 10}
