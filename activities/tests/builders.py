"""Build API items shaped like the documented samples in fixtures/, with the ids and times a test needs."""

import copy
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from .standin import FakeBugzilla, FakeGitHub, FakeKitsune, ts

FIXTURES = Path(__file__).parent / "fixtures"
START = datetime(2024, 1, 1, tzinfo=UTC)


@cache
def _sample(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def sample(name: str) -> dict:
    return copy.deepcopy(_sample(name))


def at(minutes: int) -> str:
    return ts(START + timedelta(minutes=minutes))


def gh_user(login: str, uid: int, kind: str = "User") -> dict:
    return {"login": login, "id": uid, "node_id": f"U_{uid}", "type": kind, "site_admin": False}


def gh_issue(repo: str, number: int, *, user: dict, created: str, updated: str | None = None, pull: bool = False,
             merged_at: str | None = None) -> dict:
    item = sample("github_pull_issue" if pull else "github_issue")
    kind = "pull" if pull else "issues"
    item.update(id=number * 10 + 7, number=number, user=user, created_at=created, updated_at=updated or created,
                html_url=f"https://github.com/{repo}/{kind}/{number}", title=f"Item {number}")
    if pull:
        item["pull_request"]["merged_at"] = merged_at
        item["pull_request"]["html_url"] = item["html_url"]
    return item


def gh_pull(repo: str, number: int, *, user: dict | None, created: str, updated: str | None = None,
            merged_at: str | None = None, state: str = "closed") -> dict:
    """An item of the pulls listing (`GET /repos/{owner}/{repo}/pulls`), which always carries `merged_at`."""
    item = sample("github_pull")
    item.update(id=number * 10 + 8, number=number, user=user, created_at=created, updated_at=updated or created,
                closed_at=(updated or created) if state == "closed" else None, merged_at=merged_at, state=state,
                html_url=f"https://github.com/{repo}/pull/{number}", title=f"Item {number}")
    return item


def gh_comment(repo: str, comment_id: int, *, user: dict, created: str, updated: str | None = None) -> dict:
    item = sample("github_comment")
    item.update(id=comment_id, user=user, created_at=created, updated_at=updated or created,
                html_url=f"https://github.com/{repo}/issues/1#issuecomment-{comment_id}")
    return item


def gh_review(review_id: int, *, user: dict, submitted: str | None, state: str = "APPROVED") -> dict:
    item = sample("github_review")
    item.update(id=review_id, user=user, submitted_at=submitted, state=state)
    return item


def gh_commit(repo: str, sha: str, *, user: dict | None, email: str, name: str, date: str) -> dict:
    item = sample("github_commit")
    item.update(sha=sha, author=user, committer=user, html_url=f"https://github.com/{repo}/commit/{sha}")
    item["commit"]["author"] = {"name": name, "email": email, "date": date}
    item["commit"]["committer"] = {"name": name, "email": email, "date": date}
    return item


def github_repo(api: FakeGitHub, repo: str, *, issues: int, pulls: int, comments: int, commits: int, offset: int = 0) -> Counter:
    """Fill `repo` with a community's worth of work; return the activities a sync must find, by type."""
    expected: Counter = Counter()
    data = api.repo(repo)
    people = [gh_user(f"user{index}", 10_000 + index) for index in range(40)]
    minute = offset
    for number in range(1, issues + pulls + 1):
        minute += 1
        pull = number > issues
        merged = pull and number % 2 == 0
        item = gh_issue(repo, number, user=people[number % 40], created=at(minute), updated=at(minute + 1),
                        pull=pull, merged_at=at(minute + 1) if merged else None)
        data["issues"].append(item)
        if pull:
            data["pulls"].append(gh_pull(repo, number, user=people[number % 40], created=at(minute), updated=at(minute + 1),
                                         merged_at=at(minute + 1) if merged else None))
        expected["github.pull_request.opened" if pull else "github.issue.opened"] += 1
        if merged:
            expected["github.pull_request.merged"] += 1
        if pull:
            data["reviews"][number] = [gh_review(number * 100 + 1, user=people[(number + 1) % 40], submitted=at(minute)),
                                       gh_review(number * 100 + 2, user=people[(number + 2) % 40], submitted=None, state="PENDING")]
            expected["github.review.submitted"] += 1
    for comment_id in range(1, comments + 1):
        data["comments"].append(gh_comment(repo, offset * 1000 + comment_id, user=people[comment_id % 40], created=at(offset + comment_id)))
        expected["github.comment.created"] += 1
    for index in range(commits):
        sha = f"{offset:08x}{index:032x}"
        data["commits"].append(gh_commit(repo, sha, user=people[index % 40], email=f"user{index % 40}@example.org",
                                         name=f"User {index % 40}", date=at(offset + index)))
        expected["github.commit.authored"] += 1
    return expected


def bz_bug(bug_id: int, *, created: str, changed: str, fixed: bool = False, product: str = "Firefox", component: str = "General") -> dict:
    item = sample("bugzilla_bug")
    item.update(id=bug_id, creation_time=created, last_change_time=changed, product=product, component=component,
                summary=f"Bug {bug_id}")
    if not fixed:
        item.update(status="NEW", resolution="", cf_last_resolved=None)
    else:
        item["cf_last_resolved"] = changed.replace("T", " ").rstrip("Z")
    return item


def bz_comment(comment_id: int, bug_id: int, count: int, *, creator: str, when: str) -> dict:
    item = sample("bugzilla_comment")
    item.update(id=comment_id, bug_id=bug_id, count=count, creator=creator, author=creator, time=when, creation_time=when)
    return item


def bz_attachment(attachment_id: int, bug_id: int, *, creator: str, when: str) -> dict:
    item = sample("bugzilla_attachment")
    item.update(id=attachment_id, bug_id=bug_id, creator=creator, creation_time=when, last_change_time=when)
    return item


def bugzilla_bugs(api: FakeBugzilla, count: int, *, start_id: int = 1) -> Counter:
    expected: Counter = Counter()
    for bug_id in range(start_id, start_id + count):
        fixed = bug_id % 3 == 0
        api.bugs.append(bz_bug(bug_id, created=at(bug_id), changed=at(bug_id + 5), fixed=fixed,
                               component="General" if bug_id % 2 else "Downloads Panel"))
        expected["bugzilla.bug.filed"] += 1
        expected["bugzilla.bug.fixed"] += fixed
        api.comments[bug_id] = [bz_comment(bug_id * 10, bug_id, 0, creator="eve@example.net", when=at(bug_id)),
                                bz_comment(bug_id * 10 + 1, bug_id, 1, creator=f"commenter{bug_id % 7}@example.org", when=at(bug_id + 1))]
        expected["bugzilla.comment.created"] += 1
        if fixed:
            api.attachments[bug_id] = [bz_attachment(bug_id * 10, bug_id, creator="fay@example.com", when=at(bug_id + 2))]
            expected["bugzilla.attachment.created"] += 1
    return expected


def sumo_question(question_id: int, *, user: str, created: str, updated: str | None = None, product: str = "firefox",
                  locale: str = "en-US", solution: int | None = None, solver: str | None = None) -> dict:
    item = sample("sumo_question")
    item.update(id=question_id, created=created, updated=updated or created, product=product, locale=locale,
                title=f"Question {question_id}", creator={"username": user, "display_name": user.title(), "avatar": ""},
                solution=solution, is_solved=solution is not None,
                solved_by={"username": solver, "display_name": solver.title(), "avatar": ""} if solver else None)
    return item


def sumo_answer(answer_id: int, question_id: int, *, user: str, created: str) -> dict:
    item = sample("sumo_answer")
    item.update(id=answer_id, question=question_id, created=created, updated=created,
                creator={"username": user, "display_name": user.title(), "avatar": ""})
    return item


def kitsune_data(api: FakeKitsune, questions: int, *, products: tuple[str, ...] = ("firefox", "thunderbird")) -> Counter:
    expected: Counter = Counter()
    answer_id = 0
    for question_id in range(1, questions + 1):
        answer_id += 1
        solved = question_id % 4 == 0
        api.questions.append(sumo_question(question_id, user=f"asker{question_id % 9}", created=at(question_id),
                                           updated=at(question_id + 3), product=products[question_id % len(products)],
                                           locale="en-US" if question_id % 5 else "de",
                                           solution=answer_id if solved else None, solver=f"helper{question_id % 6}" if solved else None))
        api.answers.append(sumo_answer(answer_id, question_id, user=f"helper{question_id % 6}", created=at(question_id + 2)))
        expected["sumo.question.asked"] += 1
        expected["sumo.answer.posted"] += 1
        expected["sumo.answer.solution"] += solved
    return expected
