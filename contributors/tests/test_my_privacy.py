"""Privacy controls: my data as a file (exactly mine), being forgotten, an opt-in public profile."""

import html
import json

import pytest
from django.urls import reverse

from activities.models import Activity
from activities.tests.factories import SourceFactory
from community.tests.factories import UserFactory, ingest, record
from contributors.models import AccountClaim, EmailClaim, Identity, IdentityAudit, Person
from conversion_points.tests.factories import AreaFactory, ConversionPointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def ann():
    sumo = SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    SourceFactory(slug="github", kind="github", name="GitHub")
    ConversionPointFactory(
        slug="answer", area=AreaFactory(slug="support", name="Support"), source=sumo, types=["sumo.answer.posted"]
    )
    ingest(
        record(
            "sumo",
            {"email": "ann@example.org", "username": "annie"},
            "sumo.answer.posted",
            "2025-01-05T10:00:00Z",
            external_id="a1",
            title="Ann answers",
        ),
        record(
            "github",
            {"email": "ann@example.org", "username": "ann-gh", "name": "Ann Example"},
            "github.comment.created",
            external_id="a2",
            data={"body": "LGTM"},
        ),
        # Bob answered the same question, on the same day, in the same forum.
        record(
            "sumo",
            {"email": "bob@example.org", "username": "bobby"},
            "sumo.answer.posted",
            "2025-01-05T10:00:00Z",
            external_id="b1",
            title="Bob answers",
        ),
        record(
            "github",
            {"email": "bob@example.org", "username": "bob-gh"},
            "github.comment.created",
            external_id="b2",
            data={"body": "+1"},
        ),
    )
    user = UserFactory(email="ann@example.org")
    bob = UserFactory(email="bob@example.org")
    AccountClaim.objects.create(user=user, source=sumo, username="ann-old")
    AccountClaim.objects.create(user=bob, source=sumo, username="bob-old")
    EmailClaim.objects.create(user=bob, email="bob@home.test", nonce="x")
    return user


