"""Pontoon, Mozilla's localization platform (REST API v2): translations submitted, approved and rejected.

Options: `{"projects": ["firefox"], "locales": ["de", "fr"], "since": "2024-01-01"}`, all optional:
`projects` defaults to every project Pontoon's `/api/v2/projects/` lists (public, enabled, not
Pontoon's own system projects); `locales` keeps only those locales' actions; `since` is the first
day a project is read from when the checkpoint has no day for it yet (default: 365 days before
that sync, the window the active count looks at). The container is `<project>::<locale>`, e.g.
`firefox::de`.

Without `projects`, the project listing is read whole first; a listing that names a page it served
already as the next one, or goes on past `PROJECT_PAGES` pages, ends the sync before any day is read
(`PageWalk`).

What is read: `GET /api/v2/user-actions/<YYYY-MM-DD>/project/<slug>/`, one request per project
and day, answered in one piece (no pagination, no ETag, no "since"), and only to a signed-in
account: the source needs a personal access token (`Authorization: Bearer`). Pontoon days are
UTC days (its TIME_ZONE setting, UTC by default). The checkpoint holds, per project, the last
day that was over when it was read; each sync reads from that day again up to today, so a day
read while still going on, or an action committed a moment after midnight, is read again, and
reading it twice stores nothing twice.
A day Pontoon answers HTTP 500 (it does for a day holding an action whose account was deleted
outright) is kept in the checkpoint's `unanswered` and asked again, one a project per sync, while
the following days are read.

Actions have no id of their own: an action is its translation, its type and its time, so the
external id is `<submitted|approved|rejected>:<translation pk>:<time in UTC, to the microsecond>`.

The actor is Pontoon's account: `uid` = `user.pk`, `name` = `user.name` (Pontoon's display name).
The API gives no user name and no e-mail. `user.system_user` (Pontoon's sync, translation memory
and machine translation accounts, which import translations from repositories and pretranslate)
marks the actor `bot: true`: the activity is kept and never counts.
"""

import copy
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.utils import timezone

from activities.outbound import url_shown

from .base import (
    DELETED_ACCOUNT,
    NO_TIME,
    Connector,
    Page,
    PageWalk,
    Rejected,
    parse_time,
    rejection_reason,
    with_query,
)
from .http import HttpClient, NotFound, ServerError, SourceError

if TYPE_CHECKING:
    from activities.models import Source

# Pontoon's action types that are activities, and the word each external id starts with.
TYPES = {
    "translation:created": ("pontoon.translation.submitted", "submitted"),
    "translation:approved": ("pontoon.translation.approved", "approved"),
    "translation:rejected": ("pontoon.translation.rejected", "rejected"),
}
# How far back a project is read when `since` does not say: the days an active contributor is counted over.
DEFAULT_DAYS = 365
# Pontoon did not exist before: an earlier `since` is a typing mistake that would cost a request a day.
EARLIEST_SINCE = date(2010, 1, 1)
# As Pontoon's URLs write them: a project slug, a locale code.
SLUG = re.compile(r"[-a-zA-Z0-9_]+")
LOCALE_CODE = re.compile(r"[A-Za-z0-9@.-]+")
KNOWN_OPTIONS = ("projects", "locales", "since", "max_retries", "backoff_seconds", "max_wait_seconds")
# Pontoon keeps the actions of a deleted account under a new, disabled account of this name.
DELETED_USER_NAME = "Deleted User"
NO_ACCOUNT_ID = rejection_reason("account without an id")
NO_TRANSLATION = rejection_reason("no translation named")
NO_LOCALE = rejection_reason("no locale named")
PROJECT_PAGE_SIZE = 1000
# pontoon.mozilla.org lists under 200 projects, one page: a listing that goes on past this many is
# a server paging forever (`PageWalk`).
PROJECT_PAGES = 100
# Days in a row that Pontoon answers HTTP 500 after which a run stops: one such day is a day Pontoon
# cannot serve (it is asked again later), several in a row a server that serves nothing now.
SERVER_ERRORS_IN_A_ROW = 3


def pontoon_options(options: Any) -> dict[str, Any]:
    """The source's options, checked: a name Pontoon sources do not know, or a value of the wrong
    kind, is a `SourceError` naming the option, before any request is made."""
    if not isinstance(options, dict):
        raise SourceError("the options of a pontoon source must be a JSON object")
    unknown = sorted(str(name) for name in options if name not in KNOWN_OPTIONS)
    if unknown:
        raise SourceError(f"unknown option {', '.join(unknown)} for a pontoon source (it knows {', '.join(KNOWN_OPTIONS)})")
    for name in ("max_retries", "backoff_seconds", "max_wait_seconds"):
        value = options.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
            raise SourceError(f"option {name} must be a number, 0 or more")
    return {
        "projects": _names(options, "projects", SLUG, 'project slugs such as "firefox"'),
        "locales": _names(options, "locales", LOCALE_CODE, 'locale codes such as "de"'),
        "since": _since(options.get("since")),
    }


