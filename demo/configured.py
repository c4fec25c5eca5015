"""A demo community for any configuration: what `seed_demo --config FILE` stores.

The demo's own records (`generator.py`) fit `demo/config.json` only. These fit the configuration
they are given — docs/examples/mozilla.json, or a community's own file — so that a builder sees
that configuration's shape on the dashboard before any real data arrives. The people, their tiers,
their accounts and the moments they contribute at are the demo's own (`generator._Community`);
what each occasion is comes from the configuration:

- the area: one of the configuration's areas, more often the larger its target;
- the conversion point: one of that area's enabled points, at a level that fits how engaged the
  person is (most first steps are casual, people who stay do deeper work);
- the record: one of the point's activity types, in a container its glob matches — a repository,
  product or locale the source's options name, else one made up to fit the glob — from the point's
  source, with the actor and external id shaped as that source's kind writes them (CONTRACTS §1
  and §3, docs/integrating-a-system.md), including the kinds without a connector.

So every enabled conversion point has contributions. Deterministic like the demo: the same
configuration, end, size and seed always give the same records in the same order.
"""

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from conversion_points.containers import container_matches
from conversion_points.services import ConfigError

from .generator import BOTS, DEMO_PEOPLE, DEMO_SEED, Tier, _Community, _Human, _record
from .names import BUG_TITLES, ISSUE_TITLES, PACKAGES, PR_TITLES, SUMO_TITLES

# How likely each level is for one occasion of a person of each tier: casual, active, core.
LEVEL_WEIGHTS = {
    "once": {"casual": 60, "active": 40, "core": 0},
    "occasional": {"casual": 40, "active": 50, "core": 10},
    "regular": {"casual": 25, "active": 50, "core": 25},
    "core": {"casual": 15, "active": 45, "core": 40},
}
# An area without a target weighs as much as this.
DEFAULT_AREA_WEIGHT = 100
# Containers for a source whose options name none, by kind.
LOCALES = ["en-US", "de", "fr", "es", "it", "ja", "pl", "nl", "pt-BR", "zh-CN"]
BUGZILLA_COMPONENTS = {
    "Core": ["DOM: Events", "Layout", "Networking", "JavaScript Engine", "Graphics"],
    "Firefox": ["General", "Address Bar", "Tabbed Browser", "Session Restore"],
    "Firefox for Android": ["General", "Toolbar"],
    "DevTools": ["Console", "Inspector"],
    "Toolkit": ["Downloads", "Add-ons Manager"],
    "Testing": ["mozregression", "General"],
    "WebExtensions": ["General", "Storage"],
    "Thunderbird": ["General", "Message Reader UI"],
}
DISCOURSE_CATEGORIES = ["general", "support", "l10n", "add-ons", "mdn", "reps"]
REPS_INITIATIVES = ["Community Development", "Localization", "Support", "Events", "Mentoring", "Privacy"]
# External id prefixes of the types whose connectors are documented; other types use the type itself.
ID_PREFIXES = {
    "github.issue.opened": "issue",
    "github.pull_request.opened": "pr",
    "github.pull_request.merged": "merged",
    "github.review.submitted": "review",
    "github.comment.created": "comment",
    "bugzilla.bug.filed": "bug",
    "bugzilla.comment.created": "comment",
    "bugzilla.attachment.created": "attachment",
    "bugzilla.bug.fixed": "fixed",
    "sumo.question.asked": "question",
    "sumo.answer.posted": "answer",
    "sumo.answer.solution": "solution",
    "sumo.revision.created": "revision",
    "git.commit.authored": "commit",
    "git.commit.committed": "committed",
    "git.merge.authored": "merge",
    "discourse.topic.created": "topic",
    "discourse.post.created": "post",
    "discourse.answer.accepted": "answer",
    "discourse.like.given": "like",
    "reps.activity.reported": "activity",
    "reps.event.organized": "event",
}
# Titles by external id prefix: what such an item's title reads like.
TITLES = {
    "pr": PR_TITLES, "commit": PR_TITLES, "merge": PR_TITLES, "issue": ISSUE_TITLES, "topic": ISSUE_TITLES,
    "bug": BUG_TITLES, "question": SUMO_TITLES, "revision": SUMO_TITLES,
}
# Kinds whose systems show user names, not e-mail addresses (BRIEF: "lessons from the systems before us").
USERNAME_KINDS = {"sumo", "discourse", "reps", "pontoon"}