def test_my_data_holds_exactly_my_data_and_nobody_elses(client, ann):
    client.force_login(ann)
    response = client.get(reverse("contributors:my-data"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    text = response.content.decode()
    data = json.loads(text)
    assert data["sign_in"]["email"] == "ann@example.org"
    assert {(i["kind"], i["value"]) for i in data["identities"]} == {
        ("email", "ann@example.org"),
        ("username", "annie"),
        ("username", "ann-gh"),
    }
    assert {a["external_id"] for a in data["activities"]} == {"a1", "a2"}
    assert {a["external_id"] for a in data["activities"]} == set(
        Activity.objects.filter(identity__person__identities__value="ann@example.org").values_list(
            "external_id", flat=True
        )
    )
    assert next(a for a in data["activities"] if a["external_id"] == "a2")["data"] == {"body": "LGTM"}
    assert [c["username"] for c in data["account_claims"]] == ["ann-old"]
    assert data["email_claims"] == []
    for someone_elses in ("bob", "Bob answers", "+1", "b1", "b2"):
        assert someone_elses not in text


def test_my_data_without_a_record_holds_my_sign_in_only(client, ann):
    client.force_login(UserFactory(email="carol@example.org"))
    data = client.get(reverse("contributors:my-data")).json()
    assert data["person"] is None and data["activities"] == [] and data["identities"] == []
    assert data["sign_in"]["email"] == "carol@example.org"


def test_forgetting_needs_a_confirmation(client, ann):
    client.force_login(ann)
    page = client.get(reverse("contributors:my-forget"))
    assert page.status_code == 200 and "can't be undone" in html.unescape(page.content.decode())
    unconfirmed = client.post(reverse("contributors:my-forget"), {})
    assert unconfirmed.status_code == 200 and unconfirmed.context["form"].errors
    assert Identity.objects.filter(value="ann@example.org").exists()


def test_forgetting_me_removes_my_identities_and_claims_and_anonymises_my_activities(client, ann):
    client.force_login(ann)
    person_id = Identity.objects.get(value="ann@example.org").person_id
    response = client.post(reverse("contributors:my-forget"), {"confirm": "on"})
    assert response.status_code == 200 and response.context["done"]
    assert not Identity.objects.filter(value__in=["ann@example.org", "annie", "ann-gh"]).exists()
    assert not Person.objects.filter(pk=person_id).exists()
    assert not AccountClaim.objects.filter(user=ann).exists()
    anonymous = Activity.objects.filter(external_id__in=["a1", "a2"])
    assert anonymous.count() == 2
    assert all(a.title == "" and a.data == {} and a.url == "" for a in anonymous)
    assert IdentityAudit.objects.filter(action=IdentityAudit.Action.FORGET, person_id=person_id).exists()
    # Bob is untouched.
    assert Identity.objects.filter(value="bob@example.org").exists()
    assert (
        AccountClaim.objects.filter(username="bob-old").exists()
        and EmailClaim.objects.filter(email="bob@home.test").exists()
    )
    assert Activity.objects.get(external_id="b1").title == "Bob answers"
    # Signed in afterwards, Ann finds nothing left.
    assert client.get(reverse("contributors:my-contributions")).context["person"] is None


def test_forgetting_can_delete_the_activities_too(client, ann):
    client.force_login(ann)
    client.post(reverse("contributors:my-forget"), {"confirm": "on", "delete_activities": "on"})
    assert not Activity.objects.filter(external_id__in=["a1", "a2"]).exists()
    assert Activity.objects.filter(external_id__in=["b1", "b2"]).count() == 2


def test_a_public_profile_is_off_until_chosen_and_never_shows_an_email(client, ann):
    person = Identity.objects.get(value="ann@example.org").person
    profile_url = reverse("contributors:profile", args=[person.pk])
    assert client.get(profile_url).status_code == 404

    client.force_login(ann)
    no_name = client.post(reverse("contributors:my-privacy"), {"public": "on", "name": ""})
    assert no_name.status_code == 200 and no_name.context["form"].errors["name"]
    an_address = client.post(reverse("contributors:my-privacy"), {"public": "on", "name": "ann@example.org"})
    assert an_address.context["form"].errors["name"]
    assert (
        client.post(reverse("contributors:my-privacy"), {"public": "on", "name": "Ann the Helpful"}).status_code == 302
    )

    client.logout()
    page = client.get(profile_url).content.decode()
    assert "Ann the Helpful" in page and "Support" in page
    assert "@" not in page.split("<main", 1)[1].split("</main>", 1)[0]
    assert "annie" not in page and "ann-gh" not in page

    person.refresh_from_db()
    person.profile_shows_usernames = True
    person.save(update_fields=["profile_shows_usernames"])
    page = client.get(profile_url).content.decode()
    assert "annie" in page and "ann-gh" in page and "ann@example.org" not in page


def test_the_privacy_page_offers_every_choice(client, ann):
    client.force_login(ann)
    page = client.get(reverse("contributors:my-privacy")).content.decode()
    for url in (reverse("contributors:my-data"), reverse("contributors:my-forget"), reverse("community:privacy")):
        assert url in page


def test_a_public_profile_never_shows_a_user_name_that_is_an_address(client, ann):
    """SUMO user names (and pushed or imported ones) can be addresses: "show my user names" leaves those out."""
    for username in ("ann.private@corp.test", "ann.home＠corp．test", "ann (at) corp.test"):
        ingest(record("sumo", {"email": "ann@example.org", "username": username}, "sumo.question.asked", title="t"))
    client.force_login(ann)
    client.post(reverse("contributors:my-privacy"), {"public": "on", "name": "Ann", "show_usernames": "on"})
    person = Identity.objects.get(value="ann@example.org").person
    client.logout()

    page = html.unescape(client.get(reverse("contributors:profile", args=[person.pk])).content.decode())

    assert "annie" in page
    assert "corp" not in page and "＠" not in page and "@" not in page.split("<main", 1)[1].split("</main>", 1)[0]


@pytest.mark.parametrize(
    "name", ["ann＠example．org", "ann﹫example.org", "ann@\u200bexample.org", "ann (at) example.org", "ann [at] example [dot] org"]
)
def test_a_public_name_that_is_an_address_in_disguise_is_refused(client, ann, name):
    client.force_login(ann)
    response = client.post(reverse("contributors:my-privacy"), {"public": "on", "name": name})

    assert response.status_code == 200 and response.context["form"].errors["name"]
    person = Identity.objects.get(value="ann@example.org").person
    assert not person.profile_public and person.profile_name == ""


def test_a_public_name_that_is_an_address_from_before_the_check_shows_no_profile(client, ann):
    person = Identity.objects.get(value="ann@example.org").person
    person.profile_public, person.profile_name = True, "ann＠example．org"
    person.save(update_fields=["profile_public", "profile_name"])

    assert client.get(reverse("contributors:profile", args=[person.pk])).status_code == 404
