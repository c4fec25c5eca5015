"""Test-wide fixtures. The test environment itself (secret key, in-process tasks) is set in pytest.ini."""

import pytest


@pytest.fixture(autouse=True)
def _test_settings(settings):
    # Production hashing costs about a second per user created (admin_client makes one per test).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The production static storage needs the manifest that only collectstatic writes.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
