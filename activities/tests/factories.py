import factory

from activities.models import Source


class SourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Source
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"source-{n}")
    kind = "manual"
    name = factory.LazyAttribute(lambda source: source.slug.title())
