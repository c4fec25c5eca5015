"""The connector interface: a system's public API in, pages of activity records (common schema) out.

A connector never writes to the database. It yields `Page`s; the sync service commits each page's
records through the ingestion service and then stores the page's checkpoint, so the checkpoint
always describes committed work. A connector resumes from any checkpoint it ever produced.
"""

import copy
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import urlencode, urlsplit

from django.db.models import F
from django.utils import timezone

from activities.records import EARLIEST, FUTURE_TOLERANCE
from activities.validators import token_env_names, token_env_problem

from .http import HttpClient, SourceError

if TYPE_CHECKING:
    from activities.models import Source


@dataclass(frozen=True, slots=True)
class Rejected:
    """An item the connector read and turns into no activity, and why, in a few plain words.

    The sync service counts each item as rejected on the run that first meets it, and never again
    (`RejectedItem`), so a checkpoint moves past it like past any stored item. `lasting` says
    whether the reason can change: a deleted account never comes back ("deleted account", true);
    a spam flag is reverted, a hidden question is shown again, a bug fixed by nobody is reassigned
    (false). An item rejected for a reason that may change must be read again by later syncs (its
    listing brings it back when it changes, or the connector asks for it again: `rejections_to_recheck`)
    and is stored the day the system serves it properly. A record that is malformed is not
    `Rejected` by the connector: it goes to the ingestion service, which rejects it, with its
    reason, on every run that reads it.
    """

    external_id: str
    reason: str
    lasting: bool = True


# Every reason a connector gives, one fixed wording each, so the run records, the docs and the public
# data-quality page say the same. Only reasons listed here are published (`rejection_reason_published`):
# a reason is never remote text, but a connector that builds one from what a system said would
# otherwise put that text on a public page.
REJECTION_REASONS: set[str] = set()


def rejection_reason(wording: str) -> str:
    """Declare a fixed reason a connector gives for a rejected item (`Rejected.reason`); returns it."""
    REJECTION_REASONS.add(wording)
    return wording


DELETED_ACCOUNT = rejection_reason("deleted account")
NO_AUTHOR = rejection_reason("no author named")
NO_TIME = rejection_reason("no time given")
# A record the ingestion service refused (it fails the record checks of CONTRACTS §1): its reason
# names the field and may quote the value, so runs count it under this one wording.
MALFORMED = rejection_reason("malformed record")
# A reason no connector declared with `rejection_reason`.
OTHER_REASON = rejection_reason("other reason")


def rejection_reason_published(reason: str) -> str:
    """`reason` when it is a declared wording, else "other reason": what may be shown to anyone."""
    return reason if reason in REJECTION_REASONS else OTHER_REASON


@dataclass
class Page:
    """Records to commit, then the checkpoint that is true once they are committed.

    `records` may hold `Rejected` items among the activity records: they are moved to `rejected`.
    `errors` are problems that did not stop the sync (a deleted repository among several); they
    end up on the run record.

    `source_total` is what the system itself says it holds, when its API says it: how many items of
    each kind the whole of what this source syncs holds now (not the part this sync read), e.g.
    `{"bug": 5120}` from Bugzilla, `{"question": 830}` from Kitsune's `count`, `{"commit": 412}`
    from a git history. A kind is named as the external ids of its records begin (`bug` for
    `bug:123`), so the sync service can set the activities and rejected items stored for it beside
    the total (`SyncState.source_totals`). Items, not activities: a bug is filed once and commented
    on many times.
    """

    records: list[dict]
    checkpoint: dict
    errors: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    source_total: dict[str, int] | None = None

    def __post_init__(self) -> None:
        records, rejected = split_rejected(self.records)
        self.records = records
        self.rejected = [*self.rejected, *rejected]


def split_rejected(items: Iterable[dict | Rejected]) -> tuple[list[dict], list[Rejected]]:
    """Activity records apart from the items a connector rejected."""
    records: list[dict] = []
    rejected: list[Rejected] = []
    for item in items:
        (rejected if isinstance(item, Rejected) else records).append(item)
    return records, rejected


