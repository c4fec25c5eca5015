"""A local stand-in for the ReMo portal's public API (mozilla/remo, Django REST framework 3.1).

It answers as the ReMo code does (remo/api/urls.py, remo/reports/api/, remo/events/api/,
remo/profiles/api/serializers.py, `REST_FRAMEWORK` in remo/settings.py):
- `GET <api>activities/` and `<api>events/`: page-number pagination, 20 a page, `?page=N`, in the
  `{"count", "next", "previous", "results"}` shape; an item is `{"activity": kind, "_url": detail}`
  or `{"name": event name, "_url": detail}`; a page past the end is 404 `{"detail": "Invalid page…"}`.
- Reports are listed newest `report_date` first (the model's `-report_date, -created_on`), or
  oldest first with `orderby=ASC`; events newest `start` first with `orderby=DESC`, the default,
  else oldest first. `api_path="api/beta/"` is the API before September 2016: `orderby` ignored,
  events listed oldest `start` first.
- `GET <api>activities/<id>/`: `user` and `mentor` as `{first_name, last_name, display_name, _url}`,
  `activity`, `initiative`, `functional_areas` `[{"name"}]`, `activity_description`, `report_date`
  (`YYYY-MM-DD`), `location`, `longitude`, `latitude`, `link`, `link_description`, `passive_report`,
  `event` (`{name, _url}` or null), `remo_url`. `GET <api>events/<id>/`: `name`, `description`,
  `start`, `end`, `timezone`, `city`, `region`, `country`, `lat`, `lon`, `owner`, `external_link`,
  `initiative`, `categories`, `estimated_attendance`, `planning_pad_url`, `hashtag`, `remo_url`.
  An unknown id is 404 `{"detail": "Not found."}`. No ETag, no date filter, no rate-limit headers.
The data is the test's own; `tamper[(listing, id)]` changes one detail as a broken or older server would.
A broken or hostile portal's listings (`paging`): "circle" ignores `?page=` (page 1 every time, its
`next` page 2), "endless" names one more page after every page (the last page's items again).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .standin import Reply, StandIn

PAGE_SIZE = 20


@dataclass
class RemoUser:
    id: int
    display_name: str
    first_name: str = ""
    last_name: str = ""


@dataclass
class RemoReport:
    id: int
    user: RemoUser | None
    report_date: str
    created_on: str
    activity: str = "Participated in a campaign"
    initiative: str | None = None
    functional_areas: list[str] = field(default_factory=list)
    mentor: RemoUser | None = None
    passive: bool = False
    event: int | None = None
    description: str = "I helped at the booth and answered questions."
    location: str = "Berlin, Berlin, Germany"


@dataclass
class RemoEvent:
    id: int
    owner: RemoUser | None
    start: str
    end: str
    name: str = "Firefox launch party"
    initiative: str | None = None
    categories: list[str] = field(default_factory=list)
    timezone: str = "Europe/Berlin"
    estimated_attendance: int = 40
    description: str = "An evening of demos and talks for the local community."


class FakeRemo(StandIn):
    """The ReMo portal's API under `api_path` (`api/remo/v1/`, or `api/beta/` for the older one)."""

    def __init__(self, *, api_path: str = "api/remo/v1/") -> None:
        super().__init__()
        self.api_path = api_path
        self.reports: list[RemoReport] = []
        self.events: list[RemoEvent] = []
        self.tamper: dict[tuple[str, int], Callable[[dict], Any]] = {}
        # Every request, with its query: which pages and details a sync asked for.
        self.asked: list[tuple[str, dict[str, str]]] = []
        # Where links in answers point: this server unless a test says otherwise (a hostile server).
        self.link_base = ""
        self.paging: str | None = None

    def details_asked(self, listing: str) -> list[int]:
        prefix = f"/{self.api_path}{listing}/"
        return [int(path[len(prefix):].strip("/")) for path, _query in self.asked
                if path.startswith(prefix) and path[len(prefix):].strip("/").isdigit()]

    def pages_asked(self, listing: str) -> list[int]:
        return [int(query.get("page", "1")) for path, query in self.asked if path == f"/{self.api_path}{listing}/"]

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        flat = {name: values[-1] for name, values in query.items()}
        self.asked.append((path, flat))
        prefix = f"/{self.api_path}"
        if not path.startswith(prefix):
            return Reply(404, b'{"detail": "Not found."}')
        parts = path[len(prefix):].strip("/").split("/")
        if parts[0] not in ("activities", "events") or len(parts) > 2:
            return Reply(404, b'{"detail": "Not found."}')
        listing = parts[0]
        if len(parts) == 2:
            found = [item for item in (self.reports if listing == "activities" else self.events) if str(item.id) == parts[1]]
            if not found:
                return Reply(404, b'{"detail": "Not found."}')
            detail = self._report(found[0]) if listing == "activities" else self._event(found[0])
            if (listing, found[0].id) in self.tamper:
                detail = self.tamper[(listing, found[0].id)](detail)
            return self.json(detail, headers)
        return self._listing(path, listing, flat, headers)

    def _listing(self, path: str, listing: str, query: dict[str, str], headers: dict) -> Reply:
        beta = self.api_path == "api/beta/"
        orderby = query.get("orderby", "DESC")
        if listing == "activities":
            items = sorted(self.reports, key=lambda r: (r.report_date, r.created_on), reverse=True)
            if orderby == "ASC" and not beta:
                items = sorted(self.reports, key=lambda r: r.report_date)
            results = [{"activity": report.activity, "_url": self.url_of("activities", report.id)} for report in items]
        else:
            newest_first = orderby == "DESC" and not beta
            items = sorted(self.events, key=lambda e: e.start, reverse=newest_first)
            results = [{"name": event.name, "_url": self.url_of("events", event.id)} for event in items]
        try:
            page = int(query.get("page", "1"))
        except ValueError:
            page = 0
        last = max(1, -(-len(results) // PAGE_SIZE))
        following = page + 1
        if self.paging == "circle":
            page, following = 1, 2  # `?page=` ignored
        elif self.paging == "endless":
            page = min(page, last)  # past the end: the last page's items again, and one more page named
        if not 1 <= page <= last:
            return Reply(404, b'{"detail": "Invalid page \\"%d\\": That page contains no results."}' % page)

        def link(number: int) -> str | None:
            if not 1 <= number <= last and not (self.paging and number == following):
                return None
            params = dict(query)
            if number == 1:
                params.pop("page", None)  # as DRF writes the first page's link
            else:
                params["page"] = str(number)
            return f"{self.link_base or self.base_url}{path}" + (f"?{urlencode(params)}" if params else "")

        chunk = results[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return self.json({"count": len(results), "next": link(following), "previous": link(page - 1), "results": chunk}, headers)

    def url_of(self, listing: str, item: int) -> str:
        return f"{self.link_base or self.base_url}/{self.api_path}{listing}/{item}/"

    def _user(self, user: RemoUser | None) -> dict | None:
        if user is None:
            return None
        return {"first_name": user.first_name, "last_name": user.last_name, "display_name": user.display_name,
                "_url": self.url_of("users", user.id)}

    def _report(self, report: RemoReport) -> dict:
        event = next((e for e in self.events if e.id == report.event), None)
        name = report.user.display_name if report.user else "deleted"
        year, month, day = report.report_date.split("-")
        return {
            "user": self._user(report.user), "activity": report.activity, "initiative": report.initiative,
            "functional_areas": [{"name": area} for area in report.functional_areas],
            "activity_description": report.description, "report_date": report.report_date, "mentor": self._user(report.mentor),
            "location": report.location, "longitude": 13.4, "latitude": 52.52, "link": "https://blog.example.org/my-report",
            "link_description": "My write-up", "passive_report": report.passive,
            "event": {"name": event.name, "_url": self.url_of("events", event.id)} if event else None,
            "remo_url": f"https://reps.example.org/u/{name}/r/{year}/{month}/{day}/{report.id}/",
        }

    def _event(self, event: RemoEvent) -> dict:
        return {
            "name": event.name, "description": event.description, "start": event.start, "end": event.end,
            "timezone": event.timezone, "city": "Berlin", "region": "Berlin", "country": "Germany", "lat": 52.52, "lon": 13.4,
            "owner": self._user(event.owner), "external_link": None, "initiative": event.initiative,
            "categories": [{"name": area} for area in event.categories], "estimated_attendance": event.estimated_attendance,
            "planning_pad_url": "https://pad.example.org/launch", "hashtag": "#fxlaunch",
            "remo_url": f"https://reps.example.org/e/event-{event.id}/",
        }
