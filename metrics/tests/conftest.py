"""Fixtures shared by the "as of today" tests (test_as_of_today.py, test_as_of_stored.py)."""

from datetime import datetime

import pytest
from django.core.cache import cache

from activities.models import Source
from conversion_points.tests.factories import ActivityFactory, AreaFactory, ConversionPointFactory, IdentityFactory


@pytest.fixture
def plain_http(settings):
    """The test client speaks plain HTTP; nothing cached before or after."""
    settings.SECURE_SSL_REDIRECT = False
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db):
    """One area, one source, one rule; add contributions with `contribute`."""
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    area = AreaFactory(slug="support", name="Support")
    ConversionPointFactory(slug="answer", area=area, source=source, types=["sumo.answer.posted"])

    def contribute(when: datetime, identity=None):
        return ActivityFactory(
            source=source, type="sumo.answer.posted", identity=identity or IdentityFactory(), occurred_at=when
        )

    return contribute