@dataclass(frozen=True)
class _Point:
    """One enabled conversion point, with the containers its records go to."""

    source: dict
    types: list[str]
    level: str
    containers: list[str]


class _ConfiguredCommunity(_Community):
    """The demo's people, contributing to the given configuration's areas and conversion points."""

    def __init__(self, *, config: dict, end: date, people: int, seed: int) -> None:
        super().__init__(end=end, people=people, seed=seed)
        sources = {source["slug"]: source for source in config.get("sources", [])}
        self.points: dict[str, list[_Point]] = {}
        weights: dict[str, int] = {}
        for area in config.get("areas", []):
            points = [
                _Point(
                    source=sources[point["source"]],
                    types=list(point["types"]),
                    level=point.get("level", "active"),
                    containers=_containers_for(sources[point["source"]], point.get("container") or "*"),
                )
                for point in area.get("conversion_points", [])
                if point.get("enabled", True) and point["source"] in sources
            ]
            if points:
                self.points[area["slug"]] = points
                weights[area["slug"]] = area.get("target") or DEFAULT_AREA_WEIGHT
        if not weights:
            raise ConfigError("the configuration has no area with an enabled conversion point: the demo has nothing to show")
        self.area_weights = weights

    def _occasion(self, human: _Human, tier: Tier, area: str, moment: datetime) -> Iterator[dict]:
        rng = self.rng
        points = self.points[area]
        levels = LEVEL_WEIGHTS[tier.name]
        weights = [levels.get(point.level, 0) for point in points]
        point = rng.choices(points, weights=weights)[0] if any(weights) else rng.choice(points)
        yield self._configured(human, point.source, rng.choice(point.types), rng.choice(point.containers), moment)

    def _hired(self) -> Iterator[dict]:
        """The demo's hired volunteer codes in the demo's own repositories: not in another configuration."""
        return iter(())

    def _bots(self) -> Iterator[dict]:
        """Dependency bots open a pull request in the configured GitHub repositories most weeks (never counted)."""
        rng = self.rng
        repositories = [
            (source, repo)
            for source in {point.source["slug"]: point.source for points in self.points.values() for point in points}.values()
            if source["kind"] == "github"
            for repo in _containers_for(source, "*")
        ]
        weeks = (self.end - self.start).days // 7
        for login, uid in BOTS:
            bot = _Human(login, [], login, uid, "", False, False, 0, [])
            for week in range(weeks):
                for source, repo in repositories:
                    if rng.random() < 0.5:
                        continue
                    moment = self.start + timedelta(weeks=week, hours=rng.randrange(24 * 7))
                    title = f"Bump {rng.choice(PACKAGES)} to {rng.randint(10, 12)}.0.{rng.randint(0, 9)}"
                    yield self._configured(bot, source, "github.pull_request.opened", repo, moment, title=title)

    def _configured(
        self, human: _Human, source: dict, kind: str, container: str, moment: datetime, *, title: str = ""
    ) -> dict:
        """One record of `source`, shaped as the source's kind writes its records."""
        slug, system = source["slug"], source["kind"]
        number = self._next(f"{slug}:{kind}")
        prefix = ID_PREFIXES.get(kind, kind)
        sha = f"{self.rng.getrandbits(160):040x}"
        if system == "github":
            commit = ".commit." in kind
            external_id = f"commit:{container}:{sha}" if commit else f"{prefix}:{container}:{number}"
            url = f"https://github.com/{container}/commit/{sha}" if commit else f"https://github.com/{container}/issues/{number}"
            actor = {"username": human.login, "uid": human.uid, "name": human.name}
            if commit:
                actor["email"] = human.commit_email()
        elif system == "git":
            external_id, url = f"{prefix}:{sha}", ""
            actor = {"email": human.commit_email(), "name": human.name}
        elif system == "bugzilla":
            base = (source.get("base_url") or "https://bugzilla.mozilla.org").rstrip("/")
            external_id, url = f"{prefix}:{number}", f"{base}/show_bug.cgi?id={number}"
            actor = {"email": human.emails[0], "name": human.name}
        elif system in USERNAME_KINDS:
            external_id, url = f"{prefix}:{number}", ""
            username = human.sumo_username if system == "sumo" else human.login
            actor = {"username": username, "name": human.name}
        else:
            # A system fed by push or import (a retired or internal one): its export names e-mail addresses.
            external_id, url = f"{prefix}:{number}", ""
            actor = {"email": human.emails[0], "name": human.name}
        if not title and prefix in TITLES:
            title = self.rng.choice(TITLES[prefix])
        return _record(slug, external_id, kind, moment, actor, container, url, title, {"demo": True})


