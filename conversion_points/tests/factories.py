from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import factory
import time_machine

from activities.models import Activity
from activities.tests.factories import SourceFactory
from contributors.models import Identity, Person, StaffPeriod

from ..models import Area, ConversionPoint


class AreaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Area
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"area-{n}")
    name = factory.LazyAttribute(lambda area: area.slug.title())


class ConversionPointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConversionPoint
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"cp-{n}")
    area = factory.SubFactory(AreaFactory)
    source = factory.SubFactory(SourceFactory)
    types = factory.LazyFunction(lambda: ["manual.thing.done"])
    container = "*"
    level = ConversionPoint.Level.ACTIVE
    name = factory.LazyAttribute(lambda point: point.slug.title())


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person
        skip_postgeneration_save = True

    display_name = factory.Sequence(lambda n: f"Person {n}")

    @factory.post_generation
    def staff_periods(person, create, periods, **kwargs):
        """`staff_periods=True`: staff since always; or a list of (staff_from, staff_until), None for open."""
        if not periods:
            return
        for start, end in [(None, None)] if periods is True else periods:
            StaffPeriod.objects.create(person=person, staff_from=start, staff_until=end)


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Identity

    person = factory.SubFactory(PersonFactory)
    kind = Identity.Kind.USERNAME
    namespace = "test"
    value = factory.Sequence(lambda n: f"user{n}")


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    source = factory.SubFactory(SourceFactory)
    external_id = factory.Sequence(lambda n: f"a{n}")
    type = "manual.thing.done"
    identity = factory.SubFactory(IdentityFactory)
    container = ""


# The Sunday the small computed community below is counted up to.
SUNDAY = date(2024, 6, 2)
# When its tests run: the morning after, so SUNDAY is the last complete week and "today" is the Monday.
MONDAY_MORNING = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


@contextmanager
def the_day_after_sunday() -> Iterator[None]:
    """Run on MONDAY_MORNING (the clock stands still): numbers "as of today" are the Monday's."""
    with time_machine.travel(MONDAY_MORNING, tick=False):
        yield


def noon(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(hour=12, tzinfo=UTC)


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def small_computed_community():
    """Two sources, two areas, a few people (one staff) and their activities, counted: the run."""
    from activities.models import Source
    from metrics.engine import metrics_recompute

    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    support = AreaFactory(slug="support", name="Support", target=1500, position=1)
    coding = AreaFactory(slug="coding", name="Coding", position=2)
    ConversionPointFactory(slug="sumo-answer", area=support, source=sumo, types=["sumo.answer.posted"])
    ConversionPointFactory(slug="pr", area=coding, source=github, types=["github.pr.opened"], level="core")
    ann, ben = IdentityFactory(), IdentityFactory()
    staff = IdentityFactory(person=PersonFactory(staff_periods=True, display_name="Sam Staff"))
    ActivityFactory(source=sumo, type="sumo.answer.posted", identity=ann, occurred_at=noon(SUNDAY - timedelta(days=14)))
    ActivityFactory(source=github, type="github.pr.opened", identity=ann, occurred_at=noon(SUNDAY))
    ActivityFactory(source=github, type="github.pr.opened", identity=ben, occurred_at=noon(SUNDAY - timedelta(days=3)))
    ActivityFactory(source=sumo, type="sumo.answer.posted", identity=staff, occurred_at=noon(SUNDAY))
    return metrics_recompute()
