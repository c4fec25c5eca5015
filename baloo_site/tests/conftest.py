"""Fixtures of the production tests (real processes: see processes.py)."""

from collections.abc import Iterator

import pytest

from .processes import STARTED


@pytest.fixture
def no_stray_workers() -> Iterator[None]:
    """Stops every worker a test started, even when the test failed half-way."""
    yield
    while STARTED:
        STARTED.pop().stop()