class Connector:
    """Turns one source's API into activity records. Subclasses set `kind` and write `pages`."""

    kind: ClassVar[str]
    # How the API wants its token: a header per token.
    auth_header: ClassVar[Callable[[str], dict[str, str]]] = staticmethod(lambda token: {"Authorization": f"Bearer {token}"})

    def __init__(self, source: "Source", *, client: HttpClient | None = None) -> None:
        self.source = source
        self.options: dict[str, Any] = source.options or {}
        self.client = client or self.make_client()

    def make_client(self) -> HttpClient:
        options = self.options
        return HttpClient(
            base_url=self.source.base_url or self.default_base_url(),
            tokens=tokens_from_env(self.source.token_env),
            auth_headers=self.auth_header,
            max_retries=int(options.get("max_retries", 4)),
            backoff=float(options.get("backoff_seconds", 1.0)),
            max_wait=float(options.get("max_wait_seconds", 5.0)),
        )

    def default_base_url(self) -> str:
        raise SourceError(f"source {self.source.slug!r} has no base URL")

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        """Yield pages of records from `checkpoint` on (an empty dict: from the beginning)."""
        raise NotImplementedError

    def record(self, **fields: Any) -> dict:
        """An activity record of this source, in the common schema."""
        return {"source": self.source.slug, **fields}


def tokens_from_env(token_env: str) -> list[str]:
    """The token pool: `token_env` names one or more variables (comma-separated), each holding one or more tokens.

    Only variables named `BALOO_TOKEN_…` are ever read, whatever the database holds (a row written
    before the rule, or behind the admin's back): another name ends the sync with the reason.
    """
    problem = token_env_problem(token_env)
    if problem:
        raise SourceError(problem)
    tokens: list[str] = []
    for name in token_env_names(token_env):
        tokens.extend(token.strip() for token in os.environ.get(name, "").split(",") if token.strip())
    return tokens


def with_query(url: str, params: dict[str, Any]) -> str:
    """`url` with `params` (None values dropped), so a listing's first URL is the same string every time."""
    query = urlencode([(key, value) for key, value in params.items() if value is not None], doseq=True)
    return f"{url}{'&' if '?' in url else '?'}{query}" if query else url