def _names(options: dict, name: str, pattern: re.Pattern, what: str) -> list[str]:
    values = options.get(name)
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(value, str) and pattern.fullmatch(value) for value in values):
        raise SourceError(f"option {name} must be a list of {what}")
    return list(dict.fromkeys(values))


def _since(value: Any) -> date | None:
    if value is None:
        return None
    try:
        day = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise SourceError('option since must be a date written YYYY-MM-DD, e.g. "2024-01-01"')
    if not EARLIEST_SINCE <= day <= timezone.now().astimezone(UTC).date():
        raise SourceError(f"option since must be a day between {EARLIEST_SINCE} and today")
    return day


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _moment(value: Any) -> datetime | None:
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _pk(value: Any) -> int | None:
    """An object's `pk`, when it has one that is an integer."""
    pk = value.get("pk") if isinstance(value, dict) else None
    return pk if isinstance(pk, int) and not isinstance(pk, bool) else None


class PontoonConnector(Connector):
    kind = "pontoon"

    def __init__(self, source: "Source", *, client: HttpClient | None = None) -> None:
        # Checked first: the HTTP client reads the retry options too.
        self.settings = pontoon_options(source.options if source.options is not None else {})
        self._failures_in_a_row = 0
        super().__init__(source, client=client)

    def default_base_url(self) -> str:
        return "https://pontoon.mozilla.org"

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        if not self.client.pool.tokens:
            raise SourceError("Pontoon serves user actions only to a signed-in account: create a personal access token "
                              "in Pontoon's settings, put it in a BALOO_TOKEN_… variable and name that in token_env")
        state = copy.deepcopy(checkpoint)
        for key in ("projects", "unanswered"):
            if not isinstance(state.get(key), dict):
                state[key] = {}
        days, unanswered = state["projects"], state["unanswered"]
        today = timezone.now().astimezone(UTC).date()
        since = self.settings["since"] or today - timedelta(days=DEFAULT_DAYS)
        self._failures_in_a_row = 0
        errors: list[str] = []
        for slug in self._projects(errors):
            try:
                missed = [text for text in unanswered.get(slug, []) if _day(text)]
                if missed:
                    # One day Pontoon could not answer before, asked again; it goes last if it fails again.
                    records = self._day(slug, _day(missed[0]), errors)
                    unanswered[slug] = missed[1:] + ([missed[0]] if records is None else [])
                    if not unanswered[slug]:
                        del unanswered[slug]
                    yield Page(records or [], copy.deepcopy(state), errors=errors)
                    errors = []
                day = _day(days.get(slug)) or since
                while day <= today:
                    records = self._day(slug, day, errors)
                    if records is None and day < today and day.isoformat() not in unanswered.get(slug, []):
                        unanswered.setdefault(slug, []).append(day.isoformat())
                    if day < today:
                        days[slug] = day.isoformat()
                    yield Page(records or [], copy.deepcopy(state), errors=errors)
                    errors = []
                    day += timedelta(days=1)
            except NotFound:
                errors.append(f"Pontoon has no project {slug!r} (renamed or removed?): its actions were not read")
        if errors:
            yield Page([], copy.deepcopy(state), errors=errors)

    def _day(self, slug: str, day: date, errors: list[str]) -> list[dict | Rejected] | None:
        """The records of one project's actions on one day; None when Pontoon answers HTTP 500 to it
        after every retry (noted in `errors`), which it does for a day holding an action whose account
        was deleted outright: the day is asked again on later syncs, and the others are read meanwhile.
        A server that answers nothing else, several days in a row, ends the run."""
        try:
            data = self.client.get(f"api/v2/user-actions/{day.isoformat()}/project/{slug}/").data
        except ServerError as error:
            if error.status != 500:
                raise
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= SERVER_ERRORS_IN_A_ROW:
                raise SourceError(f"{error}; {SERVER_ERRORS_IN_A_ROW} days in a row, the sync stopped") from None
            errors.append(f"{error}: {slug} on {day} is asked again on the next syncs")
            return None
        self._failures_in_a_row = 0
        records: list[dict | Rejected] = []
        for action in _actions(data, slug, day):
            records.extend(self._records(slug, action))
        return records

    def _projects(self, errors: list[str]) -> list[str]:
        """The slugs to read: the `projects` option, else every project Pontoon lists (with a locale
        of the `locales` option, when the listing says which locales a project has)."""
        if self.settings["projects"]:
            return self.settings["projects"]
        wanted = set(self.settings["locales"])
        slugs: list[str] = []
        url: str | None = self.client.url(with_query("api/v2/projects/", {"fields": "slug,locales", "page_size": PROJECT_PAGE_SIZE}))
        pages = PageWalk("Pontoon's project listing", limit=PROJECT_PAGES, first=url)
        while url:
            data = self.client.get(url).data
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise SourceError("Pontoon's project listing is not a page object with a `results` list")
            for project in data["results"]:
                slug = project.get("slug") if isinstance(project, dict) else None
                if not isinstance(slug, str) or not SLUG.fullmatch(slug):
                    errors.append(f"Pontoon's project listing named a project without a valid slug: {str(slug)[:60]!r}")
                    continue
                locales = project.get("locales")
                if wanted and isinstance(locales, list) and not wanted.intersection(locales):
                    continue
                if slug not in slugs:
                    slugs.append(slug)
            url = data.get("next") if isinstance(data.get("next"), str) else None
            url = pages.follow(url, shown=url_shown(url or ""))
        return slugs

    def _records(self, project: str, action: dict) -> list[dict | Rejected]:
        """The activity one action is, a `Rejected` item, or nothing: undoing a review (`unapproved`,
        `unrejected`), deleting a translation, and the actions Pontoon takes implicitly along with
        another (a suggestion rejected because another one was approved; the approval logged with a
        translation submitted directly) are not activities, as Pontoon's own statistics leave them out."""
        kind = action.get("type")
        known = TYPES.get(kind) if isinstance(kind, str) else None
        if known is None or action.get("is_implicit_action") is True:
            return []
        activity_type, verb = known
        translation_pk = _pk(action.get("translation"))
        moment = _moment(action.get("date"))
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else str(action.get("date") or "none")[:40]
        external_id = f"{verb}:{translation_pk if translation_pk is not None else 'none'}:{stamp}"
        locale = action.get("locale")
        code = locale.get("code") if isinstance(locale, dict) else None
        if isinstance(code, str) and self.settings["locales"] and code not in self.settings["locales"]:
            return []  # not the source's: another locale
        user = action.get("user")
        if moment is None:
            return [Rejected(external_id, NO_TIME)]
        if translation_pk is None:
            return [Rejected(external_id, NO_TRANSLATION)]
        if not isinstance(code, str) or not code:
            return [Rejected(external_id, NO_LOCALE)]
        if not isinstance(user, dict):
            return [Rejected(external_id, DELETED_ACCOUNT)]
        if _pk(user) is None:
            return [Rejected(external_id, NO_ACCOUNT_ID)]
        bot = user.get("system_user") is True
        if not bot and user.get("name") == DELETED_USER_NAME:
            return [Rejected(external_id, DELETED_ACCOUNT)]
        actor: dict[str, Any] = {"uid": str(user["pk"])}
        if isinstance(user.get("name"), str) and user["name"]:
            actor["name"] = user["name"]
        if bot:
            actor["bot"] = True
        resource = action.get("resource") if isinstance(action.get("resource"), dict) else {}
        path = resource.get("path") if isinstance(resource.get("path"), str) else ""
        return [self.record(
            external_id=external_id, type=activity_type, occurred_at=action["date"], actor=actor,
            container=f"{project}::{code}", url=self._url(project, code, path, _pk(action.get("entity"))), title=path,
            data=_kept(action, project),
        )]

    def _url(self, project: str, code: str, path: str, entity: int | None) -> str:
        """The string in Pontoon's translate view, or the project's page in that locale."""
        if path and entity is not None:
            return self.client.url(f"{quote(code)}/{project}/{quote(path)}/?string={entity}")
        return self.client.url(f"{quote(code)}/{project}/")