def _containers_for(source: dict, pattern: str) -> list[str]:
    """The containers of `source` that `pattern` matches: those its options name, else one made up to fit."""
    matching = [container for container in _source_containers(source) if container_matches(pattern, container)]
    return matching or [_example_of(pattern)]


def _source_containers(source: dict) -> list[str]:
    """The containers a source's records go to, as its kind writes them (CONTRACTS §3)."""
    kind, options = source["kind"], source.get("options") or {}
    if kind == "github":
        repos = _texts(options.get("repos"))
        org = options.get("org")
        return repos or ([f"{org}/{name}" for name in ("website", "app", "docs")] if isinstance(org, str) else [])
    if kind == "bugzilla":
        components = _texts(options.get("components"))
        return [
            f"{product}::{component}"
            for product in _texts(options.get("products")) or ["Core", "Firefox"]
            for component in components or BUGZILLA_COMPONENTS.get(product, ["General"])
        ]
    if kind == "sumo":
        products = _texts(options.get("products")) or ["firefox"]
        return [f"{product}::{locale}" for product in products for locale in _texts(options.get("locales")) or LOCALES]
    if kind == "pontoon":
        projects = _texts(options.get("projects")) or ["firefox"]
        return [f"{project}::{locale}" for project in projects for locale in _texts(options.get("locales")) or LOCALES]
    if kind == "git":
        name = options.get("container") or _repository_name(options.get("url"))
        return [name] if name else []
    if kind == "discourse":
        return _texts(options.get("categories")) or DISCOURSE_CATEGORIES
    if kind == "reps":
        return REPS_INITIATIVES
    return []


def _texts(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str) and item] if isinstance(value, list) else []


def _repository_name(url: object) -> str:
    """The repository name of a git source's `url`, as the git connector writes containers: `mdn/content`
    for a URL ending in /mdn/content(.git) (`git@host:mdn/content.git` too), the directory name for a local path."""
    if not isinstance(url, str):
        return ""
    scp = re.match(r"^[\w.-]+@[\w.-]+:(.*)$", url)
    remote = "://" in url or scp is not None
    path = scp[1] if scp else urlsplit(url).path if "://" in url else url
    parts = [part for part in path.split("/") if part]
    if parts:
        parts[-1] = parts[-1].removesuffix(".git")
    return "/".join(parts[-2:] if remote else parts[-1:])


def _example_of(pattern: str) -> str:
    """A container the glob matches, for a rule whose source names none: `Testing::*` → `Testing::general`."""
    if pattern in ("", "*"):
        return "general"
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            out.append("general")
        elif char == "?":
            out.append("x")
        elif char == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            content = pattern[i:end]
            i = end + 1
            if content.startswith("!"):
                candidates = string.ascii_letters + string.digits + "-_"
                out.append(next((c for c in candidates if container_matches(f"[{content}]", c)), "-"))
            else:
                out.append(content[0])
        else:
            out.append(char)
    return "".join(out)


def configured_records(*, config: dict, end: date, people: int = DEMO_PEOPLE, seed: int = DEMO_SEED) -> Iterator[dict]:
    """Activity records of an invented community of `people` humans (plus two bots) that fit `config`.

    `config` is a configuration file's content, already loaded (`config_load` checked it). Three years
    of activity up to the end of `end` (UTC), never later; every enabled conversion point over a source
    the file lists matches some of the records when `people` is large enough to reach it.
    """
    return _ConfiguredCommunity(config=config, end=end, people=people, seed=seed).records()

