"""How many of a real project's aliases `suggest_merges` finds, measured against its `.mailmap`.

    DJANGO_SECRET_KEY=x .venv/bin/python bench/aliases.py /path/to/repo [--show 20]

The repository's commits (author name and e-mail as written, the mailmap NOT applied) are
imported as `git.commit.authored` records into a scratch database (`--database-url`, default a
SQLite file in the temporary directory, recreated on each run), then merge suggestions are made as
`suggest_merges` makes them. The truth is what git itself makes of the repository's `.mailmap`
(`%aN <%aE>` for each commit): persons whose addresses it maps to one canonical address are one
human. Every pair of Baloo persons of one human is an alias pair (a human with three persons gives
three). Printed, as JSON:

- recall: the alias pairs that a suggestion names, out of all alias pairs;
- precision: the suggestions that name an alias pair, out of all suggestions (the list is
  incomplete, so the real precision is higher);
- the same two with suggestions followed transitively (A–B and B–C join A and C), and per score;
- with `--show N`, N suggestions the list does not confirm and N alias pairs not suggested.

Nothing of the repository is written anywhere but the scratch database.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = Path(tempfile.gettempdir()) / "baloo-aliases.sqlite3"


def commits(repo: str) -> list[tuple[str, str, str, str, str, str]]:
    """(sha, name, e-mail, date, mailmapped name, mailmapped e-mail) of every commit."""
    out = subprocess.run(
        ["git", "-C", repo, "-c", "log.mailmap=false", "log", "--format=%H%x00%an%x00%ae%x00%aI%x00%aN%x00%aE"],
        check=True,
        capture_output=True,
    ).stdout.decode("utf-8", "replace")
    return [tuple(line.split("\0")) for line in out.splitlines() if line.count("\0") == 5]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("repo")
    parser.add_argument("--database-url", default=f"sqlite:///{SCRATCH}")
    parser.add_argument("--show", type=int, default=0)
    args = parser.parse_args()
    if args.database_url == f"sqlite:///{SCRATCH}":
        SCRATCH.unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "baloo_site.settings")

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if not args.database_url.startswith("sqlite"):
        call_command("flush", interactive=False, verbosity=0)  # a scratch database: emptied each run

    from activities.keys import email_key
    from activities.services import activities_ingest
    from contributors.models import Identity, MergeSuggestion, Person
    from contributors.placeholders import counted
    from contributors.suggestions import suggestions_refresh

    rows = commits(args.repo)
    records = (
        {
            "source": "git-bench",
            "external_id": sha,
            "type": "git.commit.authored",
            "occurred_at": date,
            "actor": {"email": email, "name": name} if email.count("@") == 1 else {"username": email or name, "name": name},
        }
        for sha, name, email, date, _n, _e in rows
    )
    result = activities_ingest(records=enumerate(records), create_sources=True)
    suggestions_refresh()

    # The list's answer: each address as Baloo keys it → the canonical address most of its commits map to.
    # (Old histories converted from other systems have "addresses" that are not: they were imported
    # as user names, and are looked up the same way.)
    canonical_of: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for _sha, name, email, _date, mapped_name, mapped_email in rows:
        key = email_key(email) if email.count("@") == 1 else ("username", (email or name).strip().casefold())
        # Without an address, the list can only have fixed the name: that is the human.
        canonical = mapped_email.lower() if "@" in mapped_email else f"name:{mapped_name.casefold()}"
        canonical_of[(key[0], key[-1])][canonical] += 1
    human_of_person: dict[int, Counter] = defaultdict(Counter)
    for person_id, kind, value in Identity.objects.filter(counted("person"), kind__in=["email", "username"]).values_list(
        "person_id", "kind", "value"
    ):
        human_of_person[person_id].update(canonical_of.get((kind, value), Counter()))
    human = {person_id: votes.most_common(1)[0][0] for person_id, votes in human_of_person.items() if votes}
    persons_of_human: dict[str, list[int]] = defaultdict(list)
    for person_id, canonical in human.items():
        persons_of_human[canonical].append(person_id)
    truth = {frozenset(pair) for persons in persons_of_human.values() for pair in combinations(sorted(persons), 2)}

    suggested: dict[frozenset, tuple[float, str]] = {}
    for a, b, score, reason in MergeSuggestion.objects.values_list(
        "identity_a__person_id", "identity_b__person_id", "score", "reason"
    ):
        suggested[frozenset((a, b))] = (score, reason)
    confirmed = truth & set(suggested)

    # Transitively: persons joined by chains of suggestions.
    parent: dict[int, int] = {}

    def find(node: int) -> int:
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    for pair in suggested:
        a, b = sorted(pair)
        parent[find(b)] = find(a)
    joined = {pair for pair in truth if find(min(pair)) == find(max(pair))}
    groups: dict[int, list[int]] = defaultdict(list)
    for person_id in list(parent):
        groups[find(person_id)].append(person_id)
    implied = {frozenset(pair) for members in groups.values() for pair in combinations(sorted(members), 2)}

    by_score = {}
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.9):
        chosen = {pair for pair, (score, _r) in suggested.items() if score >= threshold}
        by_score[f">={threshold}"] = {
            "suggestions": len(chosen),
            "recall": round(len(chosen & truth) / len(truth), 3) if truth else None,
            "precision": round(len(chosen & truth) / len(chosen), 3) if chosen else None,
        }
    print(
        json.dumps(
            {
                "repo": Path(args.repo).resolve().name if Path(args.repo).name != "repo" else Path(args.repo).resolve().parent.name,
                "commits": len(rows),
                "rejected_records": len(result.rejected),
                "persons_by_automatic_rules": Person.objects.filter(counted("pk")).count(),
                "humans_by_list": len(persons_of_human),
                "alias_pairs": len(truth),
                "suggestions": len(suggested),
                "confirmed": len(confirmed),
                "recall": round(len(confirmed) / len(truth), 3) if truth else None,
                "precision": round(len(confirmed) / len(suggested), 3) if suggested else None,
                "transitive_recall": round(len(joined) / len(truth), 3) if truth else None,
                "transitive_precision": round(len(implied & truth) / len(implied), 3) if implied else None,
                "by_score": by_score,
                "by_reason": _by_reason(suggested, truth),
            },
            indent=2,
        )
    )
    if args.show:
        describe = _describer(Identity)
        print("\n# suggested, not confirmed by the list")
        for pair in sorted(set(suggested) - truth, key=lambda p: -suggested[p][0])[: args.show]:
            print(f"{suggested[pair][0]:.2f} {suggested[pair][1][:90]} :: " + " | ".join(describe(p) for p in sorted(pair)))
        print("\n# alias pairs not suggested")
        for pair in sorted(truth - set(suggested), key=sorted)[: args.show]:
            print(" | ".join(describe(p) for p in sorted(pair)))


def _by_reason(suggested: dict, truth: set) -> dict:
    """Confirmed / made, per the first (strongest) signal of each suggestion's reason."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for pair, (_score, reason) in suggested.items():
        kind = reason.split(";")[0].split(":")[0].split("“")[0].strip()
        counts[kind][1] += 1
        counts[kind][0] += pair in truth
    return {kind: f"{ok}/{made}" for kind, (ok, made) in sorted(counts.items(), key=lambda item: -item[1][1])}


def _describer(identity_model):
    def describe(person_id: int) -> str:
        rows = identity_model.objects.filter(person_id=person_id).values_list("value", "name")
        return ", ".join(f"{value} ({name})" if name else value for value, name in rows)

    return describe


if __name__ == "__main__":
    main()
