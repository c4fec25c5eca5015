"""Claim my other accounts: an address confirmed by a link, a user name approved by staff; histories become one."""

import html
import re
import socket
import time
from types import SimpleNamespace

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse

from activities.models import Activity
from activities.tests.factories import SourceFactory
from community.tests.factories import UserFactory, ingest, record
from contributors.claims import ClaimError, email_claim_start
from contributors.models import AccountClaim, EmailClaim, Identity, IdentityAudit, Person, PersonMerge
from contributors.services import person_set_flags, person_unmerge

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://testserver(/\S+/)")


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def histories():
    """Ann's work under her sign-in address, and more under her home address, as two persons so far."""
    SourceFactory(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    ingest(
        record("bugzilla", {"email": "ann@example.org"}, "bugzilla.bug.filed", title="Filed at work"),
        record("bugzilla", {"email": "ann@home.test"}, "bugzilla.bug.filed", title="Filed at home"),
        record("bugzilla", {"email": "ann@home.test"}, "bugzilla.comment.created", title="Commented at home"),
        record("sumo", {"username": "annie"}, "sumo.answer.posted", title="Answered on the forum"),
        record("bugzilla", {"email": "bob@example.org"}, "bugzilla.bug.filed", title="Bob's bug"),
    )
    return UserFactory(email="ann@example.org")


def person_of(value: str) -> Person:
    return Identity.objects.get(value=value).person


def ask_for_link(client, email: str):
    return client.post(reverse("contributors:my-accounts"), {"action": "email", "email": email})


def link_in(message) -> str:
    return LINK.search(message.body).group(1)


def test_confirming_a_second_address_makes_the_two_histories_one_and_can_be_undone(client, histories):
    client.force_login(histories)
    assert person_of("ann@example.org") != person_of("ann@home.test")

    response = ask_for_link(client, "Ann@Home.test")
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@home.test"]
    link = link_in(mail.outbox[0])

    confirm_page = client.get(link)
    assert confirm_page.status_code == 200
    assert "ann@home.test" in confirm_page.content.decode()
    assert person_of("ann@example.org") != person_of("ann@home.test"), "a mere visit changes nothing"

    done = client.post(link)
    assert done.status_code == 200
    ann = person_of("ann@example.org")
    assert person_of("ann@home.test") == ann
    claim = EmailClaim.objects.get()
    assert claim.status == EmailClaim.Status.CONFIRMED and claim.merge is not None
    assert IdentityAudit.objects.filter(action=IdentityAudit.Action.MERGE, person_id=ann.pk, by=histories).exists()

    page = html.unescape(client.get(reverse("contributors:my-contributions")).content.decode())
    assert "Filed at work" in page and "Filed at home" in page and "Commented at home" in page
    assert "Bob's bug" not in page

    person_unmerge(merge=claim.merge)
    assert person_of("ann@home.test") != person_of("ann@example.org")


def test_a_used_link_cannot_be_used_again(client, histories):
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    link = link_in(mail.outbox[0])
    assert client.post(link).status_code == 200
    again = client.post(link)
    assert again.status_code == 400
    assert again.context["code"] == "used"
    assert PersonMerge.objects.count() == 1


def test_an_expired_link_does_nothing(client, histories, settings, monkeypatch):
    settings.BALOO_CLAIM_LINK_MAX_AGE_HOURS = 72
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    link = link_in(mail.outbox[0])
    later = time.time() + 73 * 3600
    monkeypatch.setattr("django.core.signing.time", SimpleNamespace(time=lambda: later))
    response = client.post(link)
    assert response.status_code == 400
    assert response.context["code"] == "expired"
    assert person_of("ann@example.org") != person_of("ann@home.test")
    assert EmailClaim.objects.get().status == EmailClaim.Status.SENT


def test_only_the_latest_link_works(client, histories):
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    ask_for_link(client, "ann@home.test")
    first, latest = link_in(mail.outbox[0]), link_in(mail.outbox[1])
    assert client.post(first).context["code"] == "replaced"
    assert client.post(latest).status_code == 200
    assert person_of("ann@home.test") == person_of("ann@example.org")


def test_someone_elses_link_is_refused_and_merges_nobody(client, histories):
    # Eve claims Ann's home address; the link reaches Ann's inbox. Neither Ann signed in as herself,
    # nor anyone without signing in, can use it to join Ann's history to Eve.
    eve = UserFactory(email="eve@example.org")
    client.force_login(eve)
    ask_for_link(client, "ann@home.test")
    link = link_in(mail.outbox[0])

    client.force_login(histories)
    refused = client.post(link)
    assert refused.status_code == 400 and refused.context["code"] == "someone-else"

    client.logout()
    assert "Please sign in first" in client.post(link).content.decode()

    assert PersonMerge.objects.count() == 0
    assert not Identity.objects.filter(value="eve@example.org").exists()
    assert EmailClaim.objects.get().status == EmailClaim.Status.SENT


def test_a_tampered_link_is_refused(client, histories):
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    link = link_in(mail.outbox[0])
    response = client.post(link.replace("/confirm/", "/confirm/x"))
    assert response.status_code == 400 and response.context["code"] == "invalid"


def test_claims_that_make_no_sense_are_explained(client, histories):
    client.force_login(histories)
    own = ask_for_link(client, "ANN@example.org")
    assert own.status_code == 200 and "already yours" in html.unescape(own.content.decode())
    assert not mail.outbox


def test_a_new_address_nobody_used_yet_joins_my_record(client, histories):
    client.force_login(histories)
    ask_for_link(client, "ann@new.test")
    client.post(link_in(mail.outbox[0]))
    assert person_of("ann@new.test") == person_of("ann@example.org")
    ingest(record("bugzilla", {"email": "ann@new.test"}, "bugzilla.bug.filed"))
    assert Activity.objects.filter(identity__person=person_of("ann@example.org")).count() == 2


def test_a_contributor_without_history_can_still_claim(histories):
    carol = UserFactory(email="carol@example.org")
    claim = email_claim_start(
        user=carol, email="ann@home.test", link_for=lambda token: f"http://testserver/me/accounts/confirm/{token}/"
    )
    assert claim.status == EmailClaim.Status.SENT
    with pytest.raises(ClaimError):
        email_claim_start(user=carol, email="not an address", link_for=str)


@pytest.mark.parametrize("address", ["@home.test", "ann@", "ann@@home.test", "ann @home.test"])
def test_an_address_a_link_cannot_be_sent_to_is_refused(histories, address):
    """Stricter than an identity key (`is_email` takes `@home.test`): a claimed address must receive mail."""
    with pytest.raises(ClaimError) as refused:
        email_claim_start(user=histories, email=address, link_for=str)
    assert refused.value.code == "invalid"
    assert not mail.outbox and not EmailClaim.objects.exists()


def test_a_locked_person_waits_for_staff_then_joins(client, admin_client, histories):
    person_set_flags(person=person_of("ann@home.test"), locked=True)
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    client.post(link_in(mail.outbox[0]))
    claim = EmailClaim.objects.get()
    assert claim.status == EmailClaim.Status.REVIEW
    assert person_of("ann@home.test") != person_of("ann@example.org")

    response = admin_client.post(
        reverse("admin:contributors_emailclaim_changelist"), {"action": "approve", ACTION_CHECKBOX_NAME: [claim.pk]}
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == EmailClaim.Status.CONFIRMED
    assert person_of("ann@home.test") == person_of("ann@example.org")


def test_too_many_links_in_a_day_are_refused(client, histories):
    client.force_login(histories)
    for n in range(6):
        ask_for_link(client, f"ann{n}@elsewhere.test")
    assert len(mail.outbox) == 5


def mail_server_down(settings) -> None:
    """A real SMTP backend pointed at a port nobody listens on: every send is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False


def test_a_link_the_mail_server_cannot_take_ends_on_the_page_and_costs_nothing(client, histories, settings, caplog):
    mail_server_down(settings)
    client.force_login(histories)
    client.raise_request_exception = False

    response = ask_for_link(client, "ann@home.test")

    assert response.status_code == 200
    assert "couldn't send the link" in response.context["email_form"].errors["email"][0]
    assert not EmailClaim.objects.exists(), "a link never sent does not count against the day's links"
    failure = next(r for r in caplog.records if r.name == "contributors.claims" and r.levelname == "ERROR")
    assert "ann@home.test" not in failure.getMessage()


def test_a_renewed_link_the_mail_server_cannot_take_leaves_the_earlier_link_working(client, histories, settings):
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    earlier = link_in(mail.outbox[0])
    sent_at = EmailClaim.objects.get().sent_at
    mail_server_down(settings)

    assert ask_for_link(client, "ann@home.test").status_code == 200

    assert EmailClaim.objects.get().sent_at == sent_at
    assert client.post(earlier).status_code == 200
    assert person_of("ann@home.test") == person_of("ann@example.org")


def test_links_the_mail_server_did_not_take_leave_the_days_links_to_ask_for(client, histories, settings):
    client.force_login(histories)
    locmem = settings.EMAIL_BACKEND
    mail_server_down(settings)
    for n in range(6):
        ask_for_link(client, f"ann{n}@elsewhere.test")
    settings.EMAIL_BACKEND = locmem

    assert ask_for_link(client, "ann@home.test").status_code == 302
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("value", ["abc", "", "99999999999999999999", "-1", "1.5", "\x00", "1 OR 1=1"])
def test_cancelling_a_link_with_an_odd_claim_id_says_so(client, histories, value):
    client.force_login(histories)
    client.raise_request_exception = False
    ask_for_link(client, "ann@home.test")

    response = client.post(reverse("contributors:my-accounts"), {"action": "cancel", "claim": value}, follow=True)

    assert response.status_code == 200
    assert "There is no such link waiting to be cancelled." in response.content.decode()
    assert EmailClaim.objects.get().status == EmailClaim.Status.SENT


def test_cancelling_someone_elses_link_does_nothing(client, histories):
    bob = UserFactory(email="bob@example.org")
    claim = EmailClaim.objects.create(user=bob, email="bob@home.test", nonce="x")
    client.force_login(histories)

    response = client.post(reverse("contributors:my-accounts"), {"action": "cancel", "claim": claim.pk})

    assert response.status_code == 302
    claim.refresh_from_db()
    assert claim.status == EmailClaim.Status.SENT


def test_cancelling_my_link_stops_it(client, histories):
    client.force_login(histories)
    ask_for_link(client, "ann@home.test")
    claim = EmailClaim.objects.get()

    client.post(reverse("contributors:my-accounts"), {"action": "cancel", "claim": claim.pk})

    claim.refresh_from_db()
    assert claim.status == EmailClaim.Status.CANCELLED
    assert client.post(link_in(mail.outbox[0])).status_code == 400


def test_the_link_goes_to_the_sites_address_not_the_host_a_request_names(client, histories, settings):
    """With a wildcard in DJANGO_ALLOWED_HOSTS, any host it allows (an attacker's own subdomain)
    could be named in a request: the link in the mail uses BALOO_SITE_URL instead."""
    settings.ALLOWED_HOSTS = [".baloo.example", "testserver"]
    settings.BALOO_SITE_URL = "https://baloo.example"
    client.force_login(histories)

    client.post(
        reverse("contributors:my-accounts"), {"action": "email", "email": "ann@home.test"}, HTTP_HOST="evil.baloo.example"
    )

    body = mail.outbox[0].body
    assert "evil" not in body
    link = re.search(r"https://baloo\.example(/\S+/)", body).group(1)
    assert client.post(link).status_code == 200


# A user name in a system: a staff member decides


def test_an_account_claim_is_approved_by_staff_and_merges_the_histories(client, admin_client, histories):
    sumo = SourceFactory(slug="sumo")
    client.force_login(histories)
    response = client.post(
        reverse("contributors:my-accounts"),
        {"action": "account", "source": sumo.pk, "username": "Annie", "evidence": "My forum profile links to my blog."},
    )
    assert response.status_code == 302
    claim = AccountClaim.objects.get()
    assert claim.status == AccountClaim.Status.PENDING
    assert person_of("annie") != person_of("ann@example.org"), "nothing happens before a staff member decides"

    change = admin_client.get(reverse("admin:contributors_accountclaim_change", args=[claim.pk]))
    assert change.status_code == 200
    assert "My forum profile links to my blog." in change.content.decode()

    admin_client.post(
        reverse("admin:contributors_accountclaim_changelist"), {"action": "approve", ACTION_CHECKBOX_NAME: [claim.pk]}
    )
    claim.refresh_from_db()
    assert claim.status == AccountClaim.Status.APPROVED and claim.decided_by is not None and claim.merge is not None
    assert person_of("annie") == person_of("ann@example.org")
    page = client.get(reverse("contributors:my-contributions")).content.decode()
    assert "Answered on the forum" in page


def test_a_rejected_account_claim_merges_nothing_and_says_why(client, admin_client, histories):
    sumo = SourceFactory(slug="sumo")
    claim = AccountClaim.objects.create(
        user=histories, source=sumo, username="annie", note="We couldn't find a link to you."
    )
    admin_client.post(
        reverse("admin:contributors_accountclaim_changelist"), {"action": "reject", ACTION_CHECKBOX_NAME: [claim.pk]}
    )
    claim.refresh_from_db()
    assert claim.status == AccountClaim.Status.REJECTED
    assert person_of("annie") != person_of("ann@example.org")
    client.force_login(histories)
    page = html.unescape(client.get(reverse("contributors:my-accounts")).content.decode())
    assert "not approved" in page and "We couldn't find a link to you." in page
