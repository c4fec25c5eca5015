"""Mozilla Reps: the activities Reps reported and the events they organized, from the ReMo portal's public API.

Reads any deployment of the ReMo code (mozilla/remo) with its public, read-only Django REST framework
API: `/api/remo/v1/` since September 2016, `/api/beta/` before (found by asking the first, then the
second; the one that answered is kept in the checkpoint). reps.mozilla.org itself is retired; its
history can also be imported (`import_activities`) in the same types.

What the API offers, and what that means here:
- Two listings, `activities/` (the Reps' reports, newest `report_date` first) and `events/` (newest
  `start` first with `orderby=DESC`; the beta API ignores that and lists events oldest first, so
  there they are read from the last page back). Twenty items a page, numbered (`?page=N`), in the
  `count/next/previous/results` shape. A listing item names only its detail URL (`_url`) and the
  activity's kind or the event's name, so each item not stored yet costs one request for its detail.
  A listing whose `next` names the same page twice, or that goes on past `LISTING_PAGES` pages, ends
  the sync where it is (`PageWalk`): a portal paging forever.
- No "changed since" filter (only exact matches: `report_date=2016-05-01`), no ETag, no time of
  creation or change: a sync reads each listing from its newest end down to the day the last
  complete walk started less `lookback_days` (default 30: Reps report past activities late), and
  the first sync reads everything (or down to the option `since`, a date). An activity reported
  later than that with an older date is found by "Start over", which never double counts.
- A Rep is named by the public profile (`display_name`, the `/u/<display_name>/` of the portal) as
  `username`, by the account's number in its `_url` (`…/users/<id>/`) as `uid`, and by first and
  last name as `name`. The API gives no e-mail, and none is guessed.

A planned event is no activity yet, nor a report dated ahead: both are held in the checkpoint
(`held`) and read again once their date has come (and once a day before, to notice one moved
earlier), then stored. Items of deleted accounts, without an author or a date are rejected with a
reason (`Rejected`), counted once.
"""

import copy
import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.utils import timezone

from activities.outbound import url_shown

from .base import DELETED_ACCOUNT, NO_AUTHOR, NO_TIME, Connector, Page, PageWalk, Rejected, iso, rejection_reason
from .http import HttpClient, NotFound, Response, SourceError

if TYPE_CHECKING:
    from activities.models import Source

# Newest API path first; the one that answers is kept in the checkpoint.
API_PATHS = ("api/remo/v1/", "api/beta/")
# Whether an API path lists events newest first when asked (`orderby=DESC`): the beta API ignores
# `orderby`, and its events keep the model's order, oldest `start` first.
EVENTS_NEWEST_FIRST = {"api/remo/v1/": True, "api/beta/": False}
# listing → (external id prefix, activity type)
LISTINGS = {"activities": ("activity", "reps.activity.reported"), "events": ("event", "reps.event.organized")}
DEFAULT_LOOKBACK_DAYS = 30
# Twenty items a page: 500,000 reports or events, far more than reps.mozilla.org ever held. A listing
# that goes on past this many pages, or names the same next page twice, is paging forever (`PageWalk`).
LISTING_PAGES = 25_000
# A held item (planned) is read again when its date has come, and at least this often before:
# an event moved to an earlier date is then stored within a day of it.
HELD_RECHECK = timedelta(days=1)
# ReMo answers 404 only for what was deleted (it hides nothing).
GONE = rejection_reason("not served (deleted)")
# What each record keeps of ReMo's object as its raw payload: ids, states, counts, times and the
# portal's own categories. Not the people it names (the mentor, the owner), nor what they wrote (the
# description, the link, the place): the actor is the record's own, and an erasure must not have to
# hunt for anyone in others' payloads.
ACTIVITY_KEPT = ("activity", "initiative", "report_date", "passive_report")
EVENT_KEPT = ("start", "end", "timezone", "initiative", "estimated_attendance")
# Options a `reps` source takes, with their type and bounds; the client's own tuning is common to all kinds.
OPTIONS: dict[str, tuple[type | tuple[type, ...], float, float]] = {
    "lookback_days": (int, 0, 3660),
    "max_retries": (int, 0, 10),
    "backoff_seconds": ((int, float), 0, 600),
    "max_wait_seconds": ((int, float), 0, 3600),
}
_ID_AT_END = re.compile(r"/(\d+)/?$")
_PLAIN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def options_problem(options: Any) -> str | None:
    """What is wrong with a `reps` source's options, in a sentence naming the option; None when nothing."""
    if options in (None, {}):
        return None
    if not isinstance(options, dict):
        return "the options of a reps source must be a JSON object"
    for name, value in options.items():
        if name == "since":
            if not isinstance(value, str) or not _PLAIN_DATE.match(value) or _date(value) is None:
                return "option `since` must be a date written YYYY-MM-DD"
            continue
        if name not in OPTIONS:
            known = ", ".join(sorted([*OPTIONS, "since"]))
            return f"unknown option `{str(name)[:40]}` for a reps source (it takes {known})"
        kind, low, high = OPTIONS[name]
        if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
            return f"option `{name}` must be a number from {low:g} to {high:g}" + (" (whole)" if kind is int else "")
    return None


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def item_id(url: Any) -> str | None:
    """The number at the end of a ReMo API URL (`…/activities/123/` → "123"), None when it names none."""
    if not isinstance(url, str):
        return None
    match = _ID_AT_END.search(urlsplit(url).path)
    return match.group(1) if match else None


