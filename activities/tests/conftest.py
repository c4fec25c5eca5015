"""Fixtures shared by the connector tests."""

import pytest

from .standin import Server


@pytest.fixture
def server(api):
    """The test module's `api` stand-in, served; yields its URL."""
    with Server(api) as url:
        yield url