def parse_time(value: str | None) -> datetime | None:
    """An API timestamp as an aware UTC datetime ("2024-05-01T12:03:00Z", "2024-05-01 12:03:00");
    None when missing, or outside the moments a record may name (1970 to a day ahead): a record
    naming it is rejected for it, and a checkpoint never moves there."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not EARLIEST <= moment <= timezone.now() + FUTURE_TOLERANCE:
        return None
    return moment.astimezone(UTC)


# How often a connector asks a system for its own totals (`Page.source_total`): once a day is
# plenty for a figure that moves slowly, and costs a request or two.
TOTALS_EVERY = timedelta(hours=24)


def totals_due(checkpoint: dict) -> bool:
    """Whether the system's totals are due again: never asked, or asked `TOTALS_EVERY` ago (the time
    is kept in the checkpoint, `totals_at`, so a killed worker asks again)."""
    asked = parse_time(checkpoint.get("totals_at"))
    return asked is None or timezone.now() - asked >= TOTALS_EVERY


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def later(first: str | None, second: str | None) -> str | None:
    """The later of two API timestamps; one missing or out of range (see `parse_time`) is ignored."""
    times = [(moment, text) for text in (first, second) if (moment := parse_time(text)) is not None]
    return max(times)[1] if times else None


# Pages of one walk of a listing (GitHub's REST listings, SUMO's): far above any real one, so only a
# server naming a page it served already, or paging without end, is stopped by `PageWalk`.
LISTING_PAGE_LIMIT = 1_000_000


def _page_shown(url: str | None) -> str:
    parts = urlsplit(url or "")
    return parts.path + (f"?{parts.query}" if parts.query else "")


def walk_listing(
    client: HttpClient,
    state: dict,
    *,
    url: str,
    item_time: Callable[[dict], str | None],
    next_url: Callable[[Any], str | None] | None = None,
    items_of: Callable[[Any], list] | None = None,
    lookback: timedelta = timedelta(0),
) -> Iterator[tuple[list, dict]]:
    """Walk a paginated listing from its checkpoint `state`; yield (items, state once they are committed).

    `state` holds `since` (the listing's incremental start, the latest item time of the last
    complete walk), `next` (the page to resume from after an interrupted walk), `max_seen`, and the
    ETag of the first page with the URL it belongs to. An unchanged listing costs one conditional
    request answered 304. The caller builds `url` from `since`.
    """
    next_url = next_url or (lambda response: response.link("next"))
    items_of = items_of or _list_items
    resuming = bool(state.get("next"))
    page_url = state["next"] if resuming else url
    walk = PageWalk(f"the listing {urlsplit(url).path}", limit=LISTING_PAGE_LIMIT, first=page_url)
    etag = "" if resuming or state.get("etag_url") != url else state.get("etag", "")
    state = copy.deepcopy(state)
    while page_url:
        response = client.get(page_url, etag=etag)
        etag = ""
        if response.not_modified:
            return
        items = items_of(response.data)
        if not resuming and page_url == url:
            state["etag"], state["etag_url"] = response.etag, url
        for item in items:
            state["max_seen"] = later(state.get("max_seen"), item_time(item))
        following = next_url(response)
        page_url = walk.follow(following, shown=_page_shown(following))
        state["next"] = page_url
        if page_url is None and (seen := parse_time(state.pop("max_seen", None))):
            state["since"] = iso(seen - lookback)
        yield items, copy.deepcopy(state)


PageName = TypeVar("PageName", str, int)


class PageWalk:
    """The pages of one listing a connector follows ("next" links, cursors, page numbers), checked.

    A broken or hostile server can name a page it already served as the next one, or never stop
    naming another: either would keep a worker paging until the sync's lock runs out. `follow`
    ends the sync there with a `SourceError` that names the listing and the problem. Nothing is
    lost: the pages before were committed with their checkpoint, and the next sync stops at the
    same place (it does not go further) until the server serves a listing that ends.

    `first` is the page the walk starts from (so a server naming it again is caught); `read`, the
    pages already read when a walk resumes from its checkpoint; `limit`, more pages than any real
    listing of this kind has.
    """

    def __init__(self, listing: str, *, limit: int, first: str | int | None = None, read: int = 1) -> None:
        self.listing = listing
        self.limit = limit
        self.read = read
        self.served: set[str | int] = set() if first is None else {first}

    def follow(self, page: PageName | None, *, shown: str) -> PageName | None:
        """`page` (the next page the server named, or the next number), or None at the end of the listing;
        a `SourceError` when it is a page this walk read already, or one past `limit`. `shown` names it in the error."""
        if page is None:
            return None
        if page in self.served:
            raise SourceError(f"{self.listing} went round in a circle: the server named {shown}, a page it had already "
                              "served, as the next one; such a listing never ends, so the sync stopped there")
        if self.read >= self.limit:
            raise SourceError(f"{self.listing} went on past {self.limit:,} pages, more than any real one has; "
                              "the sync stopped there")
        self.served.add(page)
        self.read += 1
        return page

    def expect(self, pages: int) -> int:
        """`pages`, what a listing says it holds up front (a walk read from its last page back); a
        `SourceError` when that is past `limit`."""
        if pages > self.limit:
            raise SourceError(f"{self.listing} says it has {pages:,} pages, more than any real one has; the sync stopped there")
        return pages


def stored_containers(*, source: "Source", external_ids: list[str]) -> dict[str, str]:
    """The containers of activities already stored for `source`, by external id (a read, for lookups)."""
    from activities.models import Activity

    rows = Activity.objects.filter(source=source, external_id__in=external_ids).values_list("external_id", "container")
    return dict(rows)


# Items rejected for a reason that may change that a connector reads again on one sync, those read
# again longest ago first: every one is read again in turn, however many there are, at a bounded cost.
RECHECKS_PER_SYNC = 100


def rejections_to_recheck(*, source: "Source", prefix: str, limit: int = RECHECKS_PER_SYNC) -> list[str]:
    """External ids (starting with `prefix`) of `source`'s items rejected for a reason that may change, to read again.

    Those never read again first, then those read again longest ago (a read, like `stored_containers`).
    """
    from activities.models import RejectedItem

    rows = (RejectedItem.objects.filter(source=source, lasting=False, external_id__startswith=prefix)
            .order_by(F("checked_at").asc(nulls_first=True), "rejected_at", "id").values_list("external_id", flat=True))
    return list(rows[:limit])


def _list_items(data: Any) -> list:
    if not isinstance(data, list):
        raise SourceError(f"expected a JSON list of items, got {type(data).__name__}")
    return data
