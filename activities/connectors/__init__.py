"""Connectors by source kind: one module per system. Adding a system = one module, its tests and a doc page.

A source whose kind has no connector (`events`, `manual`…) is fed only by imports and the
push API, and is never scheduled.
"""

from typing import TYPE_CHECKING

from .base import Connector, Page
from .bugzilla import BugzillaConnector
from .discourse import DiscourseConnector
from .git import GitConnector
from .github import GitHubConnector
from .http import HttpClient, NotFound, RateLimited, SourceError
from .pontoon import PontoonConnector
from .reps import RepsConnector
from .sumo import SumoConnector

if TYPE_CHECKING:
    from activities.models import Source

CONNECTORS: dict[str, type[Connector]] = {
    connector.kind: connector
    for connector in (
        GitHubConnector, BugzillaConnector, SumoConnector, DiscourseConnector, GitConnector, PontoonConnector, RepsConnector,
    )
}

__all__ = ["CONNECTORS", "Connector", "HttpClient", "NotFound", "Page", "RateLimited", "SourceError", "connector_for", "has_connector"]


def has_connector(kind: str) -> bool:
    return kind in CONNECTORS


def connector_for(source: "Source", *, client: HttpClient | None = None) -> Connector:
    """The connector that syncs `source`; KeyError when its kind has none."""
    return CONNECTORS[source.kind](source, client=client)
