"""The push limit cannot be dodged: it keys on the token as the push API reads it (whatever the
header's spelling), and failed authentication counts against the client's address."""

import pytest
from django.core.cache import cache
from django.test import Client

from activities.models import Source
from activities.tokens import source_token_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/activities/"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # rate-limit counters of one test never reach the next
    yield
    cache.clear()


@pytest.fixture
def secret(settings) -> str:
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "push": "3/m"}
    source = Source.objects.create(slug="limited", kind="manual", name="Limited")
    return source_token_create(source=source, name="portal")[1]


def push(client: Client, authorization: str) -> int:
    return client.post(URL, "[]", content_type="application/json", HTTP_AUTHORIZATION=authorization).status_code


def test_a_token_has_one_allowance_however_its_header_is_spelled(secret):
    """Each spelling was a fresh bucket: `bearer`, `BEARER`, extra spaces."""
    spellings = [f"Bearer {secret}", f"bearer {secret}", f"BEARER   {secret}  ", f"  Token\t{secret}"]
    client = Client()
    assert [push(client, spelling) for spelling in spellings] == [200, 200, 200, 429]
    # From another address too: the allowance is the token's.
    assert push(Client(REMOTE_ADDR="10.0.0.9"), f"Bearer {secret}") == 429


def test_ever_changing_bad_tokens_are_limited_by_address(secret):
    """Each made-up token was a fresh bucket, so guessing was never limited."""
    guesser = Client(REMOTE_ADDR="10.0.0.7")
    statuses = [push(guesser, f"Bearer baloo_guess{n}") for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    assert [push(guesser, header) for header in ("", "Basic dXNlcjpwYXNz")] == [429, 429]
    # Another address, and the token's own holder elsewhere, are not refused for it.
    assert push(Client(REMOTE_ADDR="10.0.0.8"), "Bearer baloo_guess") == 401
    assert push(Client(REMOTE_ADDR="10.0.0.8"), f"Bearer {secret}") == 200


def test_successful_pushes_never_count_as_failures(secret, settings):
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "push": "2/m"}
    first, second = (source_token_create(source=Source.objects.get(), name=name)[1] for name in ("a", "b"))
    client = Client()
    assert [push(client, f"Bearer {first}") for _ in range(2)] + [push(client, f"Bearer {second}") for _ in range(2)] == [200] * 4


def test_no_secret_reaches_the_cache(secret, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rate-keys"}}
    from django.core.cache import caches

    push(Client(), f"Bearer {secret}")
    push(Client(), "Bearer baloo_not-a-real-token")
    counters = list(caches["default"]._cache.keys())
    # Each token's count and the address's failed authentications (django-ratelimit names each by a hash).
    assert len(counters) == 3
    keys = " ".join(counters)
    assert secret not in keys and "baloo_not-a-real-token" not in keys
