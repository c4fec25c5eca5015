import factory

from activities.models import Activity
from activities.tests.factories import SourceFactory
from contributors.models import Identity, Person

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

    display_name = factory.Sequence(lambda n: f"Person {n}")


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
