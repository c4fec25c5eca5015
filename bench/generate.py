"""Deterministic generator of benchmark activity records (CONTRACTS.md §1, JSON Lines).

    python bench/generate.py [--records N] [--people P] [--force]

writes ``bench/data/activities-<N>.jsonl`` (``-p<P>`` is added when P is not the default N/10)
and does nothing when that file already exists. The same arguments always give the same bytes
(fixed seed, no clock, no hash randomisation involved).

The community it describes, roughly like Mozilla's:
- three sources: ``bench-github``, ``bench-bugzilla``, ``bench-sumo``;
- about N/10 people (100,000 for a million records), each active in one to three of them;
- heavy-tailed activity: most people do one or two things, a few do thousands (Pareto weights);
- GitHub actors carry username + uid (+ the commit e-mail on commits, sometimes the
  ``<uid>+<login>@users.noreply.github.com`` address), Bugzilla actors e-mail + name,
  SUMO actors a username only;
- 20 % of people use two or three e-mail addresses (different ones in different sources);
  a few addresses appear with different capitalisation;
- a handful of ``[bot]`` accounts with a lot of activity;
- ``occurred_at`` spread over three years, the file in chronological order, with a mix of
  offsets (``Z``, ``+02:00``, ``-07:00``…);
- small ``data`` payloads (a few keys each).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

DATA_DIR = Path(__file__).resolve().parent / "data"
SEED = 20141015  # Project Baloo's vintage; any fixed number would do.
DEFAULT_RECORDS = 1_000_000

SOURCES = ("bench-github", "bench-bugzilla", "bench-sumo")

START = datetime(2023, 11, 1, tzinfo=UTC)  # three years ending 2026-10-31 (never in the future)
SPAN_SECONDS = (datetime(2026, 11, 1, tzinfo=UTC) - START).days * 86400

# (offset label, seconds); "Z" most often, then a spread of real-world offsets.
OFFSETS = [("Z", 0)] * 6 + [
    ("+02:00", 7200),
    ("+01:00", 3600),
    ("-07:00", -25200),
    ("-05:00", -18000),
    ("+05:30", 19800),
    ("+09:00", 32400),
    ("-03:00", -10800),
    ("+00:00", 0),
]

FIRST = (
    "ann ben chloe dan eva farid gita hana ivan jade kofi lena mateo nadia omar priya quinn rosa sami "
    "tariq uma vera wen xavier yuki zoe alice bruno carla diego emma felix grace hugo ines jonas kai "
    "lucia marco nina olga pablo rita sven tanja ulla viktor wanda yara zeno aiko bilal chen dina"
).split()
LAST = (
    "smith garcia mueller rossi dubois kowalski nakamura silva okafor ivanova jensen novak haddad "
    "kim nguyen patel lopez martin bernard schmidt moreau costa santos yilmaz tanaka singh khan "
    "andersen lindqvist horvat petrov ferreira oliveira mendes weber wagner becker hoffmann"
).split()
MAIL_DOMAINS = (
    ["gmail.com"] * 8
    + ["mozilla.com"] * 2
    + [
        "yahoo.com",
        "hotmail.com",
        "outlook.com",
        "posteo.de",
        "free.fr",
        "gmx.de",
        "protonmail.com",
        "example.org",
        "web.de",
    ]
)

REPOS = (
    [
        f"mozilla/{n}"
        for n in (
            "gecko-dev kitsune bedrock addons-server addons-frontend fxa pontoon treeherder mdn-content "
            "webextension-polyfill pdf.js rhino sccache application-services glean fenix firefox-ios "
            "focus-android bugbug normandy remote-settings taskcluster neqo mozjs nimbus-shared "
            "DeepSpeech TTS readability send bleach"
        ).split()
    ]
    + [f"mozilla-l10n/repo-{i:03d}" for i in range(40)]
    + [f"mozilla-mobile/app-{i:03d}" for i in range(30)]
)

BZ_COMPONENTS = [
    f"{p}::{c}"
    for p, cs in (
        ("Firefox", "General;Address Bar;Tabbed Browser;Session Restore;Settings UI;Downloads Panel;New Tab Page;Sync"),
        ("Core", "DOM: Core & HTML;Graphics;JavaScript Engine;Networking;Layout;Audio/Video;WebRTC;Widget: Gtk"),
        ("Toolkit", "Add-ons Manager;Places;Telemetry;Password Manager"),
        ("DevTools", "Console;Debugger;Inspector;Netmonitor"),
        ("Thunderbird", "General;Message Reader UI;Account Manager"),
        ("Fenix", "General;Toolbar"),
        ("Mozilla Localizations", "fr / French;de / German;es-ES / Spanish;ja / Japanese;pt-BR / Portuguese"),
    )
    for c in cs.split(";")
]

SUMO_PRODUCTS = ["firefox", "firefox-android", "firefox-ios", "thunderbird", "mozilla-vpn", "focus", "relay", "pocket"]
SUMO_LOCALES = ["en-US"] * 10 + ["de", "fr", "es", "pt-BR", "ja", "it", "pl", "ru", "zh-CN", "nl", "id", "cs"]

TITLE_WORDS = (
    "fix crash when opening tabs search box layout regression update dependency add test for "
    "private browsing memory leak in the url bar translation string menu button does not work "
    "after update sync error slow startup pdf viewer missing icon dark mode accessibility label"
).split()

# type, weight, kind of object (drives ids, urls, payloads)
GITHUB_TYPES = [
    ("github.pull_request.opened", 20, "pr"),
    ("github.pull_request.merged", 12, "pr"),
    ("github.pull_request_review.submitted", 14, "review"),
    ("github.issue.opened", 12, "issue"),
    ("github.issue_comment.created", 30, "comment"),
    ("github.commit.authored", 25, "commit"),
]
BUGZILLA_TYPES = [
    ("bugzilla.bug.filed", 20, "bug"),
    ("bugzilla.comment.created", 50, "comment"),
    ("bugzilla.bug.resolved", 10, "bug"),
    ("bugzilla.attachment.created", 10, "attachment"),
    ("bugzilla.flag.set", 10, "flag"),
]
SUMO_TYPES = [
    ("sumo.question.posted", 20, "question"),
    ("sumo.answer.posted", 50, "answer"),
    ("sumo.answer.solution", 5, "answer"),
    ("sumo.kb.revision", 10, "revision"),
    ("sumo.kb.review", 5, "revision"),
    ("sumo.l10n.revision", 10, "revision"),
]


def default_people(records: int) -> int:
    return max(10, records // 10)


def dataset_path(records: int, people: int | None = None) -> Path:
    suffix = "" if people is None or people == default_people(records) else f"-p{people}"
    return DATA_DIR / f"activities-{records}{suffix}.jsonl"


def _cum(weights):
    return list(itertools.accumulate(weights))


class Person:
    __slots__ = ("name", "emails", "gh", "bz_email", "sumo", "sources", "src_cum")


def make_people(rng: random.Random, count: int) -> tuple[list[Person], list[float]]:
    """People, their accounts and their (heavy-tailed) activity weights."""
    people: list[Person] = []
    weights: list[float] = []
    weight_cap = max(20.0, count * 0.015)
    for i in range(count):
        p = Person()
        first, last = rng.choice(FIRST), rng.choice(LAST)
        p.name = f"{first.title()} {last.title()}"
        handle = f"{first}{last[: rng.randint(1, len(last))]}{i}"
        n_mail = 1
        if rng.random() < 0.20:
            n_mail = rng.choice((2, 2, 3))
        emails = [f"{first}.{last}{i}@{rng.choice(MAIL_DOMAINS)}"]
        if n_mail >= 2:
            emails.append(f"{handle}@{rng.choice(MAIL_DOMAINS)}")
        if n_mail >= 3:
            emails.append(f"{first[0]}{last}{i}@work{i % 997}.example.com")
        if rng.random() < 0.02:  # the same address typed with capitals somewhere
            emails.append(emails[0].title())
        p.emails = emails

        # Which systems this person is active in (at least one), and how much in each.
        r = rng.random()
        src_w = [0.0, 0.0, 0.0]
        if r < 0.45:
            src_w[0] = 1.0
        elif r < 0.70:
            src_w[1] = 1.0
        elif r < 0.88:
            src_w[2] = 1.0
        else:  # active in several systems
            src_w = [
                rng.random() * (rng.random() < 0.85),
                rng.random() * (rng.random() < 0.7),
                rng.random() * (rng.random() < 0.5),
            ]
            if not any(src_w):
                src_w[rng.randrange(3)] = 1.0
        p.sources = [s for s, w in enumerate(src_w) if w > 0]
        p.src_cum = _cum([src_w[s] for s in p.sources])

        p.gh = (
            (handle.lower() if rng.random() < 0.5 else handle, str(1_000_000 + i * 7 + rng.randrange(7)))
            if src_w[0]
            else None
        )
        # Bugzilla accounts often use an address the person doesn't use on GitHub.
        p.bz_email = emails[-1 if len(emails) > 1 and rng.random() < 0.6 else 0] if src_w[1] else None
        p.sumo = (handle if rng.random() < 0.7 else f"{first}_{i}") if src_w[2] else None

        people.append(p)
        # Pareto tail: most weights near 1, a few in the hundreds or thousands (capped so the
        # busiest person does ~0.2 % of everything, like a prolific Bugzilla triager).
        weights.append(min(rng.paretovariate(1.16), weight_cap))

    # A few bots, very busy on GitHub.
    for j, bot in enumerate(
        ("dependabot[bot]", "renovate[bot]", "github-actions[bot]", "moz-wptsync-bot", "mozilla-l10n-automation-bot")
    ):
        p = Person()
        p.name = bot
        p.emails = [f"{j}+{bot}@users.noreply.github.com"]
        p.gh = (bot, str(49_000_000 + j))
        p.bz_email = None
        p.sumo = None
        p.sources = [0]
        p.src_cum = [1.0]
        people.append(p)
        weights.append(weight_cap / 2)
    return people, weights


def generate(records: int, people_count: int, path: Path, seed: int = SEED) -> None:
    rng = random.Random(seed)
    people, weights = make_people(rng, people_count)
    person_cum = _cum(weights)
    total_w = person_cum[-1]
    n_people = len(people)

    # Chronological file: draw all the timestamps first, sort, then walk them.
    stamps = sorted(rng.randrange(SPAN_SECONDS) for _ in range(records))

    gh_types = GITHUB_TYPES
    gh_cum = _cum(w for _, w, _ in gh_types)
    bz_types = BUGZILLA_TYPES
    bz_cum = _cum(w for _, w, _ in bz_types)
    sumo_types = SUMO_TYPES
    sumo_cum = _cum(w for _, w, _ in sumo_types)

    # Time formatting: cache the date part per day, compute the clock part.
    start_ts = int(START.timestamp())
    day_cache: dict[int, str] = {}

    def iso(ts: int, label: str, off: int) -> str:
        local = ts + off
        day, sec = divmod(local, 86400)
        d = day_cache.get(day)
        if d is None:
            d = day_cache[day] = (datetime(1970, 1, 1) + timedelta(days=day)).strftime("%Y-%m-%d")
        h, rem = divmod(sec, 3600)
        m, s = divmod(rem, 60)
        return f"{d}T{h:02d}:{m:02d}:{s:02d}{label}"

    random_ = rng.random
    randrange = rng.randrange
    choice = rng.choice
    bisect_ = bisect.bisect
    dumps = orjson.dumps
    n_words = len(TITLE_WORDS)

    def title() -> str:
        k = 3 + randrange(5)
        return " ".join(TITLE_WORDS[randrange(n_words)] for _ in range(k)).capitalize()

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    with open(tmp, "wb", buffering=4 * 1024 * 1024) as out:
        write = out.write
        for i, ts in enumerate(stamps):
            num = 100_000 + i  # unique per record, so (source, external_id) is unique
            p = people[min(bisect_(person_cum, random_() * total_w), n_people - 1)]
            src = p.sources[bisect_(p.src_cum, random_() * p.src_cum[-1])] if len(p.sources) > 1 else p.sources[0]
            label, off = OFFSETS[randrange(len(OFFSETS))]
            occurred = iso(start_ts + ts, label, off)

            if src == 0:
                typ, _w, obj = gh_types[bisect_(gh_cum, random_() * gh_cum[-1])]
                repo = REPOS[min(int(random_() ** 2 * len(REPOS)), len(REPOS) - 1)]  # popular repos first
                login, uid = p.gh
                actor = {"username": login, "uid": uid}
                if obj == "commit":
                    sha = f"{rng.getrandbits(160):040x}"
                    ext = f"commit:{repo}:{sha}"
                    url = f"https://github.com/{repo}/commit/{sha}"
                    r = random_()
                    actor["email"] = (
                        f"{uid}+{login}@users.noreply.github.com" if r < 0.15 else p.emails[randrange(len(p.emails))]
                    )
                    if r > 0.5:
                        actor["name"] = p.name
                    data = {
                        "sha": sha,
                        "additions": randrange(400),
                        "deletions": randrange(200),
                        "files": 1 + randrange(12),
                    }
                elif obj == "pr" or obj == "review":
                    ext = f"{obj}:{repo}:{num}"
                    url = f"https://github.com/{repo}/pull/{num}"
                    data = {
                        "number": num,
                        "state": "merged" if typ.endswith("merged") else "open",
                        "labels": ["bug"] if random_() < 0.3 else [],
                    }
                    if obj == "review":
                        url += f"#pullrequestreview-{num}"
                        data["review_state"] = choice(("approved", "commented", "changes_requested"))
                elif obj == "issue":
                    ext = f"issue:{repo}:{num}"
                    url = f"https://github.com/{repo}/issues/{num}"
                    data = {"number": num, "state": "open", "comments": randrange(20)}
                else:
                    ext = f"issuecomment:{repo}:{num}"
                    url = f"https://github.com/{repo}/issues/{num // 3}#issuecomment-{num}"
                    data = {"issue": num // 3, "reactions": randrange(4)}
                rec = {
                    "source": "bench-github",
                    "external_id": ext,
                    "type": typ,
                    "occurred_at": occurred,
                    "actor": actor,
                    "container": repo,
                    "url": url,
                    "title": title(),
                    "data": data,
                }
            elif src == 1:
                typ, _w, obj = bz_types[bisect_(bz_cum, random_() * bz_cum[-1])]
                comp = BZ_COMPONENTS[min(int(random_() ** 2 * len(BZ_COMPONENTS)), len(BZ_COMPONENTS) - 1)]
                bug = 1_800_000 + num // 4
                if obj == "comment":
                    ext = f"comment:{num}"
                    url = f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}#c{num % 40}"
                elif obj == "attachment":
                    ext = f"attachment:{num}"
                    url = f"https://bugzilla.mozilla.org/attachment.cgi?id={num}"
                elif obj == "flag":
                    ext = f"flag:{num}"
                    url = f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
                else:
                    ext = f"bug:{bug}:{typ.rsplit('.', 1)[1]}:{num}"
                    url = f"https://bugzilla.mozilla.org/show_bug.cgi?id={bug}"
                actor = {"email": p.bz_email, "name": p.name} if random_() < 0.9 else {"email": p.bz_email}
                data = {
                    "bug_id": bug,
                    "severity": choice(("S1", "S2", "S3", "S3", "S4", "--")),
                    "status": choice(("NEW", "ASSIGNED", "RESOLVED")),
                }
                rec = {
                    "source": "bench-bugzilla",
                    "external_id": ext,
                    "type": typ,
                    "occurred_at": occurred,
                    "actor": actor,
                    "container": comp,
                    "url": url,
                    "title": title(),
                    "data": data,
                }
            else:
                typ, _w, obj = sumo_types[bisect_(sumo_cum, random_() * sumo_cum[-1])]
                product = SUMO_PRODUCTS[min(int(random_() ** 2 * len(SUMO_PRODUCTS)), len(SUMO_PRODUCTS) - 1)]
                locale = SUMO_LOCALES[randrange(len(SUMO_LOCALES))]
                if obj == "question":
                    url = f"https://support.mozilla.org/{locale}/questions/{num}"
                elif obj == "answer":
                    url = f"https://support.mozilla.org/{locale}/questions/{num // 5}#answer-{num}"
                else:
                    url = f"https://support.mozilla.org/{locale}/kb/article-{num % 5000}/revision/{num}"
                ext = f"{obj}:{num}"
                data = {"id": num, "locale": locale, "product": product, "helpful_votes": randrange(6)}
                rec = {
                    "source": "bench-sumo",
                    "external_id": ext,
                    "type": typ,
                    "occurred_at": occurred,
                    "actor": {"username": p.sumo},
                    "container": f"{product}/{locale}",
                    "url": url,
                    "title": title(),
                    "data": data,
                }
            write(dumps(rec))
            write(b"\n")
    os.replace(tmp, path)


def ensure_dataset(
    records: int = DEFAULT_RECORDS, people: int | None = None, force: bool = False, quiet: bool = False
) -> Path:
    """The path of the data set, generating it first when it is missing (or when forced)."""
    people_count = people or default_people(records)
    path = dataset_path(records, people)
    if path.exists() and not force:
        if not quiet:
            print(f"[generate] cached: {path}", file=sys.stderr)
        return path
    if not quiet:
        print(f"[generate] writing {records:,} records for ~{people_count:,} people to {path}…", file=sys.stderr)
    t0 = time.perf_counter()
    generate(records, people_count, path)
    if not quiet:
        size = path.stat().st_size
        print(f"[generate] done in {time.perf_counter() - t0:.1f} s ({size / 1e6:.0f} MB)", file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help="number of activity records (default 1,000,000)"
    )
    parser.add_argument("--people", type=int, default=None, help="number of people (default records / 10)")
    parser.add_argument("--force", action="store_true", help="regenerate even when the file exists")
    args = parser.parse_args(argv)
    print(ensure_dataset(args.records, args.people, force=args.force))
    return 0


if __name__ == "__main__":
    sys.exit(main())


def directory_path(people: int) -> Path:
    return DATA_DIR / f"directory-{people}.jsonl"


def ensure_directory(people: int, *, force: bool = False) -> Path:
    """A people directory (CONTRACTS §2) for the same people as the activity data set.

    Each record lists every e-mail and the GitHub and SUMO user names of one person, so importing
    it joins the identities the activities left apart; one person in ten is staff.
    """
    path = directory_path(people)
    if path.exists() and not force:
        return path
    rng = random.Random(SEED)
    humans, _weights = make_people(rng, people)
    with path.open("wb") as out:
        for i, p in enumerate(humans[:people]):
            usernames = {}
            if p.gh:
                usernames["bench-github"] = p.gh[0]
            if p.sumo:
                usernames["bench-sumo"] = p.sumo
            emails = list(dict.fromkeys(e.lower() for e in p.emails))
            record = {"id": f"E{i:07d}", "name": p.name, "emails": emails, "usernames": usernames, "staff": i % 10 == 0}
            out.write(orjson.dumps(record) + b"\n")
    return path
