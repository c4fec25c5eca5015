"""An e-mail written with full-width letters, zero-width characters or bidi controls is the plain
address: one identity wherever it comes from (ingestion, the people directory, claims), and an
address of nothing but invisible characters is no address."""

import json
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from hypothesis import given
from hypothesis import strategies as st

from activities.keys import EMAIL, email_key
from activities.tests.factories import SourceFactory
from community.tests.factories import UserFactory, ingest, record
from contributors.claims import ClaimError, email_claim_start
from contributors.models import EmailClaim, Identity, Person

LOOK_ALIKES = [
    "ＡＮＮ＠ＥＸＡＭＰＬＥ．ＯＲＧ",  # full width
    "ann\u200b@example.org",  # zero-width space
    "an\u200dn@exa\u2060mple.org",  # zero-width joiner, word joiner
    "\u202eann@example.org\u202c",  # right-to-left override … pop
    "\u2066ann@example.org\u2069\u200e",  # isolate, left-to-right mark
    "\ufeffann@example.org",  # a byte order mark read as text
    "ann\ufe0f@example.org\u034f",  # a variation selector, the combining grapheme joiner
    "\u3164ann@\uffa0example.org\U000e0101",  # Hangul fillers, an ideographic variation selector
    "ann@example.org\u00ad",  # a soft hyphen
]


@pytest.mark.parametrize("written", LOOK_ALIKES)
def test_a_look_alike_has_the_plain_address_key(written):
    assert email_key(written) == (EMAIL, "", "ann@example.org")


def test_plain_ascii_is_only_trimmed_and_case_folded():
    assert email_key("  Ann@Example.ORG\n") == (EMAIL, "", "ann@example.org")


@given(st.text(max_size=20))
def test_a_key_is_its_own_key(text):
    """Normalising twice changes nothing, so a stored key is found again by its own value."""
    value = email_key(text)[2]
    assert email_key(value)[2] == value


@pytest.mark.django_db
def test_every_way_in_finds_one_person_for_the_look_alikes(tmp_path):
    SourceFactory(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    ingest(*(record("bugzilla", {"email": written}, "bugzilla.bug.filed") for written in ["ann@example.org", *LOOK_ALIKES]))
    assert list(Identity.objects.filter(kind=EMAIL).values_list("value", flat=True)) == ["ann@example.org"]

    path = tmp_path / "directory.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in [
        {"id": "E1", "name": "Ann", "emails": ["ＡＮＮ＠example.org", "ann@corp.example"], "staff": True},
        {"id": "E2", "name": "Nobody", "emails": ["\u200b\u202e"]},
        {"id": "E3", "name": "Nobody", "emails": ["\u200b@\u200b"]},
    ]))
    out, err = StringIO(), StringIO()
    call_command("import_people", str(path), stdout=out, stderr=err)

    assert "rejected: 1" in out.getvalue() and err.getvalue().startswith("line 2:")
    ann = Person.objects.get(directory_id="E1")
    assert set(ann.identities.filter(kind=EMAIL).values_list("value", flat=True)) == {"ann@example.org", "ann@corp.example"}
    assert Identity.objects.filter(kind=EMAIL).count() == 3  # ann@, ann@corp and "@" (one @, nothing hidden around it)


@pytest.mark.django_db
def test_a_claimed_look_alike_is_mailed_at_the_address_it_stands_for():
    """The link must reach the mailbox whose history the claim joins, not a look-alike mailbox
    (the web form refuses such addresses already; the service holds on its own)."""
    SourceFactory(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    ingest(record("bugzilla", {"email": "ann@home.test"}, "bugzilla.bug.filed"))
    user = UserFactory(email="ann@example.org")

    email_claim_start(user=user, email="ＡＮＮ\u200b@home.test", link_for=lambda token: f"https://baloo.test/{token}")
    with pytest.raises(ClaimError):
        email_claim_start(user=user, email="\u200b\u200c", link_for=lambda token: f"https://baloo.test/{token}")
    with pytest.raises(ClaimError) as own:
        email_claim_start(user=user, email="ann@example.org\u200e", link_for=lambda token: f"https://baloo.test/{token}")

    assert own.value.code == "own"
    assert [message.to for message in mail.outbox] == [["ann@home.test"]]
    assert list(EmailClaim.objects.values_list("email", flat=True)) == ["ann@home.test"]


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in_as", ["ａｎｎ@example.org", "ann\u200b@example.org", "\u202eann@example.org"])
def test_a_look_alike_mailbox_signed_in_never_opens_the_plain_addresss_record(client, signed_in_as):
    """A provider may verify a look-alike mailbox; its owner is not Ann, whatever the keys share."""
    SourceFactory(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    ingest(record("bugzilla", {"email": "ann@example.org", "name": "Victoria Example"}, "bugzilla.bug.filed"))
    client.force_login(UserFactory(username="look-alike", email=signed_in_as))

    mine = client.get("/me/")
    export = client.get("/me/privacy/my-data.json")

    assert mine.status_code == 200 and mine.context["person"] is None
    assert "We haven't met yet" in mine.content.decode()
    assert "bugzilla.bug.filed" not in export.content.decode() and "Victoria" not in export.content.decode()


@pytest.mark.django_db
def test_the_plain_address_still_opens_its_own_record(client):
    SourceFactory(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    ingest(record("bugzilla", {"email": "ann@example.org", "name": "Victoria Example"}, "bugzilla.bug.filed"))
    client.force_login(UserFactory(username="ann", email="Ann@Example.org"))

    assert client.get("/me/").context["record"].activities == 1
