"""Fixtures of the browser tests: headless Chromium from Debian, and Baloo on a live server."""

import os

import pytest
from django.core.cache import cache
from django.core.management import call_command
from pytest_django.live_server_helper import LiveServer

from metrics.engine import metrics_recompute


@pytest.fixture
def demo_site(transactional_db, settings, monkeypatch):
    """The seeded demo on a live server of its own: plain HTTP (the shared live_server keeps the
    HTTPS redirect its middleware was built with, and a browser cannot follow it to a plain server)."""
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["localhost"]
    # Playwright's sync API runs an event loop in this thread; the database is used before and after it only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cache.clear()
    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", people=60, stdout=quiet)
    metrics_recompute()
    server = LiveServer("localhost")
    yield server.url
    server.stop()
    cache.clear()


@pytest.fixture
def plain_site(transactional_db, settings, monkeypatch):
    """Baloo on a live server with no data: pages that need none."""
    settings.SECURE_SSL_REDIRECT = False
    settings.ALLOWED_HOSTS = ["localhost"]
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    server = LiveServer("localhost")
    yield server.url
    server.stop()


