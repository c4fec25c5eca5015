"""Who may link accounts: a push token holder can type anything, so what they push never joins an
e-mail to a person who already exists elsewhere (issue 15, finding 3). Written as the attacker."""

import json

import orjson
import pytest
from django.core.management import call_command
from django.db.models import Q
from django.urls import reverse

from activities.actors import Actor
from activities.keys import email_key
from activities.models import Activity, Source, SyncRun
from activities.sync import source_sync
from activities.tests.builders import github_repo
from activities.tests.standin import FakeGitHub, Server
from activities.tokens import source_token_create
from community.tests.factories import UserFactory, ingest, record
from contributors.models import Identity, MergeSuggestion, Person
from contributors.services import UNLINKED_REASON, identities_resolve

pytestmark = pytest.mark.django_db
PUSH = "/api/v1/activities/"
VICTIM, ATTACKER = "victim@example.org", "mallory@example.net"


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def github():
    return Source.objects.create(slug="github", kind="github", name="GitHub")


@pytest.fixture
def victim(github):
    """Somebody Baloo knows from GitHub itself: her commit e-mail and her login, with a secret title."""
    ingest(
        record(
            "github",
            {"email": VICTIM, "username": "victoria", "uid": "583231", "name": "Victoria Secretname"},
            "github.commit.authored",
            external_id="commit:v1",
            title="Victoria's private fix",
        )
    )
    return Identity.objects.get(value=VICTIM).person


@pytest.fixture
def reps_secret():
    source = Source.objects.create(slug="reps", kind="reps", name="Reps")
    return source_token_create(source=source, name="somebody's script")[1]


def pushed(external_id: str, actor: dict) -> dict:
    return {"source": "reps", "external_id": external_id, "type": "reps.event.organized",
            "occurred_at": "2025-05-01T12:00:00Z", "actor": actor}


def push(client, secret: str, records: list[dict]) -> dict:
    response = client.post(PUSH, data=orjson.dumps(records), content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200, response.content
    assert not response.json()["rejected"]
    return response.json()


def person_of(value: str) -> int:
    return Identity.objects.get(value=value).person_id


TAKEOVER = [pushed("e1", {"email": VICTIM, "username": "x"}), pushed("e2", {"email": ATTACKER, "username": "x"})]


@pytest.mark.parametrize("order", ["victim first", "attacker first"])
@pytest.mark.parametrize("batches", [1, 2])
def test_a_token_holder_cannot_join_their_address_to_someone_elses_record(client, victim, reps_secret, order, batches):
    records = TAKEOVER if order == "victim first" else TAKEOVER[::-1]
    for part in ([records] if batches == 1 else [records[:1], records[1:]]):
        push(client, reps_secret, part)

    assert person_of(VICTIM) == victim.pk
    assert person_of(ATTACKER) != victim.pk
    assert set(Identity.objects.filter(person=victim).values_list("value", flat=True)) == {VICTIM, "victoria", "583231"}

    # Signed in with the address they pushed, the attacker sees nothing of hers.
    client.force_login(UserFactory(email=ATTACKER))
    page = client.get(reverse("contributors:my-contributions")).content.decode()
    export = client.get(reverse("contributors:my-data")).content.decode()
    for secret in ("Victoria", "victoria", VICTIM, "583231", "commit:v1"):
        assert secret not in page and secret not in export

    # The link the record made is left to a human.
    suggestion = MergeSuggestion.objects.get(Q(identity_a__person=victim) | Q(identity_b__person=victim))
    assert suggestion.reason == UNLINKED_REASON
    assert suggestion.status == MergeSuggestion.Status.OPEN
    assert {suggestion.identity_a.value, suggestion.identity_b.value} == {VICTIM, "x"}


def test_a_record_of_new_keys_only_is_not_linked_either(client, github, reps_secret):
    # Pre-claiming: a later GitHub sync would join her real accounts to whatever the push joined.
    push(client, reps_secret, [pushed("e1", {"email": ATTACKER, "uid": "583231"})])
    ingest(record("github", {"email": VICTIM, "uid": "583231"}, "github.commit.authored", external_id="commit:v1"))

    assert person_of(ATTACKER) != person_of(VICTIM)
    assert MergeSuggestion.objects.filter(reason=UNLINKED_REASON).count() == 1


def test_what_was_pushed_is_still_counted_on_the_record_it_names(client, victim, reps_secret):
    push(client, reps_secret, [pushed("e1", {"email": VICTIM})])
    assert Activity.objects.get(external_id="e1").identity.person_id == victim.pk


def test_a_token_holder_cannot_mark_someone_known_as_a_bot(client, victim, reps_secret):
    push(client, reps_secret, [pushed("e1", {"email": VICTIM, "bot": True}), pushed("e2", {"username": "new-bot", "bot": True})])
    assert Person.objects.get(pk=victim.pk).is_bot is False
    assert Identity.objects.get(value="new-bot").person.is_bot is True


def test_a_source_an_administrator_trusts_links_what_it_pushes(client, victim, reps_secret):
    Source.objects.filter(slug="reps").update(links_accounts=True)
    push(client, reps_secret, [pushed("e1", {"email": VICTIM, "username": "vic-reps"})])
    assert person_of("vic-reps") == victim.pk
    assert not MergeSuggestion.objects.exists()


def test_a_pushed_github_noreply_address_still_joins_the_account_it_names(client, victim, github, reps_secret):
    # Derived, not typed: GitHub routes 583231+…@users.noreply.github.com to account 583231 only.
    push(client, reps_secret, [pushed("e1", {"email": "583231+mallory@users.noreply.github.com"})])
    assert person_of("583231+mallory@users.noreply.github.com") == victim.pk
    # …but the login part is only what was typed: it joins nobody.
    assert not Identity.objects.filter(value="mallory").exists()


def test_github_commit_email_and_login_still_link_through_an_import(tmp_path, github):
    path = tmp_path / "commits.jsonl"
    path.write_text(json.dumps(record("github", {"email": "ann@example.org", "username": "ann-gh"},
                                      "github.commit.authored", external_id="commit:a1")) + "\n")
    call_command("import_activities", str(path))
    assert person_of("ann@example.org") == person_of("ann-gh")


def test_github_commit_email_and_login_still_link_through_a_sync():
    # The source's push trust is off (the default): what its own sync reads links all the same.
    api = FakeGitHub()
    github_repo(api, "example/app", issues=1, pulls=0, comments=0, commits=2)
    with Server(api) as url:
        source = Source.objects.create(slug="gh", kind="github", name="GitHub", base_url=url,
                                       options={"repos": ["example/app"], "backoff_seconds": 0})
        assert source_sync(source=source).status == SyncRun.Status.SUCCEEDED
    assert source.links_accounts is False
    assert person_of("user1@example.org") == person_of("user1")


def test_the_same_keys_resolve_by_their_trust_in_one_call(github):
    keys = (("username", "github", "ann-gh"), email_key("ann@example.org"))
    untrusted = Actor(keys=keys, name="", source_id=None, is_bot=False, links_accounts=False)
    trusted = Actor(keys=keys, name="", source_id=None, is_bot=False)
    identities_resolve(actors=[untrusted])
    assert person_of("ann@example.org") != person_of("ann-gh")
    identities_resolve(actors=[untrusted, trusted])
    assert person_of("ann@example.org") == person_of("ann-gh")
