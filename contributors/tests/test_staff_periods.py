"""Staff periods: the directory's dates, leaving, re-imports, e-mail domains, merges and erasure,
and the numbers of past weeks, which never change when someone is hired or leaves."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import timezone

from activities.models import Activity, Source
from activities.services import activities_ingest
from contributors.directory import people_directory_import
from contributors.models import Identity, Person, PersonMerge, StaffPeriod
from contributors.services import person_forget, person_unmerge, persons_merge
from contributors.staff import staff_on_q
from conversion_points.tests.factories import AreaFactory, ConversionPointFactory
from metrics.engine import metrics_recompute
from metrics.models import MetricPoint

pytestmark = pytest.mark.django_db


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def directory(*records):
    return people_directory_import(records=enumerate(records, start=1))


def periods(email: str) -> list[tuple]:
    person = Person.objects.get(identities__value=email)
    return list(person.staff_periods.order_by("pk").values_list("staff_from", "staff_until", "origin"))


ANN = {"id": "E1", "name": "Ann", "emails": ["ann@example.org"]}
BOB = {"id": "E2", "name": "Bob", "emails": ["bob@example.org"]}


# --------------------------------------------------------------------------- the directory's dates


def test_staff_from_and_until_bound_the_period():
    result = directory({**ANN, "staff": True, "staff_from": "2021-03-01", "staff_until": "2023-06-30"}, BOB)

    assert result.rejected == []
    assert periods("ann@example.org") == [(date(2021, 3, 1), date(2023, 6, 30), "directory")]
    assert periods("bob@example.org") == []


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"staff": True, "staff_from": "2024-13-01"}, "staff_from '2024-13-01' is not a day of the calendar"),
        ({"staff": True, "staff_from": "01/03/2024"}, "staff_from must be a date written YYYY-MM-DD, not '01/03/2024'"),
        ({"staff": True, "staff_until": 20240301}, "staff_until must be a date written YYYY-MM-DD, not '20240301'"),
        ({"staff": True, "staff_from": "2024-03-01T00:00"}, "staff_from must be a date written YYYY-MM-DD"),
        ({"staff": True, "staff_from": "x" * 10_000}, "staff_from must be a date written YYYY-MM-DD, not 'xxxxxxxx"),
        ({"staff": True, "staff_from": ["2024-03-01"]}, "staff_from must be a date written YYYY-MM-DD"),
        (
            {"staff": True, "staff_from": "2024-03-02", "staff_until": "2024-03-01"},
            "staff_from 2024-03-02 is after staff_until 2024-03-01",
        ),
        ({"staff": False, "staff_from": "2024-03-01"}, 'give them with "staff": true'),
        ({"staff_until": "2024-03-01"}, 'give them with "staff": true'),
    ],
)
def test_bad_staff_dates_are_rejected_naming_the_line_and_the_problem(record, problem):
    result = directory(BOB, {**ANN, **record})

    assert len(result.rejected) == 1
    line, reason = result.rejected[0]
    assert line == 2 and problem in reason and len(reason) < 200
    assert not StaffPeriod.objects.exists()
    assert Person.objects.filter(identities__value="bob@example.org").exists()  # the good line is applied


def test_without_dates_the_first_import_means_since_always_and_a_later_one_from_that_day():
    directory({**ANN, "staff": True}, BOB)
    directory({**ANN, "staff": True}, {**BOB, "staff": True})

    assert periods("ann@example.org") == [(None, None, "directory")]
    assert periods("bob@example.org") == [(today(), None, "directory")]  # hired now


def test_reimporting_changes_no_period_and_leaving_ends_the_open_one_on_the_import_day():
    records = [{**ANN, "staff": True}, {**BOB, "staff": True, "staff_from": "2020-01-01", "staff_until": "2022-12-31"}]
    directory(*records)
    before = list(StaffPeriod.objects.order_by("pk").values_list("pk", "person_id", "staff_from", "staff_until"))
    again = directory(*records)
    assert again.staff_periods == 0
    assert list(StaffPeriod.objects.order_by("pk").values_list("pk", "person_id", "staff_from", "staff_until")) == before

    left = directory(records[1])
    assert (left.left, left.staff_periods) == (1, 1)
    assert periods("ann@example.org") == [(None, today(), "directory")]
    directory(records[1])
    assert periods("ann@example.org") == [(None, today(), "directory")]  # and stays so

    # Listed again later as staff: a new period from that day (the first one keeps its end).
    directory({**ANN, "staff": True}, records[1])
    assert periods("ann@example.org") == [(None, today(), "directory"), (today(), None, "directory")]


def test_a_person_whose_record_is_rejected_has_not_left_and_is_left_as_they_were():
    directory({**ANN, "staff": True, "staff_from": "2020-01-01", "name": "Ann"}, BOB)
    ann = Person.objects.get(identities__value="ann@example.org")

    # Ann's record is there, with a bad date and another name: rejected, naming the line.
    result = directory(BOB, {**ANN, "staff": True, "staff_from": "2020-13-01", "name": "Annie"})

    assert result.left == 0 and result.staff_periods == 0
    assert [(line, "'E1' is left as they were" in reason) for line, reason in result.rejected] == [(2, True)]
    ann.refresh_from_db()
    assert (ann.directory_id, ann.display_name) == ("E1", "Ann")
    assert periods("ann@example.org") == [(date(2020, 1, 1), None, "directory")]

    # Absent next time: she leaves then.
    assert directory(BOB).left == 1
    assert periods("ann@example.org") == [(date(2020, 1, 1), today(), "directory")]


def test_a_rejected_line_whose_id_cannot_be_read_makes_nobody_leave():
    directory({**ANN, "staff": True}, BOB)

    result = directory(BOB, '{"id": "E1", "name": "Ann", "emails": ["ann@exa')  # cut short

    assert result.left == 0 and result.unreadable == [2]
    assert "nobody leaves the directory on this import" in result.rejected[0][1]
    assert periods("ann@example.org") == [(None, None, "directory")]
    assert Person.objects.get(identities__value="ann@example.org").directory_id == "E1"


def test_listed_as_no_longer_staff_ends_the_period_and_a_given_start_moves_it():
    directory({**ANN, "staff": True}, BOB)
    directory({**ANN, "staff": True, "staff_from": "2019-05-01"}, BOB)
    assert periods("ann@example.org") == [(date(2019, 5, 1), None, "directory")]
    directory({**ANN, "staff": False}, BOB)
    assert periods("ann@example.org") == [(date(2019, 5, 1), today(), "directory")]


def test_the_directory_never_touches_a_period_an_admin_entered():
    directory({**ANN, "staff": True}, BOB)
    ann = Person.objects.get(identities__value="ann@example.org")
    ann.staff_periods.create(staff_from=date(2010, 1, 1), staff_until=date(2012, 1, 1), origin="admin")
    directory(BOB)
    assert periods("ann@example.org") == [(None, today(), "directory"), (date(2010, 1, 1), date(2012, 1, 1), "admin")]


def test_two_staff_persons_the_directory_merges_keep_one_open_period():
    directory({**ANN, "staff": True}, {**BOB, "staff": True})
    directory({**ANN, "emails": ["ann@example.org", "bob@example.org"], "staff": True})

    assert Person.objects.count() == 1
    assert periods("ann@example.org") == [(None, None, "directory")]


# --------------------------------------------------------------------------- past weeks keep their numbers


@pytest.fixture
def counted_world():
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ConversionPointFactory(slug="answer", area=AreaFactory(slug="support"), source=sumo, types=["sumo.answer.posted"])
    start = today() - timedelta(days=400)
    records = [
        {
            "source": "sumo",
            "external_id": f"{who}-{day}",
            "type": "sumo.answer.posted",
            "occurred_at": datetime.combine(start + timedelta(days=day), datetime.min.time(), tzinfo=UTC).isoformat(),
            "actor": {"email": f"{who}@example.org"},
        }
        for who in ("ann", "bob")
        for day in range(0, 400, 9)
    ]
    assert activities_ingest(records=enumerate(records)).created == len(records)
    directory(ANN, BOB)  # the directory's first import: nobody staff yet


def served() -> dict:
    return {
        (p.scope, p.population, p.date): (p.active, p.new, p.lapsed)
        for p in MetricPoint.objects.filter(run=metrics_recompute())
    }


def test_hiring_and_leaving_through_the_directory_leave_every_past_week_as_it_was(counted_world):
    before = served()
    assert before[("all", "volunteers", max(d for _s, _p, d in before))][0] == 2

    directory({**ANN, "staff": True}, BOB)  # Ann is hired today
    assert served() == before
    directory(BOB)  # and leaves the directory today
    assert served() == before
    assert periods("ann@example.org") == [(today(), today(), "directory")]


def test_a_past_hire_date_moves_the_weeks_after_it_to_staff(counted_world):
    before = served()
    hired = today() - timedelta(days=200)
    directory({**ANN, "staff": True, "staff_from": hired.isoformat()}, BOB)
    after = served()

    last_complete = max(d for _s, p, d in after if p == "volunteers")
    assert {k: v for k, v in after.items() if k[2] < hired} == {k: v for k, v in before.items() if k[2] < hired}
    assert after[("all", "volunteers", last_complete)][0] == 2  # still active: her volunteer days are within a year
    assert after[("all", "everyone", last_complete)] == before[("all", "everyone", last_complete)]


# --------------------------------------------------------------------------- staff e-mail domains


def commit(external_id: str, when: str, **actor: str) -> dict:
    return {"source": "git", "external_id": external_id, "type": "git.commit.authored", "occurred_at": when, "actor": actor}


def test_email_domain_periods_run_from_the_first_to_the_last_record_naming_the_address(settings):
    Source.objects.create(slug="git", kind="git", name="git")
    settings.STAFF_EMAIL_DOMAINS = ["corp.example"]
    activities_ingest(
        records=enumerate(
            [
                commit("1", "2024-01-05T10:00:00Z", email="ann@example.org", username="ann"),
                # The activity points at the account `ann`; the record named the staff address.
                commit("2", "2024-03-01T10:00:00Z", email="ann@corp.example", username="ann"),
                commit("3", "2024-09-30T23:00:00-03:00", email="Ann@Corp.example"),
                commit("4", "2024-12-01T10:00:00Z", email="ann@example.org", username="ann"),
            ]
        )
    )
    assert periods("ann@example.org") == [(date(2024, 3, 1), date(2024, 10, 1), "email-domain")]

    # An earlier one widens it; a record stored already changes nothing, whatever date it now gives.
    for _ in range(2):
        activities_ingest(
            records=enumerate(
                [commit("5", "2023-06-01T10:00:00Z", email="ann@corp.example"), commit("2", "2025-01-01T00:00:00Z", email="ann@corp.example")]
            )
        )
    assert periods("ann@example.org") == [(date(2023, 6, 1), date(2024, 10, 1), "email-domain")]


def test_no_staff_domain_gives_no_period(settings):
    Source.objects.create(slug="git", kind="git", name="git")
    settings.STAFF_EMAIL_DOMAINS = []
    activities_ingest(records=enumerate([commit("1", "2024-01-05T10:00:00Z", email="ann@corp.example")]))
    assert not StaffPeriod.objects.exists()


# --------------------------------------------------------------------------- merges, unmerges, erasure


def test_periods_move_with_a_merge_and_come_back_with_the_unmerge():
    ann = Person.objects.create(display_name="Ann")
    Identity.objects.create(person=ann, kind="email", value="ann@example.org")
    other = Person.objects.create(display_name="Ann at work")
    Identity.objects.create(person=other, kind="email", value="ann@corp.example")
    mine = ann.staff_periods.create(staff_until=date(2020, 1, 1), origin="admin")
    theirs = other.staff_periods.create(staff_from=date(2021, 1, 1), origin="directory")

    persons_merge(into=ann, others=[other], reason="The same Ann")
    assert set(ann.staff_periods.values_list("pk", flat=True)) == {mine.pk, theirs.pk}
    # The directory ends the moved period while they are one person.
    StaffPeriod.objects.filter(pk=theirs.pk).update(staff_until=date(2022, 1, 1))

    restored = person_unmerge(merge=PersonMerge.objects.get())
    assert list(restored.staff_periods.values_list("pk", "staff_from", "staff_until")) == [
        (theirs.pk, date(2021, 1, 1), date(2022, 1, 1))
    ]
    assert list(ann.staff_periods.values_list("pk", flat=True)) == [mine.pk]


def test_an_unmerge_of_a_merge_recorded_before_periods_gives_the_staff_flag_back_as_a_period():
    ann = Person.objects.create(display_name="Ann")
    Identity.objects.create(person=ann, kind="email", value="ann@example.org")
    merge = PersonMerge.objects.create(
        into=ann, merged_person_id=ann.pk + 100, reason="old", snapshot={"display_name": "Old", "is_staff": True,
                                                                         "staff_reason": "directory", "identity_ids": []}
    )
    restored = person_unmerge(merge=merge)
    assert list(restored.staff_periods.values_list("staff_from", "staff_until", "origin")) == [(None, None, "directory")]


def test_forgetting_a_person_takes_their_periods_and_anonymous_activities_keep_counting_alike():
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ann = Person.objects.create(display_name="Ann")
    identity = Identity.objects.create(person=ann, kind="email", value="ann@example.org")
    Activity.objects.create(source=sumo, external_id="1", type="t", occurred_at=timezone.now(), identity=identity)
    ann.staff_periods.create(staff_from=date(2020, 1, 1), origin="directory")

    person_forget(person=ann)
    assert not StaffPeriod.objects.filter(person_id=ann.pk).exists()
    anonymous = Activity.objects.get().identity.person
    assert list(anonymous.staff_periods.values_list("staff_from", "staff_until")) == [(date(2020, 1, 1), None)]

    bob = Person.objects.create(display_name="Bob")
    bob_identity = Identity.objects.create(person=bob, kind="email", value="bob@example.org")
    Activity.objects.create(source=sumo, external_id="2", type="t", occurred_at=timezone.now(), identity=bob_identity)
    bob.staff_periods.create(origin="admin")
    person_forget(person=bob, delete_activities=True)
    assert StaffPeriod.objects.count() == 1  # only the anonymous person's, from Ann


def test_staff_today_is_a_period_holding_today():
    now, ever, never = (Person.objects.create(display_name=name) for name in ("now", "ever", "never"))
    now.staff_periods.create(staff_from=today())
    ever.staff_periods.create(staff_until=today() - timedelta(days=1))
    assert list(Person.objects.filter(staff_on_q())) == [now]
    assert list(Person.objects.filter(staff_on_q(day=today() - timedelta(days=1)))) == [ever]
