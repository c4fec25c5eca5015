"""E-mails compare case-insensitively, letter by letter: `ANNA.GROẞ@` is `anna.groß@`, but never
`anna.gross@`. Case folding would make `ß` `ss` (and `ς` `σ`), so the owner of
`anna.gross@straße.example` — another domain, or `groß@` another mailbox — would open the record of
`anna.gross@strasse.example`, and ingestion would join the two people as one address."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from accounts.auth import is_known_contributor
from activities.keys import EMAIL, email_key
from activities.records import record_parse
from activities.tests.factories import SourceFactory
from community.tests.factories import ingest, record
from contributors.models import Identity, IdentityExclusion, Person
from contributors.selectors import person_for_user

ANNA = "anna.gross@strasse.example"
SHARP_S_MAILBOXES = [
    "anna.groß@strasse.example",  # another mailbox (an internationalised local part)
    "anna.gross@straße.example",  # another domain: xn--strae-oqa.example
    "anna.groẞ@strasse.example",  # the capital sharp s
]


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("ANNA.GROẞ@STRASSE.EXAMPLE", "anna.groß@strasse.example"),
        ("Anna.Gross@Straße.Example", "anna.gross@straße.example"),
        ("ΟΔΟΣ@ΣΑΣ.GR", "οδοσ@σασ.gr"),  # Σ is σ wherever it stands, as IDNA maps it
        ("οδος@σας.gr", "οδος@σας.gr"),  # ς stays ς: IDNA2008 makes it another domain, like ß
        ("İNCİ@ÖRNEK.TR", "i̇nci̇@örnek.tr"),  # the dotted capital I keeps its dot
        ("ınci@örnek.tr", "ınci@örnek.tr"),  # the dotless i stays dotless
        ("oﬀice@example.org", "office@example.org"),  # a ligature is its letters (NFKC, as before)
    ],
)
def test_an_email_key_is_in_lower_case_letter_by_letter(written: str, key: str) -> None:
    assert email_key(written) == (EMAIL, "", key)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("anna.groß@strasse.example", ANNA),
        ("anna.gross@straße.example", ANNA),
        ("anna.groẞ@strasse.example", ANNA),
        ("οδος@example.gr", "οδοσ@example.gr"),
    ],
)
def test_addresses_that_only_case_folding_makes_equal_have_two_keys(one: str, other: str) -> None:
    assert email_key(one) != email_key(other)


@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_a_plain_ascii_key_is_what_it_always_was(text: str) -> None:
    """Stored keys of plain ASCII addresses, nearly all of them, need no migration."""
    assert email_key(text)[2] == text.strip().casefold()


def test_the_import_stores_an_address_letter_by_letter() -> None:
    line = {
        "source": "github", "external_id": "c1", "type": "github.commit.authored", "occurred_at": "2025-03-01T10:00:00Z",
        "actor": {"email": "Anna.Groẞ@Straße.Example"},
    }

    assert record_parse(line, now=timezone.now()).email == "anna.groß@straße.example"


@pytest.mark.django_db
def test_ingestion_keeps_a_sharp_s_address_apart_from_its_ss_spelling() -> None:
    SourceFactory(slug="github", kind="github", name="GitHub")
    ingest(*(record("github", {"email": address}, "github.commit.authored") for address in [ANNA, *SHARP_S_MAILBOXES]))

    assert Person.objects.count() == 3
    assert set(Identity.objects.values_list("value", flat=True)) == {
        ANNA, "anna.groß@strasse.example", "anna.gross@straße.example"
    }


@pytest.mark.django_db
@pytest.mark.parametrize("mailbox", SHARP_S_MAILBOXES)
def test_a_sharp_s_mailbox_signed_in_never_opens_the_ss_address_record(client: Client, mailbox: str) -> None:
    SourceFactory(slug="github", kind="github", name="GitHub")
    ingest(record("github", {"email": ANNA, "name": "Anna Gross"}, "github.commit.authored", title="Anna's private fix"))
    someone = get_user_model().objects.create_user("someone", mailbox)
    client.force_login(someone)

    assert person_for_user(user=someone) is None
    assert "Anna&#x27;s private fix" not in client.get("/me/").content.decode()
    assert not is_known_contributor(mailbox)


@pytest.mark.django_db
def test_an_exclusion_written_in_capitals_excludes_its_address_at_sign_in() -> None:
    Identity.objects.create(person=Person.objects.create(display_name="Änn"), kind=EMAIL, value="änn@example.org")
    IdentityExclusion.objects.create(kind=EMAIL, value="ÄNN@Example.org", note="shared")

    assert not is_known_contributor("änn@example.org")


@pytest.mark.django_db
def test_staff_domains_compare_letter_by_letter(settings) -> None:
    settings.STAFF_EMAIL_DOMAINS = ["Strasse.Example"]
    SourceFactory(slug="github", kind="github", name="GitHub")
    ingest(record("github", {"email": ANNA}, "github.commit.authored"), record("github", {"email": "mallory@straße.example"}, "github.commit.authored"))

    assert Person.objects.get(identities__value=ANNA).staff_periods.exists()
    assert not Person.objects.get(identities__value="mallory@straße.example").staff_periods.exists()
