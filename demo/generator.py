"""The demo community's activity records: deterministic, invented, shaped like a real community.

Nothing here touches the database: the same end date, size and seed always give the same
community, record for record. Every name and address is invented (`demo.names`: example.org,
example.com, example.net, and the staff domain mozilla.example); no real person's data is used.

The community has the shape real ones have: most people contribute once or twice, a few every
week for years; people work in several areas and systems; some show up with two e-mail addresses
that a commit links through their GitHub login; some are staff; one volunteer is hired half-way
(their volunteer weeks stay volunteer weeks); two bots open pull requests.

The sources, repositories, components and products below are the ones `demo/config.json` configures
and its conversion points match (`demo/tests/test_config.py` checks that they agree).
"""

import math
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from .names import BUG_TITLES, EMAIL_DOMAINS, FIRST_NAMES, ISSUE_TITLES, LAST_NAMES, PACKAGES, PR_TITLES, SUMO_TITLES

DEMO_SEED = 2014  # the year Project Baloo started
DEMO_PEOPLE = 2000
DEMO_YEARS = 3
STAFF_DOMAIN = "mozilla.example"

# The slugs of the sources demo/config.json configures.
GITHUB = "github-mozilla"
BUGZILLA = "bugzilla-mozilla"
SUMO = "sumo"

# Where each area's work happens: the configuration's sources list these, its container filters match them.
REPOS = {
    "coding-firefox": ["mozilla-mobile/firefox-ios", "mozilla-mobile/firefox-android"],
    "localization": ["mozilla-l10n/firefox-l10n", "mozilla-l10n/android-l10n"],
    "add-ons": ["mozilla/addons-server", "mozilla/addons-frontend", "mozilla/addons-linter"],
    "documentation": ["mdn/content", "mdn/browser-compat-data"],
}
COMPONENTS = {
    "coding-firefox": [
        "Core::DOM: Events",
        "Core::Layout",
        "Core::Networking",
        "Core::JavaScript Engine",
        "Core::Graphics",
        "Firefox::General",
        "Firefox::Address Bar",
        "Firefox::Tabbed Browser",
        "Firefox::Session Restore",
    ],
    "qa": ["Firefox::General", "Core::General", "DevTools::Console", "Toolkit::Downloads", "Testing::mozregression"],
    "add-ons": ["WebExtensions::General", "WebExtensions::Storage", "WebExtensions::Request Handling"],
}
SUMO_PRODUCTS = ["firefox", "firefox", "firefox", "mobile", "ios", "thunderbird", "thunderbird"]
# Forum questions are mostly in English; help articles are translated into many locales.
SUMO_FORUM_LOCALES = ["en-US"] * 6 + ["de", "fr", "es", "it", "ja", "pl"]
SUMO_KB_LOCALES = ["de", "fr", "es", "it", "ja", "pl", "nl", "ru", "cs", "hu", "id"]
BOTS = [("dependabot[bot]", "4969933"), ("renovate[bot]", "2936521")]


@dataclass(frozen=True)
class Tier:
    """How engaged a person is: how many occasions they contribute on, and over how long."""

    name: str
    share: float
    occasions: tuple[float, float]  # log-normal median and spread
    span_days: tuple[int, int]


# Most people contribute once or twice; a few every week. The occasions are log-normal within a
# tier and the tiers themselves fall off steeply, which gives the long tail real communities show.
TIERS = (
    Tier("once", 0.62, (1.3, 0.35), (0, 10)),
    Tier("occasional", 0.22, (6, 0.5), (30, 240)),
    Tier("regular", 0.11, (35, 0.6), (120, 720)),
    Tier("core", 0.05, (3.5, 0.5), (400, 1500)),  # core: occasions per week, not in total
)
STAFF_SHARE = {"once": 0.0, "occasional": 0.01, "regular": 0.08, "core": 0.3}
AREA_WEIGHTS = {
    "support": 30,
    "qa": 20,
    "coding-firefox": 17,
    "localization": 13,
    "documentation": 10,
    "add-ons": 10,
}


def demo_end_date(today: date) -> date:
    """The most recent Sunday strictly before `today`: the end of the last complete week."""
    return today - timedelta(days=(today.weekday() + 1) % 7 or 7)




