"""Participation: anyone can request an integration; the team reviews it; everyone sees the list, never the contact."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from community.models import IntegrationRequest

from .factories import IntegrationRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


def request_data(**overrides) -> dict:
    return {
        "system": "Discourse (discourse.mozilla.org)",
        "url": "discourse.mozilla.org",
        "what_counts": "Answering in the support categories",
        "contact": "secret.asker@example.org",
        **overrides,
    }


def test_a_request_is_stored_for_review_and_thanked(client):
    response = client.post(reverse("community:integration-request"), request_data())
    assert response.status_code == 302 and response["Location"] == reverse("community:integration-request-thanks")
    stored = IntegrationRequest.objects.get()
    assert stored.status == IntegrationRequest.Status.REQUESTED
    assert stored.url == "https://discourse.mozilla.org"
    assert stored.contact == "secret.asker@example.org" and stored.requested_by is None


def test_a_signed_in_requester_is_remembered(client):
    user = UserFactory(email="ann@example.org")
    client.force_login(user)
    client.post(reverse("community:integration-request"), request_data())
    assert IntegrationRequest.objects.get().requested_by == user


def test_missing_answers_are_explained(client):
    response = client.post(reverse("community:integration-request"), request_data(system="", what_counts=""))
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"system", "what_counts"}
    assert not IntegrationRequest.objects.exists()


def test_robots_filling_the_hidden_field_store_nothing(client):
    response = client.post(reverse("community:integration-request"), request_data(website="http://spam.example"))
    assert response.status_code == 302
    assert not IntegrationRequest.objects.exists()


def test_the_public_list_shows_requested_and_planned_never_the_contact_nor_declined(client):
    IntegrationRequestFactory(system="Discourse", contact="secret.asker@example.org", staff_notes="internal only")
    IntegrationRequestFactory(
        system="Pontoon", status=IntegrationRequest.Status.PLANNED, public_note="Planned for spring"
    )
    IntegrationRequestFactory(system="MySpace", status=IntegrationRequest.Status.DECLINED)
    page = client.get(reverse("community:integrations")).content.decode()
    assert "Discourse" in page and "Pontoon" in page and "Planned for spring" in page
    assert "MySpace" not in page
    assert "secret.asker" not in page and "internal only" not in page
    assert page.index("Requested") < page.index("Discourse") < page.index("Planned") < page.index("Pontoon")


def test_the_team_reviews_requests_in_the_admin(admin_client):
    item = IntegrationRequestFactory(system="Pontoon")
    assert admin_client.get(reverse("admin:community_integrationrequest_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:community_integrationrequest_change", args=[item.pk])).status_code == 200
    admin_client.post(
        reverse("admin:community_integrationrequest_changelist"),
        {"action": "mark_planned", ACTION_CHECKBOX_NAME: [item.pk]},
    )
    item.refresh_from_db()
    assert item.status == IntegrationRequest.Status.PLANNED


def test_one_address_cannot_flood_the_team_with_requests(client, settings):
    """Anyone may post the form, and each request is stored for a person to read: one address gets a
    few an hour, then the form again, saying why, and nothing more is stored."""
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "public_form": "3/h"}
    url = reverse("community:integration-request")

    answers = [client.post(url, request_data(system=f"System {n}")) for n in range(5)]

    assert [answer.status_code for answer in answers] == [302, 302, 302, 429, 429]
    assert IntegrationRequest.objects.count() == 3
    assert "Many requests came from your address" in answers[-1].content.decode()
    assert 'value="System 4"' in answers[-1].content.decode() and int(answers[-1]["Retry-After"]) > 0