def _actions(data: Any, slug: str, day: date) -> list[dict]:
    if not isinstance(data, dict) or not isinstance(data.get("actions"), list):
        raise SourceError(f"Pontoon's user actions of {slug} on {day} are not an object with an `actions` list")
    if not all(isinstance(action, dict) for action in data["actions"]):
        raise SourceError(f"Pontoon's user actions of {slug} on {day} hold an item that is not an object")
    return data["actions"]


def _kept(action: dict, project: str) -> dict:
    """What a record keeps of the action as its raw payload: ids, states and times. Not the account's
    name (the actor is the record's own), nor the translation's text, which for a review is another
    person's words."""
    translation = action.get("translation") if isinstance(action.get("translation"), dict) else {}
    resource = action.get("resource") if isinstance(action.get("resource"), dict) else {}
    locale = action.get("locale") if isinstance(action.get("locale"), dict) else {}
    user = action.get("user") if isinstance(action.get("user"), dict) else {}
    kept = {
        "type": action.get("type"),
        "is_implicit_action": action.get("is_implicit_action"),
        "date": action.get("date"),
        "project": project,
        "locale": {key: locale[key] for key in ("pk", "code") if key in locale},
        "entity": {"pk": _pk(action.get("entity"))},
        "resource": {key: resource[key] for key in ("pk", "format") if key in resource},
        "translation": {key: translation[key] for key in ("pk", "status") if key in translation},
        "system_user": user.get("system_user"),
    }
    return {key: value for key, value in kept.items() if value is not None}
