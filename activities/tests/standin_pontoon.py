"""A local stand-in for Pontoon's REST API v2, and builders of its items, for the pontoon connector's tests.

It answers as mozilla/pontoon's `pontoon/api` does (README, urls, views): the project listing is a
Django REST framework page (`count`, `next`, `previous`, `results`; `page`, `page_size` up to
1,000; `fields=` keeps only the fields asked for; disabled and system projects left out), and
`/api/v2/user-actions/<date>/project/<slug>/` answers one UTC day of one project's translation
actions in one piece, only to a personal access token (`Authorization: Bearer <id>_<secret>`),
with no ETag. Its errors are DRF's: 403 `{"detail": …}` for no or a bad token and for a private
project, 404 for an unknown project, 400 for a date it cannot read. Its IP throttle answers 429
with an HTML page and `Retry-After` (600 seconds by default).
A broken or hostile server's listing (`paging`): "circle" names page 2 as the next page of every
page, "endless" always names one more.
"""

import copy
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from .builders import sample
from .standin import Reply, StandIn

TOKEN = "7_s3cret-pontoon-token"
THROTTLED = b"<!doctype html><title>429</title><h1>Too many requests</h1>"


def stamp(moment: datetime) -> str:
    """A time as Pontoon's API writes it (Django REST framework's encoder: ISO 8601, `Z`, microseconds)."""
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def pontoon_project(slug: str, *, locales: list[str], disabled: bool = False, system: bool = False,
                    visibility: str = "public") -> dict:
    item = sample("pontoon_project")
    item.update(slug=slug, name=slug.title(), locales=list(locales), disabled=disabled, system_project=system,
                visibility=visibility)
    return item


def pontoon_action(kind: str, *, translation: int, when: datetime, user: dict | None, locale: str = "de",
                   implicit: bool = False, entity: int | None = None) -> dict:
    """One item of the user-actions answer: `kind` is Pontoon's action type without `translation:`."""
    item = sample("pontoon_user_action")
    item.update(type=f"translation:{kind}", is_implicit_action=implicit, date=stamp(when), user=user)
    item["locale"] = {"pk": 100 + len(locale), "code": locale, "name": f"Language {locale}"}
    item["entity"]["pk"] = entity or translation * 3
    item["translation"].update(pk=translation, string=f"Übersetzung {translation} von jemandem",
                               status={"created": "unreviewed"}.get(kind, kind))
    return item


def pontoon_user(pk: int, name: str, *, system: bool = False) -> dict:
    return {"pk": pk, "name": name, "system_user": system}