def moment(value: Any) -> datetime | None:
    """A ReMo date ("2016-05-01", a report's day: midnight UTC) or time ("2016-05-01T10:00:00Z") as
    an aware datetime; None when missing or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def actor(user: dict) -> dict:
    """The Rep a `user`/`owner` object names: `display_name` (their public profile), the account's id
    from its `_url`, and their name. Empty when it names no account."""
    keys: dict[str, str] = {}
    if isinstance(user.get("display_name"), str) and user["display_name"].strip():
        keys["username"] = user["display_name"].strip()
    if uid := item_id(user.get("_url")):
        keys["uid"] = uid
    if not keys:
        return {}
    name = " ".join(part.strip() for part in (user.get("first_name"), user.get("last_name")) if isinstance(part, str))
    return {**keys, "name": name.strip()} if name.strip() else keys


def names(items: Any) -> list[str]:
    """The names in a list of `{"name": …}` (functional areas, categories), in the order given."""
    if not isinstance(items, list):
        return []
    return [item["name"].strip() for item in items if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip()]


def container(initiative: Any, areas: list[str]) -> str:
    """The initiative when there is one, else the first functional area by name, else "" (none)."""
    if isinstance(initiative, str) and initiative.strip():
        return initiative.strip()
    return min(areas) if areas else ""


def web_url(value: Any) -> str:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else ""


class RepsConnector(Connector):
    kind = "reps"

    def __init__(self, source: "Source", *, client: HttpClient | None = None) -> None:
        # Before the client is built: it reads the tuning options too.
        problem = options_problem(source.options)
        if problem:
            raise SourceError(problem)
        super().__init__(source, client=client)
        # Items read in this run, with their date: a page read twice (the listing moved) costs no more requests.
        self.seen: dict[str, datetime | None] = {}

    def default_base_url(self) -> str:
        return "https://reps.mozilla.org"

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        state = copy.deepcopy(checkpoint)
        state.setdefault("held", {})
        self.seen = {}
        if state.get("api") not in API_PATHS:
            state["api"] = self._find_api()
        for listing in LISTINGS:
            yield from self._walk(state, listing)
        # After the listings: an API that moved has failed the run by now, before a held item is taken for deleted.
        yield from self._held_due(state)

    def _find_api(self) -> str:
        for path in API_PATHS:
            try:
                self.client.get(f"{path}activities/", params={"page": 1})
            except NotFound:
                continue
            return path
        raise SourceError(f"no ReMo API here: neither /{API_PATHS[0]} nor /{API_PATHS[1]} answered (HTTP 404)")

    def _newest_first(self, state: dict, listing: str) -> bool:
        return listing == "activities" or EVENTS_NEWEST_FIRST[state["api"]]

    def _walk(self, state: dict, listing: str) -> Iterator[Page]:
        """Read `listing` from its newest end down to its bound, a page at a time; resumable at any page."""
        progress = state.setdefault(listing, {})
        walk = progress.get("walk")
        newest_first = self._newest_first(state, listing)
        # Newest first, the page number is the pages read (a resumed walk counts those of earlier runs),
        # and the `next` that named the page to read is kept: a resumed walk knows it too. Read from the
        # last page back, the walk ends at page 1, and its start is checked instead.
        resumed = walk is not None and newest_first
        pages = PageWalk(f"The ReMo {listing} listing", limit=LISTING_PAGES, first=walk.get("named") if resumed else None,
                         read=walk["page"] if resumed else 1)
        if walk is None:
            walk = {"page": 1, "bound": self._bound(progress), "started": timezone.now().date().isoformat()}
            if not newest_first:
                walk["page"] = pages.expect(self._last_page(state, listing))
        bound = moment(walk["bound"])
        while True:
            records: list = []
            errors: list[str] = []
            more = False
            try:
                data = self._listing_page(state, listing, walk["page"]).data
            except NotFound:
                # Past the end: items were deleted while the listing was read.
                if walk["page"] == 1:
                    raise
                if not newest_first:  # the unread pages are before this one
                    walk["page"] = min(walk["page"] - 1, self._last_page(state, listing))
                    continue
            else:
                records, errors, dates = self._items(state, listing, _results(data))
                more = bool(data.get("next")) if newest_first else walk["page"] > 1
                more = more and not (bound and dates and min(dates) < bound)
                if more and newest_first:
                    # The page is ours to number; the server's `next` only says there is one, and the same one twice says it goes round.
                    walk["named"] = pages.follow(str(data["next"]), shown=url_shown(str(data["next"])))
            if more:
                walk["page"] += 1 if newest_first else -1
                state[listing] = {**progress, "walk": walk}
            else:
                # Complete: the next walk reads down to the day this one started, less the lookback.
                state[listing] = {"since": walk["started"]}
            yield Page(records, copy.deepcopy(state), errors=errors)
            if not more:
                return

    def _bound(self, progress: dict) -> str | None:
        """The oldest day a walk reads: the start of the last complete one less the lookback, not before `since`."""
        bounds = []
        if progress.get("since") and (last := _date(progress["since"])):
            bounds.append(last - timedelta(days=self.options.get("lookback_days", DEFAULT_LOOKBACK_DAYS)))
        if self.options.get("since"):
            bounds.append(date.fromisoformat(self.options["since"]))
        return max(bounds).isoformat() if bounds else None

    def _listing_page(self, state: dict, listing: str, page: int) -> Response:
        params: dict[str, Any] = {"page": page}
        if listing == "events":
            params["orderby"] = "DESC"
        return self.client.get(f"{state['api']}{listing}/", params=params)

    def _last_page(self, state: dict, listing: str) -> int:
        data = self._listing_page(state, listing, 1).data
        results = _results(data)
        if not data.get("next"):
            return 1
        if isinstance(data.get("count"), bool) or not isinstance(data.get("count"), int) or not results:
            raise SourceError(f"expected the {listing} listing's first page to say its `count`")
        return max(1, math.ceil(data["count"] / len(results)))

    def _items(self, state: dict, listing: str, items: list) -> tuple[list, list[str], list[datetime]]:
        """Records (and rejections) for one page of a listing, the errors met, and the dates the page holds."""
        prefix, _type = LISTINGS[listing]
        records: list[dict | Rejected] = []
        errors: list[str] = []
        ids: list[str] = []
        for item in items:
            number = item_id(item.get("_url")) if isinstance(item, dict) else None
            if number is None:
                errors.append(f"an item of the {listing} listing names no detail URL (`_url`): skipped")
            else:
                ids.append(number)
        external_ids = [f"{prefix}:{number}" for number in ids]
        stored = stored_times(source=self.source, external_ids=external_ids)
        rejected = rejected_for_good(source=self.source, external_ids=external_ids)
        dates = list(stored.values())
        now = timezone.now()
        for number, external_id in zip(ids, external_ids, strict=True):
            held = state["held"].get(external_id)
            if isinstance(held, dict) and (until := moment(held.get("until"))) and until > now:
                dates.extend(at for at in [moment(held.get("at"))] if at)
                continue
            if external_id in stored or external_id in rejected:
                continue
            if external_id in self.seen:
                dates.extend(at for at in [self.seen[external_id]] if at)
                continue
            result, at = self._read(state, listing, number)
            records.extend(result)
            if at:
                dates.append(at)
        return records, errors, dates

    def _held_due(self, state: dict) -> Iterator[Page]:
        """Read again, one by one, the held items whose date (or daily re-read) has come."""
        now = timezone.now()
        due = [external_id for external_id, held in state["held"].items() if external_id not in self.seen
               and (not (until := moment(held.get("until") if isinstance(held, dict) else None)) or until <= now)]
        for start in range(0, len(due), 20):
            records: list[dict | Rejected] = []
            for external_id in due[start : start + 20]:
                prefix, _sep, number = external_id.partition(":")
                listing = next((name for name, (kind, _type) in LISTINGS.items() if kind == prefix), None)
                state["held"].pop(external_id, None)
                if listing and number.isdigit():
                    records.extend(self._read(state, listing, number)[0])
            yield Page(records, copy.deepcopy(state))

    def _read(self, state: dict, listing: str, number: str) -> tuple[list[dict | Rejected], datetime | None]:
        """One item's detail as a record, a rejection or a hold (nothing yet); with its date when it has one."""
        prefix, _type = LISTINGS[listing]
        external_id = f"{prefix}:{number}"
        self.seen[external_id] = None
        state["held"].pop(external_id, None)  # held again below if still ahead
        try:
            detail = self.client.get(f"{state['api']}{listing}/{number}/").data
        except NotFound:
            return [Rejected(external_id, GONE)], None
        if not isinstance(detail, dict):
            raise SourceError(f"expected {listing} item {number} as a JSON object")
        if listing == "activities":
            person, when, title = detail.get("user", ""), detail.get("report_date"), detail.get("activity")
            areas = names(detail.get("functional_areas"))
            kept = {"id": int(number), **_kept(detail, ACTIVITY_KEPT), "functional_areas": areas}
            if event := item_id((detail.get("event") or {}).get("_url") if isinstance(detail.get("event"), dict) else None):
                kept["event"] = int(event)
        else:
            person, when, title = detail.get("owner", ""), detail.get("start"), detail.get("name")
            areas = names(detail.get("categories"))
            kept = {"id": int(number), **_kept(detail, EVENT_KEPT), "categories": areas}
        if person is None:  # ReMo's way to say the account is gone; a field missing names no one ("")
            return [Rejected(external_id, DELETED_ACCOUNT)], None
        who = actor(person) if isinstance(person, dict) else {}
        if not who:
            return [Rejected(external_id, NO_AUTHOR)], None
        if when in (None, ""):
            return [Rejected(external_id, NO_TIME)], None
        at = self.seen[external_id] = moment(when)
        now = timezone.now()
        if at and at > now:
            state["held"][external_id] = {"at": iso(at), "until": iso(min(at, now + HELD_RECHECK))}
            return [], at
        since = self.options.get("since")
        if at and since and at.date() < date.fromisoformat(since):
            return [], at  # before the source's first day: not the source's
        return [self.record(
            external_id=external_id, type=_type,
            # A malformed date goes as it came: ingestion rejects it, with its reason, on every run.
            occurred_at=iso(at) if at else when, actor=who,
            container=container(detail.get("initiative"), areas), url=web_url(detail.get("remo_url")),
            title=title if isinstance(title, str) else "", data=kept,
        )], at


def _kept(item: dict, fields: tuple[str, ...]) -> dict:
    """The fields of `item` kept as raw payload, those that are plain values (a text, a number, true/false, null)."""
    return {field: item[field] for field in fields if field in item and (item[field] is None or isinstance(item[field], (str, int, float)))}


def _results(data: Any) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SourceError("expected a page object with a `results` list")
    return data["results"]


def stored_times(*, source: "Source", external_ids: list[str]) -> dict[str, datetime]:
    """When the activities already stored for `source` occurred, by external id (a read)."""
    from activities.models import Activity

    rows = Activity.objects.filter(source=source, external_id__in=external_ids).values_list("external_id", "occurred_at")
    return dict(rows)


def rejected_for_good(*, source: "Source", external_ids: list[str]) -> set[str]:
    """Those of `external_ids` that `source` rejected for a reason that never changes (a read)."""
    from activities.models import RejectedItem

    rows = RejectedItem.objects.filter(source=source, lasting=True, external_id__in=external_ids).values_list("external_id", flat=True)
    return set(rows)
