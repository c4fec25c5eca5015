"""Replay of a git history as import records (`git.commit.authored`, CONTRACTS §1): noreply addresses,
addresses that cannot receive mail, one address in two cases, accented names. Only exact keys join."""

import pytest

from activities.models import Activity, Source
from activities.services import activities_ingest

pytestmark = pytest.mark.django_db


def commit(sha: str, email: str, name: str, when: str) -> dict:
    return {"source": "git-app", "external_id": f"commit:{sha}", "type": "git.commit.authored", "occurred_at": when,
            "actor": {"email": email, "name": name}, "container": "example/app", "url": f"https://git.example/{sha}"}


def person(sha: str) -> int:
    return Activity.objects.get(external_id=f"commit:{sha}").identity.person_id


def test_a_git_history_joins_only_on_exact_keys():
    Source.objects.create(slug="git-app", kind="git", name="git", schedule_minutes=0)
    records = [
        commit("a1", "583231+Ann@users.noreply.github.com", "Ann Example", "2019-03-01T10:00:00+01:00"),
        commit("a2", "ann@users.noreply.github.com", "ann", "2019-03-02T10:00:00-08:00"),
        commit("a3", "990001+ann@users.noreply.github.com", "Ann Other", "2020-01-01T00:00:00Z"),  # the login reused
        commit("b1", "Bjorn@Example.ORG", "Bjørn Ångström", "2019-04-01T10:00:00+05:30"),
        commit("b2", "bjorn@example.org", "Bjorn Angstrom", "2019-04-02T10:00:00Z"),
        commit("c1", "root@localhost", "Cy", "2019-05-01T10:00:00Z"),
        commit("d1", "dev@laptop.(none)", "Dee", "2019-05-02T10:00:00Z"),
        commit("e1", "(none)", "Eve", "2019-05-03T10:00:00Z"),
        commit("f1", "fay@example.org", "Bjørn Ångström", "2019-05-04T10:00:00Z"),  # a name is never a key
    ]

    first = activities_ingest(records=enumerate(records))
    again = activities_ingest(records=enumerate(records))

    assert (first.created, [r.position for r in first.rejected]) == (8, [7])
    assert (again.created, again.duplicate) == (0, 8)
    assert person("a1") == person("a2")
    assert person("a3") != person("a1")
    assert person("b1") == person("b2")
    assert len({person(sha) for sha in ("a1", "a3", "b1", "c1", "d1", "f1")}) == 6
    assert Activity.objects.get(external_id="commit:b1").occurred_at.isoformat() == "2019-04-01T04:30:00+00:00"
