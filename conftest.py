"""Test-wide fixtures. The test environment itself (secret key, in-process tasks) is set in pytest.ini."""

import pytest

# The `browser` fixture (headless Debian Chromium) for every browser test.
pytest_plugins = ["dashboard.tests.chromium"]


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Production hashing costs about a second per user created (admin_client makes one per test).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The production static storage needs the manifest that only collectstatic writes.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Pages and API answers are cached per metric run; each test starts with nothing cached."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in English: a language left active by one test would leak into the next
    (translated fields are written in the active language)."""
    from django.utils import translation

    translation.activate("en")
    yield
    translation.deactivate()
