"""A paginated listing (GitHub's REST listings, SUMO's) walked to its end, and stopped when the server pages in a circle.

`walk_listing` follows the "next" page each answer names. A server that names a page it served
already would keep a worker paging until the sync's lock runs out: the walk ends the sync with an
error naming the page, and the pages before stay read, their checkpoints given out as they were.
"""

from dataclasses import dataclass, field

import pytest

from activities.connectors.base import walk_listing
from activities.connectors.http import SourceError


@dataclass
class Answer:
    data: list
    following: str | None
    not_modified: bool = False
    etag: str = ""

    def link(self, name: str) -> str | None:
        return self.following if name == "next" else None


@dataclass
class Server:
    """Pages by URL: each answer holds one item and names the next page."""

    pages: dict[str, str | None]
    asked: list[str] = field(default_factory=list)

    def get(self, url: str, *, etag: str = "") -> Answer:
        self.asked.append(url)
        return Answer(data=[{"id": url, "updated": "2026-01-01T00:00:00Z"}], following=self.pages[url])


BASE = "https://api.example.org/items?since=2026-01-01"


def walk(server: Server, state: dict | None = None) -> list[tuple[list, dict]]:
    return list(walk_listing(server, state or {}, url=BASE, item_time=lambda item: item["updated"]))


def test_a_listing_is_walked_to_its_end():
    server = Server({BASE: f"{BASE}&page=2", f"{BASE}&page=2": f"{BASE}&page=3", f"{BASE}&page=3": None})
    pages = walk(server)
    assert [items[0]["id"] for items, _state in pages] == [BASE, f"{BASE}&page=2", f"{BASE}&page=3"]
    assert pages[-1][1]["next"] is None and pages[-1][1]["since"] == "2026-01-01T00:00:00Z"


def test_a_server_naming_a_page_it_served_stops_the_sync_naming_it():
    server = Server({BASE: f"{BASE}&page=2", f"{BASE}&page=2": BASE})
    given = []
    with pytest.raises(SourceError, match=r"the listing /items went round in a circle: the server named /items\?since=2026-01-01,"):
        for items, state in walk_listing(server, {}, url=BASE, item_time=lambda item: item["updated"]):
            given.append((items, state))
    assert len(server.asked) == 2 and len(given) == 1  # the first page was given out with its checkpoint
    assert given[0][1]["next"] == f"{BASE}&page=2"


def test_a_resumed_walk_catches_the_page_it_resumed_from():
    resumed = f"{BASE}&page=7"
    server = Server({resumed: f"{BASE}&page=8", f"{BASE}&page=8": resumed})
    with pytest.raises(SourceError, match="went round in a circle"):
        walk(server, {"next": resumed})
    assert server.asked == [resumed, f"{BASE}&page=8"]