class FakePontoon(StandIn):
    """Pontoon's API v2: the project listing and the user actions of a project on a day."""

    def __init__(self) -> None:
        super().__init__()
        self.projects: list[dict] = []
        # Each action with the slug of its project, as Pontoon finds it through its translation, and its time.
        self.actions: list[tuple[str, datetime, dict]] = []
        self.tokens = {TOKEN}
        self.paging: str | None = None

    def add(self, project: str, action: dict, *, at: datetime | None = None) -> dict:
        """Serve `action` among `project`'s, on the day of its `date` (or of `at`, for an action that gives no date)."""
        self.actions.append((project, at or _when(action), action))
        return action

    def asked_days(self, project: str | None = None) -> list[str]:
        """The days asked for, in order, as `<date>/<project>`, of one project or all."""
        asked = []
        for path, _headers in self.requests:
            parts = path.strip("/").split("/")
            if parts[:3] == ["api", "v2", "user-actions"] and len(parts) == 6 and project in (None, parts[5]):
                asked.append(f"{parts[3]}/{parts[5]}")
        return asked

    def route(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        parts = path.strip("/").split("/")
        if parts == ["api", "v2", "projects"]:
            return self._projects(path, query, headers)
        if parts[:3] == ["api", "v2", "user-actions"] and len(parts) == 6 and parts[4] == "project":
            return self._user_actions(parts[3], parts[5], headers)
        return Reply(404, b'{"detail": "Not found."}')

    def _projects(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
        projects = [project for project in self.projects
                    if not project["disabled"] and not project["system_project"] and project["visibility"] == "public"]
        projects.sort(key=lambda project: project["slug"])
        fields = [name for name in query.get("fields", [""])[-1].split(",") if name]
        if fields:
            projects = [{name: project[name] for name in fields if name in project} for project in projects]
        size = min(int(query.get("page_size", ["100"])[-1]), 1000)
        page = int(query.get("page", ["1"])[-1])
        chunk = projects[(page - 1) * size : page * size]

        def link(number: int) -> str | None:
            if self.paging == "circle" and number > page:
                number = 2
            elif number < 1 or ((number - 1) * size >= len(projects) and self.paging != "endless"):
                return None
            params = {name: values[-1] for name, values in query.items()}
            params["page"] = str(number)
            return f"{self.base_url}{path}?{urlencode(params)}"

        body = {"count": len(projects), "next": link(page + 1), "previous": link(page - 1), "results": chunk}
        return self.json(body, headers)

    def _user_actions(self, day_text: str, slug: str, headers: dict[str, str]) -> Reply:
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return Reply(403, b'{"detail": "Authentication credentials were not provided."}')
        if auth.removeprefix("Bearer ") not in self.tokens:
            return Reply(403, b'{"detail": "Invalid token."}')
        try:
            day = date.fromisoformat(day_text)
        except ValueError:
            return Reply(400, b"[\"Bad Request in kwarg: 'date'.\"]")
        project = next((item for item in self.projects if item["slug"] == slug), None)
        if project is None:
            return Reply(404, b'{"detail": "No Project matches the given query."}')
        if project["visibility"] != "public":
            return Reply(403, b'{"detail": "You do not have permission to access data for this project."}')
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        actions = [copy.deepcopy(action) for owner, moment, action in self.actions
                   if owner == slug and start <= moment < start + timedelta(days=1)]
        body = {"actions": actions, "project": {"pk": self.projects.index(project) + 1, "slug": slug, "name": project["name"]}}
        reply = self.json(body, headers)
        reply.headers.pop("ETag", None)  # Pontoon's API views send none
        return reply


def _when(action: dict) -> datetime:
    return datetime.fromisoformat(action["date"].replace("Z", "+00:00"))


def pontoon_data(api: FakePontoon, *, days: int, today: date, projects: dict[str, list[str]] | None = None) -> Counter:
    """A community's last `days` days on Pontoon (today included): each day, in each project and
    locale, a suggestion submitted, approved by a reviewer, another one rejected, and a
    pretranslation by Pontoon's machine translation account. Returns the activities a sync must
    store, by type (the pretranslations are stored too, as a bot's)."""
    projects = projects or {"firefox": ["de", "fr"], "thunderbird": ["de"]}
    people = [pontoon_user(5000 + index, f"Translator {index}") for index in range(9)]
    reviewers = [pontoon_user(6000 + index, f"Reviewer {index}") for index in range(3)]
    machine = pontoon_user(2, "Google Translate", system=True)
    expected: Counter = Counter()
    translation = 1000
    for slug, locales in projects.items():
        api.projects.append(pontoon_project(slug, locales=locales))
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            noon = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
            for index, locale in enumerate(locales):
                translation += 3
                author = people[(translation + index) % len(people)]
                reviewer = reviewers[translation % len(reviewers)]
                moment = noon + timedelta(minutes=index * 7, microseconds=translation)
                api.add(slug, pontoon_action("created", translation=translation, when=moment, user=author, locale=locale))
                api.add(slug, pontoon_action("approved", translation=translation, when=moment + timedelta(minutes=30),
                                             user=reviewer, locale=locale))
                api.add(slug, pontoon_action("created", translation=translation + 1, when=moment + timedelta(minutes=1),
                                             user=people[(translation + 1) % len(people)], locale=locale))
                api.add(slug, pontoon_action("rejected", translation=translation + 1, when=moment + timedelta(minutes=31),
                                             user=reviewer, locale=locale))
                api.add(slug, pontoon_action("created", translation=translation + 2, when=moment + timedelta(minutes=2),
                                             user=machine, locale=locale))
                expected["pontoon.translation.submitted"] += 3
                expected["pontoon.translation.approved"] += 1
                expected["pontoon.translation.rejected"] += 1
    return expected