@dataclass
class _Human:
    """One invented person and the accounts they use."""

    name: str
    emails: list[str]
    login: str
    uid: str
    sumo_username: str
    staff: bool
    noreply: bool  # commits with GitHub's private address instead of a real one
    tz_hours: int
    areas: list[str]
    commits: int = field(default=0)

    def commit_email(self) -> str:
        """The address a commit carries: people with two addresses alternate, which links both."""
        if self.noreply:
            return f"{self.uid}+{self.login}@users.noreply.github.com"
        self.commits += 1
        return self.emails[self.commits % len(self.emails)]


class _Community:
    """Generates the records. Not thread-safe; one instance per generation."""

    def __init__(self, *, end: date, people: int, seed: int) -> None:
        self.rng = random.Random(f"{seed}:{end.isoformat()}:{people}")
        self.people = people
        self.end = datetime.combine(end, time(23, 59, 59), tzinfo=UTC)
        self.start = datetime.combine(end - timedelta(days=DEMO_YEARS * 364 - 1), time(0), tzinfo=UTC)
        self.counters: dict[str, int] = {}
        self.taken: set[str] = set()
        # How often each area is someone's: the demo's own areas, or a given configuration's (demo/configured.py).
        self.area_weights: dict[str, int] = AREA_WEIGHTS

    # -- identities -------------------------------------------------------------------------

    def _next(self, key: str, first: int = 1000) -> int:
        self.counters[key] = self.counters.get(key, first) + 1
        return self.counters[key]

    def _unique(self, candidate: str) -> str:
        value, number = candidate, 1
        while value.casefold() in self.taken:
            number += 1
            value = f"{candidate}{number}"
        self.taken.add(value.casefold())
        return value

    def _human(self, tier: Tier) -> _Human:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        plain_first, plain_last = _ascii(first), _ascii(last)
        staff = rng.random() < STAFF_SHARE[tier.name]
        personal = self._unique(f"{plain_first}.{plain_last}") + "@" + rng.choice(EMAIL_DOMAINS)
        emails = [personal]
        if staff:
            emails.insert(0, self._unique(f"{plain_first[0]}{plain_last}") + "@" + STAFF_DOMAIN)
        elif rng.random() < {"once": 0.0, "occasional": 0.08, "regular": 0.3, "core": 0.3}[tier.name]:
            emails.append(self._unique(f"{plain_first}{rng.randint(70, 99)}") + "@" + rng.choice(EMAIL_DOMAINS))
        login_style = rng.randrange(4)
        logins = [f"{plain_first}{plain_last[:1]}", f"{plain_first}-{plain_last}", f"{plain_last}{rng.randint(1, 99)}"]
        login = [*logins, f"{plain_first[:3]}dev"][login_style]
        sumo_style = rng.randrange(3)
        sumo_usernames = [
            f"{first}{last[:1]}",
            f"{plain_first}_{rng.randint(1, 999)}",
            f"{plain_last}.{plain_first[:1]}",
        ]
        sumo_username = sumo_usernames[sumo_style]
        primary = _weighted(rng, self.area_weights)
        areas = [primary]
        extra = {"once": 0.03, "occasional": 0.15, "regular": 0.45, "core": 0.6}[tier.name]
        while rng.random() < extra and len(areas) < 4:
            other = _weighted(rng, self.area_weights)
            if other not in areas:
                areas.append(other)
            extra /= 2
        return _Human(
            name=f"{first} {last}",
            emails=emails,
            login=self._unique(login.lower()),
            uid=self._unique(str(rng.randint(1_000_000, 180_000_000))),
            sumo_username=self._unique(sumo_username),
            staff=staff,
            noreply=not staff and rng.random() < 0.05,
            tz_hours=rng.choice([-8, -5, -3, 0, 1, 1, 2, 3, 5, 8, 9, 10]),
            areas=areas,
        )

    # -- time -------------------------------------------------------------------------------

    def _moments(self, human: _Human, tier: Tier) -> list[datetime]:
        rng = self.rng
        window = (self.end - self.start).days
        if tier.name == "core" and rng.random() < 0.5:
            begin = self.start  # veterans were already there when the window opens
        else:
            # Newcomers arrive a little more often lately: the community grows.
            begin = self.start + timedelta(days=window * rng.random() ** 0.85)
        span = timedelta(days=rng.randint(*tier.span_days))
        finish = min(begin + span, self.end)
        days = max((finish - begin).days, 0)
        median, sigma = tier.occasions
        if tier.name == "core":
            count = max(1, round(rng.lognormvariate(math.log(median), sigma) * (days + 1) / 7))
        else:
            count = max(1, round(rng.lognormvariate(math.log(median), sigma)))
        moments = []
        for index in range(count):
            day = begin if index == 0 else begin + timedelta(days=rng.randint(0, days))
            holidays = (day.month, day.day) >= (12, 22) or (day.month, day.day) <= (1, 2)
            if index and holidays and rng.random() < 0.5:
                continue  # holidays are quiet: half the contributions planned then don't happen
            local_hour = rng.choice((9, 10, 11, 13, 14, 15, 16, 17, 19, 20, 21, 22))
            moment = datetime.combine(day.date(), time(0), tzinfo=UTC) + timedelta(
                hours=(local_hour - human.tz_hours) % 24, seconds=rng.randrange(3600)
            )
            moments.append(min(moment, self.end))
        return moments

    # -- records ----------------------------------------------------------------------------

    def records(self) -> Iterator[dict]:
        rng = self.rng
        shares = [tier.share for tier in TIERS]
        for _ in range(self.people):
            tier = rng.choices(TIERS, weights=shares)[0]
            human = self._human(tier)
            for moment in self._moments(human, tier):
                area = human.areas[0] if rng.random() < 0.7 else rng.choice(human.areas)
                yield from self._occasion(human, tier, area, moment)
        yield from self._hired()
        yield from self._bots()

    def _hired(self) -> Iterator[dict]:
        """A volunteer who codes most weeks and is hired half-way: from then on their commits carry
        a staff address (linked to the old one through their GitHub account), so the staff period
        starts that day and their earlier weeks stay a volunteer's."""
        rng = self.rng
        human = _Human(
            name="Noor Haddad",
            emails=[self._unique("noor.haddad") + "@example.net"],
            login=self._unique("noorh"),
            uid=self._unique(str(rng.randint(1_000_000, 180_000_000))),
            sumo_username="",
            staff=False,
            noreply=False,
            tz_hours=1,
            areas=["coding-firefox"],
        )
        staff_email = self._unique("nhaddad") + "@" + STAFF_DOMAIN
        hired = self.start + (self.end - self.start) / 2
        for week in range((self.end - self.start).days // 7):
            moment = self.start + timedelta(weeks=week, days=rng.randrange(5), hours=9 + rng.randrange(8))
            if moment >= hired and human.emails != [staff_email]:
                human.emails, human.staff = [staff_email], True
            yield from self._github_work(human, rng.choice(REPOS["coding-firefox"]), moment, True)

    def _occasion(self, human: _Human, tier: Tier, area: str, moment: datetime) -> Iterator[dict]:
        rng = self.rng
        seasoned = tier.name in ("regular", "core")
        if area == "support":
            product = rng.choice(SUMO_PRODUCTS)
            roll = rng.random()
            if tier.name == "once" and roll < 0.35:
                container = f"{product}::{rng.choice(SUMO_FORUM_LOCALES)}"
                yield self._sumo(human, "sumo.question.asked", "question", container, moment)
            elif seasoned and roll < 0.12:
                yield self._sumo(human, "sumo.revision.created", "revision", f"{product}::en-US", moment)
            else:
                yield from self._sumo_answer(human, f"{product}::{rng.choice(SUMO_FORUM_LOCALES)}", moment, seasoned)
        elif area == "localization":
            roll = rng.random()
            if roll < 0.4:
                locale = rng.choice(SUMO_KB_LOCALES)
                yield self._sumo(
                    human, "sumo.revision.created", "revision", f"{rng.choice(SUMO_PRODUCTS)}::{locale}", moment
                )
            elif roll < 0.85 or not seasoned:
                repo = rng.choice(REPOS[area])
                if roll < 0.75:
                    yield self._commit(human, repo, moment, "Pontoon: Update translations")
                else:
                    yield self._github(
                        human, rng.choice(["github.issue.opened", "github.comment.created"]), repo, moment
                    )
            else:
                yield self._github(human, "github.review.submitted", rng.choice(REPOS[area]), moment)
        elif area == "qa":
            component = rng.choice(COMPONENTS["qa"] + COMPONENTS["coding-firefox"])
            roll = rng.random()
            if roll < 0.45 or tier.name == "once":
                yield self._bugzilla(human, "bugzilla.bug.filed", "bug", component, moment)
            elif roll < 0.9 or not seasoned:
                yield self._bugzilla(human, "bugzilla.comment.created", "comment", component, moment)
            else:
                yield self._bugzilla(
                    human, "bugzilla.attachment.created", "attachment", "Testing::mozregression", moment
                )
        else:
            # Coding, add-ons and documentation: GitHub, and Bugzilla where the area has components.
            components = COMPONENTS.get(area)
            if components and rng.random() < 0.45:
                yield from self._bugzilla_work(human, rng.choice(components), moment, seasoned)
            else:
                yield from self._github_work(human, rng.choice(REPOS[area]), moment, seasoned)

    def _later(self, moment: datetime, low_hours: int, high_hours: int) -> datetime | None:
        later = moment + timedelta(hours=self.rng.randint(low_hours, high_hours), minutes=self.rng.randrange(60))
        return later if later <= self.end else None

    def _github_work(self, human: _Human, repo: str, moment: datetime, seasoned: bool) -> Iterator[dict]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            kind = rng.choice(["github.issue.opened", "github.comment.created", "github.comment.created"])
            yield self._github(human, kind, repo, moment)
            return
        if seasoned and roll > 0.8:
            yield self._github(human, "github.review.submitted", repo, moment)
            return
        number = self._next(f"number:{repo}")
        title = rng.choice(PR_TITLES)
        for index in range(rng.choice((1, 1, 1, 2, 3))):
            yield self._commit(human, repo, moment - timedelta(minutes=20 * (index + 1)), title)
        yield self._github(human, "github.pull_request.opened", repo, moment, number=number, title=title)
        merged = self._later(moment, 4, 24 * 12)
        if merged and rng.random() < (0.8 if seasoned else 0.55):
            yield self._github(human, "github.pull_request.merged", repo, merged, number=number, title=title)

    def _bugzilla_work(self, human: _Human, component: str, moment: datetime, seasoned: bool) -> Iterator[dict]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.25:
            yield self._bugzilla(human, "bugzilla.bug.filed", "bug", component, moment)
        elif roll < 0.6:
            yield self._bugzilla(human, "bugzilla.comment.created", "comment", component, moment)
        else:
            bug = self._next("bug", 1_800_000)
            yield self._bugzilla(human, "bugzilla.attachment.created", "attachment", component, moment, bug=bug)
            fixed = self._later(moment, 24, 24 * 20)
            if fixed and rng.random() < (0.7 if seasoned else 0.4):
                yield self._bugzilla(human, "bugzilla.bug.fixed", "fixed", component, fixed, bug=bug)

    def _sumo_answer(self, human: _Human, container: str, moment: datetime, seasoned: bool) -> Iterator[dict]:
        question = self._next("question", 1_400_000)
        answer = self._next("answer", 1_600_000)
        yield self._sumo(human, "sumo.answer.posted", "answer", container, moment, object_id=answer, question=question)
        solved = self._later(moment, 2, 24 * 7)
        if solved and self.rng.random() < (0.35 if seasoned else 0.15):
            yield self._sumo(
                human, "sumo.answer.solution", "solution", container, solved, object_id=answer, question=question
            )

    def _github(
        self, human: _Human, kind: str, repo: str, moment: datetime, *, number: int | None = None, title: str = ""
    ) -> dict:
        rng = self.rng
        if number is None:
            # Comments and reviews land on earlier issues and pull requests of the repository.
            if kind == "github.issue.opened":
                number = self._next(f"number:{repo}")
            else:
                number = rng.randint(1001, self.counters.get(f"number:{repo}", 1001) + 1)
        if kind == "github.issue.opened":
            title = title or rng.choice(ISSUE_TITLES)
            external_id, url = f"issue:{repo}:{number}", f"https://github.com/{repo}/issues/{number}"
        elif kind == "github.comment.created":
            comment = self._next("comment", 1_900_000_000)
            external_id, url = (
                f"comment:{repo}:{comment}",
                f"https://github.com/{repo}/issues/{number}#issuecomment-{comment}",
            )
        elif kind == "github.review.submitted":
            review = self._next("review", 2_100_000_000)
            external_id, url = (
                f"review:{repo}:{review}",
                f"https://github.com/{repo}/pull/{number}#pullrequestreview-{review}",
            )
        elif kind == "github.pull_request.merged":
            external_id, url = f"pr-merged:{repo}:{number}", f"https://github.com/{repo}/pull/{number}"
        else:
            external_id, url = f"pr:{repo}:{number}", f"https://github.com/{repo}/pull/{number}"
        actor = {"username": human.login, "uid": human.uid, "name": human.name}
        return _record(GITHUB, external_id, kind, moment, actor, repo, url, title, {"number": number})

    def _commit(self, human: _Human, repo: str, moment: datetime, title: str) -> dict:
        sha = f"{self.rng.getrandbits(160):040x}"
        actor = {"email": human.commit_email(), "username": human.login, "uid": human.uid, "name": human.name}
        url = f"https://github.com/{repo}/commit/{sha}"
        return _record(
            GITHUB, f"commit:{repo}:{sha}", "github.commit.authored", moment, actor, repo, url, title, {"sha": sha}
        )

    def _bugzilla(
        self, human: _Human, kind: str, what: str, component: str, moment: datetime, *, bug: int | None = None
    ) -> dict:
        rng = self.rng
        if bug is None:
            if what == "bug":
                bug = self._next("bug", 1_800_000)
            else:
                bug = rng.randint(1_800_001, self.counters.get("bug", 1_800_001) + 1)
        object_id = bug if what in ("bug", "fixed") else self._next(what, 9_000_000)
        title = rng.choice(BUG_TITLES) if what == "bug" else ""
        # Bugzilla logins are e-mail addresses.
        actor = {"email": human.emails[0], "name": human.name}
        url = f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
        return _record(BUGZILLA, f"{what}:{object_id}", kind, moment, actor, component, url, title, {"bug_id": bug})

    def _sumo(
        self,
        human: _Human,
        kind: str,
        what: str,
        container: str,
        moment: datetime,
        *,
        object_id: int | None = None,
        question: int | None = None,
    ) -> dict:
        # `product::locale`, as the SUMO connector writes it (CONTRACTS §3).
        product, locale = container.split("::")
        if what == "revision":
            object_id = self._next("revision", 300_000)
            url = f"https://support.mozilla.org/{locale}/kb/revision/{object_id}"
        else:
            if object_id is None:
                object_id = question = self._next("question", 1_400_000)
            url = f"https://support.mozilla.org/{locale}/questions/{question}"
        title = self.rng.choice(SUMO_TITLES) if what in ("question", "revision") else ""
        # Kitsune shows user names and display names, never e-mail addresses.
        actor = {"username": human.sumo_username, "name": human.name}
        data = {"product": product, "locale": locale}
        return _record(SUMO, f"{what}:{object_id}", kind, moment, actor, container, url, title, data)

    def _bots(self) -> Iterator[dict]:
        """Dependency bots open a pull request in every repository most weeks; maintainers merge many."""
        rng = self.rng
        repos = [repo for repos in REPOS.values() for repo in repos]
        weeks = (self.end - self.start).days // 7
        for login, uid in BOTS:
            bot = _Human(login, [], login, uid, "", False, False, 0, [])
            for week in range(weeks):
                for repo in repos:
                    if rng.random() < 0.5:
                        continue
                    moment = self.start + timedelta(weeks=week, hours=rng.randrange(24 * 7))
                    package = rng.choice(PACKAGES)
                    old = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.0"
                    title = f"Bump {package} from {old} to {rng.randint(10, 12)}.0.{rng.randint(0, 9)}"
                    number = self._next(f"number:{repo}")
                    yield self._github(bot, "github.pull_request.opened", repo, moment, number=number, title=title)


def _record(
    source: str,
    external_id: str,
    kind: str,
    moment: datetime,
    actor: dict,
    container: str,
    url: str,
    title: str,
    data: dict,
) -> dict:
    return {
        "source": source,
        "external_id": external_id,
        "type": kind,
        "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": actor,
        "container": container,
        "url": url,
        "title": title,
        "data": data,
    }


def _ascii(text: str) -> str:
    """A name as an address or login would spell it: no accents, no spaces."""
    replacements = {"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "ı": "i", "đ": "d"}
    text = "".join(replacements.get(character, character) for character in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def demo_records(*, end: date, people: int = DEMO_PEOPLE, seed: int = DEMO_SEED) -> Iterator[dict]:
    """Activity records (the common schema) of an invented community of `people` humans plus two bots.

    Three years of activity up to the end of `end` (UTC), never later. Deterministic: the same
    arguments always give the same records in the same order.
    """
    return _Community(end=end, people=people, seed=seed).records()
