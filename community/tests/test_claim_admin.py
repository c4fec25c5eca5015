"""The claim admin's actions: each claim decided, or refused with the reason; then how many were decided."""

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import INFO, WARNING, get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation

from activities.tests.factories import SourceFactory
from contributors.models import AccountClaim, EmailClaim

from .factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


def act(admin_client, model: str, action: str, claims) -> list[tuple[int, str]]:
    """Run an admin action from the change list; the messages the staff member sees next."""
    response = admin_client.post(
        reverse(f"admin:contributors_{model}_changelist"),
        {"action": action, ACTION_CHECKBOX_NAME: [claim.pk for claim in claims]},
        follow=True,
    )
    assert response.status_code == 200
    return [(message.level, message.message) for message in response.context["messages"]]


@pytest.fixture
def account_claims() -> list[AccountClaim]:
    sumo = SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    return [AccountClaim.objects.create(user=UserFactory(), source=sumo, username=name) for name in ("Annie", "bobby")]


def test_approving_account_claims_says_how_many_and_warns_about_those_already_decided(admin_client, account_claims):
    annie, bobby = account_claims
    assert act(admin_client, "accountclaim", "approve", [annie]) == [(INFO, "Approved 1 claim.")]
    assert act(admin_client, "accountclaim", "approve", account_claims) == [
        (WARNING, f"{annie}: This claim was already decided."),
        (INFO, "Approved 1 claim."),
    ]
    assert set(AccountClaim.objects.values_list("status", flat=True)) == {AccountClaim.Status.APPROVED}


def test_rejecting_account_claims_counts_them_and_refuses_to_decide_twice(admin_client, account_claims):
    annie, bobby = account_claims
    assert act(admin_client, "accountclaim", "reject", account_claims) == [(INFO, "Rejected 2 claims.")]
    assert act(admin_client, "accountclaim", "reject", account_claims) == [
        (WARNING, f"{bobby}: This claim was already decided."),
        (WARNING, f"{annie}: This claim was already decided."),
    ]


def test_only_email_claims_waiting_for_staff_can_be_approved(admin_client):
    claim = EmailClaim.objects.create(user=UserFactory(), email="ann@home.test", nonce="x")
    assert act(admin_client, "emailclaim", "approve", [claim]) == [
        (WARNING, "ann@home.test: Only confirmed claims waiting for a staff member can be approved.")
    ]
    claim.refresh_from_db()
    assert claim.status == EmailClaim.Status.SENT


@pytest.mark.parametrize(
    ("code", "approved", "rejected"),
    [
        ("en", "Approved 1 claim.", "Rejected 2 claims."),
        ("fr", "1 revendication approuvée.", "2 revendications refusées."),
    ],
)
def test_the_counts_speak_the_active_language(admin_user, account_claims, code, approved, rejected):
    """The admin is served unprefixed (so in English), but its counts follow whatever language is active."""
    annie, bobby = account_claims
    carol = AccountClaim.objects.create(user=UserFactory(), source=annie.source, username="carol")
    model_admin = admin.site._registry[AccountClaim]

    def run(action: str, claims: list[AccountClaim]) -> list[str]:
        request = RequestFactory().post("/")
        request.user = admin_user
        request.session = {}
        request._messages = FallbackStorage(request)
        with translation.override(code):
            getattr(model_admin, action)(request, AccountClaim.objects.filter(pk__in=[c.pk for c in claims]))
        return [message.message for message in get_messages(request)]

    assert run("approve", [annie]) == [approved]
    assert run("reject", [bobby, carol]) == [rejected]
